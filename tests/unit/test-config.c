/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of vivarium.conf loading (src/daemon/config.c) and of
 * parse_size(): defaults, every key, every range edge just inside and just
 * outside, the FILE:LINE messages, cross-field rules, the default socket path
 * and the shipped examples/vivarium.conf, which must equal the defaults.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-config.h"
#include "macro.h"
#include "parse-util.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static char conf_path[64];

/* Load text written to a temporary file; the file's name is in conf_path. */
static int
load_bytes(struct vivarium_config *c, const char *text, size_t len, char **ret_error)
{
        int fd, r;

        strcpy(conf_path, "/tmp/test-config-XXXXXX");
        fd = mkstemp(conf_path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, text, len), (ssize_t) len);
        close(fd);
        r = config_load(c, conf_path, ret_error);
        unlink(conf_path);
        return r;
}

static int
load_text(struct vivarium_config *c, const char *text, char **ret_error)
{
        return load_bytes(c, text, strlen(text), ret_error);
}

/* Load text into a fresh default configuration and expect success. */
static void
load_ok(struct vivarium_config *c, const char *text)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(config_init(c), 0);
        cr_assert_eq(load_text(c, text, &error), 0, "'%s' refused: %s", text, error ? error : "(null)");
        cr_assert_null(error);
}

/* Load text and expect -EINVAL with exactly "FILE:LINE: why". */
static void
load_fails(const char *text, unsigned line, const char *why)
{
        struct vivarium_config c;
        _cleanup_free_ char *error = NULL, *want = NULL;

        cr_assert_eq(config_init(&c), 0);
        cr_assert_eq(load_text(&c, text, &error), -EINVAL, "'%s' accepted", text);
        cr_assert_geq(asprintf(&want, "%s:%u: %s", conf_path, line, why), 0);
        cr_expect_str_eq(error, want);
        config_done(&c);
}

static void
expect_same(const struct vivarium_config *a, const struct vivarium_config *b)
{
        cr_expect((a->socket_path == NULL) == (b->socket_path == NULL));
        if (a->socket_path && b->socket_path)
                cr_expect_str_eq(a->socket_path, b->socket_path);
        cr_expect_eq(a->socket_mode, b->socket_mode);
        cr_expect_eq(a->max_connections, b->max_connections);
        cr_expect_eq(a->max_connections_per_uid, b->max_connections_per_uid);
        cr_expect_eq(a->max_frame, b->max_frame);
        cr_expect_eq(a->max_inflight, b->max_inflight);
        cr_expect_eq(a->shutdown_grace_ms, b->shutdown_grace_ms);
        cr_expect_eq(a->default_timeout_ms, b->default_timeout_ms);
        cr_expect_eq(a->max_timeout_ms, b->max_timeout_ms);
        cr_expect_eq(a->limits.memory_bytes, b->limits.memory_bytes);
        cr_expect_eq(a->limits.nproc, b->limits.nproc);
        cr_expect_eq(a->limits.cpu_milli, b->limits.cpu_milli);
        cr_expect_eq(a->open_files, b->open_files);
        cr_expect_eq(a->file_size_bytes, b->file_size_bytes);
        cr_expect_eq(a->tmp_bytes, b->tmp_bytes);
        cr_expect_eq(a->workspace_bytes, b->workspace_bytes);
        cr_expect_eq(a->output_bytes, b->output_bytes);
        cr_expect_eq(a->max_images, b->max_images);
        cr_expect_eq(a->max_image_bytes, b->max_image_bytes);
        cr_expect_eq(a->idle_workers, b->idle_workers);
        cr_expect_eq(a->max_workers, b->max_workers);
        cr_expect_eq(a->queue_limit, b->queue_limit);
        cr_expect_eq(a->startup_timeout_ms, b->startup_timeout_ms);
        cr_assert_not_null(a->preload);
        cr_assert_not_null(b->preload);
        cr_assert_eq(strv_length(a->preload), strv_length(b->preload));
        for (size_t i = 0; a->preload[i]; i++)
                cr_expect_str_eq(a->preload[i], b->preload[i]);
        cr_expect_eq(a->preload_if_installed, b->preload_if_installed);
}

