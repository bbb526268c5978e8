/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup management: finding the hierarchies, making and filling groups
 * (killing and removing them is cgroup-kill.c). Runs in the spawning or
 * dispatching process, never in the jail: the jail has a cgroup namespace and
 * no cgroup filesystem, so code in it cannot see or change its limits
 * (THREATS.md §C: no release_agent).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "macro.h"

static const char *const mode_names[] = {
        [JAIL_CGROUP_NONE] = "none",
        [JAIL_CGROUP_V1] = "v1",
        [JAIL_CGROUP_V2] = "v2",
};

const char *
jail_cgroup_mode_to_string(enum jail_cgroup_mode m)
{
        return (size_t) m < ELEMENTSOF(mode_names) ? mode_names[m] : NULL;
}

static bool
option_present(char *opts, const char *name)
{
        char *save = NULL;

        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
                if (strcmp(o, name) == 0)
                        return true;
        return false;
}

/* Find the mount point of a cgroup hierarchy: fstype cgroup2, or cgroup with
 * the controller among its super options. */
static int
find_mount(const char *fstype, const char *controller, char *buf, size_t size)
{
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r = read_file_bounded("/proc/self/mountinfo", 4 << 20, &text, NULL);

        if (r < 0)
                return r;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[512], fs[64], opts[512];
                const char *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
                    sscanf(sep + 3, "%63s %*s %511s", fs, opts) != 2 || strcmp(fs, fstype) != 0)
                        continue;
                if (controller && !option_present(opts, controller))
                        continue;
                if ((size_t) snprintf(buf, size, "%s", mnt) >= size)
                        return -ENAMETOOLONG;
                return 0;
        }
        return -ENOENT;
}

/* The v2 group we live in (without checking its controllers); with
 * parent, the group that holds the worker groups: the parent of our leaf
 * once we took our group over (jail_cgroup_v2_delegate()), also in every
 * process we forked since. */
static int
v2_self(char *buf, size_t size, bool parent)
{
        char mnt[512];
        _cleanup_free_ char *self = NULL;
        int r = find_mount("cgroup2", NULL, mnt, sizeof mnt);

        if (r < 0)
                return r;
        r = read_file_bounded("/proc/self/cgroup", 64 << 10, &self, NULL);
        if (r < 0)
                return r;
        char *p = strstr(self, "0::");
        if (!p)
                return -ENOENT;
        p += 3;
        p[strcspn(p, "\n")] = 0;
        if ((size_t) snprintf(buf, size, "%s%s", mnt, strcmp(p, "/") == 0 ? "" : p) >= size)
                return -ENAMETOOLONG;
        char *last = strrchr(buf, '/');
        if (parent && strcmp(p, "/") != 0 && strcmp(last + 1, JAIL_CGROUP_V2_LEAF) == 0)
                *last = 0;
        return 0;
}

static bool
v2_enabled(const char *base, const char *controller)
{
        return jail_cgroup_v2_has(base, "cgroup.subtree_control", (const char *const[]){controller, NULL});
}

/* Once, at start-up, before we fork: take over the (non-root) group we were
 * started in, if it was delegated to us (see jail_cgroup_v2_delegate()). */
static void
v2_take_over(void)
{
        static const char *const controllers[] = {"memory", "pids", NULL};
        char path[1024];

        if (v2_self(path, sizeof path, false) < 0)
                return;
        const char *last = strrchr(path, '/');
        if (strcmp(last + 1, JAIL_CGROUP_V2_LEAF) == 0 ||
            jail_cgroup_v2_has(path, "cgroup.subtree_control", controllers))
                return; /* done already, or the root group (or whoever set it up) enabled them */
        (void) jail_cgroup_v2_delegate(path, controllers);
}

int
cgroup_v2_base(char *buf, size_t size)
{
        char path[1024];
        int r = v2_self(path, sizeof path, true);

        if (r < 0)
                return r;
        if (!v2_enabled(path, "memory") || !v2_enabled(path, "pids"))
                return -ENOENT;
        if (access(path, W_OK) < 0)
                return -errno;
        return (size_t) snprintf(buf, size, "%s", path) >= size ? -ENAMETOOLONG : 0;
}

int
cgroup_v1_base(const char *controller, char *buf, size_t size)
{
        char mnt[512];
        int r = find_mount("cgroup", controller, mnt, sizeof mnt);

        if (r < 0)
                return r;
        if (access(mnt, W_OK) < 0)
                return -errno;
        return (size_t) snprintf(buf, size, "%s/vivarium", mnt) >= size ? -ENAMETOOLONG : 0;
}

