/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capped output buffer (see capbuf.h). Trust zone: the dispatcher, collecting
 * a hostile worker's stdout/stderr, so the bytes are arbitrary and unbounded
 * in number.
 *
 * Invariants:
 *  - head_len <= head_cap and tail_len <= tail_cap; the tail receives bytes
 *    only once the head is full;
 *  - the tail is a ring: its oldest byte is at tail_pos, and tail_len bytes
 *    follow it (wrapping at tail_cap);
 *  - total - head_len - tail_len is the number of bytes dropped;
 *  - each buffer is allocated, once and at its cap, on the first byte it
 *    receives: most runs print little, and a capbuf that never sees output
 *    costs nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "capbuf.h"
#include "macro.h"

int
capbuf_init(struct capbuf *b, size_t head, size_t tail)
{
        *b = (struct capbuf){.head_cap = head, .tail_cap = tail};
        return 0;
}

void
capbuf_done(struct capbuf *b)
{
        free(b->head);
        free(b->tail);
        *b = (struct capbuf){};
}

static int
capbuf_tail_push(struct capbuf *b, const char *p, size_t n)
{
        size_t w, first;

        if (b->tail_cap == 0 || n == 0)
                return 0;
        if (!b->tail) {
                b->tail = malloc(b->tail_cap);
                if (!b->tail)
                        return -ENOMEM;
        }
        if (n >= b->tail_cap) {
                /* Only the last tail_cap bytes can survive; skip the copying of the rest. */
                memcpy(b->tail, p + n - b->tail_cap, b->tail_cap);
                b->tail_pos = 0;
                b->tail_len = b->tail_cap;
                return 0;
        }
        w = (b->tail_pos + b->tail_len) % b->tail_cap;
        first = MIN(n, b->tail_cap - w);
        memcpy(b->tail + w, p, first);
        memcpy(b->tail, p + first, n - first);
        if (b->tail_len + n > b->tail_cap) {
                /* Overwrote the oldest bytes: the ring's start moves past them. */
                b->tail_pos = (b->tail_pos + b->tail_len + n - b->tail_cap) % b->tail_cap;
                b->tail_len = b->tail_cap;
        } else
                b->tail_len += n;
        return 0;
}

int
capbuf_append(struct capbuf *b, const void *data, size_t size)
{
        const char *p = data;
        size_t n;
        int r;

        if (size == 0)
                return 0; /* data may be NULL then: no pointer arithmetic on it */
        n = MIN(size, b->head_cap - b->head_len);
        if (n > 0) {
                if (!b->head) {
                        b->head = malloc(b->head_cap);
                        if (!b->head)
                                return -ENOMEM;
                }
                memcpy(b->head + b->head_len, p, n);
                b->head_len += n;
        }
        r = capbuf_tail_push(b, p + n, size - n);
        /* Count the bytes even if the tail could not take them: flattening
         * then reports them as omitted rather than losing them silently. */
        b->total += size;
        return r;
}

bool
capbuf_truncated(const struct capbuf *b)
{
        return b->total > (uint64_t) b->head_len + b->tail_len;
}

int
capbuf_flatten(const struct capbuf *b, char **ret, size_t *ret_len)
{
        uint64_t dropped = b->total - b->head_len - b->tail_len;
        char marker[64] = "";
        size_t marker_len = 0, len, first;
        char *out, *q;

        if (dropped > 0)
                marker_len = (size_t) snprintf(marker, sizeof(marker),
                                               "\n[... %" PRIu64 " bytes omitted ...]\n", dropped);
        len = b->head_len + marker_len + b->tail_len;
        /* NUL-terminated for callers that print it; ret_len excludes the NUL. */
        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        q = mempcpy(out, b->head ?: "", b->head_len);
        q = mempcpy(q, marker, marker_len);
        first = MIN(b->tail_len, b->tail_cap - b->tail_pos);
        if (b->tail_len > 0) {
                q = mempcpy(q, b->tail + b->tail_pos, first);
                q = mempcpy(q, b->tail, b->tail_len - first);
        }
        *q = 0;
        *ret = out;
        if (ret_len)
                *ret_len = len;
        return 0;
}
