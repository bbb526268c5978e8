/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Building the mount plan. Runs in the spawning process; nothing here mounts.
 * What a jail sees (ARCHITECTURE.md, THREATS.md §C): /usr and the merged-usr
 * links read-only, the program's own directories read-only, a synthesized
 * /etc with a few harmless host files (never shadow or other secrets), a
 * minimal /dev, a fresh /proc, and size-limited /tmp and /workspace.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "mount-plan.h"

/* Host /etc entries a jail may see: loader cache and the alternatives links
 * (Debian's BLAS is reached through /etc/alternatives), time zone, Python's
 * and matplotlib's system configuration. Everything else in /etc stays out. */
static const char *const etc_allow[] = {
        "/etc/ld.so.cache",  "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
        "/etc/matplotlibrc", "/etc/mime.types", "/etc/python3",      "/etc/python3.11",   "/etc/fonts",
};
static const char *const usr_links[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
static const char *const devices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

static const char *const kind_names[] = {
        [JAIL_MOUNT_DIR] = "dir",     [JAIL_MOUNT_BIND_RO] = "bind-ro", [JAIL_MOUNT_DEVICE] = "device",
        [JAIL_MOUNT_TMPFS] = "tmpfs", [JAIL_MOUNT_PROC] = "proc",       [JAIL_MOUNT_SYMLINK] = "symlink",
        [JAIL_MOUNT_FILE] = "file",   [JAIL_MOUNT_SEAL] = "seal",
};

const char *
jail_mount_kind_to_string(enum jail_mount_kind k)
{
        return (size_t) k < ELEMENTSOF(kind_names) ? kind_names[k] : NULL;
}

struct jail_mount_plan *
jail_mount_plan_free(struct jail_mount_plan *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_steps; i++) {
                free(p->steps[i].source);
                free(p->steps[i].target);
                free(p->steps[i].options);
        }
        free(p->steps);
        free(p);
        return NULL;
}

static int
plan_add(struct jail_mount_plan *p, enum jail_mount_kind kind, const char *source, const char *target,
         const char *options, mode_t mode)
{
        struct jail_mount *n = reallocarray(p->steps, p->n_steps + 1, sizeof *n);

        if (!n)
                return -ENOMEM;
        p->steps = n;
        n = &p->steps[p->n_steps];
        *n = (struct jail_mount){.kind = kind, .mode = mode, .tree_fd = -EBADF};
        n->source = source ? strdup(source) : NULL;
        n->target = strdup(target);
        n->options = options ? strdup(options) : NULL;
        if ((source && !n->source) || !n->target || (options && !n->options)) {
                free(n->source);
                free(n->target);
                free(n->options);
                return -ENOMEM;
        }
        p->n_steps++;
        return 0;
}

const struct jail_mount *
jail_mount_plan_find(const struct jail_mount_plan *p, const char *target)
{
        for (size_t i = 0; i < p->n_steps; i++)
                if (strcmp(p->steps[i].target, target) == 0)
                        return &p->steps[i];
        return NULL;
}

/* Mirror a host path: a symlink becomes the same symlink, a directory or file
 * a read-only bind; absent paths are skipped. */
static int
plan_mirror(struct jail_mount_plan *p, const char *host_root, const char *path)
{
        char host[PATH_MAX], link[PATH_MAX];
        struct stat st;
        ssize_t n;

        if ((size_t) snprintf(host, sizeof host, "%s%s", host_root, path) >= sizeof host)
                return -ENAMETOOLONG;
        if (lstat(host, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISLNK(st.st_mode))
                return plan_add(p, JAIL_MOUNT_BIND_RO, path, path, NULL, 0);
        n = readlink(host, link, sizeof link - 1);
        if (n < 0)
                return -errno;
        link[n] = 0;
        return plan_add(p, JAIL_MOUNT_SYMLINK, link, path, NULL, 0);
}

static int
plan_etc(struct jail_mount_plan *p, const struct jail_spec *spec, const char *host_root)
{
        char passwd[256], group[256];
        unsigned sandbox = JAIL_UID_SANDBOX;
        int r;

        /* Name the sandbox user so getpass.getuser(), pwd and ~ work; no password
         * hashes exist anywhere in the jail. */
        (void) snprintf(passwd, sizeof passwd,
                        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                        "sandbox:x:%u:%u:vivarium sandbox:/workspace:/bin/sh\n"
                        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                        sandbox, sandbox);
        (void) snprintf(group, sizeof group, "root:x:0:\nsandbox:x:%u:\nnogroup:x:65534:\n", sandbox);
        const struct {
                const char *path, *content;
        } files[] = {
                {"/etc/passwd", passwd},
                {"/etc/group", group},
                {"/etc/hostname", JAIL_HOSTNAME "\n"},
                {"/etc/hosts", "127.0.0.1\tlocalhost " JAIL_HOSTNAME "\n::1\tlocalhost ip6-localhost\n"},
                {"/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"},
        };

        r = plan_add(p, JAIL_MOUNT_DIR, NULL, "/etc", NULL, 0755);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(files); i++)
                r = plan_add(p, JAIL_MOUNT_FILE, files[i].content, files[i].path, NULL, 0644);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(etc_allow); i++)
                r = plan_mirror(p, host_root, etc_allow[i]);
        (void) spec;
        return r;
}

