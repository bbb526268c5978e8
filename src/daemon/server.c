/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dispatcher's server: the pool, the listening socket, the connections,
 * and shutdown. Runs in the dispatcher process on its single event loop.
 *
 * Every client is identified by SO_PEERCRED and logged; connections are
 * limited in total and per uid, so one local user cannot take the service
 * from the others.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "seccomp-filter.h"
#include "time-util.h"

static struct pool_config
pool_config_from(const struct vivarium_config *c)
{
        struct pool_config p;

        pool_config_init(&p);
        p.preload = c->preload;
        p.preload_if_installed = c->preload_if_installed;
        p.limits = c->limits;
        p.nofile = c->open_files;
        p.fsize_bytes = c->file_size_bytes;
        p.tmp_bytes = c->tmp_bytes;
        p.workspace_bytes = c->workspace_bytes;
        p.output_head = c->output_bytes / 2;
        p.output_tail = c->output_bytes - c->output_bytes / 2;
        p.max_images = c->max_images;
        p.max_image_bytes = c->max_image_bytes;
        p.idle_workers = c->idle_workers;
        p.max_workers = c->max_workers;
        p.queue_limit = c->queue_limit;
        p.startup_timeout_ms = c->startup_timeout_ms;
        p.memory_period_ms = c->memory_period_ms;
        p.oneshot = c->oneshot;
        return p;
}

/* Once, at start-up: a configured CPU quota that cannot hold is run without,
 * not refused (memory and process limits still hold); status shows cpus 0. */
static void
warn_without_cpu_quota(struct server *s)
{
        struct pool_stats st;

        if (s->config.limits.cpu_milli == 0)
                return;
        pool_get_stats(s->pool, &st);
        if (st.cpus == 0)
                log_warning("cpus = %u.%03u: no cgroup hierarchy here takes a CPU quota (cgroup %s): runs "
                            "have no CPU share limit",
                            s->config.limits.cpu_milli / 1000, s->config.limits.cpu_milli % 1000, st.cgroup);
}

int
server_new(sd_event *event, const struct vivarium_config *c, struct server **ret, char **ret_error)
{
        struct server *s = calloc(1, sizeof *s);
        struct pool_config pc = pool_config_from(c);
        int r;

        if (!s)
                return -ENOMEM;
        /* A client or worker that goes away mid-write is an error to handle, never
         * a reason for the dispatcher to die. */
        (void) signal(SIGPIPE, SIG_IGN);
        s->event = sd_event_ref(event);
        s->config = *c;
        s->listen_fd = -EBADF;
        s->started_usec = now_usec();
        list_init(&s->connections);
        s->root = geteuid() == 0;
        r = privileges_resolve(c->user, &s->user, ret_error);
        if (r >= 0)
                r = pool_new(event, &pc, &s->pool);
        if (r < 0) {
                sd_event_unref(s->event);
                free(s);
                return r;
        }
        warn_without_cpu_quota(s);
        *ret = s;
        return 0;
}

int
server_lockdown(struct server *s)
{
        /* From here on the dispatcher only talks: the keeper starts spawners,
         * the spawners build jails and the workers' cgroups. It needs no uid
         * of its own (CAP_KILL kills workers), so it gives root up first, then
         * locks away exec, namespaces, mounts and the rest
         * (jail_seccomp_options.service), so that a bug in the code that
         * parses clients and workers gives an attacker none of them. */
        int r = privileges_drop(&s->user);

        if (r < 0)
                return log_error_errno(r, "cannot drop to the service user %s: %m", s->user.name);
        r = jail_seccomp_load(&(struct jail_seccomp_options){.service = true});
        if (r < 0)
                return log_error_errno(r, "cannot load the service's seccomp filter: %m");
        return 0;
}

