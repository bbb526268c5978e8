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
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "daemon-config.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "pool.h"
#include "server.h"

static const char run_help[] =
        "Usage: vivarium run [OPTIONS] (-c CODE | FILE | -)\n"
        "\n"
        "Run Python code in a fresh jail and print its output, then the value of its\n"
        "last expression. Standard input, when not a terminal, becomes the code's stdin.\n"
        "\n"
        "Options:\n"
        "  -c CODE             run CODE\n"
        "      --socket PATH   use the daemon on PATH (also $VIVARIUM_SOCKET); without,\n"
        "                      a daemon on the default socket is used if there is one\n"
        "      --no-daemon     run in a private jail even if a daemon is listening\n"
        "      --verbose       say on stderr whether a daemon or a private jail ran it\n"
        "      --timeout SECS  wall-clock deadline (default 30, at most 3600)\n"
        "      --memory MIB    memory limit (default 512; with a daemon, its limit,\n"
        "                      which this may lower)\n"
        "      --processes N   processes and threads (default 64; with a daemon, its\n"
        "                      limit, which this may lower)\n"
        "      --cpus N        CPU quota, fractions allowed (default: none; with a\n"
        "                      daemon, its quota, which this may lower)\n"
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

struct run_call {
        const struct run_args *args;
        struct run_request req;
        struct stream_sink sink;
        struct run_result result;
        bool got_result;
        bool daemon;         /* through a daemon's socket, not the embedded pool */
        uint64_t daemon_mib; /* the daemon's memory limit, asked after a memory kill; 0: unknown */
        int64_t error_code;
        char *error_message;
};

static void
print_result_text(const struct run_call *rc, struct stream_sink *sink)
{
        const struct run_result *r = &rc->result;
        uint64_t timeout_ms = rc->args->timeout_ms;
        char advice[400];

        uint64_t total[3] = {0, r->out_total, r->err_total};

        /* The server stops streaming at its own cap: count what it did not send too. */
        for (int i = 1; i <= 2; i++)
                if (total[i] > CLI_OUTPUT_CAP - sink->left[i] + sink->dropped[i])
                        sink->dropped[i] = total[i] - (CLI_OUTPUT_CAP - sink->left[i]);
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
        else if (r->status == RUN_MEMORY) {
                cli_memory_advice(rc->args, r, rc->daemon, rc->daemon_mib, advice, sizeof advice);
                fprintf(stderr, "vivarium: %s\n", advice);
        } else if (r->status != RUN_OK && r->status != RUN_EXCEPTION && r->status != RUN_MEMORY && r->detail)
                fprintf(stderr, "vivarium: %s\n", r->detail);
        if (r->n_images + r->images_omitted > 0)
                fprintf(stderr, "vivarium: %zu figure(s) not shown; use --json to receive them as PNG\n",
                        r->n_images + (size_t) r->images_omitted);
}

static void
pack_run_params(msgpack_packer *pk, const void *arg)
{
        const struct run_call *rc = arg;
        const struct run_args *a = rc->args;

        /* Only the limits given: the others stay the daemon's. */
        msgpack_pack_map(pk, 4 + (a->memory_mib > 0) + (a->processes > 0) + (a->cpu_milli > 0));
        if (a->memory_mib > 0)
                proto_pack_key_uint(pk, "memory_mb", a->memory_mib);
        if (a->processes > 0)
                proto_pack_key_uint(pk, "processes", a->processes);
        if (a->cpu_milli > 0)
                proto_pack_key_double(pk, "cpus", a->cpu_milli / 1000.0);
        proto_pack_str(pk, "code");
        proto_pack_strn(pk, rc->req.code, rc->req.code_len);
        proto_pack_key_bin(pk, "stdin", rc->req.stdin_data ? rc->req.stdin_data : "", rc->req.stdin_len);
        proto_pack_key_uint(pk, "timeout_ms", rc->req.timeout_ms);
        /* Plain mode prints output as it is produced; --json wants only the result. */
        proto_pack_key_bool(pk, "stream", !rc->args->json);
}

