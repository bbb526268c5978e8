/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Environments: a zygote in its own jail plus its workers and its queue.
 * Runs in the dispatcher. The zygote's messages are validated like a
 * worker's. A zygote that dies fails the jobs of its workers with a clear
 * error and is restarted with exponential backoff; one that cannot start
 * (a module that will not import) fails queued and new jobs at once with
 * its message, and is retried with backoff too.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "parse-util.h"
#include "pool-internal.h"
#include "time-util.h"
#include "wire.h"

#define BACKOFF_MIN_USEC (250 * USEC_PER_MSEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)

static void env_start_zygote(struct pool_env *e);
static void env_lose_zygote(struct pool_env *e, enum env_state next, int error, const char *why);

static uint64_t
backoff_usec(unsigned attempts)
{
        uint64_t d = BACKOFF_MIN_USEC << MIN(attempts, 10u);

        return MIN(d, BACKOFF_MAX_USEC);
}

static int
on_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct pool_env *e = userdata;

        if (e->state == ENV_STARTING) {
                /* The start-up deadline passed without "ready". */
                (void) snprintf(e->last_error, sizeof e->last_error, "the zygote did not start in time");
                env_on_spawner_event(e, &(struct spawner_event){.type = SPAWNER_FAILED,
                                                                .id = e->zygote_id,
                                                                .error = -ETIMEDOUT});
                return 0;
        }
        env_start_zygote(e);
        return 0;
}

static void
arm_retry(struct pool_env *e, uint64_t usec)
{
        e->retry_timer = sd_event_source_disable_unref(e->retry_timer);
        (void) sd_event_add_time_relative(e->pool->event, &e->retry_timer, CLOCK_MONOTONIC, usec, 1000,
                                          on_retry, e);
}

/* One-shot: we build the jail ourselves, and ask for the worker at once,
 * before the zygote's "ready": the zygote reads the request after saying it,
 * and the worker's start overlaps with what the dispatcher still does
 * before its loop runs (dropping privileges, its own seccomp filter). */
static void
env_start_oneshot(struct pool_env *e)
{
        _cleanup_free_ char *error = NULL;
        struct spawner_event ev = {.type = SPAWNER_STARTED, .id = e->zygote_id, .control_fd = -EBADF};
        int r = oneshot_start_zygote(e, &ev.control_fd, &error);

        if (r < 0) {
                ev = (struct spawner_event){.type = SPAWNER_FAILED, .id = e->zygote_id, .error = r};
                (void) snprintf(ev.message, sizeof ev.message, "%s", error ? error : "starting the jail");
                env_on_spawner_event(e, &ev);
                return;
        }
        env_on_spawner_event(e, &ev);
        if (e->control >= 0 && worker_spawn(e, NULL) < 0)
                env_lose_zygote(e, ENV_FAILED, -ENOEXEC, "could not ask the zygote for a worker");
        if (e->state == ENV_STARTING)
                arm_retry(e, e->pool->config.startup_timeout_ms * USEC_PER_MSEC);
}

static void
env_start_zygote(struct pool_env *e)
{
        struct pool *p = e->pool;
        int r;

        e->state = ENV_STARTING;
        e->zygote_id = ++p->next_zygote_id;
        if (p->config.oneshot)
                return env_start_oneshot(e);
        r = spawner_request_zygote(&p->spawner, e->zygote_id, e->preload, e->preload_if_installed,
                                   p->config.tmp_bytes, p->config.workspace_bytes);
        if (r < 0) {
                (void) snprintf(e->last_error, sizeof e->last_error, "the spawner is unavailable");
                e->state = ENV_FAILED;
                arm_retry(e, backoff_usec(e->failures++));
                return;
        }
        arm_retry(e, p->config.startup_timeout_ms * USEC_PER_MSEC);
}

static void
fail_queue(struct pool_env *e, int error, const char *message)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &e->queue)
        {
                struct pool_job *j = list_entry(n, struct pool_job, node);
                job_finish(j, error, message);
        }
}

