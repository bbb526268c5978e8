/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether an allocation failed because of the worker's RLIMIT_AS (rlimit mode). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Before each run: forget earlier failures and, the first time and only if
 * the request set an address-space limit (requested != 0), start watching
 * allocations against the limit in force. Needs the interpreter. */
int zygote_memlimit_watch(uint64_t requested);
/* The limit watched, in bytes; 0 when not watching (cgroup mode). */
uint64_t zygote_memlimit_bytes(void);
/* After a run that ended in a memory error: was the limit the cause? size is
 * what the failed allocation asked for, if the exception says, else 0. */
bool zygote_memlimit_reached(uint64_t size);
