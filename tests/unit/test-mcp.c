/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/mcp's pure parts and src/basic/text-util: the line
 * reader, JSON-RPC classification, tool argument checks against the tool
 * table, and the shape of an execute_python result per protocol version.
 * The server itself is tested end to end in tests/mcp/.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mcp-internal.h"
#include "text-util.h"

/* ------------------------------------------------------------ lines */

static void
expect_line(struct line_reader *r, const char *want)
{
        const char *line;
        size_t len;

        cr_assert_eq(line_reader_pop(r, &line, &len), LINE_READY);
        cr_assert_eq(len, strlen(want), "got %zu bytes '%.*s', want '%s'", len, (int) len, line, want);
        cr_assert(memcmp(line, want, len) == 0);
}

Test(lines, split_in_any_chunks)
{
        const char *stream = "{\"a\":1}\r\n\n{\"b\":2}\nlast";
        const char *line;
        size_t len;

        for (size_t chunk = 1; chunk <= strlen(stream); chunk++) {
                struct line_reader r;
                unsigned seen = 0;

                line_reader_init(&r, 64);
                for (size_t off = 0; off < strlen(stream); off += chunk) {
                        cr_assert(line_reader_feed(&r, stream + off, MIN(chunk, strlen(stream) - off)) >= 0);
                        while (line_reader_pop(&r, &line, &len) == LINE_READY)
                                seen++;
                }
                cr_assert_eq(seen, 3, "chunk %zu: %u lines", chunk, seen);
                cr_assert(line_reader_pending(&r));
                cr_assert_eq(line_reader_finish(&r, &line, &len), LINE_READY);
                cr_assert_eq(len, 4);
                cr_assert(memcmp(line, "last", 4) == 0);
                cr_assert_eq(line_reader_finish(&r, &line, &len), LINE_NONE);
                line_reader_done(&r);
        }
}

Test(lines, carriage_return_only_at_the_end_is_dropped)
{
        struct line_reader r;

        line_reader_init(&r, 64);
        cr_assert(line_reader_feed(&r, "a\rb\r\n", 5) >= 0);
        expect_line(&r, "a\rb");
        line_reader_done(&r);
}

Test(lines, too_long_is_reported_once_and_skipped)
{
        struct line_reader r;
        char big[100];
        const char *line;
        size_t len;

        memset(big, 'x', sizeof big);
        line_reader_init(&r, 16);
        /* Exactly the bound passes. */
        cr_assert(line_reader_feed(&r, big, 16) >= 0);
        cr_assert(line_reader_feed(&r, "\n", 1) >= 0);
        cr_assert_eq(line_reader_pop(&r, &line, &len), LINE_READY);
        cr_assert_eq(len, 16);
        /* One more byte does not, whether the newline came or not. */
        cr_assert(line_reader_feed(&r, big, 17) >= 0);
        cr_assert_eq(line_reader_pop(&r, &line, &len), LINE_TOO_LONG);
        cr_assert(line_reader_feed(&r, big, sizeof big) >= 0);
        cr_assert_eq(line_reader_pop(&r, &line, &len), LINE_NONE);
        cr_assert(line_reader_feed(&r, "xx\nok\n", 6) >= 0);
        expect_line(&r, "ok");
        /* A long line that arrives whole with its newline. */
        cr_assert(line_reader_feed(&r, big, 40) >= 0);
        cr_assert(line_reader_feed(&r, "\nnext\n", 6) >= 0);
        cr_assert_eq(line_reader_pop(&r, &line, &len), LINE_TOO_LONG);
        expect_line(&r, "next");
        cr_assert_eq(line_reader_pop(&r, &line, &len), LINE_NONE);
        line_reader_done(&r);
}

/* ------------------------------------------------------------ messages */

static int
classify(const char *text, struct jsonrpc_message *msg, json_t **value, json_t **error)
{
        json_t *parse_error = NULL;

        *error = NULL;
        *value = jsonrpc_parse(text, strlen(text), &parse_error);
        if (!*value) {
                *error = parse_error;
                return JSONRPC_PARSE_ERROR;
        }
        return jsonrpc_classify(*value, msg, error) < 0
                       ? (int) json_integer_value(json_object_get(json_object_get(*error, "error"), "code"))
                       : 0;
}

