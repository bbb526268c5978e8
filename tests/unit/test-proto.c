/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/proto: the frame reader/writer, the msgpack validator and
 * the typed getters. Runs unprivileged; each test is its own process
 * (Criterion forks), so a crash or a runaway allocation fails one test only.
 * The hostile inputs here are the regression list for the fuzzer's findings.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "macro.h"
#include "msg.h"
#include "validate.h"

/* ---- helpers ------------------------------------------------------------- */

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int
validate(const uint8_t *p, size_t n, const char **reason)
{
        const char *unused;

        return proto_validate_map(p, n, NULL, reason ?: &unused);
}

/* Append a frame (header + body) to buf at *len. */
static void
frame_put(uint8_t *buf, size_t *len, const void *body, uint32_t n)
{
        proto_frame_header(n, buf + *len);
        memcpy(buf + *len + PROTO_FRAME_HEADER_SIZE, body, n);
        *len += PROTO_FRAME_HEADER_SIZE + n;
}

struct popped {
        size_t count;
        size_t sizes[8];
        uint8_t data[8][512];
};

static void
pop_all(struct proto_frame_reader *r, struct popped *out)
{
        const void *p;
        size_t n;

        while (proto_frame_reader_pop(r, &p, &n) == 1) {
                cr_assert_lt(out->count, ELEMENTSOF(out->sizes));
                cr_assert_leq(n, sizeof(out->data[0]));
                memcpy(out->data[out->count], p, n);
                out->sizes[out->count++] = n;
        }
}

/* Three frames of distinct sizes and contents, the smallest 1 byte. */
static size_t
sample_stream(uint8_t *buf, uint8_t bodies[3][300], const size_t sizes[3])
{
        size_t len = 0;

        for (size_t i = 0; i < 3; i++) {
                for (size_t k = 0; k < sizes[i]; k++)
                        bodies[i][k] = (uint8_t) (i * 71 + k * 13 + 1);
                frame_put(buf, &len, bodies[i], (uint32_t) sizes[i]);
        }
        return len;
}

static void
check_sample(const struct popped *got, uint8_t bodies[3][300], const size_t sizes[3])
{
        cr_assert_eq(got->count, 3);
        for (size_t i = 0; i < 3; i++) {
                cr_assert_eq(got->sizes[i], sizes[i]);
                cr_assert_arr_eq(got->data[i], bodies[i], sizes[i]);
        }
}

/* ---- frame reader ---------------------------------------------------------- */

Test(frame, header_is_big_endian)
{
        uint8_t h[PROTO_FRAME_HEADER_SIZE];

        proto_frame_header(0x01020304u, h);
        cr_assert_arr_eq(h, ((uint8_t[]){1, 2, 3, 4}), 4);
        proto_frame_header(UINT32_MAX, h);
        cr_assert_arr_eq(h, ((uint8_t[]){0xff, 0xff, 0xff, 0xff}), 4);
}

Test(frame, several_frames_in_one_feed)
{
        static const size_t sizes[3] = {1, 10, 300};
        uint8_t bodies[3][300], buf[1024];
        size_t len = sample_stream(buf, bodies, sizes);
        struct proto_frame_reader *r;
        struct popped got = {};

        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        cr_assert_eq(proto_frame_reader_feed(r, buf, len), 0);
        pop_all(r, &got);
        check_sample(&got, bodies, sizes);
        cr_assert_eq(proto_frame_reader_pending(r), 0);
        proto_frame_reader_free(r);
}

Test(frame, split_at_every_byte_boundary)
{
        static const size_t sizes[3] = {1, 10, 300};
        uint8_t bodies[3][300], buf[1024];
        size_t len = sample_stream(buf, bodies, sizes);

        for (size_t i = 0; i <= len; i++) {
                struct proto_frame_reader *r;
                struct popped got = {};

                cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
                cr_assert_eq(proto_frame_reader_feed(r, buf, i), 0);
                pop_all(r, &got);
                cr_assert_eq(proto_frame_reader_feed(r, buf + i, len - i), 0);
                pop_all(r, &got);
                check_sample(&got, bodies, sizes);
                cr_assert_eq(proto_frame_reader_pending(r), 0);
                proto_frame_reader_free(r);
        }
}

Test(frame, split_at_every_pair_of_boundaries)
{
        static const size_t sizes[3] = {1, 2, 20};
        uint8_t bodies[3][300], buf[1024];
        size_t len = sample_stream(buf, bodies, sizes);

        for (size_t i = 0; i <= len; i++)
                for (size_t j = i; j <= len; j++) {
                        struct proto_frame_reader *r;
                        struct popped got = {};

                        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
                        cr_assert_eq(proto_frame_reader_feed(r, buf, i), 0);
                        pop_all(r, &got);
                        cr_assert_eq(proto_frame_reader_feed(r, buf + i, j - i), 0);
                        pop_all(r, &got);
                        /* Frames end at 5, 11 and 35: anywhere else a frame is cut. */
                        cr_assert_eq(proto_frame_reader_pending(r), j != 0 && j != 5 && j != 11 && j != len);
                        cr_assert_eq(proto_frame_reader_feed(r, buf + j, len - j), 0);
                        pop_all(r, &got);
                        check_sample(&got, bodies, sizes);
                        proto_frame_reader_free(r);
                }
}

