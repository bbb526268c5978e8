/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dispatcher: one sd-event loop serving the RPC of PROTOCOL.md to clients
 * on a unix socket (vivarium serve) or on connections handed to it by an
 * embedding face (vivarium run without --socket, vivarium mcp). It owns the
 * pool. It never links libpython and never runs request code; everything a
 * client or a worker sends is validated before use.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "daemon-config.h"

struct server;

/* Start the pool (the keeper and spawner fork here). As root, the service
 * user is looked up first: if it is missing, *ret_error says so and nothing
 * starts. */
int server_new(sd_event *event, const struct vivarium_config *c, struct server **ret, char **ret_error);
/* Once start-up is done (socket bound, if any): as root, drop to the service
 * user keeping CAP_KILL only; then load the service's seccomp filter. Every
 * face calls it before serving. */
int server_lockdown(struct server *s);
struct server *server_free(struct server *s);
/* Bind and listen on path (its directory is created for the default path). */
int server_listen(struct server *s, const char *path, char **ret_error);
/* Serve on a listening socket someone else bound: systemd's socket unit,
 * passed through sd_listen_fds(). It must be a listening AF_UNIX stream
 * socket (-ENOTSOCK otherwise). Takes fd on success; its file is never
 * unlinked. */
int server_listen_fd(struct server *s, int fd, char **ret_error);
/* The path clients connect to, if known. */
const char *server_listen_path(const struct server *s);

/* The default environment's figures, for the service manager's STATUS=. */
struct server_load {
        const char *state; /* "starting", "ready", "backoff", "failed" */
        unsigned idle, busy, starting, queued;
        unsigned idle_target; /* the warm workers the configuration asks for */
        unsigned connections;
        uint64_t served;
        const char *cgroup;       /* the runs' cgroup mode: "v2", "v1" or "none" */
        const char *cgroup_scope; /* what the user manager was asked for and gave */
};
void server_get_load(struct server *s, struct server_load *ret);
/* Serve an already connected socket (an embedding face's end of a socketpair). */
int server_add_connection(struct server *s, int fd, const struct ucred *peer);
/* Stop accepting and answer new requests with -32001; in-flight work may finish
 * within the grace period, then it is cancelled. The loop exits when no
 * connection has work left (or at once, if none has). */
void server_shutdown(struct server *s);
/* Exit the loop once the last connection closes (embedded use). */
void server_exit_when_idle(struct server *s);
