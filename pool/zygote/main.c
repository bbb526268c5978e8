/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vivarium-zygote: exec'd as PID 1 of a finished jail. Initialises Python,
 * preloads modules, then forks workers on request from the pool and reports
 * their exits. Runs no request code and holds no secret: its environment was
 * synthesized by the pool and its only channel is the control socket (fd 3).
 *
 * One-shot mode (--oneshot; `vivarium run` without a daemon): the zygote
 * starts no interpreter. It forks its one worker at once, exactly as above,
 * and the worker starts Python itself without the preload list. The worker
 * has the seccomp program compiled at build time, or, where that cannot be
 * used (jail_seccomp_prebuilt_use()), the zygote compiles it meanwhile and
 * hands it over through a pipe; once the worker's exit is reported, the
 * zygote exits and the jail ends with it.
 *
 * Invariants: exactly one thread at every fork (checked); PyOS_BeforeFork /
 * PyOS_AfterFork_* around every fork of an initialised interpreter; non-dumpable, so a worker sharing its
 * uid cannot read its memory; SIGCHLD is blocked and read from a signalfd,
 * and every child is reaped, including orphans reparented to PID 1. Each
 * worker is forked into a pid namespace of its own (pidns.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "fd-util.h"
#include "frame.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "parse-util.h"
#include "pidns.h"
#include "python.h"
#include "seccomp-filter.h"
#include "validate.h"
#include "wire.h"
#include "zygote.h"

/* The pool runs at most 64 workers; a slot stays taken until its worker and
 * its namespace's init are both reaped, hence the headroom. */
#define MAX_WORKERS 128

struct worker_slot {
        pid_t pid; /* 0 once reaped */
        uint64_t slot;
        struct worker_pidns ns;
};

static struct worker_slot workers[MAX_WORKERS];
static _Alignas(16) char init_stacks[MAX_WORKERS][ZYGOTE_INIT_STACK_SIZE];
struct sock_fprog worker_filter;

/* One-shot mode: what the worker needs to start its interpreter, and
 * whether its exit has been reported (the zygote's work is done then). */
static struct {
        bool on;
        const char *runner_dir;
        char **preload;
        bool done;
} oneshot;

int
zygote_send(int fd, const msgpack_sbuffer *buf)
{
        return proto_frame_write(fd, buf->data, buf->size);
}

static int
send_packed(void (*fill)(msgpack_packer *pk, const void *arg), const void *arg)
{
        msgpack_sbuffer buf;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&buf);
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        fill(&pk, arg);
        r = zygote_send(ZYGOTE_CONTROL_FD, &buf);
        msgpack_sbuffer_destroy(&buf);
        return r;
}

static void
fill_ready(msgpack_packer *pk, const void *arg)
{
        char *const *preloaded = arg;
        size_t n = strv_length(preloaded);

        msgpack_pack_map(pk, 3);
        proto_pack_key_str(pk, "type", "ready");
        proto_pack_key_str(pk, "python", zygote_python_version());
        proto_pack_str(pk, "preloaded");
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
                proto_pack_str(pk, preloaded[i]);
}

static void
fill_error(msgpack_packer *pk, const void *arg)
{
        msgpack_pack_map(pk, 2);
        proto_pack_key_str(pk, "type", "error");
        proto_pack_key_str(pk, "message", arg);
}

static void
fill_spawned(msgpack_packer *pk, const void *arg)
{
        const struct worker_slot *w = arg;

        msgpack_pack_map(pk, 3);
        proto_pack_key_str(pk, "type", "spawned");
        proto_pack_key_uint(pk, "slot", w->slot);
        proto_pack_key_uint(pk, "pid", (uint64_t) w->pid);
}

struct exit_report {
        const struct worker_slot *w;
        const siginfo_t *si;
        const struct rusage *ru;
};

static void
fill_exit(msgpack_packer *pk, const void *arg)
{
        const struct exit_report *e = arg;
        bool signaled = e->si->si_code == CLD_KILLED || e->si->si_code == CLD_DUMPED;

        msgpack_pack_map(pk, 8);
        proto_pack_key_str(pk, "type", "exit");
        proto_pack_key_uint(pk, "pid", (uint64_t) e->w->pid);
        proto_pack_key_uint(pk, "slot", e->w->slot);
        proto_pack_key_uint(pk, "code", signaled ? 0 : (uint64_t) (e->si->si_status & 0xff));
        proto_pack_key_uint(pk, "signal", signaled ? (uint64_t) e->si->si_status : 0);
        proto_pack_key_uint(pk, "utime_us",
                            (uint64_t) e->ru->ru_utime.tv_sec * 1000000 +
                                    (uint64_t) e->ru->ru_utime.tv_usec);
        proto_pack_key_uint(pk, "stime_us",
                            (uint64_t) e->ru->ru_stime.tv_sec * 1000000 +
                                    (uint64_t) e->ru->ru_stime.tv_usec);
        proto_pack_key_uint(pk, "maxrss_kb", (uint64_t) e->ru->ru_maxrss);
}

