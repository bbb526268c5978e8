/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rules by which the CLI trusts a default daemon socket (socket-path.c):
 * pure functions of what lstat() says, so that each rule is unit-tested.
 * Whoever owns the socket's directory, or may write it, decides what listens
 * there; so does whoever may write a directory above it, unless that one is
 * sticky (then nobody but us can rename our entries in it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "macro.h"

_printf_(2, 3) static int reasonf(char **ret_reason, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_reason, fmt, ap) < 0)
                *ret_reason = NULL;
        va_end(ap);
        return -EPERM;
}

int
cli_socket_trust_dir(const char *dir, const struct stat *st, uid_t self, bool leaf, char **ret_reason)
{
        mode_t m = st->st_mode & 07777;

        if (!S_ISDIR(st->st_mode))
                return reasonf(ret_reason, "%s is not a directory", dir);
        if (st->st_uid != self && st->st_uid != 0)
                return reasonf(ret_reason, "its directory %s is owned by uid %u, not by you or root", dir,
                               (unsigned) st->st_uid);
        /* The socket's own directory: whoever may write it may replace the
         * socket. Above it, a sticky directory (/tmp) keeps our entries ours. */
        if ((m & 022) && (leaf || !(m & S_ISVTX)))
                return reasonf(ret_reason, "its directory %s is writable by %s (mode %04o)", dir,
                               m & 002 ? "everyone" : "its group", (unsigned) m);
        return 0;
}

int
cli_socket_trust_file(const struct stat *st, uid_t self, char **ret_reason)
{
        if (!S_ISSOCK(st->st_mode))
                return reasonf(ret_reason, "%s", "not a socket");
        if (st->st_uid != self && st->st_uid != 0)
                return reasonf(ret_reason, "owned by uid %u, not by you or root", (unsigned) st->st_uid);
        return 0;
}
