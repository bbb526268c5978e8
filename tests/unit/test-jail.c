/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the jail builder: spec validation, id map strings, subordinate
 * id look-up, the mount plan built against a fake host tree, and (as root,
 * on v1) a group's limits lowered in place.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd-util.h"
#include "idmap.h"
#include "jail.h"
#include "macro.h"
#include "mount-plan.h"

static struct jail_spec *
valid_spec(void)
{
        struct jail_spec *s = NULL;
        char *argv[] = {(char *) "/usr/bin/true", NULL};

        cr_assert_eq(jail_spec_new(&s), 0);
        s->idmap = (struct jail_idmap){JAIL_IDMAP_SINGLE, 1234, 1234, 1};
        cr_assert_eq(jail_spec_set_argv(s, argv), 0);
        return s;
}

Test(spec, valid_spec_passes)
{
        struct jail_spec *s = valid_spec();
        const char *why = NULL;

        cr_expect_eq(jail_spec_validate(s, &why), 0);
        jail_spec_free(s);
}

Test(spec, rejects_missing_or_relative_program)
{
        struct jail_spec *s = valid_spec();
        char *rel[] = {(char *) "python3", NULL};
        const char *why = NULL;

        cr_assert_eq(jail_spec_set_argv(s, rel), 0);
        cr_expect_eq(jail_spec_validate(s, &why), -EINVAL);
        cr_expect(why && strstr(why, "absolute"));
        jail_spec_free(s);
}

Test(spec, rejects_host_root_mapping)
{
        struct jail_spec *s = valid_spec();
        const char *why = NULL;

        s->idmap.uid = 0;
        cr_expect_eq(jail_spec_validate(s, &why), -EINVAL);
        cr_expect(why && strstr(why, "host root"));
        s->idmap = (struct jail_idmap){JAIL_IDMAP_RANGE, 100000, 0, 65536};
        cr_expect_eq(jail_spec_validate(s, &why), -EINVAL);
        jail_spec_free(s);
}

Test(spec, rejects_dotdot_and_relative_binds)
{
        static const char *const bad[] = {"relative", "/a/../etc", "/..", "/a/..", "/"};
        const char *why = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct jail_spec *s = valid_spec();
                cr_assert_eq(jail_spec_add_bind(s, "/usr", bad[i]), 0);
                cr_expect_eq(jail_spec_validate(s, &why), -EINVAL, "target %s accepted", bad[i]);
                jail_spec_free(s);
        }
        struct jail_spec *s = valid_spec();
        cr_assert_eq(jail_spec_add_bind(s, "/opt/x..y", "/opt/..x"), 0);
        cr_expect_eq(jail_spec_validate(s, &why), 0, "names containing dots are fine");
        jail_spec_free(s);
}

Test(spec, rejects_tiny_tmpfs_and_unknown_caps)
{
        struct jail_spec *s = valid_spec();
        const char *why = NULL;

        s->tmp_bytes = 4096;
        cr_expect_eq(jail_spec_validate(s, &why), -EINVAL);
        s->tmp_bytes = 1u << 20;
        s->keep_caps = UINT64_C(1) << 63;
        cr_expect_eq(jail_spec_validate(s, &why), -EINVAL);
        jail_spec_free(s);
}

Test(spec, pass_fds_are_bounded)
{
        struct jail_spec *s = valid_spec();

        for (unsigned i = 0; i < JAIL_MAX_PASS_FDS; i++)
                cr_expect_eq(jail_spec_pass_fd(s, 10 + (int) i), 0);
        cr_expect_eq(jail_spec_pass_fd(s, 99), -E2BIG);
        cr_expect_eq(jail_spec_pass_fd(s, -1), -EBADF);
        cr_expect_eq(jail_spec_add_env(s, "NOEQUALS"), -EINVAL);
        cr_expect_eq(jail_spec_add_env(s, "=x"), -EINVAL);
        jail_spec_free(s);
}

