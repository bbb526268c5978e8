/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Workers as the pool sees them: a slot, a uid, a socket, two output pipes and
 * a pidfd. Runs in the dispatcher. A worker runs hostile code, so everything
 * it sends is validated and any deviation gets it killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "jail.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "pool-internal.h"
#include "process-util.h"
#include "time-util.h"
#include "wire.h"

static int
alloc_slot(struct pool_env *e, unsigned *ret)
{
        for (unsigned i = 0; i < POOL_MAX_SLOTS && i < e->pool->config.max_workers; i++)
                if (!(e->slots_used & (UINT64_C(1) << i))) {
                        e->slots_used |= UINT64_C(1) << i;
                        *ret = i;
                        return 0;
                }
        return -EBUSY;
}

static int
make_channel(struct worker *w, int child[WIRE_SPAWN_FDS])
{
        int sp[2], out[2], err[2], one = 1;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
                return -errno;
        if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0) {
                safe_close(sp[0]), safe_close(sp[1]);
                return -errno;
        }
        if (pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0) {
                safe_close(sp[0]), safe_close(sp[1]), safe_close(out[0]), safe_close(out[1]);
                return -errno;
        }
        /* The worker's ends block, as a program expects of its stdout. */
        (void) fd_set_nonblock(sp[1], false);
        (void) fd_set_nonblock(out[1], false);
        (void) fd_set_nonblock(err[1], false);
        /* Credentials on the hello tell us the worker's pid in our namespace. */
        (void) setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        w->sock = sp[0];
        w->out = out[0];
        w->err = err[0];
        child[0] = sp[1];
        child[1] = out[1];
        child[2] = err[1];
        return 0;
}

/* The hello: exactly one small fixed frame, with credentials. */
static int hello_failure(struct worker *w, const char *data, size_t n);

static int
receive_hello(struct worker *w)
{
        static const uint8_t hello[] = {0,   0,   0,    12,  0x81, 0xa4, 't', 'y',
                                        'p', 'e', 0xa5, 'h', 'e',  'l',  'l', 'o'};
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(struct ucred))];
        } cbuf;
        char data[512];
        struct iovec iov = {data, sizeof data};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cbuf, .msg_controllen = sizeof cbuf};
        ssize_t n = recvmsg(w->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        if (n == 0)
                return -EPIPE;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        struct ucred uc;
                        memcpy(&uc, CMSG_DATA(c), sizeof uc);
                        w->host_pid = uc.pid;
                }
        if (n == sizeof hello && memcmp(data, hello, sizeof hello) == 0 && w->host_pid > 0 &&
            !(mh.msg_flags & MSG_CTRUNC))
                return pidfd_open_checked(w->host_pid, &w->pidfd) < 0 ? -ESRCH : 1;
        return hello_failure(w, data, (size_t) n);
}

/* Not a hello: a worker that could not set itself up says why in a "failed"
 * frame; keep the reason for the environment's status. */
static int
hello_failure(struct worker *w, const char *data, size_t n)
{
        msgpack_unpacked m;
        const char *msg;
        size_t len;
        int r = -EPROTO;

        if (n > PROTO_FRAME_HEADER_SIZE &&
            wire_unpack(data + PROTO_FRAME_HEADER_SIZE, n - PROTO_FRAME_HEADER_SIZE, &m) >= 0) {
                if (wire_type_is(&m.data, "failed") &&
                    proto_map_get_str(&m.data, "message", &msg, &len) == 0) {
                        (void) snprintf(w->env->last_error, sizeof w->env->last_error,
                                        "workers cannot set themselves up (%.*s)",
                                        (int) MIN(len, (size_t) 160), msg);
                        r = -ENOTRECOVERABLE;
                }
                msgpack_unpacked_destroy(&m);
        }
        return r;
}

/* The worker's cgroup is made before it counts as idle, off the path of the
 * request it will serve (its limits are the same for every request). The
 * spawner makes it: an unprivileged dispatcher could not move another uid's
 * process into a v1 group. */
static bool
worker_request_cgroup(struct worker *w)
{
        struct pool *p = w->env->pool;
        int r;

        if (p->config.oneshot) {
                /* The jail's group is the worker's: no request, no wait. */
                (void) oneshot_worker_cgroup(w);
                return false;
        }
        if (p->cgroup_mode == JAIL_CGROUP_NONE)
                return false;
        w->cgroup_ref = ++p->next_cgroup_ref;
        r = spawner_request_cgroup(&p->spawner, w->env->zygote_id, w->cgroup_ref, p->cpu_milli, w->pidfd);
        if (r < 0) {
                log_debug_errno(r, "cannot ask for a cgroup, using rlimits: %m");
                w->cgroup_ref = 0;
                return false;
        }
        return true;
}

