/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * execute_python: one `run` on the dispatcher per call. While it runs, a
 * client that asked for progress hears from us every second (and when the
 * code writes output), so hosts that reset their timeout on progress keep
 * waiting. Cancelling sends `cancel` to the dispatcher, which kills the
 * worker at once; the run's own answer is then dropped unread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "mcp-internal.h"
#include "msg.h"
#include "time-util.h"

#define PROGRESS_INTERVAL_USEC (1 * USEC_PER_SEC)
/* The first tick comes this soon, and the rest at this phase: quick runs
 * hear nothing, and ticks stay off the whole seconds at which code that
 * sleeps tends to finish. A progress notification that reaches a client in
 * the same read as the response is reported by the official clients as one
 * for an unknown token (they handle notifications after responses). */
#define PROGRESS_FIRST_USEC (250 * USEC_PER_MSEC)
/* sd-event would otherwise allow itself 250 ms of slack on each tick. */
#define PROGRESS_ACCURACY_USEC (1 * USEC_PER_MSEC)
/* Output triggers progress at most this often. */
#define PROGRESS_OUTPUT_GAP_USEC (250 * USEC_PER_MSEC)
/* Kept of each stream: at least what the dispatcher keeps by default. */
#define EXECUTE_OUTPUT_CAP (1u << 20)

struct execution {
        struct mcp_request *req;
        struct rpc_client *rpc;
        uint64_t rpc_id;
        char *code, *input;
        size_t code_len, input_len;
        uint64_t timeout_ms;
        uint64_t started_usec, last_progress_usec;
        double last_progress;
        sd_event_source *timer;
        struct run_result result;
};

static void
execution_free(struct execution *x)
{
        if (!x)
                return;
        sd_event_source_disable_unref(x->timer);
        run_result_done(&x->result);
        free(x->code);
        free(x->input);
        free(x);
}

static void
pack_run(msgpack_packer *pk, const void *arg)
{
        const struct execution *x = arg;
        const struct mcp_limits *l = mcp_server_limits(x->req->server);

        msgpack_pack_map(pk, 4 + (l->run_memory_mb > 0) + (l->run_processes > 0) + (l->run_cpu_milli > 0));
        if (l->run_memory_mb > 0)
                proto_pack_key_uint(pk, "memory_mb", l->run_memory_mb);
        if (l->run_processes > 0)
                proto_pack_key_uint(pk, "processes", l->run_processes);
        if (l->run_cpu_milli > 0)
                proto_pack_key_double(pk, "cpus", l->run_cpu_milli / 1000.0);
        proto_pack_str(pk, "code");
        proto_pack_strn(pk, x->code, x->code_len);
        proto_pack_key_bin(pk, "stdin", x->input ?: "", x->input_len);
        proto_pack_key_uint(pk, "timeout_ms", x->timeout_ms);
        /* Output events only serve progress; without a token they are noise. */
        proto_pack_key_bool(pk, "stream", x->req->progress_token != NULL);
}

static void
pack_cancel(msgpack_packer *pk, const void *arg)
{
        msgpack_pack_map(pk, 1);
        proto_pack_key_uint(pk, "id", *(const uint64_t *) arg);
}

static void
progress(struct execution *x, const char *what)
{
        uint64_t now = now_usec();
        double elapsed = (double) (now - x->started_usec) / USEC_PER_SEC;
        char message[128];

        /* Strictly increasing, whatever the clock's resolution. */
        if (elapsed <= x->last_progress)
                elapsed = x->last_progress + 0.001;
        x->last_progress = elapsed;
        x->last_progress_usec = now;
        snprintf(message, sizeof message, "%s: %.1f s of at most %g s", what, elapsed,
                 (double) x->timeout_ms / 1000);
        mcp_request_progress(x->req, elapsed, (double) x->timeout_ms / 1000, message);
}

static int
on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct execution *x = userdata;

        progress(x, "running");
        /* A time source fires once; arm it again, from when this tick was
         * due, so the interval does not drift. */
        (void) sd_event_source_set_time(src, usec + PROGRESS_INTERVAL_USEC);
        return sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
}

/* The execution is over: answer (stealing result) and release it. */
static void
conclude(struct execution *x, json_t *result)
{
        struct mcp_request *req = x->req;

        req->work = NULL;
        req->cancel = NULL;
        execution_free(x);
        mcp_request_reply(req, result);
}

static void
service_failed(struct execution *x, int64_t code, const char *message, size_t len)
{
        char *text;

        mcp_log(x->req->server, x->req, 3, "the service could not run the code: %.*s", (int) len, message);
        if (asprintf(&text, "The sandbox service could not run the code: %.*s%s", (int) len, message,
                     code == RPC_OVERLOADED || code == RPC_TOO_MANY_REQUESTS
                             ? ". It is busy; retry in a moment."
                     : code == RPC_SHUTTING_DOWN ? ". It is shutting down."
                                                 : "") < 0)
                text = NULL;
        conclude(x, mcp_tool_error_result(text ?: "The sandbox service could not run the code."));
        free(text);
}

