/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capped output buffer: keeps the first `head` bytes and the last `tail` bytes
 * of a stream, counts everything, and says whether anything in between was
 * dropped. Memory is bounded by head + tail regardless of input size.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capbuf {
        char *head;
        size_t head_cap, head_len;
        char *tail; /* ring buffer of tail_cap bytes */
        size_t tail_cap, tail_len, tail_pos;
        uint64_t total; /* every byte appended */
};

int capbuf_init(struct capbuf *b, size_t head, size_t tail);
void capbuf_done(struct capbuf *b);
int capbuf_append(struct capbuf *b, const void *data, size_t size);
bool capbuf_truncated(const struct capbuf *b);
/* Linearise into a new buffer: head, and if truncated a marker line naming the
 * dropped byte count, then tail. */
int capbuf_flatten(const struct capbuf *b, char **ret, size_t *ret_len);
