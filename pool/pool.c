/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pool: the spawner and the environments, on the dispatcher's event loop.
 * Runs in the dispatcher. Spawners are started by the keeper (keeper.c), so
 * that the dispatcher needs neither fork nor namespaces after start-up. If the
 * spawner dies (and with it, through PR_SET_PDEATHSIG, every zygote it
 * started), the keeper starts a new one and the environments restart with
 * backoff.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jail.h"
#include "landlock.h"
#include "log.h"
#include "macro.h"
#include "pool-internal.h"
#include "time-util.h"

static int on_spawner(sd_event_source *src, int fd, uint32_t revents, void *userdata);

static int
watch_spawner(struct pool *p)
{
        p->spawner_src = sd_event_source_disable_unref(p->spawner_src);
        return sd_event_add_io(p->event, &p->spawner_src, p->spawner.sock, EPOLLIN, on_spawner, p);
}

static void
restart_spawner(struct pool *p)
{
        p->spawner_src = sd_event_source_disable_unref(p->spawner_src);
        spawner_stop(&p->spawner);
        if (keeper_spawn(&p->keeper, &p->spawner) < 0 || watch_spawner(p) < 0)
                log_error("cannot restart the spawner; environments stay unavailable");
}

static int
on_spawner(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct pool *p = userdata;
        struct spawner_event ev;
        int r;

        while ((r = spawner_receive(&p->spawner, &ev)) > 0) {
                if (ev.type == SPAWNER_CGROUP || ev.type == SPAWNER_CGROUP_FAILED ||
                    ev.type == SPAWNER_LIMITED || ev.type == SPAWNER_LIMIT_FAILED) {
                        env_on_cgroup_event(p->env, &ev);
                        continue;
                }
                env_on_spawner_event(p->env, &ev);
                if (ev.type == SPAWNER_STARTED && ev.id != p->env->zygote_id)
                        (void) close(ev.control_fd); /* a zygote given up on: closing ends it */
        }
        if (r == 0)
                return 0;
        log_error_errno(r, "the spawner %s; starting a new one",
                        r == -EPIPE ? "died" : "broke the protocol");
        restart_spawner(p);
        /* Its zygotes died with it (PR_SET_PDEATHSIG): treat ours as lost. */
        env_on_spawner_event(p->env,
                             &(struct spawner_event){.type = SPAWNER_EXITED, .id = p->env->zygote_id});
        return 0;
}

/* The mode of the runs' groups; without one, and where VIVARIUM_CGROUP
 * allows it, a scope from the user manager first. Before the keeper, the
 * spawner or a one-shot jail is forked: the scope takes this process only. */
static enum jail_cgroup_mode
detect_cgroup(struct user_scope *scope, char *text, size_t size)
{
        enum jail_cgroup_mode mode = jail_cgroup_detect();

        *scope = (struct user_scope){};
        if (user_scope_wanted(getenv("VIVARIUM_CGROUP"), mode)) {
                user_scope_request(USER_SCOPE_TIMEOUT_USEC, scope);
                if (scope->state == USER_SCOPE_NOT_ASKED) { /* in the scope's group now */
                        mode = jail_cgroup_detect();
                        user_scope_settle(scope, mode);
                }
        }
        user_scope_describe(scope, text, size);
        if (scope->state != USER_SCOPE_NOT_ASKED)
                log_debug("cgroup scope: %s; cgroup mode %s", text, jail_cgroup_mode_to_string(mode));
        return mode;
}

