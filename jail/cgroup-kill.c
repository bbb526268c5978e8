/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Killing what is in a worker's cgroup and removing the group; reclaiming
 * the groups a killed process left behind. Runs in the spawner or a one-shot
 * runner, as cgroup.c does.
 *
 * Invariant: no path out of here leaves a group frozen. A process killed
 * between freezing and thawing is the exception no code can avoid; the
 * groups it leaves are what jail_cgroup_reclaim() is for.
 */
#include <dirent.h>
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

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

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

struct jail_cgroup *
jail_cgroup_forget(struct jail_cgroup *cg)
{
        if (!cg)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(cg->dirs); i++)
                free(cg->dirs[i]);
        free(cg);
        return NULL;
}

/* The v1 controller of each slot of jail_cgroup.dirs. */
static const char *const v1_controllers[_CG_MAX] = {
        [CG_MEMORY] = "memory",
        [CG_PIDS] = "pids",
        [CG_FREEZER] = "freezer",
        [CG_CPU] = "cpu",
};

static int
base_of(enum jail_cgroup_mode mode, size_t slot, char *buf, size_t size)
{
        if (mode == JAIL_CGROUP_V2)
                return slot == CG_MEMORY ? cgroup_v2_base(buf, size) : -ENOENT;
        return cgroup_v1_base(v1_controllers[slot], buf, size);
}

/* Every hierarchy's directory of the group `name` that exists, then the
 * usual kill and removal. The members of each directory are killed too, not
 * only the freezer's: the process that left the group may have died while
 * attaching a worker to one hierarchy after another. */
static int
reclaim_one(enum jail_cgroup_mode mode, const char *name)
{
        struct jail_cgroup *cg = calloc(1, sizeof *cg);
        char base[1024], path[1300];

        if (!cg)
                return -ENOMEM;
        cg->mode = mode;
        for (size_t i = 0; i < _CG_MAX; i++) {
                if (base_of(mode, i, base, sizeof base) < 0)
                        continue;
                (void) snprintf(path, sizeof path, "%s/%s", base, name);
                if (access(path, F_OK) == 0)
                        cg->dirs[i] = strdup(path);
        }
        (void) jail_cgroup_kill(cg);
        for (size_t i = 0; i < _CG_MAX; i++)
                if (cg->dirs[i])
                        kill_members(cg->dirs[i]);
        jail_cgroup_remove(cg);
        return 0;
}

int
jail_cgroup_reclaim(enum jail_cgroup_mode mode, bool (*stale)(const char *name, void *userdata),
                    void *userdata)
{
        char base[1024];
        int n = 0;

        if (mode != JAIL_CGROUP_V1 && mode != JAIL_CGROUP_V2)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < _CG_MAX; i++) {
                _cleanup_(closedirp) DIR *d = NULL;
                struct dirent *de;

                if (base_of(mode, i, base, sizeof base) < 0 || !(d = opendir(base)))
                        continue;
                /* A group reclaimed through an earlier hierarchy is gone from
                 * this one too; one removed ahead of readdir() is skipped. */
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && de->d_name[0] != '.' && stale(de->d_name, userdata) &&
                            reclaim_one(mode, de->d_name) >= 0)
                                n++;
        }
        return n;
}
