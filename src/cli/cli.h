/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vivarium(1): subcommands and their shared helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <msgpack.h>

#include "run.h"

/* Exit statuses of vivarium run (vivarium(1), EXIT STATUS). */
enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_EXCEPTION = 1,
        CLI_EXIT_USAGE = 2,
        CLI_EXIT_TIMEOUT = 124,
        CLI_EXIT_FAILURE = 125,
        CLI_EXIT_KILLED = 137,
};

#define CLI_TIMEOUT_DEFAULT_MS 30000u
#define CLI_TIMEOUT_MAX_MS 3600000u
#define CLI_MEMORY_MAX_MIB (64u * 1024u)
#define CLI_PROCESSES_MIN 4u
#define CLI_PROCESSES_MAX 4096u
#define CLI_CPU_MIN_MILLI 10u
#define CLI_CPU_MAX_MILLI (1024u * 1000u)
#define CLI_INPUT_MAX (16u << 20)
/* Output shown per stream in plain mode, and kept per stream for --json. */
#define CLI_OUTPUT_CAP (1u << 20)

struct run_args {
        uint64_t timeout_ms;
        /* Limits asked for on the command line; 0: not given (the daemon's, or
         * the embedded pool's defaults). Sent with the request either way. */
        uint64_t memory_mib;
        uint64_t processes;
        uint32_t cpu_milli;
        char **preload;
        bool json;
        bool help;
        const char *code;   /* -c */
        const char *file;   /* FILE or "-" */
        const char *socket; /* --socket */
        bool no_daemon;     /* --no-daemon: never a daemon, not even the default socket's */
        bool verbose;       /* --verbose: say on stderr which path the run took */
};

struct serve_args {
        const char *socket;
        const char *config;
        char **preload;
        int64_t workers; /* -1: from the configuration */
        /* `mcp` only: limits for every call, sent with each request (a daemon's
         * may only be lowered); 0: not given. */
        uint64_t memory_mib, processes;
        uint32_t cpu_milli;
        bool help;
};

struct status_args {
        const char *socket;
        bool json;
        bool help;
};

/* Parse `vivarium run` arguments (argv[0] is "run"). Returns 0, or -EINVAL with
 * a malloc'd message for the user. */
int cli_run_parse(int argc, char **argv, struct run_args *ret, char **ret_error);
void run_args_done(struct run_args *a);
int cli_run(int argc, char **argv);
/* The options `serve` and `mcp` share (struct serve_args); messages name command. */
int cli_service_parse(int argc, char **argv, const char *command, struct serve_args *ret, char **ret_error);
/* The configuration file with the command line over it, validated (errors are logged). */
struct vivarium_config;
int cli_service_configure(const struct serve_args *a, struct vivarium_config *c);
int cli_serve(int argc, char **argv);
int cli_mcp(int argc, char **argv);
int cli_status_parse(int argc, char **argv, struct status_args *ret, char **ret_error);
int cli_status(int argc, char **argv);
int cli_status_exit_code(enum run_status s);
/* What to tell the user after a memory kill: the limit that applied (from
 * the result) and where it came from. daemon_mib is the daemon's limit (0:
 * unknown), for a run through a daemon (daemon true); embedded runs have no
 * limit but --memory's. Writes one line without "vivarium: " or newline. */
void cli_memory_advice(const struct run_args *a, const struct run_result *r, bool daemon,
                       uint64_t daemon_mib, char *buf, size_t size);

/* --socket, else $VIVARIUM_SOCKET, else NULL (`vivarium mcp`: embedded). */
const char *cli_socket_from_env(const char *option);

/* Where a client goes (socket-path.c). */
enum cli_socket_source {
        CLI_SOCKET_NONE,    /* --no-daemon */
        CLI_SOCKET_OPTION,  /* --socket */
        CLI_SOCKET_ENV,     /* $VIVARIUM_SOCKET */
        CLI_SOCKET_DEFAULT, /* the default path, if it can be trusted */
};

struct cli_daemon {
        enum cli_socket_source source;
        char *path;   /* the socket used or tried; NULL if there is none */
        int fd;       /* connected to the daemon, or -EBADF: run in a private jail */
        char *reason; /* why the default socket is not used */
};

/* A named socket (option, else $VIVARIUM_SOCKET) is connected or an error
 * (*ret_error says why); the default socket is used only if it is ours or
 * root's in directories nobody else can write, and something of ours or
 * root's listens on it; otherwise d->fd is -EBADF and d->reason says why.
 * no_daemon: neither is tried. */
int cli_daemon_find(const char *option, bool no_daemon, struct cli_daemon *d, char **ret_error);
void cli_daemon_done(struct cli_daemon *d);
/* One line for --verbose: the daemon used, or why the run is one-shot. */
void cli_daemon_describe(const struct cli_daemon *d, FILE *f);
/* The rules behind the default socket's trust, as pure functions of lstat():
 * 0, or -EPERM and a reason. leaf: the socket's own directory. */
struct stat;
int cli_socket_trust_dir(const char *dir, const struct stat *st, uid_t self, bool leaf, char **ret_reason);
int cli_socket_trust_file(const struct stat *st, uid_t self, char **ret_reason);

/* Minimal JSON writing for --json (the CLI does not link a JSON library). */
void json_write_string(FILE *f, const char *s, size_t n);
void json_write_base64(FILE *f, const void *data, size_t n);
void cli_print_result_json(FILE *f, const struct run_result *r);
/* Any msgpack object as JSON (bin as base64). */
void json_write_msgpack(FILE *f, const msgpack_object *o);
