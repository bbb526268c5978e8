/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dispatcher's side of the spawner's socket (spawner.h lists the
 * messages). Runs in the dispatcher. The spawner is trusted, but what it
 * sends is still checked: a closed set of events, and a descriptor only with
 * the two that carry one.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "msg.h"
#include "parse-util.h"
#include "process-util.h"
#include "spawner.h"
#include "validate.h"
#include "wire.h"

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
spawner_request_zygote(struct spawner *s, uint64_t id, char *const *preload, bool preload_if_installed,
                       uint64_t tmp_bytes, uint64_t workspace_bytes)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        size_t n = strv_length(preload);
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 6);
        proto_pack_key_str(&pk, "type", "zygote");
        proto_pack_key_uint(&pk, "id", id);
        proto_pack_str(&pk, "preload");
        msgpack_pack_array(&pk, n);
        for (size_t i = 0; i < n; i++)
                proto_pack_str(&pk, preload[i]);
        proto_pack_key_bool(&pk, "preload_if_installed", preload_if_installed);
        proto_pack_key_uint(&pk, "tmp_bytes", tmp_bytes);
        proto_pack_key_uint(&pk, "workspace_bytes", workspace_bytes);
        r = spawner_send(s->sock, &sb, -EBADF);
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
        r = spawner_send(s->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

int
spawner_request_cgroup(struct spawner *s, uint64_t id, uint64_t ref, uint32_t cpu_milli, int pidfd)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        proto_pack_key_str(&pk, "type", "cgroup");
        proto_pack_key_uint(&pk, "id", id);
        proto_pack_key_uint(&pk, "ref", ref);
        proto_pack_key_uint(&pk, "cpu_milli", cpu_milli);
        r = spawner_send(s->sock, &sb, pidfd);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

int
spawner_request_uncgroup(struct spawner *s, uint64_t ref)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        proto_pack_key_str(&pk, "type", "uncgroup");
        proto_pack_key_uint(&pk, "ref", ref);
        r = spawner_send(s->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

int
spawner_request_limit(struct spawner *s, uint64_t ref, const struct pool_limits *limits)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 5);
        proto_pack_key_str(&pk, "type", "limit");
        proto_pack_key_uint(&pk, "ref", ref);
        proto_pack_key_uint(&pk, "memory_bytes", limits->memory_bytes);
        proto_pack_key_uint(&pk, "nproc", limits->nproc);
        proto_pack_key_uint(&pk, "cpu_milli", limits->cpu_milli);
        r = spawner_send(s->sock, &sb, -EBADF);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

static int
error_of(const msgpack_object *m)
{
        const msgpack_object *e = proto_map_get(m, "error");

        return e && e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && e->via.i64 >= -4095 ? (int) e->via.i64
                                                                                      : -EIO;
}

static int
parse_cgroup_event(const msgpack_object *m, struct spawner_event *ev)
{
        if (proto_map_get_uint(m, "ref", &ev->ref) < 0)
                return -EBADMSG;
        if (wire_type_is(m, "cgroup")) {
                ev->type = SPAWNER_CGROUP;
                return ev->control_fd >= 0 ? 0 : -EBADMSG;
        }
        ev->type = SPAWNER_CGROUP_FAILED;
        ev->error = error_of(m);
        return ev->control_fd < 0 ? 0 : -EBADMSG;
}

static int
parse_event(const msgpack_object *m, struct spawner_event *ev)
{
        uint64_t code = 0, sig = 0;
        const char *msg;
        size_t len;

        if (wire_type_is(m, "cgroup") || wire_type_is(m, "cgroup_failed"))
                return parse_cgroup_event(m, ev);
        if (wire_type_is(m, "limited") || wire_type_is(m, "limit_failed")) {
                ev->type = wire_type_is(m, "limited") ? SPAWNER_LIMITED : SPAWNER_LIMIT_FAILED;
                ev->error = ev->type == SPAWNER_LIMITED ? 0 : error_of(m);
                return proto_map_get_uint(m, "ref", &ev->ref) == 0 && ev->control_fd < 0 ? 0 : -EBADMSG;
        }
        if (proto_map_get_uint(m, "id", &ev->id) < 0)
                return -EBADMSG;
        if (wire_type_is(m, "started")) {
                ev->type = SPAWNER_STARTED;
                return ev->control_fd >= 0 ? 0 : -EBADMSG;
        }
        /* Only "started" and "cgroup" carry a descriptor. */
        if (ev->control_fd >= 0)
                return -EBADMSG;
        if (wire_type_is(m, "failed")) {
                ev->type = SPAWNER_FAILED;
                ev->error = error_of(m);
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