enum jail_cgroup_mode
jail_cgroup_detect(void)
{
        const char *want = getenv("VIVARIUM_CGROUP");
        bool v2 = !want || strcmp(want, "v2") == 0 || strcmp(want, "v2-inherited") == 0;
        char buf[1024];

        if (want && strcmp(want, "none") == 0)
                return JAIL_CGROUP_NONE;
        if (v2)
                v2_take_over();
        if (v2 && cgroup_v2_base(buf, sizeof buf) == 0)
                return JAIL_CGROUP_V2;
        if ((!want || strcmp(want, "v1") == 0) && cgroup_v1_base("memory", buf, sizeof buf) == 0 &&
            cgroup_v1_base("pids", buf, sizeof buf) == 0)
                return JAIL_CGROUP_V1;
        return JAIL_CGROUP_NONE;
}

static int
write_u64(const char *dir, const char *file, uint64_t v)
{
        char path[1200], val[32];

        (void) snprintf(path, sizeof path, "%s/%s", dir, file);
        (void) snprintf(val, sizeof val, "%llu", (unsigned long long) v);
        return write_string_file(path, val);
}

static int
write_string_file_at(const char *dir, const char *file, const char *s)
{
        char path[1200];

        (void) snprintf(path, sizeof path, "%s/%s", dir, file);
        return write_string_file(path, s);
}

static int
make_group(const char *base, const char *name, char **ret)
{
        char path[1200];

        if (mkdir(base, 0755) < 0 && errno != EEXIST)
                return -errno;
        (void) snprintf(path, sizeof path, "%s/%s", base, name);
        if (mkdir(path, 0755) < 0)
                return -errno;
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

uint64_t
jail_cgroup_cpu_quota_us(uint32_t cpu_milli)
{
        return (uint64_t) cpu_milli * JAIL_CGROUP_CPU_PERIOD_US / 1000;
}

int
jail_cgroup_cpu_max_format(uint32_t cpu_milli, char *buf, size_t size)
{
        if (cpu_milli < JAIL_CGROUP_CPU_MIN_MILLI || cpu_milli > JAIL_CGROUP_CPU_MAX_MILLI)
                return -ERANGE;
        if ((size_t) snprintf(buf, size, "%llu %u", (unsigned long long) jail_cgroup_cpu_quota_us(cpu_milli),
                              JAIL_CGROUP_CPU_PERIOD_US) >= size)
                return -ENOBUFS;
        return 0;
}

int
jail_cgroup_cpu_usable(enum jail_cgroup_mode mode)
{
        char base[1024], path[1100];
        int r;

        if (mode == JAIL_CGROUP_V1)
                return cgroup_v1_base("cpu", base, sizeof base);
        if (mode != JAIL_CGROUP_V2)
                return -EOPNOTSUPP;
        r = cgroup_v2_base(base, sizeof base);
        if (r < 0 || v2_enabled(base, "cpu"))
                return r;
        /* Whoever set the subtree up enabled memory and pids for its
         * children; cpu may be left out, so ask for it ourselves. It fails
         * if the cpu controller is not offered to our group (not in its
         * cgroup.controllers), or with real-time processes in the subtree. */
        (void) snprintf(path, sizeof path, "%s/cgroup.subtree_control", base);
        r = write_string_file(path, "+cpu");
        if (r < 0)
                return r;
        return v2_enabled(base, "cpu") ? 0 : -EOPNOTSUPP;
}

static int
create_v1_cpu(struct jail_cgroup *cg, const char *name, uint32_t cpu_milli)
{
        char base[1024];
        int r = cgroup_v1_base("cpu", base, sizeof base);

        if (r >= 0)
                r = make_group(base, name, &cg->dirs[CG_CPU]);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_CPU], "cpu.cfs_period_us", JAIL_CGROUP_CPU_PERIOD_US);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_CPU], "cpu.cfs_quota_us", jail_cgroup_cpu_quota_us(cpu_milli));
        return r;
}