struct server *
server_free(struct server *s)
{
        struct list_node *n, *tmp;

        if (!s)
                return NULL;
        s->exit_when_idle = false;
        list_for_each_safe(n, tmp, &s->connections) connection_free(list_entry(n, struct connection, node));
        s->listen_src = sd_event_source_disable_unref(s->listen_src);
        s->grace_timer = sd_event_source_disable_unref(s->grace_timer);
        safe_close(s->listen_fd);
        if (s->socket_path)
                (void) unlink(s->socket_path);
        free(s->socket_path);
        free(s->activated_path);
        pool_free(s->pool);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

static unsigned
connections_of(struct server *s, uid_t uid)
{
        struct list_node *n, *tmp;
        unsigned k = 0;

        list_for_each_safe(n, tmp, &s->connections) k +=
                list_entry(n, struct connection, node)->peer.uid == uid;
        return k;
}

/* Refuse with a reason the client can read, then close. */
static void
refuse(int fd, const char *message)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        /* Best effort: a few bytes into a fresh socket's empty buffer. */
        if (proto_pack_error(&pk, 0, RPC_OVERLOADED, message) >= 0)
                (void) proto_frame_write(fd, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        safe_close(fd);
}

static int
on_accept(sd_event_source *src, int lfd, uint32_t revents, void *userdata)
{
        struct server *s = userdata;
        struct ucred peer = {};
        socklen_t len = sizeof peer;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0)
                return 0;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
                safe_close(fd);
                return 0;
        }
        if (s->n_connections >= s->config.max_connections) {
                log_warning("refusing pid %d uid %u: %u connections open", (int) peer.pid,
                            (unsigned) peer.uid, s->n_connections);
                refuse(fd, "overloaded: too many connections");
                return 0;
        }
        if (connections_of(s, peer.uid) >= s->config.max_connections_per_uid) {
                log_warning("refusing pid %d uid %u: too many connections of that uid", (int) peer.pid,
                            (unsigned) peer.uid);
                refuse(fd, "overloaded: too many connections for this user");
                return 0;
        }
        log_info("client connected: pid %d uid %u gid %u", (int) peer.pid, (unsigned) peer.uid,
                 (unsigned) peer.gid);
        if (server_add_connection(s, fd, &peer) < 0)
                safe_close(fd);
        return 0;
}

int
server_add_connection(struct server *s, int fd, const struct ucred *peer)
{
        return connection_new(s, fd, peer, NULL);
}

/* A socket file left by a daemon that died is removed; one a live daemon
 * answers on is not. */
static int
clear_stale_socket(const struct sockaddr_un *sa)
{
        struct stat st;
        int fd, r;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *) sa, sizeof *sa) == 0 ? -EADDRINUSE : 0;
        safe_close(fd);
        if (r == 0 && unlink(sa->sun_path) < 0)
                r = -errno;
        return r;
}

