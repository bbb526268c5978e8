/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client of PROTOCOL.md on an sd-event loop, shared by the faces that
 * talk to a dispatcher (the CLI, the MCP face): over a daemon's socket or over
 * a socketpair to a dispatcher embedded on the same loop. Calls are pipelined:
 * any number may be in flight, each with its own id and callback. Everything
 * the server sends is validated like anyone else's frames, because the socket
 * path may lead anywhere.
 */
#pragma once

#include <msgpack.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct rpc_client;

/* Called for each message of a call (events, then the final response). Return
 * 1 when the call is complete, 0 to go on, a negative errno to abandon it.
 * m is NULL once if the connection ends first (the call is then over). */
typedef int (*rpc_message_fn)(const msgpack_object *m, void *userdata);
/* Called once when the connection ends (error < 0) after the pending calls
 * were told. */
typedef void (*rpc_hangup_fn)(int error, void *userdata);

int rpc_client_new(sd_event *event, int fd, struct rpc_client **ret);
struct rpc_client *rpc_client_free(struct rpc_client *c);
void rpc_client_set_hangup(struct rpc_client *c, rpc_hangup_fn fn, void *userdata);

/* Queue {id, method, params} (params packed by pack, may be NULL) and return
 * its id. -ENOTCONN once the connection has ended. */
int rpc_client_start(struct rpc_client *c, const char *method,
                     void (*pack)(msgpack_packer *pk, const void *arg), const void *arg,
                     rpc_message_fn on_message, void *userdata, uint64_t *ret_id);
/* Deliver nothing more for call id (its messages are read and dropped). */
void rpc_client_forget(struct rpc_client *c, uint64_t id);
/* Requests sent whose final response has not arrived. */
unsigned rpc_client_pending(const struct rpc_client *c);

/* One call, synchronously: start it and run the loop until it completes. The
 * connection closing first is -ECONNRESET; on_message never sees NULL. */
int rpc_client_call(struct rpc_client *c, const char *method,
                    void (*pack)(msgpack_packer *pk, const void *arg), const void *arg,
                    rpc_message_fn on_message, void *userdata);

/* Connect to a daemon's socket; a message that says what to do on failure. */
int rpc_connect(const char *path, int *ret_fd, char **ret_error);
/* The error code and message of an error response; 0 if m is not one. */
int rpc_error_of(const msgpack_object *m, int64_t *ret_code, const char **ret_msg, size_t *ret_len);
