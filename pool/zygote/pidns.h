/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pid namespace per worker, so a worker sees (and can name in a system
 * call) only itself and its own children: not the zygote, not the other
 * workers. Without it, workers that share a uid (the unprivileged mode) could
 * change each other's rlimits, nice value, affinity, scheduling policy and
 * I/O priority, which Landlock does not scope.
 *
 * Each namespace's pid 1 is a tiny init: a clone of the zygote that only
 * reaps orphans. The zygote enters the namespace for its children (setns),
 * forks the worker there as pid 2 (so the worker is still the zygote's child
 * and its exit status and rusage arrive as before), and returns to its own.
 * When the worker has exited the zygote kills the init, and the kernel kills
 * whatever the code left running in the namespace.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define ZYGOTE_INIT_STACK_SIZE (16u * 1024u)

struct worker_pidns {
        pid_t init_pid; /* 0 once reaped */
        int init_pidfd;
        void *stack; /* ZYGOTE_INIT_STACK_SIZE bytes, reused once the init is reaped */
};

/* Remember the zygote's own pid namespace; once, at start-up. */
int pidns_setup(void);
/* Start a new namespace's init on ns->stack and make it the namespace of the
 * zygote's next child. */
int pidns_enter_new(struct worker_pidns *ns);
/* Make the zygote's own namespace the one of its next child again. Failure is
 * fatal: later workers would land in a namespace that is not theirs. */
int pidns_leave(void);
/* The worker has exited: end the namespace and what is left in it. */
void pidns_end(struct worker_pidns *ns);
/* pid was reaped: if it was ns's init, release it. */
bool pidns_reaped(struct worker_pidns *ns, pid_t pid);
