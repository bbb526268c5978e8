/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pidfd wrappers. Debian 12's glibc has the wrappers but older ones do not,
 * so the raw syscall is used when configure found no function.
 */
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "macro.h"
#include "process-util.h"

int
pidfd_open_checked(pid_t pid, int *ret_fd)
{
        long fd = syscall(SYS_pidfd_open, pid, 0);

        if (fd < 0)
                return -errno;
        *ret_fd = (int) fd;
        return 0;
}

int
pidfd_signal(int pidfd, int sig)
{
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
                return -errno;
        return 0;
}

void
process_set_title(const char *title)
{
        (void) prctl(PR_SET_NAME, title, 0, 0, 0);
}

int
fork_helper(const char *title, pid_t *ret_pid, int *ret_pidfd, int *ret_sock)
{
        int pair[2], pidfd = -EBADF, r;
        pid_t parent = getpid(), pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(pair[0]);
                safe_close(pair[1]);
                return r;
        }
        if (pid == 0) {
                int keep[] = {pair[1]};
                sigset_t none;

                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(0);
                (void) close_all_fds_except(keep, 1);
                /* Nothing of the parent's signal set-up is wanted here or in
                 * what the helper starts (jails, through exec). */
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                (void) signal(SIGTERM, SIG_DFL);
                (void) signal(SIGINT, SIG_DFL);
                (void) signal(SIGPIPE, SIG_DFL);
                (void) signal(SIGCHLD, SIG_DFL);
                process_set_title(title);
                *ret_sock = pair[1];
                return 0;
        }
        safe_close(pair[1]);
        r = pidfd_open_checked(pid, &pidfd);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                safe_close(pair[0]);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        *ret_sock = pair[0];
        return 1;
}
