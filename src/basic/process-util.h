/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Process handles: a tracked process is a pid plus a pidfd, and signals go
 * through the pidfd so a recycled pid is never hit.
 */
#pragma once

#include <signal.h>
#include <sys/types.h>

int pidfd_open_checked(pid_t pid, int *ret_fd);
int pidfd_signal(int pidfd, int sig);
/* Rename the calling process as seen in ps (argv[0] and comm). */
void process_set_title(const char *title);
