/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Launching zygotes and their workers. Runs outside the jail, in the process
 * that embeds the pool. Everything read from the zygote or a worker is
 * validated like client input before it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "launch.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "process-util.h"
#include "time-util.h"
#include "validate.h"
#include "wire.h"

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
build_spec(const struct pool_config *c, int control_fd, struct jail_spec **ret)
{
        _cleanup_(jail_spec_freep) struct jail_spec *s = NULL;
        _cleanup_free_ char *preload = NULL;
        size_t len = 0;
        int r = jail_spec_new(&s);

        if (r < 0)
                return -ENOMEM;
        for (size_t i = 0; c->preload && c->preload[i]; i++)
                len += strlen(c->preload[i]) + 1;
        preload = calloc(1, len + 1);
        for (size_t i = 0; preload && c->preload && c->preload[i]; i++) {
                if (i > 0)
                        strcat(preload, ",");
                strcat(preload, c->preload[i]);
        }
        char *argv[] = {(char *) c->zygote_path,
                        (char *) "--runner-dir",
                        (char *) c->runner_dir,
                        (char *) "--preload",
                        preload,
                        NULL};
        if (!preload || jail_spec_set_idmap_auto(s) < 0 || jail_spec_set_argv(s, argv) < 0 ||
            jail_spec_add_bind(s, c->zygote_path, NULL) < 0 ||
            jail_spec_add_bind(s, c->runner_dir, NULL) < 0 || jail_spec_pass_fd(s, control_fd) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(zygote_env); i++)
                if (jail_spec_add_env(s, zygote_env[i]) < 0)
                        return -ENOMEM;
        s->tmp_bytes = c->tmp_bytes;
        s->workspace_bytes = c->workspace_bytes;
        /* A worker, before it drops everything, changes its ids (SETUID, SETGID)
         * and clears its bounding set (SETPCAP). Nothing else is kept. */
        s->keep_caps =
                (UINT64_C(1) << CAP_SETUID) | (UINT64_C(1) << CAP_SETGID) | (UINT64_C(1) << CAP_SETPCAP);
        *ret = TAKE_PTR(s);
        return 0;
}

const char *
wire_type(const msgpack_object *m, size_t *ret_len)
{
        const char *t;

        if (proto_map_get_str(m, "type", &t, ret_len) < 0) {
                *ret_len = 0;
                return "";
        }
        return t;
}

int
wire_type_is(const msgpack_object *m, const char *type)
{
        size_t len;
        const char *t = wire_type(m, &len);

        return len == strlen(type) && memcmp(t, type, len) == 0;
}

int
wire_receive(int fd, struct proto_frame_reader *reader, uint64_t timeout_ms, msgpack_unpacked *ret)
{
        uint64_t deadline = now_usec() + timeout_ms * USEC_PER_MSEC;
        const void *data;
        size_t size;
        int r;

        while ((r = proto_frame_reader_pop(reader, &data, &size)) == 0) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint64_t now = now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) ((deadline - now) / USEC_PER_MSEC) + 1);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 && (r = proto_frame_reader_fill(reader, fd)) < 0 && r != -EAGAIN && r != -EINTR)
                        return r;
        }
        r = proto_validate_map(data, size, NULL, NULL);
        return r < 0 ? r : proto_unpack(data, size, ret);
}

static int
await_ready(struct zygote *z, uint64_t timeout_ms, char **ret_error)
{
        msgpack_unpacked m;
        const char *s;
        size_t len;
        int r = wire_receive(z->control, z->reader, timeout_ms, &m);

        if (r < 0) {
                *ret_error = strdup(r == -ETIMEDOUT ? "the zygote did not start in time"
                                                    : "the zygote exited during start-up");
                return r;
        }
        if (wire_type_is(&m.data, "ready") && proto_map_get_str(&m.data, "python", &s, &len) == 0) {
                z->python_version = strndup(s, len);
                r = 0;
        } else if (wire_type_is(&m.data, "error") && proto_map_get_str(&m.data, "message", &s, &len) == 0) {
                *ret_error = strndup(s, len);
                r = -ENOEXEC;
        } else {
                *ret_error = strdup("the zygote sent an unexpected message");
                r = -EPROTO;
        }
        msgpack_unpacked_destroy(&m);
        return r;
}

/* Say which file is missing before a jail is built around it. */
static int
check_install(const struct pool_config *c, char **ret_error)
{
        char runner[4096];

        (void) snprintf(runner, sizeof runner, "%s/vivarium_runner.py", c->runner_dir);
        if (access(c->zygote_path, X_OK) < 0 || access(runner, R_OK) < 0) {
                int r = -errno;
                if (asprintf(ret_error, "cannot use %s",
                             access(c->zygote_path, X_OK) < 0 ? c->zygote_path : runner) < 0)
                        *ret_error = NULL;
                return r;
        }
        return 0;
}

int
zygote_launch(const struct pool_config *c, struct zygote *ret, char **ret_error)
{
        _cleanup_(jail_spec_freep) struct jail_spec *spec = NULL;
        _cleanup_close_pair_ int pair[2] = {-EBADF, -EBADF};
        struct zygote z = {.proc = {.pidfd = -EBADF}, .control = -EBADF};
        int r;

        r = check_install(c, ret_error);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        r = build_spec(c, pair[1], &spec);
        if (r < 0)
                return r;
        r = jail_spawn(spec, &z.proc, ret_error);
        if (r < 0)
                return r;
        pair[1] = safe_close(pair[1]);
        z.control = TAKE_FD(pair[0]);
        r = proto_frame_reader_new(WIRE_MAX_ZYGOTE_FRAME, &z.reader);
        if (r >= 0)
                r = await_ready(&z, c->startup_timeout_ms, ret_error);
        if (r < 0) {
                zygote_destroy(&z);
                return r;
        }
        *ret = z;
        return 0;
}

