/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The MCP server on stdio: reads lines, hands each to the methods
 * (methods.c), queues the answers and writes them as compact JSON lines. Trust zone: the MCP face's
 * process; the client is trusted with nothing. Requests are served
 * concurrently: a tool call is asynchronous work on the RPC client, so a slow
 * run never delays another message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "server-internal.h"
#include "time-util.h"

/* Reading stops while this much output waits for the client, and resumes
 * below the low mark: a client that does not read cannot make us buffer
 * without bound. */
#define MCP_OUT_HIGH (64u << 20)
#define MCP_OUT_LOW (8u << 20)

static void finish(struct mcp_server *m);

/* ------------------------------------------------------------ output */

static int
flush_some(struct mcp_server *m)
{
        while (m->out_off < m->out_len) {
                ssize_t n = write(m->out_fd, m->out + m->out_off, m->out_len - m->out_off);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                m->out_off += (size_t) n;
        }
        m->out_off = m->out_len = 0;
        return 0;
}

static void
update_sources(struct mcp_server *m)
{
        size_t queued = m->out_len - m->out_off;

        (void) sd_event_source_set_enabled(m->out_src, queued > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
        if (m->input_closed)
                return;
        if (queued > MCP_OUT_HIGH)
                (void) sd_event_source_set_enabled(m->in_src, SD_EVENT_OFF);
        else if (queued < MCP_OUT_LOW)
                (void) sd_event_source_set_enabled(m->in_src, SD_EVENT_ON);
}

static int
on_out(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct mcp_server *m = userdata;
        int r = flush_some(m);

        if (r < 0) {
                /* The client stopped reading for good: nothing more can reach it. */
                log_warning_errno(r, "cannot write to standard output: %m; stopping");
                m->output_broken = true;
                m->out_off = m->out_len = 0;
                finish(m);
        }
        if (m->out_off > 0 && m->out_off > m->out_cap / 2) {
                memmove(m->out, m->out + m->out_off, m->out_len - m->out_off);
                m->out_len -= m->out_off;
                m->out_off = 0;
        }
        update_sources(m);
        return 0;
}

static int
on_out_ready(sd_event_source *src, void *userdata)
{
        struct mcp_server *m = userdata;

        return on_out(src, m->out_fd, EPOLLOUT, m);
}

/* Queue one message (stolen) as a line. */
void
mcp_send(struct mcp_server *m, json_t *msg)
{
        char *line;
        size_t len;

        if (!msg || m->output_broken) {
                json_decref(msg);
                return;
        }
        line = jsonrpc_dump_line(msg, &len);
        json_decref(msg);
        if (!line) {
                log_error("out of memory while answering; a message was lost");
                return;
        }
        if (m->out_len + len > m->out_cap) {
                size_t cap = MAX(m->out_cap * 2, m->out_len + len);
                char *p = realloc(m->out, cap);
                if (!p) {
                        free(line);
                        log_error("out of memory while answering; a message was lost");
                        return;
                }
                m->out = p;
                m->out_cap = cap;
        }
        memcpy(m->out + m->out_len, line, len);
        m->out_len += len;
        free(line);
        update_sources(m);
}

void
mcp_batch_settle(struct mcp_server *m, struct mcp_batch *b)
{
        if (!b->sealed || b->pending > 0)
                return;
        /* A batch of notifications only is answered with nothing at all. */
        if (json_array_size(b->replies) > 0)
                mcp_send(m, json_incref(b->replies));
        json_decref(b->replies);
        free(b);
}

void
mcp_emit(struct mcp_server *m, struct mcp_batch *b, json_t *msg)
{
        if (b && msg)
                json_array_append_new(b->replies, msg);
        else
                mcp_send(m, msg);
}

/* ------------------------------------------------------------ requests */

void
mcp_request_free(struct mcp_request *req)
{
        struct mcp_batch *b = req->batch;
        struct mcp_server *m = req->server;

        list_remove(&req->node);
        json_decref(req->id);
        json_decref(req->progress_token);
        free(req);
        if (b) {
                b->pending--;
                mcp_batch_settle(m, b);
        }
}

json_t *
mcp_server_info(const struct mcp_version *v)
{
        json_t *info = json_pack("{s:s, s:s}", "name", PACKAGE_NAME, "version", PACKAGE_VERSION);

        if (info && (v->features & MCP_F_STRUCTURED))
                json_object_set_new(info, "title", json_string("vivarium: sandboxed Python"));
        return info;
}

void
mcp_request_reply(struct mcp_request *req, json_t *result)
{
        if (result && (req->version->features & MCP_F_STATELESS)) {
                json_t *meta = json_object_get(result, "_meta");
                if (!json_is_object(meta)) {
                        meta = json_object();
                        json_object_set_new(result, "_meta", meta);
                }
                json_object_set_new(meta, MCP_META_SERVER_INFO, mcp_server_info(req->version));
                json_object_set_new(result, "resultType", json_string("complete"));
        }
        if (!result)
                mcp_emit(req->server, req->batch,
                         jsonrpc_error(json_incref(req->id), JSONRPC_INTERNAL_ERROR, "out of memory", NULL));
        else
                mcp_emit(req->server, req->batch, jsonrpc_result(json_incref(req->id), result));
        mcp_request_free(req);
}

void
mcp_request_fail(struct mcp_request *req, int code, const char *message, json_t *data)
{
        mcp_emit(req->server, req->batch, jsonrpc_error(json_incref(req->id), code, message, data));
        mcp_request_free(req);
}

void
mcp_request_failf(struct mcp_request *req, int code, const char *fmt, ...)
{
        char *message;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        mcp_request_fail(req, code, message ? message : "error", NULL);
        free(message);
}

void
mcp_request_progress(struct mcp_request *req, double progress, double total, const char *message)
{
        json_t *p;

        if (!req->progress_token)
                return;
        p = json_pack("{s:O, s:f}", "progressToken", req->progress_token, "progress", progress);
        if (p && total > 0)
                json_object_set_new(p, "total", json_real(total));
        /* 2024-11-05 has no message field. */
        if (p && message && (req->version->features & MCP_F_ANNOTATIONS))
                json_object_set_new(p, "message", json_string(message));
        mcp_send(req->server, jsonrpc_notification("notifications/progress", p));
}

void
mcp_log(struct mcp_server *m, struct mcp_request *req, int level, const char *fmt, ...)
{
        char *text;
        int threshold;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        if (!text)
                return;
        (void) log_internal(level <= 3   ? LOG_LEVEL_ERROR
                            : level == 4 ? LOG_LEVEL_WARNING
                                         : LOG_LEVEL_INFO,
                            0, "%s", text);
        if (req && (req->version->features & MCP_F_STATELESS))
                threshold = req->log_level;
        else
                threshold = m->negotiated ? m->log_level : MCP_LOG_NONE;
        if (level <= threshold)
                mcp_send(m, jsonrpc_notification("notifications/message",
                                                 json_pack("{s:s, s:s, s:s}", "level",
                                                           mcp_log_level_to_string(level), "logger",
                                                           PACKAGE_NAME, "data", text)));
        free(text);
}

static void
on_rpc_hangup(int error, void *userdata)
{
        struct mcp_server *m = userdata;

        /* The client cannot be freed inside its own callback: on next use. */
        m->rpc_lost = true;
        mcp_log(m, NULL, 3, "the connection to the vivarium service ended (%s); the next call reconnects",
                strerror(error < 0 ? -error : error));
}

static int
connect_rpc(struct mcp_server *m, char **ret_error)
{
        int r = m->connect(m->event, m->connect_userdata, &m->rpc, ret_error);

        if (r < 0)
                return r;
        rpc_client_set_hangup(m->rpc, on_rpc_hangup, m);
        m->rpc_lost = false;
        return 0;
}

struct rpc_client *
mcp_server_rpc(struct mcp_server *m, char **ret_error)
{
        *ret_error = NULL;
        if (m->rpc_lost) {
                m->rpc = rpc_client_free(m->rpc);
                if (connect_rpc(m, ret_error) < 0)
                        return NULL;
                log_info("reconnected to the vivarium service");
        }
        return m->rpc;
}

sd_event *
mcp_server_event(struct mcp_server *m)
{
        return m->event;
}

const struct mcp_limits *
mcp_server_limits(struct mcp_server *m)
{
        return &m->limits;
}

/* ------------------------------------------------------------ input, life */

static void
too_long(struct mcp_server *m)
{
        mcp_send(m, jsonrpc_errorf(NULL, JSONRPC_PARSE_ERROR,
                                   "Parse error: message longer than %zu bytes; it was skipped",
                                   m->limits.max_line));
}

static void
drain_lines(struct mcp_server *m, bool at_end)
{
        const char *line;
        size_t len;

        for (;;) {
                enum line_event e = at_end ? line_reader_finish(&m->lines, &line, &len)
                                           : line_reader_pop(&m->lines, &line, &len);
                if (e == LINE_NONE)
                        return;
                if (e == LINE_TOO_LONG)
                        too_long(m);
                else
                        mcp_server_handle_line(m, line, len);
        }
}

/* End of input or shutdown: every request still in flight is stopped; with
 * fail, its client hears why. */
static void
stop_requests(struct mcp_server *m, bool fail)
{
        struct list_node *n, *t;

        list_for_each_safe(n, t, &m->requests)
        {
                struct mcp_request *req = list_entry(n, struct mcp_request, node);
                if (req->cancel)
                        req->cancel(req);
                req->cancel = NULL;
                if (fail)
                        mcp_request_fail(req, JSONRPC_INTERNAL_ERROR,
                                         "the server is shutting down; the code was stopped", NULL);
                else
                        mcp_request_free(req);
        }
}

static void
finish(struct mcp_server *m)
{
        if (m->done)
                return;
        m->done = true;
        m->input_closed = true;
        (void) sd_event_source_set_enabled(m->in_src, SD_EVENT_OFF);
        stop_requests(m, false);
        if (m->on_done)
                m->on_done(m, m->done_userdata);
}

static int
on_in(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct mcp_server *m = userdata;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof buf);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                if (n < 0)
                        log_warning_errno(errno, "cannot read standard input: %m");
                drain_lines(m, true);
                log_debug("end of input: stopping");
                finish(m);
                return 0;
        }
        if (line_reader_feed(&m->lines, buf, (size_t) n) < 0) {
                log_error("out of memory reading a message; stopping");
                finish(m);
                return 0;
        }
        drain_lines(m, false);
        return 0;
}

