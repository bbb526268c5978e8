/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spawner: a process split off the dispatcher at start-up, and the only
 * code that creates namespaces, mounts and jails. The dispatcher talks to it
 * over a SOCK_SEQPACKET socket with a closed set of typed messages (one
 * msgpack map per packet, validated on both sides):
 *
 *  dispatcher -> spawner  {type: "zygote", id, preload: [str], preload_if_installed: bool,
 *                          tmp_bytes, workspace_bytes}
 *                         {type: "kill", id}
 *                         {type: "cgroup", id, ref, cpu_milli} + SCM_RIGHTS [the worker's pidfd]
 *                         {type: "uncgroup", ref}
 *                         {type: "limit", ref, memory_bytes, nproc, cpu_milli}
 *  spawner -> dispatcher  {type: "started", id} + SCM_RIGHTS [zygote control socket]
 *                         {type: "failed", id, error: int, message: str}
 *                         {type: "exited", id, code, signal}
 *                         {type: "cgroup", ref} + SCM_RIGHTS [the group's OOM counter, read-only]
 *                         {type: "cgroup_failed", ref, error: int}
 *                         {type: "limited", ref} | {type: "limit_failed", ref, error: int}
 *
 * The zygote program and runner directory are fixed when the spawner starts;
 * no message can name a program to run. If the dispatcher goes away, the
 * spawner kills every jail it started and exits (and it dies with its parent).
 *
 * Worker cgroups: the dispatcher, which may run as an unprivileged service
 * user, cannot create cgroups or move a worker (another uid) into one, so the
 * spawner does it. "cgroup" names the worker by its pidfd, never by a pid or
 * a path: the spawner takes the pid from the pidfd, requires the process to
 * descend from the zygote `id` (so no message can put a process outside our
 * jails into a group, or later kill it), attaches it and then checks that the
 * pidfd still refers to a live process (so the pid was not reused meanwhile).
 * The group's name and memory and process limits are the spawner's own;
 * `cpu_milli` is the CPU quota in thousandths of a CPU (0: none), which the
 * dispatcher picks because it knows whether the hierarchy has the cpu
 * controller; `ref` is the dispatcher's handle for the group. "uncgroup"
 * kills what is left in the group and removes it; an unknown ref is ignored
 * (the group went with its zygote).
 *
 * "limit" lowers the limits of the group `ref` before its worker is given a
 * request that asked for less than the service allows: memory and processes
 * at most the spawner's own, a CPU quota at most the configured one (any,
 * where none is configured). A dispatcher can only make a run's limits
 * tighter, never looser than the spawner's.
 *
 * A group's name is "w<spawner pid>.<spawner start time>-<worker pid>": a
 * spawner killed outright cannot remove its groups, so each spawner, when it
 * starts, reclaims those whose owner is gone (its pid is free, a zombie, or
 * another process's, as the start time tells).
 */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool.h"

#define SPAWNER_MAX_MESSAGE 4096u
/* Worker cgroups one spawner keeps at once: a worker slot each, and slack for
 * groups being removed while their slot is reused. */
#define SPAWNER_MAX_CGROUPS 128u
/* How far up from a worker the spawner looks for its zygote. */
#define SPAWNER_MAX_DEPTH 8

struct spawner {
        pid_t pid;
        int pidfd;
        int sock;
};

enum spawner_event_type {
        SPAWNER_STARTED,
        SPAWNER_FAILED,
        SPAWNER_EXITED,
        SPAWNER_CGROUP,
        SPAWNER_CGROUP_FAILED,
        SPAWNER_LIMITED,
        SPAWNER_LIMIT_FAILED,
};

struct spawner_event {
        enum spawner_event_type type;
        uint64_t id;    /* STARTED, FAILED, EXITED */
        uint64_t ref;   /* CGROUP, CGROUP_FAILED, LIMITED, LIMIT_FAILED */
        int control_fd; /* STARTED: the zygote's control socket; CGROUP: the OOM counter
                         * (owned by the receiver) */
        int error;      /* FAILED, CGROUP_FAILED, LIMIT_FAILED: -errno */
        char message[1024];
        int code, signal; /* EXITED */
};

/* The spec of a zygote's jail: the zygote binary and the runner directory
 * bound read-only (spawner-source.c), a synthesized environment, the control
 * socket as fd 3, and the capabilities a worker needs until its lockdown;
 * `--oneshot` when c->oneshot; with if_installed, the zygote skips modules of
 * preload that are not installed. On failure perhaps a malloc'd message. */
struct jail_spec;
int spawner_zygote_spec(const struct pool_config *c, char *const *preload, bool if_installed, uint64_t tmp,
                        uint64_t ws, int control_fd, struct jail_spec **ret, char **ret_error);

/* Fork the spawner. The child never returns. */
int spawner_start(const struct pool_config *c, struct spawner *ret);
void spawner_stop(struct spawner *s);
int spawner_request_zygote(struct spawner *s, uint64_t id, char *const *preload, bool preload_if_installed,
                           uint64_t tmp_bytes, uint64_t workspace_bytes);
int spawner_request_kill(struct spawner *s, uint64_t id);
/* Ask for a cgroup for the worker behind `pidfd` (a worker of zygote `id`);
 * the answer is a CGROUP or CGROUP_FAILED event with the same ref. */
int spawner_request_cgroup(struct spawner *s, uint64_t id, uint64_t ref, uint32_t cpu_milli, int pidfd);
int spawner_request_uncgroup(struct spawner *s, uint64_t ref);
/* Lower the limits of the group `ref`; the answer is a LIMITED or LIMIT_FAILED event. */
int spawner_request_limit(struct spawner *s, uint64_t ref, const struct pool_limits *limits);
/* Read one event (the socket is non-blocking): 1 and the event, 0 if none is
 * pending, -EPIPE if the spawner is gone, -EBADMSG if it broke the protocol. */
int spawner_receive(struct spawner *s, struct spawner_event *ret);

/* spawner-msg.c: the requests as the spawner reads them. */
enum spawner_request_type {
        SPAWNER_REQUEST_ZYGOTE,
        SPAWNER_REQUEST_KILL,
        SPAWNER_REQUEST_CGROUP,
        SPAWNER_REQUEST_UNCGROUP,
        SPAWNER_REQUEST_LIMIT,
};

struct spawner_request {
        enum spawner_request_type type;
        uint64_t id;               /* ZYGOTE, KILL, CGROUP */
        uint64_t ref;              /* CGROUP, UNCGROUP, LIMIT: never 0 */
        char **preload;            /* ZYGOTE: valid module names */
        bool preload_if_installed; /* ZYGOTE: skip those not installed */
        uint64_t tmp_bytes, workspace_bytes;
        uint32_t cpu_milli;           /* CGROUP, LIMIT: 0, or JAIL_CGROUP_CPU_MIN_MILLI .. _MAX_MILLI */
        uint64_t memory_bytes, nproc; /* LIMIT: above 0 */
        int fd;                       /* CGROUP: the worker's pidfd; else -EBADF */
};

/* Validate one packet and the descriptor that came with it (-EBADF if none).
 * The fd is consumed: it moves into *ret for "cgroup" and is closed
 * otherwise, as it is on any error (-EBADMSG). */
int spawner_request_parse(const void *data, size_t size, int fd, struct spawner_request *ret);
void spawner_request_done(struct spawner_request *r);
/* Pack a message and send it as one packet, with `fd` unless it is negative. */
int spawner_send(int sock, msgpack_sbuffer *sb, int fd);

/* spawner-source.c: bind the zygote program and the runner directory into s,
 * whose id map is set, from descriptors opened here (detached mounts where
 * the spawner may make them), so the jail reaches them below directories its
 * ids cannot search. On error, *ret_error names the path, the user and what
 * to do (malloc'd). */
struct jail_spec;
int spawner_add_sources(struct jail_spec *s, const struct pool_config *c, char **ret_error);

/* spawner-cgroup.c: the spawner's worker cgroups. */
struct jail_cgroup;
struct spawner_cgroup {
        uint64_t ref, zygote_id; /* ref 0: free */
        struct jail_cgroup *cg;
};

/* The pid behind a pidfd; -ESRCH if it has exited, -EBADF if fd is no pidfd. */
int spawner_pidfd_pid(int pidfd, pid_t *ret);
/* 0 if `pid` descends from `ancestor` within SPAWNER_MAX_DEPTH generations,
 * -EPERM if not, -ESRCH if it is gone. */
int spawner_pid_descends(pid_t pid, pid_t ancestor);
/* Create the group rq->ref for the worker behind rq->fd, which must descend
 * from zygote_pid (of zygote rq->id); return the group's OOM counter
 * (read-only) in *ret_fd. */
int spawner_cgroup_add(struct spawner_cgroup *table, const struct pool_config *c, int mode, pid_t zygote_pid,
                       const struct spawner_request *rq, int *ret_fd);
/* Kill what is left in a group and remove it (by ref); or remove the groups
 * of a zygote that exited or was killed, or all (zygote_id 0), whose members
 * die with the zygote's pid namespace. */
void spawner_cgroup_remove(struct spawner_cgroup *table, uint64_t ref);
/* Lower the limits of the group rq->ref, within the spawner's own (`c`):
 * -ERANGE for a limit above them, -ENOENT for an unknown ref. */
int spawner_cgroup_limit(struct spawner_cgroup *table, const struct pool_config *c,
                         const struct spawner_request *rq);
void spawner_cgroup_remove_zygote(struct spawner_cgroup *table, uint64_t zygote_id);

/* A process's start time (clock ticks after boot); -ESRCH if it is gone or a zombie. */
int spawner_process_start(pid_t pid, uint64_t *ret);
/* A group's name, and its owner's pid and start time read back: 1, or 0 for
 * an older name without the start time (which is then 0), or -EINVAL for a
 * name that is not a spawner's. */
int spawner_cgroup_name(pid_t owner, uint64_t owner_start, pid_t worker, char *buf, size_t size);
int spawner_cgroup_name_owner(const char *name, pid_t *ret_pid, uint64_t *ret_start);
/* Whether the group `name` is a spawner's whose owner is gone. */
bool spawner_cgroup_is_stale(const char *name);
/* Reclaim (thaw, kill, remove) every stale group; how many, or -errno. */
int spawner_cgroup_reclaim(int mode);
