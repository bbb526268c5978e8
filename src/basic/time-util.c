/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Monotonic clock access shared by every process. */
#include <time.h>

#include "time-util.h"

uint64_t
now_usec(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}
