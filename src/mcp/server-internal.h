/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP server's state, shared by its transport (server.c) and its
 * methods (methods.c). */
#pragma once

#include "mcp-internal.h"

#define MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCP_META_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define MCP_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define MCP_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
/* tools/list changes only with the binary or its configuration. */
#define MCP_LIST_TTL_MS 3600000

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

/* Queue one message (stolen) as a line for the client. */
void mcp_send(struct mcp_server *m, json_t *msg);
/* Send msg (stolen), or add it to the batch reply it belongs to. */
void mcp_emit(struct mcp_server *m, struct mcp_batch *b, json_t *msg);
/* Send a batch's reply once it is complete. */
void mcp_batch_settle(struct mcp_server *m, struct mcp_batch *b);
/* Forget a request (answered or not). */
void mcp_request_free(struct mcp_request *req);
/* serverInfo, shaped for a version. */
json_t *mcp_server_info(const struct mcp_version *v);
