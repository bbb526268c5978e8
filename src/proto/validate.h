/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Structural validation of one msgpack object before msgpack-c unpacks it.
 * msgpack-c trusts declared array/map/str/bin sizes and allocates for them;
 * this walker proves, without allocating, that every declared size is backed
 * by bytes actually present, that nesting stays within max_depth, that the
 * buffer holds exactly one object and that it is a map, that map keys are
 * strings, and that every str is valid UTF-8.
 */
#pragma once

#include <stddef.h>

#define PROTO_MAX_DEPTH_DEFAULT 32u

struct proto_validate_limits {
        unsigned max_depth;  /* nesting of arrays/maps; the top-level map is depth 1 */
        size_t max_elements; /* total objects in the frame, a bound on unpacked size */
};

/* 0 if valid; otherwise -EBADMSG (malformed/truncated/trailing bytes/not a map/
 * non-string key/ext type), -EILSEQ (invalid UTF-8 in a str), -ELOOP (too deep),
 * -E2BIG (too many elements). ret_error, if not NULL, receives a static
 * human-readable reason. limits may be NULL for the defaults. */
int proto_validate_map(const void *data, size_t size, const struct proto_validate_limits *limits,
                       const char **ret_error);
