/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the build-time seccomp program (jail/seccomp-gen.c,
 * jail_seccomp_prebuilt_use()): a zygote loads it instead of compiling the
 * filter, so it must be, instruction for instruction, the program libseccomp
 * builds now, and be refused whenever what it was built from differs. The
 * last test reads back from the kernel the filter a child loaded. Test-only
 * code: trusted, runs as the developer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp-filter.h"

static struct sock_fprog fresh;

static void
setup(void)
{
        int r = jail_seccomp_export(NULL, &fresh);

        cr_assert_eq(r, 0, "jail_seccomp_export: %s", strerror(-r));
}

static void
teardown(void)
{
        free(fresh.filter);
}

static void
assert_same(const struct sock_filter *f, size_t len)
{
        cr_assert_eq(len, fresh.len, "%zu instructions, a fresh compile has %u", len, fresh.len);
        for (size_t i = 0; i < len; i++)
                cr_assert(memcmp(&f[i], &fresh.filter[i], sizeof f[i]) == 0,
                          "instruction %zu differs from a fresh compile", i);
}

TestSuite(prebuilt, .init = setup, .fini = teardown);

Test(prebuilt, equals_a_fresh_compile)
{
        assert_same(jail_seccomp_worker_prebuilt.filter, jail_seccomp_worker_prebuilt.len);
}

/* Built and tested with the same libseccomp and kernel: the zygote takes it. */
Test(prebuilt, used_where_libseccomp_is_the_same)
{
        struct sock_fprog p = {};

        cr_assert_eq(jail_seccomp_prebuilt_use(&jail_seccomp_worker_prebuilt, &p), 0);
        assert_same(p.filter, p.len);
}

Test(prebuilt, refused_when_anything_it_was_built_from_differs)
{
        const struct jail_seccomp_prebuilt *b = &jail_seccomp_worker_prebuilt;
        const struct jail_seccomp_prebuilt other[] = {
                {b->major + 1, b->minor, b->micro, b->api, b->len, b->filter},
                {b->major, b->minor + 1, b->micro, b->api, b->len, b->filter},
                {b->major, b->minor, b->micro + 1, b->api, b->len, b->filter},
                {b->major, b->minor, b->micro, b->api + 1, b->len, b->filter},
                {b->major, b->minor, b->micro, b->api, 0, b->filter},
        };

        for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
                struct sock_fprog p = {};
                cr_assert_eq(jail_seccomp_prebuilt_use(&other[i], &p), 1, "variant %zu taken", i);
                cr_assert_null(p.filter);
        }
        cr_assert_eq(jail_seccomp_prebuilt_use(NULL, &(struct sock_fprog){}), 1);
}

/* What the kernel holds once a child loaded the prebuilt program the way a
 * worker does (jail_seccomp_load_prog()), read back with
 * PTRACE_SECCOMP_GET_FILTER, which needs CAP_SYS_ADMIN: skipped without. */
Test(prebuilt, the_loaded_filter_is_a_fresh_compile)
{
        struct sock_filter got[BPF_MAXINSNS];
        int status;
        long n;
        pid_t pid = fork();

        cr_assert_geq(pid, 0);
        if (pid == 0) {
                struct sock_fprog p = {};
                if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 ||
                    jail_seccomp_prebuilt_use(&jail_seccomp_worker_prebuilt, &p) != 0 ||
                    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || jail_seccomp_load_prog(&p) < 0)
                        _exit(1);
                (void) raise(SIGSTOP);
                _exit(0);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSTOPPED(status), "the child failed to load the program (status %#x)", status);
        n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0L, got);
        int err = errno;
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);
        if (n < 0 && (err == EACCES || err == EPERM || err == EINVAL))
                cr_skip_test("PTRACE_SECCOMP_GET_FILTER: %s", strerror(err));
        cr_assert_gt(n, 0, "PTRACE_SECCOMP_GET_FILTER: %s", strerror(err));
        assert_same(got, (size_t) n);
}
