/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The MCP face (vivarium-mcp(1)): MCP over stdio, both protocol eras, as a
 * codec onto the RPC of PROTOCOL.md. It talks to a dispatcher through an
 * rpc_client (embedded on the same loop or a daemon's socket) and never
 * touches jail/ or pool/. The only code that links a JSON library.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "client.h"

struct mcp_limits {
        uint64_t default_timeout_ms; /* execute_python's timeout_s default */
        uint64_t max_timeout_ms;     /* ... and the value it is clamped to */
        uint64_t max_image_bytes;    /* one image block; larger figures become a note */
        uint64_t image_budget_bytes; /* all image blocks of one result, counted as base64 */
        size_t max_line;             /* longest message accepted from the client */
        size_t max_request;          /* largest RPC request the service accepts (max_frame) */
        /* Limits for every run (memory_mb, processes, cpus of the request),
         * from the command line; 0: the service's. */
        uint64_t run_memory_mb, run_processes;
        uint32_t run_cpu_milli;
};

struct mcp_server;

/* Called once when the client's end of file was read and everything that can
 * be answered was; the owner then ends the loop. */
typedef void (*mcp_done_fn)(struct mcp_server *m, void *userdata);

/* Opens a connection to the dispatcher (a daemon's socket, or a new
 * socketpair to an embedded one); *ret_error may explain a failure. */
typedef int (*mcp_connect_fn)(sd_event *event, void *userdata, struct rpc_client **ret, char **ret_error);

/* Serve MCP on in_fd/out_fd (both taken over). The server connects to the
 * dispatcher at once (failing if it cannot), and again on the next call after
 * the connection was lost. */
int mcp_server_new(sd_event *event, int in_fd, int out_fd, mcp_connect_fn connect_fn, void *connect_userdata,
                   const struct mcp_limits *limits, struct mcp_server **ret, char **ret_error);
void mcp_server_set_done(struct mcp_server *m, mcp_done_fn fn, void *userdata);
/* SIGTERM: read nothing more, cancel the running code, answer what is in
 * flight with an error, then call the done function. */
void mcp_server_shutdown(struct mcp_server *m);
/* Write what is still queued for the client, waiting at most timeout_usec. */
void mcp_server_flush(struct mcp_server *m, uint64_t timeout_usec);
struct mcp_server *mcp_server_free(struct mcp_server *m);
