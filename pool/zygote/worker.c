/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A worker, just forked from the zygote. Trust zone: inside the jail. Until
 * its lockdown it holds the zygote's capabilities (within the namespace): it
 * uses them to mount its private scratch space, then locks itself down
 * completely (jail_lockdown_apply()) before it warms up, says hello and
 * reads a request. The request is parsed here, in C; only the code and its
 * stdin reach Python.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "frame.h"
#include "lockdown.h"
#include "log.h"
#include "macro.h"
#include "mount-plan.h"
#include "msg.h"
#include "python.h"
#include "validate.h"
#include "wire.h"
#include "zygote.h"

struct worker_request {
        const char *code;
        size_t code_len;
        const char *stdin_data;
        size_t stdin_len;
        struct jail_limits limits;
        uint64_t max_images, max_image_bytes;
};

static void
worker_send_simple(const char *type, const char *message)
{
        msgpack_sbuffer buf;
        msgpack_packer pk;

        msgpack_sbuffer_init(&buf);
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, message ? 2 : 1);
        proto_pack_key_str(&pk, "type", type);
        if (message)
                proto_pack_key_str(&pk, "message", message);
        (void) zygote_send(WORKER_SOCKET_FD, &buf);
        msgpack_sbuffer_destroy(&buf);
}

_Noreturn static void
worker_fail(const char *message)
{
        worker_send_simple("failed", message);
        _exit(125);
}

static int
parse_limits(const msgpack_object *req, struct jail_limits *l)
{
        const msgpack_object *m;
        int r = proto_map_get_map(req, "limits", &m);

        if (r < 0)
                return r;
        if (proto_map_get_uint(m, "cpu_s", &l->cpu_seconds) < 0 ||
            proto_map_get_uint(m, "nproc", &l->nproc) < 0 ||
            proto_map_get_uint(m, "nofile", &l->nofile) < 0 ||
            proto_map_get_uint(m, "fsize", &l->fsize_bytes) < 0 ||
            proto_map_get_uint(m, "as_bytes", &l->address_space_bytes) < 0)
                return -EBADMSG;
        return 0;
}

static int
parse_request(const msgpack_object *req, struct worker_request *w)
{
        const char *type;
        size_t type_len;

        if (proto_map_get_str(req, "type", &type, &type_len) < 0 || type_len != 3 ||
            memcmp(type, "run", 3) != 0)
                return -EBADMSG;
        if (proto_map_get_str(req, "code", &w->code, &w->code_len) < 0 ||
            proto_map_get_bytes(req, "stdin", &w->stdin_data, &w->stdin_len) < 0 ||
            proto_map_get_uint(req, "max_images", &w->max_images) < 0 ||
            proto_map_get_uint(req, "max_image_bytes", &w->max_image_bytes) < 0)
                return -EBADMSG;
        return parse_limits(req, &w->limits);
}

/* RLIMIT_AS counts address space, not memory: the interpreter and its preloaded
 * modules (BLAS reserves large arenas) already occupy much of it. The limit is
 * the request's budget on top of what the worker maps at lockdown. */
static uint64_t
address_space_limit(uint64_t budget)
{
        _cleanup_free_ char *statm = NULL;
        unsigned long long pages = 0;

        if (budget == 0)
                return 0;
        if (read_file_bounded("/proc/self/statm", 4096, &statm, NULL) < 0 ||
            sscanf(statm, "%llu", &pages) != 1)
                return budget;
        return budget + (uint64_t) pages * (uint64_t) sysconf(_SC_PAGESIZE);
}

static int
setup_stdin(const char *data, size_t len)
{
        _cleanup_close_ int fd = -EBADF;

        /* A memfd holds the whole input, so the code can read it at its own pace
         * (and seek), and nothing outside has to feed a pipe. */
        fd = memfd_create("stdin", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (len > 0 && loop_write(fd, data, len) < 0)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, STDIN_FILENO) < 0)
                return -errno;
        return 0;
}