Test(parse_size, accepts_digits_and_binary_suffixes)
{
        uint64_t v;

        cr_expect_eq(parse_size("0", &v), 0);
        cr_expect_eq(v, 0);
        cr_expect_eq(parse_size("1234", &v), 0);
        cr_expect_eq(v, 1234);
        cr_expect_eq(parse_size("1K", &v), 0);
        cr_expect_eq(v, 1024);
        cr_expect_eq(parse_size("16M", &v), 0);
        cr_expect_eq(v, 16 * MiB);
        cr_expect_eq(parse_size("3G", &v), 0);
        cr_expect_eq(v, 3 * GiB);
        cr_expect_eq(parse_size("2T", &v), 0);
        cr_expect_eq(v, UINT64_C(2) << 40);
        cr_expect_eq(parse_size("18446744073709551615", &v), 0);
        cr_expect_eq(v, UINT64_MAX);
        cr_expect_eq(parse_size("16777215T", &v), 0);
        cr_expect_eq(v, UINT64_C(16777215) << 40);
}

Test(parse_size, rejects_overflow_and_garbage)
{
        const char *bad[] = {"",   "-1", "+1",  " 1",  "1 ", "1.5",  "1.5M", "M",
                             "1k", "1m", "1KB", "1MM", "1P", "0x10", "1e3",  "1_000"};
        uint64_t v = 42;

        cr_expect_eq(parse_size("18446744073709551616", &v), -ERANGE);
        cr_expect_eq(parse_size("16777216T", &v), -ERANGE);
        cr_expect_eq(parse_size("17179869184G", &v), -ERANGE);
        cr_expect_eq(parse_size(NULL, &v), -EINVAL);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                cr_expect_eq(parse_size(bad[i], &v), -EINVAL, "accepted '%s'", bad[i]);
        cr_expect_eq(v, 42, "written on failure");
}

Test(config, defaults)
{
        struct vivarium_config c;
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(config_init(&c), 0);
        cr_expect_null(c.socket_path);
        cr_expect_eq(c.socket_mode, 0600);
        cr_expect_eq(c.max_connections, 256);
        cr_expect_eq(c.max_connections_per_uid, 64);
        cr_expect_eq(c.max_frame, 16 * MiB);
        cr_expect_eq(c.max_inflight, 64);
        cr_expect_eq(c.shutdown_grace_ms, 5000);
        cr_expect_eq(c.default_timeout_ms, 30000);
        cr_expect_eq(c.max_timeout_ms, 600000);
        cr_expect_eq(c.limits.memory_bytes, 512 * MiB);
        cr_expect_eq(c.limits.nproc, 64);
        cr_expect_eq(c.limits.cpu_milli, 0, "no CPU quota");
        cr_expect_eq(c.open_files, 1024);
        cr_expect_eq(c.file_size_bytes, 256 * MiB);
        cr_expect_eq(c.tmp_bytes, 64 * MiB);
        cr_expect_eq(c.workspace_bytes, 256 * MiB);
        cr_expect_eq(c.output_bytes, 1 * MiB);
        cr_expect_eq(c.max_images, 8);
        cr_expect_eq(c.max_image_bytes, 4 * MiB);
        cr_expect_eq(c.idle_workers, 2);
        cr_expect_eq(c.max_workers, 8);
        cr_expect_eq(c.queue_limit, 64);
        cr_expect_eq(c.startup_timeout_ms, 60000);
        /* The data stack, whichever of it is installed. */
        cr_assert_eq(strv_length(c.preload), 3);
        cr_expect_str_eq(c.preload[0], "numpy");
        cr_expect_str_eq(c.preload[1], "pandas");
        cr_expect_str_eq(c.preload[2], "matplotlib.pyplot");
        cr_expect(c.preload_if_installed);
        cr_expect_eq(config_validate(&c, &error), 0);
        config_done(&c);
        cr_expect_null(c.socket_path);
        cr_expect_null(c.preload);
}

