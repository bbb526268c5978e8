/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed access to validated msgpack maps and packing helpers (see msg.h).
 * Trust zone: the dispatcher and the CLI. Input reaches proto_unpack() only
 * after proto_validate_map() accepted it, so msgpack-c never allocates for a
 * declared size that the bytes do not back.
 *
 * msgpack_unpack_next() does not copy str/bin bodies: the unpacked object
 * points into the caller's buffer, so that buffer (for a frame, until the
 * next feed/fill/pop of its reader) must outlive the object.
 *
 * Getters write their ret_* parameters only on success, and never hand out
 * the NULL pointer msgpack-c stores for an empty str or bin: callers may pass
 * what they get to memcpy() or strndup() without a length check.
 */
#include <errno.h>
#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE */
#include <string.h>

#include "macro.h"
#include "msg.h"
#include "validate.h"

/* msgpack-c refuses nesting beyond its embedded stack; a frame the validator
 * accepts with default limits must never hit that. The header states the
 * default the library was built with; test-proto checks the library itself. */
_Static_assert(PROTO_MAX_DEPTH_DEFAULT <= MSGPACK_EMBED_STACK_SIZE,
               "validator depth exceeds msgpack-c's stack");

int
proto_unpack(const void *data, size_t size, msgpack_unpacked *ret)
{
        msgpack_unpacked u;
        msgpack_unpack_return k;
        size_t off = 0;

        if (size == 0)
                return -EBADMSG;
        msgpack_unpacked_init(&u);
        k = msgpack_unpack_next(&u, data, size, &off);
        if (k == MSGPACK_UNPACK_SUCCESS && off == size && u.data.type == MSGPACK_OBJECT_MAP) {
                *ret = u;
                return 0;
        }
        msgpack_unpacked_destroy(&u);
        return k == MSGPACK_UNPACK_NOMEM_ERROR ? -ENOMEM : -EBADMSG;
}

const msgpack_object *
proto_map_get(const msgpack_object *map, const char *key)
{
        size_t len;

        if (!map || map->type != MSGPACK_OBJECT_MAP || !key)
                return NULL;
        len = strlen(key);
        /* First match wins; keys are few and maps small, so a scan is fine. */
        for (uint32_t i = 0; i < map->via.map.size; i++) {
                const msgpack_object_kv *kv = &map->via.map.ptr[i];

                /* An empty str unpacks with a NULL ptr: memcmp must not see it. */
                if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
                    (len == 0 || memcmp(kv->key.via.str.ptr, key, len) == 0))
                        return &kv->val;
        }
        return NULL;
}

/* Look key up and require one of two types (pass the same one twice for one). */
static int
map_get_typed(const msgpack_object *map, const char *key, msgpack_object_type a, msgpack_object_type b,
              const msgpack_object **ret)
{
        const msgpack_object *o = proto_map_get(map, key);

        if (!o)
                return -ENOENT;
        if (o->type != a && o->type != b)
                return -EBADMSG;
        *ret = o;
        return 0;
}

int
proto_map_get_str(const msgpack_object *map, const char *key, const char **ret, size_t *ret_len)
{
        const msgpack_object *o;
        int r = map_get_typed(map, key, MSGPACK_OBJECT_STR, MSGPACK_OBJECT_STR, &o);

        if (r < 0)
                return r;
        *ret = o->via.str.ptr ?: "";
        if (ret_len)
                *ret_len = o->via.str.size;
        return 0;
}

int
proto_map_get_uint(const msgpack_object *map, const char *key, uint64_t *ret)
{
        const msgpack_object *o;
        /* msgpack-c files every non-negative integer, whatever its encoding, here. */
        int r = map_get_typed(map, key, MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_POSITIVE_INTEGER,
                              &o);

        if (r < 0)
                return r;
        *ret = o->via.u64;
        return 0;
}

int
proto_map_get_bool(const msgpack_object *map, const char *key, bool *ret)
{
        const msgpack_object *o;
        int r = map_get_typed(map, key, MSGPACK_OBJECT_BOOLEAN, MSGPACK_OBJECT_BOOLEAN, &o);

        if (r < 0)
                return r;
        *ret = o->via.boolean;
        return 0;
}

