/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the hostile-input path of src/proto: bytes from a peer
 * go through the frame reader in chunks of arbitrary sizes; every popped frame
 * is validated; a frame the validator accepts must unpack with msgpack-c,
 * must survive a repack that validates again, and is walked with the getters.
 *
 * Input layout: byte 0 picks max_frame, byte 1 seeds the chunk sizes, the
 * rest is the stream. Abort (a finding) on any broken invariant:
 *  - validator accepts but msgpack-c refuses (the two disagree);
 *  - the unpacked object is deeper or larger than the validator allowed;
 *  - the reader hands out a frame larger than max_frame or of length 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "macro.h"
#include "msg.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ELEMENTS ((size_t) 1 << 20)

static void
fuzz_fail(const char *what)
{
        fprintf(stderr, "fuzz-frame: %s\n", what);
        abort();
}

/* Walk an unpacked object; returns the number of objects, and checks depth. */
static size_t
walk_object(const msgpack_object *o, unsigned depth)
{
        size_t n = 1;

        /* depth is this object's nesting level if it is a container. */
        if ((o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP) &&
            depth > PROTO_MAX_DEPTH_DEFAULT)
                fuzz_fail("unpacked object deeper than the validator allows");
        switch (o->type) {
        case MSGPACK_OBJECT_ARRAY:
                for (uint32_t i = 0; i < o->via.array.size; i++)
                        n += walk_object(&o->via.array.ptr[i], depth + 1);
                break;
        case MSGPACK_OBJECT_MAP:
                for (uint32_t i = 0; i < o->via.map.size; i++) {
                        if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
                                fuzz_fail("non-str key survived validation");
                        n += walk_object(&o->via.map.ptr[i].key, depth + 1);
                        n += walk_object(&o->via.map.ptr[i].val, depth + 1);
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

/* Exercise every getter on the keys a request or response carries. */
static void
probe_getters(const msgpack_object *map)
{
        static const char *const keys[] = {"id", "method", "params", "code", "stream", "data", "result", ""};
        const msgpack_object *o;
        const char *s;
        size_t n;
        uint64_t u;
        bool b;
        double d;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                (void) proto_map_get_str(map, keys[i], &s, &n);
                (void) proto_map_get_uint(map, keys[i], &u);
                (void) proto_map_get_bool(map, keys[i], &b);
                (void) proto_map_get_bytes(map, keys[i], &s, &n);
                (void) proto_map_get_double(map, keys[i], &d);
                (void) proto_map_get_array(map, keys[i], &o);
                if (proto_map_get_map(map, keys[i], &o) >= 0)
                        probe_getters(o); /* depth bounded by the validator */
        }
}

static void
repack(const msgpack_object *obj, msgpack_sbuffer *sb)
{
        msgpack_packer pk;

        msgpack_sbuffer_init(sb);
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        if (msgpack_pack_object(&pk, *obj) < 0)
                fuzz_fail("repack failed");
}

/* Repacking what msgpack-c unpacked must give a frame we accept again, and
 * packing is then a fixed point (compared as bytes: NaN != NaN). */
static void
check_repack(const msgpack_object *obj)
{
        msgpack_sbuffer once, twice;
        msgpack_unpacked again;

        repack(obj, &once);
        if (proto_validate_map(once.data, once.size, NULL, NULL) < 0)
                fuzz_fail("repacked frame fails validation");
        if (proto_unpack(once.data, once.size, &again) < 0)
                fuzz_fail("repacked frame fails to unpack");
        repack(&again.data, &twice);
        if (once.size != twice.size || memcmp(once.data, twice.data, once.size) != 0)
                fuzz_fail("repack is not a fixed point");
        msgpack_unpacked_destroy(&again);
        msgpack_sbuffer_destroy(&twice);
        msgpack_sbuffer_destroy(&once);
}

static void
check_frame(const void *p, size_t n, uint32_t max_frame)
{
        msgpack_unpacked u;
        const char *why = NULL;

        if (n == 0 || n > max_frame)
                fuzz_fail("reader popped a frame outside 1..max_frame");
        if (proto_validate_map(p, n, NULL, &why) < 0) {
                if (!why)
                        fuzz_fail("rejection without a reason");
                return;
        }
        if (proto_unpack(p, n, &u) < 0)
                fuzz_fail("validator accepted a frame msgpack-c refuses");
        if (walk_object(&u.data, 1) > FUZZ_MAX_ELEMENTS)
                fuzz_fail("more objects than the validator allows");
        probe_getters(&u.data);
        check_repack(&u.data);
        msgpack_unpacked_destroy(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint32_t max_frames[] = {1, 4, 16, 255, 4096, PROTO_FRAME_MAX_DEFAULT};
        struct proto_frame_reader *r;
        uint32_t max_frame, seed;
        size_t off = 2;

        if (size < 2)
                return 0;
        max_frame = max_frames[data[0] % ELEMENTSOF(max_frames)];
        seed = data[1] * 2654435761u + 1;
        if (proto_frame_reader_new(max_frame, &r) < 0)
                return 0;

        while (off < size) {
                const void *p;
                size_t n, chunk;

                /* xorshift: a cheap, deterministic sequence of chunk sizes from
                 * 1 byte up to 256, so splits land inside headers and bodies. */
                seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
                chunk = MIN((size_t) (seed % 256) + 1, size - off);
                if (proto_frame_reader_feed(r, data + off, chunk) < 0)
                        break;
                off += chunk;
                while (proto_frame_reader_pop(r, &p, &n) == 1)
                        check_frame(p, n, max_frame);
        }
        (void) proto_frame_reader_pending(r);
        proto_frame_reader_free(r);
        return 0;
}