Test(config, every_key_parsed)
{
        struct vivarium_config c;

        load_ok(&c, "[service]\n"
                    "socket = /srv/viv.sock\n"
                    "socket_mode = 0660\n"
                    "max_connections = 1000\n"
                    "max_connections_per_uid = 10\n"
                    "max_frame = 2M\n"
                    "max_inflight = 7\n"
                    "shutdown_grace = 1.25\n"
                    "[limits]\n"
                    "timeout = 2.5\n"
                    "max_timeout = 7200\n"
                    "memory = 1G\n"
                    "processes = 100\n"
                    "cpus = 0.5\n"
                    "open_files = 4096\n"
                    "file_size = 1T\n"
                    "tmp = 128M\n"
                    "workspace = 2G\n"
                    "output = 64K\n"
                    "max_images = 0\n"
                    "max_image_size = 512K\n"
                    "[pool]\n"
                    "idle_workers = 4\n"
                    "max_workers = 16\n"
                    "queue = 0\n"
                    "startup_timeout = 90\n"
                    "[environment.default]\n"
                    "preload = numpy,json\n");
        cr_expect_str_eq(c.socket_path, "/srv/viv.sock");
        cr_expect_eq(c.socket_mode, 0660);
        cr_expect_eq(c.max_connections, 1000);
        cr_expect_eq(c.max_connections_per_uid, 10);
        cr_expect_eq(c.max_frame, 2 * MiB);
        cr_expect_eq(c.max_inflight, 7);
        cr_expect_eq(c.shutdown_grace_ms, 1250);
        cr_expect_eq(c.default_timeout_ms, 2500);
        cr_expect_eq(c.max_timeout_ms, 7200000);
        cr_expect_eq(c.limits.memory_bytes, GiB);
        cr_expect_eq(c.limits.nproc, 100);
        cr_expect_eq(c.limits.cpu_milli, 500);
        cr_expect_eq(c.open_files, 4096);
        cr_expect_eq(c.file_size_bytes, UINT64_C(1) << 40);
        cr_expect_eq(c.tmp_bytes, 128 * MiB);
        cr_expect_eq(c.workspace_bytes, 2 * GiB);
        cr_expect_eq(c.output_bytes, 64 * 1024);
        cr_expect_eq(c.max_images, 0);
        cr_expect_eq(c.max_image_bytes, 512 * 1024);
        cr_expect_eq(c.idle_workers, 4);
        cr_expect_eq(c.max_workers, 16);
        cr_expect_eq(c.queue_limit, 0);
        cr_expect_eq(c.startup_timeout_ms, 90000);
        cr_assert_eq(strv_length(c.preload), 2);
        cr_expect_str_eq(c.preload[0], "numpy");
        cr_expect_str_eq(c.preload[1], "json");
        cr_expect_not(c.preload_if_installed, "a list someone wrote must import in full");
        config_done(&c);
}

Test(config, preload_empty_turns_the_default_off)
{
        struct vivarium_config c;

        load_ok(&c, "[environment.default]\npreload =\n");
        cr_assert_not_null(c.preload);
        cr_expect_null(c.preload[0]);
        cr_expect_not(c.preload_if_installed);
        config_done(&c);

        load_ok(&c, "[environment.default]\npreload = , ,\n");
        cr_assert_not_null(c.preload);
        cr_expect_null(c.preload[0], "only separators: empty too");
        config_done(&c);

        /* A file that does not mention preload keeps the default. */
        load_ok(&c, "[pool]\nidle_workers = 1\n");
        cr_expect_eq(strv_length(c.preload), 3);
        cr_expect(c.preload_if_installed);
        config_done(&c);
}