static int
on_run_message(const msgpack_object *m, void *userdata)
{
        struct execution *x = userdata;
        const msgpack_object *result;
        const char *text;
        size_t len;
        int64_t code;

        if (!m) {
                conclude(x, mcp_tool_error_result("The connection to the sandbox service was lost while the "
                                                  "code ran; its outcome is unknown. The next call "
                                                  "reconnects."));
                return 0;
        }
        if (proto_map_get_str(m, "event", &text, &len) == 0) {
                if (now_usec() - x->last_progress_usec >= PROGRESS_OUTPUT_GAP_USEC)
                        progress(x, "output");
                return 0;
        }
        if (rpc_error_of(m, &code, &text, &len)) {
                service_failed(x, code, text, len);
                return 1;
        }
        if (proto_map_get_map(m, "result", &result) < 0 || run_result_unpack(result, &x->result) < 0) {
                const char *bad = "the service sent a malformed result";
                service_failed(x, RPC_INTERNAL_ERROR, bad, strlen(bad));
                return -EBADMSG;
        }
        conclude(x, mcp_run_result(&x->result, mcp_server_limits(x->req->server), x->timeout_ms,
                                   x->req->version));
        return 1;
}

static void
cancel_execution(struct mcp_request *req)
{
        struct execution *x = req->work;

        /* Tell the dispatcher (it kills the worker now) and drop its answer. */
        (void) rpc_client_start(x->rpc, "cancel", pack_cancel, &x->rpc_id, NULL, NULL, NULL);
        rpc_client_forget(x->rpc, x->rpc_id);
        req->work = NULL;
        execution_free(x);
}

static int
copy_string(json_t *s, char **ret, size_t *ret_len)
{
        *ret_len = json_string_length(s);
        *ret = malloc(*ret_len + 1);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, json_string_value(s), *ret_len + 1);
        return 0;
}

/* What a run request costs beside its code and stdin: the map, its keys, the
 * integers; generous, so that a request we let through is never refused for
 * its size. */
#define RUN_REQUEST_OVERHEAD 1024u

void
mcp_execute_python(struct mcp_request *req, json_t *args)
{
        const struct mcp_limits *limits = mcp_server_limits(req->server);
        json_t *timeout = json_object_get(args, "timeout_s"), *input = json_object_get(args, "stdin");
        json_t *code = json_object_get(args, "code");
        _cleanup_free_ char *error = NULL;
        size_t size = json_string_length(code) + (input ? json_string_length(input) : 0);
        struct execution *x;
        int r;

        /* The dispatcher refuses a larger frame by closing the connection. */
        if (size + RUN_REQUEST_OVERHEAD > limits->max_request)
                return mcp_request_failf(
                        req, JSONRPC_INVALID_PARAMS,
                        "Invalid arguments for execute_python: \"code\" and \"stdin\" are %zu "
                        "bytes together; the service accepts at most %zu (max_frame of "
                        "vivarium.conf(5))",
                        size, limits->max_request - RUN_REQUEST_OVERHEAD);
        x = calloc(1, sizeof *x);
        if (!x)
                return mcp_request_fail(req, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        x->req = req;
        x->timeout_ms = limits->default_timeout_ms;
        if (timeout) {
                double ms = json_number_value(timeout) * 1000;
                x->timeout_ms = ms >= (double) limits->max_timeout_ms ? limits->max_timeout_ms
                                : ms < 1                              ? 1
                                                                      : (uint64_t) ms;
        }
        r = copy_string(code, &x->code, &x->code_len);
        if (r >= 0 && input)
                r = copy_string(input, &x->input, &x->input_len);
        if (r >= 0)
                r = capbuf_init(&x->result.out, EXECUTE_OUTPUT_CAP, EXECUTE_OUTPUT_CAP);
        if (r >= 0)
                r = capbuf_init(&x->result.err, EXECUTE_OUTPUT_CAP, EXECUTE_OUTPUT_CAP);
        if (r < 0) {
                execution_free(x);
                return mcp_request_fail(req, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        }
        x->rpc = mcp_server_rpc(req->server, &error);
        r = x->rpc ? rpc_client_start(x->rpc, "run", pack_run, x, on_run_message, x, &x->rpc_id) : -ENOTCONN;
        if (r < 0) {
                _cleanup_free_ char *text = NULL;

                execution_free(x);
                if (r != -ENOTCONN)
                        return mcp_request_fail(req, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
                if (asprintf(&text,
                             "The sandbox service cannot be reached: %s. Retry later, or restart "
                             "the MCP server.",
                             error ?: "the connection is closed") < 0)
                        text = NULL;
                return mcp_request_reply(req,
                                         mcp_tool_error_result(text
                                                                       ?: "The sandbox service cannot be "
                                                                          "reached."));
        }
        req->work = x;
        req->cancel = cancel_execution;
        x->started_usec = x->last_progress_usec = now_usec();
        if (req->progress_token &&
            sd_event_add_time_relative(mcp_server_event(req->server), &x->timer, CLOCK_MONOTONIC,
                                       PROGRESS_FIRST_USEC, PROGRESS_ACCURACY_USEC, on_tick, x) < 0)
                log_warning("cannot arm the progress timer; no progress will be reported");
}
