/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The limits of one run, and their defaults: the one definition the
 * configuration (vivarium.conf's [limits]), the pool, the spawner's cgroups
 * and the requests that lower them all use. Plain data, no dependencies, so
 * every layer above the pool can include it.
 */
#pragma once

#include <stdint.h>

#define POOL_DEFAULT_MEMORY_BYTES (UINT64_C(512) << 20)
#define POOL_DEFAULT_NPROC 64u

/* The service's limits (pool_config, vivarium_config), and those a request
 * asks for, which may only be lower (0 in a request: the service's). */
struct pool_limits {
        uint64_t memory_bytes; /* the run's processes together: cgroup memory.max, or RLIMIT_AS */
        uint64_t nproc;        /* processes and threads: pids.max, and RLIMIT_NPROC */
        uint32_t cpu_milli;    /* CPU quota in thousandths of a CPU; 0: none */
};

#define POOL_LIMITS_DEFAULT \
        ((struct pool_limits){.memory_bytes = POOL_DEFAULT_MEMORY_BYTES, .nproc = POOL_DEFAULT_NPROC})
