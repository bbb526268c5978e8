/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory watchdog: where no cgroup limits a run, the dispatcher counts
 * what the run's processes and files hold, every memory_period_ms, and the
 * job kills the run's pid namespace once that is over the run's limit.
 * Trust zone: the dispatcher; everything read here is written by the code
 * (the names in /proc are its processes'), so nothing is trusted beyond the
 * kernel's own numbers, and whatever cannot be read is a reason to kill.
 *
 * What is counted, per process in the worker's pid namespace but its init
 * (whose memory is the zygote's): its resident set (statm, a cheap upper
 * bound; its PSS from smaps_rollup when the cheap sum is over the limit);
 * every writable tmpfs the worker's mounts show (used blocks, from statfs);
 * memfds and other tmpfs files its descriptors hold, once per (dev, inode),
 * by st_blocks; pipes at the largest capacity a user may give them; sockets
 * at twice wmem_max. What the worker held when the run began is the
 * baseline, subtracted, as a cgroup charges only what the run adds.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MEMWATCH_MAX_MOUNTS 16

struct memwatch_seen {
        uint64_t *keys; /* open addressing; 0 is empty */
        size_t n, cap;
};

/* What one sample found, in bytes. */
struct memwatch_sample {
        uint64_t processes; /* RSS, or PSS when precise */
        uint64_t tmpfs, files, pipes, sockets;
        unsigned n_processes;
};

struct memwatch {
        int proc_fd;   /* the worker's /proc directory (host view) */
        int root_proc; /* its own /proc, listing its pid namespace */
        int mount_fd[MEMWATCH_MAX_MOUNTS];
        dev_t mount_dev[MEMWATCH_MAX_MOUNTS];
        size_t n_mounts;
        uint64_t pipe_charge, socket_charge;
        uint64_t baseline;
        struct memwatch_seen seen;
};

/* Parsers and the decision, pure (tests/unit/test-memwatch.c). */
int memwatch_parse_statm(const char *text, uint64_t *ret_rss_pages);
int memwatch_parse_rollup(const char *text, uint64_t *ret_pss_kb);
/* One mountinfo line: is it a tmpfs mounted read-write; its mount point
 * (unescaped, into buf). */
bool memwatch_parse_mount(const char *line, char *buf, size_t size);
/* true the first time (dev, ino) is seen since the last reset. */
bool memwatch_seen_add(struct memwatch_seen *s, uint64_t dev, uint64_t ino);
void memwatch_seen_reset(struct memwatch_seen *s);
void memwatch_seen_free(struct memwatch_seen *s);
uint64_t memwatch_sample_total(const struct memwatch_sample *s);
/* Over the limit: what the run added to the baseline is more than limit. */
bool memwatch_over(uint64_t total, uint64_t baseline, uint64_t limit);

/* Start watching the worker with host pid `pid` (pidfd: to check that the
 * pid is still the worker's once its /proc directory is open); the baseline
 * is what it holds now. -errno if it cannot be read (-EACCES: not allowed). */
int memwatch_begin(struct memwatch *m, pid_t pid, int pidfd);
/* Count now. precise: PSS instead of RSS. -EACCES: a process or a
 * descriptor of the run could not be inspected; -ESRCH: the worker is gone. */
int memwatch_sample(struct memwatch *m, bool precise, struct memwatch_sample *ret);
/* SIGKILL the worker's pid namespace (its init) and every process in it. */
void memwatch_kill(struct memwatch *m);
void memwatch_end(struct memwatch *m);
