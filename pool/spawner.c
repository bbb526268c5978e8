/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spawner process and the dispatcher's side of its socket. See spawner.h
 * for the message set. Trust zone: trusted (it runs our code only), but small
 * on purpose: it builds jails and starts zygotes, nothing else, so it can be
 * audited in one sitting, and it is the process that keeps the privileges
 * for that once the dispatcher drops its own (not done yet: see
 * vivarium-security(7)).
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
        struct jail_entry jails[SPAWNER_MAX_JAILS];
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

static int
send_packed(int sock, msgpack_sbuffer *sb, int fd)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = {sb->data, sb->size};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (fd >= 0) {
                mh.msg_control = &control;
                mh.msg_controllen = sizeof control;
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t) sb->size ? 0 : -errno;
}

/* Build the spec of a zygote's jail: the zygote binary and the runner
 * directory bound read-only, a synthesized environment, the control socket as
 * fd 3, and the capabilities a worker needs until its lockdown. */
static int
zygote_spec(const struct pool_config *c, char *const *preload, uint64_t tmp, uint64_t ws, int control_fd,
            struct jail_spec **ret)
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
        char *argv[] = {(char *) c->zygote_path,
                        (char *) "--runner-dir",
                        (char *) c->runner_dir,
                        (char *) "--preload",
                        list,
                        NULL};
        if (!list || jail_spec_set_idmap_auto(s) < 0 || jail_spec_set_argv(s, argv) < 0 ||
            jail_spec_add_bind(s, c->zygote_path, NULL) < 0 ||
            jail_spec_add_bind(s, c->runner_dir, NULL) < 0 || jail_spec_pass_fd(s, control_fd) < 0)
                return -ENOMEM;
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
        (void) send_packed(st->sock, &sb, -EBADF);
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
start_zygote(struct spawner_state *st, uint64_t id, char *const *preload, uint64_t tmp, uint64_t ws)
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
        r = zygote_spec(st->config, preload, tmp, ws, pair[1], &spec);
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
        (void) send_packed(st->sock, &sb, pair[0]);
        msgpack_sbuffer_destroy(&sb);
}

static int
handle_request(struct spawner_state *st, const void *data, size_t size)
{
        msgpack_unpacked m;
        const msgpack_object *arr;
        uint64_t id, tmp = 0, ws = 0;
        char **preload = NULL;
        int r = proto_validate_map(data, size, NULL, NULL);

        if (r < 0 || (r = proto_unpack(data, size, &m)) < 0)
                return r;
        if (proto_map_get_uint(&m.data, "id", &id) < 0)
                r = -EBADMSG;
        else if (wire_type_is(&m.data, "kill")) {
                for (size_t i = 0; i < SPAWNER_MAX_JAILS; i++)
                        if (st->jails[i].proc.pid > 0 && st->jails[i].id == id)
                                (void) pidfd_signal(st->jails[i].proc.pidfd, SIGKILL);
        } else if (wire_type_is(&m.data, "zygote") && proto_map_get_array(&m.data, "preload", &arr) == 0 &&
                   proto_map_get_uint(&m.data, "tmp_bytes", &tmp) == 0 &&
                   proto_map_get_uint(&m.data, "workspace_bytes", &ws) == 0 &&
                   (preload = calloc(arr->via.array.size + 1, sizeof(char *)))) {
                for (uint32_t i = 0; r >= 0 && i < arr->via.array.size; i++) {
                        const msgpack_object *o = &arr->via.array.ptr[i];
                        preload[i] = o->type == MSGPACK_OBJECT_STR ? strndup(o->via.str.ptr, o->via.str.size)
                                                                   : NULL;
                        if (!preload[i] || !module_name_is_valid(preload[i]))
                                r = -EBADMSG;
                }
                if (r >= 0)
                        start_zygote(st, id, preload, tmp, ws);
                strv_free(preload);
        } else
                r = -EBADMSG;
        msgpack_unpacked_destroy(&m);
        return r;
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
                (void) send_packed(st->sock, &sb, -EBADF);
                msgpack_sbuffer_destroy(&sb);
                e->proc.pidfd = safe_close(e->proc.pidfd);
                e->proc.pid = 0;
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
                ssize_t n = recv(st->sock, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        break; /* the dispatcher is gone */
                if (n > 0 && ((size_t) n > sizeof buf || handle_request(st, buf, (size_t) n) < 0))
                        log_error("spawner: malformed request ignored");
        }
        /* Take every jail along: a jail's PID 1 takes its namespace with it. */
        for (size_t i = 0; i < SPAWNER_MAX_JAILS; i++)
                if (st->jails[i].proc.pid > 0)
                        (void) pidfd_signal(st->jails[i].proc.pidfd, SIGKILL);
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
                st = (struct spawner_state){.config = c, .sock = sock};
                spawner_main(&st);
        }
        (void) fd_set_nonblock(sock, true);
        *ret = (struct spawner){.pid = pid, .pidfd = pidfd, .sock = sock};
        return 0;
}

