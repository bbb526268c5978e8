/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-request limits of `run` (run-limits.h). Trust zone: the dispatcher,
 * reading a client's parameters: every value is checked for type, for the
 * range any request may ask for, and against the daemon's own limit, and a
 * refusal says which of the three it broke and what the bound is.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "macro.h"
#include "msg.h"
#include "run-limits.h"

#define MiB (UINT64_C(1) << 20)

_printf_(3, 4) static int refuse(char *why, size_t size, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(why, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

const char *
run_limits_format_memory(uint64_t bytes, char *buf, size_t size)
{
        if (bytes % MiB == 0)
                (void) snprintf(buf, size, "%" PRIu64 " MiB", bytes / MiB);
        else
                (void) snprintf(buf, size, "%" PRIu64 " bytes", bytes);
        return buf;
}

/* "1.5", "2", "0.25": thousandths without trailing zeros. */
static const char *
format_cpus(uint64_t milli, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%" PRIu64 ".%03" PRIu64, milli / 1000, milli % 1000);

        while (n > 0 && (size_t) n < size && buf[n - 1] == '0')
                buf[--n] = 0;
        if (n > 0 && (size_t) n < size && buf[n - 1] == '.')
                buf[--n] = 0;
        return buf;
}

static const msgpack_object *
param(const msgpack_object *params, const char *key)
{
        const msgpack_object *o = params ? proto_map_get(params, key) : NULL;

        return o && o->type != MSGPACK_OBJECT_NIL ? o : NULL;
}

/* An integer parameter in [min, max]: 0, or -EINVAL (why filled). */
static int
integer(const msgpack_object *o, const char *key, uint64_t min, uint64_t max, const char *unit,
        uint64_t *ret, char *why, size_t size)
{
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER && o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
                return refuse(why, size, "params.%s must be an integer (%s)", key, unit);
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                return refuse(why, size,
                              "params.%s must be from %" PRIu64 " to %" PRIu64 " (%s), not %" PRId64, key,
                              min, max, unit, o->via.i64);
        if (o->via.u64 < min || o->via.u64 > max)
                return refuse(why, size,
                              "params.%s must be from %" PRIu64 " to %" PRIu64 " (%s), not %" PRIu64, key,
                              min, max, unit, o->via.u64);
        *ret = o->via.u64;
        return 0;
}

static int
parse_memory(const msgpack_object *o, const struct run_limits_bounds *b, struct pool_limits *l, char *why,
             size_t size)
{
        char limit[48];
        uint64_t mb;
        int r = integer(o, "memory_mb", RUN_LIMIT_MEMORY_MIN_MB, RUN_LIMIT_MEMORY_MAX_MB, "MiB", &mb, why,
                        size);

        if (r < 0)
                return r;
        if (mb * MiB > b->daemon.memory_bytes)
                return refuse(why, size,
                              "params.memory_mb is %" PRIu64
                              ", above the daemon's limit: the daemon's limit is %s",
                              mb, run_limits_format_memory(b->daemon.memory_bytes, limit, sizeof limit));
        l->memory_bytes = mb * MiB;
        return 0;
}

static int
parse_processes(const msgpack_object *o, const struct run_limits_bounds *b, struct pool_limits *l, char *why,
                size_t size)
{
        uint64_t n;
        int r = integer(o, "processes", RUN_LIMIT_PROCESSES_MIN, RUN_LIMIT_PROCESSES_MAX,
                        "processes and threads", &n, why, size);

        if (r < 0)
                return r;
        if (n > b->daemon.nproc)
                return refuse(why, size,
                              "params.processes is %" PRIu64
                              ", above the daemon's limit: the daemon's limit is %" PRIu64 " processes",
                              n, b->daemon.nproc);
        l->nproc = n;
        return 0;
}

static int
cpus_value(const msgpack_object *o, double *ret, char *why, size_t size)
{
        char lo[16], hi[16];

        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                *ret = (double) o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                *ret = (double) o->via.i64;
        else if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
                *ret = o->via.f64;
        else
                return refuse(why, size, "params.cpus must be a number (CPUs, fractions allowed)");
        /* Thousandths, as [limits] cpus; a value that rounds below 0.01 is out of range. */
        if (!isfinite(*ret) || *ret * 1000.0 + 0.5 < RUN_LIMIT_CPU_MIN_MILLI ||
            *ret * 1000.0 + 0.5 >= RUN_LIMIT_CPU_MAX_MILLI + 1.0)
                return refuse(why, size, "params.cpus must be from %s to %s (CPUs), not %g",
                              format_cpus(RUN_LIMIT_CPU_MIN_MILLI, lo, sizeof lo),
                              format_cpus(RUN_LIMIT_CPU_MAX_MILLI, hi, sizeof hi), *ret);
        return 0;
}

static int
parse_cpus(const msgpack_object *o, const struct run_limits_bounds *b, struct pool_limits *l, char *why,
           size_t size)
{
        char want[24], limit[24];
        uint64_t milli;
        double v = 0;
        int r = cpus_value(o, &v, why, size);

        if (r < 0)
                return r;
        milli = (uint64_t) (v * 1000.0 + 0.5);
        format_cpus(milli, want, sizeof want);
        if (b->daemon.cpu_milli > 0 && milli > b->daemon.cpu_milli)
                return refuse(why, size,
                              "params.cpus is %s, above the daemon's limit: the daemon's limit is %s CPUs",
                              want, format_cpus(b->daemon.cpu_milli, limit, sizeof limit));
        if (b->daemon.cpu_milli == 0 && b->cpus_online > 0 && milli > (uint64_t) b->cpus_online * 1000)
                return refuse(
                        why, size,
                        "params.cpus is %s, above the daemon's limit: the daemon has no CPU quota, so its "
                        "limit is the %u CPUs of its machine",
                        want, b->cpus_online);
        if (!b->cpu_quota_usable)
                return refuse(why, size,
                              "params.cpus cannot be applied: the daemon cannot give a run a CPU quota here "
                              "(no cgroup hierarchy with the cpu controller is available to it)");
        l->cpu_milli = (uint32_t) milli;
        return 0;
}

int
run_limits_parse(const msgpack_object *params, const struct run_limits_bounds *b, struct pool_limits *ret,
                 char *why, size_t why_size)
{
        struct pool_limits l = {};
        const msgpack_object *o;
        int r;

        if ((o = param(params, "memory_mb")) && (r = parse_memory(o, b, &l, why, why_size)) < 0)
                return r;
        if ((o = param(params, "processes")) && (r = parse_processes(o, b, &l, why, why_size)) < 0)
                return r;
        if ((o = param(params, "cpus")) && (r = parse_cpus(o, b, &l, why, why_size)) < 0)
                return r;
        *ret = l;
        return 0;
}