static void
worker_become_idle(struct worker *w)
{
        w->state = WORKER_IDLE;
        w->env->n_starting--;
        w->env->n_idle++;
        env_dispatch(w->env);
}

void
worker_on_cgroup(struct worker *w, int oom_fd, int error)
{
        w->cgroup_pending = false;
        if (w->state != WORKER_STARTING) {
                safe_close(oom_fd); /* killed meanwhile; worker_free() removes the group */
                return;
        }
        if (oom_fd < 0)
                /* Fall back to rlimits rather than refuse to run. */
                log_debug_errno(error, "cgroup unusable, using rlimits: %m");
        w->oom_fd = oom_fd;
        worker_become_idle(w);
}

static int
on_sock(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct worker *w = userdata;
        int r;

        switch (w->state) {
        case WORKER_STARTING:
                if (w->cgroup_pending) {
                        worker_kill(w); /* between its hello and idling, a worker says nothing */
                        return 0;
                }
                r = receive_hello(w);
                if (r == 0)
                        return 0;
                if (r < 0) {
                        log_debug_errno(r, "worker in slot %u failed to start: %m", w->slot);
                        worker_kill(w);
                        env_worker_start_failed(w->env, r);
                        return 0;
                }
                w->env->start_failures = 0;
                w->cgroup_pending = worker_request_cgroup(w);
                if (!w->cgroup_pending)
                        worker_become_idle(w);
                return 0;
        case WORKER_BUSY:
                r = worker_drain(w);
                if (r < 0 && r != -EPIPE) {
                        log_debug_errno(r, "worker in slot %u broke the protocol: %m", w->slot);
                        if (w->job)
                                w->job->violation = true;
                        worker_kill(w);
                        return 0;
                }
                if (r == -EPIPE)
                        w->sock_src = sd_event_source_disable_unref(w->sock_src);
                if (w->job && w->job->got_result)
                        worker_retire(w);
                return 0;
        default:
                /* An idle worker has nothing to say; a dead one is being reaped. */
                if (w->state == WORKER_IDLE)
                        worker_kill(w);
                else
                        w->sock_src = sd_event_source_disable_unref(w->sock_src);
                return 0;
        }
}

/* Read every frame the worker has sent so far and hand it to its job. Called on
 * readiness and once more when its exit is reported, so a large result that
 * was still in the socket when the worker exited is read whole. */
int
worker_drain(struct worker *w)
{
        const void *data;
        size_t size;

        if (w->sock < 0)
                return -EPIPE;
        for (;;) {
                int r = proto_frame_reader_fill(w->reader, w->sock);
                if (r == -EINTR)
                        continue;
                if (r == -EAGAIN)
                        return 0;
                if (r < 0 && r != -EPIPE)
                        return r;
                while (proto_frame_reader_pop(w->reader, &data, &size) > 0) {
                        msgpack_unpacked m;
                        int q = wire_unpack(data, size, &m);
                        if (q < 0)
                                return q;
                        if (w->job)
                                job_on_frame(w->job, &m.data);
                        msgpack_unpacked_destroy(&m);
                        if (w->job && w->job->violation)
                                return -EPROTO;
                }
                if (r == -EPIPE)
                        return proto_frame_reader_pending(w->reader) ? -EBADMSG : -EPIPE;
        }
}

int
worker_spawn(struct pool_env *e, struct worker **ret)
{
        struct pool *p = e->pool;
        struct worker *w = calloc(1, sizeof *w);
        int child[WIRE_SPAWN_FDS], r;

        if (!w)
                return -ENOMEM;
        *w = (struct worker){
                .env = e, .pidfd = -EBADF, .sock = -EBADF, .out = -EBADF, .err = -EBADF, .oom_fd = -EBADF};
        list_init(&w->node);
        r = alloc_slot(e, &w->slot);
        if (r < 0) {
                free(w);
                return r;
        }
        w->uid = p->range_ids ? JAIL_UID_SANDBOX + w->slot : JAIL_UID_SANDBOX;
        list_append(&e->workers, &w->node);
        e->n_starting++;
        r = make_channel(w, child);
        if (r >= 0) {
                r = wire_send_spawn(e->control, w->slot, w->uid, p->config.tmp_bytes,
                                    p->config.workspace_bytes, child);
                for (size_t i = 0; i < WIRE_SPAWN_FDS; i++)
                        safe_close(child[i]);
        }
        if (r >= 0)
                r = proto_frame_reader_new(WIRE_MAX_RESULT_FRAME, &w->reader);
        if (r >= 0)
                r = sd_event_add_io(p->event, &w->sock_src, w->sock, EPOLLIN, on_sock, w);
        if (r < 0) {
                w->state = WORKER_DEAD;
                w->exited = true;
                env_worker_gone(e, w);
                return r;
        }
        if (ret)
                *ret = w;
        return 0;
}

