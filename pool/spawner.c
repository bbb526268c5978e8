/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spawner process and the dispatcher's side of its socket. See spawner.h
 * for the message set. Trust zone: trusted (it runs our code only), but small
 * on purpose: it builds jails and starts zygotes, nothing else, so it can be
 * audited in one sitting, and it is the process that keeps the privileges
 * for that once the dispatcher drops its own (to the service user, see
 * vivarium-security(7)): it also makes, fills and removes the workers'
 * cgroups (spawner-cgroup.c), which an unprivileged dispatcher cannot.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "coverage.h"
#include "fd-util.h"
#include "jail.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "parse-util.h"
#include "process-util.h"
#include "spawner.h"
#include "validate.h"
#include "wire.h"

#define SPAWNER_MAX_JAILS 64

struct jail_entry {
        uint64_t id;
        struct jail_process proc; /* pid 0: free */
};

struct spawner_state {
        const struct pool_config *config;
        int sock;
        enum jail_cgroup_mode cgroup_mode;
        struct jail_entry jails[SPAWNER_MAX_JAILS];
        struct spawner_cgroup cgroups[SPAWNER_MAX_CGROUPS];
};

static const char *const zygote_env[] = {
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOME=/workspace",
        "USER=sandbox",
        "LOGNAME=sandbox",
        "LANG=C.UTF-8",
        "TMPDIR=/tmp",
        "MPLBACKEND=Agg",
        "MPLCONFIGDIR=/tmp/.matplotlib",
        "PYTHONDONTWRITEBYTECODE=1",
        "OPENBLAS_NUM_THREADS=1",
        "OMP_NUM_THREADS=1",
        "MKL_NUM_THREADS=1",
#ifdef HAVE_SANITIZERS
        /* An allocation past RLIMIT_AS must become MemoryError, not an ASan abort. */
        "ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0",
#endif
};

int
spawner_zygote_spec(const struct pool_config *c, char *const *preload, bool if_installed, uint64_t tmp,
                    uint64_t ws, int control_fd, struct jail_spec **ret, char **ret_error)
{
        _cleanup_(jail_spec_freep) struct jail_spec *s = NULL;
        _cleanup_free_ char *list = NULL;
        size_t len = 1;

        if (jail_spec_new(&s) < 0)
                return -ENOMEM;
        for (size_t i = 0; preload && preload[i]; i++)
                len += strlen(preload[i]) + 1;
        list = calloc(1, len);
        for (size_t i = 0; list && preload && preload[i]; i++) {
                if (i > 0)
                        strcat(list, ",");
                strcat(list, preload[i]);
        }
        /* The optional flags come last: argv ends at the first NULL. */
        char *argv[] = {(char *) c->zygote_path,
                        (char *) "--runner-dir",
                        (char *) c->runner_dir,
                        (char *) "--preload",
                        list,
                        NULL,
                        NULL,
                        NULL};
        size_t n_argv = 5;
        if (c->oneshot)
                argv[n_argv++] = (char *) "--oneshot";
        if (if_installed)
                argv[n_argv++] = (char *) "--preload-if-installed";
        int r;

        if (!list || jail_spec_set_idmap_auto(s) < 0 || jail_spec_set_argv(s, argv) < 0 ||
            jail_spec_pass_fd(s, control_fd) < 0)
                return -ENOMEM;
        r = spawner_add_sources(s, c, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(zygote_env); i++)
                if (jail_spec_add_env(s, zygote_env[i]) < 0)
                        return -ENOMEM;
        s->tmp_bytes = tmp;
        s->workspace_bytes = ws;
        /* A worker, before it drops everything, changes its ids (SETUID, SETGID),
         * mounts its private /tmp, /workspace and /proc (SYS_ADMIN) and clears
         * its bounding set (SETPCAP). The zygote creates a pid namespace per
         * worker and enters it for the fork (SYS_ADMIN); entering it needs
         * ptrace access to the namespace's init, which shares the zygote's
         * non-dumpable memory (SYS_PTRACE). All of it within the jail's user
         * namespace only. */
        s->keep_caps = (UINT64_C(1) << CAP_SETUID) | (UINT64_C(1) << CAP_SETGID) |
                       (UINT64_C(1) << CAP_SETPCAP) | (UINT64_C(1) << CAP_SYS_ADMIN) |
                       (UINT64_C(1) << CAP_SYS_PTRACE);
        *ret = TAKE_PTR(s);
        return 0;
}

