/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-worker control groups for the memory, process and CPU limits. cgroup
 * v2 is the primary path (a delegated subtree with memory and pids enabled,
 * and cpu for a CPU quota); v1 (memory and pids hierarchies writable by us,
 * i.e. root, and the cpu hierarchy for a quota) is the fallback; with
 * neither, limits fall back to rlimits in the worker, and there is no CPU
 * share limit at all (RLIMIT_CPU bounds CPU seconds, not a share).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The CPU quota's accounting period, and the range of a quota in thousandths
 * of a CPU: the kernel refuses a quota under 1 ms per period (0.01 CPU). */
#define JAIL_CGROUP_CPU_PERIOD_US 100000u
#define JAIL_CGROUP_CPU_MIN_MILLI 10u
#define JAIL_CGROUP_CPU_MAX_MILLI (1024u * 1000u)

enum jail_cgroup_mode {
        JAIL_CGROUP_NONE,
        JAIL_CGROUP_V1,
        JAIL_CGROUP_V2,
};

struct jail_cgroup;

struct jail_cgroup_limits {
        uint64_t memory_bytes;
        uint64_t pids_max;
        uint32_t cpu_milli; /* thousandths of a CPU per period; 0: no quota */
};

const char *jail_cgroup_mode_to_string(enum jail_cgroup_mode m);
/* Which mode is usable by this process. VIVARIUM_CGROUP=none|v1|v2 restricts
 * the choice (for tests and for administrators who want rlimits only);
 * v2-inherited is v2 here, and tells the dispatcher not to ask the user
 * manager for a scope (pool/user-scope.h). */
enum jail_cgroup_mode jail_cgroup_detect(void);
/* 0 if groups of this mode can have a CPU quota: on v1 the cpu hierarchy is
 * mounted and ours to write; on v2 the cpu controller is enabled for our
 * group's children, which this enables if it is not yet. */
int jail_cgroup_cpu_usable(enum jail_cgroup_mode mode);
/* The quota per period for `cpu_milli`, and cpu.max's "<quota> <period>". */
uint64_t jail_cgroup_cpu_quota_us(uint32_t cpu_milli);
int jail_cgroup_cpu_max_format(uint32_t cpu_milli, char *buf, size_t size);
/* Make the group `name` under vivarium's parent group in every hierarchy of
 * `mode` (a quota only where limits->cpu_milli > 0: then a hierarchy without
 * it fails the group). */
int jail_cgroup_create(enum jail_cgroup_mode mode, const char *name, const struct jail_cgroup_limits *limits,
                       struct jail_cgroup **ret);
int jail_cgroup_attach(struct jail_cgroup *cg, pid_t pid);
/* Change the limits of a group made by jail_cgroup_create(), before the code
 * it is for runs (a request that lowers the service's limits). A quota where
 * the group had none joins the cpu hierarchy (v1: a new group there, with the
 * group's processes moved in; v2: cpu.max, which needs the cpu controller,
 * see jail_cgroup_cpu_usable()); cpu_milli 0 lifts the quota. On v1 the
 * memory limit is written before the swap one, which must never be below it:
 * callers only lower a limit the group was made with. */
int jail_cgroup_set_limits(struct jail_cgroup *cg, const struct jail_cgroup_limits *limits);
/* Open the group's OOM counter file read-only (memory.events on v2,
 * memory.oom_control on v1): whoever holds the descriptor can read the count
 * later without any right on the cgroup tree. */
int jail_cgroup_oom_fd(struct jail_cgroup *cg, int *ret_fd);
/* How many processes the kernel's OOM killer killed in the group whose
 * counter file `fd` is (from jail_cgroup_oom_fd()). */
int jail_cgroup_oom_kills_fd(int fd, uint64_t *ret);
/* Kill every process in the group: cgroup.kill on v2, freeze-kill-thaw with
 * the v1 freezer, else each member of cgroup.procs. */
int jail_cgroup_kill(struct jail_cgroup *cg);

/* cgroup v2 delegation (cgroup-delegate.c). A group we were started in is
 * ours to use when its parent hands it the controllers: once, at start-up,
 * while we are its only process, we move into its leaf JAIL_CGROUP_V2_LEAF
 * and enable the controllers for its children; worker groups go beside the
 * leaf. 0 when the controllers are enabled, -EOPNOTSUPP if they are not
 * available, -EBUSY if other processes share the group; on failure the
 * group is left as it was. */
#define JAIL_CGROUP_V2_LEAF "vivarium-service"
int jail_cgroup_v2_delegate(const char *dir, const char *const *controllers);
/* Whether dir/file (cgroup.controllers, cgroup.subtree_control) lists every
 * controller ("cpu" does not match "cpuset"). */
bool jail_cgroup_v2_has(const char *dir, const char *file, const char *const *controllers);

/* Kill what is left and remove the group (retried briefly while its processes exit). */
struct jail_cgroup *jail_cgroup_free(struct jail_cgroup *cg);
/* Remove the group without killing: for one whose processes are dying anyway
 * (their pid namespace ends). No freezing, so a caller killed midway leaves
 * no frozen, unkillable process behind. */
struct jail_cgroup *jail_cgroup_remove(struct jail_cgroup *cg);

/* Free the handle only, leaving the group as it is: for a process that has
 * handed the group to another (which removes it). */
struct jail_cgroup *jail_cgroup_forget(struct jail_cgroup *cg);

/* Find the groups under vivarium's parent groups (every hierarchy of
 * `mode`, the cpu one included) for which stale(name, userdata) says true,
 * and reclaim each: thaw it if frozen, kill its members, remove it. For the
 * groups of a process killed before it could remove them itself. Returns how
 * many names were reclaimed. */
int jail_cgroup_reclaim(enum jail_cgroup_mode mode, bool (*stale)(const char *name, void *userdata),
                        void *userdata);
