/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's lockdown: own uid, no capabilities, no_new_privs, seccomp,
 * applied before the worker tells the dispatcher it is ready; the rlimits
 * follow when a request brings them, before any of its code runs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct jail_limits {
        uint64_t cpu_seconds; /* RLIMIT_CPU backstop; the wall deadline is enforced outside */
        uint64_t nproc;       /* processes and threads of the worker's uid in its namespace */
        uint64_t nofile;
        uint64_t fsize_bytes;
        uint64_t address_space_bytes; /* 0: none (a memory cgroup limits instead) */
};

/* The nice value a worker runs its code at (jail/lockdown.c says why). */
#define JAIL_WORKER_NICE 5

struct sock_fprog;

struct jail_lockdown {
        uid_t uid; /* inside uid the worker drops to */
        gid_t gid;
        struct jail_limits limits;
        bool allow_inet;
        const struct sock_fprog *filter; /* prebuilt seccomp program; NULL: build it now */
};

int jail_rlimits_apply(const struct jail_limits *l);
/* Drop to the uid, clear every capability, set no_new_privs, apply rlimits and
 * load the seccomp filter, in that order. Returns -errno and a static string
 * naming the failed step. */
int jail_lockdown_apply(const struct jail_lockdown *l, const char **ret_step);
