/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File-descriptor helpers. All return 0 or -errno; none allocate except
 * read_file_bounded(), whose limit the caller names.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int fd_set_nonblock(int fd, bool nonblock);
int fd_set_cloexec(int fd, bool cloexec);
/* Write all of buf, retrying short writes and EINTR (blocking fds only). */
int loop_write(int fd, const void *buf, size_t n);
/* Read exactly n bytes; -EPIPE if end of file comes first. */
int loop_read_exact(int fd, void *buf, size_t n);
/* Close every fd >= 3 that is not in keep[] (async-signal-safe; for a child before exec). */
int close_all_fds_except(const int *keep, size_t n_keep);
/* Move fds so that fds[i] ends up as i for i in 0..n-1, even when they overlap; clears CLOEXEC. */
int fd_arrange_stdio(const int *fds, size_t n);
int write_string_file(const char *path, const char *s);
/* Read a whole file of at most max bytes into a NUL-terminated buffer; -EFBIG past max. */
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size);
int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_size);
