/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Frame codec: a 4-byte big-endian length N, then exactly N bytes holding one
 * msgpack map (PROTOCOL.md). Runs in the dispatcher and the CLI on bytes from
 * clients and from workers, so every input is hostile: a declared length is
 * checked against max_frame before anything is allocated for it, and the
 * buffer grows only as bytes actually arrive.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PROTO_FRAME_HEADER_SIZE 4u
#define PROTO_FRAME_MAX_DEFAULT (16u * 1024u * 1024u)

struct proto_frame_reader;

int proto_frame_reader_new(uint32_t max_frame, struct proto_frame_reader **ret);
struct proto_frame_reader *proto_frame_reader_free(struct proto_frame_reader *r);

/* Append bytes received from a peer. Returns 0, or -EMSGSIZE if a header
 * declares a length of 0 or above max_frame (the stream is then unusable). */
int proto_frame_reader_feed(struct proto_frame_reader *r, const void *data, size_t size);
/* Read what is available from fd (which may be non-blocking) and feed it.
 * Returns >0 bytes read, -EAGAIN if nothing was available, -EPIPE on end of file
 * (or a reset by the peer),
 * -EMSGSIZE as above, or another -errno. */
int proto_frame_reader_fill(struct proto_frame_reader *r, int fd);
/* Returns 1 and the next complete frame body (valid until the next feed/fill/pop),
 * or 0 if no complete frame is buffered. */
int proto_frame_reader_pop(struct proto_frame_reader *r, const void **ret_data, size_t *ret_size);
/* True if a partial frame is buffered (end of file now means truncation). */
int proto_frame_reader_pending(const struct proto_frame_reader *r);

/* Write the 4-byte header into out (for callers that gather). */
void proto_frame_header(uint32_t size, uint8_t out[PROTO_FRAME_HEADER_SIZE]);
/* Write one whole frame to a blocking fd. -EMSGSIZE if size is 0 or exceeds UINT32_MAX. */
int proto_frame_write(int fd, const void *data, size_t size);
