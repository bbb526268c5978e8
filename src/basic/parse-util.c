/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsers for user-supplied values. Every failure is -EINVAL or -ERANGE so the
 * caller can say which value was wrong and why.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse-util.h"

int
parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int
parse_size(const char *s, uint64_t *ret)
{
        static const char suffixes[] = "KMGT";
        uint64_t v = 0;
        unsigned shift = 0;
        const char *p = s;

        if (!s || !isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++)
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (*p - '0'), &v))
                        return -ERANGE;
        if (*p != 0) {
                /* strchr() would also match the terminating NUL, hence the explicit check above. */
                const char *k = strchr(suffixes, *p);
                if (!k || p[1] != 0)
                        return -EINVAL;
                shift = 10 * (unsigned) (k - suffixes + 1);
        }
        if (v > UINT64_MAX >> shift)
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

int
parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *ret_ms)
{
        uint64_t whole = 0, frac_ms = 0, scale = 100;
        const char *p = s;

        if (!s || (!isdigit((unsigned char) *p) && *p != '.'))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                whole = whole * 10 + (uint64_t) (*p - '0');
                if (whole > max_ms / 1000 + 1)
                        return -ERANGE;
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char) *p) && p - 1 == s)
                        return -EINVAL;
                for (; isdigit((unsigned char) *p); p++) {
                        frac_ms += (uint64_t) (*p - '0') * scale;
                        scale /= 10;
                }
        }
        if (*p != 0)
                return -EINVAL;
        uint64_t ms = whole * 1000 + frac_ms;
        if (ms == 0)
                return -ERANGE;
        if (ms > max_ms)
                return -ERANGE;
        *ret_ms = ms;
        return 0;
}

int
module_name_is_valid(const char *s)
{
        bool start = true;

        if (!s || !*s || strlen(s) > 200)
                return 0;
        for (const char *p = s; *p; p++) {
                if (*p == '.') {
                        if (start)
                                return 0;
                        start = true;
                        continue;
                }
                if (!(isalpha((unsigned char) *p) || *p == '_' || (!start && isdigit((unsigned char) *p))))
                        return 0;
                start = false;
        }
        return !start;
}

char **
strv_free(char **l)
{
        if (l)
                for (char **p = l; *p; p++)
                        free(*p);
        free(l);
        return NULL;
}

size_t
strv_length(char *const *l)
{
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

bool
strv_contains(char *const *l, const char *s)
{
        for (; l && *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

int
parse_module_list(const char *s, char ***ret)
{
        char **l = NULL;
        size_t n = 0;

        for (const char *p = s; p && *p;) {
                size_t len = strcspn(p, ",");
                if (len > 0) {
                        char *name = strndup(p, len);
                        char **nl = name ? reallocarray(l, n + 2, sizeof *l) : NULL;
                        if (!nl) {
                                free(name);
                                strv_free(l);
                                return -ENOMEM;
                        }
                        l = nl;
                        l[n++] = name;
                        l[n] = NULL;
                        if (!module_name_is_valid(name)) {
                                strv_free(l);
                                return -EINVAL;
                        }
                }
                p += len;
                if (*p == ',')
                        p++;
        }
        if (!l) {
                l = calloc(1, sizeof *l);
                if (!l)
                        return -ENOMEM;
        }
        *ret = l;
        return 0;
}
