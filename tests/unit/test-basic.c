/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of src/basic (parsers, fd helpers), the run result model, and the
 * CLI's argument parsing and JSON writer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fd-util.h"
#include "macro.h"
#include "parse-util.h"
#include "run.h"

Test(parse, seconds)
{
        uint64_t ms = 0;

        cr_expect_eq(parse_seconds_ms("1", 3600000, &ms), 0);
        cr_expect_eq(ms, 1000);
        cr_expect_eq(parse_seconds_ms("0.25", 3600000, &ms), 0);
        cr_expect_eq(ms, 250);
        cr_expect_eq(parse_seconds_ms(".5", 3600000, &ms), 0);
        cr_expect_eq(ms, 500);
        cr_expect_eq(parse_seconds_ms("3600", 3600000, &ms), 0);
        cr_expect_eq(parse_seconds_ms("3600.001", 3600000, &ms), -ERANGE);
        cr_expect_eq(parse_seconds_ms("0", 3600000, &ms), -ERANGE);
        cr_expect_eq(parse_seconds_ms("0.0001", 3600000, &ms), -ERANGE);
        cr_expect_eq(parse_seconds_ms("99999999999999999999", 3600000, &ms), -ERANGE);
        static const char *const bad[] = {"", "-1", "abc", "1s", "1.2.3", ".", " 1", "+1"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                cr_expect_eq(parse_seconds_ms(bad[i], 3600000, &ms), -EINVAL, "accepted '%s'", bad[i]);
}

Test(parse, u64)
{
        uint64_t v;

        cr_expect_eq(parse_u64("18446744073709551615", &v), 0);
        cr_expect_eq(v, UINT64_MAX);
        cr_expect_eq(parse_u64("18446744073709551616", &v), -ERANGE);
        cr_expect_eq(parse_u64("-1", &v), -EINVAL);
        cr_expect_eq(parse_u64("12x", &v), -EINVAL);
}

Test(parse, module_lists)
{
        char **l = NULL;

        cr_assert_eq(parse_module_list("numpy,json,,os.path", &l), 0);
        cr_expect_eq(strv_length(l), 3);
        cr_expect_str_eq(l[2], "os.path");
        strv_free(l);
        cr_assert_eq(parse_module_list("", &l), 0);
        cr_expect_eq(strv_length(l), 0);
        strv_free(l);
        static const char *const bad[] = {"bad name", "1abc", "a..b", ".a", "a.", "a;rm", "a/b"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                cr_expect_eq(parse_module_list(bad[i], &l), -EINVAL, "accepted '%s'", bad[i]);
}

Test(fd, close_all_except_keeps_exactly_the_list)
{
        pid_t pid = fork();

        cr_assert(pid >= 0);
        if (pid == 0) {
                int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY),
                    c = open("/dev/null", O_RDONLY);
                int keep[] = {b};
                if (close_all_fds_except(keep, 1) < 0)
                        _exit(1);
                _exit(fcntl(a, F_GETFD) < 0 && fcntl(c, F_GETFD) < 0 && fcntl(b, F_GETFD) >= 0 &&
                                      fcntl(2, F_GETFD) >= 0
                              ? 0
                              : 2);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(fd, arrange_handles_overlapping_sources)
{
        pid_t pid = fork();

        cr_assert(pid >= 0);
        if (pid == 0) {
                int p[2];
                if (pipe(p) < 0)
                        _exit(1);
                /* Swap: the pipe's write end becomes 0, its read end 1. */
                int want[2] = {p[1], p[0]};
                if (fd_arrange_stdio(want, 2) < 0 || write(0, "x", 1) != 1)
                        _exit(2);
                char ch;
                _exit(read(1, &ch, 1) == 1 && ch == 'x' ? 0 : 3);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(fd, read_bounded_refuses_more_than_the_limit)
{
        char *buf = NULL;
        size_t n = 0;

        cr_expect_eq(read_file_bounded("/proc/self/status", 10, &buf, &n), -EFBIG);
        cr_expect_eq(read_file_bounded("/proc/self/status", 1 << 20, &buf, &n), 0);
        cr_expect_gt(n, 10);
        cr_expect_eq(buf[n], 0);
        free(buf);
}

Test(run, status_names_round_trip)
{
        for (int s = 0; s < _RUN_STATUS_MAX; s++) {
                enum run_status back;
                const char *name = run_status_to_string((enum run_status) s);
                cr_assert_not_null(name);
                cr_expect_eq(run_status_from_string(name, strlen(name), &back), 0);
                cr_expect_eq((int) back, s);
        }
        enum run_status x;
        cr_expect_eq(run_status_from_string("okay", 4, &x), -EINVAL);
        cr_expect_eq(run_status_from_string("o", 1, &x), -EINVAL);
}

static int
parse(struct run_args *a, char **err, int argc, ...)
{
        char *argv[16];
        va_list ap;

        va_start(ap, argc);
        for (int i = 0; i < argc; i++)
                argv[i] = va_arg(ap, char *);
        va_end(ap);
        argv[argc] = NULL;
        *err = NULL;
        return cli_run_parse(argc, argv, a, err);
}

Test(cli, run_args_accepted)
{
        struct run_args a;
        char *err;

        cr_assert_eq(parse(&a, &err, 3, "run", "-c", "1+1"), 0);
        cr_expect_str_eq(a.code, "1+1");
        cr_expect_eq(a.timeout_ms, CLI_TIMEOUT_DEFAULT_MS);
        cr_expect_eq(a.memory_mib, 0, "not given: the daemon's (or the embedded default)");
        cr_expect_eq(a.processes, 0);
        cr_expect_eq(a.cpu_milli, 0);
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 7, "run", "--processes", "8", "--cpus", "0.25", "-c", "1"), 0);
        cr_expect_eq(a.processes, 8);
        cr_expect_eq(a.cpu_milli, 250);
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 7, "run", "--processes", "4096", "--cpus", "2", "-c", "1"), 0);
        cr_expect_eq(a.processes, 4096);
        cr_expect_eq(a.cpu_milli, 2000);
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 8, "run", "--timeout", "1.5", "--memory", "64", "--preload",
                           "numpy,json", "-"),
                     0);
        cr_expect_eq(a.timeout_ms, 1500);
        cr_expect_eq(a.memory_mib, 64);
        cr_expect_str_eq(a.file, "-");
        cr_expect_eq(strv_length(a.preload), 2);
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 3, "run", "--json", "script.py"), 0);
        cr_expect(a.json);
        cr_expect_str_eq(a.file, "script.py");
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 2, "run", "--help"), 0);
        cr_expect(a.help);
        run_args_done(&a);
}

