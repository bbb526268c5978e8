/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The watchdog's walk (memwatch.h) over one worker's pid namespace, through
 * the worker's own /proc (/proc/PID/root/proc: every process of the run and
 * no other). Reading it passes the kernel's ptrace-read check only because
 * the worker made itself dumpable after its lockdown, which its seccomp
 * filter then keeps it from undoing (jail/lockdown.c). A process whose
 * /proc we cannot read, or a descriptor we cannot stat, is not accountable,
 * and the caller kills the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "memwatch.h"
#include "process-util.h"

#define MOUNTINFO_MAX (256u * 1024u)

static uint64_t
read_sysctl(const char *path, uint64_t fallback)
{
        _cleanup_free_ char *text = NULL;
        unsigned long long v;

        if (read_file_bounded(path, 64, &text, NULL) < 0 || sscanf(text, "%llu", &v) != 1)
                return fallback;
        return v;
}

/* Read a small /proc file of process `name` below dir into buf. 0 on
 * success, -ENOENT if the process went away meanwhile. */
static int
read_proc_file(int dir, const char *name, const char *file, char *buf, size_t size)
{
        char path[64];
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;

        (void) snprintf(path, sizeof path, "%s/%s", name, file);
        fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ESRCH ? -ENOENT : -errno;
        while (len + 1 < size) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == ESRCH ? -ENOENT : -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        return 0;
}

