/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vivarium status`: ask a running daemon for its figures and print them,
 * as a short report or (--json) as the server sent them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "log.h"
#include "macro.h"
#include "msg.h"

static const char status_help[] =
        "Usage: vivarium status [--json] [--socket PATH]\n"
        "\n"
        "Show a running daemon's pool and service figures and its isolation mode.\n"
        "The socket is --socket, else $VIVARIUM_SOCKET, else the default path\n"
        "($XDG_RUNTIME_DIR/vivarium.sock, or /run/vivarium/vivarium.sock as root), used\n"
        "only if it is yours or root's in a directory nobody else can write.\n";

int
cli_status_parse(int argc, char **argv, struct status_args *a, char **ret_error)
{
        static const struct option opts[] = {
                {"socket", required_argument, NULL, 's'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;

        *a = (struct status_args){};
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
                if (c == 's')
                        a->socket = optarg;
                else if (c == 'j')
                        a->json = true;
                else if (c == 'h')
                        a->help = true;
                else
                        return asprintf(ret_error,
                                        "unknown option or missing argument; see 'vivarium status --help'") <
                                               0
                                       ? -ENOMEM
                                       : -EINVAL;
        }
        if (optind < argc)
                return asprintf(ret_error, "unexpected argument '%s'", argv[optind]) < 0 ? -ENOMEM : -EINVAL;
        return 0;
}

struct status_call {
        bool json;
        bool ok;
};

static uint64_t
u(const msgpack_object *m, const char *key)
{
        uint64_t v = 0;

        (void) proto_map_get_uint(m, key, &v);
        return v;
}

static void
print_str(const msgpack_object *m, const char *key)
{
        const char *s = "";
        size_t n = 0;

        (void) proto_map_get_str(m, key, &s, &n);
        printf("%.*s", (int) n, s);
}

static void
print_report(const msgpack_object *r)
{
        const msgpack_object *iso = NULL, *envs = NULL, *req = NULL, *lim = NULL;
        const char *scope = NULL;
        size_t scope_len = 0;
        bool landlock = false;
        double cpus = 0;

        (void) proto_map_get_map(r, "isolation", &iso);
        (void) proto_map_get_array(r, "environments", &envs);
        (void) proto_map_get_map(r, "requests", &req);
        printf("vivarium ");
        print_str(r, "version");
        printf(", %llu connection(s)\n", (unsigned long long) u(r, "connections"));
        if (iso) {
                (void) proto_map_get_bool(iso, "landlock", &landlock);
                (void) proto_map_get_double(iso, "cpus", &cpus);
                printf("isolation: ");
                print_str(iso, "mode");
                printf(" mode, id map ");
                print_str(iso, "idmap");
                printf(", cgroup ");
                print_str(iso, "cgroup");
                if (cpus > 0)
                        printf(", cpus %g", cpus);
                else
                        printf(", cpus unlimited");
                printf(", landlock %s, seccomp\n", landlock ? "yes" : "no");
                if (proto_map_get_str(iso, "cgroup_scope", &scope, &scope_len) == 0)
                        printf("cgroup scope: %.*s\n", (int) scope_len, scope);
                if (proto_map_get_str(iso, "memory", &scope, &scope_len) == 0) {
                        printf("memory: %.*s", (int) scope_len, scope);
                        if (scope_len == 8 && memcmp(scope, "watchdog", 8) == 0)
                                printf(" every %llu ms", (unsigned long long) u(iso, "memory_period_ms"));
                        printf("\n");
                }
        }
        if (proto_map_get_map(r, "limits", &lim) == 0) {
                cpus = 0;
                (void) proto_map_get_double(lim, "cpus", &cpus);
                printf("limits per run: memory %llu MiB, %llu processes, ",
                       (unsigned long long) u(lim, "memory_mb"), (unsigned long long) u(lim, "processes"));
                if (cpus > 0)
                        printf("cpus %g", cpus);
                else
                        printf("no CPU quota");
                printf(", timeout %g s (at most %g s)\n", (double) u(lim, "timeout_ms") / 1000.0,
                       (double) u(lim, "max_timeout_ms") / 1000.0);
        }
        printf("workers: %llu idle, %llu busy; queue %llu\n", (unsigned long long) u(r, "idle_workers"),
               (unsigned long long) u(r, "busy_workers"), (unsigned long long) u(r, "queue_depth"));
        for (uint32_t i = 0; envs && i < envs->via.array.size; i++) {
                const msgpack_object *e = &envs->via.array.ptr[i];
                printf("environment ");
                print_str(e, "name");
                printf(": ");
                print_str(e, "state");
                printf(", %llu restart(s)\n", (unsigned long long) u(e, "restarts"));
        }
        if (req)
                printf("requests: %llu served (%llu ok, %llu exception, %llu timeout, %llu memory), %llu "
                       "errors\n",
                       (unsigned long long) u(req, "served"), (unsigned long long) u(req, "ok"),
                       (unsigned long long) u(req, "exception"), (unsigned long long) u(req, "timeout"),
                       (unsigned long long) u(req, "memory"), (unsigned long long) u(req, "errors"));
}

static int
on_status(const msgpack_object *m, void *userdata)
{
        struct status_call *sc = userdata;
        const msgpack_object *r;
        const char *msg;
        size_t len;
        int64_t code;

        if (rpc_error_of(m, &code, &msg, &len)) {
                log_error("the daemon answered error %lld: %.*s", (long long) code, (int) len, msg);
                return 1;
        }
        if (proto_map_get_map(m, "result", &r) < 0)
                return -EBADMSG;
        sc->ok = true;
        if (sc->json) {
                json_write_msgpack(stdout, r);
                putchar('\n');
        } else
                print_report(r);
        return 1;
}

int
cli_status(int argc, char **argv)
{
        _cleanup_free_ char *error = NULL;
        struct cli_daemon dest;
        struct status_call sc = {};
        struct status_args a;
        struct rpc_client *client = NULL;
        sd_event *event = NULL;
        int fd = -EBADF, r;

        r = cli_status_parse(argc, argv, &a, &error);
        if (r < 0 || a.help) {
                if (r < 0)
                        log_error("%s", error);
                else
                        fputs(status_help, stdout);
                return r < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        /* The same choice as `vivarium run`'s, but nothing to fall back to. */
        r = cli_daemon_find(a.socket, false, &dest, &error);
        if (r >= 0 && dest.fd < 0) {
                log_error("no daemon on the default socket%s%s: %s; start one (vivarium-serve(8)) or pass "
                          "--socket",
                          dest.path ? " " : "", dest.path ? dest.path : "",
                          dest.reason ? dest.reason : "unknown");
                r = dest.path ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
                cli_daemon_done(&dest);
                return r;
        }
        sc.json = a.json;
        fd = TAKE_FD(dest.fd);
        cli_daemon_done(&dest);
        if (r >= 0)
                r = sd_event_new(&event);
        if (r >= 0)
                r = rpc_client_new(event, fd, &client);
        if (r >= 0)
                r = rpc_client_call(client, "status", NULL, NULL, on_status, &sc);
        rpc_client_free(client);
        sd_event_unref(event);
        if (r < 0)
                log_error_errno(r, "%s", error ? error : "status failed: %m");
        fflush(stdout);
        return r >= 0 && sc.ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
