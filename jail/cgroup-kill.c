/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Killing what is in a worker's cgroup and removing the group. Runs in the
 * spawner or a one-shot runner, as cgroup.c does.
 *
 * Invariant: no path out of here leaves a group frozen, unless the process
 * is killed between freezing and thawing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "macro.h"

static void
kill_members(const char *dir)
{
        _cleanup_free_ char *procs = NULL;
        char path[1300], *save = NULL;

        (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if (read_file_bounded(path, 1 << 20, &procs, NULL) < 0)
                return;
        for (char *l = strtok_r(procs, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                (void) kill((pid_t) strtol(l, NULL, 10), SIGKILL);
}

/* v1 with the freezer: freeze the group (no member can fork any more), kill
 * every member, thaw so the kills are delivered. Waiting for FROZEN is
 * bounded: this runs on the dispatcher's loop. */
static int
kill_frozen(const char *dir)
{
        char path[1300];
        int r;

        (void) snprintf(path, sizeof path, "%s/freezer.state", dir);
        r = write_string_file(path, "FROZEN");
        if (r < 0)
                return r;
        for (int tries = 0; tries < 100; tries++) {
                _cleanup_free_ char *state = NULL;
                if (read_file_bounded(path, 64, &state, NULL) < 0 || strncmp(state, "FROZEN", 6) == 0)
                        break;
                (void) nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
        }
        kill_members(dir);
        return write_string_file(path, "THAWED");
}

int
jail_cgroup_kill(struct jail_cgroup *cg)
{
        char path[1300];

        if (cg->mode == JAIL_CGROUP_V2) {
                (void) snprintf(path, sizeof path, "%s/cgroup.kill", cg->dirs[CG_MEMORY]);
                if (write_string_file(path, "1") == 0)
                        return 0;
        }
        if (cg->dirs[CG_FREEZER] && kill_frozen(cg->dirs[CG_FREEZER]) == 0)
                return 0;
        /* v1 without the freezer (and v2 before cgroup.kill): signal each
         * member. A member forking at this moment can slip through; the pids
         * limit bounds how far. */
        for (size_t i = 0; i < ELEMENTSOF(cg->dirs); i++)
                if (cg->dirs[i])
                        kill_members(cg->dirs[i]);
        return 0;
}

struct jail_cgroup *
jail_cgroup_free(struct jail_cgroup *cg)
{
        if (!cg)
                return NULL;
        (void) jail_cgroup_kill(cg);
        return jail_cgroup_remove(cg);
}

struct jail_cgroup *
jail_cgroup_remove(struct jail_cgroup *cg)
{
        if (!cg)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(cg->dirs); i++) {
                if (!cg->dirs[i])
                        continue;
                /* Killed members take a moment to leave: rmdir says EBUSY until
                 * then. Bounded, because this runs on the dispatcher's loop. */
                for (int tries = 0; rmdir(cg->dirs[i]) < 0 && errno == EBUSY && tries < 50; tries++)
                        (void) nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
                free(cg->dirs[i]);
        }
        free(cg);
        return NULL;
}
