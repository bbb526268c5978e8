/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vivarium.conf(5): the service's configuration. Parsed once at start-up in
 * the trusted dispatcher process; every value is range-checked and a bad one
 * is reported with the file, the line and the reason. Command-line options
 * override the file; the file overrides the built-in defaults below.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool-limits.h"

#define CONFIG_ENV_NAME_MAX 64

struct vivarium_config {
        /* [service] */
        char *socket_path;  /* NULL: $XDG_RUNTIME_DIR/vivarium.sock, else /run/vivarium/vivarium.sock */
        mode_t socket_mode; /* 0600 */
        char *user;         /* started as root, the dispatcher drops to it; NULL: "vivarium" */
        uint32_t max_connections;         /* 256 */
        uint32_t max_connections_per_uid; /* 64 */
        uint32_t max_frame;               /* 16 MiB; 1 KiB .. 64 MiB */
        uint32_t max_inflight;            /* per connection, 64 */
        uint64_t shutdown_grace_ms;       /* 5000 */

        /* [limits] (per request) */
        uint64_t default_timeout_ms; /* 30000 */
        uint64_t max_timeout_ms;     /* 600000; >= default */
        /* memory 512 MiB, 16 MiB .. 64 GiB; processes (nproc) 64, 4 .. 4096;
         * cpus in thousandths, 0 (no quota), 0.01 .. CPUs online */
        struct pool_limits limits;
        uint64_t open_files;       /* 1024; 16 .. 65536 */
        uint64_t memory_period_ms; /* the watchdog's, without a cgroup: 10; 1 .. 1000 */
        uint64_t file_size_bytes;  /* 256 MiB */
        uint64_t tmp_bytes;        /* 64 MiB */
        uint64_t workspace_bytes;  /* 256 MiB */
        uint64_t output_bytes;     /* 1 MiB per stream (head and tail halves); 4 KiB .. 256 MiB */
        uint32_t max_images;       /* 8 */
        uint64_t max_image_bytes;  /* 4 MiB */

        /* [pool] */
        uint32_t idle_workers;       /* warm idle workers kept per environment, 2; 0 .. 64 */
        uint32_t max_workers;        /* workers per environment at once (busy + idle), 8; 1 .. 64 */
        uint32_t queue_limit;        /* waiting requests per environment, 64; 0 .. 65536 */
        uint64_t startup_timeout_ms; /* zygote start-up, 60000 */
        bool oneshot; /* no configuration key: one jail for one run (vivarium run, embedded) */

        /* [environment.default] */
        /* NULL-terminated module names; by default the data stack, whichever of
         * it is installed (CONFIG_PRELOAD_DEFAULT); "preload =" empties it. */
        char **preload;
        /* The list is the default one: a module that is not installed is
         * skipped. A list someone wrote (file, --preload) must import in full. */
        bool preload_if_installed;
};

/* What `vivarium serve` and `vivarium mcp` preload unless told otherwise:
 * numpy, pandas and pyplot with its Agg backend and font list warmed up. */
#define CONFIG_PRELOAD_DEFAULT "numpy,pandas,matplotlib.pyplot"

/* Defaults as documented above. */
int config_init(struct vivarium_config *c);
void config_done(struct vivarium_config *c);
/* Parse an INI file over the current values. On error returns -EINVAL (or the
 * -errno of opening the file) and a malloc'd "FILE:LINE: reason" message. */
int config_load(struct vivarium_config *c, const char *path, char **ret_error);
/* Check cross-field rules (max_timeout >= default_timeout, idle <= max). */
int config_validate(const struct vivarium_config *c, char **ret_error);
/* The socket path to use: the configured one or the default for this user.
 * Returns a malloc'd string. */
int config_socket_path(const struct vivarium_config *c, char **ret);