static int
on_in_ready(sd_event_source *src, void *userdata)
{
        struct mcp_server *m = userdata;

        return on_in(src, m->in_fd, EPOLLIN, m);
}

int
mcp_server_new(sd_event *event, int in_fd, int out_fd, mcp_connect_fn connect_fn, void *connect_userdata,
               const struct mcp_limits *limits, struct mcp_server **ret, char **ret_error)
{
        struct mcp_server *m = calloc(1, sizeof *m);
        int r;

        if (!m) {
                safe_close(in_fd);
                safe_close(out_fd);
                return -ENOMEM;
        }
        m->event = sd_event_ref(event);
        m->in_fd = in_fd;
        m->out_fd = out_fd;
        m->connect = connect_fn;
        m->connect_userdata = connect_userdata;
        m->limits = *limits;
        m->log_level = mcp_log_level_from_string("warning");
        list_init(&m->requests);
        line_reader_init(&m->lines, limits->max_line);
        m->in_flags = fcntl(in_fd, F_GETFL);
        m->out_flags = fcntl(out_fd, F_GETFL);
        (void) fd_set_nonblock(in_fd, true);
        (void) fd_set_nonblock(out_fd, true);
        /* Regular files (vivarium mcp <requests >replies) cannot be polled:
         * they are always ready, so read them on every loop iteration and
         * write them directly. */
        r = sd_event_add_io(event, &m->in_src, in_fd, EPOLLIN, on_in, m);
        if (r == -EPERM)
                r = sd_event_add_defer(event, &m->in_src, on_in_ready, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->in_src, SD_EVENT_ON);
        if (r >= 0) {
                r = sd_event_add_io(event, &m->out_src, out_fd, EPOLLOUT, on_out, m);
                if (r == -EPERM) {
                        (void) fd_set_nonblock(out_fd, false);
                        r = sd_event_add_defer(event, &m->out_src, on_out_ready, m);
                }
        }
        if (r >= 0)
                r = sd_event_source_set_enabled(m->out_src, SD_EVENT_OFF);
        if (r >= 0)
                r = connect_rpc(m, ret_error);
        if (r < 0) {
                mcp_server_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void
mcp_server_set_done(struct mcp_server *m, mcp_done_fn fn, void *userdata)
{
        m->on_done = fn;
        m->done_userdata = userdata;
}

void
mcp_server_shutdown(struct mcp_server *m)
{
        m->input_closed = true;
        (void) sd_event_source_set_enabled(m->in_src, SD_EVENT_OFF);
        stop_requests(m, true);
        finish(m);
}

void
mcp_server_flush(struct mcp_server *m, uint64_t timeout_usec)
{
        uint64_t end = now_usec() + timeout_usec;

        while (!m->output_broken && m->out_off < m->out_len) {
                struct pollfd p = {.fd = m->out_fd, .events = POLLOUT};
                uint64_t now = now_usec();
                if (now >= end || poll(&p, 1, (int) ((end - now) / USEC_PER_MSEC) + 1) <= 0)
                        return;
                if (flush_some(m) < 0)
                        return;
        }
}

struct mcp_server *
mcp_server_free(struct mcp_server *m)
{
        if (!m)
                return NULL;
        m->done = true; /* no done callback from here on */
        stop_requests(m, false);
        sd_event_source_disable_unref(m->in_src);
        sd_event_source_disable_unref(m->out_src);
        if (m->in_flags >= 0)
                (void) fcntl(m->in_fd, F_SETFL, m->in_flags);
        if (m->out_flags >= 0)
                (void) fcntl(m->out_fd, F_SETFL, m->out_flags);
        safe_close(m->in_fd);
        safe_close(m->out_fd);
        line_reader_done(&m->lines);
        rpc_client_free(m->rpc);
        free(m->out);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}
