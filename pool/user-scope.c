/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transient scope from the systemd user manager (user-scope.h). On a
 * machine whose session runs `systemd --user`, an ordinary user gets a
 * cgroup v2 subtree with the memory and pids controllers by asking it for a
 * scope with Delegate=yes, as systemd-run --user --scope does. The manager
 * moves us into the scope's group and gives the group to our uid; from there
 * the existing take-over (jail_cgroup_v2_delegate()) moves us into a leaf
 * and enables the controllers for the runs' groups.
 *
 * Runs in the dispatcher, once, before it forks (only the calling process is
 * moved: a child forked earlier would stay behind, outside every limit) and
 * before the event loop runs: the bus is used synchronously, under one
 * deadline, and closed before we return.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "user-scope.h"

#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

static const char *const state_names[] = {
        [USER_SCOPE_NOT_ASKED] = "not-asked",
        [USER_SCOPE_NO_BUS] = "no-bus",
        [USER_SCOPE_REFUSED] = "refused",
        [USER_SCOPE_JOB_FAILED] = "job-failed",
        [USER_SCOPE_TIMEOUT] = "timeout",
        [USER_SCOPE_NOT_MOVED] = "not-moved",
        [USER_SCOPE_NO_CONTROLLERS] = "no-controllers",
        [USER_SCOPE_IN_USE] = "in-use",
};

const char *
user_scope_state_to_string(enum user_scope_state s)
{
        return (size_t) s < ELEMENTSOF(state_names) ? state_names[s] : NULL;
}

bool
user_scope_wanted(const char *cgroup_env, enum jail_cgroup_mode found)
{
        /* "v2-inherited": only a group a service manager started us in. */
        if (cgroup_env && strcmp(cgroup_env, "v2") != 0)
                return false;
        return found == JAIL_CGROUP_NONE;
}

int
user_scope_unit_name(pid_t pid, char *buf, size_t size)
{
        if (pid <= 0)
                return -EINVAL;
        return (size_t) snprintf(buf, size, "vivarium-%ld.scope", (long) pid) >= size ? -ENOBUFS : 0;
}

int
user_scope_job_removed(const char *ours, const char *job, const char *result)
{
        if (!ours || !job || strcmp(ours, job) != 0)
                return 0;
        return result && strcmp(result, "done") == 0 ? 1 : -EIO;
}

bool
user_scope_cgroup_is(const char *proc_self_cgroup, const char *unit)
{
        size_t n = strlen(unit);
        const char *p = proc_self_cgroup;

        /* The v2 line, "0::/path", is the first line or follows a newline. */
        while (p && strncmp(p, "0::", 3) != 0) {
                p = strchr(p, '\n');
                p = p ? p + 1 : NULL;
        }
        if (!p)
                return false;
        size_t len = strcspn(p, "\n");
        return len > n + 3 && p[len - n - 1] == '/' && strncmp(p + len - n, unit, n) == 0;
}

struct job_wait {
        const char *job; /* our job's path, once the call returned it */
        int result;      /* 0 while waiting */
        char detail[64];
};

static int
on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct job_wait *w = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        (void) error;
        if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        int r = user_scope_job_removed(w->job, job, result);
        if (r != 0) {
                w->result = r;
                (void) snprintf(w->detail, sizeof w->detail, "%s", result);
        }
        return 0;
}

static int
start_unit(sd_bus *bus, const char *unit, uint64_t timeout, sd_bus_error *error, sd_bus_message **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                               "StartTransientUnit");

        if (r < 0)
                return r;
        /* A session bus without a user manager must say so now, not start one. */
        r = sd_bus_message_set_auto_start(m, false);
        /* "fail": never replace a job queued for the unit; the name is ours.
         * CollectMode: a scope that failed is unloaded at once, not kept
         * for `systemctl --user status` until reset-failed. The accounting
         * properties make the manager enable memory and pids above us even
         * where Delegate= alone would leave them to the unit's defaults. */
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sv)", 6, "Description", "s", "vivarium sandbox dispatcher",
                                          "PIDs", "au", 1, (uint32_t) getpid(), "Delegate", "b", 1,
                                          "CollectMode", "s", "inactive-or-failed", "MemoryAccounting", "b",
                                          1, "TasksAccounting", "b", 1);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, timeout, error, ret);
}

