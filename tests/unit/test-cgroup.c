/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Taking over a delegated cgroup v2 group, against the kernel's real rules.
 * The v2 hierarchy of the machine may have none of the controllers vivarium
 * limits with (a v1 machine keeps memory and pids in v1): any domain
 * controller the v2 root can hand down shows the same rule, "no internal
 * processes", so the test uses the first one available. Needs root (it
 * writes below the v2 root); elsewhere it is skipped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd-util.h"
#include "macro.h"

static char mnt[256], controller[32];
static bool enabled_at_root; /* we enabled it in the root's subtree_control: undo */

static bool
file_has(const char *path, const char *word)
{
        _cleanup_free_ char *text = NULL;

        return read_file_bounded(path, 4096, &text, NULL) >= 0 && strstr(text, word);
}

static void
find_v2(void)
{
        static const char *const mounts[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
        static const char *const preferred[] = {"hugetlb", "pids", "memory", "io", "rdma", "misc"};
        char path[512];

        if (geteuid() != 0)
                return;
        for (size_t i = 0; i < 2 && !mnt[0]; i++) {
                (void) snprintf(path, sizeof path, "%s/cgroup.controllers", mounts[i]);
                if (access(path, R_OK) == 0)
                        (void) snprintf(mnt, sizeof mnt, "%s", mounts[i]);
        }
        (void) snprintf(path, sizeof path, "%s/cgroup.controllers", mnt);
        for (size_t i = 0; mnt[0] && i < 6 && !controller[0]; i++)
                if (file_has(path, preferred[i]))
                        (void) snprintf(controller, sizeof controller, "%s", preferred[i]);
        (void) snprintf(path, sizeof path, "%s/cgroup.subtree_control", mnt);
        if (controller[0] && !file_has(path, controller)) {
                char enable[40];
                (void) snprintf(enable, sizeof enable, "+%s", controller);
                enabled_at_root = write_string_file(path, enable) >= 0;
                if (!enabled_at_root)
                        controller[0] = 0;
        }
}

static void
undo_root(void)
{
        char path[512], disable[40];

        if (!enabled_at_root)
                return;
        (void) snprintf(path, sizeof path, "%s/cgroup.subtree_control", mnt);
        (void) snprintf(disable, sizeof disable, "-%s", controller);
        (void) write_string_file(path, disable);
}

/* A child that joins group dir, then asks to take it over for controllers;
 * it reports the result over a pipe and waits to be killed. */
static pid_t
child_delegating(const char *dir, const char *want, int *ret_result)
{
        int p[2];
        pid_t pid;

        cr_assert_eq(pipe(p), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                char path[600];
                const char *const controllers[] = {want, NULL};
                int r;
                (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
                r = write_string_file(path, "0");
                if (r >= 0)
                        r = jail_cgroup_v2_delegate(dir, controllers);
                (void) !write(p[1], &r, sizeof r);
                pause();
                _exit(0);
        }
        close(p[1]);
        cr_assert_eq(read(p[0], ret_result, sizeof *ret_result), (ssize_t) sizeof *ret_result);
        close(p[0]);
        return pid;
}

static void
stop(pid_t pid)
{
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

static bool
in_group(pid_t pid, const char *suffix)
{
        char path[64];
        _cleanup_free_ char *text = NULL;

        (void) snprintf(path, sizeof path, "/proc/%d/cgroup", (int) pid);
        if (read_file_bounded(path, 4096, &text, NULL) < 0)
                return false;
        char *v2 = strstr(text, "0::");
        if (!v2)
                return false;
        v2[strcspn(v2, "\n")] = 0;
        size_t n = strlen(v2), m = strlen(suffix);
        return n >= m && strcmp(v2 + n - m, suffix) == 0;
}

TestSuite(cgroup_v2, .init = find_v2, .fini = undo_root);

Test(cgroup_v2, takes_over_a_group_it_is_alone_in)
{
        char dir[512], leaf_suffix[128], path[700];
        int r;

        if (!controller[0])
                cr_skip_test("needs root and a domain controller in the v2 hierarchy");
        (void) snprintf(dir, sizeof dir, "%s/vivarium-test-%d", mnt, (int) getpid());
        cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
        pid_t child = child_delegating(dir, controller, &r);
        cr_expect_eq(r, 0, "delegate: %s", strerror(-r));
        (void) snprintf(leaf_suffix, sizeof leaf_suffix, "/vivarium-test-%d/%s", (int) getpid(),
                        JAIL_CGROUP_V2_LEAF);
        cr_expect(in_group(child, leaf_suffix), "the child moved into the leaf");
        (void) snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
        cr_expect(file_has(path, controller), "%s enabled for the children", controller);
        /* A worker group beside the leaf gets the controller. */
        (void) snprintf(path, sizeof path, "%s/w1", dir);
        cr_expect_eq(mkdir(path, 0755), 0);
        (void) snprintf(path, sizeof path, "%s/w1/cgroup.controllers", dir);
        cr_expect(file_has(path, controller));
        /* Again, already done: nothing to do. */
        const char *const controllers[] = {controller, NULL};
        cr_expect_eq(jail_cgroup_v2_delegate(dir, controllers), 0);
        stop(child);
        (void) snprintf(path, sizeof path, "%s/w1", dir);
        (void) rmdir(path);
        (void) snprintf(path, sizeof path, "%s/%s", dir, JAIL_CGROUP_V2_LEAF);
        (void) rmdir(path);
        cr_expect_eq(rmdir(dir), 0, "rmdir %s: %s", dir, strerror(errno));
}

Test(cgroup_v2, leaves_a_shared_group_alone)
{
        char dir[512], path[700];
        int r;

        if (!controller[0])
                cr_skip_test("needs root and a domain controller in the v2 hierarchy");
        (void) snprintf(dir, sizeof dir, "%s/vivarium-test-%d-shared", mnt, (int) getpid());
        cr_assert_eq(mkdir(dir, 0755), 0);
        /* Somebody else's process is already in the group. */
        pid_t other = fork();
        if (other == 0) {
                pause();
                _exit(0);
        }
        char pid[16];
        (void) snprintf(pid, sizeof pid, "%d", (int) other);
        (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        cr_assert_eq(write_string_file(path, pid), 0);
        pid_t child = child_delegating(dir, controller, &r);
        cr_expect_eq(r, -EBUSY);
        (void) snprintf(path, sizeof path, "%s/%s", dir, JAIL_CGROUP_V2_LEAF);
        cr_expect_neq(access(path, F_OK), 0, "no leaf was made");
        stop(child);
        stop(other);
        cr_expect_eq(rmdir(dir), 0);
}

Test(cgroup_v2, gives_up_cleanly_without_the_controllers)
{
        char dir[512], path[700], suffix[128];
        int r;

        if (!controller[0])
                cr_skip_test("needs root and a domain controller in the v2 hierarchy");
        (void) snprintf(dir, sizeof dir, "%s/vivarium-test-%d-missing", mnt, (int) getpid());
        cr_assert_eq(mkdir(dir, 0755), 0);
        pid_t child = child_delegating(dir, "no-such-controller", &r);
        cr_expect_eq(r, -EOPNOTSUPP);
        (void) snprintf(suffix, sizeof suffix, "/vivarium-test-%d-missing", (int) getpid());
        cr_expect(in_group(child, suffix), "the child stayed where it was");
        (void) snprintf(path, sizeof path, "%s/%s", dir, JAIL_CGROUP_V2_LEAF);
        cr_expect_neq(access(path, F_OK), 0, "no leaf was made");
        stop(child);
        cr_expect_eq(rmdir(dir), 0);
}
