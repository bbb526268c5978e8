/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Landlock scopes for a worker (THREATS.md §B). Runs in the worker during its
 * lockdown, after no_new_privs and before seccomp. Where every worker shares
 * the zygote's uid (the unprivileged mode), uids cannot keep a worker from
 * signalling the zygote or another worker; Landlock ABI 6 (Linux 6.12) can:
 * a scoped domain may signal, and connect to abstract unix sockets of, only
 * processes inside the same domain — the worker and what it forks.
 *
 * Debian 12's kernel headers predate ABI 6, so the structure and constants
 * are spelled out here as the kernel's UAPI defines them.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"
#include "macro.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif

#define VIV_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define VIV_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (UINT64_C(1) << 0)
#define VIV_LANDLOCK_SCOPE_SIGNAL (UINT64_C(1) << 1)
#define VIV_LANDLOCK_ABI_SCOPES 6

struct viv_landlock_ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
        uint64_t scoped;
};

int
jail_landlock_scope(void)
{
        struct viv_landlock_ruleset_attr attr = {
                .scoped = VIV_LANDLOCK_SCOPE_SIGNAL | VIV_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET,
        };
        _cleanup_close_ int fd = -EBADF;
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, VIV_LANDLOCK_CREATE_RULESET_VERSION);

        if (abi < 0)
                return errno == ENOSYS || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
        if (abi < VIV_LANDLOCK_ABI_SCOPES)
                return -EOPNOTSUPP;
        fd = (int) syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
        if (fd < 0)
                return -errno;
        if (syscall(SYS_landlock_restrict_self, fd, 0) < 0)
                return -errno;
        return 0;
}

bool
jail_landlock_available(void)
{
        return syscall(SYS_landlock_create_ruleset, NULL, 0, VIV_LANDLOCK_CREATE_RULESET_VERSION) >=
               VIV_LANDLOCK_ABI_SCOPES;
}
