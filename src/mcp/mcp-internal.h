/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP face's internals, shared by its files and its fuzz target. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "jsonrpc.h"
#include "list.h"
#include "mcp.h"

/* ------------------------------------------------------------ versions */

enum {
        MCP_F_ANNOTATIONS = 1u << 0, /* tool annotations, progress "message" (2025-03-26) */
        MCP_F_BATCH = 1u << 1,       /* JSON-RPC batches (2025-03-26 only) */
        MCP_F_STRUCTURED = 1u << 2,  /* tool title, outputSchema, structuredContent (2025-06-18) */
        MCP_F_STATELESS = 1u << 3,   /* per-request _meta, resultType, cache hints (2026-07-28) */
};

struct mcp_version {
        const char *name;
        unsigned features;
};

/* The newest first; the handshake era's newest is the fallback offer. */
extern const struct mcp_version mcp_versions[];
extern const size_t mcp_n_versions;
const struct mcp_version *mcp_version_find(const char *name);
const struct mcp_version *mcp_version_latest_handshake(void);
/* ["2026-07-28", "2025-11-25", ...] of the given era(s). */
json_t *mcp_version_list(bool stateless, bool handshake);

/* RFC 5424 levels as MCP names them; -1 for an unknown name. */
int mcp_log_level_from_string(const char *s);
const char *mcp_log_level_to_string(int level);
#define MCP_LOG_NONE (-1) /* below emergency: nothing passes (smaller is more severe) */

/* ------------------------------------------------------------ requests */

struct mcp_batch;
struct mcp_server;
struct mcp_request;

/* A tool's handle on its asynchronous work: called when the client cancels
 * the request or the server shuts down; it must stop the work and release
 * its state without answering. */
typedef void (*mcp_cancel_fn)(struct mcp_request *req);

struct mcp_request {
        struct mcp_server *server;
        struct list_node node; /* server->requests, while not answered */
        json_t *id;
        const struct mcp_version *version;
        json_t *progress_token; /* NULL: no progress wanted */
        int log_level;          /* threshold for notifications/message about it */
        struct mcp_batch *batch;
        mcp_cancel_fn cancel;
        void *work; /* the tool's state, released by cancel or before the answer */
};

/* Answer a request (stealing result) and free it. In the stateless era the
 * result gets resultType and the server's identity. */
void mcp_request_reply(struct mcp_request *req, json_t *result);
void mcp_request_fail(struct mcp_request *req, int code, const char *message, json_t *data);
void mcp_request_failf(struct mcp_request *req, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* notifications/progress for req, if it asked for progress. */
void mcp_request_progress(struct mcp_request *req, double progress, double total, const char *message);
/* notifications/message about req (or about the server, req NULL). */
void mcp_log(struct mcp_server *m, struct mcp_request *req, int level, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* The connection to the dispatcher, reconnecting if it was lost; NULL with
 * *ret_error set (malloc'd, may be NULL) if that fails. */
struct rpc_client *mcp_server_rpc(struct mcp_server *m, char **ret_error);
sd_event *mcp_server_event(struct mcp_server *m);
const struct mcp_limits *mcp_server_limits(struct mcp_server *m);

/* Feed one line of client input to the server (the fuzz target's entry). */
void mcp_server_handle_line(struct mcp_server *m, const char *line, size_t len);

/* ------------------------------------------------------------ tools */

/* The tools/list result for a version; NULL on allocation failure. */
json_t *mcp_tools_list(const struct mcp_limits *limits, const struct mcp_version *v);
/* tools/call: validate params and start the tool; answers req (now or later). */
void mcp_tools_call(struct mcp_request *req, json_t *params);

/* What the tool table knows of each tool: its arguments generate the input
 * schema and validate the call, so the two cannot disagree. */
enum mcp_arg_type {
        MCP_ARG_STRING,
        MCP_ARG_NUMBER,
};

struct mcp_arg {
        const char *name;
        enum mcp_arg_type type;
        bool required;
        bool positive; /* numbers: > 0 */
        const char *description;
        /* A description that depends on the configuration (limits); overrides. */
        char *(*describe)(const struct mcp_limits *limits);
};

struct mcp_reserved_arg {
        const char *name;
        const char *why; /* the whole message for the model */
};

struct mcp_tool {
        const char *name, *title, *description;
        const struct mcp_arg *args;              /* {} terminated */
        const struct mcp_reserved_arg *reserved; /* {} terminated, may be NULL */
        bool read_only, destructive, idempotent, open_world;
        json_t *(*output_schema)(void);
        void (*call)(struct mcp_request *req, json_t *args);
};

/* Check arguments against a tool's table. -EINVAL with a malloc'd message
 * naming the offending argument. */
int mcp_tool_check_args(const struct mcp_tool *t, json_t *args, char **ret_error);

void mcp_execute_python(struct mcp_request *req, json_t *args);
json_t *mcp_execute_python_output_schema(void);
void mcp_health_check(struct mcp_request *req, json_t *args);
json_t *mcp_health_check_output_schema(void);

/* ------------------------------------------------------------ results */

#include "run.h"

/* The tools/call result for a run result, shaped for the request's version. */
json_t *mcp_run_result(const struct run_result *r, const struct mcp_limits *limits, uint64_t timeout_ms,
                       const struct mcp_version *v);
/* A tools/call result with isError and one text block. */
json_t *mcp_tool_error_result(const char *text);
/* A msgpack object as JSON: strings and bin decoded as UTF-8 with
 * replacement, maps with string keys only. */
#include <msgpack.h>
json_t *mcp_json_from_msgpack(const msgpack_object *o);
