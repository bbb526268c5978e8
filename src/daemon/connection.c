/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One client connection: frames in, validated; frames out, queued without
 * blocking the loop. Runs in the dispatcher; the peer is untrusted.
 *
 * Bounds: a frame is at most max_frame and validated (sizes backed by bytes,
 * depth 32) before msgpack-c sees it; a client that stops reading may have at
 * most OUT_QUEUE_MAX bytes queued before it is dropped, so no client can make
 * the dispatcher hold unbounded output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "validate.h"

#define OUT_QUEUE_MIN (64u << 20)

static int
on_doomed(sd_event_source *src, void *userdata)
{
        connection_free(userdata);
        return 0;
}

/* Free the connection on the next loop iteration: callers up the stack (a
 * method handler, a pool callback) may still hold it. */
void
connection_doom(struct connection *c)
{
        if (c->doomed)
                return;
        c->doomed = true;
        (void) sd_event_source_set_enabled(c->src, SD_EVENT_OFF);
        if (sd_event_add_defer(c->server->event, &c->doom_src, on_doomed, c) < 0)
                log_error("cannot schedule the release of a connection");
}

static size_t
out_queue_max(const struct connection *c)
{
        return MAX((size_t) OUT_QUEUE_MIN, 2 * (size_t) c->server->config.max_frame);
}

static void
update_events(struct connection *c)
{
        (void) sd_event_source_set_io_events(c->src,
                                             (c->closing ? 0 : EPOLLIN) | (c->out_len ? EPOLLOUT : 0));
}

static int
flush(struct connection *c)
{
        while (c->out_len > 0) {
                ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                memmove(c->out, c->out + n, c->out_len - (size_t) n);
                c->out_len -= (size_t) n;
        }
        if (c->out_alloc > (1u << 20)) {
                /* Give back a buffer a burst grew. */
                c->out = mfree(c->out);
                c->out_alloc = 0;
        }
        return 0;
}

int
connection_send(struct connection *c, const msgpack_sbuffer *sb)
{
        uint8_t header[PROTO_FRAME_HEADER_SIZE];
        size_t need = c->out_len + sizeof header + sb->size;

        if (sb->size == 0 || sb->size > UINT32_MAX)
                return -EMSGSIZE;
        if (c->doomed)
                return -EPIPE;
        if (need > out_queue_max(c)) {
                log_info("dropping client pid %d: it does not read its responses", (int) c->peer.pid);
                connection_doom(c);
                return -ENOBUFS;
        }
        if (need > c->out_alloc) {
                size_t alloc = MAX(need, c->out_alloc * 2);
                char *p = realloc(c->out, alloc);
                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_alloc = alloc;
        }
        proto_frame_header((uint32_t) sb->size, header);
        memcpy(c->out + c->out_len, header, sizeof header);
        memcpy(c->out + c->out_len + sizeof header, sb->data, sb->size);
        c->out_len = need;
        if (flush(c) < 0) {
                connection_doom(c);
                return -EPIPE;
        }
        update_events(c);
        return 0;
}

int
connection_send_error(struct connection *c, uint64_t id, int code, const char *message)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int r;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        r = proto_pack_error(&pk, id, code, message);
        if (r >= 0)
                r = connection_send(c, &sb);
        msgpack_sbuffer_destroy(&sb);
        return r;
}

void
connection_close_after_flush(struct connection *c)
{
        c->closing = true;
        inflight_cancel_all(c);
        if (c->out_len == 0) {
                connection_doom(c);
                return;
        }
        (void) shutdown(c->fd, SHUT_RD);
        update_events(c);
}

/* A framing error: say why (id 0, the id is unknown) and close. */
static void
framing_error(struct connection *c, const char *why)
{
        char message[160];

        (void) snprintf(message, sizeof message, "framing error: %s", why);
        if (connection_send_error(c, 0, RPC_PARSE_ERROR, message) >= 0)
                connection_close_after_flush(c);
}

static int
handle_frames(struct connection *c)
{
        const void *data;
        size_t size;
        const char *why = NULL;

        while (!c->closing && !c->doomed && proto_frame_reader_pop(c->reader, &data, &size) > 0) {
                msgpack_unpacked m;
                if (proto_validate_map(data, size, NULL, &why) < 0 || proto_unpack(data, size, &m) < 0) {
                        framing_error(c, why ? why : "not one msgpack map");
                        return -EBADMSG;
                }
                methods_dispatch(c, &m.data);
                msgpack_unpacked_destroy(&m);
                if (c->doomed)
                        return -ECONNRESET;
        }
        return 0;
}

static int
on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct connection *c = userdata;
        int r;

        if (c->doomed)
                return 0;
        if (revents & EPOLLOUT) {
                r = flush(c);
                if (r < 0 || (c->closing && c->out_len == 0)) {
                        connection_free(c);
                        return 0;
                }
                update_events(c);
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->closing)
                return 0;
        r = proto_frame_reader_fill(c->reader, fd);
        if (r == -EAGAIN || r == -EINTR)
                return 0;
        if (r == -EMSGSIZE) {
                framing_error(c, "frame length out of range");
                return 0;
        }
        if (r == -EPIPE && proto_frame_reader_pending(c->reader)) {
                /* The client stopped sending in the middle of a frame: say so. */
                framing_error(c, "truncated frame");
                return 0;
        }
        if (r < 0) {
                /* End of file or a socket error: the client is gone, its work with it. */
                connection_free(c);
                return 0;
        }
        (void) handle_frames(c);
        return 0;
}

int
connection_new(struct server *s, int fd, const struct ucred *peer, struct connection **ret)
{
        struct connection *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return -ENOMEM;
        c->server = s;
        c->fd = fd;
        c->peer = *peer;
        list_init(&c->requests);
        list_init(&c->node);
        (void) fd_set_nonblock(fd, true);
        r = proto_frame_reader_new(s->config.max_frame, &c->reader);
        if (r >= 0)
                r = sd_event_add_io(s->event, &c->src, fd, EPOLLIN, on_io, c);
        if (r < 0) {
                proto_frame_reader_free(c->reader);
                free(c);
                return r;
        }
        list_append(&s->connections, &c->node);
        s->n_connections++;
        if (ret)
                *ret = c;
        return 0;
}

void
connection_free(struct connection *c)
{
        struct server *s = c->server;

        inflight_cancel_all(c);
        list_remove(&c->node);
        s->n_connections--;
        c->src = sd_event_source_disable_unref(c->src);
        c->doom_src = sd_event_source_disable_unref(c->doom_src);
        safe_close(c->fd);
        proto_frame_reader_free(c->reader);
        free(c->out);
        free(c);
        server_maybe_exit(s);
}
