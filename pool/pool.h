/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pool's embedding API: environments, each with a zygote in its own jail
 * and warm workers forked ahead of requests, driven by the caller's sd-event
 * loop. The dispatcher (src/daemon) is its only user; faces reach it through
 * the dispatcher. Callers never touch jail/ directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "pool-limits.h"
#include "run.h"

#define POOL_DEFAULT_ENV "default"

struct pool_config {
        char **preload;            /* modules the default environment's zygote imports */
        bool preload_if_installed; /* skip those of them that are not installed */
        struct pool_limits limits; /* per worker; cpu_milli as configured (pool_stats: in force) */
        uint64_t nofile;
        uint64_t fsize_bytes;
        uint64_t tmp_bytes, workspace_bytes; /* each worker's private /tmp and /workspace */
        size_t output_head, output_tail;     /* per stream, kept in the result */
        unsigned max_images;
        size_t max_image_bytes;
        unsigned idle_workers; /* warm workers kept waiting per environment */
        unsigned max_workers;  /* busy + idle + starting, per environment */
        unsigned queue_limit;  /* requests waiting for a worker, per environment */
        uint64_t startup_timeout_ms;
        /* Without a cgroup, how often the watchdog counts a busy worker's
         * memory (pool/memwatch.h); 0: never, RLIMIT_AS alone. */
        uint64_t memory_period_ms;
        const char *zygote_path; /* host path of vivarium-zygote */
        const char *runner_dir;  /* host directory holding vivarium_runner.py */
        /* One run, then the end (vivarium run without a daemon): the caller
         * starts one jail and its zygote itself, with no keeper or spawner,
         * and the zygote forks one worker that starts its own interpreter. */
        bool oneshot;
};

struct run_request {
        const char *code;
        size_t code_len;
        const void *stdin_data;
        size_t stdin_len;
        uint64_t timeout_ms;
        struct pool_limits limits; /* each field 0, or at most the service's */
};

struct pool;
struct pool_job;

struct pool_job_ops {
        /* Output as the code produces it (stream 1 = stdout, 2 = stderr). */
        void (*output)(struct pool_job *job, int stream, const void *data, size_t size, void *userdata);
        /* Exactly once: a result (error 0), or a failure of the service (-errno and
         * a message). The job is freed after it returns. */
        void (*done)(struct pool_job *job, const struct run_result *result, int error, const char *message,
                     void *userdata);
};

struct pool_env_stats {
        const char *name;
        char *const *preload;
        const char *state;
        unsigned restarts, idle, busy, starting, queued, queue_limit;
};

struct pool_stats {
        const char *idmap;  /* "range" or "single" */
        const char *cgroup; /* "v2", "v1" or "none" */
        /* What the user manager was asked for and gave (user-scope.h). */
        const char *cgroup_scope;
        /* What holds a run's memory: "cgroup", "watchdog" (every
         * memory_period_ms) or "rlimit" (RLIMIT_AS per process only). */
        const char *memory;
        uint64_t memory_period_ms;
        double cpus; /* the CPU quota per worker in force; 0: none */
        bool landlock;
        /* The service's limits in force (cpu_milli as `cpus`), which a request
         * may lower; and whether a request may ask for a CPU quota at all. */
        struct pool_limits limits;
        bool cpu_quota_usable;
        struct pool_env_stats env; /* only the default environment exists so far */
};

/* Defaults, and the install paths (VIVARIUM_LIBEXECDIR / VIVARIUM_PKGDATADIR
 * override them; an uninstalled ./vivarium finds the build tree's). */
void pool_config_init(struct pool_config *c);

/* Fork the spawner and start the default environment's zygote; one-shot
 * (c->oneshot): build the jail and start its zygote here, and as root fork
 * the helper that keeps root to remove the jail's cgroup at the end. */
int pool_new(sd_event *event, const struct pool_config *c, struct pool **ret);
/* Kill every job (their done() is not called), every worker and zygote, and the spawner. */
struct pool *pool_free(struct pool *p);
/* Queue a request. -ENOENT: no such environment; -EAGAIN: its queue is full;
 * -ENOEXEC (with *ret_message): the environment failed to start; -ERANGE: a
 * limit above the service's; -EOPNOTSUPP: a CPU quota where none can be had.
 * The caller checks the limits first (pool_get_stats()), to say which. */
int pool_submit(struct pool *p, const char *env, const struct run_request *req,
                const struct pool_job_ops *ops, void *userdata, struct pool_job **ret,
                const char **ret_message);
/* Stop the job: its done() reports status "cancelled" (later, once the worker is gone). */
void pool_job_cancel(struct pool_job *job);
/* The caller is going away: kill the job, never call back. */
void pool_job_abandon(struct pool_job *job);
void pool_get_stats(struct pool *p, struct pool_stats *ret);
/* True while any job is queued or running. */
bool pool_busy(struct pool *p);
/* What the user can do about a failure, or NULL. */
const char *pool_error_hint(int error);