Test(config, sizes_take_suffixes_and_plain_bytes)
{
        struct vivarium_config c;

        load_ok(&c, "[limits]\nmemory = 16777216\ntmp = 1048576K\nworkspace = 3G\noutput = 4096\n"
                    "[service]\nmax_frame = 1K\n");
        cr_expect_eq(c.limits.memory_bytes, 16 * MiB);
        cr_expect_eq(c.tmp_bytes, GiB);
        cr_expect_eq(c.workspace_bytes, 3 * GiB);
        cr_expect_eq(c.output_bytes, 4096);
        cr_expect_eq(c.max_frame, 1024);
        config_done(&c);
}

struct edge {
        const char *section, *key;
        const char *lo, *below, *hi, *above; /* just inside and just outside each end */
        const char *rule;
};

static const struct edge edges[] = {
        {"service", "socket_mode", "0600", "0577", "0777", "01000", "between 0600 and 0777"},
        {"service", "max_connections", "1", "0", "65536", "65537", "between 1 and 65536"},
        {"service", "max_connections_per_uid", "1", "0", "65536", "65537", "between 1 and 65536"},
        {"service", "max_frame", "1K", "1023", "64M", "67108865", "between 1K and 64M"},
        {"service", "max_inflight", "1", "0", "4096", "4097", "between 1 and 4096"},
        {"service", "shutdown_grace", "0", NULL, "600", "600.001", "between 0 and 600"},
        {"limits", "timeout", "0.001", "0", "3600", "3600.001", "between 0.001 and 3600"},
        {"limits", "max_timeout", "0.001", "0", "86400", "86400.001", "between 0.001 and 86400"},
        {"limits", "memory", "16M", "16777215", "64G", "68719476737", "between 16M and 64G"},
        {"limits", "processes", "4", "3", "4096", "4097", "between 4 and 4096"},
        {"limits", "cpus", "0.01", "0.009", "1024", "1024.001", "between 0.01 and 1024"},
        {"limits", "open_files", "16", "15", "65536", "65537", "between 16 and 65536"},
        {"limits", "file_size", "1M", "1048575", "1T", "1099511627777", "between 1M and 1T"},
        {"limits", "tmp", "1M", "1023K", "64G", "65537M", "between 1M and 64G"},
        {"limits", "workspace", "1M", "1048575", "1T", "1048577M", "between 1M and 1T"},
        {"limits", "output", "4K", "4095", "256M", "268435457", "between 4K and 256M"},
        {"limits", "max_images", "0", NULL, "64", "65", "between 0 and 64"},
        {"limits", "max_image_size", "1K", "1023", "64M", "65537K", "between 1K and 64M"},
        {"pool", "idle_workers", "0", NULL, "64", "65", "between 0 and 64"},
        {"pool", "max_workers", "1", "0", "64", "65", "between 1 and 64"},
        {"pool", "queue", "0", NULL, "65536", "65537", "between 0 and 65536"},
        {"pool", "startup_timeout", "1", "0.999", "600", "600.001", "between 1 and 600"},
};

static void
edge_try(const struct edge *e, const char *value, bool good)
{
        _cleanup_free_ char *text = NULL, *why = NULL;
        struct vivarium_config c;

        if (!value)
                return;
        cr_assert_geq(asprintf(&text, "# edge\n[%s]\n%s = %s\n", e->section, e->key, value), 0);
        if (good) {
                load_ok(&c, text);
                config_done(&c);
                return;
        }
        cr_assert_geq(asprintf(&why, "%s = %s: must be %s", e->key, value, e->rule), 0);
        load_fails(text, 3, why);
}

Test(config, every_range_edge)
{
        for (size_t i = 0; i < ELEMENTSOF(edges); i++) {
                edge_try(&edges[i], edges[i].lo, true);
                edge_try(&edges[i], edges[i].hi, true);
                edge_try(&edges[i], edges[i].below, false);
                edge_try(&edges[i], edges[i].above, false);
        }
}

Test(config, huge_numbers_are_out_of_range_not_garbage)
{
        load_fails("[limits]\nprocesses = 99999999999999999999999\n", 2,
                   "processes = 99999999999999999999999: must be between 4 and 4096");
        load_fails("[limits]\nmemory = 99999999999T\n", 2,
                   "memory = 99999999999T: must be between 16M and 64G");
        load_fails("[limits]\ntimeout = 99999999999999999999\n", 2,
                   "timeout = 99999999999999999999: must be between 0.001 and 3600");
}

