/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uid_map/gid_map contents and writing them for a child user namespace.
 * Pure formatting is separate from the writes so it is unit-tested.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "jail.h"

/* Format the uid_map (is_gid false) or gid_map text for an idmap. -EINVAL if it
 * would map host root or is otherwise unusable; -ENOBUFS if buf is too small. */
int jail_idmap_format(const struct jail_idmap *m, int is_gid, char *buf, size_t size);
/* Write setgroups (deny in single mode), gid_map and uid_map of pid. */
int jail_idmap_write(const struct jail_idmap *m, pid_t pid);
/* Look up the subordinate range of `user` in a subuid/subgid style file. */
int jail_idmap_find_subid(const char *path, const char *user, uid_t *ret_base, uint32_t *ret_count);
/* The inside uid/gid the jailed program runs as. */
uid_t jail_idmap_inside_uid(const struct jail_idmap *m);
