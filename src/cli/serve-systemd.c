/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vivarium serve` under a service manager: socket activation
 * (sd_listen_fds(), LISTEN_FDS/LISTEN_PID) and readiness notification
 * (sd_notify(), NOTIFY_SOCKET). Runs in the daemon, on its event loop, before
 * and after the drop to the service user; the notify socket is written with
 * plain sendmsg(), which the service's seccomp filter allows.
 *
 * READY=1 is sent once the default environment is warm (its zygote is up and
 * the configured idle workers are waiting), so `systemctl start` returns when
 * the first run will be fast, not merely when the socket exists; or once it
 * has failed to start, since the daemon keeps answering (with the reason)
 * and retrying, and a unit that never becomes ready would be killed. STATUS=
 * follows the workers and the queue; STOPPING=1 goes out on SIGTERM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "cli.h"
#include "log.h"
#include "macro.h"
#include "serve-systemd.h"
#include "time-util.h"

/* How often the figures are looked at: often while starting, so READY=1
 * follows warmth closely; then at a pace that costs nothing. */
#define NOTIFY_STARTING_USEC (50 * USEC_PER_MSEC)
#define NOTIFY_RUNNING_USEC (1 * USEC_PER_SEC)

struct serve_notify {
        struct server *server;
        sd_event_source *timer;
        bool ready, stopping;
        char last[256];
};

int
serve_systemd_listen_fd(int *ret_fd, char **ret_error)
{
        /* Unset, so nothing forked later believes the sockets are its own. */
        int n = sd_listen_fds(1);

        *ret_fd = -EBADF;
        if (n < 0) {
                (void) !asprintf(ret_error, "socket activation: invalid LISTEN_FDS or LISTEN_PID: %s",
                                 strerror(-n));
                return n;
        }
        if (n > 1) {
                (void) !asprintf(ret_error,
                                 "socket activation: %d sockets passed (LISTEN_FDS=%d), but vivarium serves "
                                 "exactly one: give vivarium.socket a single ListenStream=",
                                 n, n);
                return -E2BIG;
        }
        if (n == 0)
                return 0;
        /* Checked again when it is served; here so that a wrong unit fails
         * before any pool is started. */
        if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
                (void) !asprintf(ret_error,
                                 "socket activation: fd %d is not a listening AF_UNIX stream socket: give "
                                 "vivarium.socket a ListenStream= with a path",
                                 SD_LISTEN_FDS_START);
                return -ENOTSOCK;
        }
        *ret_fd = SD_LISTEN_FDS_START;
        return 0;
}

static bool
is_warm(const struct server_load *l)
{
        return strcmp(l->state, "ready") == 0 && l->idle + l->busy >= l->idle_target;
}

static void
format_status(const struct server_load *l, bool stopping, char *buf, size_t size)
{
        if (stopping)
                (void) snprintf(buf, size, "Stopping: %u busy, %u queued", l->busy, l->queued);
        else if (strcmp(l->state, "ready") != 0)
                (void) snprintf(buf, size, "Environment default %s; %u worker(s) starting", l->state,
                                l->starting);
        else
                (void) snprintf(buf, size,
                                "%u idle, %u busy, %u starting; %u queued; %u connection(s), %llu served",
                                l->idle, l->busy, l->starting, l->queued, l->connections,
                                (unsigned long long) l->served);
}

static void
notify_update(struct serve_notify *n)
{
        struct server_load l;
        char status[sizeof n->last];
        bool ready_now;

        server_get_load(n->server, &l);
        format_status(&l, n->stopping, status, sizeof status);
        ready_now = !n->ready && !n->stopping && (is_warm(&l) || strcmp(l.state, "failed") == 0);
        if (!ready_now && strcmp(status, n->last) == 0)
                return;
        /* One datagram: the manager sees the state and its status together. */
        if (sd_notifyf(0, "%sSTATUS=%s", ready_now ? "READY=1\n" : "", status) < 0)
                log_debug("sd_notify failed");
        if (ready_now) {
                n->ready = true;
                log_info("ready: %s", status);
        }
        memcpy(n->last, status, sizeof n->last);
}

static int
on_notify_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct serve_notify *n = userdata;

        notify_update(n);
        (void) sd_event_source_set_time_relative(src, n->ready ? NOTIFY_RUNNING_USEC : NOTIFY_STARTING_USEC);
        (void) sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return 0;
}

int
serve_notify_new(sd_event *event, struct server *s, struct serve_notify **ret)
{
        struct serve_notify *n;
        const char *e = getenv("NOTIFY_SOCKET");
        int r;

        *ret = NULL;
        if (!e || !*e)
                return 0; /* no service manager listens: nothing to say */
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->server = s;
        r = sd_event_add_time_relative(event, &n->timer, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC,
                                       on_notify_timer, n);
        if (r < 0) {
                serve_notify_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

void
serve_notify_stopping(struct serve_notify *n)
{
        if (!n || n->stopping)
                return;
        n->stopping = true;
        n->last[0] = '\0';
        /* STOPPING=1 first, so the manager knows the exit is asked for. */
        (void) sd_notify(0, "STOPPING=1");
        notify_update(n);
}

struct serve_notify *
serve_notify_free(struct serve_notify *n)
{
        if (!n)
                return NULL;
        n->timer = sd_event_source_disable_unref(n->timer);
        free(n);
        return NULL;
}