Test(config, values_that_do_not_parse)
{
        load_fails("[limits]\nprocesses = -1\n", 2, "processes = -1: not a decimal integer");
        load_fails("[limits]\nprocesses = 12 # twelve\n", 2,
                   "processes = 12 # twelve: not a decimal integer");
        load_fails("[limits]\nmemory = 1.5G\n", 2,
                   "memory = 1.5G: not a size (an integer with an optional K, M, G or T suffix)");
        load_fails("[limits]\nmemory =\n", 2,
                   "memory = : not a size (an integer with an optional K, M, G or T suffix)");
        load_fails("[limits]\ntimeout = 1s\n", 2, "timeout = 1s: not a number of seconds");
        load_fails("[limits]\ncpus = half\n", 2, "cpus = half: not a number of CPUs such as 0.5 or 2");
        load_fails("[limits]\ncpus = 50%\n", 2, "cpus = 50%: not a number of CPUs such as 0.5 or 2");
        load_fails("[limits]\ncpus = -1\n", 2, "cpus = -1: not a number of CPUs such as 0.5 or 2");
        load_fails("[service]\nsocket_mode = 0680\n", 2,
                   "socket_mode = 0680: not an octal mode such as 0660");
        load_fails("[service]\nsocket_mode = 0x1b0\n", 2,
                   "socket_mode = 0x1b0: not an octal mode such as 0660");
        load_fails("[service]\nsocket = run/viv.sock\n", 2,
                   "socket = run/viv.sock: must be an absolute path of at most 107 bytes");
}

Test(config, socket_path_length_limit)
{
        struct vivarium_config c;
        char path[109], text[160];

        memset(path, 'a', sizeof path - 1);
        path[0] = '/';
        path[107] = 0;
        snprintf(text, sizeof text, "[service]\nsocket = %s\n", path);
        load_ok(&c, text);
        cr_expect_str_eq(c.socket_path, path);
        config_done(&c);

        path[107] = 'a';
        path[108] = 0;
        snprintf(text, sizeof text, "[service]\nsocket = %s\n", path);
        cr_assert_eq(config_init(&c), 0);
        cr_expect_eq(load_text(&c, text, NULL), -EINVAL);
        config_done(&c);
}

Test(config, unknown_keys_and_sections_name_file_and_line)
{
        load_fails("[limits]\nmemory = 1G\n\nmemroy = 2G\n", 4, "unknown key 'memroy' in [limits]");
        load_fails("[service]\nmemory = 1G\n", 2, "unknown key 'memory' in [service]");
        load_fails("; comment\n[servcie]\nsocket_mode = 0600\n", 3, "unknown section [servcie]");
        load_fails("[environment]\npreload = json\n", 2, "unknown section [environment]");
        load_fails("memory = 1G\n", 1, "'memory' is not in any [section]");
}

Test(config, only_the_default_environment)
{
        load_fails("[environment.default]\npreload = json\n[environment.gpu]\npreload = torch\n", 4,
                   "[environment.gpu]: only the default environment is configurable so far");
}

Test(config, syntax_errors)
{
        load_fails("[limits]\nmemory 1G\n", 2, "expected '[section]', 'key = value' or a comment");
        load_fails("[limits\nmemory = 1G\n", 1, "expected '[section]', 'key = value' or a comment");
        /* The first error wins, whichever of inih and us found it. */
        load_fails("[limits]\nbogus\nmemroy = 1G\n", 2, "expected '[section]', 'key = value' or a comment");
        load_fails("[limits]\nmemroy = 1G\nbogus\n", 2, "unknown key 'memroy' in [limits]");
}

