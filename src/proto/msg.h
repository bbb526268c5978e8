/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed access to validated msgpack maps and small packing helpers. Call only
 * on data that proto_validate_map() accepted.
 */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes of PROTOCOL.md and docs/PROTOCOL-NOTES.md, for the server that
 * sends them and the faces that read them. */
enum {
        RPC_PARSE_ERROR = -32700,
        RPC_INVALID_REQUEST = -32600,
        RPC_METHOD_NOT_FOUND = -32601,
        RPC_INVALID_PARAMS = -32602,
        RPC_INTERNAL_ERROR = -32603,
        RPC_OVERLOADED = -32000,
        RPC_SHUTTING_DOWN = -32001,
        RPC_NO_SUCH_SESSION = -32002,
        RPC_NO_SUCH_ENVIRONMENT = -32003,
        RPC_TOO_MANY_REQUESTS = -32004,
};

/* Unpack validated data into a zone-backed object (caller destroys the result).
 * str and bin bodies are not copied: the object points into `data`, so it is
 * valid only while that buffer is (for a frame reader: until its next
 * feed, fill or pop). */
int proto_unpack(const void *data, size_t size, msgpack_unpacked *ret);

/* Lookup by key in a MAP object; NULL if absent or obj is not a map. */
const msgpack_object *proto_map_get(const msgpack_object *map, const char *key);
/* Typed getters: 0 on success, -ENOENT if absent (or nil, where noted), -EBADMSG if of the wrong type. */
int proto_map_get_str(const msgpack_object *map, const char *key, const char **ret, size_t *ret_len);
int proto_map_get_uint(const msgpack_object *map, const char *key, uint64_t *ret);
int proto_map_get_bool(const msgpack_object *map, const char *key, bool *ret);
/* bin or str: both are accepted where PROTOCOL.md says "bin or str". */
int proto_map_get_bytes(const msgpack_object *map, const char *key, const char **ret, size_t *ret_len);
/* Returns a map object; -ENOENT if absent or nil. */
int proto_map_get_map(const msgpack_object *map, const char *key, const msgpack_object **ret);
int proto_map_get_array(const msgpack_object *map, const char *key, const msgpack_object **ret);
/* Returns a float (also accepts ints). */
int proto_map_get_double(const msgpack_object *map, const char *key, double *ret);

/* Packing helpers on msgpack_packer; all return 0 or -ENOMEM. */
int proto_pack_str(msgpack_packer *pk, const char *s);
int proto_pack_strn(msgpack_packer *pk, const char *s, size_t n);
int proto_pack_bin(msgpack_packer *pk, const void *p, size_t n);
int proto_pack_key_str(msgpack_packer *pk, const char *key, const char *value); /* NULL value packs nil */
int proto_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t value);
int proto_pack_key_bool(msgpack_packer *pk, const char *key, bool value);
int proto_pack_key_double(msgpack_packer *pk, const char *key, double value);
int proto_pack_key_bin(msgpack_packer *pk, const char *key, const void *p, size_t n);
/* The error response of PROTOCOL.md: {id, error: {code, message}}. */
int proto_pack_error(msgpack_packer *pk, uint64_t id, int code, const char *message);
