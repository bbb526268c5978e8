/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dispatcher's drop to the service user. Started as root, the dispatcher
 * forks the keeper (which keeps root for the spawners) and binds its socket,
 * then becomes the configured user with CAP_KILL alone (to kill workers,
 * which run as other uids, by pidfd). Started as anyone else, it has nothing
 * to drop.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define PRIVILEGES_DEFAULT_USER "vivarium"

struct service_user {
        bool drop; /* started as root, and the user is not root */
        uid_t uid;
        gid_t gid;
        char name[64];
};

/* Look the user up (NULL: PRIVILEGES_DEFAULT_USER), before anything starts.
 * As root, a user that does not exist is an error (-ENOENT, with a message
 * saying what to do); "root" keeps root and logs a warning. */
int privileges_resolve(const char *name, struct service_user *ret, char **ret_error);
/* Become the user, keep CAP_KILL only (effective and permitted; the
 * bounding, ambient and inheritable sets empty), and check that it took. */
int privileges_drop(const struct service_user *u);