static int
create_v1(struct jail_cgroup *cg, const char *name, const struct jail_cgroup_limits *l)
{
        char base[1024], memsw[1300];
        int r = cgroup_v1_base("memory", base, sizeof base);

        if (r >= 0)
                r = make_group(base, name, &cg->dirs[CG_MEMORY]);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_MEMORY], "memory.limit_in_bytes", l->memory_bytes);
        /* With swap accounting the limit must also cover swap, or the code pages out past it. */
        (void) snprintf(memsw, sizeof memsw, "%s/memory.memsw.limit_in_bytes",
                        cg->dirs[CG_MEMORY] ? cg->dirs[CG_MEMORY] : "");
        if (r >= 0 && access(memsw, F_OK) == 0)
                r = write_u64(cg->dirs[CG_MEMORY], "memory.memsw.limit_in_bytes", l->memory_bytes);
        if (r >= 0)
                r = cgroup_v1_base("pids", base, sizeof base);
        if (r >= 0)
                r = make_group(base, name, &cg->dirs[CG_PIDS]);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_PIDS], "pids.max", l->pids_max);
        if (r >= 0 && l->cpu_milli > 0)
                r = create_v1_cpu(cg, name, l->cpu_milli);
        /* The freezer is optional: without it the kill walks cgroup.procs, and
         * a process forking at that moment can slip through. */
        if (r >= 0 && cgroup_v1_base("freezer", base, sizeof base) == 0)
                (void) make_group(base, name, &cg->dirs[CG_FREEZER]);
        return r;
}

static int
create_v2(struct jail_cgroup *cg, const char *name, const struct jail_cgroup_limits *l)
{
        char base[1024], cpu_max[64], path[1300];
        int r = cgroup_v2_base(base, sizeof base);

        if (r >= 0)
                r = make_group(base, name, &cg->dirs[CG_MEMORY]);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_MEMORY], "memory.max", l->memory_bytes);
        if (r >= 0) /* absent without swap accounting; then there is nothing to cap */
                (void) write_u64(cg->dirs[CG_MEMORY], "memory.swap.max", 0);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_MEMORY], "pids.max", l->pids_max);
        /* cpu.max exists only with the cpu controller enabled for the parent's
         * children (jail_cgroup_cpu_usable()): its absence fails the group. */
        if (r >= 0 && l->cpu_milli > 0)
                r = jail_cgroup_cpu_max_format(l->cpu_milli, cpu_max, sizeof cpu_max);
        if (r >= 0 && l->cpu_milli > 0) {
                (void) snprintf(path, sizeof path, "%s/cpu.max", cg->dirs[CG_MEMORY]);
                r = write_string_file(path, cpu_max);
        }
        return r;
}

int
jail_cgroup_create(enum jail_cgroup_mode mode, const char *name, const struct jail_cgroup_limits *limits,
                   struct jail_cgroup **ret)
{
        struct jail_cgroup *cg = calloc(1, sizeof *cg);
        int r;

        if (!cg)
                return -ENOMEM;
        cg->mode = mode;
        if (strchr(name, '/') || name[0] == '.' ||
            (limits->cpu_milli > 0 && (limits->cpu_milli < JAIL_CGROUP_CPU_MIN_MILLI ||
                                       limits->cpu_milli > JAIL_CGROUP_CPU_MAX_MILLI)))
                r = -EINVAL;
        else if (mode == JAIL_CGROUP_V2)
                r = create_v2(cg, name, limits);
        else if (mode == JAIL_CGROUP_V1)
                r = create_v1(cg, name, limits);
        else
                r = -EOPNOTSUPP;
        if (r < 0) {
                jail_cgroup_free(cg);
                return r;
        }
        *ret = cg;
        return 0;
}

