# SPDX-License-Identifier: LGPL-2.1-or-later
"""Host-side helpers of the security runners (host_daemon.py, host_oneshot.py).

What it is
    The host's view of the jails that THREATS.md asks about and that no code
    inside a jail can observe: the process tree below a daemon, processes
    found by the name (comm) a request gave itself, another process's
    environment and memory scanned for a secret, file ownership through
    /proc/PID/root.  Also the TAP-like output the shell relays: ``ok - DESC``,
    ``not ok - DESC``, ``not ok - DESC # TODO REASON`` for a known, reported
    hole, and ``# ...`` diagnostics.

Runs on the host, normally as root (root may read any process's memory);
Debian's /usr/bin/python3 with python3-msgpack, and the example client of
examples/python.
"""

import os
import sys
import time

TOP = os.environ.get("top_srcdir") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "examples", "python"))

from vivarium_client import Client, ConnectionClosed, RpcError  # noqa: E402,F401

failures = 0


def ok(cond, desc, *diags, todo=None):
    """One TAP line. With todo (a reason), a failure is a known hole."""
    global failures
    if cond:
        print("ok - " + desc, flush=True)
    elif todo:
        print("not ok - %s # TODO %s" % (desc, todo), flush=True)
        diag(*diags)
    else:
        failures += 1
        print("not ok - " + desc, flush=True)
        diag(*diags)
    return cond


def skip(desc, reason):
    print("skip - %s: %s" % (desc, reason), flush=True)


def diag(*lines):
    for text in lines:
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)


def short(obj, n=300):
    s = repr(obj)
    return s if len(s) <= n else s[:n] + "..."


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until it is true or timeout seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


# ---------------------------------------------------------------- processes

def stat_fields(pid):
    """(comm, [fields after the comm]) of /proc/PID/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            line = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return line[line.index("(") + 1:line.rindex(")")], line[line.rindex(")") + 2:].split()


def proc_table():
    """{pid: (ppid, starttime, comm, state)} of every process of the host."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat_fields(int(name))
            if st:
                comm, rest = st
                table[int(name)] = (int(rest[1]), rest[19], comm, rest[0])
    return table


def descendants(pid, table=None):
    """[(pid, ppid, starttime, comm, state)] of every descendant of pid."""
    table = table if table is not None else proc_table()
    children = {}
    for p, (pp, _start, _comm, _state) in table.items():
        children.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            pp, start, comm, state = table[c]
            out.append((c, pp, start, comm, state))
            todo.append(c)
    return out


def alive(pid, start):
    st = stat_fields(pid)
    return bool(st) and st[1][0] != "Z" and st[1][19] == start


def by_comm(comm):
    """Host pids of live (not zombie) processes named comm."""
    return sorted(p for p, (_pp, _s, c, state) in proc_table().items() if c == comm and state != "Z")


