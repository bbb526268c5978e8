/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the per-request limits of `run` (src/daemon/run-limits.c):
 * absent and nil leave the daemon's limits; a value may lower a limit and
 * equal it, never exceed it, and the refusal says the daemon's limit; a value
 * of the wrong type names the parameter; zero, negative and too large values
 * say the range; cpus takes integers and fractions, and is refused where no
 * quota can be applied.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "run-limits.h"

#define MiB (UINT64_C(1) << 20)

static const struct run_limits_bounds daemon_512 = {
        .daemon = {.memory_bytes = 512 * MiB, .nproc = 64, .cpu_milli = 0},
        .cpu_quota_usable = true,
        .cpus_online = 2,
};

typedef void (*pack_fn)(msgpack_packer *pk);

/* Parse params {key: <pack()>}; the result, with *l and why filled. */
static int
parse_one(const struct run_limits_bounds *b, const char *key, pack_fn pack, struct pool_limits *l, char *why,
          size_t size)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_unpacked m;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        proto_pack_key_str(&pk, "code", "1");
        proto_pack_str(&pk, key);
        pack(&pk);
        cr_assert_eq(proto_unpack(sb.data, sb.size, &m), 0);
        why[0] = 0;
        r = run_limits_parse(&m.data, b, l, why, size);
        msgpack_unpacked_destroy(&m);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

#define PACKER(name, stmt)                   \
        static void name(msgpack_packer *pk) \
        {                                    \
                stmt;                        \
        }

PACKER(u_0, msgpack_pack_uint64(pk, 0))
PACKER(u_1, msgpack_pack_uint64(pk, 1))
PACKER(u_2, msgpack_pack_uint64(pk, 2))
PACKER(u_3, msgpack_pack_uint64(pk, 3))
PACKER(u_4, msgpack_pack_uint64(pk, 4))
PACKER(u_15, msgpack_pack_uint64(pk, 15))
PACKER(u_16, msgpack_pack_uint64(pk, 16))
PACKER(u_64, msgpack_pack_uint64(pk, 64))
PACKER(u_65, msgpack_pack_uint64(pk, 65))
PACKER(u_512, msgpack_pack_uint64(pk, 512))
PACKER(u_513, msgpack_pack_uint64(pk, 513))
PACKER(u_4097, msgpack_pack_uint64(pk, 4097))
PACKER(u_65537, msgpack_pack_uint64(pk, 65537))
PACKER(u_max, msgpack_pack_uint64(pk, UINT64_MAX))
PACKER(i_neg, msgpack_pack_int64(pk, -5))
PACKER(f_64, msgpack_pack_double(pk, 64.0))
PACKER(f_half, msgpack_pack_double(pk, 0.5))
PACKER(f32_quarter, msgpack_pack_float(pk, 0.25f))
PACKER(f_tiny, msgpack_pack_double(pk, 0.004))
PACKER(f_neg, msgpack_pack_double(pk, -1.0))
PACKER(f_nan, msgpack_pack_double(pk, __builtin_nan("")))
PACKER(f_inf, msgpack_pack_double(pk, __builtin_inf()))
PACKER(f_big, msgpack_pack_double(pk, 2000.0))
PACKER(f_1_5, msgpack_pack_double(pk, 1.5))
PACKER(f_1_501, msgpack_pack_double(pk, 1.501))
PACKER(s_64, proto_pack_str(pk, "64"))
PACKER(b_true, msgpack_pack_true(pk))
PACKER(nil, msgpack_pack_nil(pk))
PACKER(arr, msgpack_pack_array(pk, 0))

static void
expect_ok(const struct run_limits_bounds *b, const char *key, pack_fn pack, struct pool_limits want)
{
        struct pool_limits l = {1, 1, 1};
        char why[320];
        int r = parse_one(b, key, pack, &l, why, sizeof why);

        cr_assert_eq(r, 0, "%s refused: %s", key, why);
        cr_expect_eq(l.memory_bytes, want.memory_bytes, "%s: memory %llu", key,
                     (unsigned long long) l.memory_bytes);
        cr_expect_eq(l.nproc, want.nproc, "%s: nproc %llu", key, (unsigned long long) l.nproc);
        cr_expect_eq(l.cpu_milli, want.cpu_milli, "%s: cpu_milli %u", key, l.cpu_milli);
}

static void
expect_refused(const struct run_limits_bounds *b, const char *key, pack_fn pack, const char *message)
{
        struct pool_limits l = {7, 7, 7};
        char why[320];
        int r = parse_one(b, key, pack, &l, why, sizeof why);

        cr_assert_eq(r, -EINVAL, "%s accepted", key);
        cr_expect_str_eq(why, message);
        cr_expect_eq(l.memory_bytes, 7, "*ret is left alone on refusal");
}

