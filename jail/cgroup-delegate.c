/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Taking over a delegated cgroup v2 group (cgroup.h). A service manager that
 * delegates a group to us (systemd's Delegate=yes) starts us inside it, and
 * the kernel lets a non-root group hand its memory and pids controllers to
 * children only while it holds no process of its own (cgroup-v2.rst, "No
 * Internal Process Constraint"). So at start-up, while we are its only
 * process, we move into a leaf child and enable the controllers; worker
 * groups are then made beside the leaf. Everything we fork later (keeper,
 * spawners, zygotes) starts in the leaf.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd-util.h"
#include "macro.h"

static bool
word_in(const char *text, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = text; (p = strstr(p, word)); p += n)
                if ((p == text || p[-1] == ' ' || p[-1] == '\n') &&
                    (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* Whether every controller is listed in dir/file (cgroup.controllers: the
 * ones the parent hands down; cgroup.subtree_control: the ones enabled for
 * the children). */
bool
jail_cgroup_v2_has(const char *dir, const char *file, const char *const *controllers)
{
        _cleanup_free_ char *text = NULL;
        char path[1200];

        if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path ||
            read_file_bounded(path, 4096, &text, NULL) < 0)
                return false;
        for (size_t i = 0; controllers[i]; i++)
                if (!word_in(text, controllers[i]))
                        return false;
        return true;
}

/* Only a group that holds nobody but us was made for us: moving other
 * processes (a user's shell in its session scope, say) is not ours to do. */
static bool
alone_in(const char *dir)
{
        _cleanup_free_ char *procs = NULL;
        char path[1200];

        (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if (read_file_bounded(path, 1 << 20, &procs, NULL) < 0)
                return false;
        const char *nl = strchr(procs, '\n');

        return strtol(procs, NULL, 10) == (long) getpid() && nl && nl[1] == 0;
}

static int
move_self(const char *dir)
{
        char path[1300];

        if ((size_t) snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= sizeof path)
                return -ENAMETOOLONG;
        return write_string_file(path, "0");
}

int
jail_cgroup_v2_delegate(const char *dir, const char *const *controllers)
{
        char leaf[1200], path[1200], enable[256] = "";
        int r;

        if (jail_cgroup_v2_has(dir, "cgroup.subtree_control", controllers))
                return 0;
        if (!jail_cgroup_v2_has(dir, "cgroup.controllers", controllers))
                return -EOPNOTSUPP; /* not handed down to this group */
        if (access(dir, W_OK) < 0)
                return -errno;
        if (!alone_in(dir))
                return -EBUSY;
        if ((size_t) snprintf(leaf, sizeof leaf, "%s/%s", dir, JAIL_CGROUP_V2_LEAF) >= sizeof leaf)
                return -ENAMETOOLONG;
        for (size_t i = 0; controllers[i]; i++) {
                size_t n = strlen(enable);
                (void) snprintf(enable + n, sizeof enable - n, "%s+%s", n ? " " : "", controllers[i]);
        }
        if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
                return -errno;
        r = move_self(leaf);
        (void) snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
        if (r >= 0)
                r = write_string_file(path, enable);
        if (r < 0) {
                /* Leave the group as we found it. */
                (void) move_self(dir);
                (void) rmdir(leaf);
        }
        return r;
}
