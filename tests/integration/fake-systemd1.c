/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for the systemd user manager's StartTransientUnit, for
 * user-scope.sh on machines without one. Owns org.freedesktop.systemd1 on
 * the bus in DBUS_SESSION_BUS_ADDRESS, checks each call's signature and
 * properties, writes what it got to RECORD, and then, by MODE:
 *   ok    makes BASE/<unit> (a cgroup v2 group), gives it to the caller's uid
 *         as systemd does for Delegate=yes, moves the PIDs in, and emits
 *         JobRemoved "done";
 *   fail  emits JobRemoved "failed" without making a group;
 *   hang  returns the job and never ends it.
 * Runs as root, outside vivarium, in the test only.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "macro.h"

static const char *mode, *record, *base;

static int
give_group(const char *unit, uid_t uid, const uint32_t *pids, size_t n)
{
        static const char *const delegated[] = {"", "/cgroup.procs", "/cgroup.subtree_control",
                                                "/cgroup.threads"};
        char dir[512], path[600];

        (void) snprintf(dir, sizeof dir, "%s/%s", base, unit);
        if (mkdir(dir, 0755) < 0)
                return -errno;
        for (size_t i = 0; i < sizeof delegated / sizeof *delegated; i++) {
                (void) snprintf(path, sizeof path, "%s%s", dir, delegated[i]);
                if (chown(path, uid, (gid_t) -1) < 0)
                        return -errno;
        }
        (void) snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        for (size_t i = 0; i < n; i++) {
                FILE *f = fopen(path, "we");
                if (!f)
                        return -errno;
                int ok = fprintf(f, "%u\n", pids[i]) > 0;
                if (fclose(f) != 0 || !ok)
                        return -errno;
        }
        return 0;
}

/* Read the a(sv) properties, writing each to f; the PIDs into pids. */
static int
read_properties(sd_bus_message *m, FILE *f, uint32_t *pids, size_t *n_pids, int *delegate)
{
        const char *name, *contents, *s;
        int b, r = sd_bus_message_enter_container(m, 'a', "(sv)");

        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &name);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                fprintf(f, "%s %s", name, contents);
                if (strcmp(contents, "s") == 0 && sd_bus_message_read(m, "v", "s", &s) >= 0)
                        fprintf(f, " %s", s);
                else if (strcmp(contents, "b") == 0 && sd_bus_message_read(m, "v", "b", &b) >= 0) {
                        fprintf(f, " %s", b ? "true" : "false");
                        if (strcmp(name, "Delegate") == 0)
                                *delegate = b;
                } else if (strcmp(contents, "au") == 0 && strcmp(name, "PIDs") == 0) {
                        const void *p;
                        size_t size;
                        r = sd_bus_message_enter_container(m, 'v', "au");
                        if (r >= 0)
                                r = sd_bus_message_read_array(m, 'u', &p, &size);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r < 0 || size / 4 > 16)
                                return -EINVAL;
                        memcpy(pids, p, size);
                        *n_pids = size / 4;
                        for (size_t i = 0; i < *n_pids; i++)
                                fprintf(f, " %u", pids[i]);
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return -EINVAL;
                fputc('\n', f);
                r = sd_bus_message_exit_container(m);
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int
on_start(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        static unsigned job_id;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *unit, *job_mode;
        char job[128];
        uint32_t pids[16];
        size_t n_pids = 0;
        int delegate = 0, r;
        uid_t uid;
        FILE *f;

        (void) userdata;
        if (!sd_bus_message_has_signature(m, "ssa(sv)a(sa(sv))"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "signature %s",
                                         sd_bus_message_get_signature(m, true));
        f = fopen(record, "ae");
        if (!f)
                return -errno;
        r = sd_bus_message_read(m, "ss", &unit, &job_mode);
        if (r >= 0) {
                fprintf(f, "unit %s\nmode %s\nauto-start %d\n", unit, job_mode,
                        sd_bus_message_get_auto_start(m));
                r = read_properties(m, f, pids, &n_pids, &delegate);
        }
        fclose(f);
        if (r < 0)
                return r;
        if (n_pids == 0 || !delegate)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "no PIDs, or no Delegate=yes");
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (strcmp(mode, "ok") == 0) {
                r = give_group(unit, uid, pids, n_pids);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "making the group: %m");
        }
        (void) snprintf(job, sizeof job, "/org/freedesktop/systemd1/job/%u", ++job_id);
        r = sd_bus_reply_method_return(m, "o", job);
        if (r < 0 || strcmp(mode, "hang") == 0)
                return r;
        return sd_bus_emit_signal(sd_bus_message_get_bus(m), "/org/freedesktop/systemd1",
                                  "org.freedesktop.systemd1.Manager", "JobRemoved", "uoss", job_id, job,
                                  unit, strcmp(mode, "ok") == 0 ? "done" : "failed");
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("StartTransientUnit", "ssa(sv)a(sa(sv))", "o", on_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("JobRemoved", "uoss", 0),
        SD_BUS_VTABLE_END,
};

int
main(int argc, char **argv)
{
        sd_bus *bus = NULL;
        int r;

        if (argc != 4) {
                fprintf(stderr, "usage: fake-systemd1 ok|fail|hang RECORD CGROUP-BASE\n");
                return 2;
        }
        mode = argv[1], record = argv[2], base = argv[3];
        r = sd_bus_open_user(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1",
                                             "org.freedesktop.systemd1.Manager", manager_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
        if (r < 0) {
                fprintf(stderr, "fake-systemd1: %s\n", strerror(-r));
                return 1;
        }
        /* Ready: the test waits for this line. */
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        break;
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}