Test(run_limits, absent_and_nil_leave_the_daemons)
{
        struct pool_limits l = {1, 1, 1};
        char why[64];

        cr_expect_eq(run_limits_parse(NULL, &daemon_512, &l, why, sizeof why), 0);
        cr_expect_eq(l.memory_bytes, 0);
        cr_expect_eq(l.nproc, 0);
        cr_expect_eq(l.cpu_milli, 0);
        expect_ok(&daemon_512, "memory_mb", nil, (struct pool_limits){});
        expect_ok(&daemon_512, "processes", nil, (struct pool_limits){});
        expect_ok(&daemon_512, "cpus", nil, (struct pool_limits){});
        expect_ok(&daemon_512, "memory", u_64, (struct pool_limits){}); /* not ours: ignored */
}

Test(run_limits, memory_mb_lowers_up_to_the_daemons_limit)
{
        expect_ok(&daemon_512, "memory_mb", u_64, (struct pool_limits){.memory_bytes = 64 * MiB});
        expect_ok(&daemon_512, "memory_mb", u_16, (struct pool_limits){.memory_bytes = 16 * MiB});
        expect_ok(&daemon_512, "memory_mb", u_512, (struct pool_limits){.memory_bytes = 512 * MiB});
        expect_refused(&daemon_512, "memory_mb", u_513,
                       "params.memory_mb is 513, above the daemon's limit: the daemon's limit is 512 MiB");
}

Test(run_limits, memory_mb_range_and_type)
{
        static const char range[] = "params.memory_mb must be from 16 to 65536 (MiB), not ";
        char want[128];

        (void) snprintf(want, sizeof want, "%s0", range);
        expect_refused(&daemon_512, "memory_mb", u_0, want);
        (void) snprintf(want, sizeof want, "%s15", range);
        expect_refused(&daemon_512, "memory_mb", u_15, want);
        (void) snprintf(want, sizeof want, "%s-5", range);
        expect_refused(&daemon_512, "memory_mb", i_neg, want);
        (void) snprintf(want, sizeof want, "%s65537", range);
        expect_refused(&daemon_512, "memory_mb", u_65537, want);
        (void) snprintf(want, sizeof want, "%s18446744073709551615", range);
        expect_refused(&daemon_512, "memory_mb", u_max, want);
        expect_refused(&daemon_512, "memory_mb", s_64, "params.memory_mb must be an integer (MiB)");
        expect_refused(&daemon_512, "memory_mb", f_64, "params.memory_mb must be an integer (MiB)");
        expect_refused(&daemon_512, "memory_mb", b_true, "params.memory_mb must be an integer (MiB)");
        expect_refused(&daemon_512, "memory_mb", arr, "params.memory_mb must be an integer (MiB)");
}

Test(run_limits, a_daemon_limit_not_in_whole_MiB_is_said_in_bytes)
{
        struct run_limits_bounds b = daemon_512;

        b.daemon.memory_bytes = 64 * MiB + 512;
        expect_ok(&b, "memory_mb", u_64, (struct pool_limits){.memory_bytes = 64 * MiB});
        expect_refused(
                &b, "memory_mb", u_65,
                "params.memory_mb is 65, above the daemon's limit: the daemon's limit is 67109376 bytes");
}

Test(run_limits, processes)
{
        expect_ok(&daemon_512, "processes", u_4, (struct pool_limits){.nproc = 4});
        expect_ok(&daemon_512, "processes", u_64, (struct pool_limits){.nproc = 64});
        expect_refused(
                &daemon_512, "processes", u_65,
                "params.processes is 65, above the daemon's limit: the daemon's limit is 64 processes");
        expect_refused(&daemon_512, "processes", u_3,
                       "params.processes must be from 4 to 4096 (processes and threads), not 3");
        expect_refused(&daemon_512, "processes", u_0,
                       "params.processes must be from 4 to 4096 (processes and threads), not 0");
        expect_refused(&daemon_512, "processes", u_4097,
                       "params.processes must be from 4 to 4096 (processes and threads), not 4097");
        expect_refused(&daemon_512, "processes", i_neg,
                       "params.processes must be from 4 to 4096 (processes and threads), not -5");
        expect_refused(&daemon_512, "processes", f_half,
                       "params.processes must be an integer (processes and threads)");
}

