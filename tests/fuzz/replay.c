/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main() for a fuzz target built without libFuzzer: replays inputs through
 * LLVMFuzzerTestOneInput() so that `make check` runs every corpus as a
 * regression test, with whatever sanitizers the tree was configured with.
 *
 * Arguments are files, or directories whose files (not dot-files, not
 * subdirectories) are replayed in name order. Without arguments the target's
 * checked-in corpus is replayed: $top_srcdir (exported by the test harness)
 * or else the source directory at build time, then tests/fuzz/corpus/<name>.
 *
 * Output is TAP, one "ok" per input and the plan at the end. A finding
 * aborts (or a sanitizer kills) the process, which the harness reports as a
 * failure; the path of the input being replayed is written to stderr first,
 * so the test log names the culprit. Each input is copied into a buffer of
 * exactly its size, as libFuzzer does, so that overreads are caught.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the fuzz target"
#endif
#ifndef FUZZ_SRCDIR
#error "FUZZ_SRCDIR must name the source directory"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct replay {
        unsigned n;
        bool failed;
};

static int
read_all(const char *path, uint8_t **ret, size_t *ret_size)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t size, got = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        size = (size_t) st.st_size;
        /* malloc(0) may return NULL; the target still gets a valid pointer. */
        buf = malloc(size > 0 ? size : 1);
        if (!buf)
                return -ENOMEM;
        while (got < size) {
                ssize_t k = read(fd, buf + got, size - got);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO; /* shrank while we read it */
                got += (size_t) k;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* Replay one file; label is what the TAP line shows. */
static void
replay_file(struct replay *rp, const char *path, const char *label)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        r = read_all(path, &data, &size);
        if (r < 0) {
                printf("not ok %u - replay %s # %s\n", ++rp->n, label, strerror(-r));
                rp->failed = true;
                return;
        }
        fprintf(stderr, "replaying %s (%zu bytes)\n", path, size);
        (void) LLVMFuzzerTestOneInput(data, size);
        printf("ok %u - replay %s\n", ++rp->n, label);
}

static int
skip_dots(const struct dirent *de)
{
        return de->d_name[0] != '.';
}

static const char *
base_name(const char *path)
{
        const char *slash = strrchr(path, '/');

        return slash ? slash + 1 : path;
}

static char *
path_join(const char *dir, const char *name)
{
        char *p;

        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static void
replay_dir(struct replay *rp, const char *dir)
{
        _cleanup_free_ char *dir_copy = strdup(dir);
        struct dirent **names;
        const char *corpus;
        int n;

        /* "CORPUS/FILE" in the TAP lines, with CORPUS the directory's name. */
        if (dir_copy) {
                size_t len = strlen(dir_copy);

                while (len > 1 && dir_copy[len - 1] == '/')
                        dir_copy[--len] = '\0';
        }
        corpus = dir_copy ? base_name(dir_copy) : dir;

        n = scandir(dir, &names, skip_dots, alphasort);
        if (n < 0) {
                printf("not ok %u - replay %s # %s\n", ++rp->n, dir, strerror(errno));
                rp->failed = true;
                return;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *label = NULL;
                struct stat st;

                path = path_join(dir, names[i]->d_name);
                label = path_join(corpus, names[i]->d_name);
                if (!path || !label) {
                        printf("not ok %u - replay %s/%s # out of memory\n", ++rp->n, dir, names[i]->d_name);
                        rp->failed = true;
                } else if (stat(path, &st) >= 0 && S_ISDIR(st.st_mode))
                        printf("# skipping subdirectory %s\n", label);
                else
                        replay_file(rp, path, label);
                free(names[i]);
        }
        free(names);
}

static void
replay_arg(struct replay *rp, const char *arg)
{
        struct stat st;

        if (stat(arg, &st) >= 0 && S_ISDIR(st.st_mode))
                replay_dir(rp, arg);
        else
                replay_file(rp, arg, arg);
}

int
main(int argc, char *argv[])
{
        struct replay rp = {};

        /* The TAP lines before a crash must reach the log. */
        setvbuf(stdout, NULL, _IOLBF, 0);

        if (argc > 1)
                for (int i = 1; i < argc; i++)
                        replay_arg(&rp, argv[i]);
        else {
                const char *srcdir = getenv("top_srcdir");
                _cleanup_free_ char *dir = path_join(srcdir && *srcdir ? srcdir : FUZZ_SRCDIR,
                                                     "tests/fuzz/corpus/" FUZZ_TARGET);

                if (!dir) {
                        fprintf(stderr, "%s-replay: out of memory\n", FUZZ_TARGET);
                        return EXIT_FAILURE;
                }
                replay_dir(&rp, dir);
        }

        /* A corpus with nothing in it is a broken test, not a pass. */
        if (rp.n == 0) {
                printf("not ok 1 - no inputs to replay\n");
                rp.n = 1;
                rp.failed = true;
        }
        printf("1..%u\n", rp.n);
        return rp.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