static void
reply_failed(struct spawner_state *st, uint64_t id, int error, const char *message)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        proto_pack_key_str(&pk, "type", "failed");
        proto_pack_key_uint(&pk, "id", id);
        proto_pack_str(&pk, "error");
        msgpack_pack_int(&pk, error);
        proto_pack_key_str(&pk, "message", message ? message : "");
        (void) spawner_send(st->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
}

static struct jail_entry *
jail_slot(struct spawner_state *st)
{
        for (size_t i = 0; i < SPAWNER_MAX_JAILS; i++)
                if (st->jails[i].proc.pid == 0)
                        return &st->jails[i];
        return NULL;
}

static void
start_zygote(struct spawner_state *st, uint64_t id, char *const *preload, bool if_installed, uint64_t tmp,
             uint64_t ws)
{
        _cleanup_(jail_spec_freep) struct jail_spec *spec = NULL;
        _cleanup_close_pair_ int pair[2] = {-EBADF, -EBADF};
        _cleanup_free_ char *error = NULL;
        struct jail_entry *e = jail_slot(st);
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        if (!e)
                return reply_failed(st, id, -EMFILE, "too many zygotes");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return reply_failed(st, id, -errno, "socketpair");
        r = spawner_zygote_spec(st->config, preload, if_installed, tmp, ws, pair[1], &spec, &error);
        if (r >= 0)
                r = jail_spawn(spec, &e->proc, &error);
        if (r < 0)
                return reply_failed(st, id, r, error);
        e->id = id;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        proto_pack_key_str(&pk, "type", "started");
        proto_pack_key_uint(&pk, "id", id);
        (void) spawner_send(st->sock, &sb, pair[0]);
        msgpack_sbuffer_destroy(&sb);
}

static struct jail_entry *
jail_by_id(struct spawner_state *st, uint64_t id)
{
        for (size_t i = 0; id != 0 && i < SPAWNER_MAX_JAILS; i++)
                if (st->jails[i].proc.pid > 0 && st->jails[i].id == id)
                        return &st->jails[i];
        return NULL;
}

static void
make_cgroup(struct spawner_state *st, const struct spawner_request *rq)
{
        struct jail_entry *e = jail_by_id(st, rq->id);
        _cleanup_close_ int fd = -EBADF;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r = e ? spawner_cgroup_add(st->cgroups, st->config, st->cgroup_mode, e->proc.pid, rq, &fd)
                  : -ESRCH;

        if (r < 0)
                log_debug_errno(r, "spawner: no cgroup for worker ref %llu: %m",
                                (unsigned long long) rq->ref);
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, r < 0 ? 3 : 2);
        proto_pack_key_str(&pk, "type", r < 0 ? "cgroup_failed" : "cgroup");
        proto_pack_key_uint(&pk, "ref", rq->ref);
        if (r < 0) {
                proto_pack_str(&pk, "error");
                msgpack_pack_int(&pk, r);
        }
        (void) spawner_send(st->sock, &sb, fd);
        msgpack_sbuffer_destroy(&sb);
}

static void
set_limits(struct spawner_state *st, const struct spawner_request *rq)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r = spawner_cgroup_limit(st->cgroups, st->config, rq);

        if (r < 0)
                log_debug_errno(r, "spawner: cannot set the limits of ref %llu: %m",
                                (unsigned long long) rq->ref);
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, r < 0 ? 3 : 2);
        proto_pack_key_str(&pk, "type", r < 0 ? "limit_failed" : "limited");
        proto_pack_key_uint(&pk, "ref", rq->ref);
        if (r < 0) {
                proto_pack_str(&pk, "error");
                msgpack_pack_int(&pk, r);
        }
        (void) spawner_send(st->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
}

static int
handle_request(struct spawner_state *st, const void *data, size_t size, int fd)
{
        struct spawner_request rq;
        struct jail_entry *e;
        int r = spawner_request_parse(data, size, fd, &rq);

        if (r < 0)
                return r;
        switch (rq.type) {
        case SPAWNER_REQUEST_ZYGOTE:
                start_zygote(st, rq.id, rq.preload, rq.preload_if_installed, rq.tmp_bytes,
                             rq.workspace_bytes);
                break;
        case SPAWNER_REQUEST_KILL:
                e = jail_by_id(st, rq.id);
                if (e)
                        (void) pidfd_signal(e->proc.pidfd, SIGKILL);
                break;
        case SPAWNER_REQUEST_CGROUP:
                make_cgroup(st, &rq);
                break;
        case SPAWNER_REQUEST_UNCGROUP:
                spawner_cgroup_remove(st->cgroups, rq.ref);
                break;
        case SPAWNER_REQUEST_LIMIT:
                set_limits(st, &rq);
                break;
        }
        spawner_request_done(&rq);
        return 0;
}

