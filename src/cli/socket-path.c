/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which daemon socket a subcommand talks to: the option, the environment, or
 * the configured default. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daemon-config.h"

const char *
cli_socket_from_env(const char *option)
{
        const char *e = getenv("VIVARIUM_SOCKET");

        return option ? option : e && *e ? e : NULL;
}

int
cli_socket_path(const char *option, char **ret)
{
        const char *p = cli_socket_from_env(option);
        struct vivarium_config c;
        int r;

        if (p) {
                *ret = strdup(p);
                return *ret ? 0 : -ENOMEM;
        }
        r = config_init(&c);
        if (r >= 0)
                r = config_socket_path(&c, ret);
        config_done(&c);
        return r;
}
