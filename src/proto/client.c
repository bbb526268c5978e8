/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pipelined RPC client. Trust zone: the face's process (CLI or MCP). The
 * server's frames are validated before use; a frame that is not a valid
 * message ends the connection, because nothing after it can be trusted.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "fd-util.h"
#include "frame.h"
#include "list.h"
#include "macro.h"
#include "msg.h"
#include "validate.h"

/* The server's frames: results carry images and 1 MiB outputs; 64 MiB bounds them. */
#define RPC_CLIENT_MAX_FRAME (64u << 20)

struct rpc_call {
        struct list_node node;
        uint64_t id;
        rpc_message_fn on_message; /* NULL: forgotten */
        void *userdata;
};

struct rpc_client {
        sd_event *event;
        int fd;
        sd_event_source *src;
        struct proto_frame_reader *reader;
        char *out;
        size_t out_len, out_off, out_cap;
        struct list_node calls;
        unsigned n_calls;
        uint64_t next_id;
        bool closed;
        rpc_hangup_fn on_hangup;
        void *hangup_userdata;
};

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata);

int
rpc_client_new(sd_event *event, int fd, struct rpc_client **ret)
{
        struct rpc_client *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->fd = fd;
        c->next_id = 1;
        list_init(&c->calls);
        (void) fd_set_nonblock(fd, true);
        r = proto_frame_reader_new(RPC_CLIENT_MAX_FRAME, &c->reader);
        if (r >= 0)
                r = sd_event_add_io(event, &c->src, fd, EPOLLIN, on_io, c);
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
        struct list_node *n, *t;

        if (!c)
                return NULL;
        list_for_each_safe(n, t, &c->calls) free(list_entry(n, struct rpc_call, node));
        sd_event_source_disable_unref(c->src);
        safe_close(c->fd);
        proto_frame_reader_free(c->reader);
        free(c->out);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

void
rpc_client_set_hangup(struct rpc_client *c, rpc_hangup_fn fn, void *userdata)
{
        c->on_hangup = fn;
        c->hangup_userdata = userdata;
}

unsigned
rpc_client_pending(const struct rpc_client *c)
{
        return c->n_calls;
}

static struct rpc_call *
find_call(struct rpc_client *c, uint64_t id)
{
        struct list_node *n, *t;

        list_for_each_safe(n, t, &c->calls)
        {
                struct rpc_call *call = list_entry(n, struct rpc_call, node);
                if (call->id == id)
                        return call;
        }
        return NULL;
}

static void
drop_call(struct rpc_client *c, struct rpc_call *call)
{
        list_remove(&call->node);
        c->n_calls--;
        free(call);
}

void
rpc_client_forget(struct rpc_client *c, uint64_t id)
{
        struct rpc_call *call = find_call(c, id);

        if (call)
                call->on_message = NULL;
}

/* The connection is over: every pending call hears it once, then the owner. */
static void
hang_up(struct rpc_client *c, int error)
{
        struct list_node *n, *t;

        if (c->closed)
                return;
        c->closed = true;
        (void) sd_event_source_set_enabled(c->src, SD_EVENT_OFF);
        list_for_each_safe(n, t, &c->calls)
        {
                struct rpc_call *call = list_entry(n, struct rpc_call, node);
                rpc_message_fn fn = call->on_message;
                void *userdata = call->userdata;

                drop_call(c, call);
                if (fn)
                        (void) fn(NULL, userdata);
        }
        if (c->on_hangup)
                c->on_hangup(error, c->hangup_userdata);
}

/* Route one validated message to its call. A final response (result or error)
 * always ends the call, whatever its callback says. */
static void
deliver(struct rpc_client *c, const msgpack_object *m)
{
        const msgpack_object *final = NULL;
        struct rpc_call *call;
        uint64_t id;
        int r = 0;

        if (proto_map_get_uint(m, "id", &id) < 0 || !(call = find_call(c, id)))
                return; /* not ours (or an error about a frame with no id): nothing to route */
        if (proto_map_get_map(m, "result", &final) < 0)
                (void) proto_map_get_map(m, "error", &final);
        if (call->on_message)
                r = call->on_message(m, call->userdata);
        if (r != 0 || final)
                drop_call(c, call);
}

static int
flush_out(struct rpc_client *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                c->out_off += (size_t) n;
        }
        c->out_off = c->out_len = 0;
        return sd_event_source_set_io_events(c->src, EPOLLIN);
}

