/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Worker cgroups, made by the spawner for the dispatcher (see spawner.h).
 * Runs in the spawner, which keeps the rights a cgroup v1 hierarchy needs
 * (root) once the dispatcher has dropped them.
 *
 * Invariants: a group holds only a process that descends from one of our
 * zygotes, checked while the pid provably belonged to the process the
 * dispatcher's pidfd refers to; names and limits are ours, never the
 * dispatcher's (but for a CPU quota the dispatcher picks, within the
 * message's range: a dispatcher could equally ask for no group at all); at
 * most SPAWNER_MAX_CGROUPS exist at once, and every one is removed when the
 * dispatcher asks, when its zygote exits, or when the spawner exits; a group
 * whose name says it is a dead spawner's is reclaimed by the next spawner
 * (spawner_cgroup_reclaim()), and never one of a live spawner's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd-util.h"
#include "macro.h"
#include "process-util.h"
#include "spawner.h"

int
spawner_pidfd_pid(int pidfd, pid_t *ret)
{
        _cleanup_free_ char *text = NULL;
        char path[64];
        const char *p;
        long pid;
        /* pidfd_send_signal() with signal 0 tells a pidfd from any other fd. */
        int r = pidfd_signal(pidfd, 0);

        if (r < 0 && r != -ESRCH)
                return -EBADF;
        (void) snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
        if (read_file_bounded(path, 4096, &text, NULL) < 0)
                return -EBADF;
        p = strstr(text, "\nPid:");
        if (!p)
                return -EBADF;
        pid = strtol(p + strlen("\nPid:"), NULL, 10);
        if (pid <= 0) /* -1: the process has exited */
                return -ESRCH;
        *ret = (pid_t) pid;
        return 0;
}

/* The fields of /proc/PID/stat after the command name, which may contain
 * anything, ')' included: from the state (field 3) on. */
static int
stat_fields(pid_t pid, char **ret_text, const char **ret_fields)
{
        char path[64];
        const char *p;
        int r;

        (void) snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        r = read_file_bounded(path, 4096, ret_text, NULL);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        p = strrchr(*ret_text, ')');
        if (!p) {
                *ret_text = mfree(*ret_text);
                return -EIO;
        }
        *ret_fields = p + 1;
        return 0;
}

static int
parent_of(pid_t pid, pid_t *ret)
{
        _cleanup_free_ char *text = NULL;
        const char *f;
        int ppid;

        if (stat_fields(pid, &text, &f) < 0)
                return -ESRCH;
        if (sscanf(f, " %*c %d", &ppid) != 1)
                return -EIO;
        *ret = ppid;
        return 0;
}

int
spawner_process_start(pid_t pid, uint64_t *ret)
{
        _cleanup_free_ char *text = NULL;
        unsigned long long start;
        const char *f;
        char state;
        int r = pid > 0 ? stat_fields(pid, &text, &f) : -ESRCH;

        if (r < 0)
                return r;
        /* The state (field 3), then starttime 19 fields on (22), in clock
         * ticks after boot. */
        state = f[0] == ' ' ? f[1] : 0;
        for (int field = 3; f && field < 22; field++)
                f = strchr(f + 1, ' ');
        if (!f || sscanf(f, " %llu", &start) != 1)
                return -EIO;
        /* A zombie runs nothing and makes no groups: its groups are stale. */
        if (state == 'Z' || state == 'X')
                return -ESRCH;
        *ret = start;
        return 0;
}

int
spawner_cgroup_name(pid_t owner, uint64_t owner_start, pid_t worker, char *buf, size_t size)
{
        if ((size_t) snprintf(buf, size, "w%d.%" PRIu64 "-%d", (int) owner, owner_start, (int) worker) >=
            size)
                return -ENOBUFS;
        return 0;
}

/* A decimal number without sign, leading zero or blank; the text after it. */
static const char *
parse_decimal(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;
        const char *p = s;

        if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
                return NULL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (max - (uint64_t) (*p - '0')) / 10)
                        return NULL;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return p;
}

int
spawner_cgroup_name_owner(const char *name, pid_t *ret_pid, uint64_t *ret_start)
{
        uint64_t pid, start = 0, worker;
        const char *p = name[0] == 'w' ? parse_decimal(name + 1, INT32_MAX, &pid) : NULL;
        bool has_start = p && *p == '.';

        /* "w<pid>-<worker>" is the name before the owner's start time was in
         * it: its owner can only be told by pid. */
        if (has_start)
                p = parse_decimal(p + 1, UINT64_MAX, &start);
        if (p && *p == '-')
                p = parse_decimal(p + 1, INT32_MAX, &worker);
        else
                p = NULL;
        if (!p || *p != 0 || pid == 0)
                return -EINVAL;
        *ret_pid = (pid_t) pid;
        *ret_start = start;
        return has_start;
}

bool
spawner_cgroup_is_stale(const char *name)
{
        uint64_t start, now;
        pid_t owner;
        int has_start = spawner_cgroup_name_owner(name, &owner, &start), r;

        if (has_start < 0)
                return false; /* not a name of ours */
        r = spawner_process_start(owner, &now);
        if (r == -ESRCH)
                return true;
        /* The owner is alive, or whether it is cannot be told: keep it. A
         * start time that differs says the pid now belongs to someone else. */
        return r >= 0 && has_start && start != now;
}

