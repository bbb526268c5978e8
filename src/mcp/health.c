/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * health_check: the dispatcher's `status` figures, as they are, in
 * structuredContent. The schema names the figures a host may rely on and
 * lets the service add more.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mcp-internal.h"
#include "msg.h"
#include "text-util.h"

static const char health_check_output_schema[] =
        "{\"type\":\"object\",\"properties\":{"
        "\"version\":{\"type\":\"string\"},"
        "\"uptime_s\":{\"type\":\"number\"},"
        "\"idle_workers\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Warm workers waiting for "
        "code.\"},"
        "\"busy_workers\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Workers running code "
        "now.\"},"
        "\"queue_depth\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Calls waiting for a "
        "worker.\"},"
        "\"isolation\":{\"type\":\"object\",\"description\":\"The isolation in force: mode (root or "
        "unprivileged), id mapping, cgroup limits, Landlock, seccomp.\"},"
        "\"environments\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
        "\"requests\":{\"type\":\"object\",\"description\":\"Requests served, errors, and results by "
        "status.\"}},"
        "\"required\":[\"version\",\"idle_workers\",\"busy_workers\",\"queue_depth\"]}";

json_t *
mcp_health_check_output_schema(void)
{
        return json_loads(health_check_output_schema, 0, NULL);
}

json_t *
mcp_json_from_msgpack(const msgpack_object *o)
{
        _cleanup_free_ char *text = NULL;
        json_t *v;
        size_t len;

        switch (o->type) {
        case MSGPACK_OBJECT_NIL:
                return json_null();
        case MSGPACK_OBJECT_BOOLEAN:
                return json_boolean(o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
                return json_integer(o->via.u64 > INT64_MAX ? INT64_MAX : (json_int_t) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
                return json_integer(o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
                return json_real(o->via.f64);
        case MSGPACK_OBJECT_STR:
        case MSGPACK_OBJECT_BIN:
                if (utf8_lossy(o->via.str.ptr, o->via.str.size, &text, &len) < 0)
                        return NULL;
                return json_stringn(text, len);
        case MSGPACK_OBJECT_ARRAY:
                v = json_array();
                for (uint32_t i = 0; v && i < o->via.array.size; i++)
                        json_array_append_new(v, mcp_json_from_msgpack(&o->via.array.ptr[i]));
                return v;
        case MSGPACK_OBJECT_MAP:
                v = json_object();
                for (uint32_t i = 0; v && i < o->via.map.size; i++) {
                        const msgpack_object_kv *kv = &o->via.map.ptr[i];
                        if (kv->key.type != MSGPACK_OBJECT_STR ||
                            utf8_lossy(kv->key.via.str.ptr, kv->key.via.str.size, &text, &len) < 0)
                                continue;
                        json_object_setn_new(v, text, len, mcp_json_from_msgpack(&kv->val));
                        text = mfree(text);
                }
                return v;
        default:
                return json_null();
        }
}

static int
on_status(const msgpack_object *m, void *userdata)
{
        struct mcp_request *req = userdata;
        const msgpack_object *status;
        json_t *sc, *result;
        const char *msg = NULL;
        size_t len = 0;
        int64_t code;
        char *text;

        /* The call is over either way: the request no longer owns it. */
        req->work = mfree(req->work);
        req->cancel = NULL;
        if (!m)
                return mcp_request_reply(req, mcp_tool_error_result("The connection to the sandbox service "
                                                                    "was lost; the next call reconnects.")),
                       0;
        if (rpc_error_of(m, &code, &msg, &len) || proto_map_get_map(m, "result", &status) < 0) {
                if (asprintf(&text, "The sandbox service did not report its status: %.*s", (int) len,
                             msg ?: "malformed answer") < 0)
                        text = NULL;
                mcp_request_reply(req,
                                  mcp_tool_error_result(text
                                                                ?: "The sandbox service did not report its "
                                                                   "status."));
                free(text);
                return 1;
        }
        sc = mcp_json_from_msgpack(status);
        text = sc ? json_dumps(sc, JSONRPC_DUMP_FLAGS) : NULL;
        result = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text ?: "{}",
                           "isError", false);
        free(text);
        if (result && (req->version->features & MCP_F_STRUCTURED))
                json_object_set_new(result, "structuredContent", sc);
        else
                json_decref(sc);
        mcp_request_reply(req, result);
        return 1;
}

struct status_call {
        struct rpc_client *rpc;
        uint64_t id;
};

static void
forget_status(struct mcp_request *req)
{
        struct status_call *call = req->work;

        rpc_client_forget(call->rpc, call->id);
        req->work = mfree(call);
}

void
mcp_health_check(struct mcp_request *req, json_t *args)
{
        struct status_call *call = malloc(sizeof *call);
        _cleanup_free_ char *error = NULL, *text = NULL;

        if (!call)
                return mcp_request_fail(req, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        call->rpc = mcp_server_rpc(req->server, &error);
        if (!call->rpc || rpc_client_start(call->rpc, "status", NULL, NULL, on_status, req, &call->id) < 0) {
                free(call);
                if (asprintf(&text, "The sandbox service cannot be reached: %s.",
                             error ?: "the connection is closed") < 0)
                        text = NULL;
                return mcp_request_reply(req,
                                         mcp_tool_error_result(text
                                                                       ?: "The sandbox service cannot be "
                                                                          "reached."));
        }
        req->work = call;
        req->cancel = forget_status;
}
