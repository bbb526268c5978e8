/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which daemon socket a subcommand talks to: the option, the environment, or
 * the default path ($XDG_RUNTIME_DIR/vivarium.sock, /run/vivarium/vivarium.sock
 * as root). Runs in the CLI, as the invoking user, before anything is sent.
 *
 * A socket that was named (--socket, $VIVARIUM_SOCKET) is the user's choice:
 * it is used or the command fails. The default socket is only a convenience,
 * so it must not become a way in: the code of `vivarium run` would be handed
 * to whoever listens there. It is used only when its directory and every
 * directory above it belong to us or to root and cannot be written by anyone
 * else (a sticky directory above is fine: nobody can rename what is ours
 * there), the socket itself is ours or root's, and the process that listens
 * on it (SO_PEERCRED: the credentials at listen(), so the daemon that later
 * dropped to its service user, and systemd's socket unit, both show root) is
 * us or root. The filesystem checks give a reason a user can act on; the
 * peer check is the one no race can get around.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "daemon-config.h"
#include "fd-util.h"
#include "macro.h"
#include "time-util.h"

/* How long a default socket whose listen backlog is full may keep us waiting
 * before the run goes one-shot instead. A stale socket answers ECONNREFUSED
 * at once and never waits. */
#define DAEMON_CONNECT_BOUND_MS 250u
#define DAEMON_CONNECT_RETRY_MS 10u

const char *
cli_socket_from_env(const char *option)
{
        const char *e = getenv("VIVARIUM_SOCKET");

        return option ? option : e && *e ? e : NULL;
}

_printf_(2, 3) static int reasonf(char **ret_reason, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_reason, fmt, ap) < 0)
                *ret_reason = NULL;
        va_end(ap);
        return -EPERM;
}

/* The resolved directory and every directory above it, up to "/". */
static int
check_directories(const char *dir, uid_t self, char **ret_reason)
{
        _cleanup_free_ char *p = strdup(dir);
        struct stat st;
        bool leaf = true;
        char *slash;

        if (!p)
                return -ENOMEM;
        for (;;) {
                const char *d = p[0] ? p : "/";
                if (lstat(d, &st) < 0)
                        return reasonf(ret_reason, "its directory %s: %s", d, strerror(errno));
                if (cli_socket_trust_dir(d, &st, self, leaf, ret_reason) < 0)
                        return -EPERM;
                if (!p[0])
                        return 0;
                slash = strrchr(p, '/');
                *slash = '\0';
                leaf = false;
        }
}