void
spawner_stop(struct spawner *s)
{
        /* Closing the socket makes the spawner kill its jails and exit. It is
         * the keeper's child, which reaps it: wait for the pidfd to say it
         * exited (bounded), without waitid(). */
        s->sock = safe_close(s->sock);
        if (s->pidfd >= 0) {
                struct pollfd p = {s->pidfd, POLLIN, 0};
                if (poll(&p, 1, 10000) <= 0)
                        (void) pidfd_signal(s->pidfd, SIGKILL);
                s->pidfd = safe_close(s->pidfd);
        }
}

int
spawner_request_zygote(struct spawner *s, uint64_t id, char *const *preload, uint64_t tmp_bytes,
                       uint64_t workspace_bytes)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        size_t n = strv_length(preload);
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 5);
        proto_pack_key_str(&pk, "type", "zygote");
        proto_pack_key_uint(&pk, "id", id);
        proto_pack_str(&pk, "preload");
        msgpack_pack_array(&pk, n);
        for (size_t i = 0; i < n; i++)
                proto_pack_str(&pk, preload[i]);
        proto_pack_key_uint(&pk, "tmp_bytes", tmp_bytes);
        proto_pack_key_uint(&pk, "workspace_bytes", workspace_bytes);
        r = sb.size > SPAWNER_MAX_MESSAGE ? -E2BIG : send_packed(s->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

int
spawner_request_kill(struct spawner *s, uint64_t id)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        proto_pack_key_str(&pk, "type", "kill");
        proto_pack_key_uint(&pk, "id", id);
        r = send_packed(s->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

static int
parse_event(const msgpack_object *m, struct spawner_event *ev)
{
        uint64_t code = 0, sig = 0;
        const char *msg;
        size_t len;

        if (proto_map_get_uint(m, "id", &ev->id) < 0)
                return -EBADMSG;
        if (wire_type_is(m, "started")) {
                ev->type = SPAWNER_STARTED;
                return ev->control_fd >= 0 ? 0 : -EBADMSG;
        }
        if (wire_type_is(m, "failed")) {
                const msgpack_object *e = proto_map_get(m, "error");
                ev->type = SPAWNER_FAILED;
                ev->error = e && e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (int) e->via.i64 : -EIO;
                if (proto_map_get_str(m, "message", &msg, &len) == 0)
                        (void) snprintf(ev->message, sizeof ev->message, "%.*s", (int) len, msg);
                return 0;
        }
        if (wire_type_is(m, "exited") && proto_map_get_uint(m, "code", &code) == 0 &&
            proto_map_get_uint(m, "signal", &sig) == 0) {
                ev->type = SPAWNER_EXITED;
                ev->code = (int) (code & 0xff);
                ev->signal = (int) (sig & 0x7f);
                return 0;
        }
        return -EBADMSG;
}

int
spawner_receive(struct spawner *s, struct spawner_event *ret)
{
        char buf[SPAWNER_MAX_MESSAGE];
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
        ssize_t n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        msgpack_unpacked m;
        int r;

        if (n == 0 || (n < 0 && errno == ECONNRESET))
                return -EPIPE;
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        *ret = (struct spawner_event){.control_fd = -EBADF};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
                memcpy(&ret->control_fd, CMSG_DATA(c), sizeof(int));
        r = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -EBADMSG
                                                      : proto_validate_map(buf, (size_t) n, NULL, NULL);
        if (r >= 0)
                r = proto_unpack(buf, (size_t) n, &m);
        if (r >= 0) {
                r = parse_event(&m.data, ret);
                msgpack_unpacked_destroy(&m);
        }
        if (r < 0) {
                ret->control_fd = safe_close(ret->control_fd);
                return r;
        }
        return 1;
}
