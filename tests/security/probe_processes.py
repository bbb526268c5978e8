# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §D, processes, seen from inside one jail.

The pid namespace (pid 1 is the zygote, our pid is small, /proc lists only
the jail), and orphans and zombies.  A one-shot `vivarium run` jail holds the
zygote and this worker only; a daemon's jail also holds the zygote's other
warm workers, so those assertions are parameterised by VIA.  What outlives a
request (a daemonised grandchild, the zombie left here) is judged by the
runners after the request ends.
"""

import os
import time

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)

# The runner sends the bundle to a fresh daemon, so even there few pids have
# been used; a one-shot jail has only the zygote before us.
PID_MAX_SMALL = 10 if VIA == "run" else 1000
# The zygote keeps a couple of warm workers besides the one that runs us.
PROCS_MAX = 3 if VIA == "run" else 12


@check("pid ns: pid 1 is vivarium-zygote and is our parent")
def _():
    comm = read("/proc/1/comm").strip()
    expect(comm == "vivarium-zygote", "/proc/1/comm = %r" % comm)
    expect(os.getppid() == 1, "getppid() = %d" % os.getppid())


@check("pid ns: own pid is small (< %d through %s)" % (PID_MAX_SMALL, VIA))
def _():
    expect(os.getpid() < PID_MAX_SMALL, "getpid() = %d" % os.getpid())
    return "getpid() = %d" % os.getpid()


@check("pid ns: /proc lists only a handful of processes (at most %d besides ours)" % PROCS_MAX)
def _():
    pids = numeric_proc_entries()
    ours = descendants_of(os.getpid()) | {os.getpid()}
    others = [p for p in pids if p not in ours]
    expect(len(others) <= PROCS_MAX, "/proc pids: %s" % pids)
    return "/proc pids: %s" % pids


@check("pid ns: every other process is the zygote or one of its children")
def _():
    bad = []
    for p in other_jail_pids():
        ppid = proc_ppid(p)
        if ppid not in (1, -1):  # -1: it just went away
            bad.append("%d (ppid %d, %s)" % (p, ppid, read("/proc/%d/comm" % p).strip()))
    expect(not bad, "processes outside the zygote's family: %s" % bad)


if VIA == "run":
    @check("pid ns: a one-shot jail holds only the zygote and this worker")
    def _():
        others = other_jail_pids()
        expect(not others, "other processes: %s" % others)
else:
    @check("pid ns: the other processes of a daemon's jail are warm workers (children of pid 1)")
    def _():
        others = other_jail_pids()
        expect(others, "no other warm worker is visible (the daemon runs --workers 2)")
        names = {p: read("/proc/%d/comm" % p).strip() for p in others}
        bad = {p: n for p, n in names.items() if n != "vivarium-zygote" or proc_ppid(p) != 1}
        expect(not bad, "not warm workers: %s" % bad)
        return "other workers: %s" % sorted(others)


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