static bool
reclaim_filter(const char *name, void *userdata)
{
        return spawner_cgroup_is_stale(name);
}

int
spawner_cgroup_reclaim(int mode)
{
        return jail_cgroup_reclaim((enum jail_cgroup_mode) mode, reclaim_filter, NULL);
}

int
spawner_pid_descends(pid_t pid, pid_t ancestor)
{
        pid_t p = pid;

        if (pid <= 1 || ancestor <= 1 || pid == ancestor)
                return -EPERM;
        for (int depth = 0; depth < SPAWNER_MAX_DEPTH; depth++) {
                int r = parent_of(p, &p);
                if (r < 0)
                        return depth == 0 ? r : -EPERM;
                if (p == ancestor)
                        return 0;
                if (p <= 1)
                        return -EPERM;
        }
        return -EPERM;
}

static struct spawner_cgroup *
find(struct spawner_cgroup *table, uint64_t ref)
{
        for (size_t i = 0; i < SPAWNER_MAX_CGROUPS; i++)
                if (table[i].ref == ref)
                        return &table[i];
        return NULL;
}

static void
remove_entry(struct spawner_cgroup *e, bool kill)
{
        e->cg = kill ? jail_cgroup_free(e->cg) : jail_cgroup_remove(e->cg);
        e->ref = e->zygote_id = 0;
}

int
spawner_cgroup_add(struct spawner_cgroup *table, const struct pool_config *c, int mode, pid_t zygote_pid,
                   const struct spawner_request *rq, int *ret_fd)
{
        struct spawner_cgroup *e = find(table, 0);
        struct jail_cgroup_limits limits = {.memory_bytes = c->limits.memory_bytes,
                                            .pids_max = c->limits.nproc,
                                            .cpu_milli = rq->cpu_milli};
        uint64_t ref = rq->ref, self_start;
        char name[64];
        pid_t pid;
        int r;

        if (find(table, ref))
                return -EEXIST;
        if (!e)
                return -EMFILE;
        if (mode == JAIL_CGROUP_NONE)
                return -EOPNOTSUPP;
        r = spawner_pidfd_pid(rq->fd, &pid);
        if (r >= 0)
                r = spawner_pid_descends(pid, zygote_pid);
        /* Our start time in the name tells our groups from those of a dead
         * spawner whose pid we reuse, which spawner_cgroup_reclaim() removes. */
        if (r >= 0)
                r = spawner_process_start(getpid(), &self_start);
        if (r >= 0)
                r = spawner_cgroup_name(getpid(), self_start, pid, name, sizeof name);
        if (r < 0)
                return r;
        r = jail_cgroup_create((enum jail_cgroup_mode) mode, name, &limits, &e->cg);
        if (r < 0)
                return r;
        e->ref = ref;
        e->zygote_id = rq->id;
        r = jail_cgroup_attach(e->cg, pid);
        /* The pid was the worker's while the pidfd's process was not yet reaped:
         * if it still is not, the attach moved the right process. */
        if (r >= 0 && pidfd_signal(rq->fd, 0) < 0)
                r = -ESRCH;
        if (r >= 0)
                r = jail_cgroup_oom_fd(e->cg, ret_fd);
        if (r < 0)
                remove_entry(e, true);
        return r;
}

void
spawner_cgroup_remove(struct spawner_cgroup *table, uint64_t ref)
{
        struct spawner_cgroup *e = ref ? find(table, ref) : NULL;

        if (e)
                remove_entry(e, true);
}

int
spawner_cgroup_limit(struct spawner_cgroup *table, const struct pool_config *c,
                     const struct spawner_request *rq)
{
        struct spawner_cgroup *e = rq->ref ? find(table, rq->ref) : NULL;
        struct jail_cgroup_limits limits = {
                .memory_bytes = rq->memory_bytes, .pids_max = rq->nproc, .cpu_milli = rq->cpu_milli};

        if (!e)
                return -ENOENT;
        /* Tighter only: a configured quota may be lowered, never lifted. */
        if (rq->memory_bytes == 0 || rq->memory_bytes > c->limits.memory_bytes || rq->nproc == 0 ||
            rq->nproc > c->limits.nproc ||
            (c->limits.cpu_milli > 0 && (rq->cpu_milli == 0 || rq->cpu_milli > c->limits.cpu_milli)))
                return -ERANGE;
        return jail_cgroup_set_limits(e->cg, &limits);
}

void
spawner_cgroup_remove_zygote(struct spawner_cgroup *table, uint64_t zygote_id)
{
        for (size_t i = 0; i < SPAWNER_MAX_CGROUPS; i++)
                if (table[i].ref != 0 && (zygote_id == 0 || table[i].zygote_id == zygote_id))
                        /* The zygote is gone or being killed: its pid namespace
                         * takes every member along, so no freeze-and-kill (the
                         * spawner may be killed itself any moment, and a group
                         * left frozen would keep its processes alive). */
                        remove_entry(&table[i], false);
}