Test(frame, byte_at_a_time)
{
        static const size_t sizes[3] = {300, 1, 7};
        uint8_t bodies[3][300], buf[1024];
        size_t len = sample_stream(buf, bodies, sizes);
        struct proto_frame_reader *r;
        struct popped got = {};

        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        for (size_t i = 0; i < len; i++) {
                cr_assert_eq(proto_frame_reader_feed(r, buf + i, 1), 0);
                pop_all(r, &got);
        }
        check_sample(&got, bodies, sizes);
        proto_frame_reader_free(r);
}

Test(frame, length_zero_is_rejected_and_sticky)
{
        struct proto_frame_reader *r;
        const void *p;
        size_t n;

        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        cr_assert_eq(proto_frame_reader_feed(r, BYTES(0, 0)), 0);
        cr_assert_eq(proto_frame_reader_feed(r, BYTES(0, 0)), -EMSGSIZE);
        /* The stream cannot be resynchronised: nothing is accepted any more. */
        cr_assert_eq(proto_frame_reader_feed(r, BYTES(0, 0, 0, 1, 0x80)), -EMSGSIZE);
        cr_assert_eq(proto_frame_reader_pop(r, &p, &n), 0);
        proto_frame_reader_free(r);
}

Test(frame, length_uint32_max_is_rejected)
{
        struct proto_frame_reader *r;

        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        cr_assert_eq(proto_frame_reader_feed(r, BYTES(0xff, 0xff, 0xff, 0xff)), -EMSGSIZE);
        proto_frame_reader_free(r);
}

Test(frame, max_frame_is_inclusive)
{
        static uint8_t body[1000];
        struct proto_frame_reader *r;
        uint8_t h[PROTO_FRAME_HEADER_SIZE];
        const void *p;
        size_t n;

        cr_assert_eq(proto_frame_reader_new(1000, &r), 0);
        proto_frame_header(1000, h);
        cr_assert_eq(proto_frame_reader_feed(r, h, sizeof(h)), 0);
        cr_assert_eq(proto_frame_reader_feed(r, body, sizeof(body)), 0);
        cr_assert_eq(proto_frame_reader_pop(r, &p, &n), 1);
        cr_assert_eq(n, 1000);
        proto_frame_header(1001, h);
        cr_assert_eq(proto_frame_reader_feed(r, h, sizeof(h)), -EMSGSIZE);
        proto_frame_reader_free(r);
}

Test(frame, bad_header_after_good_frame_in_one_feed)
{
        struct proto_frame_reader *r;

        cr_assert_eq(proto_frame_reader_new(16, &r), 0);
        cr_assert_eq(proto_frame_reader_feed(r, BYTES(0, 0, 0, 1, 0x80, 0, 0, 0, 17)), -EMSGSIZE);
        proto_frame_reader_free(r);
}

Test(frame, declared_length_is_not_allocated)
{
        struct proto_frame_reader *r;
        struct mallinfo2 before, after;
        size_t used_before, used_after;
        const void *p;
        size_t n;

        /* Even with the largest possible limit, announcing 4 GiB and sending
         * a few bytes must cost a few bytes. (Under ASan mallinfo2 reports
         * nothing and this degenerates to a smoke test.) */
        cr_assert_eq(proto_frame_reader_new(UINT32_MAX, &r), 0);
        before = mallinfo2();
        cr_assert_eq(proto_frame_reader_feed(r, BYTES(0xff, 0xff, 0xff, 0xff, 1, 2, 3)), 0);
        after = mallinfo2();
        used_before = before.uordblks + before.hblkhd;
        used_after = after.uordblks + after.hblkhd;
        cr_assert_lt(used_after, used_before + 256 * 1024, "grew by %zu bytes", used_after - used_before);
        cr_assert_eq(proto_frame_reader_pop(r, &p, &n), 0);
        cr_assert_eq(proto_frame_reader_pending(r), 1);
        proto_frame_reader_free(r);
}

Test(frame, fill_from_socket)
{
        int sv[2];
        struct proto_frame_reader *r;
        const void *p;
        size_t n;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        cr_assert_eq(proto_frame_reader_fill(r, sv[0]), -EAGAIN);

        cr_assert_eq(proto_frame_write(sv[1], "\x81\xa1x\x01", 4), 0);
        cr_assert_eq(proto_frame_reader_fill(r, sv[0]), 8);
        cr_assert_eq(proto_frame_reader_pop(r, &p, &n), 1);
        cr_assert_eq(n, 4);
        cr_assert_arr_eq(p, "\x81\xa1x\x01", 4);
        cr_assert_eq(proto_frame_reader_pop(r, &p, &n), 0);

        /* A truncated frame then end of file: pending tells the caller it was cut. */
        cr_assert_eq(write(sv[1], "\0\0\0\x05\x81", 5), 5);
        safe_close(sv[1]);
        cr_assert_eq(proto_frame_reader_fill(r, sv[0]), 5);
        cr_assert_eq(proto_frame_reader_fill(r, sv[0]), -EPIPE);
        cr_assert_eq(proto_frame_reader_pending(r), 1);
        safe_close(sv[0]);
        proto_frame_reader_free(r);
}

