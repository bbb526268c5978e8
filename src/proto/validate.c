/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Structural msgpack validator (see validate.h). Trust zone: the dispatcher
 * and the CLI, on every frame from a client or a worker, before msgpack-c
 * sees it.
 *
 * The walk is iterative: an explicit stack of open containers, one entry per
 * nesting level, bounded by max_depth, so hostile nesting cannot exhaust the
 * C stack. Invariants kept while walking:
 *  - pending counts the items still owed by all open containers; each takes
 *    at least one byte, so whenever a count or a str/bin length is read,
 *    pending plus what it declares must fit in the bytes left. A count that
 *    the input cannot back is rejected at its header, and msgpack-c, which
 *    allocates for declared counts, only ever sees counts that are real;
 *  - a container closes only after its last item has been walked, so depth
 *    is the number of open containers, counted as msgpack-c counts them;
 *  - nothing is allocated except, when max_depth exceeds the inline stack,
 *    a stack of min(max_depth, size) entries: a size the caller chose, or
 *    one bounded by the input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"
#include "validate.h"

#define PROTO_MAX_ELEMENTS_DEFAULT ((size_t) 1 << 20)
#define INLINE_STACK 64u

struct level {
        uint64_t left; /* items still owed; a map owes two per entry */
        bool map;
};

struct walker {
        const uint8_t *p, *end;
        struct level *stack;
        unsigned depth, max_depth;
        uint64_t pending;
        size_t elements, max_elements;
        const char *error;
};

static int
walk_fail(struct walker *w, int error, const char *reason)
{
        w->error = reason;
        return error;
}

static size_t
walk_left(const struct walker *w)
{
        return (size_t) (w->end - w->p);
}

static uint64_t
read_be(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool
utf8_valid(const uint8_t *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                uint8_t c = s[i];
                uint8_t lo = 0x80, hi = 0xbf;
                unsigned more;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        more = 1;
                else if (c >= 0xe0 && c <= 0xef) {
                        more = 2;
                        if (c == 0xe0)
                                lo = 0xa0; /* below is overlong */
                        else if (c == 0xed)
                                hi = 0x9f; /* above is a UTF-16 surrogate */
                } else if (c >= 0xf0 && c <= 0xf4) {
                        more = 3;
                        if (c == 0xf0)
                                lo = 0x90; /* below is overlong */
                        else if (c == 0xf4)
                                hi = 0x8f; /* above is past U+10FFFF */
                } else
                        return false; /* continuation byte, C0/C1 overlong, or F5..FF */
                if (n - i - 1 < more)
                        return false; /* truncated sequence */
                if (s[i + 1] < lo || s[i + 1] > hi)
                        return false;
                for (unsigned k = 2; k <= more; k++)
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                i += 1 + more;
        }
        return true;
}

/* Consume a str or bin body of n bytes. */
static int
walk_bytes(struct walker *w, uint64_t n, bool str)
{
        /* The items still owed need a byte each after this body. */
        if (n > walk_left(w) || w->pending > walk_left(w) - n)
                return walk_fail(w, -EBADMSG, str ? "str length exceeds frame" : "bin length exceeds frame");
        if (str && !utf8_valid(w->p, (size_t) n))
                return walk_fail(w, -EILSEQ, "str is not valid UTF-8");
        w->p += n;
        return 0;
}

/* Open a container of count items (2 per map entry) if non-empty. */
static int
walk_open(struct walker *w, uint64_t count, bool map)
{
        uint64_t items = map ? count * 2 : count; /* count <= UINT32_MAX: no overflow */

        if (items > walk_left(w) || w->pending > walk_left(w) - items)
                return walk_fail(w, -EBADMSG,
                                 map ? "map count exceeds remaining bytes"
                                     : "array count exceeds remaining bytes");
        /* Every owed item is at least one more object. */
        if (w->pending + items > w->max_elements - w->elements)
                return walk_fail(w, -E2BIG, "too many elements");
        if (w->depth >= w->max_depth)
                return walk_fail(w, -ELOOP, "nesting too deep");
        if (items == 0)
                return 0;
        w->stack[w->depth++] = (struct level){.left = items, .map = map};
        w->pending += items;
        return 0;
}

/* Read a need-byte big-endian argument after the type byte. */
static int
walk_arg(struct walker *w, unsigned need, uint64_t *ret)
{
        if (walk_left(w) < need)
                return walk_fail(w, -EBADMSG, "truncated object");
        *ret = read_be(w->p, need);
        w->p += need;
        return 0;
}

static int
walk_skip(struct walker *w, unsigned need)
{
        uint64_t unused;

        return need == 0 ? 0 : walk_arg(w, need, &unused);
}

static bool
type_is_str(uint8_t t)
{
        return (t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb);
}

