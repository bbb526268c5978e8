/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dispatcher's internal objects (server.c, connection.c, methods.c). */
#pragma once

#include <msgpack.h>
#include <stdint.h>
#include <sys/socket.h>

#include "frame.h"
#include "list.h"
#include "msg.h"
#include "pool.h"
#include "privileges.h"
#include "run.h"
#include "server.h"

struct server {
        sd_event *event;
        struct vivarium_config config;
        struct pool *pool;
        int listen_fd;
        char *socket_path;    /* bound by us, unlinked at shutdown */
        char *activated_path; /* systemd's socket (server_listen_fd()), never unlinked */
        sd_event_source *listen_src, *grace_timer;
        struct list_node connections;
        unsigned n_connections;
        bool shutting_down, exit_when_idle;
        uint64_t started_usec;
        struct service_user user;
        bool root; /* started as root: "mode" in the status stays "root" after the drop */
        uint64_t served, errors, by_status[_RUN_STATUS_MAX];
};

struct connection {
        struct server *server;
        struct list_node node;
        int fd;
        struct ucred peer;
        sd_event_source *src;
        struct proto_frame_reader *reader;
        char *out;
        size_t out_len, out_alloc;
        struct list_node requests; /* struct inflight */
        unsigned n_inflight;
        bool closing; /* flush what is queued, then close */
        bool doomed;  /* released on the next loop iteration */
        sd_event_source *doom_src;
};

struct inflight {
        struct connection *conn;
        struct list_node node;
        uint64_t id;
        struct pool_job *job;
        bool stream;
        uint64_t streamed[3]; /* bytes sent as events, per stream */
};

/* connection.c */
int connection_new(struct server *s, int fd, const struct ucred *peer, struct connection **ret);
void connection_free(struct connection *c);
void connection_doom(struct connection *c);
/* Queue one packed message as a frame. */
int connection_send(struct connection *c, const msgpack_sbuffer *sb);
int connection_send_error(struct connection *c, uint64_t id, int code, const char *message);
void connection_close_after_flush(struct connection *c);

/* methods.c */
void methods_dispatch(struct connection *c, const msgpack_object *request);
void inflight_cancel_all(struct connection *c);

/* server.c */
void server_maybe_exit(struct server *s);
void server_count(struct server *s, const struct run_result *r, bool error);