Test(frame, fill_rejects_oversized_header)
{
        int sv[2];
        struct proto_frame_reader *r;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        cr_assert_eq(proto_frame_reader_new(64, &r), 0);
        cr_assert_eq(write(sv[1], "\0\0\0\x41", 4), 4);
        cr_assert_eq(proto_frame_reader_fill(r, sv[0]), -EMSGSIZE);
        safe_close(sv[0]);
        safe_close(sv[1]);
        proto_frame_reader_free(r);
}

Test(frame, write_rejects_bad_sizes)
{
        int sv[2];

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        cr_assert_eq(proto_frame_write(sv[1], "", 0), -EMSGSIZE);
        /* Checked before the body is touched. */
        cr_assert_eq(proto_frame_write(sv[1], "", (size_t) UINT32_MAX + 1), -EMSGSIZE);
        safe_close(sv[0]);
        safe_close(sv[1]);
}

struct writer_arg {
        int fd;
        const uint8_t *data;
        size_t size;
        int result;
};

static void *
writer_thread(void *userdata)
{
        struct writer_arg *a = userdata;

        a->result = proto_frame_write(a->fd, a->data, a->size);
        return NULL;
}

Test(frame, large_frame_survives_short_writes)
{
        const size_t size = 4u * 1024u * 1024u; /* far beyond a socket buffer */
        _cleanup_free_ uint8_t *data = malloc(size);
        struct writer_arg a;
        struct proto_frame_reader *r;
        pthread_t t;
        const void *p = NULL;
        size_t n = 0;
        int sv[2], k;

        cr_assert_not_null(data);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) (i * 2654435761u >> 13);
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = (struct writer_arg){.fd = sv[1], .data = data, .size = size, .result = 1};
        cr_assert_eq(pthread_create(&t, NULL, writer_thread, &a), 0);

        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        while ((k = proto_frame_reader_pop(r, &p, &n)) == 0)
                cr_assert_gt(proto_frame_reader_fill(r, sv[0]), 0);
        cr_assert_eq(k, 1);
        cr_assert_eq(n, size);
        cr_assert(memcmp(p, data, size) == 0);
        cr_assert_eq(pthread_join(t, NULL), 0);
        cr_assert_eq(a.result, 0);
        safe_close(sv[0]);
        safe_close(sv[1]);
        proto_frame_reader_free(r);
}

/* ---- validator: hostile sizes ---------------------------------------------- */

Test(validate, array32_declaring_4g_elements_alone)
{
        /* The 5-byte frame from the brief: rejected (not even a map) without allocation. */
        cr_assert_eq(validate(BYTES(0xdd, 0xff, 0xff, 0xff, 0xff), NULL), -EBADMSG);
}

Test(validate, array32_declaring_4g_elements_in_map)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xdd, 0xff, 0xff, 0xff, 0xff), &why), -EBADMSG);
        cr_assert_str_eq(why, "array count exceeds remaining bytes");
}

Test(validate, map32_declaring_huge_count)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0xdf, 0xff, 0xff, 0xff, 0xff), &why), -EBADMSG);
        cr_assert_str_eq(why, "map count exceeds remaining bytes");
        /* Half the bytes needed: each entry takes at least two. */
        cr_assert_eq(validate(BYTES(0x84, 0xa0, 0xc0, 0xa0, 0xc0, 0xa0, 0xc0, 0xa0), &why), -EBADMSG);
        cr_assert_str_eq(why, "map count exceeds remaining bytes");
}

Test(validate, counts_are_bounded_together)
{
        const char *why = NULL;

        /* The inner array alone fits the bytes left, but not with the outer map's
         * second entry still owed. */
        cr_assert_eq(validate(BYTES(0x82, 0xa1, 'a', 0x93, 1, 2, 3), &why), -EBADMSG);
        cr_assert_str_eq(why, "array count exceeds remaining bytes");
}

Test(validate, str32_and_bin32_declaring_4g)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'), &why), -EBADMSG);
        cr_assert_str_eq(why, "str length exceeds frame");
        cr_assert_eq(validate(BYTES(0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x', 0xc0), &why), -EBADMSG);
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xff, 'x'), &why), -EBADMSG);
        cr_assert_str_eq(why, "bin length exceeds frame");
}

static uint8_t *
nested(size_t levels, uint8_t container, size_t *ret_len)
{
        /* {"a": C(C(C(... nil)))} where C is a one-item array or map {"a": ...}. */
        size_t per = container == 0x91 ? 1 : 3;
        uint8_t *buf = malloc(3 + levels * per + 1), *q = buf;

        cr_assert_not_null(buf);
        *q++ = 0x81, *q++ = 0xa1, *q++ = 'a';
        for (size_t i = 0; i < levels; i++) {
                *q++ = container;
                if (container == 0x81)
                        *q++ = 0xa1, *q++ = 'a';
        }
        *q++ = 0xc0;
        *ret_len = (size_t) (q - buf);
        return buf;
}

