/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A job: one `run` request from the moment a worker is leased to the moment
 * its result is reported. Runs in the dispatcher. The wall deadline is armed
 * here, outside the jail: at expiry the worker is killed with SIGKILL (which
 * also ends a stopped one) and the zygote's exit report, with the worker's
 * CPU time and peak memory, completes the job.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* How long the zygote gets to report a killed worker before the job is
 * completed without its accounting. */
#define EXIT_REPORT_GRACE_USEC (1000 * USEC_PER_MSEC)

void
job_on_output(struct pool_job *j, int stream, const void *data, size_t size)
{
        (void) capbuf_append(stream == 1 ? &j->result.out : &j->result.err, data, size);
        if (j->ops && j->ops->output)
                j->ops->output(j, stream, data, size, j->userdata);
}

static int
on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct worker *w = userdata;
        int stream = fd == w->out ? 1 : 2;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof buf);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                (void) sd_event_source_set_enabled(src, SD_EVENT_OFF);
                return 0;
        }
        if (w->job)
                job_on_output(w->job, stream, buf, (size_t) n);
        return 0;
}

static char *
dup_str(const msgpack_object *o)
{
        return o && o->type == MSGPACK_OBJECT_STR ? strndup(o->via.str.ptr, o->via.str.size) : NULL;
}

static int
take_exception(struct run_result *r, const msgpack_object *m)
{
        const msgpack_object *exc;

        if (proto_map_get_map(m, "exception", &exc) < 0)
                return 0;
        r->has_exception = true;
        r->exc_type = dup_str(proto_map_get(exc, "type"));
        r->exc_message = dup_str(proto_map_get(exc, "message"));
        r->exc_traceback = dup_str(proto_map_get(exc, "traceback"));
        return r->exc_type && r->exc_message && r->exc_traceback ? 0 : -EBADMSG;
}

static int
take_images(struct run_result *r, const msgpack_object *m, unsigned max_images)
{
        const msgpack_object *arr;

        if (proto_map_get_array(m, "images", &arr) < 0 || arr->via.array.size > max_images)
                return -EBADMSG; /* the worker was told the bound: more is a lie */
        r->images = calloc(arr->via.array.size + 1, sizeof *r->images);
        if (!r->images)
                return -ENOMEM;
        for (uint32_t i = 0; i < arr->via.array.size; i++) {
                const msgpack_object *b = &arr->via.array.ptr[i];
                if (b->type != MSGPACK_OBJECT_BIN)
                        return -EBADMSG;
                r->images[i].mime = strdup("image/png");
                r->images[i].data = malloc(b->via.bin.size + 1);
                if (!r->images[i].mime || !r->images[i].data)
                        return -ENOMEM;
                memcpy(r->images[i].data, b->via.bin.ptr, b->via.bin.size);
                r->images[i].size = b->via.bin.size;
                r->n_images++;
        }
        return 0;
}

/* A worker runs hostile code: its result is checked field by field, and a
 * status it may not claim (timeout, killed, ...) is a protocol violation.
 * "memory" only without a cgroup, where the worker's RLIMIT_AS is the limit
 * and the worker saw it refuse an allocation; with one, the OOM kill counter
 * is the only authority. */
static int
take_result(struct pool_job *j, const msgpack_object *m)
{
        struct run_result *r = &j->result;
        const msgpack_object *value = proto_map_get(m, "value");
        const char *status;
        uint64_t cpu_us;
        size_t len;

        if (proto_map_get_str(m, "status", &status, &len) < 0 ||
            run_status_from_string(status, len, &r->status) < 0 ||
            (r->status != RUN_OK && r->status != RUN_EXCEPTION && r->status != RUN_MEMORY) ||
            (r->status == RUN_MEMORY && j->worker && j->worker->oom_fd >= 0))
                return -EBADMSG;
        if (value && value->type != MSGPACK_OBJECT_NIL && !(r->value = dup_str(value)))
                return -EBADMSG;
        if (take_exception(r, m) < 0 || take_images(r, m, j->pool->config.max_images) < 0)
                return -EBADMSG;
        (void) proto_map_get_uint(m, "images_omitted", &r->images_omitted);
        /* Self-reported by the worker: it concerns only this request's result. */
        if (proto_map_get_uint(m, "cpu_us", &cpu_us) == 0)
                r->cpu_ms = (double) cpu_us / 1000.0;
        (void) proto_map_get_uint(m, "maxrss_kb", &r->max_rss_kb);
        return r->status == RUN_EXCEPTION && !r->has_exception ? -EBADMSG : 0;
}

