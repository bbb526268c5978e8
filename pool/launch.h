/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starting a zygote in a new jail and talking to it (pool-internal). */
#pragma once

#include <msgpack.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "jail.h"
#include "pool.h"

struct zygote {
        struct jail_process proc; /* PID 1 of the jail */
        int control;              /* our end of its control socket */
        struct proto_frame_reader *reader;
        char *python_version;
};

struct worker_channel {
        int sock;       /* our end of the worker's socket (SO_PASSCRED set) */
        int out, err;   /* read ends of its stdout/stderr pipes */
        pid_t host_pid; /* from the credentials of its hello */
        int pidfd;
};

int zygote_launch(const struct pool_config *c, struct zygote *ret, char **ret_error);
/* Kill the jail (PID 1 takes every process of it along) and reap it. */
void zygote_destroy(struct zygote *z);
/* Ask for a worker and wait until it said hello. */
int zygote_spawn_worker(struct zygote *z, uint64_t slot, uint64_t timeout_ms, struct worker_channel *ret,
                        char **ret_error);
void worker_channel_close(struct worker_channel *w);
/* Wait for one validated frame on fd (blocking up to timeout_ms) and unpack it. */
int wire_receive(int fd, struct proto_frame_reader *reader, uint64_t timeout_ms, msgpack_unpacked *ret);
/* The "type" of a message, or "" if it has none. */
const char *wire_type(const msgpack_object *m, size_t *ret_len);
int wire_type_is(const msgpack_object *m, const char *type);
