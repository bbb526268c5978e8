/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Frame codec (see frame.h and PROTOCOL.md). Trust zone: the dispatcher and
 * the CLI, reading bytes from clients and from hostile workers.
 *
 * Invariants of the reader:
 *  - buf[start..end) holds bytes received and not yet popped; start <= end <= alloc.
 *  - scan >= start is the offset of the first frame header not yet checked;
 *    every header before scan declared 1 <= N <= max_frame. Headers are
 *    checked as soon as their four bytes are present, so a bad length is
 *    reported before a single byte of its body is buffered.
 *  - alloc never exceeds what is buffered plus READ_CHUNK: a declared length
 *    is never used to size the buffer, so a peer that announces 16 MiB and
 *    sends nothing costs us nothing.
 *  - once broken (a bad header was seen), every call but free fails or
 *    returns nothing: the byte stream can no longer be resynchronised.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frame.h"
#include "macro.h"

/* Bytes asked of read() at a time, and the most we allocate ahead of data. */
#define READ_CHUNK (64u * 1024u)
/* An idle reader keeps at most this much; a larger buffer is released when empty. */
#define KEEP_MAX (64u * 1024u)

struct proto_frame_reader {
        uint8_t *buf;
        size_t alloc;
        size_t start, end, scan;
        uint32_t max_frame;
        bool broken;
};

int
proto_frame_reader_new(uint32_t max_frame, struct proto_frame_reader **ret)
{
        struct proto_frame_reader *r;

        if (max_frame == 0)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->max_frame = max_frame;
        *ret = r;
        return 0;
}

struct proto_frame_reader *
proto_frame_reader_free(struct proto_frame_reader *r)
{
        if (!r)
                return NULL;
        free(r->buf);
        free(r);
        return NULL;
}

static uint32_t
frame_header_parse(const uint8_t *p)
{
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

void
proto_frame_header(uint32_t size, uint8_t out[PROTO_FRAME_HEADER_SIZE])
{
        out[0] = (uint8_t) (size >> 24);
        out[1] = (uint8_t) (size >> 16);
        out[2] = (uint8_t) (size >> 8);
        out[3] = (uint8_t) size;
}

/* Drop popped bytes so that the pointer handed out by the last pop is the only
 * thing invalidated, and the buffer is reused rather than grown. */
static void
reader_compact(struct proto_frame_reader *r)
{
        if (r->start == 0)
                return;
        if (r->start == r->end && r->alloc > KEEP_MAX) {
                /* A big frame has been consumed: do not keep its memory for an idle peer. */
                free(r->buf);
                r->buf = NULL;
                r->alloc = 0;
        } else if (r->end > r->start)
                memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->scan -= r->start;
        r->start = 0;
}

/* Make room for `extra` more bytes after end. Growth doubles for amortised
 * appends, but never by more than READ_CHUNK beyond what is needed. */
static int
reader_reserve(struct proto_frame_reader *r, size_t extra)
{
        size_t need, want;
        uint8_t *p;

        reader_compact(r);
        if (extra > SIZE_MAX - r->end)
                return -ENOMEM;
        need = r->end + extra;
        if (need <= r->alloc)
                return 0;
        want = r->alloc > SIZE_MAX / 2 ? need : MAX(need, r->alloc * 2);
        if (want - need > READ_CHUNK)
                want = need + READ_CHUNK;
        p = realloc(r->buf, want);
        if (!p)
                return -ENOMEM;
        r->buf = p;
        r->alloc = want;
        return 0;
}

/* Check every header that has become complete since the last call. */
static int
reader_scan(struct proto_frame_reader *r)
{
        while (r->end - r->scan >= PROTO_FRAME_HEADER_SIZE) {
                uint32_t n = frame_header_parse(r->buf + r->scan);

                if (n == 0 || n > r->max_frame) {
                        r->broken = true;
                        return -EMSGSIZE;
                }
                if (r->end - r->scan - PROTO_FRAME_HEADER_SIZE < n)
                        break; /* body incomplete; scan stays on this header */
                r->scan += PROTO_FRAME_HEADER_SIZE + n;
        }
        return 0;
}

int
proto_frame_reader_feed(struct proto_frame_reader *r, const void *data, size_t size)
{
        int k;

        if (r->broken)
                return -EMSGSIZE;
        if (size == 0)
                return 0;
        k = reader_reserve(r, size);
        if (k < 0)
                return k;
        memcpy(r->buf + r->end, data, size);
        r->end += size;
        return reader_scan(r);
}

int
proto_frame_reader_fill(struct proto_frame_reader *r, int fd)
{
        ssize_t n;
        int k;

        if (r->broken)
                return -EMSGSIZE;
        k = reader_reserve(r, READ_CHUNK);
        if (k < 0)
                return k;
        do
                n = read(fd, r->buf + r->end, MIN(r->alloc - r->end, (size_t) INT32_MAX));
        while (n < 0 && errno == EINTR);
        /* A peer that closed with our data unread resets the connection: for a
         * reader that is the end of the stream as much as a clean close. */
        if (n == 0 || (n < 0 && errno == ECONNRESET))
                return -EPIPE;
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        r->end += (size_t) n;
        k = reader_scan(r);
        return k < 0 ? k : (int) n;
}

int
proto_frame_reader_pop(struct proto_frame_reader *r, const void **ret_data, size_t *ret_size)
{
        uint32_t n;

        /* Frames before scan are complete and their headers were checked. */
        if (r->broken || r->scan == r->start)
                return 0;
        n = frame_header_parse(r->buf + r->start);
        *ret_data = r->buf + r->start + PROTO_FRAME_HEADER_SIZE;
        *ret_size = n;
        r->start += PROTO_FRAME_HEADER_SIZE + n;
        return 1;
}

int
proto_frame_reader_pending(const struct proto_frame_reader *r)
{
        return r->end > r->start;
}

int
proto_frame_write(int fd, const void *data, size_t size)
{
        uint8_t header[PROTO_FRAME_HEADER_SIZE];
        struct iovec iov[2];
        struct iovec *v = iov;
        size_t nv = ELEMENTSOF(iov);

        if (size == 0 || size > UINT32_MAX)
                return -EMSGSIZE;
        proto_frame_header((uint32_t) size, header);
        iov[0] = (struct iovec){.iov_base = header, .iov_len = sizeof(header)};
        iov[1] = (struct iovec){.iov_base = (void *) data, .iov_len = size};

        /* One writev so that a frame normally leaves in one segment; a
         * socket may still take it in pieces, hence the loop. */
        while (nv > 0) {
                ssize_t k = writev(fd, v, (int) nv);
                size_t done;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done = (size_t) k;
                while (nv > 0 && done >= v->iov_len) {
                        done -= v->iov_len;
                        v++;
                        nv--;
                }
                if (nv > 0) {
                        v->iov_base = (uint8_t *) v->iov_base + done;
                        v->iov_len -= done;
                }
        }
        return 0;
}
