/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RPC client of the CLI. Trust zone: the CLI process; the server's frames are
 * validated like anyone else's, because the socket path may be anything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "daemon-config.h"
#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "msg.h"
#include "validate.h"

struct rpc_client {
        sd_event *event;
        int fd;
        sd_event_source *src;
        struct proto_frame_reader *reader;
        char *out;
        size_t out_len, out_off;
        rpc_message_fn on_message;
        void *userdata;
        int result;
};

int
rpc_client_new(sd_event *event, int fd, struct rpc_client **ret)
{
        struct rpc_client *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->fd = fd;
        (void) fd_set_nonblock(fd, true);
        /* The server's frames: results carry images and 1 MiB outputs; 64 MiB bounds them. */
        r = proto_frame_reader_new(64u << 20, &c->reader);
        if (r < 0) {
                rpc_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct rpc_client *
rpc_client_free(struct rpc_client *c)
{
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->src);
        safe_close(c->fd);
        proto_frame_reader_free(c->reader);
        free(c->out);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

static void
finish(struct rpc_client *c, int result)
{
        c->result = result;
        (void) sd_event_source_set_enabled(c->src, SD_EVENT_OFF);
        (void) sd_event_exit(c->event, 0);
}

static int
on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct rpc_client *c = userdata;
        const void *data;
        size_t size;
        int r;

        if ((revents & EPOLLOUT) && c->out_off < c->out_len) {
                ssize_t n = write(fd, c->out + c->out_off, c->out_len - c->out_off);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return finish(c, -errno), 0;
                c->out_off += n > 0 ? (size_t) n : 0;
                if (c->out_off == c->out_len)
                        (void) sd_event_source_set_io_events(src, EPOLLIN);
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = proto_frame_reader_fill(c->reader, fd);
        if (r == -EAGAIN || r == -EINTR)
                return 0;
        while (r >= 0 && proto_frame_reader_pop(c->reader, &data, &size) > 0) {
                msgpack_unpacked m;
                int q = proto_validate_map(data, size, NULL, NULL);
                if (q >= 0)
                        q = proto_unpack(data, size, &m);
                if (q < 0)
                        return finish(c, -EBADMSG), 0;
                q = c->on_message(&m.data, c->userdata);
                msgpack_unpacked_destroy(&m);
                if (q != 0)
                        return finish(c, q < 0 ? q : 0), 0;
        }
        if (r < 0)
                finish(c, r == -EPIPE ? -ECONNRESET : r);
        return 0;
}

int
rpc_client_call(struct rpc_client *c, const char *method, void (*pack)(msgpack_packer *pk, const void *arg),
                const void *arg, rpc_message_fn on_message, void *userdata)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, pack ? 3 : 2);
        proto_pack_key_uint(&pk, "id", 1);
        proto_pack_key_str(&pk, "method", method);
        if (pack) {
                proto_pack_str(&pk, "params");
                pack(&pk, arg);
        }
        c->out = malloc(sb.size + PROTO_FRAME_HEADER_SIZE);
        if (!c->out) {
                msgpack_sbuffer_destroy(&sb);
                return -ENOMEM;
        }
        proto_frame_header((uint32_t) sb.size, (uint8_t *) c->out);
        memcpy(c->out + PROTO_FRAME_HEADER_SIZE, sb.data, sb.size);
        c->out_len = sb.size + PROTO_FRAME_HEADER_SIZE;
        msgpack_sbuffer_destroy(&sb);
        c->on_message = on_message;
        c->userdata = userdata;
        c->result = -ECONNRESET;
        r = sd_event_add_io(c->event, &c->src, c->fd, EPOLLIN | EPOLLOUT, on_io, c);
        if (r >= 0)
                r = sd_event_loop(c->event);
        return r < 0 ? r : c->result;
}

int
rpc_error_of(const msgpack_object *m, int64_t *ret_code, const char **ret_msg, size_t *ret_len)
{
        const msgpack_object *e, *code;

        if (proto_map_get_map(m, "error", &e) < 0)
                return 0;
        code = proto_map_get(e, "code");
        *ret_code = code && code->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? code->via.i64 : -32603;
        if (proto_map_get_str(e, "message", ret_msg, ret_len) < 0) {
                *ret_msg = "";
                *ret_len = 0;
        }
        return 1;
}

int
rpc_connect(const char *path, int *ret_fd, char **ret_error)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, r;

        if (strlen(path) >= sizeof sa.sun_path) {
                (void) !asprintf(ret_error, "socket path too long: %s", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                r = -errno;
                safe_close(fd);
                (void) !asprintf(ret_error, "cannot connect to %s: %s%s", path, strerror(-r),
                                 r == -ENOENT || r == -ECONNREFUSED ? " (is `vivarium serve` running?)"
                                                                    : "");
                return r;
        }
        *ret_fd = fd;
        return 0;
}

const char *
rpc_socket_from_env(const char *option)
{
        const char *e = getenv("VIVARIUM_SOCKET");

        return option ? option : e && *e ? e : NULL;
}

int
rpc_socket_path(const char *option, char **ret)
{
        const char *p = rpc_socket_from_env(option);
        struct vivarium_config c;
        int r;

        if (p) {
                *ret = strdup(p);
                return *ret ? 0 : -ENOMEM;
        }
        r = config_init(&c);
        if (r >= 0)
                r = config_socket_path(&c, ret);
        config_done(&c);
        return r;
}