Test(cli, run_args_rejected_with_a_reason)
{
        static const struct {
                int argc;
                const char *argv[5];
                const char *says;
        } cases[] = {
                {1, {"run"}, "give the code"},
                {4, {"run", "-c", "1", "file.py"}, "give the code"},
                {4, {"run", "a.py", "b.py"}, "unexpected argument 'b.py'"},
                {4, {"run", "--timeout", "0", "-"}, "--timeout '0'"},
                {4, {"run", "--timeout", "abc", "-"}, "--timeout 'abc'"},
                {4, {"run", "--memory", "1", "-"}, "--memory '1'"},
                {4, {"run", "--processes", "3", "-"}, "--processes '3': give a number from 4 to 4096"},
                {4, {"run", "--processes", "4097", "-"}, "--processes '4097'"},
                {4, {"run", "--cpus", "0", "-"}, "--cpus '0': give CPUs, from 0.01 to 1024"},
                {4, {"run", "--cpus", "0.001", "-"}, "--cpus '0.001'"},
                {4, {"run", "--cpus", "-1", "-"}, "--cpus '-1'"},
                {4, {"run", "--cpus", "1025", "-"}, "--cpus '1025'"},
                {4, {"run", "--preload", "bad name", "-"}, "--preload 'bad name'"},
                {3, {"run", "--bogus", "-"}, "unknown option"},
                {2, {"run", "-c"}, "unknown option or missing argument"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct run_args a;
                char *err = NULL;
                char *argv[6] = {};
                memcpy(argv, cases[i].argv, sizeof cases[i].argv);
                cr_expect_eq(cli_run_parse(cases[i].argc, argv, &a, &err), -EINVAL, "case %zu", i);
                cr_expect(err && strstr(err, cases[i].says), "case %zu said '%s'", i, err ? err : "(null)");
                free(err);
                run_args_done(&a);
        }
}

/* The advice after a memory kill names the limit and where it came from. */
Test(cli, memory_advice)
{
        struct run_args a = {};
        struct run_result r = {.status = RUN_MEMORY};
        char buf[400];

        r.limits.memory_mb = 512;
        cli_memory_advice(&a, &r, false, 0, buf, sizeof buf);
        cr_expect_str_eq(buf,
                         "out of memory: the code was killed at its memory limit of 512 MiB; raise --memory "
                         "(at most 65536)");
        cli_memory_advice(&a, &r, true, 512, buf, sizeof buf);
        cr_expect_str_eq(buf, "out of memory: the code was killed at the daemon's memory limit of 512 MiB, "
                              "which --memory can "
                              "only lower; it is [limits] memory in the daemon's vivarium.conf(5)");
        a.memory_mib = 512;
        cli_memory_advice(&a, &r, true, 512, buf, sizeof buf);
        cr_expect(strstr(buf, "at the daemon's memory limit of 512 MiB"),
                  "--memory equal to the daemon's: %s", buf);
        a.memory_mib = 64;
        r.limits.memory_mb = 64;
        r.has_exception = true;
        cli_memory_advice(&a, &r, true, 512, buf, sizeof buf);
        cr_expect_str_eq(buf, "out of memory: an allocation failed at its memory limit of 64 MiB, which "
                              "--memory set; raise "
                              "--memory, up to the daemon's limit of 512 MiB");
        cli_memory_advice(&a, &r, true, 0, buf, sizeof buf);
        cr_expect(strstr(buf, "'vivarium status' shows it"), "the daemon's limit unknown: %s", buf);
}

static char *
json_of(const char *s, size_t n)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        json_write_string(f, s, n);
        fclose(f);
        return buf;
}

