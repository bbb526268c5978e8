/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Strict parsers for numbers and lists given on command lines and in
 * configuration: no sign surprises, no trailing garbage, explicit bounds.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

int parse_u64(const char *s, uint64_t *ret);
/* Bytes as digits with an optional binary suffix K, M, G or T (1K = 1024):
 * "512M". No sign, no fraction, no spaces; -ERANGE if it overflows. */
int parse_size(const char *s, uint64_t *ret);
/* Seconds as a decimal (e.g. "1.5"), > 0, into milliseconds, at most max_ms. */
int parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *ret_ms);
/* A comma-separated list of Python module names (dotted identifiers). */
int parse_module_list(const char *s, char ***ret);
int module_name_is_valid(const char *s);
char **strv_free(char **l);
size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);
static inline void
strv_freep(char ***l)
{
        strv_free(*l);
}