static int
on_run_message(const msgpack_object *m, void *userdata)
{
        struct run_call *rc = userdata;
        const msgpack_object *result;
        const char *ev, *data, *msg;
        size_t len, dlen;

        if (proto_map_get_str(m, "event", &ev, &len) == 0 &&
            proto_map_get_bytes(m, "data", &data, &dlen) == 0) {
                sink_write(&rc->sink, len == 6 && memcmp(ev, "stdout", 6) == 0 ? 1 : 2, data, dlen);
                return 0;
        }
        if (rpc_error_of(m, &rc->error_code, &msg, &len)) {
                rc->error_message = strndup(msg, len);
                return 1;
        }
        if (proto_map_get_map(m, "result", &result) < 0)
                return -EBADMSG;
        rc->got_result = true;
        return run_result_unpack(result, &rc->result) < 0 ? -EBADMSG : 1;
}

/* The embedded dispatcher: one jail, one zygote, one worker, for this run,
 * built by the dispatcher itself (the pool's one-shot mode: no keeper, no
 * spawner, no interpreter in the zygote, no preloading but --preload). As
 * root it drops to the service user as `vivarium serve` does, once the jail
 * is built. */
static int
start_embedded(sd_event *event, const struct run_args *a, struct server **ret_server, int *ret_fd,
               char **ret_error)
{
        struct vivarium_config config;
        struct ucred self = {getpid(), getuid(), getgid()};
        char **own_preload;
        int pair[2], r;

        r = config_init(&config);
        if (r < 0)
                return r;
        /* Lend the arguments' list; config_done() frees the one config_init() made. */
        own_preload = config.preload;
        /* The run's own limits, which the request carries too; a CPU quota only
         * there, so that one that cannot be applied is refused, not ignored. */
        if (a->memory_mib > 0)
                config.limits.memory_bytes = a->memory_mib << 20;
        if (a->processes > 0)
                config.limits.nproc = a->processes;
        /* Lazy: the data stack only when asked for (--preload). */
        config.preload = a->preload;
        config.preload_if_installed = false;
        config.idle_workers = 1;
        config.max_workers = 1;
        config.queue_limit = 1;
        config.max_timeout_ms = CLI_TIMEOUT_MAX_MS;
        /* The one-shot jail's group is made before the request arrives, with
         * the service's limits: give it the run's quota from the start (the
         * request still carries it, and is refused if it cannot hold). */
        config.limits.cpu_milli = a->cpu_milli;
        config.oneshot = true;
        r = server_new(event, &config, ret_server, ret_error);
        config.preload = own_preload;
        config_done(&config);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        r = server_add_connection(*ret_server, pair[0], &self);
        if (r < 0) {
                safe_close(pair[0]);
                safe_close(pair[1]);
                return r;
        }
        /* (the connection owns pair[0] now) */
        r = server_lockdown(*ret_server);
        if (r < 0) {
                safe_close(pair[1]);
                return r;
        }
        *ret_fd = pair[1];
        return 0;
}

/* For --verbose: where the private jail's limits come from. */
static void
describe_embedded(struct server *s, FILE *f)
{
        struct server_load load;

        server_get_load(s, &load);
        fprintf(f, "vivarium: cgroup %s; cgroup scope: %s\n", load.cgroup, load.cgroup_scope);
}

/* The option behind a limit the daemon refused, for a message in the user's terms. */
static const char *
refused_option(const char *message)
{
        static const char *const map[][2] = {
                {"params.memory_mb", "--memory"},
                {"params.processes", "--processes"},
                {"params.cpus", "--cpus"},
        };

        for (size_t i = 0; message && i < ELEMENTSOF(map); i++)
                if (strncmp(message, map[i][0], strlen(map[i][0])) == 0)
                        return map[i][1];
        return NULL;
}

static int
report_error(struct run_call *rc)
{
        const char *hint = NULL, *option = refused_option(rc->error_message);

        if (rc->error_code == RPC_INVALID_PARAMS && option) {
                log_error("%s refused: %s", option, rc->error_message);
                return CLI_EXIT_USAGE;
        }

        if (rc->error_message && strstr(rc->error_message, "uid_map"))
                hint = pool_error_hint(-EPERM);
        log_error("%s%s%s", rc->error_message ? rc->error_message : "the request failed", hint ? "; " : "",
                  hint ? hint : "");
        return rc->error_code == RPC_INVALID_PARAMS ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
}

