/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text-util.h"

size_t
utf8_sequence_length(const char *str, size_t n)
{
        const unsigned char *s = (const unsigned char *) str;
        unsigned cp;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

int
utf8_lossy(const char *s, size_t n, char **ret, size_t *ret_len)
{
        /* Each invalid byte becomes three (U+FFFD is EF BF BD). */
        char *out, *p;

        if (n > (SIZE_MAX - 1) / 3)
                return -ENOMEM;
        out = p = malloc(n * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence_length(s + i, n - i);
                if (len == 0) {
                        memcpy(p, "\xef\xbf\xbd", 3);
                        p += 3;
                        i++;
                } else {
                        memcpy(p, s + i, len);
                        p += len;
                        i += len;
                }
        }
        *p = '\0';
        *ret = out;
        *ret_len = (size_t) (p - out);
        return 0;
}

int
base64_encode(const void *data, size_t n, char **ret, size_t *ret_len)
{
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *s = data;
        char *out, *p;

        if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
                return -ENOMEM;
        out = p = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned) s[i] << 16 | (i + 1 < n ? (unsigned) s[i + 1] << 8 : 0) |
                             (i + 2 < n ? s[i + 2] : 0);
                *p++ = tbl[v >> 18 & 63];
                *p++ = tbl[v >> 12 & 63];
                *p++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
                *p++ = i + 2 < n ? tbl[v & 63] : '=';
        }
        *p = '\0';
        *ret = out;
        *ret_len = (size_t) (p - out);
        return 0;
}
