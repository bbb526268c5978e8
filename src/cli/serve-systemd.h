/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `vivarium serve` under a service manager: socket activation and sd_notify (serve-systemd.c). */
#pragma once

#include <systemd/sd-event.h>

#include "server.h"

/* The listening socket systemd passed (LISTEN_FDS=1 for this pid), or
 * -EBADF in *ret_fd when none was; more than one is an error with a message.
 * Clears LISTEN_FDS and LISTEN_PID from the environment. */
int serve_systemd_listen_fd(int *ret_fd, char **ret_error);

struct serve_notify;
/* With NOTIFY_SOCKET set: READY=1 once the pool is warm, STATUS= as it
 * changes. *ret is NULL (and nothing is sent) without one. */
int serve_notify_new(sd_event *event, struct server *s, struct serve_notify **ret);
/* STOPPING=1, and the status of the shutdown. NULL is a no-op. */
void serve_notify_stopping(struct serve_notify *n);
struct serve_notify *serve_notify_free(struct serve_notify *n);
