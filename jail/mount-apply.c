/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Executing a mount plan and switching root. Runs only in the jail's child
 * between clone() and exec, inside the new user and mount namespaces, so it
 * may not allocate from shared state the parent could hold locked (the
 * spawning process is single-threaded, see spawn.c).
 *
 * Read-only binds use the new mount API (open_tree, mount_setattr, move_mount)
 * because it applies ro/nosuid/nodev to every submount at once; a kernel
 * without it falls back to bind plus remount of the top mount. A bind whose
 * source the spawning process cloned already (jail_mount_tree_clone(), run
 * there, outside the jail's namespaces) is only attached here: the child's
 * ids may not reach the source (docs/adr/0010-binds-from-detached-mounts.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_MOUNT_H
#include <linux/mount.h>
#endif

#include "fd-util.h"
#include "macro.h"
#include "mount-plan.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
struct mount_attr {
        uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static int
mkdir_p(const char *path, mode_t mode)
{
        char buf[PATH_MAX];

        if (strlen(path) >= sizeof buf)
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int
make_mount_point(const char *target, bool dir)
{
        char parent[PATH_MAX];
        char *slash;
        int fd, r;

        if (dir)
                return mkdir_p(target, 0755);
        if (strlen(target) >= sizeof parent)
                return -ENAMETOOLONG;
        strcpy(parent, target);
        slash = strrchr(parent, '/');
        if (slash && slash != parent) {
                *slash = 0;
                r = mkdir_p(parent, 0755);
                if (r < 0)
                        return r;
        }
        fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0)
                return -errno;
        safe_close(fd);
        return 0;
}

/* Make the mount at target read-only, nosuid and nodev without the new mount
 * API. A remount in a user namespace must repeat the flags the kernel locked
 * on the source mount (noexec, atime flags), or it fails with EPERM. */
static int
remount_ro_legacy(const char *target)
{
        struct statvfs sv;
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;

        if (statvfs(target, &sv) == 0) {
                if (sv.f_flag & ST_NOEXEC)
                        flags |= MS_NOEXEC;
                if (sv.f_flag & ST_NOATIME)
                        flags |= MS_NOATIME;
                if (sv.f_flag & ST_NODIRATIME)
                        flags |= MS_NODIRATIME;
                if (sv.f_flag & ST_RELATIME)
                        flags |= MS_RELATIME;
        }
        return mount(NULL, target, NULL, flags, NULL) < 0 ? -errno : 0;
}

static int
bind_ro_legacy(const char *source, const char *target)
{
        if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -errno;
        return remount_ro_legacy(target);
}

/* ro, nosuid and nodev on the mount at fd/path and every mount below it. */
static int
set_ro(int fd, const char *path, unsigned flags)
{
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};

        return syscall(SYS_mount_setattr, fd, path, flags | AT_RECURSIVE, &attr, sizeof attr) < 0 ? -errno
                                                                                                  : 0;
}

static int
bind_ro(const char *source, const char *target)
{
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = (int) syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
        if (fd < 0)
                return errno == ENOSYS ? bind_ro_legacy(source, target) : -errno;
        r = set_ro(fd, "", AT_EMPTY_PATH);
        if (r < 0)
                return r == -ENOSYS ? bind_ro_legacy(source, target) : r;
        if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

int
jail_mount_tree_clone(int fd, int *ret)
{
        _cleanup_close_ int tree = -EBADF;
        int r;

        /* Without AT_RECURSIVE: submounts copied here, in the host's user
         * namespace, would not be locked to the jail (only a mount namespace
         * copied into a new user namespace locks its mounts), so the jail could
         * unmount one and see what it covers; without them nothing is covered. */
        tree = (int) syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
        if (tree < 0)
                return -errno;
        /* Read-only from the start; the child seals it again once attached
         * (attach_tree()), which is all there is before Linux 5.12 (no
         * mount_setattr()). */
        r = set_ro(tree, "", AT_EMPTY_PATH);
        if (r < 0 && r != -ENOSYS)
                return r;
        *ret = TAKE_FD(tree);
        return 0;
}

/* Attach a detached tree made by the spawning process (in the host's mount
 * namespace, with ids that could reach its source) at target, read-only. A
 * detached tree may be attached in any mount namespace whose user namespace
 * we have CAP_SYS_ADMIN in (move_mount(2)). */
static int
attach_tree(int tree_fd, const char *target)
{
        int r;

        if (syscall(SYS_move_mount, tree_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -errno;
        r = set_ro(AT_FDCWD, target, 0);
        return r == -ENOSYS ? remount_ro_legacy(target) : r;
}

static int
mount_device(const char *source, const char *target)
{
        /* Device nodes cannot be created in a user namespace; bind the host's. */
        if (mount(source, target, NULL, MS_BIND, NULL) < 0)
                return -errno;
        if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
                return -errno;
        return 0;
}

int
jail_mount_proc(const char *target)
{
        /* subset=pid hides everything in /proc that is not a process (kcore,
         * sysrq-trigger, sys/, ...). Kernels before 5.8 refuse the option: mount
         * plain proc and mask the dangerous files instead. */
        static const char *const masked[] = {"kcore", "kallsyms", "sysrq-trigger", "timer_list", "keys"};
        char path[PATH_MAX];

        if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") == 0)
                return 0;
        if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(masked); i++) {
                if ((size_t) snprintf(path, sizeof path, "%s/%s", target, masked[i]) >= sizeof path)
                        return -ENAMETOOLONG;
                if (access(path, F_OK) == 0 && mount("/dev/null", path, NULL, MS_BIND, NULL) < 0)
                        return -errno;
        }
        if ((size_t) snprintf(path, sizeof path, "%s/sys", target) >= sizeof path)
                return -ENAMETOOLONG;
        return bind_ro(path, path);
}

static int
write_file(const char *target, const char *content, mode_t mode)
{
        _cleanup_close_ int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

        if (fd < 0)
                return -errno;
        return loop_write(fd, content, strlen(content));
}

static int
apply_step(const struct jail_mount *m, const char *old_root, const char *new_root)
{
        char src[PATH_MAX], dst[PATH_MAX];
        struct stat st;
        int r;

        if ((size_t) snprintf(dst, sizeof dst, "%s%s", new_root, m->target) >= sizeof dst)
                return -ENAMETOOLONG;
        if (m->source && (size_t) snprintf(src, sizeof src, "%s%s", old_root, m->source) >= sizeof src)
                return -ENAMETOOLONG;
        switch (m->kind) {
        case JAIL_MOUNT_DIR:
                return mkdir_p(dst, m->mode);
        case JAIL_MOUNT_BIND_RO:
                if (m->tree_fd >= 0) {
                        if (fstat(m->tree_fd, &st) < 0)
                                return -errno;
                        r = make_mount_point(dst, S_ISDIR(st.st_mode));
                        return r < 0 ? r : attach_tree(m->tree_fd, dst);
                }
                if (stat(src, &st) < 0)
                        return -errno;
                r = make_mount_point(dst, S_ISDIR(st.st_mode));
                return r < 0 ? r : bind_ro(src, dst);
        case JAIL_MOUNT_DEVICE:
                r = make_mount_point(dst, false);
                return r < 0 ? r : mount_device(src, dst);
        case JAIL_MOUNT_TMPFS:
                r = mkdir_p(dst, 0755);
                if (r >= 0 && mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, m->options) < 0)
                        r = -errno;
                return r;
        case JAIL_MOUNT_PROC:
                r = mkdir_p(dst, 0555);
                return r < 0 ? r : jail_mount_proc(dst);
        case JAIL_MOUNT_SYMLINK:
                r = make_mount_point(dst, true);
                if (r >= 0 && rmdir(dst) < 0)
                        r = -errno;
                if (r >= 0 && symlink(m->source, dst) < 0)
                        r = -errno;
                return r;
        case JAIL_MOUNT_FILE:
                return write_file(dst, m->source, m->mode);
        case JAIL_MOUNT_SEAL:
                return mount(NULL, dst, NULL,
                             MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0
                               ? -errno
                               : 0;
        }
        return -EINVAL;
}

int
jail_mount_plan_apply(const struct jail_mount_plan *p, const char *old_root, const char *new_root,
                      size_t *ret_step)
{
        for (size_t i = 0; i < p->n_steps; i++) {
                int r = apply_step(&p->steps[i], old_root, new_root);
                if (r < 0) {
                        *ret_step = i;
                        return r;
                }
        }
        return 0;
}
