/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The MCP server on stdio: reads lines, routes each message by era and
 * method, answers, and writes compact JSON lines. Trust zone: the MCP face's
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
#include "mcp-internal.h"
#include "time-util.h"

/* Reading stops while this much output waits for the client, and resumes
 * below the low mark: a client that does not read cannot make us buffer
 * without bound. */
#define MCP_OUT_HIGH (64u << 20)
#define MCP_OUT_LOW (8u << 20)

#define MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCP_META_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define MCP_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define MCP_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
/* tools/list changes only with the binary or its configuration. */
#define MCP_LIST_TTL_MS 3600000

static const char mcp_instructions[] =
        "Runs Python 3.11 code in a fresh Linux jail for each execute_python call: no network, "
        "nothing kept between calls, limits on time and memory. The value of the last expression "
        "is returned, like in the interactive interpreter; matplotlib figures left open come back "
        "as images. health_check reports the service's state.";

struct mcp_batch {
        json_t *replies;
        unsigned pending; /* requests of the batch still unanswered */
        bool sealed;      /* every element has been read */
};

struct mcp_server {
        sd_event *event;
        int in_fd, out_fd;
        int in_flags, out_flags; /* restored at the end: the descriptions may be shared (a terminal) */
        sd_event_source *in_src, *out_src;
        struct line_reader lines;
        char *out;
        size_t out_len, out_off, out_cap;
        struct rpc_client *rpc;
        bool rpc_lost; /* rpc hung up; replaced on next use */
        mcp_connect_fn connect;
        void *connect_userdata;
        struct mcp_limits limits;
        const struct mcp_version *negotiated; /* handshake era, after initialize */
        int log_level;                        /* handshake era: logging/setLevel */
        struct list_node requests;            /* answered later: tool calls */
        bool input_closed, output_broken, done;
        mcp_done_fn on_done;
        void *done_userdata;
};

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
static void
send_json(struct mcp_server *m, json_t *msg)
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

static void
batch_settle(struct mcp_server *m, struct mcp_batch *b)
{
        if (!b->sealed || b->pending > 0)
                return;
        /* A batch of notifications only is answered with nothing at all. */
        if (json_array_size(b->replies) > 0)
                send_json(m, json_incref(b->replies));
        json_decref(b->replies);
        free(b);
}

static void
emit(struct mcp_server *m, struct mcp_batch *b, json_t *msg)
{
        if (b && msg)
                json_array_append_new(b->replies, msg);
        else
                send_json(m, msg);
}

/* ------------------------------------------------------------ requests */

static void
request_free(struct mcp_request *req)
{
        struct mcp_batch *b = req->batch;
        struct mcp_server *m = req->server;

        list_remove(&req->node);
        json_decref(req->id);
        json_decref(req->progress_token);
        free(req);
        if (b) {
                b->pending--;
                batch_settle(m, b);
        }
}

static json_t *
server_info(const struct mcp_version *v)
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
                json_object_set_new(meta, MCP_META_SERVER_INFO, server_info(req->version));
                json_object_set_new(result, "resultType", json_string("complete"));
        }
        if (!result)
                emit(req->server, req->batch,
                     jsonrpc_error(json_incref(req->id), JSONRPC_INTERNAL_ERROR, "out of memory", NULL));
        else
                emit(req->server, req->batch, jsonrpc_result(json_incref(req->id), result));
        request_free(req);
}

