/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool_run_once(): one jail, one zygote, one worker, one request, driven by an
 * sd-event loop. Runs outside the jail. The wall deadline is armed here, not
 * in the jail: on expiry the jail's PID 1 is killed, which takes the worker
 * and everything it forked (orphans included) with it.
 *
 * The loop ends when the worker's exit was reported (or the deadline passed,
 * or the zygote died) and both output pipes reached end of file — after the
 * jail is killed no writer can remain, so that always happens.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd-util.h"
#include "launch.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "pool.h"
#include "process-util.h"
#include "time-util.h"
#include "validate.h"
#include "wire.h"

struct run_state {
        const struct pool_config *config;
        const struct pool_output_sink *sink;
        struct zygote zygote;
        struct worker_channel worker;
        struct proto_frame_reader *reader;
        struct run_result *result;
        struct jail_cgroup *cgroup;
        sd_event *event;
        sd_event_source *src_out, *src_err, *src_sock, *src_control, *src_timer, *src_zygote;
        uint64_t started_usec, cpu_limit_s;
        bool got_result, got_exit, timed_out, jail_killed, protocol_violation;
        int exit_code, exit_signal;
        char *failure; /* the worker reported that its lockdown failed */
};

static void
state_kill_jail(struct run_state *s)
{
        if (s->jail_killed)
                return;
        s->jail_killed = true;
        (void) pidfd_signal(s->zygote.proc.pidfd, SIGKILL);
        s->src_sock = sd_event_source_disable_unref(s->src_sock);
        s->src_control = sd_event_source_disable_unref(s->src_control);
        s->src_timer = sd_event_source_disable_unref(s->src_timer);
        s->src_zygote = sd_event_source_disable_unref(s->src_zygote);
}

static void
state_maybe_done(struct run_state *s)
{
        if ((s->got_exit || s->jail_killed) && !s->src_out && !s->src_err)
                (void) sd_event_exit(s->event, 0);
}

static int
on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct run_state *s = userdata;
        int stream = src == s->src_out ? 1 : 2;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof buf);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                if (stream == 1)
                        s->src_out = sd_event_source_disable_unref(s->src_out);
                else
                        s->src_err = sd_event_source_disable_unref(s->src_err);
                state_maybe_done(s);
                return 0;
        }
        (void) capbuf_append(stream == 1 ? &s->result->out : &s->result->err, buf, (size_t) n);
        if (s->sink)
                s->sink->write(s->sink->userdata, stream, buf, (size_t) n);
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

        if (proto_map_get_array(m, "images", &arr) < 0)
                return -EBADMSG;
        if (arr->via.array.size > max_images)
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
 * status it may not claim (timeout, killed, ...) is a protocol violation. */
static int
take_result(struct run_state *s, const msgpack_object *m)
{
        struct run_result *r = s->result;
        const char *status;
        size_t len;
        const msgpack_object *value = proto_map_get(m, "value");

        if (proto_map_get_str(m, "status", &status, &len) < 0 ||
            run_status_from_string(status, len, &r->status) < 0 ||
            (r->status != RUN_OK && r->status != RUN_EXCEPTION && r->status != RUN_MEMORY))
                return -EBADMSG;
        if (value && value->type != MSGPACK_OBJECT_NIL && !(r->value = dup_str(value)))
                return -EBADMSG;
        if (take_exception(r, m) < 0 || take_images(r, m, s->config->max_images) < 0)
                return -EBADMSG;
        (void) proto_map_get_uint(m, "images_omitted", &r->images_omitted);
        if (r->status == RUN_EXCEPTION && !r->has_exception)
                return -EBADMSG;
        return 0;
}

static int
handle_worker_frame(struct run_state *s, const void *data, size_t size)
{
        msgpack_unpacked m;
        const char *msg;
        size_t len;
        int r = proto_validate_map(data, size, NULL, NULL);

        if (r >= 0)
                r = proto_unpack(data, size, &m);
        if (r < 0)
                return r;
        if (!s->got_result && wire_type_is(&m.data, "result")) {
                r = take_result(s, &m.data);
                s->got_result = r >= 0;
                s->result->wall_ms = (double) (now_usec() - s->started_usec) / 1000.0;
        } else if (!s->got_result && wire_type_is(&m.data, "failed") &&
                   proto_map_get_str(&m.data, "message", &msg, &len) >= 0) {
                s->failure = strndup(msg, len);
        } else
                r = -EPROTO;
        msgpack_unpacked_destroy(&m);
        return r;
}

