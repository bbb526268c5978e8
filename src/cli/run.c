/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vivarium run`: run code once in a fresh jail on the embedded pool and
 * behave like the interactive interpreter: the code's output as it is
 * produced, then the value's repr on stdout, or the traceback on stderr.
 * The exit status says what happened (cli.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "pool.h"

static const char run_help[] =
        "Usage: vivarium run [OPTIONS] (-c CODE | FILE | -)\n"
        "\n"
        "Run Python code in a fresh jail and print its output, then the value of its\n"
        "last expression. Standard input, when not a terminal, becomes the code's stdin.\n"
        "\n"
        "Options:\n"
        "  -c CODE             run CODE\n"
        "      --timeout SECS  wall-clock deadline (default 30, at most 3600)\n"
        "      --memory MIB    memory limit (default 512)\n"
        "      --preload MODS  comma-separated modules to import before the code runs\n"
        "      --json          print one JSON object with the whole result\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 ok, 1 exception or crash, 2 usage, 124 timeout,\n"
        "137 memory limit or killed, 125 vivarium failed.\n";

struct stream_sink {
        size_t left[3]; /* bytes still allowed through, per stream */
        uint64_t dropped[3];
};

static void
sink_write(void *userdata, int stream, const void *data, size_t size)
{
        struct stream_sink *s = userdata;
        size_t n = MIN(size, s->left[stream]);

        if (n > 0)
                (void) loop_write(stream, data, n);
        s->left[stream] -= n;
        s->dropped[stream] += size - n;
}

static int
read_code(const struct run_args *a, char **ret, size_t *ret_len)
{
        if (a->code) {
                *ret = strdup(a->code);
                *ret_len = strlen(a->code);
                return *ret ? 0 : -ENOMEM;
        }
        if (strcmp(a->file, "-") == 0)
                return read_fd_bounded(STDIN_FILENO, CLI_INPUT_MAX, ret, ret_len);
        return read_file_bounded(a->file, CLI_INPUT_MAX, ret, ret_len);
}

static int
read_stdin(const struct run_args *a, char **ret, size_t *ret_len)
{
        *ret = NULL;
        *ret_len = 0;
        /* A terminal is not forwarded (the jail has none); code read from '-' used it up. */
        if ((a->file && strcmp(a->file, "-") == 0) || isatty(STDIN_FILENO) ||
            fcntl(STDIN_FILENO, F_GETFD) < 0)
                return 0;
        return read_fd_bounded(STDIN_FILENO, CLI_INPUT_MAX, ret, ret_len);
}

static void
print_result_text(const struct run_result *r, const struct stream_sink *sink, uint64_t timeout_ms)
{
        for (int i = 1; i <= 2; i++)
                if (sink->dropped[i] > 0)
                        fprintf(stderr, "vivarium: %s truncated, %llu bytes not shown\n",
                                i == 1 ? "stdout" : "stderr", (unsigned long long) sink->dropped[i]);
        if (r->value)
                printf("%s\n", r->value);
        if (r->has_exception)
                fputs(r->exc_traceback, stderr);
        if (r->status == RUN_TIMEOUT)
                fprintf(stderr, "vivarium: timed out after %.3g s; raise --timeout (at most 3600)\n",
                        (double) timeout_ms / 1000.0);
        else if (r->status == RUN_MEMORY && !r->has_exception)
                fputs("vivarium: the code ran out of memory and was killed; raise --memory\n", stderr);
        else if (r->status != RUN_OK && r->status != RUN_EXCEPTION && r->status != RUN_MEMORY && r->detail)
                fprintf(stderr, "vivarium: %s\n", r->detail);
        if (r->n_images + r->images_omitted > 0)
                fprintf(stderr, "vivarium: %zu figure(s) not shown; use --json to receive them as PNG\n",
                        r->n_images + (size_t) r->images_omitted);
}

static int
execute(const struct run_args *a)
{
        _cleanup_free_ char *code = NULL, *input = NULL, *error = NULL;
        size_t code_len, input_len;
        struct pool_config config;
        struct run_result result;
        struct stream_sink s = {};
        struct pool_output_sink sink = {sink_write, &s};
        int r;

        r = read_code(a, &code, &code_len);
        if (r < 0) {
                log_error_errno(r, "cannot read the code from %s: %m", a->code ? "-c" : a->file);
                return r == -ENOENT || r == -EFBIG ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
        }
        r = read_stdin(a, &input, &input_len);
        if (r < 0) {
                log_error_errno(r, "cannot read standard input (at most 16 MiB): %m");
                return CLI_EXIT_FAILURE;
        }
        pool_config_init(&config);
        config.memory_bytes = a->memory_mib << 20;
        config.preload = a->preload;
        s.left[1] = config.output_head + config.output_tail;
        s.left[2] = config.output_head + config.output_tail;
        struct run_request req = {code, code_len, input, input_len, a->timeout_ms};
        r = pool_run_once(&config, &req, a->json ? NULL : &sink, &result, &error);
        if (r == -ENOEXEC && error) {
                /* The zygote could not start (a preload failed): its message is complete. */
                log_error("%s", error);
                return CLI_EXIT_FAILURE;
        }
        if (r < 0) {
                const char *hint = pool_error_hint(r);
                log_error_errno(r, "%s: %m%s%s", error ? error : "could not run the code", hint ? "; " : "",
                                hint ? hint : "");
                return CLI_EXIT_FAILURE;
        }
        if (a->json)
                cli_print_result_json(stdout, &result);
        else
                print_result_text(&result, &s, a->timeout_ms);
        fflush(stdout);
        r = cli_status_exit_code(result.status);
        run_result_done(&result);
        return r;
}

int
cli_run(int argc, char **argv)
{
        _cleanup_free_ char *error = NULL;
        struct run_args a;
        int r = cli_run_parse(argc, argv, &a, &error);

        if (r < 0) {
                log_error("%s", error ? error : "invalid arguments");
                run_args_done(&a);
                return CLI_EXIT_USAGE;
        }
        if (a.help) {
                fputs(run_help, stdout);
                run_args_done(&a);
                return CLI_EXIT_OK;
        }
        r = execute(&a);
        run_args_done(&a);
        return r;
}
