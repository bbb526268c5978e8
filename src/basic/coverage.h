/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * coverage_flush(): write this process's gcov counters now, in a build
 * configured with --enable-coverage (docs/COVERAGE.md); nothing otherwise.
 * Counters are written at exit() only: a process that ends with _exit(),
 * execs or is killed loses what it counted since its last write. Helpers
 * call it before _exit(), and long-lived ones that may die by SIGKILL (their
 * parent's death signal) after each request too. The counters are zeroed
 * after each write, since the .gcda file adds up what it is given; a forked
 * child still writes its parent's counts from before the fork once more.
 * Any trust zone outside the jail; the zygote is built without it.
 */
#pragma once

#ifdef VIV_COVERAGE
void __gcov_dump(void);
void __gcov_reset(void);

static inline void
coverage_flush(void)
{
        __gcov_dump();
        __gcov_reset();
}
#else
static inline void
coverage_flush(void)
{
}
#endif