void
job_on_frame(struct pool_job *j, const msgpack_object *m)
{
        const char *msg;
        size_t len;

        if (!j->got_result && wire_type_is(m, "result")) {
                j->got_result = take_result(j, m) >= 0;
                j->violation = !j->got_result;
                job_watch_result(j);
                j->result.wall_ms = (double) (now_usec() - j->started_usec) / 1000.0;
        } else if (!j->got_result && !j->failure && wire_type_is(m, "failed") &&
                   proto_map_get_str(m, "message", &msg, &len) >= 0)
                j->failure = strndup(msg, len);
        else
                j->violation = true;
}

int
job_on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct pool_job *j = userdata;

        if (!j->timed_out && !j->cancelled) {
                j->timed_out = true;
                j->result.wall_ms = (double) (now_usec() - j->started_usec) / 1000.0;
                if (j->worker)
                        worker_kill(j->worker);
                if (sd_event_source_set_time_relative(src, EXIT_REPORT_GRACE_USEC) >= 0 &&
                    sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) >= 0)
                        return 0;
        }
        /* The exit report did not come: finish without it. */
        job_finish(j, 0, NULL);
        return 0;
}

static int
send_run(struct pool_job *j, struct worker *w)
{
        const struct pool_config *c = &j->pool->config;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        /* RLIMIT_CPU is a backstop behind the wall deadline: a second more than it. */
        j->cpu_limit_s = (j->timeout_ms + 999) / 1000 + 1;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 6);
        proto_pack_key_str(&pk, "type", "run");
        proto_pack_str(&pk, "code");
        proto_pack_strn(&pk, j->code, j->code_len);
        proto_pack_key_bin(&pk, "stdin", j->stdin_data ? j->stdin_data : "", j->stdin_len);
        proto_pack_key_uint(&pk, "max_images", c->max_images);
        proto_pack_key_uint(&pk, "max_image_bytes", c->max_image_bytes);
        proto_pack_str(&pk, "limits");
        msgpack_pack_map(&pk, 5);
        proto_pack_key_uint(&pk, "cpu_s", j->cpu_limit_s);
        proto_pack_key_uint(&pk, "nproc", j->limits.nproc);
        proto_pack_key_uint(&pk, "nofile", c->nofile);
        proto_pack_key_uint(&pk, "fsize", c->fsize_bytes);
        proto_pack_key_uint(&pk, "as_bytes", w->oom_fd >= 0 ? 0 : j->limits.memory_bytes);
        /* The worker's socket is non-blocking on our side; the request may be
         * large (16 MiB of code and stdin), so write it blocking. */
        (void) fd_set_nonblock(w->sock, false);
        r = proto_frame_write(w->sock, sb.data, sb.size);
        (void) fd_set_nonblock(w->sock, true);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

/* Whether the worker's group has looser limits than the job's. Without a
 * group the rlimits in the run message carry the job's own. (A one-shot
 * jail's group, made by the dispatcher before it dropped its privileges,
 * cannot be changed: a job whose limits differ from it fails, as one does
 * whose limits the spawner cannot apply.) */
static bool
job_needs_limits(const struct pool_job *j, const struct worker *w)
{
        const struct pool *p = j->pool;

        return w->oom_fd >= 0 && (w->cgroup_ref != 0 || p->config.oneshot) &&
               (j->limits.memory_bytes != p->config.limits.memory_bytes ||
                j->limits.nproc != p->config.limits.nproc || j->limits.cpu_milli != p->cpu_milli);
}

