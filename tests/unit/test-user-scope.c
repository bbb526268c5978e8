/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool/user-scope.c without a bus: when the dispatcher asks the user
 * manager for a scope, the name it asks for, which JobRemoved signal ends
 * its wait, how it reads /proc/self/cgroup afterwards, and what status
 * says. The request itself is tests/integration/user-scope.sh's.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "user-scope.h"

Test(user_scope, wanted_only_without_a_usable_group_and_where_allowed)
{
        cr_expect(user_scope_wanted(NULL, JAIL_CGROUP_NONE));
        cr_expect(user_scope_wanted("v2", JAIL_CGROUP_NONE));
        /* A group was found (inherited v2, or v1 as root): nothing to ask for. */
        cr_expect_not(user_scope_wanted(NULL, JAIL_CGROUP_V2));
        cr_expect_not(user_scope_wanted(NULL, JAIL_CGROUP_V1));
        /* Turned off, or a mode a scope cannot give. */
        cr_expect_not(user_scope_wanted("v2-inherited", JAIL_CGROUP_NONE));
        cr_expect_not(user_scope_wanted("none", JAIL_CGROUP_NONE));
        cr_expect_not(user_scope_wanted("v1", JAIL_CGROUP_NONE));
        cr_expect_not(user_scope_wanted("", JAIL_CGROUP_NONE));
}

Test(user_scope, unit_name)
{
        char buf[64], small[8];

        cr_assert_eq(user_scope_unit_name(4242, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "vivarium-4242.scope");
        cr_expect_eq(user_scope_unit_name(4242, small, sizeof small), -ENOBUFS);
        cr_expect_eq(user_scope_unit_name(0, buf, sizeof buf), -EINVAL);
}

Test(user_scope, job_removed_ends_only_our_job)
{
        const char *ours = "/org/freedesktop/systemd1/job/7";

        cr_expect_eq(user_scope_job_removed(ours, "/org/freedesktop/systemd1/job/7", "done"), 1);
        cr_expect_eq(user_scope_job_removed(ours, "/org/freedesktop/systemd1/job/7", "failed"), -EIO);
        cr_expect_eq(user_scope_job_removed(ours, "/org/freedesktop/systemd1/job/7", "canceled"), -EIO);
        cr_expect_eq(user_scope_job_removed(ours, "/org/freedesktop/systemd1/job/7", "timeout"), -EIO);
        /* Another client's job, a prefix of ours, or before the reply named ours. */
        cr_expect_eq(user_scope_job_removed(ours, "/org/freedesktop/systemd1/job/70", "done"), 0);
        cr_expect_eq(user_scope_job_removed(ours, "/org/freedesktop/systemd1/job/", "done"), 0);
        cr_expect_eq(user_scope_job_removed(NULL, "/org/freedesktop/systemd1/job/7", "done"), 0);
}

Test(user_scope, cgroup_is_the_scope)
{
        const char *unit = "vivarium-12.scope";

        cr_expect(user_scope_cgroup_is("0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                       "vivarium-12.scope\n",
                                       unit));
        /* cgroup v1 lines come first on a hybrid machine. */
        cr_expect(user_scope_cgroup_is("4:memory:/x\n1:cpu:/\n0::/vivarium-12.scope\n", unit));
        /* The take-over's leaf is not the scope itself: asked before it. */
        cr_expect_not(user_scope_cgroup_is("0::/app.slice/vivarium-12.scope/vivarium-service\n", unit));
        cr_expect_not(user_scope_cgroup_is("0::/app.slice/session-2.scope\n", unit));
        cr_expect_not(user_scope_cgroup_is("0::/app.slice/xvivarium-12.scope\n", unit));
        cr_expect_not(user_scope_cgroup_is("0::/\n", unit));
        cr_expect_not(user_scope_cgroup_is("4:memory:/vivarium-12.scope\n", unit));
        cr_expect_not(user_scope_cgroup_is("", unit));
}

Test(user_scope, settle_and_describe)
{
        struct user_scope s = {.state = USER_SCOPE_NOT_ASKED, .unit = "vivarium-9.scope"};
        char text[384];

        user_scope_describe(&s, text, sizeof text);
        cr_expect_str_eq(text, "not asked for");
        user_scope_settle(&s, JAIL_CGROUP_V2);
        cr_expect_eq(s.state, USER_SCOPE_IN_USE);
        user_scope_describe(&s, text, sizeof text);
        cr_expect_str_eq(text, "vivarium-9.scope from the user manager");
        user_scope_settle(&s, JAIL_CGROUP_NONE);
        cr_expect_eq(s.state, USER_SCOPE_NO_CONTROLLERS);
        user_scope_describe(&s, text, sizeof text);
        cr_expect_str_eq(
                text, "vivarium-9.scope not used: its group is not given the memory and pids controllers");
        for (int i = 0; i < _USER_SCOPE_STATE_MAX; i++)
                cr_expect_not_null(user_scope_state_to_string(i));
        cr_expect_null(user_scope_state_to_string(_USER_SCOPE_STATE_MAX));
}

Test(user_scope, no_bus_falls_back_quickly)
{
        struct user_scope s;

        /* Neither variable: sd_bus_open_user() has no address to try. */
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        unsetenv("XDG_RUNTIME_DIR");
        user_scope_request(USER_SCOPE_TIMEOUT_USEC, &s);
        cr_expect_eq(s.state, USER_SCOPE_NO_BUS);
        setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus", 1);
        user_scope_request(USER_SCOPE_TIMEOUT_USEC, &s);
        cr_expect_eq(s.state, USER_SCOPE_NO_BUS, "state %s: %s", user_scope_state_to_string(s.state),
                     s.detail);
}
