/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Text helpers for the faces that turn the code's bytes into text: UTF-8
 * checking with replacement, and base64. */
#pragma once

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes, n > 0), or 0 if
 * the bytes there are not one (overlong forms and surrogates are invalid). */
size_t utf8_sequence_length(const char *s, size_t n);
/* s decoded as UTF-8, each invalid byte replaced by U+FFFD; a new
 * NUL-terminated buffer (NUL bytes of s are kept). */
int utf8_lossy(const char *s, size_t n, char **ret, size_t *ret_len);
/* Standard base64 with padding; a new NUL-terminated buffer. */
int base64_encode(const void *data, size_t n, char **ret, size_t *ret_len);