Test(run_limits, cpus_without_a_daemon_quota)
{
        expect_ok(&daemon_512, "cpus", f_half, (struct pool_limits){.cpu_milli = 500});
        expect_ok(&daemon_512, "cpus", f32_quarter, (struct pool_limits){.cpu_milli = 250});
        expect_ok(&daemon_512, "cpus", u_1, (struct pool_limits){.cpu_milli = 1000});
        expect_ok(&daemon_512, "cpus", u_2, (struct pool_limits){.cpu_milli = 2000});
        expect_refused(
                &daemon_512, "cpus", u_3,
                "params.cpus is 3, above the daemon's limit: the daemon has no CPU quota, so its limit is "
                "the 2 CPUs of its machine");
}

Test(run_limits, cpus_under_a_daemon_quota)
{
        struct run_limits_bounds b = daemon_512;

        b.daemon.cpu_milli = 1500;
        expect_ok(&b, "cpus", f_1_5, (struct pool_limits){.cpu_milli = 1500});
        expect_ok(&b, "cpus", u_1, (struct pool_limits){.cpu_milli = 1000});
        expect_refused(&b, "cpus", f_1_501,
                       "params.cpus is 1.501, above the daemon's limit: the daemon's limit is 1.5 CPUs");
        expect_refused(&b, "cpus", u_2,
                       "params.cpus is 2, above the daemon's limit: the daemon's limit is 1.5 CPUs");
}

Test(run_limits, cpus_range_and_type)
{
        expect_refused(&daemon_512, "cpus", u_0, "params.cpus must be from 0.01 to 1024 (CPUs), not 0");
        expect_refused(&daemon_512, "cpus", f_tiny,
                       "params.cpus must be from 0.01 to 1024 (CPUs), not 0.004");
        expect_refused(&daemon_512, "cpus", f_neg, "params.cpus must be from 0.01 to 1024 (CPUs), not -1");
        expect_refused(&daemon_512, "cpus", i_neg, "params.cpus must be from 0.01 to 1024 (CPUs), not -5");
        expect_refused(&daemon_512, "cpus", f_nan, "params.cpus must be from 0.01 to 1024 (CPUs), not nan");
        expect_refused(&daemon_512, "cpus", f_inf, "params.cpus must be from 0.01 to 1024 (CPUs), not inf");
        expect_refused(&daemon_512, "cpus", f_big, "params.cpus must be from 0.01 to 1024 (CPUs), not 2000");
        expect_refused(&daemon_512, "cpus", s_64, "params.cpus must be a number (CPUs, fractions allowed)");
        expect_refused(&daemon_512, "cpus", b_true,
                       "params.cpus must be a number (CPUs, fractions allowed)");
}

Test(run_limits, cpus_where_no_quota_can_be_applied)
{
        struct run_limits_bounds b = daemon_512;

        b.cpu_quota_usable = false;
        expect_refused(
                &b, "cpus", f_half,
                "params.cpus cannot be applied: the daemon cannot give a run a CPU quota here (no cgroup "
                "hierarchy with the cpu controller is available to it)");
        expect_ok(&b, "memory_mb", u_64, (struct pool_limits){.memory_bytes = 64 * MiB});
}

Test(run_limits, the_first_bad_parameter_is_named)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_unpacked m;
        struct pool_limits l;
        char why[320];

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        proto_pack_key_uint(&pk, "memory_mb", 64);
        proto_pack_key_str(&pk, "processes", "many");
        proto_pack_key_double(&pk, "cpus", 0.5);
        cr_assert_eq(proto_unpack(sb.data, sb.size, &m), 0);
        cr_expect_eq(run_limits_parse(&m.data, &daemon_512, &l, why, sizeof why), -EINVAL);
        cr_expect_str_eq(why, "params.processes must be an integer (processes and threads)");
        msgpack_unpacked_destroy(&m);
        msgpack_sbuffer_destroy(&sb);
}

Test(run_limits, all_three_together)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_unpacked m;
        struct pool_limits l;
        char why[320];

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        proto_pack_key_uint(&pk, "memory_mb", 100);
        proto_pack_key_uint(&pk, "processes", 10);
        proto_pack_key_double(&pk, "cpus", 0.125);
        cr_assert_eq(proto_unpack(sb.data, sb.size, &m), 0);
        cr_assert_eq(run_limits_parse(&m.data, &daemon_512, &l, why, sizeof why), 0, "%s", why);
        cr_expect_eq(l.memory_bytes, 100 * MiB);
        cr_expect_eq(l.nproc, 10);
        cr_expect_eq(l.cpu_milli, 125);
        msgpack_unpacked_destroy(&m);
        msgpack_sbuffer_destroy(&sb);
}
