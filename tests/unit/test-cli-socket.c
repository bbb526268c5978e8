/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of how `vivarium run` picks its path: --no-daemon and --verbose,
 * and the rules by which a default daemon socket is trusted (socket-trust.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define ME 1000u
#define OTHER 1001u

static struct stat
st_of(mode_t type, mode_t mode, uid_t uid)
{
        return (struct stat){.st_mode = type | mode, .st_uid = uid};
}

/* rule(...) is 0, or -EPERM with a reason that contains says. */
static void
expect_dir(mode_t mode, uid_t uid, bool leaf, const char *says)
{
        struct stat st = st_of(S_IFDIR, mode, uid);
        char *reason = NULL;
        int r = cli_socket_trust_dir("/d", &st, ME, leaf, &reason);

        if (!says) {
                cr_expect_eq(r, 0, "mode %04o uid %u leaf %d: refused: %s", mode, uid, leaf, reason);
        } else {
                cr_expect_eq(r, -EPERM, "mode %04o uid %u leaf %d: trusted", mode, uid, leaf);
                cr_expect(reason && strstr(reason, says), "mode %04o: said '%s', not '%s'", mode,
                          reason ? reason : "(null)", says);
        }
        free(reason);
}

Test(socket_trust, directory_of_the_socket)
{
        expect_dir(0700, ME, true, NULL);
        expect_dir(0755, 0, true, NULL);  /* /run/vivarium */
        expect_dir(0711, ME, true, NULL); /* searchable is not writable */
        expect_dir(0700, OTHER, true, "owned by uid 1001, not by you or root");
        expect_dir(0777, ME, true, "writable by everyone (mode 0777)");
        expect_dir(0770, ME, true, "writable by its group (mode 0770)");
        expect_dir(01777, 0, true, "writable by everyone (mode 1777)"); /* /tmp itself: anyone plants */
}

Test(socket_trust, directories_above)
{
        expect_dir(0755, 0, false, NULL);
        expect_dir(01777, 0, false, NULL);                  /* /tmp above our own 0700 directory */
        expect_dir(0777, 0, false, "writable by everyone"); /* not sticky: ours can be renamed away */
        expect_dir(0775, ME, false, "writable by its group");
        expect_dir(0755, OTHER, false, "owned by uid 1001");
}

Test(socket_trust, not_a_directory)
{
        struct stat st = st_of(S_IFLNK, 0777, ME);
        char *reason = NULL;

        cr_expect_eq(cli_socket_trust_dir("/d", &st, ME, true, &reason), -EPERM);
        cr_expect(reason && strstr(reason, "/d is not a directory"));
        free(reason);
}

Test(socket_trust, the_socket)
{
        static const struct {
                mode_t type;
                uid_t uid;
                const char *says;
        } cases[] = {
                {S_IFSOCK, ME, NULL},
                {S_IFSOCK, 0, NULL},
                {S_IFSOCK, OTHER, "owned by uid 1001, not by you or root"},
                {S_IFREG, ME, "not a socket"},
                {S_IFLNK, ME, "not a socket"}, /* lstat: a symlink is never followed */
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct stat st = st_of(cases[i].type, 0600, cases[i].uid);
                char *reason = NULL;
                int r = cli_socket_trust_file(&st, ME, &reason);
                if (!cases[i].says)
                        cr_expect_eq(r, 0, "case %zu", i);
                else
                        cr_expect(r == -EPERM && reason && strstr(reason, cases[i].says),
                                  "case %zu: %d '%s'", i, r, reason ? reason : "(null)");
                free(reason);
        }
}

static int
parse(struct run_args *a, char **err, int argc, const char **args)
{
        char *argv[8] = {};

        memcpy(argv, args, sizeof(char *) * (size_t) argc);
        *err = NULL;
        return cli_run_parse(argc, argv, a, err);
}

Test(socket_trust, run_options_for_the_path)
{
        struct run_args a;
        char *err;

        cr_assert_eq(parse(&a, &err, 4, (const char *[]){"run", "--no-daemon", "-c", "1"}), 0);
        cr_expect(a.no_daemon);
        cr_expect(!a.verbose);
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 4, (const char *[]){"run", "--verbose", "-c", "1"}), 0);
        cr_expect(a.verbose);
        cr_expect(!a.no_daemon);
        run_args_done(&a);
        cr_assert_eq(parse(&a, &err, 5, (const char *[]){"run", "--no-daemon", "--socket", "/s", "-"}),
                     -EINVAL);
        cr_expect(err && strstr(err, "--no-daemon and --socket contradict"), "said '%s'", err);
        free(err);
        run_args_done(&a);
}
