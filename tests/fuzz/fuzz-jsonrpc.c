/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the MCP face's decoder: bytes from a client through
 * the line reader, in chunks of arbitrary sizes, and every line through the
 * whole MCP server (jsonrpc.c, era and method routing, batches, tool argument
 * checks, cancellation). Tool calls that pass their checks go out to an RPC
 * peer that never answers; the server is torn down after each input, which
 * exercises the cancellation of whatever is still in flight.
 *
 * Byte 0 of an input picks the line bound (small ones reach the too-long
 * path), byte 1 seeds the chunk sizes, the rest is the stream.
 *
 * Abort (a finding) on any broken invariant:
 *  - the server writes anything that is not one JSON object per line, or a
 *    line without "jsonrpc": "2.0";
 *  - a response without exactly one of result and error, or an error
 *    without an integer code and a string message;
 *  - a batch reply that is not a non-empty array of such responses;
 *  - the line reader hands out a line with a newline in it or longer than
 *    its bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "mcp-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The dispatcher's end of each connection; nobody reads it. */
static int peer = -EBADF;

static int
connect_nowhere(sd_event *e, void *userdata, struct rpc_client **ret, char **ret_error)
{
        int pair[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                abort();
        safe_close(peer);
        peer = pair[1];
        return rpc_client_new(e, pair[0], ret);
}

static const size_t max_lines[] = {16, 256, 4096, 1u << 20};

static void
fuzz_fail(const char *what, const char *line, size_t len)
{
        fprintf(stderr, "fuzz-jsonrpc: %s: %.*s\n", what, (int) MIN(len, (size_t) 512), line ?: "");
        abort();
}

static void
check_response(json_t *v, const char *line, size_t len)
{
        json_t *error = json_object_get(v, "error");
        bool has_result = json_object_get(v, "result") != NULL;

        if (!json_is_object(v) || !json_is_string(json_object_get(v, "jsonrpc")) ||
            strcmp(json_string_value(json_object_get(v, "jsonrpc")), "2.0") != 0)
                fuzz_fail("not a JSON-RPC 2.0 object", line, len);
        if (json_object_get(v, "method"))
                return; /* a notification (progress, log message) */
        if (has_result == (error != NULL))
                fuzz_fail("a response needs exactly one of result and error", line, len);
        if (error && (!json_is_integer(json_object_get(error, "code")) ||
                      !json_is_string(json_object_get(error, "message"))))
                fuzz_fail("an error needs an integer code and a string message", line, len);
}

static void
check_output(const char *out, size_t n)
{
        while (n > 0) {
                const char *nl = memchr(out, '\n', n);
                json_t *v;
                size_t len;

                if (!nl)
                        fuzz_fail("output does not end with a newline", out, n);
                len = (size_t) (nl - out);
                v = json_loadb(out, len, 0, NULL);
                if (!v)
                        fuzz_fail("output line is not JSON", out, len);
                if (json_is_array(v)) {
                        size_t i;
                        json_t *e;
                        if (json_array_size(v) == 0)
                                fuzz_fail("an empty batch reply", out, len);
                        json_array_foreach(v, i, e) check_response(e, out, len);
                } else
                        check_response(v, out, len);
                json_decref(v);
                out = nl + 1;
                n -= len + 1;
        }
}

/* Run the loop until the server has nothing more to write, collecting it. */
static void
pump(sd_event *e, int out_read, char **buf, size_t *len)
{
        for (int idle = 0; idle < 3;) {
                char chunk[65536];
                ssize_t n;

                (void) sd_event_run(e, 0);
                n = read(out_read, chunk, sizeof chunk);
                if (n <= 0) {
                        idle++;
                        continue;
                }
                idle = 0;
                *buf = realloc(*buf, *len + (size_t) n);
                if (!*buf)
                        abort();
                memcpy(*buf + *len, chunk, (size_t) n);
                *len += (size_t) n;
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mcp_limits limits = {
                .default_timeout_ms = 30000,
                .max_timeout_ms = 600000,
                .max_image_bytes = 4u << 20,
                .image_budget_bytes = 6u << 20,
                .max_request = 16u << 20,
        };
        int in[2], out[2];
        struct mcp_server *m = NULL;
        char *output = NULL;
        size_t output_len = 0;
        sd_event *e = NULL;
        unsigned seed;

        if (size < 2)
                return 0;
        limits.max_line = max_lines[data[0] % ELEMENTSOF(max_lines)];
        seed = data[1];
        data += 2;
        size -= 2;
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0)
                abort();
        if (sd_event_new(&e) < 0 ||
            mcp_server_new(e, in[0], out[1], connect_nowhere, NULL, &limits, &m, NULL) < 0)
                abort();
        close(in[1]);

        /* The same path as on_in(): chunks into the line reader, lines out. */
        struct line_reader r;
        line_reader_init(&r, limits.max_line);
        for (size_t off = 0; off < size;) {
                size_t chunk = MIN(size - off, (size_t) (seed % 97) + 1);
                const char *line;
                size_t len;
                enum line_event ev;

                seed = seed * 1103515245u + 12345u;
                if (line_reader_feed(&r, data + off, chunk) < 0)
                        abort();
                off += chunk;
                while ((ev = (off < size ? line_reader_pop(&r, &line, &len)
                                         : line_reader_finish(&r, &line, &len))) != LINE_NONE) {
                        if (ev == LINE_TOO_LONG)
                                continue;
                        if (len > limits.max_line || memchr(line, '\n', len))
                                fuzz_fail("the line reader broke a line", line, len);
                        mcp_server_handle_line(m, line, len);
                        pump(e, out[0], &output, &output_len);
                }
        }
        line_reader_done(&r);
        pump(e, out[0], &output, &output_len);
        mcp_server_free(m);
        peer = safe_close(peer);
        sd_event_unref(e);
        check_output(output, output_len);
        free(output);
        close(out[0]);
        return 0;
}
