/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File-descriptor helpers used in every trust zone, including forked children
 * before exec: nothing here may take a lock or allocate except the readers.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "config.h"
#include "fd-util.h"
#include "macro.h"

int
fd_set_nonblock(int fd, bool nonblock)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        flags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

int
fd_set_cloexec(int fd, bool cloexec)
{
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0)
                return -errno;
        flags = cloexec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

int
loop_write(int fd, const void *buf, size_t n)
{
        const char *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int
loop_read_exact(int fd, void *buf, size_t n)
{
        char *p = buf;

        while (n > 0) {
                ssize_t k = read(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static bool
fd_in(int fd, const int *keep, size_t n_keep)
{
        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] == fd)
                        return true;
        return false;
}

int
close_all_fds_except(const int *keep, size_t n_keep)
{
        /* Walk the range in gaps between kept fds so close_range() does the work in
         * O(kept) syscalls; fall back to a plain loop over the rlimit if it is missing. */
        int lo = 3;

        for (;;) {
                int hi = -1;
                for (size_t i = 0; i < n_keep; i++)
                        if (keep[i] >= lo && (hi < 0 || keep[i] < hi))
                                hi = keep[i];
                int end = hi < 0 ? INT_MAX : hi - 1;
                if (end >= lo) {
#ifdef HAVE_CLOSE_RANGE
                        if (syscall(SYS_close_range, (unsigned) lo, (unsigned) end, 0) < 0) {
#else
                        {
#endif
                                long max = sysconf(_SC_OPEN_MAX);
                                for (int fd = lo; fd <= end && fd < max; fd++)
                                        if (!fd_in(fd, keep, n_keep))
                                                (void) close(fd);
                        }
                }
                if (hi < 0)
                        return 0;
                lo = hi + 1;
        }
}

int
fd_arrange_stdio(const int *fds, size_t n)
{
        /* First lift every source above the target range so no dup2() clobbers a
         * source that is still needed, then place them. */
        int moved[16];

        if (n > ELEMENTSOF(moved))
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int) n);
                if (moved[i] < 0)
                        return -errno;
        }
        for (size_t i = 0; i < n; i++) {
                if (dup2(moved[i], (int) i) < 0)
                        return -errno;
                (void) close(moved[i]);
        }
        return 0;
}

int
write_string_file(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        int r;

        if (fd < 0)
                return -errno;
        r = loop_write(fd, s, strlen(s));
        safe_close(fd);
        return r;
}

int
read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_size)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        for (;;) {
                if (size + 1 >= alloc) {
                        size_t want = alloc ? alloc * 2 : 4096;
                        if (want > max + 2)
                                want = max + 2;
                        if (want <= size + 1)
                                return -EFBIG;
                        char *p = realloc(buf, want);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = want;
                }
                ssize_t k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        if (ret_size)
                *ret_size = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

int
read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return -errno;
        return read_fd_bounded(fd, max, ret, ret_size);
}
