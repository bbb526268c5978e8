/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pool's embedding API: what the CLI (and later the daemon and the MCP
 * face) use to run code. Callers never touch jail/ directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run.h"

struct pool_config {
        char **preload;        /* modules the zygote imports before forking */
        uint64_t memory_bytes; /* per worker */
        uint64_t nproc;        /* processes and threads per worker */
        uint64_t nofile;
        uint64_t fsize_bytes;
        uint64_t tmp_bytes, workspace_bytes;
        size_t output_head, output_tail; /* per stream, kept in the result */
        unsigned max_images;
        size_t max_image_bytes;
        uint64_t startup_timeout_ms;
        const char *zygote_path; /* host path of vivarium-zygote */
        const char *runner_dir;  /* host directory holding vivarium_runner.py */
};

struct run_request {
        const char *code;
        size_t code_len;
        const void *stdin_data;
        size_t stdin_len;
        uint64_t timeout_ms;
};

/* Receives output as the code produces it (stream 1 = stdout, 2 = stderr). */
struct pool_output_sink {
        void (*write)(void *userdata, int stream, const void *data, size_t size);
        void *userdata;
};

/* Defaults, and the install paths (VIVARIUM_LIBEXECDIR / VIVARIUM_PKGDATADIR
 * override them for relocated and test installs). */
void pool_config_init(struct pool_config *c);

/* Build a jail, start a zygote in it, run one request in a worker, tear it all
 * down. A failure of vivarium itself returns -errno and a malloc'd message;
 * anything the code did is a result. */
int pool_run_once(const struct pool_config *c, const struct run_request *req,
                  const struct pool_output_sink *sink, struct run_result *ret, char **ret_error);

/* What the user can do about a failure of pool_run_once(), or NULL. */
const char *pool_error_hint(int error);
