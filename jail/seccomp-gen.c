/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Build tool: compiles a worker's seccomp filter once and prints it as C
 * (jail_seccomp_prebuilt_print()), so that a zygote loads it without paying
 * libseccomp's few milliseconds on every one-shot run. Runs on the build
 * machine as the developer; the zygote uses the result only where libseccomp
 * and its API level are the same at run time (jail_seccomp_prebuilt_use()).
 */
#include <stdio.h>
#include <string.h>

#include "seccomp-filter.h"

int
main(int argc, char **argv)
{
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s NAME > FILE.c\n", argv[0]);
                return 2;
        }
        r = jail_seccomp_prebuilt_print(argv[1], stdout);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[0], strerror(-r));
                return 1;
        }
        return 0;
}