static int
job_send(struct pool_job *j, struct worker *w)
{
        int r;

        /* The baseline is what the worker holds before it reads the request. */
        r = job_watch_start(j, w);
        if (r == -ESRCH || r == -ENOENT)
                return -EPIPE; /* the worker died before the request reached it */
        if (r < 0)
                return log_debug_errno(r, "cannot watch the worker's memory: %m");
        j->started_usec = now_usec();
        r = send_run(j, w);
        if (r >= 0)
                r = sd_event_add_time_relative(j->pool->event, &j->timer, CLOCK_MONOTONIC,
                                               j->timeout_ms * USEC_PER_MSEC, 1000, job_on_timer, j);
        return r;
}

int
job_start(struct pool_job *j, struct worker *w)
{
        sd_event *e = j->pool->event;
        int r;

        j->worker = w;
        w->job = j;
        r = sd_event_add_io(e, &w->out_src, w->out, EPOLLIN, on_output, w);
        if (r >= 0)
                r = sd_event_add_io(e, &w->err_src, w->err, EPOLLIN, on_output, w);
        /* Output is read before the result is judged. */
        if (r >= 0)
                r = sd_event_source_set_priority(w->out_src, SD_EVENT_PRIORITY_IMPORTANT);
        if (r >= 0)
                r = sd_event_source_set_priority(w->err_src, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                return r;
        /* The worker's group was made with the service's limits; a request
         * that asked for less waits for the spawner to lower them, so that
         * none of its code runs under the looser ones. */
        if (job_needs_limits(j, w)) {
                r = spawner_request_limit(&j->pool->spawner, w->cgroup_ref, &j->limits);
                j->limits_pending = r >= 0;
                return r < 0 ? -ENOTRECOVERABLE : 0;
        }
        return job_send(j, w);
}

void
job_on_limits(struct pool_job *j, int error)
{
        struct worker *w = j->worker;
        char message[160];

        j->limits_pending = false;
        if (j->cancelled)
                return; /* the worker is being killed: its exit report ends the job */
        if (error >= 0 && (error = job_send(j, w)) >= 0)
                return;
        (void) snprintf(message, sizeof message, "cannot apply the request's limits to its worker: %s",
                        strerror(-error));
        /* Nothing ran: the worker goes, the request fails with the reason. */
        job_unlease(j);
        worker_kill(w);
        job_finish(j, error, message);
}

void
job_unlease(struct pool_job *j)
{
        struct worker *w = j->worker;

        if (w) {
                w->job = NULL;
                w->out_src = sd_event_source_disable_unref(w->out_src);
                w->err_src = sd_event_source_disable_unref(w->err_src);
        }
        j->worker = NULL;
        j->timer = sd_event_source_disable_unref(j->timer);
        job_watch_stop(j);
        j->started_usec = 0;
}

_printf_(2, 3) static void set_detail(struct run_result *r, const char *fmt, ...)
{
        va_list ap;

        free(r->detail);
        va_start(ap, fmt);
        if (vasprintf(&r->detail, fmt, ap) < 0)
                r->detail = NULL;
        va_end(ap);
}

static const char *
format_memory(uint64_t bytes, char *buf, size_t size)
{
        if (bytes % (1024 * 1024) == 0)
                (void) snprintf(buf, size, "%llu MiB", (unsigned long long) (bytes >> 20));
        else
                (void) snprintf(buf, size, "%llu bytes", (unsigned long long) bytes);
        return buf;
}

/* Decide the status from what was observed, most specific first. */
static void
classify(struct pool_job *j)
{
        struct run_result *r = &j->result;
        char buf[32];
        struct worker *w = j->worker;
        int sig = w && w->exited ? w->exit_signal : 0, code = w && w->exited ? w->exit_code : 0;
        uint64_t ooms = 0;

        /* Read now, synchronously: the kernel counts an OOM kill before the
         * victim dies, so the count is final once the exit was reported. */
        if (w && w->oom_fd >= 0)
                (void) jail_cgroup_oom_kills_fd(w->oom_fd, &ooms);
        if (j->cancelled) {
                r->status = RUN_CANCELLED;
                set_detail(r, "the request was cancelled");
        } else if (j->memory_killed) {
                /* The watchdog's kill; a result sent before it is void. */
                r->status = RUN_MEMORY;
                set_detail(r, "%s", j->memory_killed);
        } else if (j->timed_out) {
                r->status = RUN_TIMEOUT;
                set_detail(r, "the code ran past its deadline of %.3g s and was killed",
                           (double) j->timeout_ms / 1000.0);
        } else if (j->got_result) {
                if (r->status == RUN_MEMORY)
                        set_detail(r, "the code reached its memory limit of %s: an allocation failed",
                                   format_memory(j->limits.memory_bytes, buf, sizeof buf));
                return;
        } else if (ooms > 0) {
                r->status = RUN_MEMORY;
                set_detail(r, "the code exceeded its memory limit of %s and was killed",
                           format_memory(j->limits.memory_bytes, buf, sizeof buf));
        } else if (sig == SIGXCPU || (sig == SIGKILL && r->cpu_ms >= (double) j->cpu_limit_s * 1000.0)) {
                r->status = RUN_TIMEOUT;
                set_detail(r, "the code used up its CPU time limit");
        } else if (j->violation) {
                r->status = RUN_CRASHED;
                set_detail(r, "the worker broke the protocol and was killed");
        } else if (sig == SIGKILL) {
                r->status = RUN_KILLED;
                set_detail(r, "the code was killed by signal %d", sig);
        } else if (sig != 0) {
                r->status = RUN_CRASHED;
                set_detail(r, "the interpreter died of signal %d", sig);
        } else {
                r->status = RUN_CRASHED;
                set_detail(r, "the interpreter exited with status %d before returning a result", code);
        }
}

void
job_finish(struct pool_job *j, int error, const char *message)
{
        struct worker *w = j->worker;
        const struct pool_job_ops *ops = j->ops;
        char buf[320];

        if (w && w->exited) {
                /* The zygote's account of the exit is authoritative. */
                j->result.cpu_ms = (double) w->cpu_us / 1000.0;
                j->result.max_rss_kb = w->maxrss_kb;
        }
        if (w && !j->got_result && !j->timed_out)
                j->result.wall_ms = (double) (now_usec() - j->started_usec) / 1000.0;
        if (error == 0 && j->failure) {
                (void) snprintf(buf, sizeof buf, "the worker could not lock itself down (%s)", j->failure);
                error = -ENOTRECOVERABLE;
                message = buf;
        }
        job_watch_stop(j);
        if (error == 0)
                classify(j);
        j->result.limits.memory_mb = j->limits.memory_bytes >> 20;
        j->result.limits.processes = j->limits.nproc;
        j->result.limits.cpus = j->limits.cpu_milli / 1000.0;
        if (w) {
                w->job = NULL;
                w->out_src = sd_event_source_disable_unref(w->out_src);
                w->err_src = sd_event_source_disable_unref(w->err_src);
        }
        j->worker = NULL;
        if (ops && ops->done)
                ops->done(j, error == 0 ? &j->result : NULL, error, message, j->userdata);
        job_free(j);
}

void
job_free(struct pool_job *j)
{
        if (!j)
                return;
        if (list_linked(&j->node)) {
                list_remove(&j->node);
                j->env->n_queued--;
        }
        j->timer = sd_event_source_disable_unref(j->timer);
        run_result_done(&j->result);
        free(j->code);
        free(j->stdin_data);
        free(j->failure);
        job_watch_stop(j);
        free(j->memory_killed);
        free(j);
}
