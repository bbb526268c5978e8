/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The MCP methods and the routing to them: each message is classified, its
 * era told from its _meta envelope, checked against what that era and the
 * session's state allow, and handed to its handler. Trust zone: the MCP
 * face's process; everything here is client input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "server-internal.h"

static const char mcp_instructions[] =
        "Runs Python 3.11 code in a fresh Linux jail for each execute_python call: no network, "
        "nothing kept between calls, limits on time and memory. The value of the last expression "
        "is returned, like in the interactive interpreter; matplotlib figures left open come back "
        "as images. health_check reports the service's state.";

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
                                    "serverInfo", mcp_server_info(v), "instructions", mcp_instructions));
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
        mcp_request_free(req);
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
                mcp_emit(m, b,
                         jsonrpc_error(json_incref(id), MCP_UNSUPPORTED_PROTOCOL_VERSION,
                                       "Unsupported protocol version",
                                       json_pack("{s:o, s:O}", "supported", mcp_version_list(true, true),
                                                 "requested", asked)));
                return NULL;
        }
        if (!json_is_object(json_object_get(meta, MCP_META_CAPABILITIES))) {
                mcp_emit(m, b,
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
                mcp_emit(m, b,
                         jsonrpc_error(json_incref(id), JSONRPC_INVALID_PARAMS,
                                       "Invalid params: \"" MCP_META_LOG_LEVEL
                                       "\" must be one of debug, info, "
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
                return mcp_emit(
                        m, b,
                        jsonrpc_error(
                                json_incref(msg->id), JSONRPC_INVALID_PARAMS,
                                "Invalid params: server/discover needs params._meta with \"" MCP_META_VERSION
                                "\" and \"" MCP_META_CAPABILITIES "\" (protocol 2026-07-28)",
                                NULL));
        mcp_emit(m, b,
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
                return mcp_emit(m, b, error);
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
                return mcp_emit(
                        m, b,
                        jsonrpc_errorf(json_incref(msg.id), JSONRPC_INVALID_REQUEST,
                                       "Invalid Request: %s is a notification; send it without an id",
                                       msg.method));
        if (params && !json_is_object(params))
                return mcp_emit(m, b,
                                jsonrpc_error(json_incref(msg.id), JSONRPC_INVALID_PARAMS,
                                              "Invalid params: \"params\" must be an object", NULL));
        if (meta && !json_is_object(meta))
                return mcp_emit(m, b,
                                jsonrpc_error(json_incref(msg.id), JSONRPC_INVALID_PARAMS,
                                              "Invalid params: \"_meta\" must be an object", NULL));
        if (stateless) {
                v = check_envelope(m, b, msg.id, meta, &log_level);
                if (!v)
                        return;
        } else if (!m->negotiated && !method->before_init)
                return mcp_emit(
                        m, b,
                        jsonrpc_errorf(json_incref(msg.id), JSONRPC_INVALID_REQUEST,
                                       "Invalid Request: not initialized; send initialize before %s (or use "
                                       "protocol 2026-07-28 with the _meta envelope)",
                                       msg.method));
        else
                v = m->negotiated ?: mcp_version_latest_handshake();
        token = json_object_get(meta, "progressToken");
        if (token && !json_is_string(token) && !json_is_integer(token))
                return mcp_emit(
                        m, b,
                        jsonrpc_error(json_incref(msg.id), JSONRPC_INVALID_PARAMS,
                                      "Invalid params: \"progressToken\" must be a string or an integer",
                                      NULL));
        req = calloc(1, sizeof *req);
        if (!req)
                return mcp_emit(
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
                return mcp_send(
                        m, jsonrpc_errorf(NULL, JSONRPC_INVALID_REQUEST,
                                          "Invalid Request: JSON-RPC batches are not allowed in protocol %s",
                                          m->negotiated ? m->negotiated->name
                                                        : "negotiation (only 2025-03-26 allows them)"));
        if (json_array_size(array) == 0)
                return mcp_send(m, jsonrpc_error(NULL, JSONRPC_INVALID_REQUEST,
                                                 "Invalid Request: empty batch", NULL));
        b = calloc(1, sizeof *b);
        if (!b || !(b->replies = json_array())) {
                free(b);
                return mcp_send(m, jsonrpc_error(NULL, JSONRPC_INTERNAL_ERROR, "out of memory", NULL));
        }
        json_array_foreach(array, i, v) handle_message(m, v, b);
        b->sealed = true;
        mcp_batch_settle(m, b);
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
                return mcp_send(m, error);
        if (json_is_array(v))
                handle_batch(m, v);
        else
                handle_message(m, v, NULL);
        json_decref(v);
}
