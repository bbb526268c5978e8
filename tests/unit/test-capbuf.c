/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/basic/capbuf: the head+tail capped output buffer. Runs
 * unprivileged. Every case is checked against a reference model: the whole
 * stream kept in memory and cut by hand.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capbuf.h"
#include "macro.h"

/* Deterministic, non-repeating-looking bytes so a misplaced byte shows. */
static void
stream_fill(char *buf, size_t n)
{
        for (size_t i = 0; i < n; i++)
                buf[i] = (char) ('!' + (i * 7 + i / 94) % 94);
}

/* What capbuf_flatten() must produce for a stream of total bytes. */
static char *
expected(const char *stream, size_t total, size_t head, size_t tail, size_t *ret_len)
{
        char marker[64] = "";
        size_t h = MIN(total, head), t = MIN(total - h, tail), dropped = total - h - t, len;
        char *out;

        if (dropped > 0)
                (void) snprintf(marker, sizeof(marker), "\n[... %zu bytes omitted ...]\n", dropped);
        len = h + strlen(marker) + t;
        out = malloc(len + 1);
        cr_assert_not_null(out);
        memcpy(out, stream, h);
        memcpy(out + h, marker, strlen(marker));
        memcpy(out + h + strlen(marker), stream + total - t, t);
        out[len] = 0;
        *ret_len = len;
        return out;
}

static void
check(const struct capbuf *b, const char *stream, size_t total)
{
        _cleanup_free_ char *got = NULL, *want = NULL;
        size_t got_len, want_len;

        want = expected(stream, total, b->head_cap, b->tail_cap, &want_len);
        cr_assert_eq(b->total, total);
        cr_assert_eq(capbuf_truncated(b), total > b->head_cap + b->tail_cap);
        cr_assert_eq(capbuf_flatten(b, &got, &got_len), 0);
        cr_assert_eq(got_len, want_len, "total %zu: length %zu, want %zu", total, got_len, want_len);
        cr_assert_arr_eq(got, want, want_len, "total %zu: got \"%s\", want \"%s\"", total, got, want);
        cr_assert_eq(got[got_len], 0, "flattened output is NUL-terminated");
}

/* Append stream[0..total) in chunks cycling through sizes[], checking after each. */
static void
run(size_t head, size_t tail, size_t total, const size_t *sizes, size_t n_sizes)
{
        _cleanup_free_ char *stream = malloc(total + 1);
        struct capbuf b;
        size_t off = 0;

        cr_assert_not_null(stream);
        stream_fill(stream, total);
        cr_assert_eq(capbuf_init(&b, head, tail), 0);
        check(&b, stream, 0);
        for (size_t i = 0; off < total; i++) {
                size_t n = MIN(sizes[i % n_sizes], total - off);

                cr_assert_eq(capbuf_append(&b, stream + off, n), 0);
                off += n;
                check(&b, stream, off);
        }
        capbuf_done(&b);
}

Test(capbuf, empty)
{
        static const size_t one[] = {1};

        run(16, 16, 0, one, 1);
}

Test(capbuf, under_cap)
{
        static const size_t sizes[] = {3, 1, 5};

        run(16, 16, 20, sizes, ELEMENTSOF(sizes));
        run(16, 16, 10, sizes, ELEMENTSOF(sizes)); /* the tail is never touched */
}

Test(capbuf, exactly_at_cap)
{
        static const size_t whole[] = {32}, ones[] = {1};
        struct capbuf b;

        run(16, 16, 32, whole, 1);
        run(16, 16, 32, ones, 1);
        /* One more byte drops exactly one. */
        cr_assert_eq(capbuf_init(&b, 4, 4), 0);
        cr_assert_eq(capbuf_append(&b, "abcdefgh", 8), 0);
        cr_assert_not(capbuf_truncated(&b));
        cr_assert_eq(capbuf_append(&b, "i", 1), 0);
        cr_assert(capbuf_truncated(&b));
        _cleanup_free_ char *s = NULL;
        cr_assert_eq(capbuf_flatten(&b, &s, NULL), 0);
        cr_assert_str_eq(s, "abcd\n[... 1 bytes omitted ...]\nfghi");
        capbuf_done(&b);
}