Test(validate, deep_nesting_100000_arrays)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = nested(100000, 0x91, &len);
        const char *why = NULL;

        cr_assert_eq(validate(buf, len, &why), -ELOOP);
        cr_assert_str_eq(why, "nesting too deep");
}

Test(validate, deep_nesting_100000_maps)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = nested(100000, 0x81, &len);

        cr_assert_eq(validate(buf, len, NULL), -ELOOP);
}

Test(validate, deep_nesting_walk_is_iterative)
{
        /* With the depth limit lifted the whole 100000 levels are walked:
         * proof that the walker's own stack use does not grow with depth. */
        struct proto_validate_limits lim = {.max_depth = 1000000, .max_elements = 1 << 20};
        size_t len;
        _cleanup_free_ uint8_t *buf = nested(100000, 0x91, &len);

        cr_assert_eq(proto_validate_map(buf, len, &lim, NULL), 0);
}

Test(validate, depth_limit_matches_msgpack_c)
{
        msgpack_unpacked u;
        size_t len;
        /* The top-level map is depth 1, so 31 more levels make 32: accepted
         * by both, which proves msgpack-c's own stack (the library, not its
         * header) is no smaller than our default. */
        _cleanup_free_ uint8_t *buf = nested(PROTO_MAX_DEPTH_DEFAULT - 1, 0x91, &len);

        cr_assert_eq(validate(buf, len, NULL), 0);
        cr_assert_eq(proto_unpack(buf, len, &u), 0);
        msgpack_unpacked_destroy(&u);

        /* An empty container one level deeper is still a level, for both. */
        buf[len - 1] = 0x90;
        cr_assert_eq(validate(buf, len, NULL), -ELOOP);
        cr_assert_lt(proto_unpack(buf, len, &u), 0);

        _cleanup_free_ uint8_t *deeper = nested(PROTO_MAX_DEPTH_DEFAULT, 0x91, &len);
        cr_assert_eq(validate(deeper, len, NULL), -ELOOP);
        cr_assert_lt(proto_unpack(deeper, len, &u), 0);
}

Test(validate, element_limit)
{
        struct proto_validate_limits lim = {.max_depth = 32, .max_elements = 3};
        const char *why = NULL;

        cr_assert_eq(proto_validate_map(BYTES(0x81, 0xa1, 'a', 1), &lim, NULL), 0);
        cr_assert_eq(proto_validate_map(BYTES(0x82, 0xa1, 'a', 1, 0xa1, 'b', 2), &lim, &why), -E2BIG);
        cr_assert_str_eq(why, "too many elements");
        cr_assert_eq(proto_validate_map(BYTES(0x81, 0xa1, 'a', 0x92, 1, 2), &lim, NULL), -E2BIG);
}

/* ---- validator: shape ------------------------------------------------------- */

Test(validate, top_level_must_be_a_map)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0x90), &why), -EBADMSG);
        cr_assert_str_eq(why, "top level is not a map");
        cr_assert_eq(validate(BYTES(0x01), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0xa1, 'a'), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0xc0), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0xdc, 0, 0), NULL), -EBADMSG);
        cr_assert_eq(validate((const uint8_t *) "", 0, NULL), -EBADMSG);
        /* Every map encoding is a map. */
        cr_assert_eq(validate(BYTES(0x80), NULL), 0);
        cr_assert_eq(validate(BYTES(0xde, 0, 0), NULL), 0);
        cr_assert_eq(validate(BYTES(0xdf, 0, 0, 0, 1, 0xa0, 0xc0), NULL), 0);
}

Test(validate, keys_must_be_strings)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0x81, 0x01, 0x02), &why), -EBADMSG);
        cr_assert_str_eq(why, "map key is not a str");
        cr_assert_eq(validate(BYTES(0x81, 0xc0, 0x02), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0x81, 0xc4, 0x01, 'a', 0x02), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0x81, 0x90, 0x02), NULL), -EBADMSG);
        /* Nested maps too, and the second key, not only the first. */
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0x81, 0x01, 0x02), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0x82, 0xa1, 'a', 0x01, 0x02, 0x03), NULL), -EBADMSG);
        /* Keys inside arrays inside maps are values, not keys. */
        cr_assert_eq(validate(BYTES(0x81, 0xda, 0, 1, 'k', 0x92, 0x01, 0x02), NULL), 0);
}

Test(validate, trailing_bytes)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0x80, 0xc0), &why), -EBADMSG);
        cr_assert_str_eq(why, "trailing bytes after the map");
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 1, 0x80), NULL), -EBADMSG);
}