Test(config, indented_lines_are_not_continuations)
{
        struct vivarium_config c;

        /* inih would append "json" to preload's value; we want a loud error instead. */
        load_fails("[environment.default]\npreload = numpy,\n    json\n", 3,
                   "expected '[section]', 'key = value' or a comment");
        load_ok(&c, "[limits]\n  memory = 1G\n\tprocesses = 8\n");
        cr_expect_eq(c.limits.memory_bytes, GiB);
        cr_expect_eq(c.limits.nproc, 8);
        config_done(&c);
}

Test(config, long_lines_and_nul_bytes)
{
        char text[400];
        struct vivarium_config c;
        _cleanup_free_ char *error = NULL;

        snprintf(text, sizeof text, "[environment.default]\npreload = %0300d\n", 0);
        cr_assert_eq(config_init(&c), 0);
        cr_expect_eq(load_text(&c, text, &error), -EINVAL);
        cr_assert_not_null(error);
        cr_expect(strstr(error, ":2: line is longer than"), "%s", error);
        config_done(&c);

        static const char nul[] = "[limits]\nmemory = 1G\0\n";
        _cleanup_free_ char *error2 = NULL, *want = NULL;
        cr_assert_eq(config_init(&c), 0);
        cr_expect_eq(load_bytes(&c, nul, sizeof nul - 1, &error2), -EINVAL);
        cr_assert_geq(asprintf(&want, "%s:2: line contains a NUL byte", conf_path), 0);
        cr_expect_str_eq(error2, want);
        config_done(&c);
}

Test(config, comments_duplicates_and_empty_files)
{
        struct vivarium_config c, d;

        load_ok(&c, "");
        cr_assert_eq(config_init(&d), 0);
        expect_same(&c, &d);
        config_done(&c);

        load_ok(&c, "# comment\n; comment\n\n[limits]\nmemory = 1G ; inline\nmemory = 2G\n[pool]\n[limits]\n"
                    "processes = 5\n[environment.default]\npreload = a\npreload = b\n");
        cr_expect_eq(c.limits.memory_bytes, 2 * GiB, "last one wins");
        cr_expect_eq(c.limits.nproc, 5);
        cr_assert_eq(strv_length(c.preload), 1);
        cr_expect_str_eq(c.preload[0], "b");
        config_done(&c);
        config_done(&d);
}

Test(config, preload_lists)
{
        struct vivarium_config c;

        load_ok(&c, "[environment.default]\npreload =  numpy ,json,\tos.path , ,collections.abc  \n");
        cr_assert_eq(strv_length(c.preload), 4);
        cr_expect_str_eq(c.preload[0], "numpy");
        cr_expect_str_eq(c.preload[1], "json");
        cr_expect_str_eq(c.preload[2], "os.path");
        cr_expect_str_eq(c.preload[3], "collections.abc");
        config_done(&c);

        load_ok(&c, "[environment.default]\npreload =\n");
        cr_assert_not_null(c.preload);
        cr_expect_eq(strv_length(c.preload), 0);
        config_done(&c);

        load_fails("[environment.default]\npreload = numpy, 3d\n", 2,
                   "preload = numpy, 3d: '3d' is not a Python module name");
        load_fails("[environment.default]\npreload = num py\n", 2,
                   "preload = num py: 'num py' is not a Python module name");
        load_fails("[environment.default]\npreload = os..path\n", 2,
                   "preload = os..path: 'os..path' is not a Python module name");
}

Test(config, failed_load_changes_nothing)
{
        struct vivarium_config c, d;
        _cleanup_free_ char *error = NULL;

        load_ok(&c, "[service]\nsocket = /a.sock\n[environment.default]\npreload = json\n");
        cr_assert_eq(config_init(&d), 0);
        cr_assert_eq(config_load(&d, "/dev/null", NULL), 0);
        cr_expect_eq(load_text(&c,
                               "[service]\nsocket = /b.sock\n[limits]\nmemory = 1G\n"
                               "[environment.default]\npreload = numpy\n[pool]\nqueue = x\n",
                               &error),
                     -EINVAL);
        cr_expect_str_eq(c.socket_path, "/a.sock");
        cr_expect_eq(c.limits.memory_bytes, 512 * MiB);
        cr_assert_eq(strv_length(c.preload), 1);
        cr_expect_str_eq(c.preload[0], "json");
        config_done(&c);
        config_done(&d);
}