int
proto_map_get_bytes(const msgpack_object *map, const char *key, const char **ret, size_t *ret_len)
{
        const msgpack_object *o;
        int r = map_get_typed(map, key, MSGPACK_OBJECT_BIN, MSGPACK_OBJECT_STR, &o);

        if (r < 0)
                return r;
        /* str and bin share a layout in msgpack_object, but do not rely on it. */
        if (o->type == MSGPACK_OBJECT_BIN) {
                *ret = o->via.bin.ptr ?: "";
                if (ret_len)
                        *ret_len = o->via.bin.size;
        } else {
                *ret = o->via.str.ptr ?: "";
                if (ret_len)
                        *ret_len = o->via.str.size;
        }
        return 0;
}

int
proto_map_get_map(const msgpack_object *map, const char *key, const msgpack_object **ret)
{
        const msgpack_object *o = proto_map_get(map, key);

        if (!o || o->type == MSGPACK_OBJECT_NIL)
                return -ENOENT;
        if (o->type != MSGPACK_OBJECT_MAP)
                return -EBADMSG;
        *ret = o;
        return 0;
}

int
proto_map_get_array(const msgpack_object *map, const char *key, const msgpack_object **ret)
{
        return map_get_typed(map, key, MSGPACK_OBJECT_ARRAY, MSGPACK_OBJECT_ARRAY, ret);
}

int
proto_map_get_double(const msgpack_object *map, const char *key, double *ret)
{
        const msgpack_object *o = proto_map_get(map, key);

        if (!o)
                return -ENOENT;
        switch (o->type) {
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
                *ret = o->via.f64; /* msgpack-c widens float32 into f64 */
                return 0;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
                *ret = (double) o->via.u64;
                return 0;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
                *ret = (double) o->via.i64;
                return 0;
        default:
                return -EBADMSG;
        }
}

/* msgpack-c's packers return -1 only when the writer (an sbuffer) cannot grow. */
static int
pack_result(int k)
{
        return k < 0 ? -ENOMEM : 0;
}

int
proto_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
        /* msgpack-c would silently truncate the 32-bit length. */
        if (n > UINT32_MAX)
                return -EMSGSIZE;
        if (msgpack_pack_str(pk, n) < 0)
                return -ENOMEM;
        return n == 0 ? 0 : pack_result(msgpack_pack_str_body(pk, s, n));
}

int
proto_pack_str(msgpack_packer *pk, const char *s)
{
        if (!s)
                return pack_result(msgpack_pack_nil(pk));
        return proto_pack_strn(pk, s, strlen(s));
}

int
proto_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
        if (n > UINT32_MAX)
                return -EMSGSIZE;
        if (msgpack_pack_bin(pk, n) < 0)
                return -ENOMEM;
        return n == 0 ? 0 : pack_result(msgpack_pack_bin_body(pk, p, n));
}

int
proto_pack_key_str(msgpack_packer *pk, const char *key, const char *value)
{
        int r = proto_pack_str(pk, key);

        return r < 0 ? r : proto_pack_str(pk, value);
}

int
proto_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t value)
{
        int r = proto_pack_str(pk, key);

        return r < 0 ? r : pack_result(msgpack_pack_uint64(pk, value));
}

int
proto_pack_key_bool(msgpack_packer *pk, const char *key, bool value)
{
        int r = proto_pack_str(pk, key);

        if (r < 0)
                return r;
        return pack_result(value ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

int
proto_pack_key_double(msgpack_packer *pk, const char *key, double value)
{
        int r = proto_pack_str(pk, key);

        return r < 0 ? r : pack_result(msgpack_pack_double(pk, value));
}

int
proto_pack_key_bin(msgpack_packer *pk, const char *key, const void *p, size_t n)
{
        int r = proto_pack_str(pk, key);

        return r < 0 ? r : proto_pack_bin(pk, p, n);
}

int
proto_pack_error(msgpack_packer *pk, uint64_t id, int code, const char *message)
{
        int r = msgpack_pack_map(pk, 2);

        if (r >= 0)
                r = proto_pack_key_uint(pk, "id", id);
        if (r >= 0)
                r = proto_pack_str(pk, "error");
        if (r >= 0)
                r = msgpack_pack_map(pk, 2);
        if (r >= 0)
                r = proto_pack_str(pk, "code");
        if (r >= 0)
                r = msgpack_pack_int(pk, code);
        if (r >= 0)
                r = proto_pack_key_str(pk, "message", message);
        return r < 0 ? -ENOMEM : 0;
}