/* The zygote is gone (or never came): every worker went with it. */
static void
env_lose_zygote(struct pool_env *e, enum env_state next, int error, const char *why)
{
        struct list_node *n, *tmp;
        char message[1152];

        if (e->zygote_id)
                pool_kill_zygote(e->pool, e->zygote_id);
        e->zygote_id = 0;
        e->control_src = sd_event_source_disable_unref(e->control_src);
        e->control = safe_close(e->control);
        e->control_reader = proto_frame_reader_free(e->control_reader);
        (void) snprintf(message, sizeof message, "environment '%s': %s", e->name, why);
        list_for_each_safe(n, tmp, &e->workers)
        {
                struct worker *w = list_entry(n, struct worker, node);
                worker_kill(w);
                if (w->job)
                        job_finish(w->job, error, message);
                worker_free(w);
        }
        e->n_idle = e->n_busy = e->n_starting = e->n_retiring = 0;
        e->state = next;
        if (next == ENV_FAILED)
                fail_queue(e, error, message);
        arm_retry(e, backoff_usec(next == ENV_FAILED ? e->failures++ : e->restarts++));
}

void
env_on_cgroup_event(struct pool_env *e, const struct spawner_event *ev)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &e->workers)
        {
                struct worker *w = list_entry(n, struct worker, node);
                if (ev->type == SPAWNER_LIMITED || ev->type == SPAWNER_LIMIT_FAILED) {
                        if (w->cgroup_ref == ev->ref && w->job && w->job->limits_pending) {
                                job_on_limits(w->job, ev->error);
                                return;
                        }
                        continue;
                }
                if (w->cgroup_ref == ev->ref && w->cgroup_pending) {
                        worker_on_cgroup(w, ev->control_fd, ev->error);
                        return;
                }
        }
        /* For a worker already gone: its "uncgroup" is on its way. */
        safe_close(ev->control_fd);
}

static struct worker *
worker_by_slot(struct pool_env *e, uint64_t slot)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &e->workers)
        {
                struct worker *w = list_entry(n, struct worker, node);
                if (w->slot == slot && !w->exited)
                        return w;
        }
        return NULL;
}

/* The modules the zygote imported: a subset of what it was asked for, the
 * rest not installed (a list of its own must import in full, or the zygote
 * fails). Anything else in the report is ignored, never trusted. */
static void
env_note_preloaded(struct pool_env *e, const msgpack_object *m)
{
        const msgpack_object *arr;
        size_t n = 0;

        e->preloaded = strv_free(e->preloaded);
        if (proto_map_get_array(m, "preloaded", &arr) < 0 || arr->via.array.size > strv_length(e->preload))
                return;
        e->preloaded = calloc(arr->via.array.size + 1, sizeof(char *));
        for (uint32_t i = 0; e->preloaded && i < arr->via.array.size; i++) {
                const msgpack_object *o = &arr->via.array.ptr[i];
                _cleanup_free_ char *name =
                        o->type == MSGPACK_OBJECT_STR ? strndup(o->via.str.ptr, o->via.str.size) : NULL;
                if (name && strv_contains(e->preload, name))
                        e->preloaded[n++] = TAKE_PTR(name);
        }
        for (char **p = e->preload; e->preloaded && p && *p; p++)
                if (!strv_contains(e->preloaded, *p))
                        log_debug("environment '%s': %s not preloaded: not installed, or its import failed",
                                  e->name, *p);
}

static int
handle_control(struct pool_env *e, const msgpack_object *m)
{
        uint64_t slot, pid;
        const char *s;
        size_t len;

        if (wire_type_is(m, "ready") && e->state == ENV_STARTING) {
                env_note_preloaded(e, m);
                e->state = ENV_READY;
                e->failures = 0;
                e->retry_timer = sd_event_source_disable_unref(e->retry_timer);
                env_dispatch(e);
                return 0;
        }
        if (wire_type_is(m, "error") && proto_map_get_str(m, "message", &s, &len) == 0) {
                (void) snprintf(e->last_error, sizeof e->last_error, "%.*s", (int) len, s);
                return -ENOEXEC;
        }
        if (proto_map_get_uint(m, "slot", &slot) < 0)
                return -EBADMSG;
        struct worker *w = worker_by_slot(e, slot);
        if (wire_type_is(m, "spawned") && proto_map_get_uint(m, "pid", &pid) == 0) {
                if (w)
                        w->inside_pid = (pid_t) pid;
                return 0;
        }
        if (wire_type_is(m, "exit")) {
                if (w)
                        worker_on_exit_report(w, m);
                return 0;
        }
        return -EBADMSG;
}

