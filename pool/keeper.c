/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The keeper: forked first, before the dispatcher locks itself down, it keeps
 * what starting a spawner needs (the privileges, the ability to fork and
 * build namespaces) so that the dispatcher can give them up and still replace
 * a spawner that died. It does one thing: on each one-byte request it forks a
 * spawner (spawner_start()) and hands back the spawner's socket and pidfd.
 * It runs no code of a request and reads nothing else; it dies with the
 * dispatcher, and its spawners die with it (PR_SET_PDEATHSIG both ways).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coverage.h"
#include "fd-util.h"
#include "keeper.h"
#include "log.h"
#include "macro.h"
#include "process-util.h"
#include "spawner.h"

#define KEEPER_REQUEST 'S'
/* A spawner starts with a fork; anything slower than this is a broken keeper. */
#define KEEPER_REPLY_TIMEOUT_MS 10000
/* How long a dead spawner may stay a zombie. */
#define KEEPER_REAP_INTERVAL_MS 1000

struct keeper_reply {
        int32_t error; /* 0, or -errno of spawner_start() */
        int32_t pid;
};

static int
send_reply(int sock, const struct spawner *s, int error)
{
        struct keeper_reply reply = {.error = error, .pid = error < 0 ? 0 : s->pid};
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(2 * sizeof(int))];
        } control = {};
        struct iovec iov = {&reply, sizeof reply};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (error >= 0) {
                struct cmsghdr *c;
                int fds[2] = {s->sock, s->pidfd};
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof control.buf;
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof fds);
                memcpy(CMSG_DATA(c), fds, sizeof fds);
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

_noreturn_ static void
keeper_main(const struct pool_config *c, int sock)
{
        for (;;) {
                struct pollfd p = {sock, POLLIN, 0};
                struct spawner s = {.pid = 0, .pidfd = -EBADF, .sock = -EBADF};
                char request;
                ssize_t n;
                int r;

                /* Reap spawners that ended (the dispatcher learns of it from its
                 * pidfd). Not SIGCHLD = SIG_IGN: that disposition would pass
                 * through fork and exec to the spawner and the zygotes, whose
                 * exit reports need their children's statuses. */
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                r = poll(&p, 1, KEEPER_REAP_INTERVAL_MS);
                if (r < 0 && errno != EINTR)
                        break;
                if (r <= 0)
                        continue;
                n = recv(sock, &request, sizeof request, MSG_TRUNC);
                if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                        break; /* the dispatcher is gone */
                if (n != 1 || request != KEEPER_REQUEST)
                        continue;
                r = spawner_start(c, &s);
                (void) send_reply(sock, &s, r);
                /* The dispatcher has its copies now. */
                safe_close(s.sock);
                safe_close(s.pidfd);
                /* The dispatcher's death may kill us (SIGKILL) before we see EOF. */
                coverage_flush();
        }
        coverage_flush();
        _exit(0);
}

int
keeper_start(const struct pool_config *c, struct keeper *ret)
{
        int pidfd, sock, r;
        pid_t pid;

        r = fork_helper("vivarium-keeper", &pid, &pidfd, &sock);
        if (r < 0)
                return r;
        if (r == 0)
                keeper_main(c, sock);
        *ret = (struct keeper){.pid = pid, .pidfd = pidfd, .sock = sock};
        return 0;
}

int
keeper_spawn(struct keeper *k, struct spawner *ret)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(2 * sizeof(int))];
        } control;
        struct keeper_reply reply;
        struct iovec iov = {&reply, sizeof reply};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf};
        struct pollfd p = {k->sock, POLLIN, 0};
        char request = KEEPER_REQUEST;
        struct cmsghdr *c;
        int fds[2] = {-EBADF, -EBADF};
        ssize_t n;

        if (k->sock < 0)
                return -ENOTCONN;
        if (send(k->sock, &request, 1, MSG_NOSIGNAL) < 0)
                return -errno;
        if (poll(&p, 1, KEEPER_REPLY_TIMEOUT_MS) <= 0)
                return -ETIMEDOUT;
        n = recvmsg(k->sock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        c = CMSG_FIRSTHDR(&mh);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof fds))
                memcpy(fds, CMSG_DATA(c), sizeof fds);
        if (n != sizeof reply || reply.error > 0 || (reply.error == 0 && (fds[0] < 0 || reply.pid <= 0))) {
                safe_close(fds[0]);
                safe_close(fds[1]);
                return n == 0 ? -EPIPE : -EBADMSG;
        }
        if (reply.error < 0) {
                safe_close(fds[0]);
                safe_close(fds[1]);
                return reply.error;
        }
        (void) fd_set_nonblock(fds[0], true);
        *ret = (struct spawner){.pid = reply.pid, .pidfd = fds[1], .sock = fds[0]};
        return 0;
}

void
keeper_stop(struct keeper *k)
{
        /* Closing the socket ends the keeper; PR_SET_PDEATHSIG takes its
         * spawners along. */
        k->sock = safe_close(k->sock);
        if (k->pidfd >= 0) {
                struct pollfd p = {k->pidfd, POLLIN, 0};
                (void) poll(&p, 1, KEEPER_REPLY_TIMEOUT_MS);
                (void) waitid(P_PIDFD, (id_t) k->pidfd, &(siginfo_t){}, WEXITED);
                k->pidfd = safe_close(k->pidfd);
        }
}
