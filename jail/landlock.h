/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Landlock scoping of a worker: no signals and no abstract unix sockets outside it. */
#pragma once

#include <stdbool.h>

/* Returns 0 when the scope is in force, -EOPNOTSUPP when the kernel's Landlock
 * is older than ABI 6 (or disabled), or another -errno. Requires no_new_privs. */
int jail_landlock_scope(void);
/* Whether jail_landlock_scope() would take effect on this kernel. */
bool jail_landlock_available(void);
