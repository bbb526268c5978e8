/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The watchdog's pure parts (memwatch.h): reading statm, smaps_rollup and
 * mountinfo text, the (dev, inode) set that charges a file once however
 * many descriptors hold it, and the decision. The text comes from the
 * kernel about processes the code controls: the names in it (a mount point,
 * a process's name) may be anything, the numbers are the kernel's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memwatch.h"

int
memwatch_parse_statm(const char *text, uint64_t *ret_rss_pages)
{
        char *end;
        unsigned long long size, rss;

        /* "size resident shared text lib data dt", in pages */
        errno = 0;
        size = strtoull(text, &end, 10);
        if (errno || end == text || *end != ' ')
                return -EBADMSG;
        text = end + 1;
        rss = strtoull(text, &end, 10);
        if (errno || end == text || (*end != ' ' && *end != '\n' && *end != '\0'))
                return -EBADMSG;
        (void) size;
        *ret_rss_pages = rss;
        return 0;
}

int
memwatch_parse_rollup(const char *text, uint64_t *ret_pss_kb)
{
        /* The first line names the range; "Pss:" starts a line of its own
         * (Pss_Anon and the others follow it with another name). */
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                char *end;
                unsigned long long kb;

                if (strncmp(p, "Pss:", 4) != 0)
                        continue;
                errno = 0;
                kb = strtoull(p + 4, &end, 10);
                if (errno || end == p + 4 || strncmp(end, " kB", 3) != 0)
                        return -EBADMSG;
                *ret_pss_kb = kb;
                return 0;
        }
        /* A process that has exited has no mappings: nothing to charge. */
        return strlen(text) == 0 ? (*ret_pss_kb = 0, 0) : -EBADMSG;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static bool
unescape_field(const char *s, size_t len, char *buf, size_t size)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                    s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        c = (char) (((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
                        i += 3;
                }
                if (o + 1 >= size)
                        return false;
                buf[o++] = c;
        }
        buf[o] = '\0';
        return true;
}

bool
memwatch_parse_mount(const char *line, char *buf, size_t size)
{
        /* id parent major:minor root mountpoint options [optional...] - fstype source super */
        const char *f[6], *sep, *fstype, *p = line;
        size_t n = 0;

        while (n < 6 && *p) {
                f[n++] = p;
                p = strchr(p, ' ');
                if (!p)
                        return false;
                p++;
        }
        if (n < 6)
                return false;
        sep = strstr(p - 1, " - ");
        if (!sep)
                return false;
        fstype = sep + 3;
        if (strncmp(fstype, "tmpfs ", 6) != 0)
                return false;
        /* The per-mount options: "rw" or "ro" first. */
        if (strncmp(f[5], "rw", 2) != 0 || (f[5][2] != ',' && f[5][2] != ' '))
                return false;
        return unescape_field(f[4], (size_t) (f[5] - 1 - f[4]), buf, size);
}

static uint64_t
seen_key(uint64_t dev, uint64_t ino)
{
        /* A mix of both, never 0 (the empty slot). */
        uint64_t k = (dev * UINT64_C(0x9e3779b97f4a7c15)) ^ (ino + UINT64_C(0x632be59bd9b4e019));
        k ^= k >> 29;
        return k ? k : 1;
}

bool
memwatch_seen_add(struct memwatch_seen *s, uint64_t dev, uint64_t ino)
{
        uint64_t k = seen_key(dev, ino);
        size_t i;

        if (s->n * 2 >= s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                uint64_t *keys = calloc(cap, sizeof *keys);
                if (!keys)
                        return true; /* charge it again: an upper bound stays one */
                for (size_t j = 0; j < s->cap; j++)
                        if (s->keys[j]) {
                                for (i = s->keys[j] & (cap - 1); keys[i]; i = (i + 1) & (cap - 1))
                                        ;
                                keys[i] = s->keys[j];
                        }
                free(s->keys);
                s->keys = keys;
                s->cap = cap;
        }
        /* For one device the mix is a bijection of the inode, so files of
         * one filesystem never collide; across devices a collision (the file
         * then goes uncharged) cannot be chosen by the code. */
        for (i = k & (s->cap - 1); s->keys[i]; i = (i + 1) & (s->cap - 1))
                if (s->keys[i] == k)
                        return false;
        s->keys[i] = k;
        s->n++;
        return true;
}

void
memwatch_seen_reset(struct memwatch_seen *s)
{
        if (s->keys)
                memset(s->keys, 0, s->cap * sizeof *s->keys);
        s->n = 0;
}

void
memwatch_seen_free(struct memwatch_seen *s)
{
        free(s->keys);
        *s = (struct memwatch_seen){};
}

uint64_t
memwatch_sample_total(const struct memwatch_sample *s)
{
        return s->processes + s->tmpfs + s->files + s->pipes + s->sockets;
}

bool
memwatch_over(uint64_t total, uint64_t baseline, uint64_t limit)
{
        return total > baseline && total - baseline > limit;
}
