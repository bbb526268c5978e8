/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trust zone: the MCP face's process; everything here is client input. Lines
 * are bounded before they are parsed, jansson rejects invalid UTF-8 and
 * duplicate keys, and a message's shape is checked before any field is used.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "macro.h"

/* Read granularity: the buffer grows in steps of this, up to the line bound. */
#define LINE_READER_CHUNK 65536

void
line_reader_init(struct line_reader *r, size_t max)
{
        *r = (struct line_reader){.max = max};
}

void
line_reader_done(struct line_reader *r)
{
        free(r->buf);
        *r = (struct line_reader){};
}

int
line_reader_feed(struct line_reader *r, const void *data, size_t size)
{
        const char *p = data;

        while (r->discarding && size > 0) {
                const char *nl = memchr(p, '\n', size);
                if (!nl)
                        return 0;
                r->discarding = false;
                size -= (size_t) (nl + 1 - p);
                p = nl + 1;
        }
        if (size == 0)
                return 0;
        if (r->len + size > r->cap) {
                size_t cap = MAX(r->cap * 2, MAX(r->len + size, (size_t) LINE_READER_CHUNK));
                char *b = realloc(r->buf, cap);
                if (!b)
                        return -ENOMEM;
                r->buf = b;
                r->cap = cap;
        }
        memcpy(r->buf + r->len, p, size);
        r->len += size;
        return 0;
}

static void
consume(struct line_reader *r, size_t n)
{
        memmove(r->buf, r->buf + n, r->len - n);
        r->len -= n;
        r->scanned = 0;
}

enum line_event
line_reader_pop(struct line_reader *r, const char **ret_line, size_t *ret_len)
{
        char *nl;

        /* The previous line was handed out in place; drop it now. */
        if (r->scanned > 0 && r->scanned <= r->len && r->buf[r->scanned - 1] == '\n')
                consume(r, r->scanned);
        nl = r->len > 0 ? memchr(r->buf, '\n', r->len) : NULL;
        if (!nl) {
                if (r->len <= r->max)
                        return LINE_NONE;
                /* Too long and still open: drop what we have and the rest of it. */
                r->len = 0;
                r->scanned = 0;
                r->discarding = true;
                return LINE_TOO_LONG;
        }
        if ((size_t) (nl - r->buf) > r->max) {
                consume(r, (size_t) (nl + 1 - r->buf));
                return LINE_TOO_LONG;
        }
        *ret_line = r->buf;
        *ret_len = (size_t) (nl - r->buf);
        if (*ret_len > 0 && r->buf[*ret_len - 1] == '\r')
                (*ret_len)--;
        r->scanned = (size_t) (nl + 1 - r->buf);
        return LINE_READY;
}

bool
line_reader_pending(const struct line_reader *r)
{
        size_t left = r->len;

        if (r->scanned > 0 && r->scanned <= r->len && r->buf[r->scanned - 1] == '\n')
                left -= r->scanned;
        return left > 0 && !r->discarding;
}

enum line_event
line_reader_finish(struct line_reader *r, const char **ret_line, size_t *ret_len)
{
        enum line_event e = line_reader_pop(r, ret_line, ret_len);

        if (e != LINE_NONE || !line_reader_pending(r))
                return e;
        /* No newline left: the unfinished tail is the last line. Terminate it
         * so the next pop consumes it. */
        if (line_reader_feed(r, "\n", 1) < 0)
                return LINE_NONE;
        return line_reader_pop(r, ret_line, ret_len);
}

/* ------------------------------------------------------------ messages */

json_t *
jsonrpc_parse(const char *line, size_t len, json_t **ret_error)
{
        json_error_t e;
        json_t *v = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);

        if (!v)
                *ret_error = jsonrpc_errorf(NULL, JSONRPC_PARSE_ERROR, "Parse error: %s at column %d",
                                            e.text, e.column);
        return v;
}

static bool
valid_id(const json_t *id)
{
        return json_is_string(id) || json_is_integer(id);
}

