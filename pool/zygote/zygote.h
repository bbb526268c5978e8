/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared pieces of the vivarium-zygote program. */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZYGOTE_CONTROL_FD 3
#define WORKER_SOCKET_FD 3

/* Send the packed buffer as one frame; 0 or -errno. */
int zygote_send(int fd, const msgpack_sbuffer *buf);
#include <linux/filter.h>

/* The workers' seccomp program, compiled once by the zygote. */
extern struct sock_fprog worker_filter;

struct worker_setup {
        uint64_t slot;
        uint64_t uid; /* the inside uid the worker will drop to; owns its /workspace */
        uint64_t tmp_bytes, workspace_bytes;
        /* One-shot mode (vivarium run without a daemon): the zygote has no
         * interpreter; the worker starts its own (imports stay lazy, as in
         * `python3 -c`), and reads the seccomp program the zygote compiles
         * meanwhile from filter_fd (-EBADF: the program compiled at build time was
         * usable, the worker has it already). */
        bool oneshot;
        const char *runner_dir;
        char *const *preload;
        int filter_fd;
};

/* The worker: arrange fds, mount its private scratch space, warm up, wait for
 * the request, lock down, run, report, exit. */
_Noreturn void worker_main(int sock, int out, int err, const struct worker_setup *ws);