/* Connect without blocking: a full backlog is retried for a short bound. */
static int
connect_bounded(const struct sockaddr_un *sa, int *ret_fd)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        uint64_t deadline = now_usec() + DAEMON_CONNECT_BOUND_MS * USEC_PER_MSEC;

        if (fd < 0)
                return -errno;
        while (connect(fd, (const struct sockaddr *) sa, sizeof *sa) < 0) {
                int e = errno;
                if (e == EINTR)
                        continue;
                if (e == EINPROGRESS) {
                        /* Not what AF_UNIX does today, but the contract of a
                         * non-blocking connect allows it. */
                        struct pollfd p = {.fd = fd, .events = POLLOUT};
                        socklen_t len = sizeof e;
                        if (poll(&p, 1, DAEMON_CONNECT_BOUND_MS) <= 0)
                                return -ETIMEDOUT;
                        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                                return -errno;
                        if (e != 0)
                                return -e;
                        break;
                }
                if (e != EAGAIN || now_usec() >= deadline)
                        return e == EAGAIN ? -ETIMEDOUT : -e;
                (void) poll(NULL, 0, DAEMON_CONNECT_RETRY_MS);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int
connect_reason(int r, char **ret_reason)
{
        switch (r) {
        case -ENOENT:
                return reasonf(ret_reason, "%s", "absent");
        case -ECONNREFUSED:
                return reasonf(ret_reason, "%s", "refused: nothing listens on it; a stale socket");
        case -ETIMEDOUT:
                return reasonf(ret_reason, "busy: its listen backlog stayed full for %u ms",
                               DAEMON_CONNECT_BOUND_MS);
        case -EACCES:
                return reasonf(ret_reason, "%s", "permission denied");
        default:
                return reasonf(ret_reason, "cannot connect: %s", strerror(-r));
        }
}

/* The default socket at path: a connected fd, or a reason not to use it. */
static int
probe_default(const char *path, uid_t self, int *ret_fd, char **ret_resolved, char **ret_reason)
{
        _cleanup_free_ char *copy = strdup(path), *dir = NULL, *resolved = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;
        struct ucred peer = {};
        socklen_t len = sizeof peer;
        struct stat st;
        char *slash;
        int r;

        if (!copy)
                return -ENOMEM;
        slash = strrchr(copy, '/');
        if (!slash || !slash[1])
                return reasonf(ret_reason, "%s", "not a path to a socket");
        *slash = '\0';
        dir = realpath(copy[0] ? copy : "/", NULL);
        if (!dir)
                return errno == ENOENT ? reasonf(ret_reason, "absent: no directory %s", copy)
                                       : reasonf(ret_reason, "its directory %s: %s", copy, strerror(errno));
        if (asprintf(&resolved, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, slash + 1) < 0)
                return -ENOMEM;
        if (strlen(resolved) >= sizeof sa.sun_path)
                return reasonf(ret_reason, "%s is too long for a socket address", resolved);
        r = check_directories(dir, self, ret_reason);
        if (r < 0)
                return r;
        if (lstat(resolved, &st) < 0)
                return errno == ENOENT ? reasonf(ret_reason, "%s", "absent")
                                       : reasonf(ret_reason, "%s: %s", resolved, strerror(errno));
        if (cli_socket_trust_file(&st, self, ret_reason) < 0)
                return -EPERM;
        strcpy(sa.sun_path, resolved);
        r = connect_bounded(&sa, &fd);
        if (r < 0)
                return connect_reason(r, ret_reason);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
                return reasonf(ret_reason, "cannot tell who listens on it: %s", strerror(errno));
        if (peer.uid != self && peer.uid != 0)
                return reasonf(ret_reason, "it is served by pid %d of uid %u, not by you or root",
                               (int) peer.pid, (unsigned) peer.uid);
        *ret_fd = TAKE_FD(fd);
        *ret_resolved = TAKE_PTR(resolved);
        return 0;
}

int
cli_daemon_find(const char *option, bool no_daemon, struct cli_daemon *d, char **ret_error)
{
        const char *e = getenv("VIVARIUM_SOCKET");
        _cleanup_free_ char *path = NULL, *resolved = NULL;
        struct vivarium_config c;
        int r;

        *d = (struct cli_daemon){.fd = -EBADF};
        if (no_daemon) {
                d->source = CLI_SOCKET_NONE;
                return 0;
        }
        if (option || (e && *e)) {
                d->source = option ? CLI_SOCKET_OPTION : CLI_SOCKET_ENV;
                d->path = strdup(option ? option : e);
                if (!d->path)
                        return -ENOMEM;
                return rpc_connect(d->path, &d->fd, ret_error);
        }
        d->source = CLI_SOCKET_DEFAULT;
        r = config_init(&c);
        if (r >= 0)
                r = config_socket_path(&c, &path);
        config_done(&c);
        if (r == -ENOENT)
                return reasonf(&d->reason, "%s", "none: XDG_RUNTIME_DIR is not set"), 0;
        if (r == -ENAMETOOLONG)
                return reasonf(&d->reason, "%s", "none: the path under XDG_RUNTIME_DIR is too long"), 0;
        if (r < 0)
                return r;
        r = probe_default(path, geteuid(), &d->fd, &resolved, &d->reason);
        if (r == -ENOMEM)
                return r;
        d->path = r >= 0 ? TAKE_PTR(resolved) : TAKE_PTR(path);
        return 0;
}

void
cli_daemon_done(struct cli_daemon *d)
{
        d->fd = safe_close(d->fd);
        d->path = mfree(d->path);
        d->reason = mfree(d->reason);
}

void
cli_daemon_describe(const struct cli_daemon *d, FILE *f)
{
        static const char *const by[] = {
                [CLI_SOCKET_OPTION] = "--socket",
                [CLI_SOCKET_ENV] = "$VIVARIUM_SOCKET",
                [CLI_SOCKET_DEFAULT] = "the default socket",
        };

        if (d->fd >= 0)
                fprintf(f, "vivarium: using the daemon on %s (%s)\n", d->path, by[d->source]);
        else if (d->source == CLI_SOCKET_NONE)
                fputs("vivarium: --no-daemon: one-shot run in a private jail\n", f);
        else
                fprintf(f,
                        "vivarium: no daemon on the default socket: one-shot run in a private jail "
                        "(%s%s%s)\n",
                        d->path ? d->path : "", d->path ? ": " : "", d->reason ? d->reason : "unknown");
}
