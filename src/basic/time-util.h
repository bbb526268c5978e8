/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Monotonic time in microseconds; deadlines are always CLOCK_MONOTONIC. */
#pragma once

#include <stdint.h>

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

uint64_t now_usec(void);
