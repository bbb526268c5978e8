/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Worker lockdown. Runs in a freshly forked worker inside the jail, after the
 * request's set-up arrived and before Python sees anything of the request.
 *
 * Order: the bounding set first (it needs CAP_SETPCAP), ids (changing them
 * needs CAP_SETUID/CAP_SETGID), the other capability sets, no_new_privs, the
 * Landlock scope (it needs no_new_privs), rlimits (only lowering), and the
 * seccomp filter last so the earlier steps may use syscalls it denies.
 */
#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "caps.h"
#include "landlock.h"
#include "lockdown.h"
#include "macro.h"
#include "seccomp-filter.h"

static int
set_limit(int resource, uint64_t value)
{
        struct rlimit rl;

        if (getrlimit(resource, &rl) < 0)
                return -errno;
        /* Never raise: the hard limit we inherited is already a ceiling. */
        if (rl.rlim_max != RLIM_INFINITY && value > rl.rlim_max)
                value = rl.rlim_max;
        rl.rlim_cur = rl.rlim_max = (rlim_t) value;
        return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

int
jail_rlimits_apply(const struct jail_limits *l)
{
        const struct {
                int resource;
                uint64_t value;
        } table[] = {
                {RLIMIT_CPU, l->cpu_seconds},        {RLIMIT_NPROC, l->nproc},
                {RLIMIT_NOFILE, l->nofile},          {RLIMIT_FSIZE, l->fsize_bytes},
                {RLIMIT_AS, l->address_space_bytes}, {RLIMIT_CORE, 0},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (table[i].value == 0 && table[i].resource != RLIMIT_CORE)
                        continue; /* 0 means "not limited here" */
                int r = set_limit(table[i].resource, table[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}

int
jail_lockdown_apply(const struct jail_lockdown *l, const char **ret_step)
{
        const struct jail_seccomp_options so = {.allow_inet = l->allow_inet};
        const char *step;
        int r = 0;

        /* The bounding set needs CAP_SETPCAP to shrink, which the id change below
         * would take away: clear it (and the ambient set) first. */
        step = "clearing the bounding set";
        r = jail_caps_drop_bounding();
        if (r >= 0 && (geteuid() != l->uid || getegid() != l->gid)) {
                step = "dropping to the worker's ids";
                if (setgroups(0, NULL) < 0 && errno != EPERM)
                        r = -errno;
                if (r >= 0 &&
                    (setresgid(l->gid, l->gid, l->gid) < 0 || setresuid(l->uid, l->uid, l->uid) < 0))
                        r = -errno;
        }
        if (r >= 0) {
                step = "clearing capabilities";
                r = jail_caps_drop_all();
        }
        if (r >= 0) {
                step = "setting no_new_privs";
                r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
        }
        if (r >= 0) {
                step = "applying the Landlock scope";
                r = jail_landlock_scope();
                if (r == -EOPNOTSUPP)
                        r = 0; /* older kernel: the residual risk is documented */
        }
        if (r >= 0) {
                step = "applying resource limits";
                r = jail_rlimits_apply(&l->limits);
        }
        /* The code runs below the trusted side's priority: the dispatcher
         * enforces deadlines and, without a cgroup, the memory watchdog, and
         * must wake on time while the code keeps every CPU busy (8 processes
         * on 2 CPUs delayed its 10 ms samples by tens of milliseconds). Only
         * a privileged process may lower the value again. */
        if (r >= 0) {
                step = "lowering the worker's priority";
                r = setpriority(PRIO_PROCESS, 0, JAIL_WORKER_NICE) < 0 ? -errno : 0;
        }
        /* Without a cgroup the dispatcher's watchdog reads this process's
         * /proc (and its children's), which the kernel allows a process of
         * the same uid only while it is dumpable; the id change above made it
         * not. Core dumps stay off (RLIMIT_CORE is 0, soft and hard). Without
         * transparent huge pages a fault adds one page, so the watchdog's
         * period bounds how far past the limit the code can get. The seccomp
         * filter keeps the code from undoing either. */
        if (r >= 0) {
                step = "making the worker readable by the service";
                r = prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0
                            ? -errno
                            : 0;
        }
        if (r >= 0) {
                step = "loading the seccomp filter";
                r = l->filter ? jail_seccomp_load_prog(l->filter) : jail_seccomp_load(&so);
        }
        if (r < 0 && ret_step)
                *ret_step = step;
        return r;
}
