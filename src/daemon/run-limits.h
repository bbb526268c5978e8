/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-request limits of `run` (PROTOCOL.md, "Additions to version 1"):
 * memory_mb, processes and cpus, each of which may lower the daemon's limit
 * and never raise it. Runs in the dispatcher, on parameters a client sent.
 * A pure function of the parameters and the daemon's limits, so that every
 * accepted and refused value is unit-tested.
 */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "pool.h"

/* What a request may ask for, the daemon's limits aside. */
#define RUN_LIMIT_MEMORY_MIN_MB 16u
#define RUN_LIMIT_MEMORY_MAX_MB (64u * 1024u)
#define RUN_LIMIT_PROCESSES_MIN 4u
#define RUN_LIMIT_PROCESSES_MAX 4096u
#define RUN_LIMIT_CPU_MIN_MILLI 10u             /* 0.01 CPU: the kernel's smallest quota */
#define RUN_LIMIT_CPU_MAX_MILLI (1024u * 1000u) /* as [limits] cpus */

struct run_limits_bounds {
        struct pool_limits daemon; /* the daemon's limits in force; cpu_milli 0: no quota */
        bool cpu_quota_usable;     /* a worker's group can take a CPU quota */
        unsigned cpus_online;      /* bounds cpus where the daemon has no quota */
};

/* Read memory_mb, processes and cpus from params (a map, or NULL); absent
 * or nil leaves the daemon's limit (0 in *ret). Returns 0, or -EINVAL with
 * a message naming the parameter in why: the wrong type, the range, or the
 * daemon's limit it is above. */
int run_limits_parse(const msgpack_object *params, const struct run_limits_bounds *b,
                     struct pool_limits *ret, char *why, size_t why_size);
/* A byte count as the messages write it: "512 MiB", or bytes. */
const char *run_limits_format_memory(uint64_t bytes, char *buf, size_t size);