void
zygote_destroy(struct zygote *z)
{
        if (z->proc.pidfd >= 0) {
                (void) pidfd_signal(z->proc.pidfd, SIGKILL);
                (void) waitid(P_PIDFD, (id_t) z->proc.pidfd, &(siginfo_t){}, WEXITED);
                z->proc.pidfd = safe_close(z->proc.pidfd);
        }
        z->control = safe_close(z->control);
        z->reader = proto_frame_reader_free(z->reader);
        free(z->python_version);
        z->python_version = NULL;
}

void
worker_channel_close(struct worker_channel *w)
{
        w->sock = safe_close(w->sock);
        w->out = safe_close(w->out);
        w->err = safe_close(w->err);
        w->pidfd = safe_close(w->pidfd);
}

static int
send_spawn(int control, uint64_t slot, const int fds[WIRE_SPAWN_FDS])
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * WIRE_SPAWN_FDS)];
        } control_buf = {};
        msgpack_sbuffer sb;
        msgpack_packer pk;
        uint8_t header[PROTO_FRAME_HEADER_SIZE];
        int r = 0;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        proto_pack_key_str(&pk, "type", "spawn");
        proto_pack_key_uint(&pk, "slot", slot);
        proto_frame_header((uint32_t) sb.size, header);
        struct iovec iov[2] = {{header, sizeof header}, {sb.data, sb.size}};
        struct msghdr mh = {.msg_iov = iov,
                            .msg_iovlen = 2,
                            .msg_control = &control_buf,
                            .msg_controllen = sizeof control_buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * WIRE_SPAWN_FDS);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * WIRE_SPAWN_FDS);
        if (sendmsg(control, &mh, MSG_NOSIGNAL) != (ssize_t) (sizeof header + sb.size))
                r = errno ? -errno : -EIO;
        msgpack_sbuffer_destroy(&sb);
        return r;
}

/* Read the worker's hello with its credentials; the kernel translates the pid
 * into our pid namespace, which is how we learn the worker's host pid. */
static int
receive_hello(struct worker_channel *w, uint64_t timeout_ms)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(struct ucred))];
        } cbuf;
        char data[256];
        struct iovec iov = {data, sizeof data};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cbuf, .msg_controllen = sizeof cbuf};
        struct pollfd p = {.fd = w->sock, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, (int) timeout_ms) <= 0)
                return -ETIMEDOUT;
        n = recvmsg(w->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n <= 0)
                return n == 0 ? -EPIPE : -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        struct ucred uc;
                        memcpy(&uc, CMSG_DATA(c), sizeof uc);
                        w->host_pid = uc.pid;
                }
        /* Anything but exactly one small hello frame is a protocol violation. */
        static const uint8_t hello[] = {0,   0,   0,    12,  0x81, 0xa4, 't', 'y',
                                        'p', 'e', 0xa5, 'h', 'e',  'l',  'l', 'o'};
        if (n != sizeof hello || memcmp(data, hello, sizeof hello) != 0 || w->host_pid <= 0 ||
            (mh.msg_flags & MSG_CTRUNC))
                return -EPROTO;
        return pidfd_open_checked(w->host_pid, &w->pidfd);
}

static int
make_channel(int fds_child[WIRE_SPAWN_FDS], struct worker_channel *w)
{
        int sp[2], out[2], err[2], one = 1;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        if (pipe2(out, O_CLOEXEC) < 0) {
                safe_close(sp[0]), safe_close(sp[1]);
                return -errno;
        }
        if (pipe2(err, O_CLOEXEC) < 0) {
                safe_close(sp[0]), safe_close(sp[1]), safe_close(out[0]), safe_close(out[1]);
                return -errno;
        }
        (void) setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        *w = (struct worker_channel){.sock = sp[0], .out = out[0], .err = err[0], .pidfd = -EBADF};
        fds_child[0] = sp[1];
        fds_child[1] = out[1];
        fds_child[2] = err[1];
        return 0;
}

int
zygote_spawn_worker(struct zygote *z, uint64_t slot, uint64_t timeout_ms, struct worker_channel *ret,
                    char **ret_error)
{
        int child[WIRE_SPAWN_FDS];
        struct worker_channel w;
        msgpack_unpacked m;
        int r = make_channel(child, &w);

        if (r < 0)
                return r;
        r = send_spawn(z->control, slot, child);
        for (size_t i = 0; i < WIRE_SPAWN_FDS; i++)
                safe_close(child[i]);
        if (r >= 0)
                r = wire_receive(z->control, z->reader, timeout_ms, &m);
        if (r >= 0) {
                r = wire_type_is(&m.data, "spawned") ? 0 : -EPROTO;
                msgpack_unpacked_destroy(&m);
        }
        if (r >= 0)
                r = receive_hello(&w, timeout_ms);
        if (r < 0) {
                worker_channel_close(&w);
                *ret_error = strdup("the zygote could not start a worker");
                return r;
        }
        *ret = w;
        return 0;
}
