/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON form of a run result (`vivarium run --json`). Bytes the code
 * printed are decoded as UTF-8 with U+FFFD for every invalid sequence, so the
 * output is always valid JSON whatever the code wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "macro.h"
#include "text-util.h"

void
json_write_string(FILE *f, const char *str, size_t n)
{
        const unsigned char *s = (const unsigned char *) str;

        fputc('"', f);
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence_length(str + i, n - i);
                if (len == 0) {
                        fputs("\\ufffd", f);
                        i++;
                } else if (len > 1) {
                        fwrite(s + i, 1, len, f);
                        i += len;
                } else {
                        unsigned char c = s[i++];
                        if (c == '"' || c == '\\')
                                fprintf(f, "\\%c", c);
                        else if (c == '\n')
                                fputs("\\n", f);
                        else if (c == '\t')
                                fputs("\\t", f);
                        else if (c < 0x20 || c == 0x7f)
                                fprintf(f, "\\u%04x", c);
                        else
                                fputc(c, f);
                }
        }
        fputc('"', f);
}

void
json_write_base64(FILE *f, const void *data, size_t n)
{
        _cleanup_free_ char *b64 = NULL;
        size_t len;

        fputc('"', f);
        if (base64_encode(data, n, &b64, &len) >= 0)
                fwrite(b64, 1, len, f);
        fputc('"', f);
}

static void
write_key_cstr(FILE *f, const char *key, const char *value)
{
        fprintf(f, "\"%s\":", key);
        if (value)
                json_write_string(f, value, strlen(value));
        else
                fputs("null", f);
}

static void
write_capbuf(FILE *f, const char *key, const struct capbuf *b, bool truncated)
{
        _cleanup_free_ char *flat = NULL;
        size_t len = 0;

        fprintf(f, "\"%s\":", key);
        if (capbuf_flatten(b, &flat, &len) < 0)
                fputs("\"\"", f);
        else
                json_write_string(f, flat, len);
        fprintf(f, ",\"%s_truncated\":%s,", key, truncated || capbuf_truncated(b) ? "true" : "false");
}

void
cli_print_result_json(FILE *f, const struct run_result *r)
{
        fprintf(f, "{\"status\":\"%s\",", run_status_to_string(r->status));
        write_capbuf(f, "stdout", &r->out, r->out_truncated);
        write_capbuf(f, "stderr", &r->err, r->err_truncated);
        write_key_cstr(f, "value", r->value);
        fputs(",\"exception\":", f);
        if (r->has_exception) {
                fputc('{', f);
                write_key_cstr(f, "type", r->exc_type);
                fputc(',', f);
                write_key_cstr(f, "message", r->exc_message);
                fputc(',', f);
                write_key_cstr(f, "traceback", r->exc_traceback);
                fputc('}', f);
        } else
                fputs("null", f);
        fputs(",\"images\":[", f);
        for (size_t i = 0; i < r->n_images; i++) {
                fprintf(f, "%s{\"mime\":\"%s\",\"data\":", i ? "," : "", r->images[i].mime);
                json_write_base64(f, r->images[i].data, r->images[i].size);
                fputc('}', f);
        }
        fprintf(f, "],\"images_omitted\":%llu,", (unsigned long long) r->images_omitted);
        write_key_cstr(f, "detail", r->detail);
        fprintf(f, ",\"wall_ms\":%.3f,\"cpu_ms\":%.3f,\"max_rss_kb\":%llu", r->wall_ms, r->cpu_ms,
                (unsigned long long) r->max_rss_kb);
        fprintf(f, ",\"limits\":{\"memory_mb\":%llu,\"processes\":%llu,\"cpus\":%g}}\n",
                (unsigned long long) r->limits.memory_mb, (unsigned long long) r->limits.processes,
                r->limits.cpus);
}

void
json_write_msgpack(FILE *f, const msgpack_object *o)
{
        switch (o->type) {
        case MSGPACK_OBJECT_NIL:
                fputs("null", f);
                break;
        case MSGPACK_OBJECT_BOOLEAN:
                fputs(o->via.boolean ? "true" : "false", f);
                break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
                fprintf(f, "%llu", (unsigned long long) o->via.u64);
                break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
                fprintf(f, "%lld", (long long) o->via.i64);
                break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
                fprintf(f, "%.15g", o->via.f64);
                break;
        case MSGPACK_OBJECT_STR:
                json_write_string(f, o->via.str.ptr, o->via.str.size);
                break;
        case MSGPACK_OBJECT_BIN:
                json_write_base64(f, o->via.bin.ptr, o->via.bin.size);
                break;
        case MSGPACK_OBJECT_ARRAY:
                fputc('[', f);
                for (uint32_t i = 0; i < o->via.array.size; i++) {
                        if (i)
                                fputc(',', f);
                        json_write_msgpack(f, &o->via.array.ptr[i]);
                }
                fputc(']', f);
                break;
        case MSGPACK_OBJECT_MAP:
                fputc('{', f);
                for (uint32_t i = 0; i < o->via.map.size; i++) {
                        const msgpack_object_kv *kv = &o->via.map.ptr[i];
                        if (i)
                                fputc(',', f);
                        if (kv->key.type == MSGPACK_OBJECT_STR)
                                json_write_string(f, kv->key.via.str.ptr, kv->key.via.str.size);
                        else
                                fputs("\"\"", f);
                        fputc(':', f);
                        json_write_msgpack(f, &kv->val);
                }
                fputc('}', f);
                break;
        default:
                fputs("null", f);
        }
}