/* Consume one object header (and a str/bin body); push containers. */
static int
walk_one(struct walker *w)
{
        uint8_t t;
        uint64_t n;
        int r;

        if (walk_left(w) < 1)
                return walk_fail(w, -EBADMSG, "truncated object");
        if (++w->elements > w->max_elements)
                return walk_fail(w, -E2BIG, "too many elements");
        t = *w->p++;

        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
                return 0; /* fixint, nil, bool */
        if (t <= 0x8f)
                return walk_open(w, t & 0x0f, true);
        if (t <= 0x9f)
                return walk_open(w, t & 0x0f, false);
        if (t <= 0xbf)
                return walk_bytes(w, t & 0x1f, true);

        switch (t) {
        case 0xc4: /* bin 8/16/32 */
        case 0xc5:
        case 0xc6:
                r = walk_arg(w, 1u << (t - 0xc4), &n);
                return r < 0 ? r : walk_bytes(w, n, false);
        case 0xca: /* float32 */
                return walk_skip(w, 4);
        case 0xcb: /* float64 */
                return walk_skip(w, 8);
        case 0xcc: /* uint 8/16/32/64 */
        case 0xcd:
        case 0xce:
        case 0xcf:
                return walk_skip(w, 1u << (t - 0xcc));
        case 0xd0: /* int 8/16/32/64 */
        case 0xd1:
        case 0xd2:
        case 0xd3:
                return walk_skip(w, 1u << (t - 0xd0));
        case 0xd9: /* str 8/16/32 */
        case 0xda:
        case 0xdb:
                r = walk_arg(w, 1u << (t - 0xd9), &n);
                return r < 0 ? r : walk_bytes(w, n, true);
        case 0xdc: /* array 16/32 */
        case 0xdd:
                r = walk_arg(w, 2u << (t - 0xdc), &n);
                return r < 0 ? r : walk_open(w, n, false);
        case 0xde: /* map 16/32 */
        case 0xdf:
                r = walk_arg(w, 2u << (t - 0xde), &n);
                return r < 0 ? r : walk_open(w, n, true);
        case 0xc7: /* ext 8/16/32 */
        case 0xc8:
        case 0xc9:
        case 0xd4: /* fixext 1..16 */
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
                return walk_fail(w, -EBADMSG, "ext types are not accepted");
        default: /* 0xc1: never used */
                return walk_fail(w, -EBADMSG, "invalid type byte");
        }
}

static int
walk(struct walker *w)
{
        int r;

        /* The caller has ruled out an empty buffer. */
        if (!((*w->p >= 0x80 && *w->p <= 0x8f) || *w->p == 0xde || *w->p == 0xdf))
                return walk_fail(w, -EBADMSG, "top level is not a map");

        r = walk_one(w);
        while (r >= 0) {
                struct level *top;

                /* Close containers only once their last item is fully walked,
                 * so that depth counts every open level (as msgpack-c does). */
                while (w->depth > 0 && w->stack[w->depth - 1].left == 0)
                        w->depth--;
                if (w->depth == 0)
                        break;
                top = &w->stack[w->depth - 1];
                /* A map owes an even number of items exactly when a key is next. */
                if (top->map && top->left % 2 == 0 && (walk_left(w) < 1 || !type_is_str(*w->p)))
                        return walk_fail(w, -EBADMSG, "map key is not a str");
                top->left--;
                w->pending--;
                r = walk_one(w);
        }
        if (r < 0)
                return r;
        if (walk_left(w) > 0)
                return walk_fail(w, -EBADMSG, "trailing bytes after the map");
        return 0;
}

int
proto_validate_map(const void *data, size_t size, const struct proto_validate_limits *limits,
                   const char **ret_error)
{
        struct level inline_stack[INLINE_STACK];
        _cleanup_free_ struct level *heap_stack = NULL;
        struct walker w = {
                .stack = inline_stack,
                .max_depth = limits ? limits->max_depth : PROTO_MAX_DEPTH_DEFAULT,
                .max_elements = limits ? limits->max_elements : PROTO_MAX_ELEMENTS_DEFAULT,
        };
        int r;

        if (size == 0) {
                if (ret_error)
                        *ret_error = "empty frame";
                return -EBADMSG;
        }
        if (!data)
                return -EINVAL;
        w.p = data;
        w.end = w.p + size;
        /* Depth can never exceed the byte count, so neither need the stack. */
        if (w.max_depth > INLINE_STACK && size > INLINE_STACK) {
                heap_stack = calloc(MIN((size_t) w.max_depth, size), sizeof(struct level));
                if (!heap_stack)
                        return -ENOMEM;
                w.stack = heap_stack;
        }
        r = walk(&w);
        if (r < 0 && ret_error)
                *ret_error = w.error;
        return r;
}