Test(config, loads_stack_over_each_other)
{
        struct vivarium_config c;

        load_ok(&c, "[service]\nsocket = /a.sock\n[limits]\nmemory = 1G\n");
        cr_assert_eq(load_text(&c, "[limits]\nprocesses = 9\n[service]\nsocket = /b.sock\n", NULL), 0);
        cr_expect_eq(c.limits.memory_bytes, GiB);
        cr_expect_eq(c.limits.nproc, 9);
        cr_expect_str_eq(c.socket_path, "/b.sock");
        config_done(&c);
}

Test(config, missing_file)
{
        struct vivarium_config c;
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(config_init(&c), 0);
        cr_expect_eq(config_load(&c, "/nonexistent/vivarium.conf", &error), -ENOENT);
        cr_assert_not_null(error);
        cr_expect_str_eq(error, "/nonexistent/vivarium.conf: No such file or directory");
        config_done(&c);
}

Test(config, validate_cross_field_rules)
{
        struct vivarium_config c;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;

        load_ok(&c, "[limits]\ntimeout = 60\nmax_timeout = 59.5\n");
        cr_expect_eq(config_validate(&c, &e1), -EINVAL);
        cr_expect_str_eq(e1,
                         "timeout = 60 is above max_timeout = 59.5: the default timeout must not exceed the "
                         "longest one allowed");
        config_done(&c);

        load_ok(&c, "[limits]\ntimeout = 60\nmax_timeout = 60\n[pool]\nidle_workers = 8\nmax_workers = 8\n");
        cr_expect_eq(config_validate(&c, NULL), 0);
        c.idle_workers = 9;
        cr_expect_eq(config_validate(&c, &e2), -EINVAL);
        cr_expect_str_eq(
                e2, "idle_workers = 9 is above max_workers = 8: idle workers count against the maximum");
        config_done(&c);

        /* Command-line overrides reach validate without the loader's checks. */
        cr_assert_eq(config_init(&c), 0);
        c.limits.memory_bytes = 1024;
        cr_expect_eq(config_validate(&c, &e3), -EINVAL);
        cr_expect_str_eq(e3, "memory = 1K: must be between 16M and 64G");
        config_done(&c);
}

Test(config, cpus)
{
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        _cleanup_free_ char *text = NULL, *why = NULL, *want = NULL;
        struct vivarium_config c;

        load_fails("[limits]\ncpus = 0\n", 2, "cpus = 0: must be between 0.01 and 1024");
        load_fails("[limits]\ncpus = 0.0001\n", 2, "cpus = 0.0001: must be between 0.01 and 1024");
        load_ok(&c, "[limits]\ncpus = 1.25\n");
        cr_expect_eq(c.limits.cpu_milli, 1250);
        config_done(&c);
        load_ok(&c, "[limits]\ncpus = .5\n");
        cr_expect_eq(c.limits.cpu_milli, 500);
        config_done(&c);

        /* As many CPUs as are online is the most a run could use. */
        cr_assert_gt(online, 0);
        cr_assert_geq(asprintf(&text, "[limits]\ncpus = %ld\n", online), 0);
        load_ok(&c, text);
        cr_expect_eq(config_validate(&c, NULL), 0);
        c.limits.cpu_milli += 1;
        cr_expect_eq(config_validate(&c, &why), -EINVAL);
        cr_assert_geq(asprintf(&want,
                               "cpus = %ld.001 is above the %ld CPU(s) online: a run could never use that "
                               "much, so it would limit nothing",
                               online, online),
                      0);
        cr_expect_str_eq(why, want);
        config_done(&c);
}