Test(validate, ext_types_rejected)
{
        const char *why = NULL;

        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xd4, 0x01, 0x00), &why), -EBADMSG);
        cr_assert_str_eq(why, "ext types are not accepted");
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xd5, 0x01, 0, 0), NULL), -EBADMSG);
        cr_assert_eq(
                validate(BYTES(0x81, 0xa1, 'a', 0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                         NULL),
                -EBADMSG);
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xc7, 0x01, 0x05, 0x00), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xc8, 0, 1, 0x05, 0x00), NULL), -EBADMSG);
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xc9, 0, 0, 0, 1, 0x05, 0x00), NULL), -EBADMSG);
        /* The timestamp extension (-1) is an ext like any other. */
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xd6, 0xff, 0, 0, 0, 0), NULL), -EBADMSG);
        /* 0xc1 is never used. */
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xc1), &why), -EBADMSG);
        cr_assert_str_eq(why, "invalid type byte");
}

/* Every format in the msgpack specification's table that we accept, in its own map. */
static const struct {
        const char *name;
        uint8_t len;
        uint8_t bytes[16];
} formats[] = {
        {"nil", 1, {0xc0}},
        {"false", 1, {0xc2}},
        {"true", 1, {0xc3}},
        {"positive fixint", 1, {0x7f}},
        {"negative fixint", 1, {0xe0}},
        {"uint8", 2, {0xcc, 0xff}},
        {"uint16", 3, {0xcd, 0xff, 0xff}},
        {"uint32", 5, {0xce, 0xff, 0xff, 0xff, 0xff}},
        {"uint64", 9, {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {"int8", 2, {0xd0, 0x80}},
        {"int16", 3, {0xd1, 0x80, 0x00}},
        {"int32", 5, {0xd2, 0x80, 0, 0, 0}},
        {"int64", 9, {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}},
        {"float32", 5, {0xca, 0x3f, 0xc0, 0, 0}},
        {"float64", 9, {0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0}},
        {"fixstr", 4, {0xa3, 'a', 'b', 'c'}},
        {"fixstr empty", 1, {0xa0}},
        {"str8", 5, {0xd9, 3, 'a', 'b', 'c'}},
        {"str16", 6, {0xda, 0, 3, 'a', 'b', 'c'}},
        {"str32", 8, {0xdb, 0, 0, 0, 3, 'a', 'b', 'c'}},
        {"bin8", 4, {0xc4, 2, 1, 2}},
        {"bin8 empty", 2, {0xc4, 0}},
        {"bin16", 5, {0xc5, 0, 2, 1, 2}},
        {"bin32", 7, {0xc6, 0, 0, 0, 2, 1, 2}},
        {"fixarray", 3, {0x92, 1, 2}},
        {"fixarray empty", 1, {0x90}},
        {"array16", 5, {0xdc, 0, 2, 1, 2}},
        {"array32", 7, {0xdd, 0, 0, 0, 2, 1, 2}},
        {"fixmap", 4, {0x81, 0xa1, 'k', 1}},
        {"fixmap empty", 1, {0x80}},
        {"map16", 6, {0xde, 0, 1, 0xa1, 'k', 1}},
        {"map32", 8, {0xdf, 0, 0, 0, 1, 0xa1, 'k', 1}},
};

Test(validate, every_format_accepted_and_unpackable)
{
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                uint8_t buf[32] = {0x81, 0xa1, 'v'};
                size_t len = 3 + formats[i].len;
                msgpack_unpacked u;

                memcpy(buf + 3, formats[i].bytes, formats[i].len);
                cr_assert_eq(validate(buf, len, NULL), 0, "%s", formats[i].name);
                cr_assert_eq(proto_unpack(buf, len, &u), 0, "%s", formats[i].name);
                msgpack_unpacked_destroy(&u);
                /* Every strict prefix is truncated and must say so, not crash. */
                for (size_t k = 0; k < len; k++)
                        cr_assert_eq(validate(buf, k, NULL), -EBADMSG, "%s prefix %zu", formats[i].name, k);
        }
}

/* ---- validator: UTF-8 -------------------------------------------------------- */

static int
validate_str_value(const char *s, size_t n)
{
        uint8_t buf[64] = {0x81, 0xa1, 'v', 0xa0 | (uint8_t) n};

        cr_assert_lt(n, 32);
        memcpy(buf + 4, s, n);
        return validate(buf, 4 + n, NULL);
}

static int
validate_str_key(const char *s, size_t n)
{
        uint8_t buf[64] = {0x81, 0xa0 | (uint8_t) n};

        cr_assert_lt(n, 32);
        memcpy(buf + 2, s, n);
        buf[2 + n] = 0xc0;
        return validate(buf, 3 + n, NULL);
}

#define STR(s) s, sizeof(s) - 1

Test(validate, utf8_valid_sequences)
{
        static const struct {
                const char *s;
                size_t n;
        } good[] = {
                {STR("")},
                {STR("plain ascii")},
                {STR("nul\0inside")},
                {STR("\xc2\x80")},         /* U+0080, smallest two-byte */
                {STR("\xdf\xbf")},         /* U+07FF */
                {STR("\xe0\xa0\x80")},     /* U+0800, smallest three-byte */
                {STR("\xe2\x82\xac")},     /* euro sign */
                {STR("\xed\x9f\xbf")},     /* U+D7FF, just below the surrogates */
                {STR("\xee\x80\x80")},     /* U+E000, just above */
                {STR("\xef\xbf\xbf")},     /* U+FFFF */
                {STR("\xf0\x90\x80\x80")}, /* U+10000, smallest four-byte */
                {STR("\xf0\x9f\x98\x80")}, /* an emoji */
                {STR("\xf4\x8f\xbf\xbf")}, /* U+10FFFF, the last code point */
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                cr_assert_eq(validate_str_value(good[i].s, good[i].n), 0, "case %zu", i);
                cr_assert_eq(validate_str_key(good[i].s, good[i].n), 0, "case %zu", i);
        }
}

Test(validate, utf8_invalid_sequences)
{
        static const struct {
                const char *s;
                size_t n;
        } bad[] = {
                {STR("\xc0\x80")},                 /* overlong NUL */
                {STR("\xc1\xbf")},                 /* overlong U+007F */
                {STR("\xe0\x80\x80")},             /* overlong, three bytes */
                {STR("\xe0\x9f\xbf")},             /* overlong U+07FF */
                {STR("\xf0\x80\x80\x80")},         /* overlong, four bytes */
                {STR("\xf0\x8f\xbf\xbf")},         /* overlong U+FFFF */
                {STR("\xed\xa0\x80")},             /* U+D800, high surrogate */
                {STR("\xed\xbf\xbf")},             /* U+DFFF, low surrogate */
                {STR("\xed\xa0\xbd\xed\xb8\x80")}, /* CESU-8 surrogate pair */
                {STR("\xf4\x90\x80\x80")},         /* U+110000 */
                {STR("\xf5\x80\x80\x80")},
                {STR("\xff")},
                {STR("\xfe")},
                {STR("\x80")}, /* lone continuation */
                {STR("a\xbf")},
                {STR("\xe2\x82")}, /* truncated at end of str */
                {STR("\xc2")},
                {STR("\xf0\x9f\x98")},
                {STR("\xe2\x82z")}, /* bad continuation */
                {STR("\xe2z\xac")},
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                cr_assert_eq(validate_str_value(bad[i].s, bad[i].n), -EILSEQ, "case %zu", i);
                cr_assert_eq(validate_str_key(bad[i].s, bad[i].n), -EILSEQ, "case %zu", i);
        }
}

Test(validate, utf8_sequence_does_not_continue_past_str_end)
{
        /* {"a": "\xe2\x82", "<12 bytes>": nil}: the next key's type byte 0xac
         * would complete a euro sign if the check read past the str. */
        cr_assert_eq(validate(BYTES(0x82, 0xa1, 'a', 0xa2, 0xe2, 0x82, 0xac, 'k', 'k', 'k', 'k', 'k', 'k',
                                    'k', 'k', 'k', 'k', 'k', 'k', 0xc0),
                              NULL),
                     -EILSEQ);
}

Test(validate, bin_is_not_utf8_checked)
{
        cr_assert_eq(validate(BYTES(0x81, 0xa1, 'a', 0xc4, 2, 0xc0, 0x80), NULL), 0);
}

/* ---- unpack and getters ----------------------------------------------------- */

static void
pack_request(msgpack_sbuffer *sb)
{
        msgpack_packer pk;

        msgpack_sbuffer_init(sb);
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        cr_assert_eq(msgpack_pack_map(&pk, 3), 0);
        cr_assert_eq(proto_pack_key_uint(&pk, "id", 1), 0);
        cr_assert_eq(proto_pack_key_str(&pk, "method", "run"), 0);
        cr_assert_eq(proto_pack_str(&pk, "params"), 0);
        cr_assert_eq(msgpack_pack_map(&pk, 2), 0);
        cr_assert_eq(proto_pack_key_str(&pk, "code", "1+1"), 0);
        cr_assert_eq(proto_pack_key_bool(&pk, "stream", true), 0);
}

Test(msg, request_round_trip_through_a_frame)
{
        msgpack_sbuffer sb;
        int sv[2];
        struct proto_frame_reader *r;
        msgpack_unpacked u;
        const msgpack_object *params;
        const void *p;
        const char *s;
        size_t n, slen;
        uint64_t id;
        bool stream;

        pack_request(&sb);
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        cr_assert_eq(proto_frame_write(sv[1], sb.data, sb.size), 0);
        cr_assert_eq(proto_frame_reader_new(PROTO_FRAME_MAX_DEFAULT, &r), 0);
        cr_assert_gt(proto_frame_reader_fill(r, sv[0]), 0);
        cr_assert_eq(proto_frame_reader_pop(r, &p, &n), 1);
        cr_assert_eq(n, sb.size);

        cr_assert_eq(proto_validate_map(p, n, NULL, NULL), 0);
        cr_assert_eq(proto_unpack(p, n, &u), 0);
        cr_assert_eq(proto_map_get_uint(&u.data, "id", &id), 0);
        cr_assert_eq(id, 1);
        cr_assert_eq(proto_map_get_str(&u.data, "method", &s, &slen), 0);
        cr_assert_eq(slen, 3);
        cr_assert(memcmp(s, "run", 3) == 0);
        cr_assert_eq(proto_map_get_map(&u.data, "params", &params), 0);
        cr_assert_eq(proto_map_get_str(params, "code", &s, &slen), 0);
        cr_assert_eq(slen, 3);
        cr_assert(memcmp(s, "1+1", 3) == 0);
        cr_assert_eq(proto_map_get_bool(params, "stream", &stream), 0);
        cr_assert(stream);
        cr_assert_eq(proto_map_get_uint(params, "timeout_ms", &id), -ENOENT);

        msgpack_unpacked_destroy(&u);
        proto_frame_reader_free(r);
        msgpack_sbuffer_destroy(&sb);
        safe_close(sv[0]);
        safe_close(sv[1]);
}

struct typed {
        msgpack_sbuffer sb;
        msgpack_unpacked u;
};

static void
typed_setup(struct typed *t)
{
        msgpack_packer pk;

        msgpack_sbuffer_init(&t->sb);
        msgpack_packer_init(&pk, &t->sb, msgpack_sbuffer_write);
        cr_assert_eq(msgpack_pack_map(&pk, 11), 0);
        cr_assert_eq(proto_pack_key_uint(&pk, "u", 7), 0);
        cr_assert_eq(proto_pack_str(&pk, "neg"), 0);
        cr_assert_eq(msgpack_pack_int64(&pk, -3), 0);
        cr_assert_eq(proto_pack_key_str(&pk, "s", "hi"), 0);
        cr_assert_eq(proto_pack_key_bool(&pk, "b", false), 0);
        cr_assert_eq(proto_pack_key_bin(&pk, "bin", "\0\1", 2), 0);
        cr_assert_eq(proto_pack_key_double(&pk, "f", 1.25), 0);
        cr_assert_eq(proto_pack_str(&pk, "f32"), 0);
        cr_assert_eq(msgpack_pack_float(&pk, 0.5f), 0);
        cr_assert_eq(proto_pack_str(&pk, "m"), 0);
        cr_assert_eq(msgpack_pack_map(&pk, 0), 0);
        cr_assert_eq(proto_pack_str(&pk, "a"), 0);
        cr_assert_eq(msgpack_pack_array(&pk, 1), 0);
        cr_assert_eq(msgpack_pack_nil(&pk), 0);
        cr_assert_eq(proto_pack_key_str(&pk, "n", NULL), 0);
        cr_assert_eq(proto_pack_key_str(&pk, "u", "duplicate keys: the first wins"), 0);
        cr_assert_eq(proto_validate_map(t->sb.data, t->sb.size, NULL, NULL), 0);
        cr_assert_eq(proto_unpack(t->sb.data, t->sb.size, &t->u), 0);
}

static void
typed_teardown(struct typed *t)
{
        msgpack_unpacked_destroy(&t->u);
        msgpack_sbuffer_destroy(&t->sb);
}

Test(msg, getters_accept_their_types)
{
        struct typed t;
        const msgpack_object *o;
        const char *s;
        size_t n;
        uint64_t u;
        bool b = true;
        double d;

        typed_setup(&t);
        cr_assert_eq(proto_map_get_uint(&t.u.data, "u", &u), 0);
        cr_assert_eq(u, 7);
        cr_assert_eq(proto_map_get_str(&t.u.data, "s", &s, &n), 0);
        cr_assert_eq(n, 2);
        cr_assert_eq(proto_map_get_bool(&t.u.data, "b", &b), 0);
        cr_assert_not(b);
        cr_assert_eq(proto_map_get_bytes(&t.u.data, "bin", &s, &n), 0);
        cr_assert_eq(n, 2);
        cr_assert_arr_eq(s, "\0\1", 2);
        cr_assert_eq(proto_map_get_bytes(&t.u.data, "s", &s, &n), 0, "bytes accepts str too");
        cr_assert_eq(n, 2);
        cr_assert_eq(proto_map_get_double(&t.u.data, "f", &d), 0);
        cr_assert_eq(d, 1.25);
        cr_assert_eq(proto_map_get_double(&t.u.data, "f32", &d), 0);
        cr_assert_eq(d, 0.5);
        cr_assert_eq(proto_map_get_double(&t.u.data, "u", &d), 0);
        cr_assert_eq(d, 7.0);
        cr_assert_eq(proto_map_get_double(&t.u.data, "neg", &d), 0);
        cr_assert_eq(d, -3.0);
        cr_assert_eq(proto_map_get_map(&t.u.data, "m", &o), 0);
        cr_assert_eq(o->via.map.size, 0);
        cr_assert_eq(proto_map_get_array(&t.u.data, "a", &o), 0);
        cr_assert_eq(o->via.array.size, 1);
        o = proto_map_get(&t.u.data, "n");
        cr_assert_not_null(o);
        cr_assert_eq(o->type, MSGPACK_OBJECT_NIL);
        typed_teardown(&t);
}

Test(msg, getters_reject_type_mismatches)
{
        struct typed t;
        const msgpack_object *o = (const msgpack_object *) 0x1;
        const char *s = "untouched";
        size_t n = 42;
        uint64_t u = 42;
        bool b = true;
        double d = 42.0;

        typed_setup(&t);
        cr_assert_eq(proto_map_get_str(&t.u.data, "u", &s, &n), -EBADMSG);
        cr_assert_eq(proto_map_get_str(&t.u.data, "bin", &s, &n), -EBADMSG);
        cr_assert_eq(proto_map_get_str(&t.u.data, "n", &s, &n), -EBADMSG);
        cr_assert_eq(proto_map_get_uint(&t.u.data, "neg", &u), -EBADMSG);
        cr_assert_eq(proto_map_get_uint(&t.u.data, "s", &u), -EBADMSG);
        cr_assert_eq(proto_map_get_uint(&t.u.data, "f", &u), -EBADMSG);
        cr_assert_eq(proto_map_get_bool(&t.u.data, "u", &b), -EBADMSG);
        cr_assert_eq(proto_map_get_bytes(&t.u.data, "u", &s, &n), -EBADMSG);
        cr_assert_eq(proto_map_get_map(&t.u.data, "a", &o), -EBADMSG);
        cr_assert_eq(proto_map_get_array(&t.u.data, "m", &o), -EBADMSG);
        cr_assert_eq(proto_map_get_double(&t.u.data, "s", &d), -EBADMSG);
        cr_assert_eq(proto_map_get_double(&t.u.data, "b", &d), -EBADMSG);
        /* Absent, and nil where the getter says nil means absent. */
        cr_assert_eq(proto_map_get_str(&t.u.data, "missing", &s, &n), -ENOENT);
        cr_assert_eq(proto_map_get_uint(&t.u.data, "missing", &u), -ENOENT);
        cr_assert_eq(proto_map_get_map(&t.u.data, "missing", &o), -ENOENT);
        cr_assert_eq(proto_map_get_map(&t.u.data, "n", &o), -ENOENT);
        /* Output parameters are written only on success. */
        cr_assert_str_eq(s, "untouched");
        cr_assert_eq(n, 42);
        cr_assert_eq(u, 42);
        cr_assert(b);
        cr_assert_eq(d, 42.0);
        cr_assert_eq(o, (const msgpack_object *) 0x1);
        /* Lookups on something that is not a map find nothing. */
        cr_assert_eq(proto_map_get_array(&t.u.data, "a", &o), 0);
        cr_assert_null(proto_map_get(o, "a"));
        cr_assert_null(proto_map_get(NULL, "a"));
        cr_assert_eq(proto_map_get_uint(o, "u", &u), -ENOENT);
        typed_teardown(&t);
}

Test(msg, empty_key_str_and_bin)
{
        /* {"": "", "b": bin ""}: msgpack-c unpacks empty bodies with a NULL
         * pointer; lookups must not pass it to memcmp, getters must not return it. */
        /* Not BYTES(): u points into the body, which must outlive the assertion's block. */
        static const uint8_t body[] = {0x82, 0xa0, 0xa0, 0xa1, 'b', 0xc4, 0x00};
        msgpack_unpacked u;
        const char *s = NULL;
        size_t n = 1;

        cr_assert_eq(proto_validate_map(body, sizeof body, NULL, NULL), 0);
        cr_assert_eq(proto_unpack(body, sizeof body, &u), 0);
        cr_assert_eq(proto_map_get_str(&u.data, "", &s, &n), 0);
        cr_assert_not_null(s);
        cr_assert_eq(n, 0);
        s = NULL;
        cr_assert_eq(proto_map_get_bytes(&u.data, "b", &s, &n), 0);
        cr_assert_not_null(s);
        cr_assert_eq(n, 0);
        cr_assert_null(proto_map_get(&u.data, "x"));
        msgpack_unpacked_destroy(&u);
}

Test(msg, unpack_rejects_what_is_not_one_map)
{
        msgpack_unpacked u;

        cr_assert_eq(proto_unpack(BYTES(0x80, 0xc0), &u), -EBADMSG);
        cr_assert_eq(proto_unpack(BYTES(0x90), &u), -EBADMSG);
        cr_assert_eq(proto_unpack(BYTES(0x81, 0xa1), &u), -EBADMSG);
        cr_assert_eq(proto_unpack((const uint8_t *) "", 0, &u), -EBADMSG);
}

Test(msg, pack_helpers)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        cr_assert_eq(proto_pack_str(&pk, ""), 0);
        cr_assert_eq(proto_pack_key_str(&pk, "k", NULL), 0);
        cr_assert_eq(proto_pack_bin(&pk, NULL, 0), 0);
        cr_assert_eq(sb.size, 6);
        cr_assert_arr_eq(sb.data, "\xa0\xa1k\xc0\xc4\x00", 6);
        /* A length msgpack cannot express is refused, not truncated. */
        cr_assert_eq(proto_pack_strn(&pk, "", (size_t) UINT32_MAX + 1), -EMSGSIZE);
        cr_assert_eq(proto_pack_bin(&pk, "", (size_t) UINT32_MAX + 1), -EMSGSIZE);
        cr_assert_eq(sb.size, 6);
        msgpack_sbuffer_destroy(&sb);
}
