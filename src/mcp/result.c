/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A run result as an MCP tool result: a readable text block that tells the
 * model what happened and what to do, PNG image blocks within a budget, and
 * (from 2025-06-18 on) structuredContent with the run's fields plus its JSON
 * as a last text block. Every byte from the worker is untrusted: text is
 * decoded as UTF-8 with replacement before it becomes JSON.
 *
 * Size: a result is one line the client must buffer whole, and the official
 * clients drop the connection past 10 MiB. Text appears three times (the
 * readable block, structuredContent, its JSON), so each stream is cut to a
 * head and tail of MCP_STREAM_CAP and each other text to MCP_TEXT_CAP; the
 * images then get what is left of MCP_RESULT_MAX, counted as base64.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mcp-internal.h"
#include "text-util.h"

/* A whole serialised result stays below this, whatever the code printed. */
#define MCP_RESULT_MAX (9u << 20)
/* Kept of each output stream (head and tail halves); the model rarely needs
 * more, and a middle left out is marked. */
#define MCP_STREAM_CAP (64u << 10)
/* Kept of the value's repr, the exception's message and its traceback. */
#define MCP_TEXT_CAP (16u << 10)
/* Room kept for the note about left-out images. */
#define MCP_NOTE_SLACK 4096u

/* Both JSON Schema draft-07 and 2020-12 read this schema the same way: the
 * handshake-era client validates with draft-07 rules, the stateless one with
 * 2020-12. */
static const char execute_python_output_schema[] =
        "{\"type\":\"object\",\"properties\":{"
        "\"status\":{\"type\":\"string\",\"enum\":[\"ok\",\"exception\",\"timeout\",\"memory\",\"killed\","
        "\"cancelled\",\"crashed\"],\"description\":\"What happened: ok, or why the code did not finish.\"},"
        "\"stdout\":{\"type\":\"string\",\"description\":\"Standard output (UTF-8; the middle left out when "
        "over the cap).\"},"
        "\"stderr\":{\"type\":\"string\",\"description\":\"Standard error, likewise.\"},"
        "\"stdout_truncated\":{\"type\":\"boolean\"},"
        "\"stderr_truncated\":{\"type\":\"boolean\"},"
        "\"value\":{\"type\":[\"string\",\"null\"],\"description\":\"repr() of the last expression's value, "
        "unless it was None or the code ended with a statement.\"},"
        "\"exception\":{\"type\":[\"object\",\"null\"],\"properties\":{\"type\":{\"type\":\"string\"},"
        "\"message\":{\"type\":\"string\"},\"traceback\":{\"type\":\"string\"}},"
        "\"required\":[\"type\",\"message\",\"traceback\"]},"
        "\"images\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Figures returned as image "
        "blocks.\"},"
        "\"images_omitted\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Figures left out (too "
        "many "
        "or too large).\"},"
        "\"wall_ms\":{\"type\":\"number\"},\"cpu_ms\":{\"type\":\"number\"},"
        "\"max_rss_kb\":{\"type\":\"integer\",\"minimum\":0},"
        "\"detail\":{\"type\":[\"string\",\"null\"],\"description\":\"What stopped the code, when it did "
        "not "
        "finish by itself.\"}},"
        "\"required\":[\"status\",\"stdout\",\"stderr\",\"stdout_truncated\",\"stderr_truncated\",\"value\","
        "\"exception\",\"images\",\"images_omitted\",\"wall_ms\",\"cpu_ms\",\"max_rss_kb\"]}";

json_t *
mcp_execute_python_output_schema(void)
{
        return json_loads(execute_python_output_schema, 0, NULL);
}

/* Untrusted bytes as a JSON string, at most cap bytes of them: the head and
 * the tail, with a marker line for the middle (*ret_clipped set). */
static json_t *
clipped_string(const char *s, size_t n, size_t cap, bool *ret_clipped)
{
        _cleanup_free_ char *joined = NULL, *text = NULL;
        size_t len;

        if (!s)
                return json_null();
        if (n > cap) {
                size_t head = cap / 2, tail = cap - head;
                char marker[96];
                int m = snprintf(marker, sizeof marker, "\n[... %zu bytes left out ...]\n", n - head - tail);

                joined = malloc(head + (size_t) m + tail);
                if (!joined)
                        return NULL;
                memcpy(joined, s, head);
                memcpy(joined + head, marker, (size_t) m);
                memcpy(joined + head + (size_t) m, s + n - tail, tail);
                s = joined;
                n = head + (size_t) m + tail;
                if (ret_clipped)
                        *ret_clipped = true;
        }
        /* A cut inside a UTF-8 sequence shows as U+FFFD, like any bad byte. */
        if (utf8_lossy(s, n, &text, &len) < 0)
                return NULL;
        return json_stringn(text, len);
}

