/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Jail builder: describe a jail with a spec, then spawn a process inside it.
 *
 * Runs in the spawning process (today the CLI's embedded pool, later the
 * spawner) and, after clone(), in the child that assembles the jail before
 * exec. The child never returns into the caller: it either execs the spec's
 * program inside the finished jail or reports an error over a pipe and exits.
 *
 * Identity inside the jail (see docs/ARCHITECTURE.md):
 *   range mode (root, a subordinate id range): inside 0..count-1 map to
 *     host base..base+count-1; the jailed program runs as inside uid 0.
 *   single mode (unprivileged): only inside JAIL_UID_SANDBOX maps, to the
 *     caller's own uid; the jailed program runs as that uid and keeps the
 *     spec's capabilities (within the namespace only) as ambient capabilities.
 * Host root is never mapped.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_UID_SANDBOX 1000u
#define JAIL_HOSTNAME "vivarium"
#define JAIL_RANGE_DEFAULT_BASE 0x70000000u
#define JAIL_RANGE_DEFAULT_COUNT 65536u
#define JAIL_MAX_PASS_FDS 8u

enum jail_idmap_mode {
        JAIL_IDMAP_SINGLE, /* inside JAIL_UID_SANDBOX -> the caller's uid/gid */
        JAIL_IDMAP_RANGE,  /* inside 0..count-1 -> host base..; needs CAP_SETUID */
};

struct jail_idmap {
        enum jail_idmap_mode mode;
        uid_t uid; /* single: host uid; range: host base */
        gid_t gid;
        uint32_t count; /* range only */
};

struct jail_bind {
        char *source; /* host path */
        char *target; /* path inside the jail */
        int tree_fd;  /* a detached copy of source (jail_mount_tree_clone()) that the
                       * jail attaches, so its child never looks source up; or -EBADF */
};

struct jail_spec {
        struct jail_idmap idmap;
        struct jail_bind *binds;
        size_t n_binds;
        uint64_t tmp_bytes;              /* size of /tmp */
        uint64_t workspace_bytes;        /* size of /workspace */
        uint64_t keep_caps;              /* bit mask of CAP_* the program keeps inside */
        char **argv;                     /* program (a path inside the jail) and arguments */
        char **envp;                     /* the complete environment; nothing is inherited */
        int pass_fds[JAIL_MAX_PASS_FDS]; /* become fds 3, 4, ... inside */
        size_t n_pass_fds;
        /* A group the program is put in before it starts (not owned); NULL: none. */
        struct jail_cgroup *cgroup;
};

struct jail_cgroup;

struct jail_process {
        pid_t pid;
        int pidfd;
};

int jail_spec_new(struct jail_spec **ret);
struct jail_spec *jail_spec_free(struct jail_spec *s);
/* Choose the mapping for the caller: range mode when it may write arbitrary maps
 * (euid 0), else single mode on its own ids. */
int jail_spec_set_idmap_auto(struct jail_spec *s);
int jail_spec_add_bind(struct jail_spec *s, const char *source, const char *target);
/* The same bind, made from tree_fd, a detached mount of source that the caller
 * made with jail_mount_tree_clone(): the jail's child attaches it instead of
 * looking source up, so source may lie below directories the jail's ids cannot
 * search (a build tree in /root). The spec owns tree_fd from the call on, and
 * closes it on error too. */
int jail_spec_add_bind_tree(struct jail_spec *s, const char *source, const char *target, int tree_fd);
/* A detached, read-only, nosuid, nodev copy of the mount at fd (an O_PATH
 * descriptor of a file or directory), without its submounts: what
 * jail_spec_add_bind_tree() takes. Needs CAP_SYS_ADMIN in the user namespace
 * of the caller's mount namespace (-EPERM otherwise; -ENOSYS before Linux
 * 5.2). */
int jail_mount_tree_clone(int fd, int *ret);
int jail_spec_set_argv(struct jail_spec *s, char *const *argv);
int jail_spec_add_env(struct jail_spec *s, const char *assignment);
int jail_spec_pass_fd(struct jail_spec *s, int fd);
/* 0 if the spec can be spawned; else -EINVAL with a static reason. */
int jail_spec_validate(const struct jail_spec *s, const char **ret_reason);

/* Spawn the spec's program in a new jail. On failure of the child's set-up,
 * returns its -errno and, if ret_error is not NULL, a malloc'd message that
 * names the step that failed. */
int jail_spawn(const struct jail_spec *s, struct jail_process *ret, char **ret_error);

/* Explain a spawn failure in terms the user can act on (static string or NULL). */
const char *jail_spawn_hint(int error);

static inline void
jail_spec_freep(struct jail_spec **s)
{
        jail_spec_free(*s);
}