Test(config, validate_checks_overridden_strings)
{
        struct vivarium_config c;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;

        cr_assert_eq(config_init(&c), 0);
        c.socket_path = strdup("relative.sock");
        cr_expect_eq(config_validate(&c, &e1), -EINVAL);
        cr_expect_str_eq(e1, "socket = relative.sock: must be an absolute path of at most 107 bytes");
        config_done(&c);

        cr_assert_eq(config_init(&c), 0);
        c.preload = strv_free(c.preload);
        cr_assert_eq(parse_module_list("json", &c.preload), 0);
        cr_expect_eq(config_validate(&c, NULL), 0);
        free(c.preload[0]);
        c.preload[0] = strdup("not-a-module");
        cr_expect_eq(config_validate(&c, &e2), -EINVAL);
        cr_expect_str_eq(e2, "preload: 'not-a-module' is not a Python module name");
        config_done(&c);
}

/* config_socket_path() as seen by a non-root user: run in a child with another euid. */
static int
socket_path_as_nobody(const char *xdg, const char *want)
{
        pid_t pid = fork();
        int status;

        cr_assert_geq(pid, 0);
        if (pid == 0) {
                struct vivarium_config c = {0};
                char *p = NULL;
                int r;

                if (seteuid(65534) < 0)
                        _exit(3);
                if (xdg)
                        setenv("XDG_RUNTIME_DIR", xdg, 1);
                else
                        unsetenv("XDG_RUNTIME_DIR");
                r = config_socket_path(&c, &p);
                if (!want)
                        _exit(r == -ENOENT && !p ? 0 : 1);
                _exit(r == 0 && strcmp(p, want) == 0 ? 0 : 2);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

Test(config, socket_path)
{
        struct vivarium_config c;
        _cleanup_free_ char *a = NULL, *b = NULL, *d = NULL, *e = NULL;
        char *none = NULL;

        cr_assert_eq(config_init(&c), 0);
        setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
        cr_assert_eq(config_socket_path(&c, &a), 0);
        cr_expect_str_eq(a, "/run/user/4242/vivarium.sock");

        c.socket_path = strdup("/srv/v.sock");
        cr_assert_eq(config_socket_path(&c, &b), 0);
        cr_expect_str_eq(b, "/srv/v.sock");
        free(c.socket_path);
        c.socket_path = NULL;

        /* A relative XDG_RUNTIME_DIR is ignored, as if unset. */
        setenv("XDG_RUNTIME_DIR", "run/user/4242", 1);
        if (geteuid() == 0) {
                cr_assert_eq(config_socket_path(&c, &d), 0);
                cr_expect_str_eq(d, "/run/vivarium/vivarium.sock");
                unsetenv("XDG_RUNTIME_DIR");
                cr_assert_eq(config_socket_path(&c, &e), 0);
                cr_expect_str_eq(e, "/run/vivarium/vivarium.sock");
                cr_expect_eq(socket_path_as_nobody(NULL, NULL), 0);
                cr_expect_eq(socket_path_as_nobody("relative", NULL), 0);
                cr_expect_eq(socket_path_as_nobody("/run/user/65534", "/run/user/65534/vivarium.sock"), 0);
        } else {
                cr_expect_eq(config_socket_path(&c, &none), -ENOENT);
                unsetenv("XDG_RUNTIME_DIR");
                cr_expect_eq(config_socket_path(&c, &none), -ENOENT);
                cr_expect_null(none);
        }

        char longdir[120];
        memset(longdir, 'x', sizeof longdir - 1);
        longdir[0] = '/';
        longdir[sizeof longdir - 1] = 0;
        setenv("XDG_RUNTIME_DIR", longdir, 1);
        cr_expect_eq(config_socket_path(&c, &none), -ENAMETOOLONG);
        cr_expect_null(none);
        unsetenv("XDG_RUNTIME_DIR");
        config_done(&c);
}

Test(config, shipped_example_is_exactly_the_defaults)
{
        struct vivarium_config c, d;
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(config_init(&c), 0);
        cr_assert_eq(config_init(&d), 0);
        cr_assert_eq(config_load(&c, TOP_SRCDIR "/examples/vivarium.conf", &error), 0, "%s", error);
        cr_expect_eq(config_validate(&c, NULL), 0);
        expect_same(&c, &d);
        config_done(&c);
        config_done(&d);
}