Test(jsonrpc, classification)
{
        static const struct {
                const char *text;
                int code;
                bool error_has_id;
        } cases[] = {
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 0, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\",\"params\":{}}", 0, false},
                {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 0, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", 0, false},
                {"not json", JSONRPC_PARSE_ERROR, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", JSONRPC_PARSE_ERROR, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", JSONRPC_PARSE_ERROR, false},
                {"42", JSONRPC_INVALID_REQUEST, false},
                {"{\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, true},
                {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, true},
                {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, false},
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", JSONRPC_INVALID_REQUEST, true},
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", JSONRPC_INVALID_REQUEST, true},
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}", JSONRPC_INVALID_REQUEST, true},
                {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":3}", JSONRPC_INVALID_REQUEST,
                 true},
                {"{\"jsonrpc\":\"2.0\",\"id\":1}", JSONRPC_INVALID_REQUEST, true},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct jsonrpc_message msg;
                json_t *value, *error;
                int code = classify(cases[i].text, &msg, &value, &error);

                cr_assert_eq(code, cases[i].code, "%s: %d", cases[i].text, code);
                if (error) {
                        cr_assert_eq(json_object_get(error, "id") != NULL, cases[i].error_has_id, "%s",
                                     cases[i].text);
                        /* Never "id": null: the official clients reject it. */
                        cr_assert(!json_is_null(json_object_get(error, "id")));
                }
                json_decref(error);
                json_decref(value);
        }
}

Test(jsonrpc, dumped_lines_are_single_lines)
{
        json_t *m = jsonrpc_result(json_integer(1), json_pack("{s:s}", "text", "a\nb\r\u2028c"));
        size_t len;
        char *line = jsonrpc_dump_line(m, &len);

        cr_assert_not_null(line);
        cr_assert_eq(line[len - 1], '\n');
        cr_assert_null(memchr(line, '\n', len - 1));
        free(line);
        json_decref(m);
}

/* ------------------------------------------------------------ text */

Test(text, utf8_lossy)
{
        static const struct {
                const char *in;
                size_t n;
                const char *out;
        } cases[] = {
                {"plain", 5, "plain"},
                {"\xff ok", 4, "\xef\xbf\xbd ok"},
                {"\xc3\xa9", 2, "\xc3\xa9"},
                {"\xc3", 1, "\xef\xbf\xbd"},
                {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
                {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
                {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
                {"\xf0\x9f\x90\x8d", 4, "\xf0\x9f\x90\x8d"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *out;
                size_t len;

                cr_assert(utf8_lossy(cases[i].in, cases[i].n, &out, &len) >= 0);
                cr_assert_eq(len, strlen(cases[i].out), "case %zu", i);
                cr_assert(memcmp(out, cases[i].out, len) == 0, "case %zu", i);
                free(out);
        }
}

Test(text, base64_vectors)
{
        /* RFC 4648, section 10. */
        static const char *const vectors[][2] = {
                {"", ""},
                {"f", "Zg=="},
                {"fo", "Zm8="},
                {"foo", "Zm9v"},
                {"foob", "Zm9vYg=="},
                {"fooba", "Zm9vYmE="},
                {"foobar", "Zm9vYmFy"},
        };

        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                char *out;
                size_t len;

                cr_assert(base64_encode(vectors[i][0], strlen(vectors[i][0]), &out, &len) >= 0);
                cr_assert_str_eq(out, vectors[i][1]);
                cr_assert_eq(len, strlen(vectors[i][1]));
                free(out);
        }
}

/* ------------------------------------------------------------ tools */

static const struct mcp_limits limits = {
        .default_timeout_ms = 30000,
        .max_timeout_ms = 600000,
        .max_image_bytes = 100,
        .image_budget_bytes = 170, /* base64 bytes: two 60-byte images (80 each) fit */
        .max_line = 1 << 20,
};

static json_t *
tool_named(json_t *list, const char *name)
{
        size_t i;
        json_t *t;

        json_array_foreach(json_object_get(list, "tools"), i,
                           t) if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0) return t;
        return NULL;
}

Test(tools, list_per_version)
{
        json_t *old = mcp_tools_list(&limits, mcp_version_find("2024-11-05"));
        json_t *mid = mcp_tools_list(&limits, mcp_version_find("2025-03-26"));
        json_t *new = mcp_tools_list(&limits, mcp_version_find("2026-07-28"));
        json_t *t;

        t = tool_named(old, "execute_python");
        cr_assert_not_null(t);
        cr_assert_null(json_object_get(t, "title"));
        cr_assert_null(json_object_get(t, "outputSchema"));
        cr_assert_null(json_object_get(t, "annotations"));
        t = tool_named(mid, "execute_python");
        cr_assert_not_null(json_object_get(t, "annotations"));
        cr_assert_null(json_object_get(t, "outputSchema"));
        t = tool_named(new, "execute_python");
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "outputSchema"), "type")),
                         "object");
        cr_assert(json_is_false(json_object_get(json_object_get(t, "inputSchema"), "additionalProperties")));
        cr_assert_not_null(strstr(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(json_object_get(t, "inputSchema"), "properties"),
                                        "timeout_s"),
                        "description")),
                "at most 600"));
        cr_assert(json_is_true(json_object_get(
                json_object_get(tool_named(new, "health_check"), "annotations"), "readOnlyHint")));
        /* Deterministic: the same list twice, byte for byte. */
        json_t *again = mcp_tools_list(&limits, mcp_version_find("2026-07-28"));
        char *a = json_dumps(new, JSONRPC_DUMP_FLAGS), *b = json_dumps(again, JSONRPC_DUMP_FLAGS);
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
        json_decref(again);
        json_decref(old);
        json_decref(mid);
        json_decref(new);
}

