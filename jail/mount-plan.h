/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mount plan of a jail: an ordered list of steps that turn an empty tmpfs
 * into the jail's root. Building the plan only reads the host (lstat,
 * readlink) so it is unit-tested against a fake host tree; executing it
 * happens in the jail's child, before pivot_root.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jail.h"

enum jail_mount_kind {
        JAIL_MOUNT_DIR,     /* mkdir target */
        JAIL_MOUNT_BIND_RO, /* read-only, nosuid, nodev, recursive bind of source */
        JAIL_MOUNT_DEVICE,  /* bind one device node (nosuid, noexec) */
        JAIL_MOUNT_TMPFS,   /* tmpfs with options */
        JAIL_MOUNT_PROC,    /* procfs of the jail's pid namespace */
        JAIL_MOUNT_SYMLINK, /* symlink target -> source */
        JAIL_MOUNT_FILE,    /* regular file with content, mode */
        JAIL_MOUNT_SEAL,    /* remount an earlier mount read-only once it is filled */
};

struct jail_mount {
        enum jail_mount_kind kind;
        char *source;  /* host path (bind, device), link text (symlink), content (file) */
        char *target;  /* path inside the jail */
        char *options; /* tmpfs data */
        mode_t mode;
        int tree_fd; /* bind: the spec's detached copy of source to attach (not owned), or -EBADF */
};

struct jail_mount_plan {
        struct jail_mount *steps;
        size_t n_steps;
};

/* Build the plan for spec. host_root is "/" in production and a fake tree in
 * tests; it prefixes every host path inspected (not the ones stored). */
int jail_mount_plan_build(const struct jail_spec *spec, const char *host_root, struct jail_mount_plan **ret);
struct jail_mount_plan *jail_mount_plan_free(struct jail_mount_plan *p);
static inline void
jail_mount_plan_freep(struct jail_mount_plan **p)
{
        jail_mount_plan_free(*p);
}
const char *jail_mount_kind_to_string(enum jail_mount_kind k);
/* Find the step with the target, for tests. */
const struct jail_mount *jail_mount_plan_find(const struct jail_mount_plan *p, const char *target);

/* Execute the plan: host paths are read below old_root, targets created below
 * new_root. Returns -errno and the failing step's index in *ret_step. */
int jail_mount_plan_apply(const struct jail_mount_plan *p, const char *old_root, const char *new_root,
                          size_t *ret_step);

/* Mount a fresh /proc of the caller's pid namespace on target, showing only
 * processes (or, on kernels before 5.8, with the dangerous files masked). A
 * worker mounts its own over the jail's in its private mount namespace. */
int jail_mount_proc(const char *target);
