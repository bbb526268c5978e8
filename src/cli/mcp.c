/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vivarium mcp`: the MCP face on stdin and stdout (vivarium-mcp(1)). Embeds
 * the dispatcher and pool of `vivarium serve` on this process's loop and
 * talks to it over a socketpair, or forwards to a daemon with --socket.
 *
 * stdout belongs to the protocol alone: before anything else starts, the
 * client's stdin and stdout move to private descriptors, fd 1 becomes a copy
 * of stderr and fd 0 /dev/null, so no log line, no child and no library can
 * put a stray byte into the stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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
#include "mcp.h"
#include "parse-util.h"
#include "pool.h"
#include "server.h"
#include "time-util.h"

/* All image blocks of one execute_python result, as base64 (4.5 MiB of PNG). */
#define MCP_IMAGE_BUDGET (6u << 20)
/* How long output still queued at exit may take to reach the client. */
#define MCP_EXIT_FLUSH_USEC (2 * USEC_PER_SEC)

static const char mcp_help[] =
        "Usage: vivarium mcp [OPTIONS]\n"
        "\n"
        "Serve the Model Context Protocol on standard input and output, for MCP hosts\n"
        "that start it as a subprocess (see vivarium-mcp(1)). Tools: execute_python,\n"
        "health_check. Speaks protocol 2024-11-05 to 2025-11-25 (initialize) and\n"
        "2026-07-28 (stateless).\n"
        "\n"
        "Options:\n"
        "      --socket PATH    forward to the daemon on PATH (also $VIVARIUM_SOCKET)\n"
        "                       instead of running a private pool\n"
        "      --config FILE    read vivarium.conf(5) from FILE\n"
        "      --preload MODS   modules the default environment imports (e.g. numpy,json;\n"
        "                       default: numpy,pandas,matplotlib.pyplot, those installed;\n"
        "                       '' for none)\n"
        "      --workers N      warm idle workers to keep (0 to 64)\n"
        "      --memory MIB     memory limit of each call (16 to 65536; with a daemon,\n"
        "                       at most its limit)\n"
        "      --processes N    processes and threads of each call (4 to 4096)\n"
        "      --cpus N         CPU quota of each call, fractions allowed (0.5)\n"
        "  -h, --help           show this help\n";

struct mcp_run {
        sd_event *event;
        const char *socket_path; /* a daemon's, or NULL: the embedded dispatcher */
        struct server *server;
        struct mcp_server *mcp;
};

/* Take the client's descriptors for the protocol and make fd 0 and 1 harmless. */
static int
claim_stdio(int *ret_in, int *ret_out)
{
        int in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3), out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3),
            null;

        if (in < 0 || out < 0)
                goto fail;
        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
                safe_close(null);
                goto fail;
        }
        safe_close(null);
        *ret_in = in;
        *ret_out = out;
        return 0;
fail:
        safe_close(in);
        safe_close(out);
        return -errno;
}

/* A connection to the dispatcher: the daemon's socket, or a new socketpair
 * whose other end the embedded dispatcher serves. */
static int
connect_service(sd_event *event, void *userdata, struct rpc_client **ret, char **ret_error)
{
        struct mcp_run *run = userdata;
        struct ucred self = {getpid(), getuid(), getgid()};
        int pair[2], r;

        if (run->socket_path)
                r = rpc_connect(run->socket_path, &pair[1], ret_error);
        else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                r = -errno;
        else if ((r = server_add_connection(run->server, pair[0], &self)) < 0) {
                safe_close(pair[0]);
                safe_close(pair[1]);
        }
        if (r < 0)
                return r;
        r = rpc_client_new(event, pair[1], ret);
        if (r < 0)
                safe_close(pair[1]);
        return r;
}

static void
on_done(struct mcp_server *m, void *userdata)
{
        (void) sd_event_exit(userdata, 0);
}

static int
on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
        struct mcp_run *run = userdata;

        log_info("signal %d: stopping", (int) si->ssi_signo);
        mcp_server_shutdown(run->mcp);
        return 0;
}

static int
serve_mcp(const struct serve_args *a, const struct vivarium_config *c)
{
        _cleanup_free_ char *error = NULL;
        struct mcp_limits limits = {
                .default_timeout_ms = c->default_timeout_ms,
                .max_timeout_ms = c->max_timeout_ms,
                .max_image_bytes = c->max_image_bytes,
                .image_budget_bytes = MCP_IMAGE_BUDGET,
                .max_line = (size_t) c->max_frame * 2,
                .max_request = c->max_frame,
                .run_memory_mb = a->memory_mib,
                .run_processes = a->processes,
                .run_cpu_milli = a->cpu_milli,
        };
        struct mcp_run run = {.socket_path = cli_socket_from_env(a->socket)};
        int in_fd = -EBADF, out_fd = -EBADF, r;
        bool pool_failed = false;
        sigset_t mask;

        r = claim_stdio(&in_fd, &out_fd);
        if (r < 0)
                return log_error_errno(r, "cannot take over standard input and output: %m"),
                       CLI_EXIT_EXCEPTION;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);
        r = sd_event_new(&run.event);
        if (r >= 0 && !run.socket_path) {
                r = server_new(run.event, c, &run.server, &error);
                pool_failed = r < 0 && !error;
        }
        if (r >= 0) {
                r = mcp_server_new(run.event, in_fd, out_fd, connect_service, &run, &limits, &run.mcp,
                                   &error);
                in_fd = out_fd = -EBADF; /* taken over, even on failure */
        }
        if (r >= 0)
                r = sd_event_add_signal(run.event, NULL, SIGTERM, on_signal, &run);
        if (r >= 0)
                r = sd_event_add_signal(run.event, NULL, SIGINT, on_signal, &run);
        /* The embedded dispatcher locks itself down as `vivarium serve` does. */
        if (r >= 0 && run.server)
                r = server_lockdown(run.server);
        if (r >= 0) {
                mcp_server_set_done(run.mcp, on_done, run.event);
                if (run.socket_path)
                        log_info("serving MCP on stdio through %s", run.socket_path);
                r = sd_event_loop(run.event);
                mcp_server_flush(run.mcp, MCP_EXIT_FLUSH_USEC);
        } else {
                const char *hint = pool_failed ? pool_error_hint(r) : NULL;
                if (error)
                        log_error("%s", error); /* it already says what failed and why */
                else
                        log_error_errno(r, "cannot start: %m%s%s", hint ? "; " : "", hint ?: "");
        }
        safe_close(in_fd);
        safe_close(out_fd);
        /* The MCP server first: its connection's end tells the dispatcher to
         * stop what still runs. */
        mcp_server_free(run.mcp);
        server_free(run.server);
        sd_event_unref(run.event);
        return r < 0 ? CLI_EXIT_EXCEPTION : CLI_EXIT_OK;
}

int
cli_mcp(int argc, char **argv)
{
        _cleanup_free_ char *error = NULL;
        struct vivarium_config c = {};
        struct serve_args a;
        int r;

        if (log_get_level() > LOG_LEVEL_WARNING && !getenv("VIVARIUM_LOG_LEVEL"))
                log_set_level(LOG_LEVEL_WARNING);
        r = cli_service_parse(argc, argv, "mcp", &a, &error);
        if (r < 0 || a.help) {
                if (r < 0)
                        log_error("%s", error);
                else
                        fputs(mcp_help, stdout);
                strv_free(a.preload);
                return r < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        if (cli_socket_from_env(a.socket) && (a.workers >= 0 || a.preload))
                log_warning("--workers and --preload have no effect with a daemon's socket: its pool serves "
                            "the calls");
        r = cli_service_configure(&a, &c);
        if (r >= 0)
                r = serve_mcp(&a, &c);
        else
                r = CLI_EXIT_EXCEPTION;
        config_done(&c);
        return r;
}