/* ------------------------------------------------------------ results */

static void
result_init(struct run_result *r, enum run_status status)
{
        *r = (struct run_result){.status = status};
        cr_assert(capbuf_init(&r->out, 1024, 1024) >= 0);
        cr_assert(capbuf_init(&r->err, 1024, 1024) >= 0);
}

static const char *
first_text(json_t *result)
{
        return json_string_value(
                json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
}

Test(results, ok_value_and_invalid_utf8)
{
        struct run_result r;
        json_t *res, *sc;

        result_init(&r, RUN_OK);
        capbuf_append(&r.out, "\xff hi\n", 5);
        r.value = strdup("2");
        res = mcp_run_result(&r, &limits, 30000, mcp_version_find("2025-06-18"));
        cr_assert(json_is_false(json_object_get(res, "isError")));
        sc = json_object_get(res, "structuredContent");
        cr_assert_str_eq(json_string_value(json_object_get(sc, "status")), "ok");
        cr_assert_str_eq(json_string_value(json_object_get(sc, "stdout")), "\xef\xbf\xbd hi\n");
        cr_assert_str_eq(json_string_value(json_object_get(sc, "value")), "2");
        cr_assert(json_is_null(json_object_get(sc, "exception")));
        cr_assert_not_null(strstr(first_text(res), "value: 2"));
        /* The JSON of structuredContent is the last text block. */
        cr_assert_eq(json_array_size(json_object_get(res, "content")), 2);
        json_decref(res);
        /* 2024-11-05 and 2025-03-26 know no structuredContent. */
        res = mcp_run_result(&r, &limits, 30000, mcp_version_find("2025-03-26"));
        cr_assert_null(json_object_get(res, "structuredContent"));
        cr_assert_eq(json_array_size(json_object_get(res, "content")), 1);
        json_decref(res);
        run_result_done(&r);
}

Test(results, every_failure_is_an_error_with_advice)
{
        static const struct {
                enum run_status status;
                const char *says;
        } cases[] = {
                {RUN_EXCEPTION, "ZeroDivisionError"},
                {RUN_TIMEOUT, "timeout_s (at most 600)"},
                {RUN_MEMORY, "memory"},
                {RUN_KILLED, "killed"},
                {RUN_CANCELLED, "cancelled"},
                {RUN_CRASHED, "crashed"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct run_result r;
                json_t *res;

                result_init(&r, cases[i].status);
                if (cases[i].status == RUN_EXCEPTION) {
                        r.has_exception = true;
                        r.exc_type = strdup("ZeroDivisionError");
                        r.exc_message = strdup("division by zero");
                        r.exc_traceback = strdup("Traceback ...\nZeroDivisionError: division by zero\n");
                }
                res = mcp_run_result(&r, &limits, 2000, mcp_version_find("2026-07-28"));
                cr_assert(json_is_true(json_object_get(res, "isError")), "status %d", cases[i].status);
                cr_assert_not_null(strstr(first_text(res), cases[i].says), "status %d: %s", cases[i].status,
                                   first_text(res));
                cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "structuredContent"),
                                                                   "status")),
                                 run_status_to_string(cases[i].status));
                json_decref(res);
                run_result_done(&r);
        }
}

