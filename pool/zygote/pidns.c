/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pid namespace per worker (see pidns.h). Trust zone: the zygote, inside
 * the jail, before any request code runs; it holds CAP_SYS_ADMIN within the
 * jail's user namespace, which clone(CLONE_NEWPID) and setns() need.
 *
 * The init shares the zygote's memory (CLONE_VM) instead of copying its page
 * tables: a fork of an interpreter with numpy loaded costs over a millisecond,
 * this clone tens of microseconds. That is safe because the init runs on its
 * own stack, makes only system calls that cannot fail in practice (so it
 * leaves errno, the one piece of libc state it could touch, alone), never
 * returns, and cannot be reached by the worker: it is non-dumpable like the
 * zygote (the flag belongs to the shared memory), the worker's seccomp filter
 * forbids ptrace and process_vm_*, and as pid 1 it ignores every signal sent
 * from inside its namespace (it installs no handler).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "pidns.h"
#include "process-util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

static int own_pidns = -EBADF;

int
pidns_setup(void)
{
        own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        return own_pidns < 0 ? -errno : 0;
}

static int
init_main(void *arg)
{
        (void) arg;
        /* It must hold none of the zygote's descriptors: the control socket, a
         * worker's socket being handed over. */
        (void) syscall(SYS_close_range, 0U, ~0U, 0U);
        /* Orphans reparented to pid 1 are reaped by the kernel at their exit. */
        (void) sigaction(SIGCHLD, &(struct sigaction){.sa_handler = SIG_IGN}, NULL);
        (void) prctl(PR_SET_NAME, "vivarium-init", 0, 0, 0);
        for (;;)
                (void) syscall(SYS_ppoll, NULL, 0, NULL, NULL, 0);
        return 0; /* not reached: the zygote kills the init */
}

int
pidns_enter_new(struct worker_pidns *ns)
{
        int pidfd = -EBADF;
        int pid = clone(init_main, (char *) ns->stack + ZYGOTE_INIT_STACK_SIZE,
                        CLONE_VM | CLONE_NEWPID | CLONE_PIDFD | SIGCHLD, NULL, &pidfd);

        if (pid < 0)
                return -errno;
        *ns = (struct worker_pidns){.init_pid = pid, .init_pidfd = pidfd, .stack = ns->stack};
        if (setns(pidfd, CLONE_NEWPID) < 0) {
                int r = -errno;
                pidns_end(ns);
                return r;
        }
        return 0;
}

int
pidns_leave(void)
{
        return setns(own_pidns, CLONE_NEWPID) < 0 ? -errno : 0;
}

void
pidns_end(struct worker_pidns *ns)
{
        if (ns->init_pidfd >= 0)
                (void) pidfd_signal(ns->init_pidfd, SIGKILL);
        ns->init_pidfd = safe_close(ns->init_pidfd);
}

bool
pidns_reaped(struct worker_pidns *ns, pid_t pid)
{
        if (ns->init_pid == 0 || ns->init_pid != pid)
                return false;
        ns->init_pidfd = safe_close(ns->init_pidfd);
        ns->init_pid = 0;
        return true;
}