static json_t *
clipped_cstring(const char *s)
{
        return clipped_string(s, s ? strlen(s) : 0, MCP_TEXT_CAP, NULL);
}

static json_t *
stream_text(const struct capbuf *b, bool *ret_clipped)
{
        _cleanup_free_ char *flat = NULL;
        size_t len;

        if (capbuf_flatten(b, &flat, &len) < 0)
                return NULL;
        return clipped_string(flat, len, MCP_STREAM_CAP, ret_clipped);
}

struct texts {
        json_t *out, *err;
        bool out_truncated, err_truncated;
};

static json_t *
structured(const struct run_result *r, const struct texts *t, size_t images, uint64_t omitted)
{
        json_t *exc = json_null();

        if (r->has_exception)
                exc = json_pack("{s:o, s:o, s:o}", "type", clipped_cstring(r->exc_type), "message",
                                clipped_cstring(r->exc_message), "traceback",
                                clipped_cstring(r->exc_traceback));
        return json_pack("{s:s, s:O, s:O, s:b, s:b, s:o, s:o, s:I, s:I, s:f, s:f, s:I, s:o}", "status",
                         run_status_to_string(r->status), "stdout", t->out, "stderr", t->err,
                         "stdout_truncated", t->out_truncated, "stderr_truncated", t->err_truncated, "value",
                         clipped_cstring(r->value), "exception", exc, "images", (json_int_t) images,
                         "images_omitted", (json_int_t) omitted, "wall_ms", r->wall_ms, "cpu_ms", r->cpu_ms,
                         "max_rss_kb", (json_int_t) r->max_rss_kb, "detail", clipped_cstring(r->detail));
}

/* The first lines of the text: what happened and what to do about it. */
static void
write_headline(FILE *f, const struct run_result *r, const struct mcp_limits *limits, uint64_t timeout_ms)
{
        const char *detail = r->detail ?: "no details";

        switch (r->status) {
        case RUN_OK:
                break;
        case RUN_EXCEPTION:
                fprintf(f, "The code raised %s (traceback below). Fix the code and run it again.\n\n",
                        r->exc_type ?: "an exception");
                break;
        case RUN_TIMEOUT:
                fprintf(f,
                        "Timed out after %g s: the code was stopped; output up to then is below. Make it "
                        "faster, or raise timeout_s (at most %g).\n\n",
                        (double) timeout_ms / 1000, (double) limits->max_timeout_ms / 1000);
                break;
        case RUN_MEMORY:
                if (r->has_exception) /* without a cgroup: an allocation failed, the code went on */
                        fprintf(f,
                                "Out of memory: %s (traceback below). Use less memory (smaller inputs, "
                                "processing in chunks).\n\n",
                                r->detail ?: "the code reached its memory limit");
                else
                        fputs("Out of memory: the code exceeded its memory limit and was killed. Use less "
                              "memory (smaller inputs, processing in chunks).\n\n",
                              f);
                break;
        case RUN_KILLED:
                fprintf(f, "The code was killed (%s); output up to then is below.\n\n", detail);
                break;
        case RUN_CANCELLED:
                fputs("The run was cancelled.\n\n", f);
                break;
        case RUN_CRASHED:
        default:
                fprintf(f,
                        "The Python interpreter crashed (%s); output up to then is below. Nothing "
                        "was kept; change the code and run it again.\n\n",
                        detail);
                break;
        }
}

static void
write_section(FILE *f, const char *name, json_t *text)
{
        size_t n = json_string_length(text);

        if (n == 0)
                return;
        fprintf(f, "%s:\n", name);
        fwrite(json_string_value(text), 1, n, f);
        if (json_string_value(text)[n - 1] != '\n')
                fputc('\n', f);
}

static json_t *
readable_text(const struct run_result *r, const struct mcp_limits *limits, uint64_t timeout_ms, json_t *out,
              json_t *err, const char *image_note)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_t *value = clipped_cstring(r->value), *tb = clipped_cstring(r->exc_traceback);

        if (!f) {
                json_decref(value);
                json_decref(tb);
                return NULL;
        }
        write_headline(f, r, limits, timeout_ms);
        write_section(f, "stdout", out);
        write_section(f, "stderr", err);
        if (json_is_string(value)) {
                /* A bare value reads best alone, as the interpreter shows it. */
                if (json_string_length(out) + json_string_length(err) > 0)
                        fputs("value: ", f);
                fprintf(f, "%s\n", json_string_value(value));
        }
        if (r->has_exception && json_is_string(tb))
                fputs(json_string_value(tb), f);
        if (image_note)
                fprintf(f, "%s%s", ftell(f) > 0 ? "\n" : "", image_note);
        if (ftell(f) == 0)
                fputs("(no output)\n", f);
        fclose(f);
        json_decref(value);
        json_decref(tb);
        /* Drop the last newline: a text block is not a file. */
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        return clipped_string(buf, len, SIZE_MAX, NULL);
}