/* Read everything the worker has sent so far. Called on readiness and once
 * more when its exit is reported, so a large result that was still in the
 * socket when the worker exited is never cut short. */
static int
drain_worker(struct run_state *s)
{
        const void *data;
        size_t size;

        for (;;) {
                int r = proto_frame_reader_fill(s->reader, s->worker.sock);
                if (r == -EINTR)
                        continue;
                if (r == -EAGAIN)
                        return 0;
                if (r < 0 && r != -EPIPE)
                        return r;
                while (proto_frame_reader_pop(s->reader, &data, &size) > 0) {
                        int q = handle_worker_frame(s, data, size);
                        if (q < 0)
                                return q;
                }
                if (r == -EPIPE)
                        return proto_frame_reader_pending(s->reader) ? -EBADMSG : -EPIPE;
        }
}

static int
on_worker(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct run_state *s = userdata;
        int r = drain_worker(s);

        if (r == -EPIPE) {
                s->src_sock = sd_event_source_disable_unref(s->src_sock);
                return 0;
        }
        if (r < 0) {
                log_debug_errno(r, "worker broke the protocol: %m");
                s->protocol_violation = true;
                state_kill_jail(s);
                state_maybe_done(s);
        }
        return 0;
}

static int
take_exit(struct run_state *s, const msgpack_object *m)
{
        uint64_t code, sig, ut, st, rss;

        if (proto_map_get_uint(m, "code", &code) < 0 || proto_map_get_uint(m, "signal", &sig) < 0 ||
            proto_map_get_uint(m, "utime_us", &ut) < 0 || proto_map_get_uint(m, "stime_us", &st) < 0 ||
            proto_map_get_uint(m, "maxrss_kb", &rss) < 0 || code > 255 || sig > 64)
                return -EBADMSG;
        s->got_exit = true;
        s->exit_code = (int) code;
        s->exit_signal = (int) sig;
        s->result->cpu_ms = (double) (ut + st) / 1000.0;
        s->result->max_rss_kb = rss;
        if (!s->got_result)
                s->result->wall_ms = (double) (now_usec() - s->started_usec) / 1000.0;
        return 0;
}

static int
on_control(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct run_state *s = userdata;
        msgpack_unpacked m;
        const void *data;
        size_t size;
        int r = proto_frame_reader_fill(s->zygote.reader, fd);

        if (r == -EAGAIN || r == -EINTR)
                return 0;
        while (r >= 0 && proto_frame_reader_pop(s->zygote.reader, &data, &size) > 0) {
                r = proto_validate_map(data, size, NULL, NULL);
                if (r >= 0)
                        r = proto_unpack(data, size, &m);
                if (r < 0)
                        break;
                r = wire_type_is(&m.data, "exit") ? take_exit(s, &m.data) : -EPROTO;
                msgpack_unpacked_destroy(&m);
        }
        if (s->got_exit || r < 0) {
                /* The result, if any, was sent before the worker exited: take it first. */
                if (s->src_sock)
                        (void) on_worker(s->src_sock, s->worker.sock, EPOLLIN, s);
                state_kill_jail(s);
                state_maybe_done(s);
        }
        return 0;
}

/* How long the zygote gets to report a worker killed at its deadline, so the
 * result still carries its CPU time and peak memory. */
#define EXIT_REPORT_GRACE_USEC (250 * USEC_PER_MSEC)

static int
on_deadline(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct run_state *s = userdata;

        if (!s->timed_out) {
                s->timed_out = true;
                s->result->wall_ms = (double) (now_usec() - s->started_usec) / 1000.0;
                if (pidfd_signal(s->worker.pidfd, SIGKILL) >= 0 &&
                    sd_event_source_set_time_relative(src, EXIT_REPORT_GRACE_USEC) >= 0 &&
                    sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) >= 0)
                        return 0;
        }
        state_kill_jail(s);
        state_maybe_done(s);
        return 0;
}