static bool
single_threaded(void)
{
        DIR *d = opendir("/proc/self/task");
        int n = 0;

        if (!d)
                return false;
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        closedir(d);
        return n == 1;
}

static struct worker_slot *
slot_free(void)
{
        for (size_t i = 0; i < MAX_WORKERS; i++)
                if (workers[i].pid == 0 && workers[i].ns.init_pid == 0) {
                        workers[i].ns = (struct worker_pidns){.init_pidfd = -EBADF, .stack = init_stacks[i]};
                        return &workers[i];
                }
        return NULL;
}

/* One-shot: build the program now that the worker is starting its
 * interpreter beside us, and write it to the worker's pipe (its length, then
 * the instructions; nothing if it cannot be built: the worker fails). */
static void
send_filter(int fd)
{
        if (!worker_filter.filter &&
            jail_seccomp_export(&(struct jail_seccomp_options){}, &worker_filter) < 0)
                worker_filter = (struct sock_fprog){};
        if (worker_filter.filter) {
                uint16_t len = worker_filter.len;
                if (loop_write(fd, &len, sizeof len) >= 0)
                        (void) loop_write(fd, worker_filter.filter, len * sizeof worker_filter.filter[0]);
        }
        safe_close(fd);
}

static int
fork_worker(struct worker_setup *ws, int fds[WIRE_SPAWN_FDS])
{
        _cleanup_close_pair_ int filter[2] = {-EBADF, -EBADF};
        struct worker_slot *w = slot_free();
        pid_t pid;
        int r;

        if (!w || !single_threaded() || (oneshot.on && (oneshot.done || w != &workers[0])))
                return -EAGAIN;
        if (oneshot.on) {
                /* A pipe only for a program still to be compiled. */
                if (!worker_filter.filter && pipe2(filter, O_CLOEXEC) < 0)
                        return -errno;
                *ws = (struct worker_setup){.slot = ws->slot,
                                            .uid = ws->uid,
                                            .tmp_bytes = ws->tmp_bytes,
                                            .workspace_bytes = ws->workspace_bytes,
                                            .oneshot = true,
                                            .runner_dir = oneshot.runner_dir,
                                            .preload = oneshot.preload,
                                            .filter_fd = filter[0]};
        }
        r = pidns_enter_new(&w->ns);
        if (r < 0)
                return r;
        /* No interpreter to prepare for the fork in one-shot mode. */
        if (!oneshot.on)
                PyOS_BeforeFork();
        pid = fork();
        if (pid == 0) {
                if (!oneshot.on)
                        PyOS_AfterFork_Child();
                worker_main(fds[0], fds[1], fds[2], ws);
        }
        if (!oneshot.on)
                PyOS_AfterFork_Parent();
        r = pid < 0 ? -errno : 0;
        if (pidns_leave() < 0)
                return -EIO; /* ends the zygote: see pidns_leave() */
        if (r < 0) {
                pidns_end(&w->ns);
                return r;
        }
        w->pid = pid;
        w->slot = ws->slot;
        r = send_packed(fill_spawned, w);
        if (oneshot.on && filter[1] >= 0)
                send_filter(TAKE_FD(filter[1]));
        return r;
}

static int
recv_spawn(int fd, struct proto_frame_reader *reader, int fds[WIRE_SPAWN_FDS], struct worker_setup *ret)
{
        char data[WIRE_MAX_ZYGOTE_FRAME];
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * WIRE_SPAWN_FDS)];
        } control;
        struct iovec iov = {data, sizeof data};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        const void *frame;
        size_t size;
        msgpack_unpacked msg;
        int r;

        if (n <= 0)
                return n == 0 ? -EPIPE : -errno;
        if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * WIRE_SPAWN_FDS) ||
            (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
                return -EBADMSG;
        memcpy(fds, CMSG_DATA(c), sizeof(int) * WIRE_SPAWN_FDS);
        r = proto_frame_reader_feed(reader, data, (size_t) n);
        if (r >= 0 && proto_frame_reader_pop(reader, &frame, &size) <= 0)
                r = -EBADMSG; /* the pool sends each spawn as one whole frame */
        if (r >= 0)
                r = proto_validate_map(frame, size, NULL, NULL);
        if (r >= 0)
                r = proto_unpack(frame, size, &msg);
        if (r >= 0) {
                if (proto_map_get_uint(&msg.data, "slot", &ret->slot) < 0 ||
                    proto_map_get_uint(&msg.data, "uid", &ret->uid) < 0 ||
                    proto_map_get_uint(&msg.data, "tmp_bytes", &ret->tmp_bytes) < 0 ||
                    proto_map_get_uint(&msg.data, "workspace_bytes", &ret->workspace_bytes) < 0 ||
                    ret->uid > 65535)
                        r = -EBADMSG;
                msgpack_unpacked_destroy(&msg);
        }
        return r;
}

static int
handle_control(struct proto_frame_reader *reader)
{
        int fds[WIRE_SPAWN_FDS] = {-EBADF, -EBADF, -EBADF};
        struct worker_setup ws = {.filter_fd = -EBADF};
        int r = recv_spawn(ZYGOTE_CONTROL_FD, reader, fds, &ws);

        if (r >= 0)
                r = fork_worker(&ws, fds);
        for (size_t i = 0; i < WIRE_SPAWN_FDS; i++)
                safe_close(fds[i]);
        return r;
}

