/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The keeper: the process that starts spawners for the dispatcher, so that
 * the dispatcher itself never needs to fork or build namespaces after
 * start-up (it locks itself down with a seccomp filter; see
 * jail_seccomp_lock_service()). Requests are one byte on a SOCK_SEQPACKET
 * socket; the reply is {error, pid} and, on success, SCM_RIGHTS with the new
 * spawner's socket and pidfd. No request names anything.
 */
#pragma once

#include <sys/types.h>

#include "pool.h"

struct spawner;

struct keeper {
        pid_t pid;
        int pidfd;
        int sock;
};

/* Fork the keeper. The child never returns. */
int keeper_start(const struct pool_config *c, struct keeper *ret);
/* Have the keeper start a spawner (synchronous, bounded). */
int keeper_spawn(struct keeper *k, struct spawner *ret);
void keeper_stop(struct keeper *k);
