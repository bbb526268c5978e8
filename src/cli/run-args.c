/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsing `vivarium run` arguments, and the exit status of a result. Separate from main() so every accepted and
 * rejected form is unit-tested. Errors name the offending value and the rule.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "macro.h"
#include "parse-util.h"

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

static int
parse_option(int c, const char *arg, struct run_args *a, char **ret_error)
{
        uint64_t v;

        switch (c) {
        case 't':
                if (parse_seconds_ms(arg, CLI_TIMEOUT_MAX_MS, &a->timeout_ms) < 0)
                        return fail(ret_error,
                                    "invalid --timeout '%s': give seconds, more than 0 and at most 3600",
                                    arg);
                return 0;
        case 'm':
                if (parse_u64(arg, &v) < 0 || v < 16 || v > CLI_MEMORY_MAX_MIB)
                        return fail(ret_error, "invalid --memory '%s': give MiB, from 16 to 65536", arg);
                a->memory_mib = v;
                return 0;
        case 'P':
                if (parse_u64(arg, &v) < 0 || v < CLI_PROCESSES_MIN || v > CLI_PROCESSES_MAX)
                        return fail(ret_error, "invalid --processes '%s': give a number from 4 to 4096",
                                    arg);
                a->processes = v;
                return 0;
        case 'C':
                /* Thousandths, as [limits] cpus: "0.5", "2", "0.125". */
                if (parse_seconds_ms(arg, CLI_CPU_MAX_MILLI, &v) < 0 || v < CLI_CPU_MIN_MILLI)
                        return fail(
                                ret_error,
                                "invalid --cpus '%s': give CPUs, from 0.01 to 1024, fractions allowed (0.5)",
                                arg);
                a->cpu_milli = (uint32_t) v;
                return 0;
        case 'p':
                a->preload = strv_free(a->preload);
                if (parse_module_list(arg, &a->preload) < 0)
                        return fail(
                                ret_error,
                                "invalid --preload '%s': give comma-separated module names like numpy,json",
                                arg);
                return 0;
        case 'j':
                a->json = true;
                return 0;
        case 'c':
                a->code = arg;
                return 0;
        case 'h':
                a->help = true;
                return 0;
        case 's':
                if (!arg[0])
                        return fail(ret_error, "%s", "invalid --socket '': give a path");
                a->socket = arg;
                return 0;
        case 'n':
                a->no_daemon = true;
                return 0;
        case 'v':
                a->verbose = true;
                return 0;
        default:
                return fail(ret_error, "%s; see 'vivarium run --help'",
                            "unknown option or missing argument");
        }
}

int
cli_run_parse(int argc, char **argv, struct run_args *a, char **ret_error)
{
        static const struct option opts[] = {
                {"timeout", required_argument, NULL, 't'},
                {"memory", required_argument, NULL, 'm'},
                {"processes", required_argument, NULL, 'P'},
                {"cpus", required_argument, NULL, 'C'},
                {"preload", required_argument, NULL, 'p'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {"socket", required_argument, NULL, 's'},
                {"no-daemon", no_argument, NULL, 'n'},
                {"verbose", no_argument, NULL, 'v'},
                {},
        };
        int c, r;

        *a = (struct run_args){.timeout_ms = CLI_TIMEOUT_DEFAULT_MS};
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) >= 0) {
                r = parse_option(c, optarg, a, ret_error);
                if (r < 0)
                        return r;
        }
        if (a->help)
                return 0;
        if (a->no_daemon && a->socket)
                return fail(ret_error, "%s",
                            "--no-daemon and --socket contradict each other: give one of them");
        if (optind < argc)
                a->file = argv[optind++];
        if (optind < argc)
                return fail(ret_error, "unexpected argument '%s'", argv[optind]);
        if (!a->code == !a->file)
                return fail(ret_error, "%s",
                            "give the code with -c CODE, as a FILE, or '-' for standard input");
        return 0;
}

void
run_args_done(struct run_args *a)
{
        a->preload = strv_free(a->preload);
}

int
cli_status_exit_code(enum run_status s)
{
        switch (s) {
        case RUN_OK:
                return CLI_EXIT_OK;
        case RUN_TIMEOUT:
                return CLI_EXIT_TIMEOUT;
        case RUN_MEMORY:
        case RUN_KILLED:
                return CLI_EXIT_KILLED;
        default:
                return CLI_EXIT_EXCEPTION;
        }
}

void
cli_memory_advice(const struct run_args *a, const struct run_result *r, bool daemon, uint64_t daemon_mib,
                  char *buf, size_t size)
{
        /* Without a cgroup an allocation fails (the traceback shows it); with one, the kernel kills. */
        const char *what = r->has_exception ? "an allocation failed" : "the code was killed";
        unsigned long long applied = r->limits.memory_mb ?: a->memory_mib ?: daemon_mib;
        unsigned long long asked = a->memory_mib, allowed = daemon_mib;

        if (!daemon)
                (void) snprintf(
                        buf, size,
                        "out of memory: %s at its memory limit of %llu MiB; raise --memory (at most %u)",
                        what, applied, CLI_MEMORY_MAX_MIB);
        else if (asked > 0 && allowed > 0 && applied < allowed)
                (void) snprintf(buf, size,
                                "out of memory: %s at its memory limit of %llu MiB, which --memory set; "
                                "raise --memory, up "
                                "to the daemon's limit of %llu MiB",
                                what, applied, allowed);
        else if (asked > 0 && allowed == 0)
                (void) snprintf(buf, size,
                                "out of memory: %s at its memory limit of %llu MiB, which --memory set; "
                                "raise --memory, up "
                                "to the daemon's limit ('vivarium status' shows it)",
                                what, applied);
        else
                (void) snprintf(
                        buf, size,
                        "out of memory: %s at the daemon's memory limit of %llu MiB, which --memory can "
                        "only lower; "
                        "it is [limits] memory in the daemon's vivarium.conf(5)",
                        what, applied);
}