static int
on_control(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct pool_env *e = userdata;
        const void *data;
        size_t size;
        int r;

        for (;;) {
                r = proto_frame_reader_fill(e->control_reader, fd);
                if (r == -EAGAIN || r == -EINTR)
                        return 0;
                while (r >= 0 && proto_frame_reader_pop(e->control_reader, &data, &size) > 0) {
                        msgpack_unpacked m;
                        r = wire_unpack(data, size, &m);
                        if (r >= 0) {
                                r = handle_control(e, &m.data);
                                msgpack_unpacked_destroy(&m);
                        }
                }
                if (r < 0)
                        break;
        }
        if (r == -ENOEXEC || (e->state == ENV_STARTING && r == -EPIPE)) {
                if (r == -EPIPE)
                        (void) snprintf(e->last_error, sizeof e->last_error,
                                        "the zygote exited during start-up");
                env_lose_zygote(e, ENV_FAILED, -ENOEXEC, e->last_error);
        } else
                env_lose_zygote(e, ENV_BACKOFF, -ECONNRESET,
                                r == -EPIPE ? "the zygote died" : "the zygote broke the protocol");
        return 0;
}

void
env_on_spawner_event(struct pool_env *e, const struct spawner_event *ev)
{
        int r;

        if (ev->id != e->zygote_id)
                return; /* about a zygote we already gave up on */
        switch (ev->type) {
        case SPAWNER_STARTED:
                e->control = ev->control_fd;
                (void) fd_set_nonblock(e->control, true);
                r = proto_frame_reader_new(WIRE_MAX_ZYGOTE_FRAME, &e->control_reader);
                if (r >= 0)
                        r = sd_event_add_io(e->pool->event, &e->control_src, e->control, EPOLLIN, on_control,
                                            e);
                if (r < 0)
                        env_lose_zygote(e, ENV_BACKOFF, -ECONNRESET, "out of resources");
                return;
        case SPAWNER_FAILED:
                if (ev->message[0] &&
                    (size_t) snprintf(e->last_error, sizeof e->last_error, "%s: %s", ev->message,
                                      strerror(-ev->error)) >= sizeof e->last_error)
                        e->last_error[sizeof e->last_error - 1] = 0;
                env_lose_zygote(e, ENV_FAILED, ev->error == -ETIMEDOUT ? -ETIMEDOUT : -ENOEXEC,
                                e->last_error);
                return;
        case SPAWNER_EXITED:
                if (e->state == ENV_STARTING)
                        return; /* the control socket's end of file says it better */
                env_lose_zygote(e, ENV_BACKOFF, -ECONNRESET, "the zygote died");
                return;
        case SPAWNER_CGROUP:
        case SPAWNER_CGROUP_FAILED:
        case SPAWNER_LIMITED:
        case SPAWNER_LIMIT_FAILED:
                return; /* env_on_cgroup_event()'s */
        }
}

static struct worker *
idle_worker(struct pool_env *e)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &e->workers)
        {
                struct worker *w = list_entry(n, struct worker, node);
                if (w->state == WORKER_IDLE)
                        return w;
        }
        return NULL;
}

static void
lease(struct pool_env *e, struct worker *w, struct pool_job *j)
{
        int r;

        list_remove(&j->node);
        e->n_queued--;
        w->state = WORKER_BUSY;
        e->n_idle--;
        e->n_busy++;
        r = job_start(j, w);
        if (r < 0) {
                job_unlease(j);
                worker_kill(w);
                /* The worker was gone before the request reached it (its zygote
                 * died, say): no code ran, so the request may wait for another
                 * worker, at the front of the queue, once. */
                if ((r == -EPIPE || r == -ECONNRESET) && !j->handoff_retried) {
                        j->handoff_retried = true;
                        list_append(e->queue.next, &j->node);
                        e->n_queued++;
                        env_schedule_dispatch(e);
                        return;
                }
                job_finish(j, r, "could not hand the request to a worker");
        }
}

