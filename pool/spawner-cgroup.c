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
 * dispatcher asks, when its zygote exits, or when the spawner exits.
 */
#include <errno.h>
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

static int
parent_of(pid_t pid, pid_t *ret)
{
        _cleanup_free_ char *text = NULL;
        char path[64];
        const char *p;
        int ppid;

        (void) snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        if (read_file_bounded(path, 4096, &text, NULL) < 0)
                return -ESRCH;
        /* After the command name, which may contain anything, ')' included. */
        p = strrchr(text, ')');
        if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
                return -EIO;
        *ret = ppid;
        return 0;
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
        struct jail_cgroup_limits limits = {
                .memory_bytes = c->memory_bytes, .pids_max = c->nproc, .cpu_milli = rq->cpu_milli};
        uint64_t ref = rq->ref;
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
        if (r < 0)
                return r;
        (void) snprintf(name, sizeof name, "w%d-%d", (int) getpid(), (int) pid);
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