/* Move every process of the group's memory hierarchy into dir (v1). */
static int
v1_move_members(struct jail_cgroup *cg, const char *dir)
{
        _cleanup_free_ char *text = NULL;
        char path[1300], *save = NULL;
        int r;

        (void) snprintf(path, sizeof path, "%s/cgroup.procs", cg->dirs[CG_MEMORY]);
        r = read_file_bounded(path, 64 << 10, &text, NULL);
        if (r < 0)
                return r;
        for (char *pid = strtok_r(text, "\n", &save); pid; pid = strtok_r(NULL, "\n", &save)) {
                (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
                r = write_string_file(path, pid);
                if (r < 0 && r != -ESRCH)
                        return r;
        }
        return 0;
}

static int
v1_set_cpu(struct jail_cgroup *cg, uint32_t cpu_milli)
{
        const char *name;
        int r;

        if (cg->dirs[CG_CPU])
                return cpu_milli > 0 ? write_u64(cg->dirs[CG_CPU], "cpu.cfs_quota_us",
                                                 jail_cgroup_cpu_quota_us(cpu_milli))
                                     : write_string_file_at(cg->dirs[CG_CPU], "cpu.cfs_quota_us", "-1");
        if (cpu_milli == 0)
                return 0;
        name = strrchr(cg->dirs[CG_MEMORY], '/');
        r = create_v1_cpu(cg, name + 1, cpu_milli);
        return r < 0 ? r : v1_move_members(cg, cg->dirs[CG_CPU]);
}

static int
v1_set_limits(struct jail_cgroup *cg, const struct jail_cgroup_limits *l)
{
        char memsw[1300];
        int r = write_u64(cg->dirs[CG_MEMORY], "memory.limit_in_bytes", l->memory_bytes);

        (void) snprintf(memsw, sizeof memsw, "%s/memory.memsw.limit_in_bytes", cg->dirs[CG_MEMORY]);
        if (r >= 0 && access(memsw, F_OK) == 0)
                r = write_u64(cg->dirs[CG_MEMORY], "memory.memsw.limit_in_bytes", l->memory_bytes);
        if (r >= 0)
                r = write_u64(cg->dirs[CG_PIDS], "pids.max", l->pids_max);
        return r < 0 ? r : v1_set_cpu(cg, l->cpu_milli);
}

static int
v2_set_limits(struct jail_cgroup *cg, const struct jail_cgroup_limits *l)
{
        char cpu_max[64], path[1300];
        int r = write_u64(cg->dirs[CG_MEMORY], "memory.max", l->memory_bytes);

        if (r >= 0)
                r = write_u64(cg->dirs[CG_MEMORY], "pids.max", l->pids_max);
        (void) snprintf(path, sizeof path, "%s/cpu.max", cg->dirs[CG_MEMORY]);
        if (r < 0 || (l->cpu_milli == 0 && access(path, F_OK) < 0))
                return r; /* no cpu controller: no quota to lift */
        if (l->cpu_milli == 0)
                (void) snprintf(cpu_max, sizeof cpu_max, "max %u", JAIL_CGROUP_CPU_PERIOD_US);
        else if ((r = jail_cgroup_cpu_max_format(l->cpu_milli, cpu_max, sizeof cpu_max)) < 0)
                return r;
        r = write_string_file(path, cpu_max);
        /* cpu.max is missing where the cpu controller is not enabled for us. */
        return r == -ENOENT ? -EOPNOTSUPP : r;
}

int
jail_cgroup_set_limits(struct jail_cgroup *cg, const struct jail_cgroup_limits *limits)
{
        if (limits->cpu_milli > 0 &&
            (limits->cpu_milli < JAIL_CGROUP_CPU_MIN_MILLI || limits->cpu_milli > JAIL_CGROUP_CPU_MAX_MILLI))
                return -EINVAL;
        if (cg->mode == JAIL_CGROUP_V2)
                return v2_set_limits(cg, limits);
        if (cg->mode == JAIL_CGROUP_V1)
                return v1_set_limits(cg, limits);
        return -EOPNOTSUPP;
}

int
jail_cgroup_attach(struct jail_cgroup *cg, pid_t pid)
{
        for (size_t i = 0; i < ELEMENTSOF(cg->dirs); i++) {
                if (!cg->dirs[i])
                        continue;
                int r = write_u64(cg->dirs[i], "cgroup.procs", (uint64_t) pid);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int
parse_oom_kills(const char *text, uint64_t *ret)
{
        const char *key = strstr(text, "oom_kill ");

        if (!key)
                return -ENOENT;
        *ret = strtoull(key + strlen("oom_kill "), NULL, 10);
        return 0;
}

int
jail_cgroup_oom_fd(struct jail_cgroup *cg, int *ret_fd)
{
        char path[1300];
        int fd;

        (void) snprintf(path, sizeof path, "%s/%s", cg->dirs[CG_MEMORY],
                        cg->mode == JAIL_CGROUP_V2 ? "memory.events" : "memory.oom_control");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int
jail_cgroup_oom_kills_fd(int fd, uint64_t *ret)
{
        char text[4096];
        ssize_t n;

        /* A cgroup file is generated afresh on each read from offset 0 (no
         * pread on a seq_file: seek back first). */
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        n = read(fd, text, sizeof text - 1);
        if (n < 0)
                return -errno;
        text[n] = 0;
        return parse_oom_kills(text, ret);
}
