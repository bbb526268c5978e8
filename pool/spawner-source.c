/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a zygote's jail binds from the host: the zygote program and the runner
 * directory (pool_config). Runs in the spawner, before each jail is made.
 * Trust zone: trusted; the paths come from the pool's configuration, never
 * from a message.
 *
 * The jail's child cannot be trusted to reach these paths by itself: as root
 * the jail runs as ids of a subordinate range that are no user of the host,
 * so a build tree below a 0700 directory (/root, a Debian home) is closed to
 * it. The spawner, with the caller's ids and in the host's namespaces, opens
 * each path and, where it may (CAP_SYS_ADMIN: root), clones it into a
 * detached mount that the child attaches without a lookup
 * (docs/adr/0010-binds-from-detached-mounts.md). Without that privilege the
 * jail maps the caller's own uid and the child binds by path, which reaches
 * whatever the caller reaches; what the caller cannot reach fails here, with
 * an error that names the path, the user and what to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jail.h"
#include "macro.h"
#include "spawner.h"

#define RUNNER_MODULE "vivarium_runner.py"
#define WHAT_TO_DO                                                                                       \
        "run vivarium as a user who can reach it, install it where this user can (./configure "          \
        "--prefix=DIR && make install), or point VIVARIUM_LIBEXECDIR and VIVARIUM_PKGDATADIR at a copy " \
        "this user can read"

static void
user_name(uid_t uid, char *buf, size_t size)
{
        struct passwd pw, *found = NULL;
        char pwbuf[4096];

        if (getpwuid_r(uid, &pw, pwbuf, sizeof pwbuf, &found) == 0 && found)
                (void) snprintf(buf, size, "%s", pw.pw_name);
        else
                (void) snprintf(buf, size, "%u", (unsigned) uid);
}

/* The first directory on the way to path that the caller may not search: 0
 * and its path, owner and mode in the buffers, or -ENOENT if none is found
 * (the path changed meanwhile). */
static int
closed_ancestor(const char *path, char *dir, size_t size, char *owner, size_t owner_size, mode_t *ret_mode)
{
        struct stat st;
        size_t n = strlen(path);

        if (n >= size)
                return -ENAMETOOLONG;
        for (size_t i = 1; i < n; i++) {
                if (path[i] != '/')
                        continue;
                memcpy(dir, path, i);
                dir[i] = 0;
                if (access(dir, X_OK) == 0)
                        continue;
                if (stat(dir, &st) < 0)
                        return -errno;
                user_name(st.st_uid, owner, owner_size);
                *ret_mode = st.st_mode & 07777;
                return 0;
        }
        return -ENOENT;
}

static int
reach_error(const char *what, const char *path, int error, char **ret_error)
{
        char dir[PATH_MAX], owner[64], me[64];
        mode_t mode = 0;

        if (error == -ENOENT)
                return asprintf(ret_error, "%s '%s' does not exist", what, path) < 0 ? -ENOMEM : error;
        if (error != -EACCES)
                return asprintf(ret_error, "cannot open %s '%s'", what, path) < 0 ? -ENOMEM : error;
        user_name(geteuid(), me, sizeof me);
        if (closed_ancestor(path, dir, sizeof dir, owner, sizeof owner, &mode) < 0)
                return asprintf(ret_error, "user %s (uid %u) cannot reach %s '%s': " WHAT_TO_DO, me,
                                (unsigned) geteuid(), what, path) < 0
                               ? -ENOMEM
                               : error;
        return asprintf(ret_error,
                        "user %s (uid %u) cannot reach %s '%s': the directory '%s' (owner %s, mode %04o) is "
                        "closed to it; " WHAT_TO_DO,
                        me, (unsigned) geteuid(), what, path, dir, owner, (unsigned) mode) < 0
                       ? -ENOMEM
                       : error;
}

/* As root the jail runs as ids that are no user of the host: it gets what the
 * permission bits give others, and needs `need` there. */
static int
check_others(const char *what, const char *path, const struct stat *st, mode_t need, uid_t jail_uid,
             char **ret_error)
{
        char owner[64];

        if ((st->st_mode & need) == need)
                return 0;
        user_name(st->st_uid, owner, sizeof owner);
        return asprintf(ret_error,
                        "%s '%s' (owner %s, mode %04o) is not %s by others, and the jail runs as host uid "
                        "%u, "
                        "which is no user of this host: allow it (chmod -R o+rX on the build or install) "
                        "or build with umask 022",
                        what, path, owner, (unsigned) (st->st_mode & 07777),
                        (need & S_IROTH) ? "readable" : "executable", (unsigned) jail_uid) < 0
                       ? -ENOMEM
                       : -EACCES;
}

static int
add_source(struct jail_spec *s, const char *what, const char *path, bool dir, char **ret_error)
{
        _cleanup_close_ int fd = -EBADF;
        int tree = -EBADF, r;
        struct stat st;

        fd = open(path, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
        if (fd < 0)
                return reach_error(what, path, -errno, ret_error);
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!dir && !S_ISREG(st.st_mode)) {
                (void) !asprintf(ret_error, "%s '%s' is not a regular file", what, path);
                return -ENOEXEC;
        }
        if (s->idmap.mode == JAIL_IDMAP_RANGE) {
                r = check_others(what, path, &st, dir ? S_IROTH | S_IXOTH : S_IXOTH, s->idmap.uid,
                                 ret_error);
                if (r < 0)
                        return r;
                if (dir) {
                        char module[PATH_MAX];
                        (void) snprintf(module, sizeof module, "%s/%s", path, RUNNER_MODULE);
                        if (fstatat(fd, RUNNER_MODULE, &st, 0) < 0)
                                return reach_error("the runner module", module, -errno, ret_error);
                        r = check_others("the runner module", module, &st, S_IROTH, s->idmap.uid, ret_error);
                        if (r < 0)
                                return r;
                }
        }
        r = jail_mount_tree_clone(fd, &tree);
        /* Not privileged to mount (the jail maps the caller's own ids, which
         * reach the path, as open() just showed), or a kernel before 5.2: the
         * child binds it by path. */
        if (r == -EPERM || r == -ENOSYS)
                return jail_spec_add_bind(s, path, NULL);
        if (r < 0) {
                (void) !asprintf(ret_error, "cloning the mount of %s '%s'", what, path);
                return r;
        }
        return jail_spec_add_bind_tree(s, path, NULL, tree);
}

int
spawner_add_sources(struct jail_spec *s, const struct pool_config *c, char **ret_error)
{
        int r = add_source(s, "the zygote program", c->zygote_path, false, ret_error);

        return r < 0 ? r : add_source(s, "the runner directory", c->runner_dir, true, ret_error);
}
