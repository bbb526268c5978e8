/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spawner: a process split off the dispatcher at start-up, and the only
 * code that creates namespaces, mounts and jails. The dispatcher talks to it
 * over a SOCK_SEQPACKET socket with a closed set of typed messages (one
 * msgpack map per packet, validated on both sides):
 *
 *  dispatcher -> spawner  {type: "zygote", id, preload: [str], tmp_bytes, workspace_bytes}
 *                         {type: "kill", id}
 *  spawner -> dispatcher  {type: "started", id} + SCM_RIGHTS [zygote control socket]
 *                         {type: "failed", id, error: int, message: str}
 *                         {type: "exited", id, code, signal}
 *
 * The zygote program and runner directory are fixed when the spawner starts;
 * no message can name a program to run. If the dispatcher goes away, the
 * spawner kills every jail it started and exits (and it dies with its parent).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "pool.h"

#define SPAWNER_MAX_MESSAGE 4096u

struct spawner {
        pid_t pid;
        int pidfd;
        int sock;
};

enum spawner_event_type {
        SPAWNER_STARTED,
        SPAWNER_FAILED,
        SPAWNER_EXITED,
};

struct spawner_event {
        enum spawner_event_type type;
        uint64_t id;
        int control_fd; /* STARTED: the zygote's control socket (owned by the receiver) */
        int error;      /* FAILED: -errno */
        char message[256];
        int code, signal; /* EXITED */
};

/* Fork the spawner. The child never returns. */
int spawner_start(const struct pool_config *c, struct spawner *ret);
void spawner_stop(struct spawner *s);
int spawner_request_zygote(struct spawner *s, uint64_t id, char *const *preload, uint64_t tmp_bytes,
                           uint64_t workspace_bytes);
int spawner_request_kill(struct spawner *s, uint64_t id);
/* Read one event (the socket is non-blocking): 1 and the event, 0 if none is
 * pending, -EPIPE if the spawner is gone, -EBADMSG if it broke the protocol. */
int spawner_receive(struct spawner *s, struct spawner_event *ret);
