/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup management. Runs in the spawning/dispatching process, never in the
 * jail: the jail has a cgroup namespace and no cgroup filesystem, so code in
 * it cannot see or change its limits (THREATS.md §C: no release_agent).
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

#include "cgroup.h"
#include "fd-util.h"
#include "macro.h"

struct jail_cgroup {
        enum jail_cgroup_mode mode;
        /* v2: [0] only; v1: [0] memory, [1] pids, [2] freezer (when mounted
         * and ours to write: it makes the kill race-free) */
        char *dirs[3];
};

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

static const char *const v2_controllers[] = {"memory", "pids", NULL};

/* The v2 group that holds the worker groups: the root group if memory and
 * pids are enabled there; else the group we were started in, taken over at
 * start-up (prepare; see jail_cgroup_v2_delegate()), which is the parent of
 * our leaf from then on, also for the processes we fork. */
static int
v2_base(char *buf, size_t size, bool prepare)
{
        char mnt[512], path[1024];
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
        if ((size_t) snprintf(path, sizeof path, "%s%s", mnt, strcmp(p, "/") == 0 ? "" : p) >= sizeof path)
                return -ENAMETOOLONG;
        char *last = strrchr(path, '/');
        if (strcmp(p, "/") != 0 && strcmp(last + 1, JAIL_CGROUP_V2_LEAF) == 0)
                *last = 0; /* already taken over */
        else if (strcmp(p, "/") != 0 && prepare && (r = jail_cgroup_v2_delegate(path, v2_controllers)) < 0)
                return r;
        if (!jail_cgroup_v2_has(path, "cgroup.subtree_control", v2_controllers))
                return -ENOENT;
        if (access(path, W_OK) < 0)
                return -errno;
        return (size_t) snprintf(buf, size, "%s", path) >= size ? -ENAMETOOLONG : 0;
}

static int
v1_base(const char *controller, char *buf, size_t size)
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
        char buf[1024];

        if (want && strcmp(want, "none") == 0)
                return JAIL_CGROUP_NONE;
        if ((!want || strcmp(want, "v2") == 0) && v2_base(buf, sizeof buf, true) == 0)
                return JAIL_CGROUP_V2;
        if ((!want || strcmp(want, "v1") == 0) && v1_base("memory", buf, sizeof buf) == 0 &&
            v1_base("pids", buf, sizeof buf) == 0)
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

static int
create_v1(struct jail_cgroup *cg, const char *name, uint64_t memory_bytes, uint64_t pids_max)
{
        char base[1024], memsw[1300];
        int r = v1_base("memory", base, sizeof base);

        if (r >= 0)
                r = make_group(base, name, &cg->dirs[0]);
        if (r >= 0)
                r = write_u64(cg->dirs[0], "memory.limit_in_bytes", memory_bytes);
        /* With swap accounting the limit must also cover swap, or the code pages out past it. */
        (void) snprintf(memsw, sizeof memsw, "%s/memory.memsw.limit_in_bytes",
                        cg->dirs[0] ? cg->dirs[0] : "");
        if (r >= 0 && access(memsw, F_OK) == 0)
                r = write_u64(cg->dirs[0], "memory.memsw.limit_in_bytes", memory_bytes);
        if (r >= 0)
                r = v1_base("pids", base, sizeof base);
        if (r >= 0)
                r = make_group(base, name, &cg->dirs[1]);
        if (r >= 0)
                r = write_u64(cg->dirs[1], "pids.max", pids_max);
        /* The freezer is optional: without it the kill walks cgroup.procs, and
         * a process forking at that moment can slip through. */
        if (r >= 0 && v1_base("freezer", base, sizeof base) == 0 && make_group(base, name, &cg->dirs[2]) < 0)
                cg->dirs[2] = NULL;
        return r;
}

