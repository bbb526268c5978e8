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

/* Fork a helper process that talks to its parent over a SOCK_SEQPACKET
 * socketpair (the keeper, the spawner). In the child: it dies with the
 * parent (PR_SET_PDEATHSIG, with the race against an already dead parent
 * closed), every descriptor but its end of the pair is closed, the signal
 * mask and the dispositions of SIGTERM, SIGINT, SIGPIPE and SIGCHLD are back
 * to the defaults, and it is named title; returns 0 with *ret_sock its end.
 * In the parent: returns 1 with the child's pid, a pidfd and the parent's
 * end. */
int fork_helper(const char *title, pid_t *ret_pid, int *ret_pidfd, int *ret_sock);