static int
receive_request(struct proto_frame_reader *reader, msgpack_unpacked *ret)
{
        const void *data;
        size_t size;
        int r;

        for (;;) {
                r = proto_frame_reader_pop(reader, &data, &size);
                if (r > 0)
                        break;
                r = proto_frame_reader_fill(reader, WORKER_SOCKET_FD);
                if (r < 0 && r != -EINTR)
                        return r;
        }
        r = proto_validate_map(data, size, NULL, NULL);
        return r < 0 ? r : proto_unpack(data, size, ret);
}

#define WORKER_FILTER_FD 4

static void
worker_arrange_fds(int sock, int out, int err, int filter)
{
        int want[5] = {-EBADF, out, err, sock, filter};
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int keep[2] = {WORKER_SOCKET_FD, WORKER_FILTER_FD};
        size_t n = filter >= 0 ? 5 : 4;

        want[0] = devnull;
        /* Exactly stdio and the worker's own socket survive (and, one-shot, the
         * pipe the seccomp program comes through, until it has); the zygote's
         * control socket and everything else are closed (THREATS.md §C). */
        if (devnull < 0 || fd_arrange_stdio(want, n) < 0 || close_all_fds_except(keep, n - 3) < 0)
                _exit(125);
        (void) fd_set_cloexec(WORKER_SOCKET_FD, true);
}

/* One-shot: the program the zygote compiles while this worker starts its
 * interpreter, as a count of instructions and the instructions. The zygote
 * closes the pipe without writing if it could not build it. */
static int
worker_receive_filter(void)
{
        static struct sock_filter insns[BPF_MAXINSNS];
        uint16_t len;
        int r = loop_read_exact(WORKER_FILTER_FD, &len, sizeof len);

        if (r >= 0 && (len == 0 || len > BPF_MAXINSNS))
                r = -EBADMSG;
        if (r >= 0)
                r = loop_read_exact(WORKER_FILTER_FD, insns, len * sizeof insns[0]);
        (void) close(WORKER_FILTER_FD);
        if (r < 0)
                return r;
        worker_filter = (struct sock_fprog){.len = len, .filter = insns};
        return 0;
}

static void
worker_reset_signals(void)
{
        sigset_t all;

        (void) signal(SIGCHLD, SIG_DFL);
        /* Python's defaults: EPIPE becomes BrokenPipeError, EFBIG an OSError. */
        (void) signal(SIGPIPE, SIG_IGN);
        (void) signal(SIGXFSZ, SIG_IGN);
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
}

/* The kernel mounts a new proc only where one is already fully visible, so
 * the new one is made beside the jail's, then takes its place. */
static int
worker_replace_proc(void)
{
        static const char scratch[] = "/tmp/.proc";
        int r;

        if (mkdir(scratch, 0555) < 0)
                return -errno;
        r = jail_mount_proc(scratch);
        if (r >= 0 && umount2("/proc", MNT_DETACH) < 0)
                r = -errno;
        if (r >= 0 && mount(scratch, "/proc", NULL, MS_MOVE, NULL) < 0)
                r = -errno;
        if (r >= 0 && rmdir(scratch) < 0)
                r = -errno;
        return r;
}

/* A private mount namespace with fresh tmpfs on /tmp, /workspace and /dev/shm:
 * nothing a request writes is seen by another worker or a later request, and
 * all of it is freed when the worker exits. /proc is mounted anew for the
 * worker's own pid namespace, so it lists only the worker and its children.
 * Done before the hello, off the request's critical path. */
static int
worker_private_mounts(const struct worker_setup *ws)
{
        char tmp[96], work[160];
        int r;

        (void) snprintf(tmp, sizeof tmp, "mode=1777,size=%llu,nr_inodes=16384",
                        (unsigned long long) ws->tmp_bytes);
        (void) snprintf(work, sizeof work, "mode=0755,uid=%llu,gid=%llu,size=%llu,nr_inodes=65536",
                        (unsigned long long) ws->uid, (unsigned long long) ws->uid,
                        (unsigned long long) ws->workspace_bytes);
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp) < 0 ||
            mount("tmpfs", "/workspace", "tmpfs", MS_NOSUID | MS_NODEV, work) < 0 ||
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=1777,size=16m,nr_inodes=1024") < 0)
                return -errno;
        r = worker_replace_proc();
        if (r < 0)
                return r;
        return chdir("/workspace") < 0 ? -errno : 0;
}

