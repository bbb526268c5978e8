/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Identity maps of a jail. Runs in the spawning process, which writes the
 * child's maps after clone(). Invariant: host uid 0 / gid 0 never appear on
 * the outside of a map, so nothing in a jail is ever host root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "idmap.h"
#include "macro.h"

uid_t
jail_idmap_inside_uid(const struct jail_idmap *m)
{
        return m->mode == JAIL_IDMAP_RANGE ? 0 : JAIL_UID_SANDBOX;
}

int
jail_idmap_format(const struct jail_idmap *m, int is_gid, char *buf, size_t size)
{
        unsigned long host = is_gid ? (unsigned long) m->gid : (unsigned long) m->uid;
        int n;

        if (host == 0)
                return -EINVAL;
        switch (m->mode) {
        case JAIL_IDMAP_SINGLE:
                n = snprintf(buf, size, "%u %lu 1\n", JAIL_UID_SANDBOX, host);
                break;
        case JAIL_IDMAP_RANGE:
                if (m->count <= JAIL_UID_SANDBOX || host + m->count - 1 > UINT32_MAX - 1)
                        return -EINVAL;
                n = snprintf(buf, size, "0 %lu %u\n", host, m->count);
                break;
        default:
                return -EINVAL;
        }
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return 0;
}

static int
write_proc_file(pid_t pid, const char *name, const char *content)
{
        char path[64];

        (void) snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, name);
        return write_string_file(path, content);
}

int
jail_idmap_write(const struct jail_idmap *m, pid_t pid)
{
        char buf[128];
        int r;

        /* An unprivileged writer may map its own gid only after setgroups is
         * denied (user_namespaces(7)); in range mode root keeps setgroups so the
         * jail can clear its supplementary groups. */
        if (m->mode == JAIL_IDMAP_SINGLE) {
                r = write_proc_file(pid, "setgroups", "deny");
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        r = jail_idmap_format(m, 1, buf, sizeof buf);
        if (r < 0)
                return r;
        r = write_proc_file(pid, "gid_map", buf);
        if (r < 0)
                return r;
        r = jail_idmap_format(m, 0, buf, sizeof buf);
        if (r < 0)
                return r;
        return write_proc_file(pid, "uid_map", buf);
}

int
jail_idmap_find_subid(const char *path, const char *user, uid_t *ret_base, uint32_t *ret_count)
{
        _cleanup_free_ char *text = NULL;
        size_t ulen = strlen(user);
        int r;

        r = read_file_bounded(path, 1 << 20, &text, NULL);
        if (r < 0)
                return r;
        for (char *line = text, *next; line && *line; line = next) {
                unsigned long base, count;
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (strncmp(line, user, ulen) != 0 || line[ulen] != ':')
                        continue;
                if (sscanf(line + ulen + 1, "%lu:%lu", &base, &count) != 2)
                        continue;
                if (base == 0 || count == 0 || base > UINT32_MAX || count > UINT32_MAX)
                        continue;
                *ret_base = (uid_t) base;
                *ret_count = (uint32_t) count;
                return 0;
        }
        return -ENOENT;
}
