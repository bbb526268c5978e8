/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vivarium serve`: the daemon in the foreground. Reads vivarium.conf(5),
 * applies the command line over it, listens on the socket (its own, or the one
 * systemd passed: serve-systemd.c) and serves until SIGTERM or SIGINT, then
 * shuts down gracefully (server_shutdown()).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "cli.h"
#include "daemon-config.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "serve-systemd.h"
#include "server.h"

static const char serve_help[] =
        "Usage: vivarium serve [OPTIONS]\n"
        "\n"
        "Run the vivarium daemon in the foreground: a unix-socket RPC service with\n"
        "warm workers in a jail (see vivarium-serve(8), vivarium-protocol(7)).\n"
        "\n"
        "Options:\n"
        "      --socket PATH    listen on PATH (default: the configuration's, else\n"
        "                       $XDG_RUNTIME_DIR/vivarium.sock, or /run/vivarium/vivarium.sock as root);\n"
        "                       a socket passed by systemd (LISTEN_FDS) is served instead\n"
        "      --config FILE    read vivarium.conf(5) from FILE\n"
        "      --preload MODS   modules the default environment imports (e.g. numpy,json;\n"
        "                       default: numpy,pandas,matplotlib.pyplot, those installed;\n"
        "                       '' for none)\n"
        "      --workers N      warm idle workers to keep (0 to 64)\n"
        "  -h, --help           show this help\n";

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

int
cli_service_parse(int argc, char **argv, const char *command, struct serve_args *a, char **ret_error)
{
        static const struct option opts[] = {
                {"socket", required_argument, NULL, 's'},
                {"config", required_argument, NULL, 'c'},
                {"preload", required_argument, NULL, 'p'},
                {"workers", required_argument, NULL, 'w'},
                {"help", no_argument, NULL, 'h'},
                {"memory", required_argument, NULL, 'm'},
                {"processes", required_argument, NULL, 'P'},
                {"cpus", required_argument, NULL, 'C'},
                {},
        };
        bool mcp = strcmp(command, "mcp") == 0;
        uint64_t v;
        int c;

        *a = (struct serve_args){.workers = -1};
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (optarg[0] != '/')
                                return fail(ret_error, "invalid --socket '%s': give an absolute path",
                                            optarg);
                        a->socket = optarg;
                        break;
                case 'c':
                        a->config = optarg;
                        break;
                case 'p':
                        a->preload = strv_free(a->preload);
                        if (parse_module_list(optarg, &a->preload) < 0)
                                return fail(ret_error,
                                            "invalid --preload '%s': give module names like numpy,json",
                                            optarg);
                        break;
                case 'w':
                        if (parse_u64(optarg, &v) < 0 || v > 64)
                                return fail(ret_error, "invalid --workers '%s': give 0 to 64", optarg);
                        a->workers = (int64_t) v;
                        break;
                case 'h':
                        a->help = true;
                        break;
                case 'm':
                        if (!mcp || parse_u64(optarg, &v) < 0 || v < 16 || v > CLI_MEMORY_MAX_MIB)
                                goto bad_limit;
                        a->memory_mib = v;
                        break;
                case 'P':
                        if (!mcp || parse_u64(optarg, &v) < 0 || v < CLI_PROCESSES_MIN ||
                            v > CLI_PROCESSES_MAX)
                                goto bad_limit;
                        a->processes = v;
                        break;
                case 'C':
                        if (!mcp || parse_seconds_ms(optarg, CLI_CPU_MAX_MILLI, &v) < 0 ||
                            v < CLI_CPU_MIN_MILLI)
                                goto bad_limit;
                        a->cpu_milli = (uint32_t) v;
                        break;
                bad_limit:
                        if (!mcp)
                                return fail(ret_error,
                                            "unknown option '%s'; the daemon's limits are [limits] in "
                                            "vivarium.conf(5)",
                                            argv[optind - 1]);
                        return fail(ret_error,
                                    "invalid %s '%s': give --memory MiB 16 to 65536, --processes 4 to 4096, "
                                    "--cpus "
                                    "0.01 to 1024",
                                    c == 'm'   ? "--memory"
                                    : c == 'P' ? "--processes"
                                               : "--cpus",
                                    optarg);
                default:
                        return fail(ret_error,
                                    "unknown option or missing argument; see 'vivarium %s --help'", command);
                }
        }
        if (optind < argc)
                return fail(ret_error, "unexpected argument '%s'", argv[optind]);
        return 0;
}

struct serve_state {
        struct server *server;
        struct serve_notify *notify;
};

static int
on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
        struct serve_state *st = userdata;

        log_info("signal %d: shutting down", (int) si->ssi_signo);
        serve_notify_stopping(st->notify);
        server_shutdown(st->server);
        return 0;
}

int
cli_service_configure(const struct serve_args *a, struct vivarium_config *c)
{
        _cleanup_free_ char *error = NULL;
        int r = config_init(c);

        if (r >= 0 && a->config && (r = config_load(c, a->config, &error)) < 0)
                return log_error("%s", error ? error : "cannot read the configuration"), r;
        if (a->preload) {
                c->preload = strv_free(c->preload);
                c->preload = a->preload;
                c->preload_if_installed = false;
        }
        /* The embedded pool's own limits; a CPU quota only in the requests, so
         * that one that cannot be applied is refused, not ignored. */
        if (a->memory_mib > 0)
                c->limits.memory_bytes = a->memory_mib << 20;
        if (a->processes > 0)
                c->limits.nproc = a->processes;
        if (a->workers >= 0) {
                c->idle_workers = (uint32_t) a->workers;
                if (c->max_workers < c->idle_workers)
                        c->max_workers = c->idle_workers;
        }
        if (r >= 0 && (r = config_validate(c, &error)) < 0)
                return log_error("%s", error ? error : "invalid configuration"), r;
        return r;
}

static int
configure(const struct serve_args *a, bool activated, struct vivarium_config *c, char **ret_socket)
{
        int r = cli_service_configure(a, c);

        if (r < 0)
                return r;
        if (a->socket) {
                free(c->socket_path);
                c->socket_path = strdup(a->socket);
        }
        r = config_socket_path(c, ret_socket);
        if (r < 0 && activated)
                return 0; /* the service manager's socket is all we serve */
        if (r < 0)
                log_error("no socket path: pass --socket, set 'socket' in the configuration, or set "
                          "XDG_RUNTIME_DIR");
        return r;
}

/* Our own socket at path, or the one the service manager passed. */
static int
serve_listen(struct server *server, int activated, const char *path, char **ret_error)
{
        int r;

        if (activated < 0)
                return server_listen(server, path, ret_error);
        r = server_listen_fd(server, activated, ret_error);
        if (r >= 0 && path && server_listen_path(server) && strcmp(path, server_listen_path(server)) != 0)
                log_info("socket activation: serving %s from the service manager; %s is not bound",
                         server_listen_path(server), path);
        return r;
}

static int
serve(const struct vivarium_config *c, int activated, const char *path)
{
        _cleanup_free_ char *error = NULL;
        struct serve_state st = {};
        sd_event *event = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_new(&event);
        if (r >= 0)
                r = server_new(event, c, &st.server, &error);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, &st);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_signal, &st);
        if (r >= 0)
                r = serve_listen(st.server, activated, path, &error);
        if (r >= 0 && (r = server_lockdown(st.server)) < 0)
                error = strdup("the dispatcher could not lock itself down");
        if (r >= 0 && (r = serve_notify_new(event, st.server, &st.notify)) < 0)
                error = strdup("cannot set up the notification of the service manager");
        if (r < 0) {
                log_error_errno(r, "cannot start: %s", error ? error : "%m");
                server_free(st.server);
                sd_event_unref(event);
                return CLI_EXIT_EXCEPTION;
        }
        log_info("listening on %s%s", server_listen_path(st.server) ?: "the socket passed as fd 3",
                 activated >= 0 ? " (passed by the service manager)" : "");
        r = sd_event_loop(event);
        st.notify = serve_notify_free(st.notify);
        server_free(st.server);
        sd_event_unref(event);
        return r < 0 ? CLI_EXIT_EXCEPTION : CLI_EXIT_OK;
}

int
cli_serve(int argc, char **argv)
{
        _cleanup_free_ char *error = NULL, *path = NULL;
        struct serve_args a;
        struct vivarium_config c = {};
        int activated = -EBADF, r;

        if (log_get_level() < LOG_LEVEL_INFO && !getenv("VIVARIUM_LOG_LEVEL"))
                log_set_level(LOG_LEVEL_INFO);
        r = cli_service_parse(argc, argv, "serve", &a, &error);
        if (r < 0 || a.help) {
                if (r < 0)
                        log_error("%s", error);
                else
                        fputs(serve_help, stdout);
                strv_free(a.preload);
                return r < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        r = serve_systemd_listen_fd(&activated, &error);
        if (r < 0) {
                log_error("cannot start: %s", error ? error : "socket activation failed");
                strv_free(a.preload);
                return CLI_EXIT_EXCEPTION;
        }
        r = configure(&a, activated >= 0, &c, &path);
        if (r < 0) {
                config_done(&c);
                return CLI_EXIT_EXCEPTION;
        }
        r = serve(&c, activated, path);
        config_done(&c);
        return r;
}