Test(results, images_within_budget_and_a_note_for_the_rest)
{
        struct run_result r;
        json_t *res, *content;
        size_t images = 0, i;
        json_t *block;

        result_init(&r, RUN_OK);
        r.n_images = 4;
        r.images = calloc(4, sizeof *r.images);
        for (i = 0; i < 4; i++) {
                r.images[i].mime = strdup("image/png");
                r.images[i].size = i == 1 ? 200 : 60; /* #1 is over the per-image limit */
                r.images[i].data = calloc(1, r.images[i].size);
        }
        res = mcp_run_result(&r, &limits, 30000, mcp_version_find("2025-11-25"));
        content = json_object_get(res, "content");
        json_array_foreach(content, i, block) if (strcmp(json_string_value(json_object_get(block, "type")),
                                                         "image") == 0) images++;
        /* Two 60-byte images fit in 170 base64 bytes; the 200-byte one and the last do not. */
        cr_assert_eq(images, 2);
        cr_assert_eq(
                json_integer_value(json_object_get(json_object_get(res, "structuredContent"), "images")), 2);
        cr_assert_eq(json_integer_value(
                             json_object_get(json_object_get(res, "structuredContent"), "images_omitted")),
                     2);
        cr_assert_not_null(strstr(first_text(res), "2 figure(s) left out"));
        json_decref(res);
        run_result_done(&r);
}

Test(results, the_whole_result_stays_below_what_clients_buffer)
{
        static const struct mcp_limits big = {
                .default_timeout_ms = 30000,
                .max_timeout_ms = 600000,
                .max_image_bytes = 4u << 20,
                .image_budget_bytes = 6u << 20,
                .max_line = 1 << 20,
        };
        size_t n = 1u << 20, images = 0, i;
        struct run_result r;
        char *junk = malloc(n + 1), *dump;
        json_t *res, *block;

        /* Control characters: the worst case for JSON escaping, three times. */
        memset(junk, '\x01', n);
        junk[n] = '\0';
        *(&r) = (struct run_result){.status = RUN_EXCEPTION};
        cr_assert(capbuf_init(&r.out, n, n) >= 0);
        cr_assert(capbuf_init(&r.err, n, n) >= 0);
        capbuf_append(&r.out, junk, n);
        capbuf_append(&r.err, junk, n);
        r.has_exception = true;
        r.exc_type = strdup("E");
        r.exc_message = strdup(junk);
        r.exc_traceback = strdup(junk);
        r.value = strdup(junk);
        r.n_images = 3;
        r.images = calloc(3, sizeof *r.images);
        for (i = 0; i < 3; i++) {
                r.images[i].mime = strdup("image/png");
                r.images[i].size = 3u << 20;
                r.images[i].data = calloc(1, r.images[i].size);
        }
        res = mcp_run_result(&r, &big, 30000, mcp_version_find("2025-11-25"));
        dump = json_dumps(res, JSONRPC_DUMP_FLAGS);
        cr_assert_lt(strlen(dump), 9u << 20, "%zu bytes", strlen(dump));
        json_array_foreach(json_object_get(res, "content"), i,
                           block) if (strcmp(json_string_value(json_object_get(block, "type")), "image") ==
                                      0) images++;
        cr_assert_eq(images, 1);
        cr_assert(json_is_true(
                json_object_get(json_object_get(res, "structuredContent"), "stdout_truncated")));
        free(dump);
        free(junk);
        json_decref(res);
        run_result_done(&r);
}