/* Process what the bus delivers until our job's JobRemoved came or the deadline passed. */
static int
wait_job(sd_bus *bus, struct job_wait *w, uint64_t deadline)
{
        while (w->result == 0) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                uint64_t now = now_usec();
                if (now >= deadline)
                        return -ETIME;
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0)
                        return r;
        }
        return w->result;
}

_printf_(3, 4) static enum user_scope_state
        fail(struct user_scope *s, enum user_scope_state state, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(s->detail, sizeof s->detail, fmt, ap);
        va_end(ap);
        return state;
}

static enum user_scope_state
check_moved(struct user_scope *s)
{
        _cleanup_free_ char *text = NULL;

        if (read_file_bounded("/proc/self/cgroup", 64 << 10, &text, NULL) < 0 ||
            !user_scope_cgroup_is(text, s->unit))
                return fail(s, USER_SCOPE_NOT_MOVED, "its job ended, but this process is not in its group");
        return USER_SCOPE_NOT_ASKED; /* not settled yet: user_scope_settle() */
}

static enum user_scope_state
request(uint64_t timeout_usec, struct user_scope *ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct job_wait w = {};
        uint64_t deadline = now_usec() + timeout_usec;
        int r;

        if (user_scope_unit_name(getpid(), ret->unit, sizeof ret->unit) < 0)
                return fail(ret, USER_SCOPE_REFUSED, "no unit name");
        r = sd_bus_open_user(&bus);
        if (r == -ENOMEDIUM)
                return fail(ret, USER_SCOPE_NO_BUS,
                            "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set");
        if (r < 0)
                return fail(ret, USER_SCOPE_NO_BUS, "%s", strerror(-r));
        /* Before the call: the job may end before the reply is read. */
        r = sd_bus_match_signal(bus, &slot, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                                on_job_removed, &w);
        if (r >= 0)
                r = start_unit(bus, ret->unit, timeout_usec, &error, &reply);
        /* A bus that is not there shows only now: sd-bus connects lazily. */
        if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTCONN || r == -ECONNRESET)
                return fail(ret, USER_SCOPE_NO_BUS, "%s", strerror(-r));
        if (r < 0)
                return fail(ret, r == -ETIMEDOUT ? USER_SCOPE_TIMEOUT : USER_SCOPE_REFUSED, "%s",
                            sd_bus_error_is_set(&error) ? error.message : strerror(-r));
        r = sd_bus_message_read(reply, "o", &w.job);
        if (r < 0)
                return fail(ret, USER_SCOPE_REFUSED, "a reply without a job: %s", strerror(-r));
        r = wait_job(bus, &w, deadline);
        if (r == -ETIME)
                return fail(ret, USER_SCOPE_TIMEOUT, "its job %s did not end within %llu ms", w.job,
                            (unsigned long long) (timeout_usec / USEC_PER_MSEC));
        if (r == -EIO)
                return fail(ret, USER_SCOPE_JOB_FAILED, "its job ended '%s'", w.detail);
        if (r < 0)
                return fail(ret, USER_SCOPE_REFUSED, "waiting for its job: %s", strerror(-r));
        return check_moved(ret);
}

void
user_scope_request(uint64_t timeout_usec, struct user_scope *ret)
{
        *ret = (struct user_scope){};
        ret->state = request(timeout_usec, ret);
}

void
user_scope_settle(struct user_scope *s, enum jail_cgroup_mode found)
{
        s->state = found == JAIL_CGROUP_V2 ? USER_SCOPE_IN_USE
                                           : fail(s, USER_SCOPE_NO_CONTROLLERS,
                                                  "its group is not given the memory and pids controllers");
}

void
user_scope_describe(const struct user_scope *s, char *buf, size_t size)
{
        switch (s->state) {
        case USER_SCOPE_NOT_ASKED:
                (void) snprintf(buf, size, "not asked for");
                break;
        case USER_SCOPE_IN_USE:
                (void) snprintf(buf, size, "%s from the user manager", s->unit);
                break;
        case USER_SCOPE_NO_BUS:
                (void) snprintf(buf, size, "no user bus (%s)", s->detail);
                break;
        default:
                (void) snprintf(buf, size, "%s not used: %s", s->unit, s->detail);
                break;
        }
}
