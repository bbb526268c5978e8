/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for proto_validate_map() alone: the whole input is one
 * frame body, as the frame reader would hand it out. It is validated with the
 * default limits, with tight ones (the limits a caller such as a worker
 * channel may choose) and with a max_depth above the validator's inline stack
 * (so that its heap stack is exercised too). Whatever the default or tight
 * limits accept is unpacked with proto_unpack() and walked with the typed
 * getters of msg.h, on every map in the object.
 *
 * Abort (a finding) on any broken invariant:
 *  - the validator accepts but msgpack-c refuses (the two disagree);
 *  - a rejection without a reason, or with a code validate.h does not list;
 *  - the verdict is not monotonic in the limits: tighter limits accept what
 *    looser ones reject, or reject a structurally valid frame for any
 *    reason but -ELOOP or -E2BIG;
 *  - the unpacked object is deeper or larger than the limits it passed;
 *  - a getter disagrees with proto_map_get() about the type, writes its
 *    ret_* parameters on failure, hands out NULL, or points outside the
 *    input (str and bin bodies are not copied: they must lie within it).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "msg.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TIGHT_DEPTH 4u
#define TIGHT_ELEMENTS 64u
/* Above the validator's inline stack of 64 levels; never unpacked, since
 * msgpack-c refuses nesting beyond its own stack of 32. */
#define WIDE_DEPTH 1000u
/* The validator's default element limit (validate.c does not export it). */
#define DEFAULT_ELEMENTS ((size_t) 1 << 20)

struct input {
        const uint8_t *data;
        size_t size;
};

static void
fuzz_fail(const char *what)
{
        fprintf(stderr, "fuzz-validate: %s\n", what);
        abort();
}

static int
validate(const struct input *in, unsigned max_depth, size_t max_elements)
{
        const struct proto_validate_limits limits = {.max_depth = max_depth, .max_elements = max_elements};
        const char *why = NULL;
        int r;

        r = proto_validate_map(in->data, in->size, &limits, &why);
        if (r >= 0)
                return 0;
        if (r != -EBADMSG && r != -EILSEQ && r != -ELOOP && r != -E2BIG)
                fuzz_fail("rejection with a code validate.h does not list");
        if (!why)
                fuzz_fail("rejection without a reason");
        return r;
}

/* A str or bin a getter handed out: never NULL, and inside the input. */
static void
check_body(const struct input *in, const char *p, size_t n)
{
        const uint8_t *u = (const uint8_t *) p;

        if (!p)
                fuzz_fail("getter handed out a NULL body");
        if (n > 0 && (u < in->data || n > in->size || u > in->data + in->size - n))
                fuzz_fail("getter handed out a body outside the input");
}

/* The code a getter must return, given what proto_map_get() found. */
static void
check_code(int r, const msgpack_object *o, bool match, const char *what)
{
        if (r != (match ? 0 : !o ? -ENOENT : -EBADMSG))
                fuzz_fail(what);
}

static void
probe_key_bytes(const struct input *in, const msgpack_object *map, const char *key, const msgpack_object *o)
{
        static const char sentinel[] = "sentinel";
        const char *s = sentinel;
        size_t n = SIZE_MAX;
        int r;

        r = proto_map_get_str(map, key, &s, &n);
        check_code(r, o, o && o->type == MSGPACK_OBJECT_STR, "proto_map_get_str disagrees on the type");
        if (r < 0 && (s != sentinel || n != SIZE_MAX))
                fuzz_fail("proto_map_get_str wrote its output on failure");
        if (r >= 0)
                check_body(in, s, n);

        s = sentinel, n = SIZE_MAX;
        r = proto_map_get_bytes(map, key, &s, &n);
        check_code(r, o, o && (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN),
                   "proto_map_get_bytes disagrees on the type");
        if (r < 0 && (s != sentinel || n != SIZE_MAX))
                fuzz_fail("proto_map_get_bytes wrote its output on failure");
        if (r >= 0)
                check_body(in, s, n);
}

