/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The jail spec: what a jail contains and what runs in it. Building a spec
 * has no side effects; jail_spec_validate() rejects anything jail_spawn()
 * could not honour before a single namespace is created.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idmap.h"
#include "jail.h"
#include "macro.h"
#include "parse-util.h"

int
jail_spec_new(struct jail_spec **ret)
{
        struct jail_spec *s = calloc(1, sizeof *s);

        if (!s)
                return -ENOMEM;
        s->tmp_bytes = 64u << 20;
        s->workspace_bytes = 256u << 20;
        s->idmap.mode = JAIL_IDMAP_SINGLE;
        s->idmap.uid = getuid();
        s->idmap.gid = getgid();
        *ret = s;
        return 0;
}

struct jail_spec *
jail_spec_free(struct jail_spec *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_binds; i++) {
                free(s->binds[i].source);
                free(s->binds[i].target);
                safe_close(s->binds[i].tree_fd);
        }
        free(s->binds);
        strv_free(s->argv);
        strv_free(s->envp);
        free(s);
        return NULL;
}

int
jail_spec_set_idmap_auto(struct jail_spec *s)
{
        uid_t base = JAIL_RANGE_DEFAULT_BASE;
        uint32_t count = JAIL_RANGE_DEFAULT_COUNT;

        if (geteuid() != 0) {
                s->idmap = (struct jail_idmap){JAIL_IDMAP_SINGLE, getuid(), getgid(), 1};
                return 0;
        }
        /* Root uses the range given to the "vivarium" user in /etc/subuid when the
         * administrator reserved one, otherwise a fixed high range (documented). */
        if (jail_idmap_find_subid("/etc/subuid", "vivarium", &base, &count) < 0) {
                base = JAIL_RANGE_DEFAULT_BASE;
                count = JAIL_RANGE_DEFAULT_COUNT;
        }
        s->idmap = (struct jail_idmap){JAIL_IDMAP_RANGE, base, (gid_t) base, count};
        return 0;
}

static int
strv_push_dup(char ***l, const char *s)
{
        size_t n = strv_length(*l);
        char *copy = strdup(s);
        char **nl = copy ? reallocarray(*l, n + 2, sizeof **l) : NULL;

        if (!nl) {
                free(copy);
                return -ENOMEM;
        }
        nl[n] = copy;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

int
jail_spec_add_bind_tree(struct jail_spec *s, const char *source, const char *target, int tree_fd)
{
        struct jail_bind *nb = reallocarray(s->binds, s->n_binds + 1, sizeof *nb);

        if (!nb) {
                safe_close(tree_fd);
                return -ENOMEM;
        }
        s->binds = nb;
        nb[s->n_binds].source = strdup(source);
        nb[s->n_binds].target = strdup(target ? target : source);
        nb[s->n_binds].tree_fd = tree_fd;
        if (!nb[s->n_binds].source || !nb[s->n_binds].target) {
                free(nb[s->n_binds].source);
                free(nb[s->n_binds].target);
                safe_close(tree_fd);
                return -ENOMEM;
        }
        s->n_binds++;
        return 0;
}

int
jail_spec_add_bind(struct jail_spec *s, const char *source, const char *target)
{
        return jail_spec_add_bind_tree(s, source, target, -EBADF);
}

int
jail_spec_set_argv(struct jail_spec *s, char *const *argv)
{
        s->argv = strv_free(s->argv);
        for (size_t i = 0; argv[i]; i++)
                if (strv_push_dup(&s->argv, argv[i]) < 0)
                        return -ENOMEM;
        return 0;
}

int
jail_spec_add_env(struct jail_spec *s, const char *assignment)
{
        if (!strchr(assignment, '=') || assignment[0] == '=')
                return -EINVAL;
        return strv_push_dup(&s->envp, assignment);
}

int
jail_spec_pass_fd(struct jail_spec *s, int fd)
{
        if (fd < 0)
                return -EBADF;
        if (s->n_pass_fds >= JAIL_MAX_PASS_FDS)
                return -E2BIG;
        s->pass_fds[s->n_pass_fds++] = fd;
        return 0;
}

static bool
path_is_safe_absolute(const char *p)
{
        /* Targets are created below the new root: no "..", no relative paths. */
        if (!p || p[0] != '/' || strlen(p) >= 4096)
                return false;
        for (const char *c = p; (c = strstr(c, "..")); c += 2)
                if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/'))
                        return false;
        return true;
}

int
jail_spec_validate(const struct jail_spec *s, const char **ret_reason)
{
        const char *why = NULL;
        char buf[128];

        if (!s->argv || !s->argv[0])
                why = "no program to run";
        else if (s->argv[0][0] != '/')
                why = "the program must be an absolute path inside the jail";
        else if (jail_idmap_format(&s->idmap, 0, buf, sizeof buf) < 0 ||
                 jail_idmap_format(&s->idmap, 1, buf, sizeof buf) < 0)
                why = "the id map is invalid or would map host root";
        else if (s->tmp_bytes < (1u << 20) || s->workspace_bytes < (1u << 20))
                why = "/tmp and /workspace need at least 1 MiB each";
        else if (s->keep_caps & ~((UINT64_C(1) << (CAP_LAST_CAP + 1)) - 1))
                why = "unknown capability in keep set";
        for (size_t i = 0; !why && i < s->n_binds; i++)
                if (!path_is_safe_absolute(s->binds[i].source) ||
                    !path_is_safe_absolute(s->binds[i].target) || strcmp(s->binds[i].target, "/") == 0)
                        why = "bind paths must be absolute, without '..', and not the root";
        if (why) {
                if (ret_reason)
                        *ret_reason = why;
                return -EINVAL;
        }
        return 0;
}