static bool
is_pid_name(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

static bool
on_watched_mount(const struct memwatch *m, dev_t dev)
{
        for (size_t i = 0; i < m->n_mounts; i++)
                if (m->mount_dev[i] == dev)
                        return true;
        return false;
}

/* Is the file behind descriptor `fd` of process `name` in memory (a memfd,
 * a file on a tmpfs the walk does not statfs already)? */
static bool
in_memory(int dir, const char *name, const char *fd)
{
        char path[384];
        struct statfs sf;

        (void) snprintf(path, sizeof path, "/proc/self/fd/%d/%s/fd/%s", dir, name, fd);
        if (statfs(path, &sf) < 0)
                return true; /* gone or unreadable: an upper bound charges it */
        return sf.f_type == TMPFS_MAGIC || sf.f_type == HUGETLBFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

static int
count_fds(struct memwatch *m, int dir, const char *name, struct memwatch_sample *s)
{
        char path[64];
        int fd;
        DIR *d;
        struct dirent *de;
        int r = 0;

        (void) snprintf(path, sizeof path, "%s/fd", name);
        fd = openat(dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ESRCH ? 0 : -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        for (;;) {
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        /* A process that exits while it is listed ends its list. */
                        if (errno != 0 && errno != ENOENT && errno != ESRCH)
                                r = -errno;
                        break;
                }
                if (!is_pid_name(de->d_name))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                        if (errno == ENOENT || errno == ESRCH)
                                continue; /* closed meanwhile */
                        r = -errno;
                        break;
                }
                if (S_ISFIFO(st.st_mode)) {
                        if (memwatch_seen_add(&m->seen, st.st_dev, st.st_ino))
                                s->pipes += m->pipe_charge;
                } else if (S_ISSOCK(st.st_mode)) {
                        if (memwatch_seen_add(&m->seen, st.st_dev, st.st_ino))
                                s->sockets += m->socket_charge;
                } else if (S_ISREG(st.st_mode) && !on_watched_mount(m, st.st_dev) &&
                           in_memory(dir, name, de->d_name) &&
                           memwatch_seen_add(&m->seen, st.st_dev, st.st_ino))
                        s->files += (uint64_t) st.st_blocks * 512;
        }
        closedir(d);
        return r;
}

/* A process whose memory is gone (it is exiting, or a zombie) has no mm, and
 * the kernel then refuses its fd and smaps_rollup to all but root: its
 * statm reads all zeros, which a process holding memory cannot fake. */
static bool
gone_empty(int dir, const char *name)
{
        char buf[128];
        unsigned long long size = 1;

        if (read_proc_file(dir, name, "statm", buf, sizeof buf) == -ENOENT)
                return true;
        return sscanf(buf, "%llu", &size) == 1 && size == 0;
}

static int
count_process(struct memwatch *m, int dir, const char *name, bool precise, struct memwatch_sample *s)
{
        char buf[4096];
        uint64_t v;
        int r;

        r = read_proc_file(dir, name, precise ? "smaps_rollup" : "statm", buf, sizeof buf);
        if (r == -ENOENT || ((r == -EACCES || r == -EPERM) && gone_empty(dir, name)))
                return 0;
        if (r < 0)
                return r;
        if (precise) {
                if (memwatch_parse_rollup(buf, &v) < 0)
                        return -EBADMSG;
                s->processes += v * 1024;
        } else {
                if (buf[0] == '\0')
                        return 0; /* exited */
                if (memwatch_parse_statm(buf, &v) < 0)
                        return -EBADMSG;
                s->processes += v * (uint64_t) sysconf(_SC_PAGESIZE);
        }
        s->n_processes++;
        r = count_fds(m, dir, name, s);
        return (r == -EACCES || r == -EPERM) && gone_empty(dir, name) ? 0 : r;
}

int
memwatch_sample(struct memwatch *m, bool precise, struct memwatch_sample *ret)
{
        struct memwatch_sample s = {};
        _cleanup_close_ int dir = openat(m->root_proc, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (dir < 0)
                return -ESRCH;
        d = fdopendir(dup(dir));
        if (!d)
                return -errno;
        memwatch_seen_reset(&m->seen);
        for (;;) {
                errno = 0; /* readdir() says an error only through it */
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
                        break;
                }
                /* pid 1 is the namespace's init, whose memory is the zygote's. */
                if (!is_pid_name(de->d_name) || strcmp(de->d_name, "1") == 0)
                        continue;
                r = count_process(m, dir, de->d_name, precise, &s);
                if (r < 0)
                        break;
        }
        closedir(d);
        for (size_t i = 0; r >= 0 && i < m->n_mounts; i++) {
                struct statfs sf;
                if (fstatfs(m->mount_fd[i], &sf) < 0)
                        return -errno;
                s.tmpfs += (uint64_t) (sf.f_blocks - sf.f_bfree) * (uint64_t) sf.f_bsize;
        }
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static int
open_mounts(struct memwatch *m)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = openat(m->proc_fd, "mountinfo", O_RDONLY | O_CLOEXEC);
        char mp[4096], path[4200];

        if (fd < 0)
                return -errno;
        if (read_fd_bounded(fd, MOUNTINFO_MAX, &text, NULL) < 0)
                return -EIO;
        for (char *line = text, *next; line && *line; line = next) {
                struct stat st;
                int mfd;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (!memwatch_parse_mount(line, mp, sizeof mp))
                        continue;
                if (m->n_mounts == MEMWATCH_MAX_MOUNTS)
                        return -E2BIG;
                (void) snprintf(path, sizeof path, "root%s", mp);
                mfd = openat(m->proc_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (mfd < 0)
                        return -errno;
                if (fstat(mfd, &st) < 0) {
                        safe_close(mfd);
                        return -errno;
                }
                m->mount_fd[m->n_mounts] = mfd;
                m->mount_dev[m->n_mounts++] = st.st_dev;
        }
        return 0;
}

int
memwatch_begin(struct memwatch *m, pid_t pid, int pidfd)
{
        struct memwatch_sample s;
        char path[32];
        int r;

        *m = (struct memwatch){.proc_fd = -EBADF, .root_proc = -EBADF};
        (void) snprintf(path, sizeof path, "/proc/%d", (int) pid);
        m->proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->proc_fd < 0)
                return -errno;
        /* Still alive after the open: the directory is the worker's, not a
         * later process's with a reused pid. */
        r = pidfd_signal(pidfd, 0);
        if (r >= 0) {
                m->root_proc = openat(m->proc_fd, "root/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (m->root_proc < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = open_mounts(m);
        m->pipe_charge = read_sysctl("/proc/sys/fs/pipe-max-size", 1u << 20);
        m->socket_charge = 2 * read_sysctl("/proc/sys/net/core/wmem_max", 212992);
        if (r >= 0)
                r = memwatch_sample(m, true, &s);
        if (r < 0) {
                memwatch_end(m);
                return r;
        }
        m->baseline = memwatch_sample_total(&s);
        return 0;
}

void
memwatch_kill(struct memwatch *m)
{
        DIR *d;
        struct dirent *de;
        int fd;

        if (m->root_proc < 0)
                return;
        /* The init first: when a pid namespace's init dies the kernel kills
         * every process in it. The others too, in case the init is gone. */
        fd = openat(m->root_proc, "1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                (void) pidfd_signal(fd, SIGKILL);
                safe_close(fd);
        }
        d = fdopendir(dup(m->root_proc));
        if (!d)
                return;
        rewinddir(d);
        while ((de = readdir(d)))
                if (is_pid_name(de->d_name) &&
                    (fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
                        (void) pidfd_signal(fd, SIGKILL);
                        safe_close(fd);
                }
        closedir(d);
}

void
memwatch_end(struct memwatch *m)
{
        for (size_t i = 0; i < m->n_mounts; i++)
                safe_close(m->mount_fd[i]);
        m->n_mounts = 0;
        m->root_proc = safe_close(m->root_proc);
        m->proc_fd = safe_close(m->proc_fd);
        memwatch_seen_free(&m->seen);
}
