# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §B, identity, seen from inside one jail.

Credentials and capabilities, the id maps, setuid binaries, the chroot escape,
and who this worker can signal, read or otherwise touch: nothing outside its
own pid namespace, whose pid 1 is a tiny init that shares the zygote's
(non-dumpable) memory.  The zygote and the other warm workers cannot even be
named (probe_processes.py scans for them).  Root mode also separates workers
by uid; in the unprivileged mode, where every worker shares one uid, a
Landlock scope (ABI 6) denies signals to pid 1.
"""

import ctypes
import os
import resource
import signal
import stat
import subprocess
import tempfile
import time

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)

SANDBOX_UID = 1000
SLOTS = 64  # a root-mode worker runs as 1000 + its slot


@check("identity: the jail's id map matches the mode the runner expects (%s)" % (EXPECT_AS or "any"))
def _():
    expect(not EXPECT_AS or MODE == EXPECT_AS, "the jail looks %s, the runner expects %s" % (MODE, EXPECT_AS))
    return "mode %s, uid_map %r" % (MODE, read("/proc/self/uid_map").strip())


@check("identity: all capability sets are empty")
def _():
    st = status_fields()
    bad = {k: st.get(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
           if st.get(k) is None or int(st[k], 16) != 0}
    expect(not bad, "non-zero capability sets: %s" % bad)


@check("identity: NoNewPrivs 1")
def _():
    expect(status_fields().get("NoNewPrivs") == "1", "NoNewPrivs = %r" % status_fields().get("NoNewPrivs"))


@check("identity: uid and gid are the sandbox user's (real, effective, saved)")
def _():
    uids, gids = os.getresuid(), os.getresgid()
    expect(len(set(uids)) == 1 and len(set(gids)) == 1, "getresuid() = %r, getresgid() = %r" % (uids, gids))
    uid = uids[0]
    if VIA == "run" or UNPRIVILEGED:
        expect(uid == SANDBOX_UID, "uid %d, want %d" % (uid, SANDBOX_UID))
    else:
        expect(SANDBOX_UID <= uid < SANDBOX_UID + SLOTS, "uid %d is not 1000 + a worker slot" % uid)
    expect(gids[0] == uid, "gid %d differs from uid %d" % (gids[0], uid))
    return "uid %d" % uid


@check("identity: no supplementary group other than our own gid")
def _():
    # Root mode clears the list. An unprivileged user namespace cannot call
    # setgroups, so the caller's list stays: its own group shows as 1000,
    # any other host group as the overflow gid, and would still grant access.
    groups = os.getgroups()
    expect(set(groups) <= {os.getgid()}, "getgroups() = %r" % groups)
    if groups:
        return "getgroups() = %r (setgroups is denied in an unprivileged user namespace)" % groups


def check_idmap(path):
    lines = [l.split() for l in read(path).splitlines() if l.strip()]
    expect(lines, "%s is empty" % path)
    for inside, outside, count in lines:
        expect(int(outside) > 0 and int(count) > 0,
               "%s range %s %s %s includes host 0" % (path, inside, outside, count))
    return "%s: %s" % (path, "; ".join(" ".join(l) for l in lines))


@check("identity: uid_map never maps host root")
def _():
    return check_idmap("/proc/self/uid_map")


@check("identity: gid_map never maps host root")
def _():
    return check_idmap("/proc/self/gid_map")


@check("identity: setuid(0) and setgid(0) fail")
def _():
    # In a child, so a success cannot change this process. EINVAL where
    # inside 0 is not mapped at all (unprivileged mode).
    def attempt():
        out = []
        for name, fn in (("setuid", os.setuid), ("setgid", os.setgid)):
            try:
                fn(0)
                out.append("%s(0) succeeded" % name)
            except OSError as e:
                if e.errno not in (E.EPERM, E.EINVAL):
                    out.append("%s(0): %s" % (name, e))
        return out
    status, out = in_child(attempt)
    expect(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "child %s: %s"
           % (describe_status(status), out))
    expect(out == "[]", out)


SETID_DIRS = ("/usr/bin", "/usr/sbin", "/usr/lib/openssh", "/usr/libexec")


def setid_binaries(limit=6):
    found = []
    for d in SETID_DIRS:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat_is_setid(st):
                found.append(p)
                if len(found) >= limit:
                    return found
    return found


def stat_is_setid(st):
    return stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID)


@check("identity: a setuid or setgid binary gains nothing (AT_SECURE 0, same euid and egid)")
def _():
    bins = setid_binaries()
    if not bins:
        return "no setuid or setgid binary in the image: nothing to gain"
    bad = []
    for b in bins:
        # The loader prints the auxiliary vector for LD_SHOW_AUXV, and drops
        # that variable for a secure (privilege-gaining) exec.
        p = subprocess.run([b, "--version"], env={"LD_SHOW_AUXV": "1"}, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
        aux = dict(line.split(":", 1) for line in p.stdout.decode("ascii", "replace").splitlines()
                   if line.startswith("AT_") and ":" in line)
        aux = {k: v.strip() for k, v in aux.items()}
        if aux.get("AT_SECURE") != "0" or aux.get("AT_EUID") != str(os.getuid()) \
                or aux.get("AT_EGID") != str(os.getgid()):
            bad.append("%s: AT_SECURE %r AT_EUID %r AT_EGID %r" % (
                b, aux.get("AT_SECURE"), aux.get("AT_EUID"), aux.get("AT_EGID")))
    expect(not bad, "; ".join(bad))
    return "tried " + ", ".join(bins)


@check("identity: the chroot escape trick fails (chroot is EPERM, '..' from / stays at /)")
def _():
    def escape():
        # chroot into a subdirectory keeping the cwd outside it, then ".."
        # repeatedly and chroot("."): the classic escape. A child does it,
        # so a success cannot change this process.
        d = tempfile.mkdtemp(dir="/tmp")
        try:
            os.chroot(d)
        except OSError as e:
            return "chroot: %s" % ename(e.errno)
        for _ in range(64):
            os.chdir("..")
        os.chroot(".")
        return "escaped: / holds %s" % sorted(os.listdir("/"))
    status, out = in_child(escape)
    expect(out == "'chroot: EPERM'", "child %s: %s" % (describe_status(status), out))
    cwd = os.getcwd()
    try:
        os.chdir("/tmp")
        for _ in range(64):
            os.chdir("..")
        expect(os.getcwd() == "/", "walking up ended in %r" % os.getcwd())
        expect(set(os.listdir(".")) == set(os.listdir("/")), "'..' from the top is not /")
    finally:
        os.chdir(cwd)


# --------------------------------------------------------------------------
# signals and other processes
# --------------------------------------------------------------------------

def reachable_outside():
    """Pids up to 4096 that kill(pid, 0) reaches but /proc does not list."""
    visible = set(numeric_proc_entries())
    reached = []
    for pid in range(1, 4097):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        reached.append(pid)
    # Our own subprocesses may have come and gone; everything reachable must be
    # a jail process listed in /proc now.
    return sorted(set(reached) - visible - set(numeric_proc_entries())), reached


@check("signals: pids outside the jail cannot be reached (kill(pid, 0) is ESRCH)")
def _():
    extra, reached = reachable_outside()
    expect(not extra, "reachable pids not in /proc: %s" % extra)
    return "reachable pids: %s" % reached


@check("signals: kill(99999, 0) is ProcessLookupError")
def _():
    expect_oserror(lambda: os.kill(99999, 0), E.ESRCH, "kill(99999, 0)")


@check("signals: the worker cannot signal pid 1, its namespace's init (kill(1, 0) is EPERM)")
def _():
    # THREATS.md B: distinct uids in root mode; in the unprivileged mode the
    # init shares the worker's uid and Landlock's signal scoping (ABI 6)
    # refuses (pid 1 would ignore the signal anyway: it has no handler).
    expect_oserror(lambda: os.kill(1, 0), E.EPERM, "kill(1, 0)")


@check("signals: SIGKILL, SIGTERM and SIGSTOP to pid 1 have no effect")
def _():
    if read("/proc/1/comm").strip() != "vivarium-init":
        raise Fail("pid 1 is not the namespace's init: refusing to signal it")
    results = []
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGSTOP):
        try:
            os.kill(1, sig)
            results.append("%s sent" % sig.name)
        except PermissionError:
            results.append("%s EPERM" % sig.name)
    time.sleep(0.1)
    st = status_fields("/proc/1/status")
    try:
        os.kill(1, signal.SIGCONT)
    except PermissionError:
        pass
    expect(st.get("Name") == "vivarium-init", "pid 1 is now %r" % st.get("Name"))
    expect(st.get("State", "")[:1] in ("S", "R"), "pid 1 state %r" % st.get("State"))
    return "; ".join(results)


def siginfo_queue():
    """A siginfo_t for rt_sigqueueinfo: si_code SI_QUEUE, our pid and uid."""
    buf = ctypes.create_string_buffer(128)
    ctypes.memmove(ctypes.addressof(buf) + 8, ctypes.byref(ctypes.c_int(-1)), 4)  # si_code
    ctypes.memmove(ctypes.addressof(buf) + 16, ctypes.byref(ctypes.c_int(os.getpid())), 4)
    ctypes.memmove(ctypes.addressof(buf) + 20, ctypes.byref(ctypes.c_int(os.getuid())), 4)
    return buf


def targets():
    """Pid 1 (our init, which shares the zygote's memory) and whatever else we
    can see that is not ours (nothing)."""
    return [1] + other_jail_pids()


@check("signals: kill, tgkill, rt_sigqueueinfo and pidfd_send_signal (signal 0) to pid 1 "
       "and to every other visible process are EPERM")
def _():
    bad = []
    info = siginfo_queue()
    for pid in targets():
        for name, args in (("kill", (pid, 0)), ("tgkill", (pid, pid, 0)),
                           ("rt_sigqueueinfo", (pid, 0, ctypes.addressof(info)))):
            r, e = raw(NR[name], *args)
            if r != -1 or e != E.EPERM:
                bad.append("%s%s = %d (%s)" % (name, fmt_args(args), r, ename(e)))
        pidfd, e = raw(NR["pidfd_open"], pid, 0)
        if pidfd < 0:
            if e != E.ESRCH:  # ESRCH: it went away meanwhile
                bad.append("pidfd_open(%d) = %s" % (pid, ename(e)))
            continue
        try:
            r, e = raw(NR["pidfd_send_signal"], pidfd, 0, 0, 0)
            if r != -1 or e != E.EPERM:
                bad.append("pidfd_send_signal(pidfd of %d, 0) = %d (%s)" % (pid, r, ename(e)))
        finally:
            os.close(pidfd)
    expect(not bad, "; ".join(bad))
    return "targets: %s" % targets()


@check("processes: the memory, environment and maps of pid 1 (the zygote's memory) and of every "
       "other visible process cannot be read, nor can they be ptraced")
def _():
    bad = []
    for pid in targets():
        for what in ("mem", "environ", "maps", "auxv", "syscall", "stack"):
            p = "/proc/%d/%s" % (pid, what)
            try:
                with open(p, "rb") as f:
                    data = f.read(64)
                if data:
                    bad.append("%s readable" % p)
            except OSError as e:
                if e.errno not in (E.EACCES, E.EPERM, E.ENOENT, E.ESRCH):
                    bad.append("%s: %s" % (p, e))
        status, out = in_child(lambda: raw(NR["ptrace"], 16, pid, 0, 0))  # PTRACE_ATTACH
        if out != repr((-1, E.EPERM)):
            bad.append("ptrace(PTRACE_ATTACH, %d): %s" % (pid, out))
    expect(not bad, "; ".join(bad))


def ioprio_get(pid):
    r, e = raw(NR["ioprio_get"], 1, pid)  # IOPRIO_WHO_PROCESS
    if r < 0:
        raise OSError(e, os.strerror(e))
    return r


def touch(pid):
    """Try to change pid's rlimits, nice value, CPU affinity, scheduling
    policy and I/O priority, each to the value it already has (so a success
    changes nothing); the list of calls that were allowed."""
    allowed = []
    attempts = (
        ("prlimit(RLIMIT_CORE)", lambda: resource.prlimit(pid, resource.RLIMIT_CORE,
                                                          resource.prlimit(pid, resource.RLIMIT_CORE))),
        ("prlimit(RLIMIT_NOFILE)", lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE,
                                                            resource.prlimit(pid, resource.RLIMIT_NOFILE))),
        ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid))),
        ("sched_setaffinity", lambda: os.sched_setaffinity(pid, os.sched_getaffinity(pid))),
        ("sched_setscheduler", lambda: os.sched_setscheduler(pid, os.sched_getscheduler(pid),
                                                             os.sched_getparam(pid))),
        ("ioprio_set", lambda: raw_ok(raw(NR["ioprio_set"], 1, pid, ioprio_get(pid)))),
    )
    for name, fn in attempts:
        try:
            fn()
            allowed.append(name)
        except OSError as e:
            if e.errno not in (E.EPERM, E.EACCES, E.ESRCH):
                allowed.append("%s (%s)" % (name, e))
    return allowed


def raw_ok(res):
    r, e = res
    if r < 0:
        raise OSError(e, os.strerror(e))


NAMING_SCAN = 4096


@check("processes: prlimit, getpriority, sched_getaffinity, sched_getscheduler and ioprio_get "
       "name no process outside the worker's namespace (ESRCH for every other pid < %d)" % NAMING_SCAN)
def _():
    # The zygote and the other workers used to be reachable by pid, and in the
    # unprivileged mode (one shared uid) their rlimits, nice value, affinity,
    # scheduling policy and I/O priority could be changed.
    ours = {1, os.getpid()} | descendants_of(os.getpid())
    buf = ctypes.create_string_buffer(128)
    calls = (("prlimit64", lambda p: (p, resource.RLIMIT_NOFILE, 0, ctypes.addressof(buf))),
             ("getpriority", lambda p: (os.PRIO_PROCESS, p)),
             ("sched_getaffinity", lambda p: (p, 128, ctypes.addressof(buf))),
             ("sched_getscheduler", lambda p: (p,)),
             ("ioprio_get", lambda p: (1, p)))  # IOPRIO_WHO_PROCESS
    named = []
    for pid in range(1, NAMING_SCAN):
        if pid in ours:
            continue
        for name, args in calls:
            r, e = raw(NR[name], *args(pid))
            if r == -1 and e == E.ESRCH:
                continue
            named.append("%s(%d) = %s" % (name, pid, ename(e) if r == -1 else r))
    expect(not named, "; ".join(named[:12]))


@check("processes: the worker cannot change the rlimits, nice value, affinity, scheduling policy "
       "or I/O priority of any other visible process (pid 1 is its own init: harmless either way)")
def _():
    bad = {pid: touch(pid) for pid in other_jail_pids()}
    bad = {p: a for p, a in bad.items() if a}
    init = touch(1)
    expect(not bad, "allowed: " + "; ".join("pid %d: %s" % (p, ", ".join(a)) for p, a in sorted(bad.items())))
    return "on pid 1: %s" % (", ".join(init) or "nothing allowed")


@check("signals: kill(-1, SIGKILL) kills our own child and nothing else of the jail")
def _():
    extra, _ = reachable_outside()
    if extra:  # never kill(-1) where it could reach the host
        raise Fail("refusing kill(-1): pids outside the jail are reachable: %s" % extra)
    def start(pid):
        """pid's start time; None once it is gone or a zombie."""
        try:
            fields = read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in ("Z", "X") else fields[19]
    before = {p: start(p) for p in targets()}
    child = os.fork()
    if child == 0:
        while True:
            time.sleep(1)
    os.kill(-1, signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    expect(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
           "our child %s" % describe_status(status))
    time.sleep(0.3)
    gone = [p for p, s in before.items() if s is not None and start(p) != s]
    expect(not gone, "kill(-1) took jail processes with it: %s" % gone)
    return "survivors: %s" % sorted(before)