void
worker_kill(struct worker *w)
{
        if (w->state == WORKER_DEAD)
                return;
        if (w->state == WORKER_IDLE)
                w->env->n_idle--;
        else if (w->state == WORKER_STARTING)
                w->env->n_starting--;
        else if (w->state == WORKER_BUSY)
                w->env->n_busy--;
        else if (w->state == WORKER_RETIRING)
                w->env->n_retiring--;
        w->state = WORKER_DEAD;
        if (w->pidfd >= 0)
                (void) pidfd_signal(w->pidfd, SIGKILL);
        /* Without a pidfd (no hello yet) the zygote's exit report still comes: the
         * worker's socket closing makes it exit on its own. */
        w->sock_src = sd_event_source_disable_unref(w->sock_src);
        w->sock = safe_close(w->sock);
}

static void drain_pipe(struct worker *w, int fd, int stream);

/* A worker that returned its result exits by itself within microseconds; one
 * that keeps running (the code forged a result and went on) is killed. */
#define RETIRE_GRACE_USEC (200 * USEC_PER_MSEC)

static int
on_retire_timeout(sd_event_source *src, uint64_t usec, void *userdata)
{
        worker_kill(userdata);
        return 0;
}

void
worker_retire(struct worker *w)
{
        struct pool_env *e = w->env;

        /* Everything the code printed before its result is in the pipes already
         * (the runner flushes first). */
        drain_pipe(w, w->out, 1);
        drain_pipe(w, w->err, 2);
        w->state = WORKER_RETIRING;
        e->n_busy--;
        e->n_retiring++;
        w->sock_src = sd_event_source_disable_unref(w->sock_src);
        w->sock = safe_close(w->sock);
        (void) sd_event_add_time_relative(e->pool->event, &w->retire_timer, CLOCK_MONOTONIC,
                                          RETIRE_GRACE_USEC, 1000, on_retire_timeout, w);
        job_finish(w->job, 0, NULL);
        /* Replacements are forked now, after the answer went out, not while the
         * request ran. */
        env_schedule_dispatch(e);
}

static void
drain_pipe(struct worker *w, int fd, int stream)
{
        char buf[65536];
        ssize_t n;

        /* Only what is already there: a descendant may still hold the pipe. */
        while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
                if (w->job)
                        job_on_output(w->job, stream, buf, (size_t) n);
}

void
worker_on_exit_report(struct worker *w, const msgpack_object *m)
{
        uint64_t code = 0, sig = 0, ut = 0, st = 0, rss = 0;

        (void) proto_map_get_uint(m, "code", &code);
        (void) proto_map_get_uint(m, "signal", &sig);
        (void) proto_map_get_uint(m, "utime_us", &ut);
        (void) proto_map_get_uint(m, "stime_us", &st);
        (void) proto_map_get_uint(m, "maxrss_kb", &rss);
        w->exited = true;
        w->exit_code = (int) (code & 0xff);
        w->exit_signal = (int) (sig & 0x7f);
        w->cpu_us = ut + st;
        w->maxrss_kb = rss;
        if (w->job && w->state == WORKER_BUSY && worker_drain(w) < -EPIPE)
                w->job->violation = true;
        if (w->state != WORKER_DEAD)
                worker_kill(w); /* bookkeeping only: it is already gone */
        drain_pipe(w, w->out, 1);
        drain_pipe(w, w->err, 2);
        if (w->job)
                job_finish(w->job, 0, NULL);
        env_worker_gone(w->env, w);
}

struct worker *
worker_free(struct worker *w)
{
        if (!w)
                return NULL;
        list_remove(&w->node);
        w->env->slots_used &= ~(UINT64_C(1) << w->slot);
        w->sock_src = sd_event_source_disable_unref(w->sock_src);
        w->out_src = sd_event_source_disable_unref(w->out_src);
        w->err_src = sd_event_source_disable_unref(w->err_src);
        w->retire_timer = sd_event_source_disable_unref(w->retire_timer);
        /* The spawner kills what is left in the group and removes it. */
        if (w->cgroup_ref)
                (void) spawner_request_uncgroup(&w->env->pool->spawner, w->cgroup_ref);
        safe_close(w->oom_fd);
        safe_close(w->sock);
        safe_close(w->out);
        safe_close(w->err);
        safe_close(w->pidfd);
        proto_frame_reader_free(w->reader);
        free(w);
        return NULL;
}
