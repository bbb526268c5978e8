/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool/memwatch-parse.c: what the watchdog reads from /proc and how it
 * decides. The texts are the kernel's formats (proc(5)); the code of a run
 * controls the names in them (mount points, process names), never the
 * numbers.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "memwatch.h"

Test(memwatch, statm_resident_pages)
{
        uint64_t rss = 0;

        cr_assert_eq(memwatch_parse_statm("63012 14723 3901 1 0 11840 0\n", &rss), 0);
        cr_expect_eq(rss, 14723);
        cr_assert_eq(memwatch_parse_statm("5 0 0 0 0 0 0", &rss), 0);
        cr_expect_eq(rss, 0);
        cr_expect_lt(memwatch_parse_statm("", &rss), 0);
        cr_expect_lt(memwatch_parse_statm("63012", &rss), 0);
        cr_expect_lt(memwatch_parse_statm("63012 x 1", &rss), 0);
        cr_expect_lt(memwatch_parse_statm("63012 99999999999999999999999 1", &rss), 0);
}

Test(memwatch, rollup_pss_not_its_parts)
{
        static const char text[] = "55aff9ffa000-7ffc615bb000 ---p 00000000 00:00 0      [rollup]\n"
                                   "Rss:               61324 kB\n"
                                   "Pss_Anon:          50000 kB\n"
                                   "Pss:               55977 kB\n"
                                   "Pss_File:           5000 kB\n";
        uint64_t pss = 0;

        cr_assert_eq(memwatch_parse_rollup(text, &pss), 0);
        cr_expect_eq(pss, 55977);
        /* An exited process: nothing mapped, nothing to charge. */
        cr_assert_eq(memwatch_parse_rollup("", &pss), 0);
        cr_expect_eq(pss, 0);
        cr_expect_lt(memwatch_parse_rollup("Rss: 1 kB\nPss_Anon: 2 kB\n", &pss), 0);
        cr_expect_lt(memwatch_parse_rollup("Pss: lots kB\n", &pss), 0);
}

Test(memwatch, mountinfo_writable_tmpfs_only)
{
        char mp[64];

        cr_assert(memwatch_parse_mount("812 790 0:93 / /tmp rw,nosuid,nodev,relatime - tmpfs tmpfs "
                                       "rw,size=65536k,nr_inodes=16384,mode=1777,uid=1000",
                                       mp, sizeof mp));
        cr_expect_str_eq(mp, "/tmp");
        /* Optional fields before the separator; an escaped space. */
        cr_assert(memwatch_parse_mount("813 790 0:94 / /my\\040work rw,nosuid shared:5 master:1 - tmpfs "
                                       "tmpfs rw,size=1024k",
                                       mp, sizeof mp));
        cr_expect_str_eq(mp, "/my work");
        cr_expect_not(memwatch_parse_mount("814 790 0:95 / /usr ro,nosuid - tmpfs tmpfs ro", mp, sizeof mp));
        cr_expect_not(memwatch_parse_mount("815 790 0:5 / /proc rw,nosuid - proc proc rw", mp, sizeof mp));
        cr_expect_not(memwatch_parse_mount("816 790 8:1 / / rw - ext4 /dev/sda1 rw", mp, sizeof mp));
        /* "rwx" is not "rw"; a file system named tmpfs-like is not tmpfs. */
        cr_expect_not(memwatch_parse_mount("817 790 0:96 / /a rwx - tmpfs tmpfs rw", mp, sizeof mp));
        cr_expect_not(memwatch_parse_mount("818 790 0:97 / /b rw - tmpfsx tmpfs rw", mp, sizeof mp));
        cr_expect_not(memwatch_parse_mount("truncated line", mp, sizeof mp));
        /* A mount point longer than the buffer is refused, not cut. */
        cr_expect_not(memwatch_parse_mount(
                "819 790 0:98 / /a-very-long-mount-point-name rw - tmpfs tmpfs rw", mp, 8));
}

Test(memwatch, each_file_charged_once)
{
        struct memwatch_seen s = {};
        unsigned fresh = 0;

        /* Two descriptors of one memfd, in two processes: one charge. */
        cr_expect(memwatch_seen_add(&s, 12, 4096));
        cr_expect_not(memwatch_seen_add(&s, 12, 4096));
        cr_expect(memwatch_seen_add(&s, 13, 4096));
        cr_expect(memwatch_seen_add(&s, 12, 4097));
        /* Many inodes of one device (the set grows) never collide. */
        for (uint64_t ino = 0; ino < 100000; ino++)
                fresh += memwatch_seen_add(&s, 99, ino);
        cr_expect_eq(fresh, 100000);
        for (uint64_t ino = 0; ino < 100000; ino++)
                cr_expect_not(memwatch_seen_add(&s, 99, ino));
        /* A new sample starts from nothing. */
        memwatch_seen_reset(&s);
        cr_expect(memwatch_seen_add(&s, 12, 4096));
        memwatch_seen_free(&s);
}

Test(memwatch, over_the_limit_above_the_baseline)
{
        struct memwatch_sample s = {.processes = 600 << 20,
                                    .tmpfs = 1 << 20,
                                    .files = 2 << 20,
                                    .pipes = 1 << 20,
                                    .sockets = 4096};

        cr_expect_eq(memwatch_sample_total(&s), (UINT64_C(604) << 20) + 4096);
        /* What the worker held before the run is not the run's. */
        cr_expect_not(memwatch_over(UINT64_C(600) << 20, UINT64_C(100) << 20, UINT64_C(512) << 20));
        cr_expect_not(memwatch_over(UINT64_C(612) << 20, UINT64_C(100) << 20, UINT64_C(512) << 20));
        cr_expect(memwatch_over((UINT64_C(612) << 20) + 1, UINT64_C(100) << 20, UINT64_C(512) << 20));
        /* Less than the baseline (shared pages divided anew) is not over. */
        cr_expect_not(memwatch_over(UINT64_C(50) << 20, UINT64_C(100) << 20, 0));
}