void
env_dispatch(struct pool_env *e)
{
        const struct pool_config *c = &e->pool->config;
        struct worker *w;

        if (e->state != ENV_READY)
                return;
        while (!list_empty(&e->queue) && (w = idle_worker(e)))
                lease(e, w, list_entry(list_first(&e->queue), struct pool_job, node));
        /* Keep the warm set filled, and start more while requests wait. */
        for (;;) {
                unsigned total = e->n_idle + e->n_busy + e->n_starting + e->n_retiring;
                bool want = e->n_idle + e->n_starting < c->idle_workers || e->n_starting < e->n_queued;
                if (!want || total >= c->max_workers || worker_spawn(e, NULL) < 0)
                        break;
        }
}

static int
on_dispatch(sd_event_source *src, void *userdata)
{
        env_dispatch(userdata);
        return 0;
}

void
env_schedule_dispatch(struct pool_env *e)
{
        if (!e->dispatch_src && sd_event_add_defer(e->pool->event, &e->dispatch_src, on_dispatch, e) < 0) {
                env_dispatch(e);
                return;
        }
        (void) sd_event_source_set_enabled(e->dispatch_src, SD_EVENT_ONESHOT);
}

#define START_FAILURES_MAX 3

/* The zygote's end of its control socket is closed: it died, and the end of
 * file waiting to be read there says so. */
static bool
zygote_hung_up(const struct pool_env *e)
{
        struct pollfd p = {.fd = e->control, .events = POLLIN};

        return e->control < 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)));
}

void
env_worker_start_failed(struct pool_env *e, int error)
{
        /* Workers that die with their zygote are not a broken environment: the
         * control socket's end of file reports the zygote's death. */
        if (error != -ENOTRECOVERABLE && zygote_hung_up(e))
                return;
        /* One worker dying early can be the code of a previous request (it never
         * ran) or the machine; every new one failing is a broken environment,
         * and requests must fail with the reason instead of waiting forever. */
        if (++e->start_failures < START_FAILURES_MAX && error != -ENOTRECOVERABLE)
                return;
        if (error != -ENOTRECOVERABLE || !e->last_error[0])
                (void) snprintf(e->last_error, sizeof e->last_error, "workers die before they are ready");
        e->start_failures = 0;
        env_lose_zygote(e, ENV_FAILED, -ENOEXEC, e->last_error);
}

void
env_worker_gone(struct pool_env *e, struct worker *w)
{
        worker_free(w);
        env_dispatch(e);
}

int
env_new(struct pool *p, const char *name, char *const *preload, bool preload_if_installed,
        struct pool_env **ret)
{
        struct pool_env *e = calloc(1, sizeof *e);

        if (!e)
                return -ENOMEM;
        e->pool = p;
        e->control = -EBADF;
        list_init(&e->workers);
        list_init(&e->queue);
        e->name = strdup(name);
        e->preload_if_installed = preload_if_installed;
        e->preload = calloc(strv_length(preload) + 1, sizeof(char *));
        for (size_t i = 0; e->preload && preload && preload[i]; i++)
                if (!(e->preload[i] = strdup(preload[i])))
                        e->name = mfree(e->name);
        if (!e->name || !e->preload) {
                env_free(e);
                return -ENOMEM;
        }
        env_start_zygote(e);
        *ret = e;
        return 0;
}

struct pool_env *
env_free(struct pool_env *e)
{
        struct list_node *n, *tmp;

        if (!e)
                return NULL;
        list_for_each_safe(n, tmp, &e->queue)
        {
                struct pool_job *j = list_entry(n, struct pool_job, node);
                job_free(j);
        }
        list_for_each_safe(n, tmp, &e->workers)
        {
                struct worker *w = list_entry(n, struct worker, node);
                worker_kill(w);
                if (w->job) {
                        w->job->worker = NULL;
                        job_free(w->job);
                }
                worker_free(w);
        }
        if (e->zygote_id)
                pool_kill_zygote(e->pool, e->zygote_id);
        e->control_src = sd_event_source_disable_unref(e->control_src);
        e->retry_timer = sd_event_source_disable_unref(e->retry_timer);
        e->dispatch_src = sd_event_source_disable_unref(e->dispatch_src);
        safe_close(e->control);
        proto_frame_reader_free(e->control_reader);
        strv_free(e->preload);
        strv_free(e->preloaded);
        free(e->name);
        free(e);
        return NULL;
}
