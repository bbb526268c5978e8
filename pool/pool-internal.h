/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pool's internal objects. Everything here lives in the dispatcher
 * process, on its single event loop. A worker's bytes are hostile input.
 *
 *   pool ── env ── zygote (control socket), workers, queue of jobs
 *                    worker ── job (while busy)
 */
#pragma once

#include <msgpack.h>
#include <sys/types.h>

#include "cgroup.h"
#include "jail.h"
#include "frame.h"
#include "list.h"
#include "memwatch.h"
#include "pool.h"
#include "keeper.h"
#include "spawner.h"
#include "user-scope.h"
#include "wire.h"

#define POOL_MAX_SLOTS 64

enum env_state {
        ENV_STARTING, /* waiting for the spawner or the zygote's "ready" */
        ENV_READY,
        ENV_BACKOFF, /* the zygote died; restarting after a delay */
        ENV_FAILED,  /* start-up failed; retrying after a delay, submits fail fast */
};

enum worker_state {
        WORKER_STARTING, /* asked the zygote for it, waiting for its hello */
        WORKER_IDLE,
        WORKER_BUSY,
        WORKER_RETIRING, /* returned its result; exiting on its own */
        WORKER_DEAD,     /* killed or exited; waiting for the exit report */
};

struct worker {
        struct pool_env *env;
        struct list_node node; /* env->workers */
        enum worker_state state;
        unsigned slot;
        uid_t uid;
        pid_t inside_pid, host_pid;
        int pidfd, sock, out, err;
        sd_event_source *sock_src, *out_src, *err_src, *retire_timer;
        /* Its cgroup, made by the spawner after the hello (the worker stays
         * STARTING until the answer) and removed when the worker is gone,
         * which kills what the code left behind. */
        uint64_t cgroup_ref; /* 0: none asked for */
        bool cgroup_pending;
        int oom_fd; /* the group's OOM counter; -EBADF: no group, rlimits apply */
        struct proto_frame_reader *reader;
        struct pool_job *job;
        bool exited; /* the zygote reported its exit */
        int exit_code, exit_signal;
        uint64_t cpu_us, maxrss_kb;
};

struct pool_job {
        struct pool *pool;
        struct pool_env *env;
        struct list_node node; /* env->queue while queued */
        struct worker *worker;
        const struct pool_job_ops *ops;
        void *userdata;
        char *code;
        size_t code_len;
        char *stdin_data;
        size_t stdin_len;
        uint64_t timeout_ms, cpu_limit_s, started_usec;
        /* The limits this run has: the service's, lowered by the request. The
         * one place to read them from, whatever enforces them. */
        struct pool_limits limits;
        struct run_result result;
        sd_event_source *timer;
        bool got_result, timed_out, cancelled, violation;
        bool handoff_retried; /* a worker died before it got this request once already */
        bool limits_pending;  /* the spawner is lowering the worker's cgroup limits */
        char *failure;        /* the worker could not lock itself down */
        /* The watchdog (job-memory.c), without a cgroup: what it counts, its
         * timer, and why it killed the run (NULL: it did not). */
        struct memwatch watch;
        bool watching;
        sd_event_source *watch_timer;
        char *memory_killed;
        uint64_t oom_kills; /* the group's OOM kills when the run began */
};

struct pool_env {
        struct pool *pool;
        char *name;
        char **preload;
        bool preload_if_installed;
        char **preloaded; /* what the zygote reported it imported; NULL until ready */
        enum env_state state;
        uint64_t zygote_id; /* spawner id of the current zygote */
        unsigned restarts, failures, start_failures;
        char last_error[1024];
        int control;
        struct proto_frame_reader *control_reader;
        sd_event_source *control_src, *retry_timer, *dispatch_src;
        struct list_node workers, queue;
        unsigned n_idle, n_busy, n_starting, n_retiring, n_queued;
        uint64_t slots_used; /* bit per slot */
};