static int
create_v2(struct jail_cgroup *cg, const char *name, uint64_t memory_bytes, uint64_t pids_max)
{
        char base[1024];
        int r = v2_base(base, sizeof base, false);

        if (r >= 0)
                r = make_group(base, name, &cg->dirs[0]);
        if (r >= 0)
                r = write_u64(cg->dirs[0], "memory.max", memory_bytes);
        if (r >= 0) /* absent without swap accounting; then there is nothing to cap */
                (void) write_u64(cg->dirs[0], "memory.swap.max", 0);
        if (r >= 0)
                r = write_u64(cg->dirs[0], "pids.max", pids_max);
        return r;
}

int
jail_cgroup_create(enum jail_cgroup_mode mode, const char *name, uint64_t memory_bytes, uint64_t pids_max,
                   struct jail_cgroup **ret)
{
        struct jail_cgroup *cg = calloc(1, sizeof *cg);
        int r;

        if (!cg)
                return -ENOMEM;
        cg->mode = mode;
        if (strchr(name, '/') || name[0] == '.')
                r = -EINVAL;
        else if (mode == JAIL_CGROUP_V2)
                r = create_v2(cg, name, memory_bytes, pids_max);
        else if (mode == JAIL_CGROUP_V1)
                r = create_v1(cg, name, memory_bytes, pids_max);
        else
                r = -EOPNOTSUPP;
        if (r < 0) {
                jail_cgroup_free(cg);
                return r;
        }
        *ret = cg;
        return 0;
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

        (void) snprintf(path, sizeof path, "%s/%s", cg->dirs[0],
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

static void
kill_members(const char *dir)
{
        _cleanup_free_ char *procs = NULL;
        char path[1300], *save = NULL;

        (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if (read_file_bounded(path, 1 << 20, &procs, NULL) < 0)
                return;
        for (char *l = strtok_r(procs, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                (void) kill((pid_t) strtol(l, NULL, 10), SIGKILL);
}

/* v1 with the freezer: freeze the group (no member can fork any more), kill
 * every member, thaw so the kills are delivered. Waiting for FROZEN is
 * bounded: this runs on the dispatcher's loop. */
static int
kill_frozen(const char *dir)
{
        char path[1300];
        int r;

        (void) snprintf(path, sizeof path, "%s/freezer.state", dir);
        r = write_string_file(path, "FROZEN");
        if (r < 0)
                return r;
        for (int tries = 0; tries < 100; tries++) {
                _cleanup_free_ char *state = NULL;
                if (read_file_bounded(path, 64, &state, NULL) < 0 || strncmp(state, "FROZEN", 6) == 0)
                        break;
                (void) nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
        }
        kill_members(dir);
        return write_string_file(path, "THAWED");
}

int
jail_cgroup_kill(struct jail_cgroup *cg)
{
        char path[1300];

        if (cg->mode == JAIL_CGROUP_V2) {
                (void) snprintf(path, sizeof path, "%s/cgroup.kill", cg->dirs[0]);
                if (write_string_file(path, "1") == 0)
                        return 0;
        }
        if (cg->dirs[2] && kill_frozen(cg->dirs[2]) == 0)
                return 0;
        /* v1 without the freezer (and v2 before cgroup.kill): signal each
         * member. A member forking at this moment can slip through; the pids
         * limit bounds how far. */
        for (size_t i = 0; i < ELEMENTSOF(cg->dirs); i++)
                if (cg->dirs[i])
                        kill_members(cg->dirs[i]);
        return 0;
}

struct jail_cgroup *
jail_cgroup_free(struct jail_cgroup *cg)
{
        if (!cg)
                return NULL;
        (void) jail_cgroup_kill(cg);
        return jail_cgroup_remove(cg);
}

struct jail_cgroup *
jail_cgroup_remove(struct jail_cgroup *cg)
{
        if (!cg)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(cg->dirs); i++) {
                if (!cg->dirs[i])
                        continue;
                /* Killed members take a moment to leave: rmdir says EBUSY until
                 * then. Bounded, because this runs on the dispatcher's loop. */
                for (int tries = 0; rmdir(cg->dirs[i]) < 0 && errno == EBUSY && tries < 50; tries++)
                        (void) nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
                free(cg->dirs[i]);
        }
        free(cg);
        return NULL;
}
