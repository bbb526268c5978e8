/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one-shot pool (pool_config.oneshot): `vivarium run` without a daemon
 * needs one jail and one worker for one request, so the dispatcher builds
 * the jail itself instead of forking a keeper and a spawner to do it, and
 * the zygote in it starts no interpreter (see pool/zygote/main.c). Runs in
 * the dispatcher, while it is still privileged (before server_lockdown());
 * the environment, worker and job code is the pooled one.
 *
 * The jail's cgroup (memory, pids and, where it can be had, a CPU quota) is
 * made before the jail and joined by its first process before that runs
 * anything, so the zygote, the worker's namespace init and every process the
 * code forks are in it; the group's process limit counts those two more.
 * Started as root, the dispatcher is about to become the service user, who
 * cannot remove a group of root's: a helper forked here keeps root for that
 * one job. It reads nothing but the end of file on its socket (the
 * dispatcher is done, or dead), then kills what is left in the group and
 * removes it; the dispatcher does not wait for that.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "coverage.h"
#include "fd-util.h"
#include "jail.h"
#include "log.h"
#include "macro.h"
#include "pool-internal.h"
#include "process-util.h"

/* How long the end waits for the jail and the helper to be gone. */
#define ONESHOT_REAP_TIMEOUT_MS 5000
/* The zygote and its worker's namespace init, beside the code's processes. */
#define ONESHOT_EXTRA_PIDS 2

static int
make_cgroup(struct pool *p)
{
        const struct pool_config *c = &p->config;
        struct jail_cgroup_limits limits = {.memory_bytes = c->limits.memory_bytes,
                                            .pids_max = c->limits.nproc + ONESHOT_EXTRA_PIDS,
                                            .cpu_milli = p->cpu_milli};
        uint64_t start;
        char name[64];
        int r;

        if (p->cgroup_mode == JAIL_CGROUP_NONE)
                return 0;
        /* Named as a spawner names its groups, so that if we are killed before
         * removing it, the next spawner reclaims it (spawner_cgroup_reclaim()). */
        r = spawner_process_start(getpid(), &start);
        if (r >= 0)
                r = spawner_cgroup_name(getpid(), start, 0, name, sizeof name);
        if (r >= 0)
                r = jail_cgroup_create(p->cgroup_mode, name, &limits, &p->cgroup);
        if (r >= 0)
                r = jail_cgroup_oom_fd(p->cgroup, &p->oom_fd);
        if (r < 0) {
                /* Rlimits then, as a pooled worker without a group has. */
                log_debug_errno(r, "no cgroup for the one-shot jail, using rlimits: %m");
                p->cgroup = jail_cgroup_free(p->cgroup);
                p->oom_fd = safe_close(p->oom_fd);
        }
        return 0;
}

_noreturn_ static void
helper_main(struct jail_cgroup *cg, int sock)
{
        char byte;
        ssize_t n;

        process_set_title("vivarium-cgroup");
        (void) close_all_fds_except(&sock, 1);
        do
                n = recv(sock, &byte, sizeof byte, 0);
        while (n > 0 || (n < 0 && errno == EINTR));
        (void) jail_cgroup_free(cg);
        coverage_flush();
        _exit(0);
}

/* Not fork_helper(): the helper must outlive a dispatcher that was killed,
 * to remove the group, so it has no parent-death signal. */
static int
start_helper(struct pool *p)
{
        int pair[2], r;
        pid_t pid;

        if (!p->cgroup || geteuid() != 0)
                return 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(pair[0]);
                safe_close(pair[1]);
                return r;
        }
        if (pid == 0)
                helper_main(p->cgroup, pair[1]);
        safe_close(pair[1]);
        r = pidfd_open_checked(pid, &p->helper_pidfd);
        if (r < 0) {
                /* Without its pidfd we could not wait for it: do the job ourselves. */
                safe_close(pair[0]);
                (void) waitpid(pid, NULL, 0);
                return 0;
        }
        p->helper_sock = pair[0];
        p->cgroup = jail_cgroup_forget(p->cgroup); /* the helper's now */
        return 0;
}

int
oneshot_start_zygote(struct pool_env *e, int *ret_control, char **ret_error)
{
        _cleanup_(jail_spec_freep) struct jail_spec *spec = NULL;
        _cleanup_close_pair_ int pair[2] = {-EBADF, -EBADF};
        struct pool *p = e->pool;
        int r;

        if (p->jail_started) {
                *ret_error = strdup("the one-shot jail has ended");
                return -ESRCH;
        }
        p->jail_started = true;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        r = make_cgroup(p);
        if (r >= 0)
                r = spawner_zygote_spec(&p->config, e->preload, e->preload_if_installed, p->config.tmp_bytes,
                                        p->config.workspace_bytes, pair[1], &spec, ret_error);
        if (r < 0)
                return r;
        spec->cgroup = p->cgroup;
        r = jail_spawn(spec, &p->jail, ret_error);
        if (r < 0)
                return r;
        r = start_helper(p);
        if (r < 0) {
                *ret_error = strdup("starting the helper that removes the jail's cgroup");
                return r;
        }
        *ret_control = TAKE_FD(pair[0]);
        return 0;
}

int
oneshot_worker_cgroup(struct worker *w)
{
        struct pool *p = w->env->pool;

        if (p->oom_fd < 0)
                return -EBADF; /* no group: rlimits */
        w->oom_fd = fcntl(p->oom_fd, F_DUPFD_CLOEXEC, 3);
        return w->oom_fd < 0 ? -errno : 0;
}

void
oneshot_kill(struct pool *p)
{
        if (p->jail.pid > 0)
                (void) pidfd_signal(p->jail.pidfd, SIGKILL);
}

/* Wait (bounded) for a pidfd to say its process exited. */
static bool
wait_exit(int pidfd)
{
        struct pollfd pfd = {pidfd, POLLIN, 0};

        return poll(&pfd, 1, ONESHOT_REAP_TIMEOUT_MS) > 0;
}

void
oneshot_stop(struct pool *p)
{
        /* The zygote is pid 1 of the jail: when it is reaped, the kernel has
         * killed everything in the jail, whatever the code left running. */
        if (p->jail.pid > 0) {
                oneshot_kill(p);
                if (wait_exit(p->jail.pidfd))
                        (void) waitid(P_PIDFD, (id_t) p->jail.pidfd, &(siginfo_t){}, WEXITED);
                p->jail.pidfd = safe_close(p->jail.pidfd);
                p->jail.pid = 0;
        }
        p->oom_fd = safe_close(p->oom_fd);
        p->cgroup = jail_cgroup_free(p->cgroup);
        /* The helper removes the group on its own time: the jail is gone
         * already, and waiting for the removal (v1 groups take milliseconds
         * to release their last members) would only delay the caller. It
         * is reaped by whoever inherits it once we exit. */
        p->helper_sock = safe_close(p->helper_sock);
        p->helper_pidfd = safe_close(p->helper_pidfd);
}
