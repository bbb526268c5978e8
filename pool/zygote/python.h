/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The embedded interpreter of the zygote and the calls into vivarium_runner. */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Initialise CPython, import the runner from datadir, preload modules (with
 * if_installed, skipping those that are not installed), warm up what they
 * defer (matplotlib's fonts and first draw), freeze the GC. Returns the
 * modules imported in *ret_preloaded; on failure a malloc'd message in
 * *ret_error. */
int zygote_python_init(const char *datadir, char *const *preload, bool if_installed, char ***ret_preloaded,
                       char **ret_error);
/* The same for a one-shot worker, which forks nothing: the runner is
 * imported, and the runner's preload() (with what it imports for every
 * run) only if modules were asked for (all of them must import); no GC
 * freeze. */
int zygote_python_init_oneshot(const char *datadir, char *const *preload, char **ret_error);
const char *zygote_python_version(void);
/* Worker side: Python's SIGINT handler (KeyboardInterrupt, as `python -c`
 * has it), then, for a worker forked from a zygote, the runner's warm-up. */
void zygote_python_sigint(void);
void zygote_python_warm(void);
/* Run code and pack the result map into pk ({type: "result", ...}).
 * address_space_limit is the RLIMIT_AS the request asked for (rlimit mode),
 * 0 with a cgroup: status "memory" needs an allocation that limit refused. */
int zygote_python_run(const char *code, size_t code_len, unsigned max_images, size_t max_image_bytes,
                      uint64_t address_space_limit, msgpack_packer *pk);