/* One packet and the descriptor it may carry; more than one, or a truncated
 * packet, is malformed (and whatever came is closed). */
static ssize_t
receive(int sock, char *buf, size_t size, int *ret_fd)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = {buf, size};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
        ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL;

        *ret_fd = -EBADF;
        if (n < 0)
                return -errno;
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[1];
                memcpy(fds, CMSG_DATA(c), MIN(k, (size_t) 1) * sizeof(int));
                if (k >= 1)
                        *ret_fd = fds[0];
        }
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                *ret_fd = safe_close(*ret_fd);
                return -EBADMSG;
        }
        return n;
}

static void
reap(struct spawner_state *st)
{
        for (size_t i = 0; i < SPAWNER_MAX_JAILS; i++) {
                struct jail_entry *e = &st->jails[i];
                siginfo_t si = {};
                if (e->proc.pid == 0 || waitid(P_PIDFD, (id_t) e->proc.pidfd, &si, WEXITED | WNOHANG) < 0 ||
                    si.si_pid == 0)
                        continue;
                msgpack_sbuffer sb;
                msgpack_packer pk;
                bool sig = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
                msgpack_sbuffer_init(&sb);
                msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                msgpack_pack_map(&pk, 4);
                proto_pack_key_str(&pk, "type", "exited");
                proto_pack_key_uint(&pk, "id", e->id);
                proto_pack_key_uint(&pk, "code", sig ? 0 : (uint64_t) si.si_status);
                proto_pack_key_uint(&pk, "signal", sig ? (uint64_t) si.si_status : 0);
                (void) spawner_send(st->sock, &sb, -EBADF);
                msgpack_sbuffer_destroy(&sb);
                e->proc.pidfd = safe_close(e->proc.pidfd);
                e->proc.pid = 0;
                spawner_cgroup_remove_zygote(st->cgroups, e->id);
        }
}

_noreturn_ static void
spawner_main(struct spawner_state *st)
{
        char buf[SPAWNER_MAX_MESSAGE];
        sigset_t mask;
        int sigfd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        for (;;) {
                struct pollfd p[2] = {{st->sock, POLLIN, 0}, {sigfd, POLLIN, 0}};
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents) {
                        struct signalfd_siginfo ssi;
                        while (read(sigfd, &ssi, sizeof ssi) > 0)
                                ;
                        reap(st);
                }
                if (!p[0].revents)
                        continue;
                int fd;
                ssize_t n = receive(st->sock, buf, sizeof buf, &fd);
                if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR && n != -EBADMSG))
                        break; /* the dispatcher is gone */
                if (n == -EBADMSG || (n > 0 && handle_request(st, buf, (size_t) n, fd) < 0))
                        log_error("spawner: malformed request ignored");
                /* The keeper's death may kill us (SIGKILL) before we see EOF. */
                coverage_flush();
        }
        /* Take every jail along: a jail's PID 1 takes its namespace with it. */
        for (size_t i = 0; i < SPAWNER_MAX_JAILS; i++)
                if (st->jails[i].proc.pid > 0)
                        (void) pidfd_signal(st->jails[i].proc.pidfd, SIGKILL);
        spawner_cgroup_remove_zygote(st->cgroups, 0);
        coverage_flush();
        _exit(0);
}

int
spawner_start(const struct pool_config *c, struct spawner *ret)
{
        static struct spawner_state st;
        int pidfd, sock, r;
        pid_t pid;

        r = fork_helper("vivarium-spawn", &pid, &pidfd, &sock);
        if (r < 0)
                return r;
        if (r == 0) {
                st = (struct spawner_state){.config = c, .sock = sock, .cgroup_mode = jail_cgroup_detect()};
                /* Before any group of ours exists: the groups of spawners
                 * killed outright (ours, restarted by the keeper, or another
                 * daemon's), some perhaps left frozen mid-kill. */
                r = st.cgroup_mode != JAIL_CGROUP_NONE ? spawner_cgroup_reclaim(st.cgroup_mode) : 0;
                if (r > 0)
                        log_info("spawner: removed %d cgroup(s) of spawners that are gone", r);
                spawner_main(&st);
        }
        (void) fd_set_nonblock(sock, true);
        *ret = (struct spawner){.pid = pid, .pidfd = pidfd, .sock = sock};
        return 0;
}
