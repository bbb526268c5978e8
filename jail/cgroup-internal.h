/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What jail/cgroup.c (finding hierarchies, making groups) and
 * jail/cgroup-kill.c (killing, removing, reclaiming groups) share. Runs where
 * they run: in the spawner or a one-shot runner, never in the jail.
 */
#pragma once

#include <stddef.h>

#include "cgroup.h"

/* A group's directory in each hierarchy: v2 uses [CG_MEMORY] only. */
enum {
        CG_MEMORY,  /* v2: the group itself */
        CG_PIDS,    /* v1 */
        CG_FREEZER, /* v1, optional: makes the kill race-free */
        CG_CPU,     /* v1, only with a CPU quota */
        _CG_MAX,
};

struct jail_cgroup {
        enum jail_cgroup_mode mode;
        char *dirs[_CG_MAX];
};

/* The v2 group we live in, if memory and pids are enabled for its children
 * and it is ours to write. */
int cgroup_v2_base(char *buf, size_t size);
/* "<mount>/vivarium" of the v1 hierarchy of `controller`, if mounted and
 * ours to write. */
int cgroup_v1_base(const char *controller, char *buf, size_t size);
