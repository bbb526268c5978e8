#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Start a command the way systemd starts a socket-activated Type=notify service.

  activate.py [--listen PATH] [--fds N] [--dgram] [--wrong-pid] [--notify PATH]
              [--as USER] --log FILE -- COMMAND...

--listen binds and listens a unix stream socket at PATH (--fds N: N of them,
the others at PATH.2, ...; --dgram: a datagram socket instead, which is not
what a service may be handed). The helper forks; the child moves the sockets
to fds 3.., sets LISTEN_FDS=N and LISTEN_PID to its own pid (--wrong-pid: the
pid of its parent, as a variable meant for another process) and execs
COMMAND. --notify binds a datagram socket at PATH, sets NOTIFY_SOCKET for the
child and writes each message it receives to FILE as one line, "<ms> <msg>"
with newlines inside a message turned into " | ". --as: drop to USER first
(the sockets are then that user's). The child's pid is the first line of FILE
("pid N"); the helper exits with the child's status ("exit N" is the last line).
"""
import argparse
import os
import pwd
import select
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen")
    ap.add_argument("--fds", type=int, default=1)
    ap.add_argument("--dgram", action="store_true")
    ap.add_argument("--wrong-pid", action="store_true")
    ap.add_argument("--notify")
    ap.add_argument("--as", dest="user")
    ap.add_argument("--log", required=True)
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    log = open(a.log, "w", buffering=1)

    if a.user:
        pw = pwd.getpwnam(a.user)
        os.setgroups([])
        os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
        os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)

    socks = []
    if a.listen:
        for i in range(a.fds):
            path = a.listen if i == 0 else "%s.%d" % (a.listen, i + 1)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if a.dgram else socket.SOCK_STREAM)
            s.bind(path)
            os.chmod(path, 0o666)  # the daemon, once it dropped to its user, still holds the fd
            if not a.dgram:
                s.listen(16)
            socks.append(s)

    notify = None
    if a.notify:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(a.notify)
        os.chmod(a.notify, 0o666)  # reachable after the daemon's drop to its service user

    t0 = time.monotonic()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        for i, s in enumerate(socks):
            os.dup2(s.fileno(), 3 + i, inheritable=True)
        env = dict(os.environ)
        if socks:
            env["LISTEN_FDS"] = str(len(socks))
            env["LISTEN_PID"] = str(parent if a.wrong_pid else os.getpid())
        if notify:
            env["NOTIFY_SOCKET"] = a.notify
        os.execve(a.command[0], a.command, env)
    log.write("pid %d\n" % pid)
    for s in socks:
        s.close()  # as systemd does not: but the test needs nobody else to accept on it

    while True:
        if notify:
            r, _, _ = select.select([notify], [], [], 0.05)
            if r:
                msg = notify.recv(4096).decode("utf-8", "replace")
                log.write("%d %s\n" % ((time.monotonic() - t0) * 1000, msg.replace("\n", " | ")))
        else:
            time.sleep(0.05)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    if notify:  # what was sent just before the exit
        notify.setblocking(False)
        try:
            while True:
                msg = notify.recv(4096).decode("utf-8", "replace")
                log.write("%d %s\n" % ((time.monotonic() - t0) * 1000, msg.replace("\n", " | ")))
        except BlockingIOError:
            pass
    code = os.waitstatus_to_exitcode(status)
    log.write("exit %d\n" % code)
    sys.exit(code if code >= 0 else 128 - code)


main()