static int
on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct rpc_client *c = userdata;
        const void *data;
        size_t size;
        int r;

        if (revents & EPOLLOUT) {
                r = flush_out(c);
                if (r < 0)
                        return hang_up(c, r), 0;
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = proto_frame_reader_fill(c->reader, fd);
        if (r == -EAGAIN || r == -EINTR)
                return 0;
        while (!c->closed && proto_frame_reader_pop(c->reader, &data, &size) > 0) {
                msgpack_unpacked m;
                int q = proto_validate_map(data, size, NULL, NULL);
                if (q >= 0)
                        q = proto_unpack(data, size, &m);
                if (q < 0)
                        return hang_up(c, -EBADMSG), 0;
                deliver(c, &m.data);
                msgpack_unpacked_destroy(&m);
        }
        if (r < 0)
                hang_up(c, r == -EPIPE ? -ECONNRESET : r);
        return 0;
}

static int
queue_frame(struct rpc_client *c, const void *data, size_t size)
{
        size_t need = c->out_len + PROTO_FRAME_HEADER_SIZE + size;

        if (need > c->out_cap) {
                size_t cap = MAX(need, c->out_cap * 2);
                char *p = realloc(c->out, cap);
                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_cap = cap;
        }
        proto_frame_header((uint32_t) size, (uint8_t *) c->out + c->out_len);
        memcpy(c->out + c->out_len + PROTO_FRAME_HEADER_SIZE, data, size);
        c->out_len = need;
        return sd_event_source_set_io_events(c->src, EPOLLIN | EPOLLOUT);
}

int
rpc_client_start(struct rpc_client *c, const char *method, void (*pack)(msgpack_packer *pk, const void *arg),
                 const void *arg, rpc_message_fn on_message, void *userdata, uint64_t *ret_id)
{
        struct rpc_call *call;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        if (c->closed)
                return -ENOTCONN;
        call = calloc(1, sizeof *call);
        if (!call)
                return -ENOMEM;
        *call = (struct rpc_call){.id = c->next_id++, .on_message = on_message, .userdata = userdata};
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, pack ? 3 : 2);
        proto_pack_key_uint(&pk, "id", call->id);
        proto_pack_key_str(&pk, "method", method);
        if (pack) {
                proto_pack_str(&pk, "params");
                pack(&pk, arg);
        }
        r = sb.size > UINT32_MAX ? -EMSGSIZE : queue_frame(c, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        if (r < 0) {
                free(call);
                return r;
        }
        list_append(&c->calls, &call->node);
        c->n_calls++;
        if (ret_id)
                *ret_id = call->id;
        return 0;
}

struct sync_call {
        sd_event *event;
        rpc_message_fn on_message;
        void *userdata;
        int result;
};

static int
on_sync_message(const msgpack_object *m, void *userdata)
{
        struct sync_call *s = userdata;
        int r;

        if (!m) {
                s->result = -ECONNRESET;
                return sd_event_exit(s->event, 0), 0;
        }
        r = s->on_message(m, s->userdata);
        if (r == 0 && (proto_map_get(m, "result") || proto_map_get(m, "error")))
                r = -EBADMSG; /* a final response the caller did not take as one */
        if (r != 0) {
                s->result = r < 0 ? r : 0;
                (void) sd_event_exit(s->event, 0);
        }
        return r;
}

int
rpc_client_call(struct rpc_client *c, const char *method, void (*pack)(msgpack_packer *pk, const void *arg),
                const void *arg, rpc_message_fn on_message, void *userdata)
{
        struct sync_call s = {c->event, on_message, userdata, -ECONNRESET};
        int r = rpc_client_start(c, method, pack, arg, on_sync_message, &s, NULL);

        if (r < 0)
                return r;
        r = sd_event_loop(c->event);
        return r < 0 ? r : s.result;
}

int
rpc_error_of(const msgpack_object *m, int64_t *ret_code, const char **ret_msg, size_t *ret_len)
{
        const msgpack_object *e, *code;

        if (proto_map_get_map(m, "error", &e) < 0)
                return 0;
        code = proto_map_get(e, "code");
        *ret_code =
                code && code->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? code->via.i64 : RPC_INTERNAL_ERROR;
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