static int
on_zygote_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct run_state *s = userdata;

        if (s->src_sock)
                (void) on_worker(s->src_sock, s->worker.sock, EPOLLIN, s);
        state_kill_jail(s);
        state_maybe_done(s);
        return 0;
}

static void
setup_limits(struct run_state *s, const struct run_request *req, msgpack_packer *pk)
{
        const struct pool_config *c = s->config;
        uint64_t as = s->cgroup ? 0 : c->memory_bytes;

        /* RLIMIT_CPU is a backstop behind the wall deadline: a second more than it. */
        s->cpu_limit_s = (req->timeout_ms + 999) / 1000 + 1;
        proto_pack_str(pk, "limits");
        msgpack_pack_map(pk, 5);
        proto_pack_key_uint(pk, "cpu_s", s->cpu_limit_s);
        proto_pack_key_uint(pk, "nproc", c->nproc);
        proto_pack_key_uint(pk, "nofile", c->nofile);
        proto_pack_key_uint(pk, "fsize", c->fsize_bytes);
        proto_pack_key_uint(pk, "as_bytes", as);
}

static int
send_request(struct run_state *s, const struct run_request *req)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 8);
        proto_pack_key_str(&pk, "type", "run");
        proto_pack_str(&pk, "code");
        proto_pack_strn(&pk, req->code, req->code_len);
        proto_pack_key_bin(&pk, "stdin", req->stdin_data ? req->stdin_data : "", req->stdin_len);
        proto_pack_key_uint(&pk, "uid", JAIL_UID_SANDBOX);
        proto_pack_key_uint(&pk, "gid", JAIL_UID_SANDBOX);
        proto_pack_key_uint(&pk, "max_images", s->config->max_images);
        proto_pack_key_uint(&pk, "max_image_bytes", s->config->max_image_bytes);
        setup_limits(s, req, &pk);
        s->started_usec = now_usec();
        r = proto_frame_write(s->worker.sock, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

static void
attach_cgroup(struct run_state *s)
{
        enum jail_cgroup_mode mode = jail_cgroup_detect();
        char name[64];
        int r;

        if (mode == JAIL_CGROUP_NONE)
                return;
        (void) snprintf(name, sizeof name, "run-%d-%d", (int) getpid(), (int) s->worker.host_pid);
        r = jail_cgroup_create(mode, name, s->config->memory_bytes, s->config->nproc, &s->cgroup);
        if (r >= 0)
                r = jail_cgroup_attach(s->cgroup, s->worker.host_pid);
        if (r < 0) {
                /* Fall back to rlimits rather than refuse to run. */
                log_debug_errno(r, "cgroup %s unusable, using rlimits: %m",
                                jail_cgroup_mode_to_string(mode));
                s->cgroup = jail_cgroup_free(s->cgroup);
        }
}

static int
add_sources(struct run_state *s, uint64_t timeout_ms)
{
        int r;

        (void) fd_set_nonblock(s->worker.out, true);
        (void) fd_set_nonblock(s->worker.err, true);
        (void) fd_set_nonblock(s->worker.sock, true);
        (void) fd_set_nonblock(s->zygote.control, true);
        r = sd_event_add_io(s->event, &s->src_out, s->worker.out, EPOLLIN, on_output, s);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->src_err, s->worker.err, EPOLLIN, on_output, s);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->src_sock, s->worker.sock, EPOLLIN, on_worker, s);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->src_control, s->zygote.control, EPOLLIN, on_control, s);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->src_zygote, s->zygote.proc.pidfd, EPOLLIN, on_zygote_exit,
                                    s);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &s->src_timer, CLOCK_MONOTONIC,
                                               timeout_ms * USEC_PER_MSEC, 1000, on_deadline, s);
        /* Output first, so what the code printed is read before its result is judged. */
        if (r >= 0)
                r = sd_event_source_set_priority(s->src_out, SD_EVENT_PRIORITY_IMPORTANT);
        if (r >= 0)
                r = sd_event_source_set_priority(s->src_err, SD_EVENT_PRIORITY_IMPORTANT);
        return r;
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

