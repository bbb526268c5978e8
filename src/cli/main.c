/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vivarium(1): the command-line face. Dispatches to one file per subcommand;
 * talks to the pool only through its embedding API (pool/pool.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "macro.h"

static const char main_help[] = "Usage: vivarium COMMAND [OPTIONS]\n"
                                "\n"
                                "Run untrusted Python fast, inside a Linux namespace jail.\n"
                                "\n"
                                "Commands:\n"
                                "  run        run code once and print its output and value\n"
                                "  serve      run the daemon (a unix-socket RPC service)\n"
                                "  mcp        serve the Model Context Protocol on stdin and stdout\n"
                                "  status     show a running daemon's figures\n"
                                "\n"
                                "Options:\n"
                                "  -h, --help     show this help\n"
                                "      --version  show the version\n"
                                "\n"
                                "See vivarium(1) and 'vivarium COMMAND --help'.\n";

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} commands[] = {
        {"run", cli_run},
        {"serve", cli_serve},
        {"mcp", cli_mcp},
        {"status", cli_status},
};

int
main(int argc, char **argv)
{
        log_set_ident("vivarium");
        log_parse_environment();
        if (argc < 2) {
                fputs(main_help, stderr);
                return CLI_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(main_help, stdout);
                return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("vivarium %s\n", PACKAGE_VERSION);
                return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].run(argc - 1, argv + 1);
        log_error("unknown command '%s'; see 'vivarium --help'", argv[1]);
        return CLI_EXIT_USAGE;
}
