/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dispatcher's drop to the service user (privileges.h). Runs in the
 * dispatcher once at start-up, after the keeper was forked and the socket
 * bound and before the service's seccomp filter is loaded (the filter
 * forbids the id changes made here).
 *
 * Order matters: the bounding set can only be cleared while CAP_SETPCAP is
 * held, so it goes first; PR_SET_KEEPCAPS carries the permitted set across
 * setresuid() (which would otherwise clear it), and the set is cut to
 * CAP_KILL right after. Everything is checked afterwards: a drop that did not
 * take is a start-up failure, never a warning.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"
#include "privileges.h"

#define KEEP_CAPS (UINT64_C(1) << CAP_KILL)

int
privileges_resolve(const char *name, struct service_user *ret, char **ret_error)
{
        struct passwd pw, *found = NULL;
        char buf[4096];
        int r;

        *ret = (struct service_user){};
        if (!name)
                name = PRIVILEGES_DEFAULT_USER;
        (void) snprintf(ret->name, sizeof ret->name, "%s", name);
        if (geteuid() != 0)
                return 0;
        if (strcmp(name, "root") == 0) {
                log_warning("user = root: the dispatcher keeps root; it parses every client's and worker's "
                            "bytes, so a bug there would be a root compromise (see vivarium-security(7))");
                return 0;
        }
        r = getpwnam_r(name, &pw, buf, sizeof buf, &found);
        if (!found) {
                r = r > 0 ? -r : -ENOENT;
                (void) !asprintf(ret_error,
                                 "the service user '%s' %s: create it (useradd --system --no-create-home "
                                 "--shell /usr/sbin/nologin %s), name another with 'user =' in [service] "
                                 "of vivarium.conf(5), or set 'user = root' to run without the drop",
                                 name, r == -ENOENT ? "does not exist" : "cannot be looked up", name);
                return r;
        }
        if (pw.pw_uid == 0 || pw.pw_gid == 0) {
                (void) !asprintf(ret_error,
                                 "the service user '%s' has uid or gid 0; say 'user = root' "
                                 "if root is meant",
                                 name);
                return -EINVAL;
        }
        ret->drop = true;
        ret->uid = pw.pw_uid;
        ret->gid = pw.pw_gid;
        return 0;
}

static int
verify(const struct service_user *u)
{
        uid_t ru, eu, su;
        gid_t rg, eg, sg, groups[2];
        int n = getgroups(2, groups);

        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
                return -errno;
        if (ru != u->uid || eu != u->uid || su != u->uid || rg != u->gid || eg != u->gid || sg != u->gid ||
            n != 1 || groups[0] != u->gid)
                return -EPERM;
        /* No way back: setuid(0) must fail now. */
        if (setuid(0) == 0 || errno != EPERM)
                return -EPERM;
        return jail_caps_are_exactly(KEEP_CAPS) ? 0 : -EPERM;
}

int
privileges_drop(const struct service_user *u)
{
        int r;

        if (!u->drop)
                return 0;
        r = jail_caps_drop_bounding();
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(1, &u->gid) < 0 ||
            setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0 ||
            prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return -errno;
        r = jail_caps_limit(KEEP_CAPS);
        if (r < 0)
                return r;
        /* The id change made us non-dumpable already (unless suid_dumpable says
         * otherwise): say so, so no other process of the user can ptrace us. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        r = verify(u);
        if (r < 0)
                return r;
        log_info("dropped to user %s (uid %u, gid %u), keeping CAP_KILL", u->name, (unsigned) u->uid,
                 (unsigned) u->gid);
        return 0;
}
