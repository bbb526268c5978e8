/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pool defaults. The install paths come from configure; VIVARIUM_LIBEXECDIR
 * and VIVARIUM_PKGDATADIR relocate them (a test install under DESTDIR, a
 * package unpacked elsewhere). They name programs the jail will run, so they
 * are honoured only for the user who set them: nothing here is setuid.
 */
#include <stdio.h>
#include <stdlib.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "jail.h"
#include "pool.h"

/* An uninstalled ./vivarium in the build tree finds vivarium-zygote beside it
 * and the runner in pool/zygote/ (both must exist, so an installed binary
 * never takes this path). */
static bool
build_tree_paths(char *libexec, size_t size, char *data)
{
        char self[PATH_MAX], probe[PATH_MAX + 64];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        char *slash;

        if (n <= 0)
                return false;
        self[n] = 0;
        slash = strrchr(self, '/');
        if (!slash)
                return false;
        *slash = 0;
        (void) snprintf(probe, sizeof probe, "%s/pool/zygote/vivarium_runner.py", self);
        if (access(probe, R_OK) < 0)
                return false;
        (void) snprintf(probe, sizeof probe, "%s/vivarium-zygote", self);
        if (access(probe, X_OK) < 0)
                return false;
        return (size_t) snprintf(libexec, size, "%s", self) < size &&
               (size_t) snprintf(data, size, "%s/pool/zygote", self) < size;
}

void
pool_config_init(struct pool_config *c)
{
        static char zygote[PATH_MAX + 32], tree_libexec[PATH_MAX], tree_data[PATH_MAX];
        const char *libexec = getenv("VIVARIUM_LIBEXECDIR");
        const char *data = getenv("VIVARIUM_PKGDATADIR");

        if (!libexec && !data && build_tree_paths(tree_libexec, sizeof tree_libexec, tree_data)) {
                libexec = tree_libexec;
                data = tree_data;
        }
        (void) snprintf(zygote, sizeof zygote, "%s/vivarium-zygote", libexec ? libexec : VIV_PKGLIBEXECDIR);
        *c = (struct pool_config){
                .limits = POOL_LIMITS_DEFAULT,
                .nofile = 1024,
                .fsize_bytes = 256u << 20,
                .tmp_bytes = 64u << 20,
                .workspace_bytes = 256u << 20,
                .output_head = 512u << 10,
                .output_tail = 512u << 10,
                .max_images = 8,
                .max_image_bytes = 4u << 20,
                .idle_workers = 2,
                .max_workers = 8,
                .queue_limit = 64,
                .startup_timeout_ms = 60000,
                .memory_period_ms = 10,
                .zygote_path = zygote,
                .runner_dir = data ? data : VIV_PKGDATADIR,
        };
}

const char *
pool_error_hint(int error)
{
        if (error == -ENOENT)
                return "vivarium-zygote or the runner module is missing: check the installation "
                       "(VIVARIUM_LIBEXECDIR and VIVARIUM_PKGDATADIR relocate them)";
        return jail_spawn_hint(error);
}
