/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Capability sets: keep an explicit set across exec, or drop everything. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Limit the bounding set to `keep` and make those caps ambient, so a
 * non-root program exec'd next keeps exactly them (inside its namespace). */
int jail_caps_keep_across_exec(uint64_t keep);
/* Clear the bounding and ambient sets (needs CAP_SETPCAP while any remain). */
int jail_caps_drop_bounding(void);
/* Clear the bounding set, the ambient set, and effective, permitted and
 * inheritable sets: all five are empty afterwards. */
int jail_caps_drop_all(void);
/* Permitted and effective become exactly `keep`; inheritable empties. The
 * bounding and ambient sets are left alone. */
int jail_caps_limit(uint64_t keep);
/* Whether the five sets are exactly: effective = permitted = `keep`,
 * inheritable, bounding and ambient empty. */
bool jail_caps_are_exactly(uint64_t keep);
