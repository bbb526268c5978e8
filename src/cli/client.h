/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CLI's RPC client: one call at a time on an sd-event loop, so the same
 * code talks to a daemon over its socket and to an embedded dispatcher over a
 * socketpair on the same loop.
 */
#pragma once

#include <msgpack.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct rpc_client;

/* Called for each message of the call (events, then the final response).
 * Return 1 when the call is complete (the loop then exits), 0 to go on. */
typedef int (*rpc_message_fn)(const msgpack_object *m, void *userdata);

int rpc_client_new(sd_event *event, int fd, struct rpc_client **ret);
struct rpc_client *rpc_client_free(struct rpc_client *c);
/* Send {id: 1, method, params} (params packed by pack, may be NULL) and read
 * messages into on_message until it returns 1. The connection closing first is
 * -ECONNRESET. */
int rpc_client_call(struct rpc_client *c, const char *method,
                    void (*pack)(msgpack_packer *pk, const void *arg), const void *arg,
                    rpc_message_fn on_message, void *userdata);
/* Connect to a daemon's socket; a message that says what to do on failure. */
int rpc_connect(const char *path, int *ret_fd, char **ret_error);
/* --socket, else $VIVARIUM_SOCKET, else NULL (embedded). */
const char *rpc_socket_from_env(const char *option);
/* For `status`: --socket, else $VIVARIUM_SOCKET, else the default path. */
int rpc_socket_path(const char *option, char **ret);
/* The error code and message of an error response; 0 if m is not one. */
int rpc_error_of(const msgpack_object *m, int64_t *ret_code, const char **ret_msg, size_t *ret_len);
