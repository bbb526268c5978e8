/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The run result model: status names and clean-up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "msg.h"
#include "run.h"

static const char *const status_names[_RUN_STATUS_MAX] = {
        [RUN_OK] = "ok",           [RUN_EXCEPTION] = "exception", [RUN_TIMEOUT] = "timeout",
        [RUN_MEMORY] = "memory",   [RUN_KILLED] = "killed",       [RUN_CANCELLED] = "cancelled",
        [RUN_CRASHED] = "crashed",
};

const char *
run_status_to_string(enum run_status s)
{
        return (size_t) s < ELEMENTSOF(status_names) ? status_names[s] : NULL;
}

int
run_status_from_string(const char *s, size_t len, enum run_status *ret)
{
        for (size_t i = 0; i < ELEMENTSOF(status_names); i++)
                if (strlen(status_names[i]) == len && memcmp(status_names[i], s, len) == 0) {
                        *ret = (enum run_status) i;
                        return 0;
                }
        return -EINVAL;
}

void
run_result_done(struct run_result *r)
{
        capbuf_done(&r->out);
        capbuf_done(&r->err);
        free(r->value);
        free(r->exc_type);
        free(r->exc_message);
        free(r->exc_traceback);
        for (size_t i = 0; i < r->n_images; i++) {
                free(r->images[i].mime);
                free(r->images[i].data);
        }
        free(r->images);
        free(r->detail);
        memset(r, 0, sizeof *r);
}

static void
pack_capbuf(msgpack_packer *pk, const char *key, const struct capbuf *b, bool truncated)
{
        char *flat = NULL;
        size_t len = 0;
        char tkey[32];

        proto_pack_str(pk, key);
        if (capbuf_flatten(b, &flat, &len) < 0)
                proto_pack_bin(pk, "", 0);
        else
                proto_pack_bin(pk, flat, len);
        free(flat);
        (void) snprintf(tkey, sizeof tkey, "%s_truncated", key);
        proto_pack_key_bool(pk, tkey, truncated || capbuf_truncated(b));
        /* Extension: how much the code wrote, so a client can say how much it missed. */
        (void) snprintf(tkey, sizeof tkey, "%s_bytes", key);
        proto_pack_key_uint(pk, tkey, b->total);
}

int
run_result_pack(msgpack_packer *pk, const struct run_result *r)
{
        msgpack_pack_map(pk, 16);
        proto_pack_key_str(pk, "status", run_status_to_string(r->status));
        pack_capbuf(pk, "stdout", &r->out, r->out_truncated);
        pack_capbuf(pk, "stderr", &r->err, r->err_truncated);
        proto_pack_key_str(pk, "value", r->value);
        proto_pack_str(pk, "exception");
        if (r->has_exception) {
                msgpack_pack_map(pk, 3);
                proto_pack_key_str(pk, "type", r->exc_type);
                proto_pack_key_str(pk, "message", r->exc_message);
                proto_pack_key_str(pk, "traceback", r->exc_traceback);
        } else
                msgpack_pack_nil(pk);
        proto_pack_str(pk, "images");
        msgpack_pack_array(pk, r->n_images);
        for (size_t i = 0; i < r->n_images; i++) {
                msgpack_pack_map(pk, 2);
                proto_pack_key_str(pk, "mime", r->images[i].mime);
                proto_pack_key_bin(pk, "data", r->images[i].data, r->images[i].size);
        }
        proto_pack_key_uint(pk, "images_omitted", r->images_omitted);
        proto_pack_key_str(pk, "detail", r->detail);
        proto_pack_key_double(pk, "wall_ms", r->wall_ms);
        proto_pack_key_double(pk, "cpu_ms", r->cpu_ms);
        proto_pack_key_uint(pk, "max_rss_kb", r->max_rss_kb);
        proto_pack_str(pk, "limits");
        msgpack_pack_map(pk, 3);
        proto_pack_key_uint(pk, "memory_mb", r->limits.memory_mb);
        proto_pack_key_uint(pk, "processes", r->limits.processes);
        proto_pack_key_double(pk, "cpus", r->limits.cpus);
        return 0;
}

static char *
opt_str(const msgpack_object *m, const char *key)
{
        const char *s;
        size_t len;

        return proto_map_get_str(m, key, &s, &len) == 0 ? strndup(s, len) : NULL;
}

static int
unpack_output(const msgpack_object *m, const char *key, struct capbuf *b, bool *ret_truncated,
              uint64_t *ret_total)
{
        const char *data;
        size_t len;
        char tkey[32];
        bool truncated = false;

        if (proto_map_get_bytes(m, key, &data, &len) < 0)
                return -EBADMSG;
        (void) snprintf(tkey, sizeof tkey, "%s_truncated", key);
        (void) proto_map_get_bool(m, tkey, &truncated);
        *ret_truncated = truncated;
        (void) snprintf(tkey, sizeof tkey, "%s_bytes", key);
        (void) proto_map_get_uint(m, tkey, ret_total);
        return capbuf_append(b, data, len);
}

int
run_result_unpack(const msgpack_object *m, struct run_result *r)
{
        const msgpack_object *exc, *imgs, *lim;
        const char *status;
        size_t len;

        if (proto_map_get_str(m, "status", &status, &len) < 0 ||
            run_status_from_string(status, len, &r->status) < 0)
                return -EBADMSG;
        if (unpack_output(m, "stdout", &r->out, &r->out_truncated, &r->out_total) < 0 ||
            unpack_output(m, "stderr", &r->err, &r->err_truncated, &r->err_total) < 0)
                return -EBADMSG;
        r->value = opt_str(m, "value");
        r->detail = opt_str(m, "detail");
        if (proto_map_get_map(m, "exception", &exc) == 0) {
                r->has_exception = true;
                r->exc_type = opt_str(exc, "type");
                r->exc_message = opt_str(exc, "message");
                r->exc_traceback = opt_str(exc, "traceback");
                if (!r->exc_type || !r->exc_message || !r->exc_traceback)
                        return -EBADMSG;
        }
        if (proto_map_get_array(m, "images", &imgs) == 0 && imgs->via.array.size > 0) {
                r->images = calloc(imgs->via.array.size, sizeof *r->images);
                if (!r->images)
                        return -ENOMEM;
                for (uint32_t i = 0; i < imgs->via.array.size; i++) {
                        const char *data;
                        if (proto_map_get_bytes(&imgs->via.array.ptr[i], "data", &data, &len) < 0)
                                return -EBADMSG;
                        r->images[i].mime = opt_str(&imgs->via.array.ptr[i], "mime");
                        r->images[i].data = malloc(len + 1);
                        if (!r->images[i].data)
                                return -ENOMEM;
                        memcpy(r->images[i].data, data, len);
                        r->images[i].size = len;
                        r->n_images++;
                }
        }
        (void) proto_map_get_uint(m, "images_omitted", &r->images_omitted);
        (void) proto_map_get_double(m, "wall_ms", &r->wall_ms);
        (void) proto_map_get_double(m, "cpu_ms", &r->cpu_ms);
        (void) proto_map_get_uint(m, "max_rss_kb", &r->max_rss_kb);
        if (proto_map_get_map(m, "limits", &lim) == 0) {
                (void) proto_map_get_uint(lim, "memory_mb", &r->limits.memory_mb);
                (void) proto_map_get_uint(lim, "processes", &r->limits.processes);
                (void) proto_map_get_double(lim, "cpus", &r->limits.cpus);
        }
        return 0;
}
