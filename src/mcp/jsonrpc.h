/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON-RPC 2.0 as MCP's stdio transport carries it: one message per line.
 * This is the decoder every byte from the client goes through first; it
 * never trusts a declared size and answers each malformed input with the
 * error object to send back.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum {
        JSONRPC_PARSE_ERROR = -32700,
        JSONRPC_INVALID_REQUEST = -32600,
        JSONRPC_METHOD_NOT_FOUND = -32601,
        JSONRPC_INVALID_PARAMS = -32602,
        JSONRPC_INTERNAL_ERROR = -32603,
        MCP_UNSUPPORTED_PROTOCOL_VERSION = -32022,
};

/* ------------------------------------------------------------ lines */

struct line_reader {
        char *buf;
        size_t len, cap, scanned;
        size_t max;      /* longest line accepted, without its newline */
        bool discarding; /* inside a line that was too long: drop up to its newline */
};

enum line_event {
        LINE_NONE,     /* no complete line buffered */
        LINE_READY,    /* *ret_line, *ret_len: one line, without "\n" or a trailing "\r" */
        LINE_TOO_LONG, /* a line exceeded max; the rest of it is dropped as it arrives */
};

void line_reader_init(struct line_reader *r, size_t max);
void line_reader_done(struct line_reader *r);
/* Append bytes read from the client. */
int line_reader_feed(struct line_reader *r, const void *data, size_t size);
/* The next event; a returned line stays valid until the next feed or pop. */
enum line_event line_reader_pop(struct line_reader *r, const char **ret_line, size_t *ret_len);
/* Bytes of an unfinished line at end of input (a last line without "\n"). */
bool line_reader_pending(const struct line_reader *r);
/* Take the unfinished line as complete (end of input). */
enum line_event line_reader_finish(struct line_reader *r, const char **ret_line, size_t *ret_len);

/* ------------------------------------------------------------ messages */

enum jsonrpc_kind {
        JSONRPC_REQUEST,
        JSONRPC_NOTIFICATION,
        JSONRPC_RESPONSE,
};

struct jsonrpc_message {
        enum jsonrpc_kind kind;
        json_t *id;         /* borrowed; requests and responses */
        const char *method; /* borrowed; requests and notifications */
        json_t *params;     /* borrowed; NULL when absent */
};

/* Parse one line. NULL with *ret_error set (a -32700 response) when it is not
 * JSON, not valid UTF-8, or has duplicate keys. */
json_t *jsonrpc_parse(const char *line, size_t len, json_t **ret_error);
/* Classify one parsed value that is not an array. -EINVAL with *ret_error set
 * (a -32600 response, with the id when one was usable) when it is no valid
 * JSON-RPC 2.0 message. */
int jsonrpc_classify(json_t *value, struct jsonrpc_message *ret, json_t **ret_error);

/* Builders; each steals the references it is given. id NULL omits "id" (for
 * errors about a message whose id could not be read). */
json_t *jsonrpc_result(json_t *id, json_t *result);
json_t *jsonrpc_error(json_t *id, int code, const char *message, json_t *data);
json_t *jsonrpc_errorf(json_t *id, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
json_t *jsonrpc_notification(const char *method, json_t *params);
/* How we serialise: compact (one line) and floats without binary noise. */
#define JSONRPC_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))
/* Compact, single-line serialisation followed by "\n". */
char *jsonrpc_dump_line(const json_t *msg, size_t *ret_len);
