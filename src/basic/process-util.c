/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pidfd wrappers. Debian 12's glibc has the wrappers but older ones do not,
 * so the raw syscall is used when configure found no function.
 */
#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
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