/* One-shot: the interpreter the zygote did not start, before the lockdown
 * (as in a zygote: imports read modules the jail's root offers, nothing of
 * the request exists yet). */
static void
worker_start_python(const struct worker_setup *ws)
{
        _cleanup_free_ char *error = NULL;
        char message[320];

        if (zygote_python_init_oneshot(ws->runner_dir, ws->preload, &error) < 0) {
                (void) snprintf(message, sizeof message, "%s", error ? error : "starting Python failed");
                worker_fail(message);
        }
}

_Noreturn void
worker_main(int sock, int out, int err, const struct worker_setup *ws)
{
        struct proto_frame_reader *reader = NULL;
        struct worker_request w = {};
        msgpack_unpacked req;
        msgpack_sbuffer buf;
        msgpack_packer pk;
        const char *step = NULL;
        int r;

        worker_arrange_fds(sock, out, err, ws->oneshot ? ws->filter_fd : -EBADF);
        worker_reset_signals();
        /* A session and process group of its own: calls that name "my process
         * group" (kill(0, ...), setpriority(PRIO_PGRP, 0), ioprio_set by group)
         * find the group's members even outside the worker's pid namespace, and
         * the zygote's group holds the zygote and every other worker. */
        if (setsid() < 0)
                worker_fail("starting a session of its own");
        /* Before the private mounts: the runner (and what --preload names) may
         * live below a /tmp that the worker's own /tmp then hides, as they
         * do for a zygote. */
        if (ws->oneshot)
                worker_start_python(ws);
        if (worker_private_mounts(ws) < 0)
                worker_fail("mounting the worker's /tmp, /workspace and /proc");
        /* (Not if the zygote had the program before the fork: it is ours too.) */
        if (ws->oneshot && ws->filter_fd >= 0 && worker_receive_filter() < 0)
                worker_fail("receiving the seccomp filter from the zygote");
        /* The whole lockdown happens now, before the hello: the slot's uid and the
         * filter are known at fork, so a request pays none of it (loading the
         * seccomp program alone costs hundreds of microseconds), and even the
         * warm-up below runs locked down. Only rlimits wait for the request. */
        r = jail_lockdown_apply(&(struct jail_lockdown){.uid = (uid_t) ws->uid,
                                                        .gid = (gid_t) ws->uid,
                                                        .filter = &worker_filter},
                                &step);
        if (r < 0)
                worker_fail(step);
        /* A one-shot worker serves the one request it was made for: warming up
         * would only delay it. */
        if (ws->oneshot)
                zygote_python_sigint();
        else
                zygote_python_warm();
        worker_send_simple("hello", NULL);
        if (proto_frame_reader_new(WIRE_MAX_RESULT_FRAME, &reader) < 0)
                _exit(125);
        r = receive_request(reader, &req);
        if (r < 0)
                _exit(r == -EPIPE ? 0 : 125); /* the pool retired us before any request */
        if (parse_request(&req.data, &w) < 0)
                worker_fail("malformed run request");
        if (setup_stdin(w.stdin_data, w.stdin_len) < 0)
                worker_fail("could not set up stdin");
        w.limits.address_space_bytes = address_space_limit(w.limits.address_space_bytes);
        if (jail_rlimits_apply(&w.limits) < 0)
                worker_fail("applying resource limits");
        msgpack_sbuffer_init(&buf);
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        if (zygote_python_run(w.code, w.code_len, (unsigned) w.max_images, (size_t) w.max_image_bytes,
                              w.limits.address_space_bytes, &pk) < 0)
                _exit(126); /* reported as "crashed" by the pool */
        (void) zygote_send(WORKER_SOCKET_FD, &buf);
        /* Tearing down a forked interpreter's address space takes a while; do it
         * at idle priority so the next request does not wait for it. Leave at
         * once: no atexit hooks, no finalisers, no lingering threads. */
        /* (One-shot: nothing waits to be served next, but the caller waits
         * for the jail to end, and a killed SCHED_IDLE task may starve for
         * tens of milliseconds on a busy machine before it can exit.) */
        if (!ws->oneshot)
                (void) sched_setscheduler(0, SCHED_IDLE, &(struct sched_param){0});
        _exit(0);
}