Test(capbuf, over_cap_many_small_appends)
{
        static const size_t ones[] = {1}, mixed[] = {1, 2, 3, 5, 7, 11, 13};

        run(10, 10, 5000, ones, 1);
        run(10, 10, 5000, mixed, ELEMENTSOF(mixed));
        run(100, 37, 20000, mixed, ELEMENTSOF(mixed));
}

Test(capbuf, wraparound_at_every_offset)
{
        /* Chunk sizes around the tail size, so every write position and every
         * split of a chunk across the ring's end is taken. */
        for (size_t chunk = 1; chunk <= 20; chunk++) {
                const size_t sizes[] = {chunk, 1, chunk + 3};

                run(3, 16, 400, sizes, ELEMENTSOF(sizes));
        }
}

Test(capbuf, single_append_larger_than_everything)
{
        static const size_t big[] = {100000}, mixed[] = {7, 50000, 3};

        run(8, 8, 100000, big, 1);
        run(8, 8, 100010, mixed, ELEMENTSOF(mixed));
}

Test(capbuf, zero_caps_count_only)
{
        static const size_t mixed[] = {1, 1000, 3};
        struct capbuf b;
        _cleanup_free_ char *s = NULL;
        size_t len;

        run(0, 0, 5000, mixed, ELEMENTSOF(mixed));
        cr_assert_eq(capbuf_init(&b, 0, 0), 0);
        cr_assert_eq(capbuf_append(&b, "hello", 5), 0);
        cr_assert(capbuf_truncated(&b));
        cr_assert_null(b.head);
        cr_assert_null(b.tail);
        cr_assert_eq(capbuf_flatten(&b, &s, &len), 0);
        cr_assert_str_eq(s, "\n[... 5 bytes omitted ...]\n");
        cr_assert_eq(len, strlen(s));
        capbuf_done(&b);
}

Test(capbuf, head_only_and_tail_only)
{
        static const size_t mixed[] = {1, 4, 9};

        run(10, 0, 300, mixed, ELEMENTSOF(mixed));
        run(0, 10, 300, mixed, ELEMENTSOF(mixed));
}

Test(capbuf, empty_appends_and_lazy_allocation)
{
        struct capbuf b;
        _cleanup_free_ char *s = NULL;
        size_t len = 1;

        cr_assert_eq(capbuf_init(&b, 1 << 20, 1 << 20), 0);
        cr_assert_eq(capbuf_append(&b, NULL, 0), 0);
        /* Nothing written, nothing allocated. */
        cr_assert_null(b.head);
        cr_assert_null(b.tail);
        cr_assert_eq(capbuf_flatten(&b, &s, &len), 0);
        cr_assert_eq(len, 0);
        cr_assert_str_eq(s, "");
        capbuf_done(&b);
        capbuf_done(&b); /* idempotent */
}

Test(capbuf, large_omitted_count)
{
        static char chunk[1 << 16];
        struct capbuf b;
        _cleanup_free_ char *s = NULL;
        char want[128];

        cr_assert_eq(capbuf_init(&b, 2, 2), 0);
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 1024; i++) /* 64 MiB through a 4-byte buffer */
                cr_assert_eq(capbuf_append(&b, chunk, sizeof(chunk)), 0);
        cr_assert_eq(capbuf_flatten(&b, &s, NULL), 0);
        (void) snprintf(want, sizeof(want), "xx\n[... %" PRIu64 " bytes omitted ...]\nxx",
                        (uint64_t) 1024 * sizeof(chunk) - 4);
        cr_assert_str_eq(s, want);
        capbuf_done(&b);
}