int
pool_new(sd_event *event, const struct pool_config *c, struct pool **ret)
{
        struct pool *p = calloc(1, sizeof *p);
        int r;

        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        p->config = *c;
        p->keeper = (struct keeper){.pidfd = -EBADF, .sock = -EBADF};
        p->spawner = (struct spawner){.pidfd = -EBADF, .sock = -EBADF};
        p->jail = (struct jail_process){.pidfd = -EBADF};
        p->oom_fd = p->helper_pidfd = p->helper_sock = -EBADF;
        p->range_ids = geteuid() == 0;
        p->cgroup_mode = detect_cgroup(&p->scope, p->scope_text, sizeof p->scope_text);
        /* As root the dispatcher drops to the service user and cannot read
         * the workers' /proc: there RLIMIT_AS is all it has. */
        p->memwatch = p->cgroup_mode == JAIL_CGROUP_NONE && !p->range_ids && c->memory_period_ms > 0;
        /* Without a hierarchy that takes a quota there is no CPU share limit
         * (RLIMIT_CPU bounds CPU seconds only); pool_get_stats() says so. */
        p->cpu_usable = jail_cgroup_cpu_usable(p->cgroup_mode) >= 0;
        if (c->limits.cpu_milli > 0 && p->cpu_usable)
                p->cpu_milli = c->limits.cpu_milli;
        /* One-shot: the jail is built right here (env_new()), by us. */
        r = c->oneshot ? 0 : keeper_start(&p->config, &p->keeper);
        if (r >= 0 && !c->oneshot)
                r = keeper_spawn(&p->keeper, &p->spawner);
        if (r >= 0 && !c->oneshot)
                r = watch_spawner(p);
        if (r >= 0)
                r = env_new(p, POOL_DEFAULT_ENV, c->preload, c->preload_if_installed, &p->env);
        if (r < 0) {
                pool_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

struct pool *
pool_free(struct pool *p)
{
        if (!p)
                return NULL;
        env_free(p->env);
        p->spawner_src = sd_event_source_disable_unref(p->spawner_src);
        spawner_stop(&p->spawner);
        keeper_stop(&p->keeper);
        oneshot_stop(p);
        sd_event_unref(p->event);
        free(p);
        return NULL;
}

/* The service's limits in force: what a request may lower. */
static struct pool_limits
pool_limits_in_force(const struct pool *p)
{
        return (struct pool_limits){.memory_bytes = p->config.limits.memory_bytes,
                                    .nproc = p->config.limits.nproc,
                                    .cpu_milli = p->cpu_milli};
}

/* The service's limits, lowered where the request asks for less. */
static int
effective_limits(const struct pool *p, const struct pool_limits *want, struct pool_limits *ret)
{
        struct pool_limits l = pool_limits_in_force(p);

        if (want->memory_bytes > l.memory_bytes || want->nproc > l.nproc ||
            (l.cpu_milli > 0 && want->cpu_milli > l.cpu_milli))
                return -ERANGE;
        if (want->cpu_milli > 0 && !p->cpu_usable)
                return -EOPNOTSUPP;
        if (want->memory_bytes > 0)
                l.memory_bytes = want->memory_bytes;
        if (want->nproc > 0)
                l.nproc = want->nproc;
        if (want->cpu_milli > 0)
                l.cpu_milli = want->cpu_milli;
        *ret = l;
        return 0;
}

void
pool_kill_zygote(struct pool *p, uint64_t id)
{
        if (p->config.oneshot)
                oneshot_kill(p);
        else
                (void) spawner_request_kill(&p->spawner, id);
}

int
pool_submit(struct pool *p, const char *env, const struct run_request *req, const struct pool_job_ops *ops,
            void *userdata, struct pool_job **ret, const char **ret_message)
{
        struct pool_env *e = p->env;
        struct pool_limits limits;
        struct pool_job *j;
        int r;

        if (strcmp(env, e->name) != 0)
                return -ENOENT;
        r = effective_limits(p, &req->limits, &limits);
        if (r < 0)
                return r;
        if (e->state == ENV_FAILED) {
                *ret_message = e->last_error;
                return -ENOEXEC;
        }
        if (e->n_queued >= p->config.queue_limit && !(e->n_idle > 0 && list_empty(&e->queue)))
                return -EAGAIN;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (struct pool_job){.pool = p,
                               .env = e,
                               .ops = ops,
                               .userdata = userdata,
                               .timeout_ms = req->timeout_ms,
                               .limits = limits};
        list_init(&j->node);
        j->code = malloc(req->code_len + 1);
        j->stdin_data = malloc(req->stdin_len + 1);
        if (!j->code || !j->stdin_data ||
            capbuf_init(&j->result.out, p->config.output_head, p->config.output_tail) < 0 ||
            capbuf_init(&j->result.err, p->config.output_head, p->config.output_tail) < 0) {
                job_free(j);
                return -ENOMEM;
        }
        memcpy(j->code, req->code, req->code_len);
        j->code_len = req->code_len;
        if (req->stdin_len)
                memcpy(j->stdin_data, req->stdin_data, req->stdin_len);
        j->stdin_len = req->stdin_len;
        list_append(&e->queue, &j->node);
        e->n_queued++;
        *ret = j;
        /* Dispatch on the next loop iteration, so the caller's done() can never
         * run before pool_submit() has returned. */
        env_schedule_dispatch(e);
        return 0;
}

void
pool_job_cancel(struct pool_job *j)
{
        j->cancelled = true;
        if (!j->worker) {
                /* Still queued: nothing ran. */
                j->result.status = RUN_CANCELLED;
                job_finish(j, 0, NULL);
                return;
        }
        worker_kill(j->worker);
        j->timer = sd_event_source_disable_unref(j->timer);
        /* The exit report completes it; the timer only bounds the wait. */
        (void) sd_event_add_time_relative(j->pool->event, &j->timer, CLOCK_MONOTONIC, USEC_PER_SEC, 1000,
                                          job_on_timer, j);
}

void
pool_job_abandon(struct pool_job *j)
{
        j->ops = NULL;
        pool_job_cancel(j);
}

static const char *const env_state_names[] = {
        [ENV_STARTING] = "starting",
        [ENV_READY] = "ready",
        [ENV_BACKOFF] = "restarting",
        [ENV_FAILED] = "failed",
};

void
pool_get_stats(struct pool *p, struct pool_stats *ret)
{
        struct pool_env *e = p->env;

        *ret = (struct pool_stats){
                .idmap = p->range_ids ? "range" : "single",
                .cgroup = jail_cgroup_mode_to_string(p->cgroup_mode),
                .cgroup_scope = p->scope_text,
                .memory = p->cgroup_mode != JAIL_CGROUP_NONE ? "cgroup"
                          : p->memwatch                      ? "watchdog"
                                                             : "rlimit",
                .memory_period_ms = p->memwatch ? p->config.memory_period_ms : 0,
                .cpus = p->cpu_milli / 1000.0,
                .landlock = jail_landlock_available(),
                .limits = pool_limits_in_force(p),
                .cpu_quota_usable = p->cpu_usable,
                .env = {.name = e->name,
                        .preload = e->preloaded ? e->preloaded : e->preload,
                        .state = env_state_names[e->state],
                        .restarts = e->restarts,
                        .idle = e->n_idle,
                        .busy = e->n_busy,
                        .starting = e->n_starting,
                        .queued = e->n_queued,
                        .queue_limit = p->config.queue_limit},
        };
}

bool
pool_busy(struct pool *p)
{
        return p->env->n_busy > 0 || p->env->n_queued > 0;
}