static bool
is_number(msgpack_object_type t)
{
        return t == MSGPACK_OBJECT_FLOAT32 || t == MSGPACK_OBJECT_FLOAT64 ||
               t == MSGPACK_OBJECT_POSITIVE_INTEGER || t == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static void
probe_key_scalars(const msgpack_object *map, const char *key, const msgpack_object *o)
{
        uint64_t u = 42;
        double d = -1.5;
        bool b;
        int r;

        r = proto_map_get_uint(map, key, &u);
        check_code(r, o, o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER,
                   "proto_map_get_uint disagrees on the type");
        if (r < 0 && u != 42)
                fuzz_fail("proto_map_get_uint wrote its output on failure");

        r = proto_map_get_bool(map, key, &b);
        check_code(r, o, o && o->type == MSGPACK_OBJECT_BOOLEAN, "proto_map_get_bool disagrees on the type");

        r = proto_map_get_double(map, key, &d);
        check_code(r, o, o && is_number(o->type), "proto_map_get_double disagrees on the type");
        if (r < 0 && d != -1.5)
                fuzz_fail("proto_map_get_double wrote its output on failure");
}

static void
probe_key_containers(const msgpack_object *map, const char *key, const msgpack_object *o)
{
        const msgpack_object *c = map;
        int r;

        r = proto_map_get_array(map, key, &c);
        check_code(r, o, o && o->type == MSGPACK_OBJECT_ARRAY, "proto_map_get_array disagrees on the type");
        if ((r < 0 && c != map) || (r >= 0 && c != o))
                fuzz_fail("proto_map_get_array output is wrong");

        /* nil counts as absent for a map. */
        c = map;
        r = proto_map_get_map(map, key, &c);
        check_code(r, o && o->type != MSGPACK_OBJECT_NIL ? o : NULL, o && o->type == MSGPACK_OBJECT_MAP,
                   "proto_map_get_map disagrees on the type");
        if ((r < 0 && c != map) || (r >= 0 && c != o))
                fuzz_fail("proto_map_get_map output is wrong");
}

/* The keys of requests and run params (PROTOCOL.md), and the empty key. */
static void
probe_getters(const struct input *in, const msgpack_object *map)
{
        static const char *const keys[] = {"id",    "method",     "params", "code",
                                           "stdin", "timeout_ms", "stream", ""};

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const msgpack_object *o = proto_map_get(map, keys[i]);

                probe_key_bytes(in, map, keys[i], o);
                probe_key_scalars(map, keys[i], o);
                probe_key_containers(map, keys[i], o);
        }
}

/* Walk every object, probing the getters on each map; returns the number of
 * objects (keys included, as the validator counts them). depth is the
 * nesting level a container here would have (the top-level map is 1). */
static size_t
walk_object(const struct input *in, const msgpack_object *o, unsigned depth, unsigned max_depth)
{
        size_t n = 1;

        switch (o->type) {
        case MSGPACK_OBJECT_ARRAY:
                if (depth > max_depth)
                        fuzz_fail("unpacked array deeper than the validator allows");
                for (uint32_t i = 0; i < o->via.array.size; i++)
                        n += walk_object(in, &o->via.array.ptr[i], depth + 1, max_depth);
                break;
        case MSGPACK_OBJECT_MAP:
                if (depth > max_depth)
                        fuzz_fail("unpacked map deeper than the validator allows");
                probe_getters(in, o);
                for (uint32_t i = 0; i < o->via.map.size; i++) {
                        if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
                                fuzz_fail("non-str key survived validation");
                        n += walk_object(in, &o->via.map.ptr[i].key, depth + 1, max_depth);
                        n += walk_object(in, &o->via.map.ptr[i].val, depth + 1, max_depth);
                }
                break;
        case MSGPACK_OBJECT_EXT:
                fuzz_fail("ext survived validation");
                break;
        default:
                break;
        }
        return n;
}

static void
check_accepted(const struct input *in, unsigned max_depth, size_t max_elements)
{
        msgpack_unpacked u;

        if (proto_unpack(in->data, in->size, &u) < 0)
                fuzz_fail("validator accepted a frame msgpack-c refuses");
        if (u.data.type != MSGPACK_OBJECT_MAP)
                fuzz_fail("validator accepted a frame that is not a map");
        if (walk_object(in, &u.data, 1, max_depth) > max_elements)
                fuzz_fail("more objects than the validator allows");
        msgpack_unpacked_destroy(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct input in = {.data = data, .size = size};
        int def, tight, wide;

        def = validate(&in, PROTO_MAX_DEPTH_DEFAULT, DEFAULT_ELEMENTS);
        if (proto_validate_map(data, size, NULL, NULL) != def)
                fuzz_fail("NULL limits are not the defaults");
        tight = validate(&in, TIGHT_DEPTH, TIGHT_ELEMENTS);
        wide = validate(&in, WIDE_DEPTH, DEFAULT_ELEMENTS);

        if ((tight >= 0 && def < 0) || (def >= 0 && wide < 0))
                fuzz_fail("tighter limits accept what looser ones reject");
        if (def >= 0 && tight < 0 && tight != -ELOOP && tight != -E2BIG)
                fuzz_fail("tight limits reject a valid frame for a structural reason");
        if (wide >= 0 && def < 0 && def != -ELOOP)
                fuzz_fail("default limits reject a valid frame for a structural reason");

        if (def >= 0)
                check_accepted(&in, PROTO_MAX_DEPTH_DEFAULT, DEFAULT_ELEMENTS);
        if (tight >= 0)
                check_accepted(&in, TIGHT_DEPTH, TIGHT_ELEMENTS);
        return 0;
}