struct pool {
        sd_event *event;
        struct pool_config config;
        struct keeper keeper; /* starts spawners: the dispatcher never forks again */
        struct spawner spawner;
        sd_event_source *spawner_src;
        uint64_t next_zygote_id, next_cgroup_ref;
        bool range_ids; /* a subordinate range: a uid per worker slot */
        enum jail_cgroup_mode cgroup_mode;
        /* The dispatcher can read its workers' /proc (it shares their uid):
         * without a cgroup, the watchdog holds the memory limit. */
        bool memwatch;
        struct user_scope scope; /* what the user manager gave, if it was asked */
        char scope_text[384];    /* user_scope_describe()'s, for pool_stats */
        uint32_t cpu_milli;      /* the CPU quota in force: 0 if none is configured or possible */
        bool cpu_usable;         /* a worker's group can have a quota (a request may ask for one) */
        struct pool_env *env;    /* the default environment */
        /* One-shot (config.oneshot, oneshot.c): no keeper or spawner; the jail
         * we built, its group (NULL once the helper owns it, or if there is
         * none), the group's OOM counter, and the helper that removes the
         * group as root. */
        bool jail_started;
        struct jail_process jail; /* pid 0: none */
        struct jail_cgroup *cgroup;
        int oom_fd, helper_pidfd, helper_sock;
};

/* oneshot.c */
/* Build the jail and start its zygote (once); its control socket, or -errno
 * and perhaps a malloc'd message. */
int oneshot_start_zygote(struct pool_env *e, int *ret_control, char **ret_error);
/* The worker's OOM counter is the jail's group's (-EBADF: no group). */
int oneshot_worker_cgroup(struct worker *w);
void oneshot_kill(struct pool *p);
/* Kill the jail, reap it, remove its group (or let the helper do it). */
void oneshot_stop(struct pool *p);

/* pool.c */
/* End the zygote `id` of the pool (the spawner's, or our one-shot jail). */
void pool_kill_zygote(struct pool *p, uint64_t id);

/* env.c */
int env_new(struct pool *p, const char *name, char *const *preload, bool preload_if_installed,
            struct pool_env **ret);
struct pool_env *env_free(struct pool_env *e);
void env_on_spawner_event(struct pool_env *e, const struct spawner_event *ev);
/* Give queued jobs to idle workers and keep the warm set filled. */
void env_dispatch(struct pool_env *e);
void env_schedule_dispatch(struct pool_env *e);
void env_worker_gone(struct pool_env *e, struct worker *w);
/* A worker died before its hello; after a few in a row the environment fails. */
void env_worker_start_failed(struct pool_env *e, int error);
/* The spawner's answer to a worker's cgroup or limit request. */
void env_on_cgroup_event(struct pool_env *e, const struct spawner_event *ev);

/* worker.c */
int worker_spawn(struct pool_env *e, struct worker **ret);
void worker_kill(struct worker *w);
void worker_on_exit_report(struct worker *w, const msgpack_object *m);
struct worker *worker_free(struct worker *w);
int worker_drain(struct worker *w);
/* The spawner made the worker's cgroup (oom_fd >= 0, taken) or could not. */
void worker_on_cgroup(struct worker *w, int oom_fd, int error);
/* The job got its result: answer now, let the worker exit (or kill it soon). */
void worker_retire(struct worker *w);

/* job.c */
int job_start(struct pool_job *j, struct worker *w);
/* Undo a job_start() that failed: the job is no worker's any more. */
void job_unlease(struct pool_job *j);
void job_on_frame(struct pool_job *j, const msgpack_object *m);
/* The spawner lowered the worker's cgroup limits for the job (error 0), or could not. */
void job_on_limits(struct pool_job *j, int error);
void job_on_output(struct pool_job *j, int stream, const void *data, size_t size);
/* The worker is gone (exit reported, or the zygote died): judge and report. */
void job_finish(struct pool_job *j, int error, const char *message);
void job_free(struct pool_job *j);
/* job-memory.c: without a cgroup, count the worker's memory from now on
 * (-errno: it cannot be counted, and the job must not run); stop. */
int job_watch_start(struct pool_job *j, struct worker *w);
void job_watch_stop(struct pool_job *j);
/* The worker sent its result: count once more before it is accepted. */
void job_watch_result(struct pool_job *j);
/* The deadline (or, after a kill, the bound on waiting for the exit report). */
int job_on_timer(sd_event_source *src, uint64_t usec, void *userdata);