static int
plan_dev(struct jail_mount_plan *p)
{
        static const struct {
                const char *target, *link;
        } links[] = {
                {"/dev/fd", "/proc/self/fd"},
                {"/dev/stdin", "/proc/self/fd/0"},
                {"/dev/stdout", "/proc/self/fd/1"},
                {"/dev/stderr", "/proc/self/fd/2"},
        };
        int r;

        r = plan_add(p, JAIL_MOUNT_TMPFS, NULL, "/dev", "mode=0755,size=64k,nr_inodes=64", 0755);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(devices); i++)
                r = plan_add(p, JAIL_MOUNT_DEVICE, devices[i], devices[i], NULL, 0666);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(links); i++)
                r = plan_add(p, JAIL_MOUNT_SYMLINK, links[i].link, links[i].target, NULL, 0);
        /* POSIX semaphores (multiprocessing) need a writable /dev/shm. */
        if (r >= 0)
                r = plan_add(p, JAIL_MOUNT_TMPFS, NULL, "/dev/shm", "mode=1777,size=16m,nr_inodes=1024",
                             01777);
        /* In single mode /dev belongs to the uid the code runs as: seal it, or the
         * code could replace the links and add files (the nodes and /dev/shm are
         * mounts of their own and keep their modes). */
        if (r >= 0)
                r = plan_add(p, JAIL_MOUNT_SEAL, NULL, "/dev", NULL, 0);
        return r;
}

static int
plan_scratch(struct jail_mount_plan *p, const struct jail_spec *spec)
{
        char tmp[128], ws[160];
        unsigned owner = (unsigned) JAIL_UID_SANDBOX;
        int r;

        (void) snprintf(tmp, sizeof tmp, "mode=1777,size=%llu,nr_inodes=16384",
                        (unsigned long long) spec->tmp_bytes);
        (void) snprintf(ws, sizeof ws, "mode=0755,uid=%u,gid=%u,size=%llu,nr_inodes=65536", owner, owner,
                        (unsigned long long) spec->workspace_bytes);
        r = plan_add(p, JAIL_MOUNT_TMPFS, NULL, "/tmp", tmp, 01777);
        if (r >= 0)
                r = plan_add(p, JAIL_MOUNT_TMPFS, NULL, "/workspace", ws, 0755);
        if (r >= 0)
                r = plan_add(p, JAIL_MOUNT_PROC, NULL, "/proc", NULL, 0555);
        return r;
}

static bool
path_is_below(const char *path, const char *dir)
{
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

int
jail_mount_plan_build(const struct jail_spec *spec, const char *host_root, struct jail_mount_plan **ret)
{
        _cleanup_(jail_mount_plan_freep) struct jail_mount_plan *p = calloc(1, sizeof *p);
        int r;

        if (!p)
                return -ENOMEM;
        if (strcmp(host_root, "/") == 0)
                host_root = "";
        r = plan_add(p, JAIL_MOUNT_BIND_RO, "/usr", "/usr", NULL, 0);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(usr_links); i++)
                r = plan_mirror(p, host_root, usr_links[i]);
        if (r >= 0)
                r = plan_etc(p, spec, host_root);
        if (r >= 0)
                r = plan_dev(p);
        if (r >= 0)
                r = plan_scratch(p, spec);
        /* The spec's binds come last so a scratch tmpfs cannot cover them (a test
         * install below /tmp stays visible). */
        for (size_t i = 0; r >= 0 && i < spec->n_binds; i++)
                /* Already visible through /usr (a /usr/local install): no second mount. */
                if (!path_is_below(spec->binds[i].target, "/usr") ||
                    strcmp(spec->binds[i].source, spec->binds[i].target) != 0) {
                        r = plan_add(p, JAIL_MOUNT_BIND_RO, spec->binds[i].source, spec->binds[i].target,
                                     NULL, 0);
                        if (r >= 0)
                                p->steps[p->n_steps - 1].tree_fd = spec->binds[i].tree_fd;
                }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}
