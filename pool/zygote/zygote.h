/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared pieces of the vivarium-zygote program. */
#pragma once

#include <msgpack.h>
#include <stddef.h>

#define ZYGOTE_CONTROL_FD 3
#define WORKER_SOCKET_FD 3

/* Send the packed buffer as one frame; 0 or -errno. */
int zygote_send(int fd, const msgpack_sbuffer *buf);
/* The worker: arrange fds, warm up, wait for the request, lock down, run, report, exit. */
_Noreturn void worker_main(int sock, int out, int err);
