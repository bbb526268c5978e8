/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spawner's reading of the dispatcher's requests (spawner.h lists them).
 * Runs in the spawner, which keeps root; the dispatcher it listens to may be
 * a compromised service user, so this is the gate: a closed set of types,
 * each with exactly its keys, and a descriptor only where one belongs. What a
 * valid request may then do (which zygote, which process) is checked where it
 * is carried out, against the spawner's own tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cgroup.h"
#include "fd-util.h"
#include "macro.h"
#include "msg.h"
#include "parse-util.h"
#include "spawner.h"
#include "validate.h"
#include "wire.h"

int
spawner_send(int sock, msgpack_sbuffer *sb, int fd)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = {sb->data, sb->size};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (sb->size > SPAWNER_MAX_MESSAGE)
                return -E2BIG;
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

static int
parse_preload(const msgpack_object *arr, char ***ret)
{
        char **preload = calloc(arr->via.array.size + 1, sizeof(char *));

        if (!preload)
                return -ENOMEM;
        for (uint32_t i = 0; i < arr->via.array.size; i++) {
                const msgpack_object *o = &arr->via.array.ptr[i];
                preload[i] = o->type == MSGPACK_OBJECT_STR ? strndup(o->via.str.ptr, o->via.str.size) : NULL;
                if (!preload[i] || !module_name_is_valid(preload[i])) {
                        strv_free(preload);
                        return -EBADMSG;
                }
        }
        *ret = preload;
        return 0;
}

/* The keys of each type, "type" included: a request has these and no other. */
static int
parse_fields(const msgpack_object *m, struct spawner_request *r)
{
        const msgpack_object *arr;
        uint32_t keys = m->via.map.size;
        uint64_t cpu;

        if (wire_type_is(m, "zygote") && keys == 6 && proto_map_get_uint(m, "id", &r->id) == 0 &&
            proto_map_get_array(m, "preload", &arr) == 0 &&
            proto_map_get_bool(m, "preload_if_installed", &r->preload_if_installed) == 0 &&
            proto_map_get_uint(m, "tmp_bytes", &r->tmp_bytes) == 0 &&
            proto_map_get_uint(m, "workspace_bytes", &r->workspace_bytes) == 0) {
                r->type = SPAWNER_REQUEST_ZYGOTE;
                return parse_preload(arr, &r->preload);
        }
        if (wire_type_is(m, "kill") && keys == 2 && proto_map_get_uint(m, "id", &r->id) == 0) {
                r->type = SPAWNER_REQUEST_KILL;
                return 0;
        }
        if (wire_type_is(m, "cgroup") && keys == 4 && proto_map_get_uint(m, "id", &r->id) == 0 &&
            proto_map_get_uint(m, "ref", &r->ref) == 0 && r->ref != 0 &&
            proto_map_get_uint(m, "cpu_milli", &cpu) == 0 &&
            (cpu == 0 || (cpu >= JAIL_CGROUP_CPU_MIN_MILLI && cpu <= JAIL_CGROUP_CPU_MAX_MILLI))) {
                r->type = SPAWNER_REQUEST_CGROUP;
                r->cpu_milli = (uint32_t) cpu;
                return 0;
        }
        if (wire_type_is(m, "limit") && keys == 5 && proto_map_get_uint(m, "ref", &r->ref) == 0 &&
            r->ref != 0 && proto_map_get_uint(m, "memory_bytes", &r->memory_bytes) == 0 &&
            r->memory_bytes > 0 && proto_map_get_uint(m, "nproc", &r->nproc) == 0 && r->nproc > 0 &&
            proto_map_get_uint(m, "cpu_milli", &cpu) == 0 &&
            (cpu == 0 || (cpu >= JAIL_CGROUP_CPU_MIN_MILLI && cpu <= JAIL_CGROUP_CPU_MAX_MILLI))) {
                r->type = SPAWNER_REQUEST_LIMIT;
                r->cpu_milli = (uint32_t) cpu;
                return 0;
        }
        if (wire_type_is(m, "uncgroup") && keys == 2 && proto_map_get_uint(m, "ref", &r->ref) == 0 &&
            r->ref != 0) {
                r->type = SPAWNER_REQUEST_UNCGROUP;
                return 0;
        }
        return -EBADMSG;
}

int
spawner_request_parse(const void *data, size_t size, int fd, struct spawner_request *ret)
{
        _cleanup_close_ int owned = fd;
        struct spawner_request r = {.fd = -EBADF};
        msgpack_unpacked m;
        int q;

        q = size > SPAWNER_MAX_MESSAGE ? -EBADMSG : proto_validate_map(data, size, NULL, NULL);
        if (q < 0 || (q = proto_unpack(data, size, &m)) < 0)
                return q == -ENOMEM ? q : -EBADMSG;
        q = parse_fields(&m.data, &r);
        msgpack_unpacked_destroy(&m);
        /* A descriptor comes with "cgroup" and with nothing else. */
        if (q >= 0 && (r.type == SPAWNER_REQUEST_CGROUP) != (owned >= 0))
                q = -EBADMSG;
        if (q < 0) {
                spawner_request_done(&r);
                return q == -ENOMEM ? q : -EBADMSG;
        }
        if (r.type == SPAWNER_REQUEST_CGROUP)
                r.fd = TAKE_FD(owned);
        *ret = r;
        return 0;
}

void
spawner_request_done(struct spawner_request *r)
{
        r->preload = strv_free(r->preload);
        r->fd = safe_close(r->fd);
}
