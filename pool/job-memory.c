/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory limit of a run that no cgroup holds: every memory_period_ms,
 * while the job runs, the dispatcher counts what the worker's pid namespace
 * holds (pool/memwatch.c) against the job's own limit, and over it kills
 * the namespace; the exit report then ends the job with status "memory".
 * Cheap first: the resident sets from statm are an upper bound of the
 * proportional ones, which are read (smaps_rollup walks every mapping) only
 * when the cheap sum is over the limit.
 *
 * With a cgroup the kernel holds the limit, but a v1 group's OOM killer
 * takes one process at a time while the others go on allocating: the same
 * timer ends the whole run at the group's first OOM kill.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool-internal.h"
#include "time-util.h"

static void
kill_run(struct pool_job *j, bool counted, uint64_t held, uint64_t limit)
{
        int r;

        free(j->memory_killed);
        if (counted)
                r = asprintf(&j->memory_killed,
                             "the code's processes and files held %llu MiB against its memory limit of "
                             "%llu MiB and were killed",
                             (unsigned long long) (held >> 20), (unsigned long long) (limit >> 20));
        else
                r = asprintf(&j->memory_killed,
                             "the code's processes or files could not be inspected, so its memory "
                             "limit of %llu MiB could not be held, and were killed",
                             (unsigned long long) (limit >> 20));
        if (r < 0)
                j->memory_killed = NULL;
        memwatch_kill(&j->watch);
        if (j->worker)
                worker_kill(j->worker);
        job_watch_stop(j);
        if (!j->memory_killed)
                j->memory_killed = strdup("killed at its memory limit");
}

/* One sample (cheap, then precise if over); killed the run if over or if
 * it cannot be counted. -ESRCH: the worker is gone. */
static int
sample(struct pool_job *j)
{
        struct memwatch_sample s;
        uint64_t limit = j->limits.memory_bytes, total;
        int r;

        r = memwatch_sample(&j->watch, false, &s);
        if (r >= 0 && memwatch_over(memwatch_sample_total(&s), j->watch.baseline, limit))
                r = memwatch_sample(&j->watch, true, &s);
        if (r == -ESRCH)
                return r;
        if (r < 0) {
                log_debug_errno(r, "cannot count a worker's memory, killing it: %m");
                kill_run(j, false, 0, limit);
                return 1;
        }
        total = memwatch_sample_total(&s);
        if (memwatch_over(total, j->watch.baseline, limit)) {
                log_debug("memory watchdog: %u processes %" PRIu64 " tmpfs %" PRIu64 " files %" PRIu64
                          " pipes %" PRIu64 " sockets %" PRIu64 " baseline %" PRIu64,
                          s.n_processes, s.processes, s.tmpfs, s.files, s.pipes, s.sockets,
                          j->watch.baseline);
                kill_run(j, true, total - j->watch.baseline, limit);
                return 1;
        }
        return 0;
}

void
job_watch_result(struct pool_job *j)
{
        /* A run that grew past its limit within one period and returned
         * before the next sample is caught here, while the worker lives. */
        if (j->watching && sample(j) > 0)
                j->got_result = false; /* void: the exit report ends the job */
}

/* The next sample: a period after this one ended, by the clock, not by the
 * loop's cached time (which is when this iteration began: a sample longer
 * than the period would be due again at once and, at its priority, starve
 * every request). A period after this sample began, so that a long one does
 * not stretch the period, but never sooner than a millisecond after it
 * ended, in which the loop serves everything else. */
static int
rearm(struct pool_job *j, sd_event_source *src, uint64_t began)
{
        uint64_t next = began + j->pool->config.memory_period_ms * USEC_PER_MSEC,
                 soonest = now_usec() + 1000;

        return sd_event_source_set_time(src, next > soonest ? next : soonest);
}

static int
on_watch(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct pool_job *j = userdata;
        uint64_t limit = j->limits.memory_bytes, ooms = 0, began = now_usec();
        int r;

        if (!j->watching) {
                if (j->worker && j->worker->oom_fd >= 0 &&
                    jail_cgroup_oom_kills_fd(j->worker->oom_fd, &ooms) >= 0 && ooms > j->oom_kills) {
                        free(j->memory_killed);
                        if (asprintf(&j->memory_killed,
                                     "the code exceeded its memory limit of %llu MiB: the kernel killed "
                                     "one of its processes, and the others were killed with it",
                                     (unsigned long long) (limit >> 20)) < 0)
                                j->memory_killed = NULL;
                        worker_kill(j->worker);
                        job_watch_stop(j);
                        return 0;
                }
                return rearm(j, src, began);
        }
        r = sample(j);
        if (r == -ESRCH) {
                job_watch_stop(j); /* the worker is gone: its exit report ends the job */
                return 0;
        }
        if (r > 0)
                return 0;
        return rearm(j, src, began);
}

int
job_watch_start(struct pool_job *j, struct worker *w)
{
        struct pool *p = j->pool;
        int r;

        if (p->config.memory_period_ms == 0)
                return 0;
        if (w->oom_fd >= 0) {
                /* Counted from here: the group may be the one-shot jail's. */
                if (jail_cgroup_oom_kills_fd(w->oom_fd, &j->oom_kills) < 0)
                        return 0; /* the exit's classification reads it again */
        } else if (p->range_ids)
                return 0;
        else {
                r = memwatch_begin(&j->watch, w->host_pid, w->pidfd);
                if (r < 0)
                        return r;
                j->watching = true;
        }
        /* The period is the accuracy: no slack, and ahead of output. */
        r = sd_event_add_time_relative(p->event, &j->watch_timer, CLOCK_MONOTONIC,
                                       p->config.memory_period_ms * USEC_PER_MSEC, 0, on_watch, j);
        if (r >= 0)
                r = sd_event_source_set_enabled(j->watch_timer, SD_EVENT_ON);
        if (r >= 0)
                r = sd_event_source_set_priority(j->watch_timer, SD_EVENT_PRIORITY_IMPORTANT - 1);
        if (r < 0)
                job_watch_stop(j);
        return r;
}

void
job_watch_stop(struct pool_job *j)
{
        j->watch_timer = sd_event_source_disable_unref(j->watch_timer);
        if (j->watching)
                memwatch_end(&j->watch);
        j->watching = false;
}