/* Decide the status from what was observed, most specific first. */
static void
classify(struct run_state *s)
{
        struct run_result *r = s->result;
        uint64_t ooms = 0;

        if (s->cgroup)
                (void) jail_cgroup_oom_kills(s->cgroup, &ooms);
        if (s->got_result && !s->timed_out)
                return;
        if (s->timed_out) {
                r->status = RUN_TIMEOUT;
                set_detail(r, "the code ran past its deadline and was killed");
        } else if (ooms > 0) {
                r->status = RUN_MEMORY;
                set_detail(r, "the code exceeded its memory limit and was killed");
        } else if (s->exit_signal == SIGXCPU ||
                   (s->exit_signal == SIGKILL && r->cpu_ms >= (double) s->cpu_limit_s * 1000.0)) {
                r->status = RUN_TIMEOUT;
                set_detail(r, "the code used up its CPU time limit");
        } else if (s->exit_signal == SIGKILL) {
                r->status = RUN_KILLED;
                set_detail(r, "the code was killed by signal %d", s->exit_signal);
        } else if (s->exit_signal != 0) {
                r->status = RUN_CRASHED;
                set_detail(r, "the interpreter died of signal %d", s->exit_signal);
        } else if (s->protocol_violation) {
                r->status = RUN_CRASHED;
                set_detail(r, "the worker broke the protocol and was killed");
        } else {
                r->status = RUN_CRASHED;
                set_detail(r, "the interpreter exited with status %d before returning a result",
                           s->exit_code);
        }
}

static int
run_loop(struct run_state *s, const struct run_request *req, char **ret_error)
{
        int r;

        attach_cgroup(s);
        r = sd_event_new(&s->event);
        if (r >= 0)
                r = add_sources(s, req->timeout_ms);
        if (r >= 0)
                r = send_request(s, req);
        if (r >= 0)
                r = sd_event_loop(s->event);
        if (r < 0) {
                *ret_error = strdup("the event loop failed");
                return r;
        }
        if (s->failure) {
                if (asprintf(ret_error, "the worker could not lock itself down (%s)", s->failure) < 0)
                        *ret_error = NULL;
                return -ENOTRECOVERABLE;
        }
        classify(s);
        return 0;
}

static void
run_state_done(struct run_state *s)
{
        sd_event_source *const *srcs[] = {&s->src_out,     &s->src_err,   &s->src_sock,
                                          &s->src_control, &s->src_timer, &s->src_zygote};

        for (size_t i = 0; i < ELEMENTSOF(srcs); i++)
                (void) sd_event_source_disable_unref(*srcs[i]);
        s->event = sd_event_unref(s->event);
        worker_channel_close(&s->worker);
        zygote_destroy(&s->zygote);
        s->cgroup = jail_cgroup_free(s->cgroup);
        s->reader = proto_frame_reader_free(s->reader);
        free(s->failure);
}

int
pool_run_once(const struct pool_config *c, const struct run_request *req,
              const struct pool_output_sink *sink, struct run_result *ret, char **ret_error)
{
        struct run_state s = {
                .config = c, .sink = sink, .result = ret, .worker = {-EBADF, -EBADF, -EBADF, 0, -EBADF}};
        int r;

        *ret = (struct run_result){};
        r = capbuf_init(&ret->out, c->output_head, c->output_tail);
        if (r >= 0)
                r = capbuf_init(&ret->err, c->output_head, c->output_tail);
        if (r >= 0)
                r = proto_frame_reader_new(WIRE_MAX_RESULT_FRAME, &s.reader);
        if (r >= 0)
                r = zygote_launch(c, &s.zygote, ret_error);
        if (r >= 0)
                r = zygote_spawn_worker(&s.zygote, 0, c->startup_timeout_ms, &s.worker, ret_error);
        if (r >= 0)
                r = run_loop(&s, req, ret_error);
        run_state_done(&s);
        if (r < 0)
                run_result_done(ret);
        return r;
}