void
mcp_request_fail(struct mcp_request *req, int code, const char *message, json_t *data)
{
        emit(req->server, req->batch, jsonrpc_error(json_incref(req->id), code, message, data));
        request_free(req);
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
        send_json(req->server, jsonrpc_notification("notifications/progress", p));
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
                send_json(m, jsonrpc_notification("notifications/message",
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

/* ------------------------------------------------------------ methods */

static void
do_initialize(struct mcp_request *req, json_t *params)
{
        struct mcp_server *m = req->server;
        const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
        const struct mcp_version *v;
        json_t *caps;

        if (m->negotiated)
                return mcp_request_fail(req, JSONRPC_INVALID_REQUEST,
                                        "Invalid Request: already initialized (initialize is sent once)",
                                        NULL);
        if (!asked)
                return mcp_request_fail(req, JSONRPC_INVALID_PARAMS,
                                        "Invalid params: initialize needs \"protocolVersion\" (a string)",
                                        NULL);
        /* Echo a version we speak; otherwise offer our newest of this era. */
        v = mcp_version_find(asked);
        if (!v || (v->features & MCP_F_STATELESS))
                v = mcp_version_latest_handshake();
        m->negotiated = v;
        req->version = v;
        log_info("client initialized with protocol %s (it asked for %s)", v->name, asked);
        caps = json_pack("{s:{s:b}, s:{}}", "tools", "listChanged", false, "logging");
        mcp_request_reply(req,
                          json_pack("{s:s, s:o, s:o, s:s}", "protocolVersion", v->name, "capabilities", caps,
                                    "serverInfo", server_info(v), "instructions", mcp_instructions));
}

static void
do_ping(struct mcp_request *req, json_t *params)
{
        mcp_request_reply(req, json_object());
}

static void
do_set_level(struct mcp_request *req, json_t *params)
{
        const char *name = json_string_value(json_object_get(params, "level"));
        int level = name ? mcp_log_level_from_string(name) : -1;

        if (level < 0)
                return mcp_request_fail(req, JSONRPC_INVALID_PARAMS,
                                        "Invalid params: \"level\" must be one of debug, info, notice, "
                                        "warning, error, critical, alert, emergency",
                                        NULL);
        req->server->log_level = level;
        mcp_request_reply(req, json_object());
}

static void
do_discover(struct mcp_request *req, json_t *params)
{
        mcp_request_reply(req, json_pack("{s:o, s:{s:{s:b}, s:{}}, s:s, s:i, s:s}", "supportedVersions",
                                         mcp_version_list(true, true), "capabilities", "tools",
                                         "listChanged", false, "logging", "instructions", mcp_instructions,
                                         "ttlMs", MCP_LIST_TTL_MS, "cacheScope", "public"));
}

static void
do_tools_list(struct mcp_request *req, json_t *params)
{
        json_t *result;

        /* We never hand out a cursor, so none can be valid. */
        if (json_object_get(params, "cursor"))
                return mcp_request_fail(req, JSONRPC_INVALID_PARAMS,
                                        "Invalid params: unknown cursor (the tool list has one page)", NULL);
        result = mcp_tools_list(&req->server->limits, req->version);
        if (result && (req->version->features & MCP_F_STATELESS)) {
                json_object_set_new(result, "ttlMs", json_integer(MCP_LIST_TTL_MS));
                json_object_set_new(result, "cacheScope", json_string("public"));
        }
        mcp_request_reply(req, result);
}

static struct mcp_request *
find_request(struct mcp_server *m, const json_t *id)
{
        struct list_node *n, *t;

        list_for_each_safe(n, t, &m->requests)
        {
                struct mcp_request *req = list_entry(n, struct mcp_request, node);
                if (json_equal(req->id, id))
                        return req;
        }
        return NULL;
}

/* Stop a request's work and forget it without a word to the client. */
static void
drop_request(struct mcp_request *req)
{
        if (req->cancel)
                req->cancel(req);
        request_free(req);
}

static void
on_cancelled(struct mcp_server *m, json_t *params)
{
        json_t *id = json_object_get(params, "requestId");
        const char *reason = json_string_value(json_object_get(params, "reason"));
        struct mcp_request *req = id ? find_request(m, id) : NULL;

        if (!req)
                return; /* finished already, or never ours: nothing to do */
        {
                _cleanup_free_ char *which = json_dumps(id, JSON_ENCODE_ANY);

                mcp_log(m, req, 6, "request %s cancelled by the client%s%s", which ?: "?",
                        reason ? ": " : "", reason ? reason : "");
        }
        drop_request(req);
}

static void
on_initialized(struct mcp_server *m, json_t *params)
{
}

enum {
        ERA_HANDSHAKE = 1u << 0,
        ERA_STATELESS = 1u << 1,
};

struct method {
        const char *name;
        unsigned eras;
        bool before_init; /* handshake era: allowed before initialize */
        void (*request)(struct mcp_request *req, json_t *params);
        void (*notification)(struct mcp_server *m, json_t *params);
};

static const struct method methods[] = {
        {"initialize", ERA_HANDSHAKE, true, do_initialize, NULL},
        {"notifications/initialized", ERA_HANDSHAKE, true, NULL, on_initialized},
        {"ping", ERA_HANDSHAKE, true, do_ping, NULL},
        {"logging/setLevel", ERA_HANDSHAKE, false, do_set_level, NULL},
        {"server/discover", ERA_STATELESS, false, do_discover, NULL},
        {"tools/list", ERA_HANDSHAKE | ERA_STATELESS, false, do_tools_list, NULL},
        {"tools/call", ERA_HANDSHAKE | ERA_STATELESS, false, mcp_tools_call, NULL},
        {"notifications/cancelled", ERA_HANDSHAKE | ERA_STATELESS, true, NULL, on_cancelled},
};

static const struct method *
find_method(const char *name, unsigned era, bool *ret_other_era)
{
        *ret_other_era = false;
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                if (strcmp(methods[i].name, name) != 0)
                        continue;
                if (methods[i].eras & era)
                        return &methods[i];
                *ret_other_era = true;
        }
        return NULL;
}

/* The stateless era's envelope: the version and the client's capabilities are
 * required on every request; the log level is optional. Returns the version,
 * or NULL with the error sent. */
static const struct mcp_version *
check_envelope(struct mcp_server *m, struct mcp_batch *b, json_t *id, json_t *meta, int *ret_log_level)
{
        json_t *asked = json_object_get(meta, MCP_META_VERSION), *level;
        const struct mcp_version *v =
                json_is_string(asked) ? mcp_version_find(json_string_value(asked)) : NULL;

        if (!v || !(v->features & MCP_F_STATELESS)) {
                emit(m, b,
                     jsonrpc_error(json_incref(id), MCP_UNSUPPORTED_PROTOCOL_VERSION,
                                   "Unsupported protocol version",
                                   json_pack("{s:o, s:O}", "supported", mcp_version_list(true, true),
                                             "requested", asked)));
                return NULL;
        }
        if (!json_is_object(json_object_get(meta, MCP_META_CAPABILITIES))) {
                emit(m, b,
                     jsonrpc_error(json_incref(id), JSONRPC_INVALID_PARAMS,
                                   "Invalid params: _meta needs \"" MCP_META_CAPABILITIES
                                   "\" (an object) in protocol 2026-07-28",
                                   NULL));
                return NULL;
        }
        level = json_object_get(meta, MCP_META_LOG_LEVEL);
        *ret_log_level = MCP_LOG_NONE;
        if (level && (!json_is_string(level) ||
                      (*ret_log_level = mcp_log_level_from_string(json_string_value(level))) < 0)) {
                emit(m, b,
                     jsonrpc_error(json_incref(id), JSONRPC_INVALID_PARAMS,
                                   "Invalid params: \"" MCP_META_LOG_LEVEL "\" must be one of debug, info, "
                                   "notice, warning, error, critical, alert, emergency",
                                   NULL));
                return NULL;
        }
        return v;
}

static void
method_missing(struct mcp_server *m, struct mcp_batch *b, const struct jsonrpc_message *msg, bool stateless,
               bool other_era)
{
        if (!stateless && strcmp(msg->method, "server/discover") == 0)
                return emit(
                        m, b,
                        jsonrpc_error(
                                json_incref(msg->id), JSONRPC_INVALID_PARAMS,
                                "Invalid params: server/discover needs params._meta with \"" MCP_META_VERSION
                                "\" and \"" MCP_META_CAPABILITIES "\" (protocol 2026-07-28)",
                                NULL));
        emit(m, b,
             jsonrpc_errorf(json_incref(msg->id), JSONRPC_METHOD_NOT_FOUND, "Method not found: %s%s",
                            msg->method,
                            !other_era  ? ""
                            : stateless ? " (not part of protocol 2026-07-28)"
                                        : " (only in protocol 2026-07-28, with the _meta envelope)"));
}

static void
handle_message(struct mcp_server *m, json_t *value, struct mcp_batch *b)
{
        struct jsonrpc_message msg;
        const struct method *method;
        const struct mcp_version *v;
        struct mcp_request *req;
        json_t *error = NULL, *params, *meta, *token = NULL;
        bool stateless, other_era;
        int log_level = MCP_LOG_NONE;

        if (jsonrpc_classify(value, &msg, &error) < 0)
                return emit(m, b, error);
        if (msg.kind == JSONRPC_RESPONSE) {
                log_debug("ignoring a response from the client (we send no requests)");
                return;
        }
        params = msg.params;
        meta = json_object_get(params, "_meta");
        stateless = json_is_object(meta) && json_object_get(meta, MCP_META_VERSION);
        method = find_method(msg.method, stateless ? ERA_STATELESS : ERA_HANDSHAKE, &other_era);
        if (msg.kind == JSONRPC_NOTIFICATION) {
                /* Unknown notifications are ignored, as JSON-RPC asks. */
                if (method && method->notification && (!params || json_is_object(params)))
                        method->notification(m, params);
                return;
        }
        if (!method)
                return method_missing(m, b, &msg, stateless, other_era);
        if (!method->request)
                return emit(m, b,
                            jsonrpc_errorf(json_incref(msg.id), JSONRPC_INVALID_REQUEST,
                                           "Invalid Request: %s is a notification; send it without an id",
                                           msg.method));
        if (params && !json_is_object(params))
                return emit(m, b,
                            jsonrpc_error(json_incref(msg.id), JSONRPC_INVALID_PARAMS,
                                          "Invalid params: \"params\" must be an object", NULL));
        if (meta && !json_is_object(meta))
                return emit(m, b,
                            jsonrpc_error(json_incref(msg.id), JSONRPC_INVALID_PARAMS,
                                          "Invalid params: \"_meta\" must be an object", NULL));
        if (stateless) {
                v = check_envelope(m, b, msg.id, meta, &log_level);
                if (!v)
                        return;
        } else if (!m->negotiated && !method->before_init)
                return emit(
                        m, b,
                        jsonrpc_errorf(json_incref(msg.id), JSONRPC_INVALID_REQUEST,
                                       "Invalid Request: not initialized; send initialize before %s (or use "
                                       "protocol 2026-07-28 with the _meta envelope)",
                                       msg.method));
        else
                v = m->negotiated ?: mcp_version_latest_handshake();
        token = json_object_get(meta, "progressToken");
        if (token && !json_is_string(token) && !json_is_integer(token))
                return emit(m, b,
                            jsonrpc_error(json_incref(msg.id), JSONRPC_INVALID_PARAMS,
                                          "Invalid params: \"progressToken\" must be a string or an integer",
                                          NULL));
        req = calloc(1, sizeof *req);
        if (!req)
                return emit(
                        m, b,
                        jsonrpc_error(json_incref(msg.id), JSONRPC_INTERNAL_ERROR, "out of memory", NULL));
        *req = (struct mcp_request){
                .server = m,
                .id = json_incref(msg.id),
                .version = v,
                .progress_token = json_incref(token),
                .log_level = log_level,
                .batch = b,
        };
        list_init(&req->node);
        list_append(&m->requests, &req->node);
        if (b)
                b->pending++;
        /* The handler answers now or later; what it keeps of params it
         * references (params may be NULL: json_object_get() takes that). */
        method->request(req, params);
}

static void
handle_batch(struct mcp_server *m, json_t *array)
{
        struct mcp_batch *b;
        size_t i;
        json_t *v;

        if (!m->negotiated || !(m->negotiated->features & MCP_F_BATCH))
                return send_json(
                        m, jsonrpc_errorf(NULL, JSONRPC_INVALID_REQUEST,
                                          "Invalid Request: JSON-RPC batches are not allowed in protocol %s",
                                          m->negotiated ? m->negotiated->name
                                                        : "negotiation (only 2025-03-26 allows them)"));
        if (json_array_size(array) == 0)
                return send_json(m, jsonrpc_error(NULL, JSONRPC_INVALID_REQUEST,
                                                  "Invalid Request: empty batch", NULL));
        b = calloc(1, sizeof *b);
        if (!b || !(b->replies = json_array())) {
                free(b);
                return send_json(m, jsonrpc_error(NULL, JSONRPC_INTERNAL_ERROR, "out of memory", NULL));
        }
        json_array_foreach(array, i, v) handle_message(m, v, b);
        b->sealed = true;
        batch_settle(m, b);
}

void
mcp_server_handle_line(struct mcp_server *m, const char *line, size_t len)
{
        json_t *error = NULL, *v;

        /* Blank lines carry nothing; tolerate them between messages. */
        if (len == 0)
                return;
        v = jsonrpc_parse(line, len, &error);
        if (!v)
                return send_json(m, error);
        if (json_is_array(v))
                handle_batch(m, v);
        else
                handle_message(m, v, NULL);
        json_decref(v);
}

/* ------------------------------------------------------------ input, life */

static void
too_long(struct mcp_server *m)
{
        send_json(m, jsonrpc_errorf(NULL, JSONRPC_PARSE_ERROR,
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
                        request_free(req);
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
