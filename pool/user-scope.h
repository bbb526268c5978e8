/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A cgroup v2 subtree from the systemd user manager (user-scope.c): for a
 * dispatcher started as an ordinary user outside any delegated group, a
 * transient scope with Delegate=yes, asked for over the user bus once, at
 * start-up, before the dispatcher forks. Runs in the dispatcher, never in a
 * jail; the spawner and the zygotes never link sd-bus. Whatever fails, the
 * dispatcher goes on in the mode it had without the scope.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "time-util.h"

/* How long the call and its job may take in all: a user manager that does
 * not answer delays a start by this much, once. */
#define USER_SCOPE_TIMEOUT_USEC (5 * USEC_PER_SEC)

enum user_scope_state {
        USER_SCOPE_NOT_ASKED,      /* a usable group was there, or VIVARIUM_CGROUP rules it out */
        USER_SCOPE_NO_BUS,         /* no user bus to connect to */
        USER_SCOPE_REFUSED,        /* StartTransientUnit failed (no user manager on the bus, say) */
        USER_SCOPE_JOB_FAILED,     /* its job ended other than "done" */
        USER_SCOPE_TIMEOUT,        /* the job did not end in time */
        USER_SCOPE_NOT_MOVED,      /* the job ended, but we are not in the scope's group */
        USER_SCOPE_NO_CONTROLLERS, /* the scope's group lacks memory or pids */
        USER_SCOPE_IN_USE,         /* the groups of the runs are made below the scope */
        _USER_SCOPE_STATE_MAX,
};

struct user_scope {
        enum user_scope_state state;
        char unit[64];    /* the scope's unit name, once asked for */
        char detail[256]; /* the bus error or the job's result */
};

const char *user_scope_state_to_string(enum user_scope_state s);

/* Whether to ask for a scope: only when VIVARIUM_CGROUP (cgroup_env, NULL if
 * unset) allows a v2 group from the user manager and no mode but "none" was
 * found without one. */
bool user_scope_wanted(const char *cgroup_env, enum jail_cgroup_mode found);
/* "vivarium-<pid>.scope". */
int user_scope_unit_name(pid_t pid, char *buf, size_t size);
/* What a JobRemoved signal (job path, result) says about the job `ours`: 0
 * another job's, 1 ours and done, -EIO ours and ended otherwise. */
int user_scope_job_removed(const char *ours, const char *job, const char *result);
/* Whether /proc/self/cgroup's text puts us in the v2 group of `unit`. */
bool user_scope_cgroup_is(const char *proc_self_cgroup, const char *unit);

/* Ask the user manager for the scope and wait for its job; ret->state says
 * how far it got (USER_SCOPE_IN_USE is never set here: see
 * user_scope_settle()). Before any fork or thread: the scope takes only the
 * calling process. */
void user_scope_request(uint64_t timeout_usec, struct user_scope *ret);
/* After jail_cgroup_detect() ran again inside the scope: IN_USE if the mode
 * it found is v2, else NO_CONTROLLERS. */
void user_scope_settle(struct user_scope *s, enum jail_cgroup_mode found);
/* One line for `vivarium status`, --verbose and the debug log. */
void user_scope_describe(const struct user_scope *s, char *buf, size_t size);