Test(cli, json_strings_are_always_valid)
{
        char *j;

        j = json_of("a\"b\\c\n\t\x01", 8);
        cr_expect_str_eq(j, "\"a\\\"b\\\\c\\n\\t\\u0001\"");
        free(j);
        j = json_of("\xc3\xa9\xe2\x82\xac", 5);
        cr_expect_str_eq(j, "\"\xc3\xa9\xe2\x82\xac\"", "valid UTF-8 passes through");
        free(j);
        /* Invalid, overlong, surrogate, truncated, and an embedded NUL. */
        j = json_of("\xff\xc0\xaf\xed\xa0\x80\xe2\x82"
                    "\0",
                    9);
        cr_expect_str_eq(j, "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\u0000\"");
        free(j);
}

Test(cli, base64)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        json_write_base64(f, "\x89PNG", 4);
        json_write_base64(f, "ab", 2);
        json_write_base64(f, "", 0);
        fclose(f);
        cr_expect_str_eq(buf, "\"iVBORw==\"\"YWI=\"\"\"");
        free(buf);
}

Test(cli, exit_codes)
{
        cr_expect_eq(cli_status_exit_code(RUN_OK), 0);
        cr_expect_eq(cli_status_exit_code(RUN_EXCEPTION), 1);
        cr_expect_eq(cli_status_exit_code(RUN_CRASHED), 1);
        cr_expect_eq(cli_status_exit_code(RUN_TIMEOUT), 124);
        cr_expect_eq(cli_status_exit_code(RUN_MEMORY), 137);
        cr_expect_eq(cli_status_exit_code(RUN_KILLED), 137);
}