/* Image blocks within the per-image limit and the budget (base64 bytes); a
 * note for the rest. */
static json_t *
image_blocks(const struct run_result *r, const struct mcp_limits *limits, uint64_t budget,
             uint64_t *ret_omitted, char **ret_note)
{
        json_t *blocks = json_array();
        uint64_t used = 0, omitted = r->images_omitted;

        for (size_t i = 0; blocks && i < r->n_images; i++) {
                const struct run_image *img = &r->images[i];
                uint64_t encoded = ((uint64_t) img->size + 2) / 3 * 4;
                _cleanup_free_ char *b64 = NULL;
                size_t len;

                if (img->size > limits->max_image_bytes || used + encoded > budget ||
                    base64_encode(img->data, img->size, &b64, &len) < 0) {
                        omitted++;
                        continue;
                }
                used += encoded;
                json_array_append_new(blocks, json_pack("{s:s, s:s, s:s}", "type", "image", "data", b64,
                                                        "mimeType", img->mime ?: "image/png"));
        }
        *ret_omitted = omitted;
        *ret_note = NULL;
        if (omitted > 0 &&
            asprintf(ret_note,
                     "%" PRIu64 " figure(s) left out: the service returns a limited number of figures, an "
                     "image may be at most %" PRIu64 " KiB, and a result carries at most %" PRIu64
                     " KiB of images (base64) beside its text. Close figures you do not need (plt.close()), "
                     "or save them smaller (lower dpi).\n",
                     omitted, limits->max_image_bytes >> 10,
                     MIN(budget, limits->image_budget_bytes) >> 10) < 0)
                *ret_note = NULL;
        return blocks;
}

/* The result from its parts; images may be NULL (none). */
static json_t *
assemble(const struct run_result *r, const struct mcp_limits *limits, uint64_t timeout_ms,
         const struct mcp_version *v, const struct texts *t, json_t *images, uint64_t omitted,
         const char *note)
{
        json_t *content = json_array(), *result, *sc;
        char *dump;

        if (!content)
                return NULL;
        json_array_append_new(content,
                              json_pack("{s:s, s:o}", "type", "text", "text",
                                        readable_text(r, limits, timeout_ms, t->out, t->err, note)));
        if (images)
                json_array_extend(content, images);
        result = json_pack("{s:o, s:b}", "content", content, "isError", r->status != RUN_OK);
        if (!result || !(v->features & MCP_F_STRUCTURED))
                return result;
        sc = structured(r, t, json_array_size(images), omitted);
        dump = sc ? json_dumps(sc, JSONRPC_DUMP_FLAGS) : NULL;
        /* The specification advises the JSON also as text, for clients that
         * read only content. */
        if (dump)
                json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", dump));
        free(dump);
        json_object_set_new(result, "structuredContent", sc);
        return result;
}

static size_t
serialised_size(const json_t *v)
{
        char *dump = v ? json_dumps(v, JSONRPC_DUMP_FLAGS) : NULL;
        size_t n = dump ? strlen(dump) : MCP_RESULT_MAX;

        free(dump);
        return n;
}

json_t *
mcp_run_result(const struct run_result *r, const struct mcp_limits *limits, uint64_t timeout_ms,
               const struct mcp_version *v)
{
        _cleanup_free_ char *note = NULL;
        struct texts t = {
                .out_truncated = r->out_truncated || capbuf_truncated(&r->out),
                .err_truncated = r->err_truncated || capbuf_truncated(&r->err),
        };
        json_t *images = NULL, *result = NULL, *bare;
        uint64_t omitted, budget;
        size_t size;

        t.out = stream_text(&r->out, &t.out_truncated);
        t.err = stream_text(&r->err, &t.err_truncated);
        if (!t.out || !t.err)
                goto done;
        /* The text first: the images get what is left of the size bound. The
         * text alone always fits (its caps see to that), so without figures
         * there is nothing to measure. */
        budget = MCP_RESULT_MAX;
        if (r->n_images > 0) {
                bare = assemble(r, limits, timeout_ms, v, &t, NULL, r->images_omitted + r->n_images, NULL);
                size = serialised_size(bare);
                json_decref(bare);
                budget = size + MCP_NOTE_SLACK < MCP_RESULT_MAX ? MCP_RESULT_MAX - size - MCP_NOTE_SLACK : 0;
        }
        images = image_blocks(r, limits, MIN(budget, limits->image_budget_bytes), &omitted, &note);
        if (images)
                result = assemble(r, limits, timeout_ms, v, &t, images, omitted, note);
done:
        json_decref(images);
        json_decref(t.out);
        json_decref(t.err);
        return result;
}
