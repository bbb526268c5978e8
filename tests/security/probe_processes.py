# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §D, processes, seen from inside one jail.

The worker's own pid namespace: pid 1 is its init (vivarium-init), the
worker is pid 2 with its parent (the zygote) outside the namespace, /proc
lists only the worker, its init and its children, and no other pid can be
named in a system call: not the zygote, not another worker, not the host.
Orphans and zombies.  What outlives a request (a daemonised grandchild, the
zombie left here) is judged by the runners after the request ends.
"""

import os
import signal
import time

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)

# Pids are numbered per namespace: the zygote's (a few hundred pids at most
# in a test daemon) and the host's lie below this bound too, so a pid that a
# worker could name outside its own namespace would be found by the scan.
SCAN_PIDS = 32768


def family():
    """Pid 1, us and our descendants: all a worker should see."""
    return {1, os.getpid()} | descendants_of(os.getpid())


@check("pid ns: pid 1 is vivarium-init, we are pid 2, our parent is outside the namespace")
def _():
    comm = read("/proc/1/comm").strip()
    expect(comm == "vivarium-init", "/proc/1/comm = %r" % comm)
    expect(os.getpid() == 2, "getpid() = %d" % os.getpid())
    expect(os.getppid() == 0, "getppid() = %d" % os.getppid())


@check("processes: the worker leads a session and process group of its own (kill(0, ...) and "
       "setpriority(PRIO_PGRP, 0) reach only its own processes)")
def _():
    me = os.getpid()
    expect(os.getsid(0) == me and os.getpgrp() == me,
           "getsid() = %d, getpgrp() = %d, getpid() = %d" % (os.getsid(0), os.getpgrp(), me))


@check("pid ns: /proc lists only pid 1, this worker and its children")
def _():
    pids = numeric_proc_entries()
    others = [p for p in pids if p not in family()]
    expect(not others, "/proc pids: %s" % pids)
    return "/proc pids: %s" % pids


@check("pid ns: no pid outside the worker's family can be named (kill(p, 0) is ESRCH for p < %d)" % SCAN_PIDS)
def _():
    ours = family()
    named = []
    for p in range(1, SCAN_PIDS):
        if p in ours:
            continue
        r, e = raw(NR["kill"], p, 0)
        if r != -1 or e != E.ESRCH:
            named.append("%d (%s)" % (p, ename(e) if r == -1 else "allowed"))
    expect(not named, "pids that exist for us: %s" % named[:20])


@check("pid ns: pid 1 survives SIGKILL and SIGTERM from the worker (it has no handler; EPERM as root)")
def _():
    start = read("/proc/1/stat").rsplit(")", 1)[1].split()[19]
    results = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        r, e = raw(NR["kill"], 1, sig)
        results.append("%s: %s" % (sig.name, "delivered" if r == 0 else ename(e)))
    time.sleep(0.1)
    alive = os.path.exists("/proc/1") and read("/proc/1/stat").rsplit(")", 1)[1].split()[19] == start
    expect(alive, "pid 1 is gone or was replaced (%s)" % ", ".join(results))
    return ", ".join(results)


@check("processes: an orphan is reparented to pid 1 and reaped when it exits")
def _():
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(r)
            gc = os.fork()
            if gc == 0:
                time.sleep(0.3)
                os.write(w, b"%d" % os.getppid())
                os._exit(0)
            os.write(w, b"%d " % gc)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(child, 0)
    data = b""
    while True:
        b = os.read(r, 64)
        if not b:
            break
        data += b
    os.close(r)
    gc, ppid = (int(x) for x in data.split())
    expect(ppid == 1, "the orphan's parent was %d, not pid 1" % ppid)
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % gc) and time.monotonic() < deadline:
        time.sleep(0.02)
    state = None
    if os.path.exists("/proc/%d" % gc):
        state = status_fields("/proc/%d/status" % gc).get("State")
    expect(state is None, "orphan %d still listed, state %r" % (gc, state))


@check("processes: a zombie left behind on purpose (judged by the runner after the request)")
def _():
    pid = os.fork()
    if pid == 0:
        set_comm("vz-" + TOKEN)
        os._exit(0)
    deadline = time.monotonic() + 5
    state = ""
    while time.monotonic() < deadline:
        state = status_fields("/proc/%d/status" % pid).get("State", "")
        if state.startswith("Z"):
            break
        time.sleep(0.01)
    expect(state.startswith("Z"), "child %d is %r, not a zombie" % (pid, state))
    globals()["_zombie_pid"] = pid  # never waited for