static void
reap_and_report(void)
{
        for (;;) {
                siginfo_t si = {};
                struct rusage ru = {};
                /* waitid() leaves the child a zombie (WNOWAIT) so its rusage can
                 * still be collected by wait4() below. */
                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 || si.si_pid == 0)
                        return;
                if (wait4(si.si_pid, NULL, __WALL, &ru) < 0)
                        return;
                for (size_t i = 0; i < MAX_WORKERS; i++) {
                        if (pidns_reaped(&workers[i].ns, si.si_pid) || workers[i].pid != si.si_pid)
                                continue;
                        struct exit_report e = {&workers[i], &si, &ru};
                        (void) send_packed(fill_exit, &e);
                        workers[i].pid = 0;
                        /* Whatever the code left running dies with the namespace. */
                        pidns_end(&workers[i].ns);
                        oneshot.done = oneshot.on;
                }
        }
}

static int
zygote_loop(int sigfd)
{
        struct proto_frame_reader *reader = NULL;
        struct pollfd p[2] = {{ZYGOTE_CONTROL_FD, POLLIN, 0}, {sigfd, POLLIN, 0}};
        int r = proto_frame_reader_new(WIRE_MAX_ZYGOTE_FRAME, &reader);

        while (r >= 0 && !oneshot.done) {
                if (poll(p, 2, -1) < 0) {
                        r = errno == EINTR ? 0 : -errno;
                        continue;
                }
                if (p[1].revents) {
                        struct signalfd_siginfo ssi;
                        while (read(sigfd, &ssi, sizeof ssi) > 0)
                                ;
                        reap_and_report();
                }
                if (p[0].revents)
                        r = handle_control(reader);
        }
        proto_frame_reader_free(reader);
        return r;
}

static int
parse_argv(int argc, char **argv, char ***ret_preload, bool *ret_if_installed, const char **ret_runner_dir)
{
        static const struct option opts[] = {
                {"preload", required_argument, NULL, 'p'},
                {"preload-if-installed", no_argument, NULL, 'i'},
                {"runner-dir", required_argument, NULL, 'r'},
                {"oneshot", no_argument, NULL, 'o'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'r') {
                        *ret_runner_dir = optarg;
                        continue;
                }
                if (c == 'o') {
                        oneshot.on = true;
                        continue;
                }
                if (c == 'i') {
                        *ret_if_installed = true;
                        continue;
                }
                if (c != 'p')
                        return -EINVAL;
                *ret_preload = strv_free(*ret_preload);
                if (parse_module_list(optarg, ret_preload) < 0)
                        return -EINVAL;
        }
        return optind == argc && *ret_runner_dir ? 0 : -EINVAL;
}

int
main(int argc, char **argv)
{
        _cleanup_(strv_freep) char **preloaded = NULL;
        char **preload = NULL;
        bool if_installed = false;
        _cleanup_free_ char *error = NULL;
        const char *datadir = NULL;
        sigset_t mask;
        int sigfd, r;

        log_set_ident("vivarium-zygote");
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (parse_argv(argc, argv, &preload, &if_installed, &datadir) < 0) {
                (void) send_packed(fill_error, "vivarium-zygote: invalid arguments");
                return 2;
        }
        /* Before Python starts, so its signal module records what `python -c`
         * would see: SIGPIPE and SIGXFSZ ignored (EPIPE and EFBIG become errors). */
        (void) signal(SIGPIPE, SIG_IGN);
        (void) signal(SIGXFSZ, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        r = sigfd < 0 ? -errno : pidns_setup();
        if (r >= 0 && oneshot.on) {
                /* The worker starts the interpreter and imports these. */
                oneshot.runner_dir = datadir;
                oneshot.preload = TAKE_PTR(preload);
        }
        if (r >= 0 && !oneshot.on)
                r = zygote_python_init(datadir, preload, if_installed, &preloaded, &error);
        /* Compiled at build time where libseccomp is the same as then (a fresh
         * compile takes milliseconds; tests/unit/test-seccomp.c checks the two
         * are equal); else built once here, loaded by every worker. (One-shot:
         * then built while the worker starts, see send_filter().) */
        if (r >= 0 && jail_seccomp_prebuilt_use(&jail_seccomp_worker_prebuilt, &worker_filter) > 0 &&
            !oneshot.on && (r = jail_seccomp_export(&(struct jail_seccomp_options){}, &worker_filter)) < 0)
                error = strdup("building the seccomp filter failed");
        strv_free(preload);
        if (r < 0) {
                (void) send_packed(fill_error, error ? error : "vivarium-zygote: start-up failed");
                return 1;
        }
        if (send_packed(fill_ready, preloaded) < 0)
                return 1;
        r = zygote_loop(sigfd);
        strv_free(oneshot.preload);
        return r == -EPIPE || oneshot.done ? 0 : 1;
}