int
jsonrpc_classify(json_t *v, struct jsonrpc_message *ret, json_t **ret_error)
{
        json_t *version, *id, *method, *params;
        /* The id, when it is one we can answer to; otherwise the error has none. */
        json_t *reply_id;

        if (!json_is_object(v)) {
                *ret_error = jsonrpc_error(NULL, JSONRPC_INVALID_REQUEST,
                                           "Invalid Request: a message is a JSON object", NULL);
                return -EINVAL;
        }
        id = json_object_get(v, "id");
        reply_id = valid_id(id) ? json_incref(id) : NULL;
        version = json_object_get(v, "jsonrpc");
        if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
                *ret_error = jsonrpc_error(reply_id, JSONRPC_INVALID_REQUEST,
                                           "Invalid Request: \"jsonrpc\" must be \"2.0\"", NULL);
                return -EINVAL;
        }
        if (id && !valid_id(id)) {
                *ret_error = jsonrpc_error(NULL, JSONRPC_INVALID_REQUEST,
                                           "Invalid Request: \"id\" must be a string or an integer", NULL);
                return -EINVAL;
        }
        method = json_object_get(v, "method");
        params = json_object_get(v, "params");
        if (!method) {
                if (id && (json_object_get(v, "result") || json_object_get(v, "error"))) {
                        json_decref(reply_id);
                        *ret = (struct jsonrpc_message){.kind = JSONRPC_RESPONSE, .id = id};
                        return 0;
                }
                *ret_error = jsonrpc_error(reply_id, JSONRPC_INVALID_REQUEST,
                                           "Invalid Request: \"method\" is missing", NULL);
                return -EINVAL;
        }
        if (!json_is_string(method) || json_string_length(method) == 0 ||
            strlen(json_string_value(method)) != json_string_length(method)) {
                *ret_error = jsonrpc_error(
                        reply_id, JSONRPC_INVALID_REQUEST,
                        "Invalid Request: \"method\" must be a non-empty string without NUL", NULL);
                return -EINVAL;
        }
        if (params && !json_is_object(params) && !json_is_array(params)) {
                *ret_error =
                        jsonrpc_error(reply_id, JSONRPC_INVALID_REQUEST,
                                      "Invalid Request: \"params\" must be an object or an array", NULL);
                return -EINVAL;
        }
        json_decref(reply_id);
        *ret = (struct jsonrpc_message){
                .kind = id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION,
                .id = id,
                .method = json_string_value(method),
                .params = params,
        };
        return 0;
}

json_t *
jsonrpc_result(json_t *id, json_t *result)
{
        return json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

json_t *
jsonrpc_error(json_t *id, int code, const char *message, json_t *data)
{
        json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);

        if (e && data)
                json_object_set_new(e, "data", data);
        else
                json_decref(data);
        if (!e) {
                json_decref(id);
                return NULL;
        }
        if (!id)
                return json_pack("{s:s, s:o}", "jsonrpc", "2.0", "error", e);
        return json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", id, "error", e);
}

json_t *
jsonrpc_errorf(json_t *id, int code, const char *fmt, ...)
{
        char *message;
        json_t *e;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        e = jsonrpc_error(id, code, message ? message : "error", NULL);
        free(message);
        return e;
}

json_t *
jsonrpc_notification(const char *method, json_t *params)
{
        return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

char *
jsonrpc_dump_line(const json_t *msg, size_t *ret_len)
{
        /* Compact JSON has no raw newline: strings escape theirs. */
        char *s = json_dumps(msg, JSONRPC_DUMP_FLAGS | JSON_ENCODE_ANY), *line;
        size_t n;

        if (!s)
                return NULL;
        n = strlen(s);
        line = realloc(s, n + 2);
        if (!line) {
                free(s);
                return NULL;
        }
        s = line;
        s[n] = '\n';
        s[n + 1] = '\0';
        *ret_len = n + 1;
        return s;
}