Test(idmap, single_maps_sandbox_to_caller)
{
        struct jail_idmap m = {JAIL_IDMAP_SINGLE, 1001, 1002, 1};
        char buf[64];

        cr_assert_eq(jail_idmap_format(&m, 0, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "1000 1001 1\n");
        cr_assert_eq(jail_idmap_format(&m, 1, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "1000 1002 1\n");
        cr_expect_eq(jail_idmap_inside_uid(&m), JAIL_UID_SANDBOX);
}

Test(idmap, range_maps_from_zero)
{
        struct jail_idmap m = {JAIL_IDMAP_RANGE, 0x70000000, 0x70000000, 65536};
        char buf[64];

        cr_assert_eq(jail_idmap_format(&m, 0, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "0 1879048192 65536\n");
        cr_expect_eq(jail_idmap_inside_uid(&m), 0);
}

Test(idmap, refuses_root_small_ranges_overflow_and_short_buffers)
{
        struct jail_idmap root = {JAIL_IDMAP_SINGLE, 0, 0, 1};
        struct jail_idmap small = {JAIL_IDMAP_RANGE, 100000, 100000, 1000};
        struct jail_idmap wrap = {JAIL_IDMAP_RANGE, 0xffff0000u, 0xffff0000u, 0x20000};
        struct jail_idmap ok = {JAIL_IDMAP_SINGLE, 1001, 1001, 1};
        char buf[64];

        cr_expect_eq(jail_idmap_format(&root, 0, buf, sizeof buf), -EINVAL);
        cr_expect_eq(jail_idmap_format(&small, 0, buf, sizeof buf), -EINVAL);
        cr_expect_eq(jail_idmap_format(&wrap, 0, buf, sizeof buf), -EINVAL);
        cr_expect_eq(jail_idmap_format(&ok, 0, buf, 4), -ENOBUFS);
}

Test(idmap, finds_subordinate_range)
{
        char path[] = "/tmp/test-subuid-XXXXXX";
        int fd = mkstemp(path);
        uid_t base = 0;
        uint32_t count = 0;
        const char text[] = "alice:100000:65536\nvivariumx:1:2\nvivarium:bad\nvivarium:200000:131072\n";

        cr_assert(fd >= 0);
        cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t) sizeof text - 1);
        close(fd);
        cr_expect_eq(jail_idmap_find_subid(path, "vivarium", &base, &count), 0);
        cr_expect_eq(base, 200000);
        cr_expect_eq(count, 131072);
        cr_expect_eq(jail_idmap_find_subid(path, "bob", &base, &count), -ENOENT);
        unlink(path);
        cr_expect_eq(jail_idmap_find_subid("/nonexistent/subuid", "x", &base, &count), -ENOENT);
}

/* A fake host: merged-usr links for bin and lib, a real directory for lib64,
 * an /etc with secrets and some of the allowed entries. */
static char host[] = "/tmp/test-jail-host-XXXXXX";

static void
make_host(void)
{
        char p[512];

        cr_assert(mkdtemp(host));
#define H(fmt) (snprintf(p, sizeof p, "%s" fmt, host), p)
        cr_assert_eq(mkdir(H("/usr"), 0755), 0);
        cr_assert_eq(mkdir(H("/etc"), 0755), 0);
        cr_assert_eq(mkdir(H("/lib64"), 0755), 0);
        cr_assert_eq(symlink("usr/bin", H("/bin")), 0);
        cr_assert_eq(symlink("usr/lib", H("/lib")), 0);
        cr_assert_eq(mkdir(H("/etc/alternatives"), 0755), 0);
        cr_assert_eq(symlink("/usr/share/zoneinfo/UTC", H("/etc/localtime")), 0);
        fclose(fopen(H("/etc/shadow"), "w"));
        fclose(fopen(H("/etc/ld.so.cache"), "w"));
#undef H
}

static void
remove_host(void)
{
        char cmd[600];

        (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", host);
        (void) !system(cmd);
}

static size_t
index_of(const struct jail_mount_plan *p, const char *target)
{
        for (size_t i = 0; i < p->n_steps; i++)
                if (strcmp(p->steps[i].target, target) == 0)
                        return i;
        return SIZE_MAX;
}

Test(mount_plan, mirrors_the_host_and_synthesizes_etc, .init = make_host, .fini = remove_host)
{
        struct jail_spec *s = valid_spec();
        struct jail_mount_plan *p = NULL;
        const struct jail_mount *m;

        cr_assert_eq(jail_spec_add_bind(s, "/tmp/inst/libexec/vivarium", NULL), 0);
        cr_assert_eq(jail_spec_add_bind(s, "/usr/local/share/vivarium", NULL), 0);
        cr_assert_eq(jail_mount_plan_build(s, host, &p), 0);

        m = jail_mount_plan_find(p, "/usr");
        cr_assert(m);
        cr_expect_eq(m->kind, JAIL_MOUNT_BIND_RO);
        m = jail_mount_plan_find(p, "/bin");
        cr_assert(m);
        cr_expect_eq(m->kind, JAIL_MOUNT_SYMLINK);
        cr_expect_str_eq(m->source, "usr/bin");
        m = jail_mount_plan_find(p, "/lib64");
        cr_assert(m);
        cr_expect_eq(m->kind, JAIL_MOUNT_BIND_RO, "a real directory is bound, not linked");
        cr_expect_null(jail_mount_plan_find(p, "/sbin"), "absent host paths are skipped");

        cr_expect_null(jail_mount_plan_find(p, "/etc/shadow"), "no host secrets");
        m = jail_mount_plan_find(p, "/etc/passwd");
        cr_assert(m);
        cr_expect_eq(m->kind, JAIL_MOUNT_FILE);
        cr_expect(strstr(m->source, "sandbox:x:1000:1000:"));
        cr_expect_null(strstr(m->source, "$"), "no password hashes");
        m = jail_mount_plan_find(p, "/etc/localtime");
        cr_assert(m);
        cr_expect_eq(m->kind, JAIL_MOUNT_SYMLINK);
        cr_expect_eq(jail_mount_plan_find(p, "/etc/alternatives")->kind, JAIL_MOUNT_BIND_RO);
        cr_expect_eq(jail_mount_plan_find(p, "/etc/ld.so.cache")->kind, JAIL_MOUNT_BIND_RO);

        cr_expect_eq(jail_mount_plan_find(p, "/proc")->kind, JAIL_MOUNT_PROC);
        cr_expect_eq(jail_mount_plan_find(p, "/dev/null")->kind, JAIL_MOUNT_DEVICE);
        cr_expect_null(jail_mount_plan_find(p, "/dev/tty"));
        cr_expect_lt(index_of(p, "/dev/shm"), index_of(p, "/dev") + 100, "shm is planned");
        size_t seal = SIZE_MAX;
        for (size_t i = 0; i < p->n_steps; i++)
                if (p->steps[i].kind == JAIL_MOUNT_SEAL && strcmp(p->steps[i].target, "/dev") == 0)
                        seal = i;
        cr_expect_neq(seal, SIZE_MAX, "/dev is sealed read-only");
        cr_expect_gt(seal, index_of(p, "/dev/shm"), "after everything in it exists");
        cr_expect_gt(seal, index_of(p, "/dev/stderr"));
        cr_expect_null(jail_mount_plan_find(p, "/dev/vsock"));
        cr_expect_null(jail_mount_plan_find(p, "/sys"));
        cr_expect_eq(jail_mount_plan_find(p, "/tmp")->kind, JAIL_MOUNT_TMPFS);
        m = jail_mount_plan_find(p, "/workspace");
        cr_assert(m);
        cr_expect(strstr(m->options, "uid=1000") && strstr(m->options, "size="));

        /* Binds come after the scratch tmpfs, or /tmp would cover a bind below it. */
        cr_expect_lt(index_of(p, "/tmp"), index_of(p, "/tmp/inst/libexec/vivarium"));
        cr_expect_null(jail_mount_plan_find(p, "/usr/local/share/vivarium"), "already visible through /usr");
        jail_mount_plan_free(p);
        jail_spec_free(s);
}

/* A bind made from a detached tree keeps its descriptor through the plan (the
 * child attaches it, never looks the source up); the spec owns and closes it. */
Test(mount_plan, carries_the_detached_trees_of_binds, .init = make_host, .fini = remove_host)
{
        struct jail_spec *s = valid_spec();
        struct jail_mount_plan *p = NULL;
        const struct jail_mount *m;
        int tree = open("/dev/null", O_RDONLY | O_CLOEXEC),
            skipped = open("/dev/null", O_RDONLY | O_CLOEXEC);

        cr_assert_geq(tree, 0);
        cr_assert_geq(skipped, 0);
        cr_assert_eq(jail_spec_add_bind_tree(s, "/root/a b/\xc3\xa9/vivarium-zygote", NULL, tree), 0);
        cr_assert_eq(jail_spec_add_bind_tree(s, "/usr/local/libexec/vivarium", NULL, skipped), 0);
        cr_assert_eq(jail_spec_add_bind(s, "/opt/vivarium", NULL), 0);
        cr_assert_eq(jail_mount_plan_build(s, host, &p), 0);

        m = jail_mount_plan_find(p, "/root/a b/\xc3\xa9/vivarium-zygote");
        cr_assert(m, "a path with a space and non-ASCII bytes is kept as it is");
        cr_expect_eq(m->kind, JAIL_MOUNT_BIND_RO);
        cr_expect_eq(m->tree_fd, tree);
        cr_expect_eq(jail_mount_plan_find(p, "/opt/vivarium")->tree_fd, -EBADF, "bound by path");
        cr_expect_eq(jail_mount_plan_find(p, "/usr")->tree_fd, -EBADF);
        cr_expect_null(jail_mount_plan_find(p, "/usr/local/libexec/vivarium"),
                       "already visible through /usr");
        jail_mount_plan_free(p);
        cr_expect_eq(fcntl(tree, F_GETFD), FD_CLOEXEC, "the plan does not own the tree");
        jail_spec_free(s);
        cr_expect_eq(fcntl(tree, F_GETFD), -1, "the spec closes its trees");
        cr_expect_eq(fcntl(skipped, F_GETFD), -1, "even those it did not use");
}

Test(mount_plan, kinds_have_names)
{
        for (int k = JAIL_MOUNT_DIR; k <= JAIL_MOUNT_SEAL; k++)
                cr_expect_not_null(jail_mount_kind_to_string((enum jail_mount_kind) k));
        cr_expect_null(jail_mount_kind_to_string((enum jail_mount_kind) 99));
}

Test(cgroup, modes_have_names_and_none_is_honoured)
{
        cr_expect_str_eq(jail_cgroup_mode_to_string(JAIL_CGROUP_V2), "v2");
        cr_expect_str_eq(jail_cgroup_mode_to_string(JAIL_CGROUP_V1), "v1");
        setenv("VIVARIUM_CGROUP", "none", 1);
        cr_expect_eq(jail_cgroup_detect(), JAIL_CGROUP_NONE);
        unsetenv("VIVARIUM_CGROUP");
}

Test(cgroup, rejects_names_with_slashes)
{
        struct jail_cgroup_limits l = {.memory_bytes = 1 << 20, .pids_max = 10};
        struct jail_cgroup *cg = NULL;

        cr_expect_eq(jail_cgroup_create(JAIL_CGROUP_V1, "../escape", &l, &cg), -EINVAL);
        cr_expect_eq(jail_cgroup_create(JAIL_CGROUP_V1, ".hidden", &l, &cg), -EINVAL);
        cr_expect_null(cg);
}

Test(cgroup, rejects_a_cpu_quota_out_of_range_before_creating)
{
        struct jail_cgroup_limits l = {.memory_bytes = 1 << 20, .pids_max = 10, .cpu_milli = 9};
        struct jail_cgroup *cg = NULL;

        cr_expect_eq(jail_cgroup_create(JAIL_CGROUP_V1, "w1", &l, &cg), -EINVAL, "under 1 ms per period");
        l.cpu_milli = JAIL_CGROUP_CPU_MAX_MILLI + 1;
        cr_expect_eq(jail_cgroup_create(JAIL_CGROUP_V2, "w1", &l, &cg), -EINVAL);
        cr_expect_null(cg);
}

Test(cgroup, cpu_quota_per_period)
{
        char buf[64];

        cr_expect_eq(jail_cgroup_cpu_quota_us(500), 50000, "half a CPU: 50 ms of each 100 ms");
        cr_expect_eq(jail_cgroup_cpu_quota_us(2000), 200000, "two CPUs: more than the period");
        cr_expect_eq(jail_cgroup_cpu_quota_us(10), 1000, "the least the kernel takes");
        cr_expect_eq(jail_cgroup_cpu_quota_us(1250), 125000);
        cr_assert_eq(jail_cgroup_cpu_max_format(500, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "50000 100000");
        cr_assert_eq(jail_cgroup_cpu_max_format(JAIL_CGROUP_CPU_MAX_MILLI, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "102400000 100000");
        cr_expect_eq(jail_cgroup_cpu_max_format(0, buf, sizeof buf), -ERANGE,
                     "0 is no quota, not cpu.max 0");
        cr_expect_eq(jail_cgroup_cpu_max_format(9, buf, sizeof buf), -ERANGE);
        cr_expect_eq(jail_cgroup_cpu_max_format(JAIL_CGROUP_CPU_MAX_MILLI + 1, buf, sizeof buf), -ERANGE);
        cr_expect_eq(jail_cgroup_cpu_max_format(500, buf, 8), -ENOBUFS);
}

Test(cgroup, no_cpu_quota_without_cgroups)
{
        cr_expect_eq(jail_cgroup_cpu_usable(JAIL_CGROUP_NONE), -EOPNOTSUPP);
}

static uint64_t
read_u64_file(const char *dir, const char *file)
{
        _cleanup_free_ char *text = NULL;
        char path[1024];

        (void) snprintf(path, sizeof path, "%s/%s", dir, file);
        cr_assert_geq(read_file_bounded(path, 4096, &text, NULL), 0, "reading %s", path);
        return strtoull(text, NULL, 10);
}

/* A request's lower limits on a group made with the service's, on the
 * machine's v1 hierarchies (root): read back from the kernel's files; a CPU
 * quota the group was made without puts it (and its process) into the cpu
 * hierarchy, and 0 lifts it again. */
Test(cgroup, set_limits_lowers_and_adds_a_quota_on_v1)
{
        struct jail_cgroup_limits l = {.memory_bytes = 64 << 20, .pids_max = 32};
        const char *mem = "/sys/fs/cgroup/memory/vivarium", *cpu = "/sys/fs/cgroup/cpu/vivarium";
        struct jail_cgroup *cg = NULL;
        _cleanup_free_ char *procs = NULL;
        char name[64], dir[512], pid_text[32];
        pid_t child;

        if (geteuid() != 0 || setenv("VIVARIUM_CGROUP", "v1", 1) < 0 ||
            jail_cgroup_detect() != JAIL_CGROUP_V1 || jail_cgroup_cpu_usable(JAIL_CGROUP_V1) < 0)
                cr_skip_test("needs root and the v1 memory, pids and cpu hierarchies");
        (void) snprintf(name, sizeof name, "test-limits-%d", (int) getpid());
        cr_assert_eq(jail_cgroup_create(JAIL_CGROUP_V1, name, &l, &cg), 0);
        child = fork();
        cr_assert_geq(child, 0);
        if (child == 0) {
                pause();
                _exit(0);
        }
        cr_assert_eq(jail_cgroup_attach(cg, child), 0);
        (void) snprintf(dir, sizeof dir, "%s/%s", cpu, name);
        cr_expect_neq(access(dir, F_OK), 0, "no cpu group without a quota");

        l = (struct jail_cgroup_limits){.memory_bytes = 32 << 20, .pids_max = 8, .cpu_milli = 250};
        cr_assert_eq(jail_cgroup_set_limits(cg, &l), 0);
        (void) snprintf(dir, sizeof dir, "%s/%s", mem, name);
        cr_expect_eq(read_u64_file(dir, "memory.limit_in_bytes"), 32 << 20);
        (void) snprintf(dir, sizeof dir, "/sys/fs/cgroup/pids/vivarium/%s", name);
        cr_expect_eq(read_u64_file(dir, "pids.max"), 8);
        (void) snprintf(dir, sizeof dir, "%s/%s", cpu, name);
        cr_expect_eq(read_u64_file(dir, "cpu.cfs_quota_us"), 25000, "a quarter of each 100 ms");
        (void) snprintf(pid_text, sizeof pid_text, "%d", (int) child);
        (void) snprintf(dir, sizeof dir, "%s/%s/cgroup.procs", cpu, name);
        cr_assert_geq(read_file_bounded(dir, 4096, &procs, NULL), 0);
        cr_expect(strstr(procs, pid_text) != NULL, "the group's process moved into the cpu group");

        l.cpu_milli = 0;
        cr_assert_eq(jail_cgroup_set_limits(cg, &l), 0);
        (void) snprintf(dir, sizeof dir, "%s/%s", cpu, name);
        _cleanup_free_ char *quota = NULL;
        char qpath[600];
        (void) snprintf(qpath, sizeof qpath, "%s/cpu.cfs_quota_us", dir);
        cr_assert_geq(read_file_bounded(qpath, 64, &quota, NULL), 0);
        cr_expect_eq(strtoll(quota, NULL, 10), -1, "0 lifts the quota");

        l.cpu_milli = 9;
        cr_expect_eq(jail_cgroup_set_limits(cg, &l), -EINVAL, "a quota out of range");
        jail_cgroup_free(cg); /* kills the child */
        (void) waitpid(child, NULL, 0);
        (void) snprintf(dir, sizeof dir, "%s/%s", cpu, name);
        cr_expect_neq(access(dir, F_OK), 0, "the cpu group is removed with the others");
}
