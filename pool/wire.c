/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message helpers for the pool's side of the zygote and worker protocol (wire.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "msg.h"
#include "pool-internal.h"
#include "validate.h"
#include "wire.h"

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
wire_unpack(const void *data, size_t size, msgpack_unpacked *ret)
{
        int r = proto_validate_map(data, size, NULL, NULL);

        return r < 0 ? r : proto_unpack(data, size, ret);
}

int
wire_send_spawn(int control, unsigned slot, uid_t uid, uint64_t tmp_bytes, uint64_t workspace_bytes,
                const int fds[WIRE_SPAWN_FDS])
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
        msgpack_pack_map(&pk, 5);
        proto_pack_key_str(&pk, "type", "spawn");
        proto_pack_key_uint(&pk, "slot", slot);
        proto_pack_key_uint(&pk, "uid", uid);
        proto_pack_key_uint(&pk, "tmp_bytes", tmp_bytes);
        proto_pack_key_uint(&pk, "workspace_bytes", workspace_bytes);
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
        /* The control socket is non-blocking; a spawn is tiny and the zygote reads
         * promptly, so a full buffer means the zygote is stuck: report it. */
        if (sendmsg(control, &mh, MSG_NOSIGNAL) != (ssize_t) (sizeof header + sb.size))
                r = errno ? -errno : -EIO;
        msgpack_sbuffer_destroy(&sb);
        return r;
}