int
server_listen(struct server *s, const char *path, char **ret_error)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *step = "creating the socket";
        _cleanup_close_ int fd = -EBADF;
        mode_t old_umask;
        int r;

        if (strlen(path) >= sizeof sa.sun_path) {
                (void) !asprintf(ret_error, "socket path too long: %s", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        r = clear_stale_socket(&sa);
        if (r < 0) {
                (void) !asprintf(ret_error, "%s %s", path,
                                 r == -EADDRINUSE ? "is in use by a running daemon"
                                                  : "exists and is not a stale socket");
                return r;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        /* Created 0600 through the umask, so there is no moment at which anyone
         * else could connect; then widened if the configuration says so. */
        old_umask = umask(0177);
        r = fd < 0 ? -errno : bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 ? -errno : 0;
        (void) umask(old_umask);
        if (r >= 0) {
                step = "setting its mode";
                r = chmod(path, s->config.socket_mode) < 0 ? -errno : 0;
        }
        if (r >= 0) {
                step = "listening";
                r = listen(fd, 128) < 0 ? -errno : 0;
        }
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->listen_src, fd, EPOLLIN, on_accept, s);
        if (r < 0) {
                (void) !asprintf(ret_error, "%s on %s: %s", step, path, strerror(-r));
                return r;
        }
        s->socket_path = strdup(path);
        s->listen_fd = TAKE_FD(fd);
        return 0;
}

int
server_listen_fd(struct server *s, int fd, char **ret_error)
{
        struct sockaddr_un sa = {};
        socklen_t len = sizeof sa;
        int r;

        /* Whatever systemd's socket unit says, the daemon speaks a stream protocol over AF_UNIX and
         * identifies clients by SO_PEERCRED: anything else is a unit to fix, not a socket to serve. */
        r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
        if (r <= 0) {
                (void) !asprintf(ret_error,
                                 "the socket passed as fd %d is not a listening AF_UNIX stream socket%s%s "
                                 "(ListenStream= with a path in the socket unit)",
                                 fd, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
                return r < 0 ? r : -ENOTSOCK;
        }
        r = fd_set_nonblock(fd, true);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->listen_src, fd, EPOLLIN, on_accept, s);
        if (r < 0) {
                (void) !asprintf(ret_error, "serving the socket passed as fd %d: %s", fd, strerror(-r));
                return r;
        }
        if (getsockname(fd, (struct sockaddr *) &sa, &len) == 0 &&
            len > offsetof(struct sockaddr_un, sun_path))
                s->activated_path = strndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
        /* No socket_path: the file is systemd's, and outlives us. */
        s->listen_fd = fd;
        return 0;
}

const char *
server_listen_path(const struct server *s)
{
        return s->socket_path ? s->socket_path : s->activated_path;
}

void
server_get_load(struct server *s, struct server_load *ret)
{
        struct pool_stats st;

        pool_get_stats(s->pool, &st);
        *ret = (struct server_load){
                .state = st.env.state,
                .idle = st.env.idle,
                .busy = st.env.busy,
                .starting = st.env.starting,
                .queued = st.env.queued,
                .idle_target = s->config.idle_workers,
                .connections = s->n_connections,
                .served = s->served,
                .cgroup = st.cgroup,
                .cgroup_scope = st.cgroup_scope,
        };
}

void
server_count(struct server *s, const struct run_result *r, bool error)
{
        if (error)
                return; /* counted by the error response itself */
        s->served++;
        if (r && (size_t) r->status < ELEMENTSOF(s->by_status))
                s->by_status[r->status]++;
}

static bool
server_has_work(struct server *s)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &s->connections)
        {
                struct connection *c = list_entry(n, struct connection, node);
                if (c->n_inflight > 0 || c->out_len > 0)
                        return true;
        }
        return false;
}

void
server_maybe_exit(struct server *s)
{
        if ((s->shutting_down && !server_has_work(s)) || (s->exit_when_idle && s->n_connections == 0))
                (void) sd_event_exit(s->event, 0);
}

static int
on_grace_over(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct server *s = userdata;
        struct list_node *n, *tmp;

        log_info("shutdown grace period over: cancelling what still runs");
        list_for_each_safe(n, tmp, &s->connections)
        {
                struct connection *c = list_entry(n, struct connection, node);
                struct list_node *m, *mtmp;
                list_for_each_safe(m, mtmp, &c->requests)
                        pool_job_cancel(list_entry(m, struct inflight, node)->job);
        }
        return 0;
}

void
server_shutdown(struct server *s)
{
        if (s->shutting_down)
                return;
        s->shutting_down = true;
        s->listen_src = sd_event_source_disable_unref(s->listen_src);
        s->listen_fd = safe_close(s->listen_fd);
        if (s->socket_path)
                (void) unlink(s->socket_path);
        (void) sd_event_add_time_relative(s->event, &s->grace_timer, CLOCK_MONOTONIC,
                                          s->config.shutdown_grace_ms * USEC_PER_MSEC, 1000, on_grace_over,
                                          s);
        server_maybe_exit(s);
}

void
server_exit_when_idle(struct server *s)
{
        s->exit_when_idle = true;
}