static int
on_status_limits(const msgpack_object *m, void *userdata)
{
        struct run_call *rc = userdata;
        const msgpack_object *result, *limits;

        if (proto_map_get_map(m, "result", &result) == 0 &&
            proto_map_get_map(result, "limits", &limits) == 0)
                (void) proto_map_get_uint(limits, "memory_mb", &rc->daemon_mib);
        return 1;
}

/* After a memory kill, what to advise depends on the daemon's limit: ask
 * for it on a connection of its own (best effort; 0 if it cannot be had). */
static void
ask_daemon_memory(const char *socket_path, struct run_call *rc)
{
        _cleanup_free_ char *error = NULL;
        struct rpc_client *client = NULL;
        sd_event *event = NULL;
        int fd = -EBADF;

        if (sd_event_new(&event) < 0)
                return;
        /* (rpc_client_new() owns the descriptor, also when it fails) */
        if (rpc_connect(socket_path, &fd, &error) >= 0 && rpc_client_new(event, fd, &client) >= 0)
                (void) rpc_client_call(client, "status", NULL, NULL, on_status_limits, rc);
        rpc_client_free(client);
        sd_event_unref(event);
}

static int
call_run(sd_event *event, int fd, struct run_call *rc)
{
        struct rpc_client *client = NULL;
        int r = rpc_client_new(event, fd, &client);

        if (r < 0) {
                safe_close(fd);
                return r;
        }
        r = rpc_client_call(client, "run", pack_run_params, rc, on_run_message, rc);
        rpc_client_free(client);
        return r;
}

static int
execute(const struct run_args *a)
{
        _cleanup_free_ char *code = NULL, *input = NULL, *error = NULL;
        struct cli_daemon dest;
        struct run_call rc = {.args = a};
        struct server *server = NULL;
        sd_event *event = NULL;
        size_t code_len, input_len;
        bool embedded = false;
        int fd = -EBADF, r;

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
        rc.req = (struct run_request){.code = code,
                                      .code_len = code_len,
                                      .stdin_data = input,
                                      .stdin_len = input_len,
                                      .timeout_ms = a->timeout_ms};
        rc.sink.left[1] = rc.sink.left[2] = CLI_OUTPUT_CAP;
        /* Big enough for the server's head, marker and tail: nothing is cut twice. */
        if (capbuf_init(&rc.result.out, CLI_OUTPUT_CAP, CLI_OUTPUT_CAP) < 0 ||
            capbuf_init(&rc.result.err, CLI_OUTPUT_CAP, CLI_OUTPUT_CAP) < 0 || sd_event_new(&event) < 0)
                return log_error("out of memory"), CLI_EXIT_FAILURE;
        r = cli_daemon_find(a->socket, a->no_daemon, &dest, &error);
        if (r >= 0 && a->verbose)
                cli_daemon_describe(&dest, stderr);
        embedded = r >= 0 && dest.fd < 0;
        rc.daemon = r >= 0 && !embedded;
        if (r >= 0 && !embedded)
                fd = TAKE_FD(dest.fd);
        else if (r >= 0)
                r = start_embedded(event, a, &server, &fd, &error);
        if (r >= 0 && embedded && a->verbose)
                describe_embedded(server, stderr);
        if (r >= 0)
                r = call_run(event, fd, &rc);
        server_free(server);
        sd_event_unref(event);
        if (r < 0) {
                const char *hint = embedded ? pool_error_hint(r) : NULL;
                if (error)
                        log_error("%s", error); /* it already says what failed and why */
                else
                        log_error_errno(r, "could not run the code: %m%s%s", hint ? "; " : "",
                                        hint ? hint : "");
                r = CLI_EXIT_FAILURE;
        } else if (!rc.got_result)
                r = report_error(&rc);
        else {
                if (rc.daemon && dest.path && rc.result.status == RUN_MEMORY && !a->json)
                        ask_daemon_memory(dest.path, &rc);
                if (a->json)
                        cli_print_result_json(stdout, &rc.result);
                else
                        print_result_text(&rc, &rc.sink);
                fflush(stdout);
                r = cli_status_exit_code(rc.result.status);
        }
        free(rc.error_message);
        run_result_done(&rc.result);
        cli_daemon_done(&dest);
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