def status_field(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def host_uid(pid):
    """The real uid of pid as the host sees it."""
    v = status_field(pid, "Uid")
    return int(v.split()[0]) if v else None


SCHED_IDLE = "5"


def sched_policy(pid):
    st = stat_fields(pid)
    return st[1][38] if st else None


def pool_procs(daemon):
    """(spawners, zygotes, workers) among a daemon's descendants: a spawner
    is a vivarium-spawn (a child of the daemon or of its keeper), a zygote a
    vivarium-zygote child of a spawner, a worker a child of a zygote that is
    neither the init of a worker's pid namespace (vivarium-init) nor on its
    way out (a worker that has answered switches to SCHED_IDLE and may take a
    while to exit)."""
    d = [x for x in descendants(daemon) if x[4] != "Z"]
    spawners = [p for p, pp, _, comm, _s in d if comm == "vivarium-spawn"]
    zygotes = [p for p, pp, _, comm, _s in d if pp in spawners and comm == "vivarium-zygote"]
    workers = [p for p, pp, _, comm, _s in d
               if pp in zygotes and comm != "vivarium-init" and sched_policy(p) not in (SCHED_IDLE, None)]
    return spawners, zygotes, workers


# ---------------------------------------------------------------- memory

def read_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read()
    except OSError as e:
        return "unreadable: %s" % e


def memory_holds(pid, needle):
    """(found, bytes scanned, regions unreadable) over pid's readable mappings."""
    found, scanned, unreadable = False, 0, 0
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read().splitlines()
        mem = open("/proc/%d/mem" % pid, "rb", buffering=0)
    except OSError:
        return None, 0, 0
    with mem:
        for line in maps:
            parts = line.split()
            if parts[1][0] != "r" or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            tail = b""
            for off in range(lo, hi, 16 << 20):
                try:
                    mem.seek(off)
                    chunk = mem.read(min(16 << 20, hi - off))
                except (OSError, ValueError, OverflowError):
                    unreadable += 1
                    break
                scanned += len(chunk)
                if needle in tail + chunk:
                    found = True
                tail = chunk[-len(needle):]
    return found, scanned, unreadable


def scan_for_secret(what, pid, secret):
    """Two lines: pid's environment, and its memory, do not hold secret.
    Only root can look into a non-dumpable process of another domain."""
    env = read_environ(pid)
    if os.getuid() != 0 and not isinstance(env, bytes):
        for part in ("environment", "memory"):
            skip("secret: the %s's %s does not hold the service's secret" % (what, part),
                 "not root, the host side cannot read it (%s)" % env)
        return
    ok(isinstance(env, bytes) and secret not in env,
       "secret: the %s's environment does not hold the service's secret" % what,
       "environ of %d: %s" % (pid, short(env)))
    found, scanned, unreadable = memory_holds(pid, secret)
    ok(found is False and scanned > 0,
       "secret: the %s's memory does not hold the service's secret (%d MiB scanned)" % (what, scanned >> 20),
       "pid %d: found %r, %d regions unreadable" % (pid, found, unreadable))


def ssb_check(worker, reference):
    """SECCOMP_FILTER_FLAG_SPEC_ALLOW is left out: under the seccomp policy a
    worker is force-mitigated; under any other the filter changes nothing, so
    the worker's state is the reference process's."""
    try:
        with open("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass") as f:
            policy = f.read().strip()
    except OSError:
        policy = "unknown"
    w, r = status_field(worker, "Speculation_Store_Bypass"), status_field(reference, "Speculation_Store_Bypass")
    if "seccomp" in policy:
        ok(w == "thread force mitigated", "seccomp: speculative store bypass is force-mitigated in a worker "
           "(kernel policy %r)" % policy, "worker: %r" % w)
    else:
        ok(w is not None and w == r, "seccomp: a worker's speculative store bypass state is the kernel's "
           "default (%r; policy %r: no SPEC_ALLOW, nothing to force)" % (w, policy), "reference: %r" % r)


def owner_check(pid, rel_paths, want_uid=None):
    """Files a request created, seen through /proc/PID/root: owned by the
    worker's own host uid, never root (and want_uid when given)."""
    uid = host_uid(pid)
    got = {}
    for rel in rel_paths:
        try:
            got[rel] = os.stat("/proc/%d/root/%s" % (pid, rel.lstrip("/"))).st_uid
        except OSError as e:
            got[rel] = str(e)
    good = uid not in (None, 0) and all(v == uid for v in got.values())
    if want_uid is not None:
        good = good and uid == want_uid
    ok(good, "identity: a file the code creates is owned on the host by its worker's unprivileged uid (%s)" % uid,
       "owners: %r; worker host uid %r, wanted %r" % (got, uid, want_uid))


def main(argv):
    """For the shell: `tree PID` prints PID:STARTTIME:COMM of its descendants;
    `survive FILE SECONDS` exits 0 when none of FILE's processes is alive
    within SECONDS, else prints them."""
    if argv[1] == "tree":
        for p, _pp, start, comm, _st in descendants(int(argv[2])):
            print("%d:%s:%s" % (p, start, comm))
        return 0
    if argv[1] == "survive":
        with open(argv[2]) as f:
            procs = [line.strip().split(":", 2) for line in f if line.strip()]
        if wait_for(lambda: not [p for p in procs if alive(int(p[0]), p[1])], float(argv[3]), 0.02):
            return 0
        for p in procs:
            if alive(int(p[0]), p[1]):
                print(":".join(p))
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
