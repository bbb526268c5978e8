# SPDX-License-Identifier: LGPL-2.1-or-later
"""Host-side checks of a running `vivarium serve`, for daemon.sh.

    host_daemon.py SOCKET DAEMON_PID MODE TOKEN SECRET IDLE

The cases of THREATS.md that need several requests, concurrent workers or the
host's view of a daemon (started by daemon.sh with --workers IDLE, SECRET in
its environment; MODE "root" or "unprivileged"; TOKEN names the processes
the requests create).  Prints ok/not ok lines (see host_lib.py).  The request
code lives in host_daemon_code.py.  The order matters: the checks that leave
a known residue in the unprivileged mode (a grandchild, tampered scheduling,
the fork bomb's sleepers) come last; daemon.sh kills the daemon afterwards.
"""

import ast
import hashlib
import os
import pwd
import sys
import threading
import time

import host_daemon_code as code
import host_lib
from host_lib import (Client, by_comm, descendants, diag, host_uid, ok, owner_check, pool_procs, read_environ,
                      scan_for_secret, sched_policy, short, ssb_check, status_field, wait_for)

MiB = 1 << 20
SOCK = DAEMON = MODE = TOKEN = None
IDLE = 2


def run(src, timeout_ms=20000, **kw):
    try:
        with Client(SOCK, timeout=timeout_ms / 1000 + 30) as c:
            return c.run(src, timeout_ms=timeout_ms, **kw)
    except Exception as e:  # noqa: BLE001 - reported by the caller's check
        return {"status": "client error", "detail": "%s: %s" % (type(e).__name__, e)}


def value(r):
    if r.get("status") != "ok" or r.get("value") is None:
        return None
    try:
        return ast.literal_eval(r["value"])
    except (ValueError, SyntaxError):
        return None


def concurrently(fns):
    """Run the callables in threads; their results, in order."""
    out = [None] * len(fns)

    def body(i, fn):
        out[i] = fn()
    ts = [threading.Thread(target=body, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(180)
    return out


def status():
    with Client(SOCK, timeout=20) as c:
        return c.status()


def settled():
    try:
        st = status()
    except Exception:  # noqa: BLE001 - not yet
        return False
    e = st["environments"][0]
    return (e["state"] == "ready" and st["busy_workers"] == 0 and st["queue_depth"] == 0
            and e["starting_workers"] == 0 and st["idle_workers"] == IDLE) and st


class Streamed:
    """A request sent with stream: true whose output we watch as it comes."""

    def __init__(self, src, marker, timeout_ms=30000):
        self.c = Client(SOCK, timeout=60)
        self.c.send(1, "run", {"code": src, "stream": True, "timeout_ms": timeout_ms})
        self.out = b""
        self.final = None
        deadline = time.monotonic() + 30
        while marker not in self.out and time.monotonic() < deadline:
            m = self.c.recv()
            if "event" in m:
                self.out += m.get("data") or b""
            else:
                self.final = m
                break

    def cancel(self):
        self.c.send(2, "cancel", {"id": 1})

    def finish(self):
        while self.final is None:
            m = self.c.recv(timeout=60)
            if m.get("id") == 1 and "event" not in m:
                self.final = m
            elif "event" in m:
                self.out += m.get("data") or b""
        self.c.close()
        return self.final.get("result") or self.final


def test_uid():
    if os.getuid() != 0:
        return os.getuid()
    return pwd.getpwnam(os.environ.get("VIV_TEST_USER", "vivarium-test")).pw_uid


# ---------------------------------------------------------------- §F secrets, §B identity

def check_secret(secret):
    env = read_environ(DAEMON)
    ok(isinstance(env, bytes) and secret in env, "secret: control: the daemon's own environment holds the secret")
    wait_for(settled, 30)
    _, zygotes, workers = pool_procs(DAEMON)
    if not ok(zygotes and workers, "the daemon has a zygote and warm workers", pool_procs(DAEMON)):
        return
    scan_for_secret("zygote", zygotes[0], secret)
    scan_for_secret("warm worker", workers[0], secret)
    ssb_check(workers[0], DAEMON)
    r = run("import os\nsorted(os.environ.items())")
    ok(value(r) is not None and secret.decode() not in r["value"],
       "secret: the code does not find the secret in its environment", short(r))


def check_uids():
    wait_for(settled, 30)
    _, zygotes, workers = pool_procs(DAEMON)
    uids = {w: host_uid(w) for w in workers}
    zuid = host_uid(zygotes[0]) if zygotes else None
    ok(zuid not in (None, 0), "identity: the zygote runs as an unprivileged host uid (%s)" % zuid)
    if MODE == "root":
        ok(len(uids) >= 2 and len(set(uids.values())) == len(uids) and 0 not in uids.values()
           and host_uid(DAEMON) not in uids.values(),
           "identity: the warm workers run as distinct unprivileged host uids (one per slot)", uids)
    else:
        ok(len(uids) >= 2 and set(uids.values()) == {test_uid()},
           "identity: the warm workers all run as the caller's own uid (the documented single-id mode)", uids)


def check_owner():
    name = TOKEN + "-o"
    s = Streamed(code.fill(code.OWNED, comm=name), b"ready")
    pids = by_comm(name)
    if ok(len(pids) == 1, "the owned-files request runs (found by name on the host)", pids, s.out):
        owner_check(pids[0], ["/workspace/owned", "/tmp/owned"], test_uid() if MODE == "unprivileged" else None)
    s.cancel()
    s.finish()


# ---------------------------------------------------------------- §F state and randomness

def fingerprint():
    return value(run(code.FINGERPRINT))


def compare_fingerprints(what, base, n=4, keys=None, todo=None):
    bad = []
    for i in range(n):
        fp = fingerprint()
        if fp is None:
            bad.append("request %d: no fingerprint" % i)
            continue
        for k in keys or base:
            if fp.get(k) != base.get(k):
                bad.append("request %d: %s = %r, before %r" % (i, k, fp.get(k), base.get(k)))
    ok(not bad, what, *bad[:12], todo=todo if bad else None)


def check_bleed():
    base = fingerprint()
    if not ok(base is not None, "state: a fingerprint of a fresh worker", base):
        return
    r = run(code.HOSTILE_STATE)
    ok(r.get("status") in ("ok", "crashed", "exception"), "state: the hostile request gets a final result (%s)"
       % r.get("status"), short(r))
    compare_fingerprints("state: nothing bleeds into the next requests (builtins, sys.modules, atexit, threads, "
                         "environ, sys.path, umask, cwd, signals, warnings, files in /tmp, /workspace, /dev/shm)",
                         base)


def check_random():
    got = concurrently([lambda: [value(run(code.RANDOMNESS)) for _ in range(2)] for _ in range(2)])
    vals = [v for pair in got for v in pair]
    if not ok(all(vals), "randomness: four requests report their random state", short(vals, 600)):
        return
    for key in ("random", "uuid4", "urandom", "tempfile", "authkey", "numpy"):
        seen = [v.get(key) for v in vals]
        ok(None not in seen and len(set(seen)) == len(seen), "randomness: %s differs between workers" % key, seen)
    hashes = {v["hash"] for v in vals}
    ok(len(hashes) == 1, "randomness: the hash() seed is shared by a zygote's workers (documented in "
       "vivarium-security(7), THREATS.md §F)", hashes)


# ---------------------------------------------------------------- §C image, planted objects, channels

def check_image():
    r = run(code.HOSTILE_IMAGE)
    ok(value(r) == [], "image: a worker cannot write, plant, rename, touch or remount the image", short(r))
    host = {}
    for p in code.IMAGE_FILES:
        with open(p, "rb") as f:
            host[p] = hashlib.sha256(f.read()).hexdigest()
    host["pycache"] = sorted(os.listdir("/usr/lib/python3.11/__pycache__"))
    v = value(run(code.IMAGE_VIEW))
    ok(v == host, "image: the next request sees the image exactly as the host has it", short(v), short(host))


def check_planted():
    t0 = time.monotonic()
    r = run(code.PLANT, timeout_ms=60000)
    dt = time.monotonic() - t0
    ok(r.get("status") == "ok" and dt < 30, "planted: a request leaves links, sockets, odd names and a 10 000-deep "
       "tree in its workspace and ends promptly (%.1f s)" % dt, short(r))
    v = value(run("import os\n{p: os.listdir(p) for p in ('/workspace', '/tmp', '/dev/shm')}"))
    ok(v == {"/workspace": [], "/tmp": [], "/dev/shm": []}, "planted: the next request's scratch space is empty", v)
    ok(bool(wait_for(settled, 15)), "planted: the pool comes back to rest afterwards")


def check_channels():
    a = Streamed(code.fill(code.CHANNEL_A, comm=TOKEN + "-a", token=TOKEN), b"ready")
    b = value(run(code.fill(code.CHANNEL_B, comm=TOKEN + "-a", token=TOKEN)))
    a.cancel()
    ra = a.finish()
    if not ok(b is not None and b"ready" in a.out, "channels: two concurrent workers (a listener and a prober) run",
              a.out, short(ra)):
        return
    ok(b["files"] == [False, False, False], "channels: no file in /dev/shm, /tmp or /workspace is shared", b)
    ok(b["abstract"] in ("EPERM", "ECONNREFUSED"),
       "channels: an abstract unix socket of another worker cannot be reached (%s)" % b["abstract"])
    ok(b["path_socket"] == "ENOENT", "channels: a unix socket in another worker's /tmp is not there")
    ok(b["ipc"] == ["EPERM", "EPERM", "EPERM", "EPERM"], "channels: SysV shm, sem, msg and POSIX mq are refused",
       b["ipc"])
    ok(b["inet"] == "EAFNOSUPPORT", "channels: no loopback listener (AF_INET refused)", b["inet"])
    ok(b["signal"] == "not found", "channels: the other worker is not visible, so it cannot be signalled (%s)"
       % b["signal"])
    ok(b["flock"] == "EAGAIN" and b["posix_lock"] == "locked",
       "residual risk (documented in vivarium-security(7)): flock and fcntl locks on image files are seen by "
       "another worker (flock %s, fcntl %s)" % (b["flock"], b["posix_lock"]),
       "if a lock is no longer seen, the channel is closed: update tests/security/README and the man page")


# ---------------------------------------------------------------- §E deadlines, memory, descriptors, output

def check_timeouts():
    cases = list(code.DEADLINES.items())
    t0 = time.monotonic()
    rs = concurrently([lambda src=src: run(src, timeout_ms=1000) for _, src in cases])
    dt = time.monotonic() - t0
    for (what, _), r in zip(cases, rs):
        ok(r.get("status") == "timeout" and r.get("wall_ms", 1e9) < 5000,
           "deadline: %s ends with status timeout within 5 s of a 1 s deadline" % what, short(r))
    ok(dt < 15, "deadline: all %d were answered within 15 s" % len(cases), "%.1f s" % dt)
    ok(bool(wait_for(lambda: status()["busy_workers"] == 0, 5)), "deadline: no worker is left busy")


def check_memory():
    _, zygotes0, _ = pool_procs(DAEMON)
    restarts0 = status()["environments"][0]["restarts"]
    sleeper = Streamed("import time\nprint('ready', flush=True)\ntime.sleep(3)\n'alive'", b"ready")
    rs = concurrently([lambda src=src: run(src) for src in code.MEMORY.values()])
    for what, r in zip(code.MEMORY, rs):
        want = ("memory", "ok") if what.startswith("tmpfs") else ("memory",)
        # Without a cgroup, RLIMIT_AS refuses the mapping itself and Python
        # raises OSError(ENOMEM); the worker saw the limit refuse it, so the
        # status is still "memory".
        ok(r.get("status") in want, "memory: %s: status %s" % (what, "/".join(want)), short(r, 600))
    s = sleeper.finish()
    ok(s.get("status") == "ok" and s.get("value") == "'alive'", "memory: a concurrent request is unaffected", short(s))
    _, zygotes1, _ = pool_procs(DAEMON)
    ok(zygotes1 == zygotes0 and status()["environments"][0]["restarts"] == restarts0,
       "memory: only the workers died: same zygote, no restart", zygotes0, zygotes1)


def fds():
    return len(os.listdir("/proc/%d/fd" % DAEMON))


def rss_kb():
    return int(status_field(DAEMON, "VmRSS").split()[0])


def at_rest():
    """The pool is settled, no answered worker is still on its way out, and
    the dispatcher's fd count holds for 0.3 s: that count, else None."""
    if not settled():
        return None
    _, zygotes, _ = pool_procs(DAEMON)
    if [p for p, pp, _s, _c, _st in descendants(DAEMON) if pp in zygotes and sched_policy(p) != "0"]:
        return None
    n = fds()
    time.sleep(0.3)
    return n if fds() == n and settled() else None


def check_fds_and_floods():
    base_fds = wait_for(at_rest, 30)
    base_rss = rss_kb()
    r = run(code.EMFILE)
    ok(value(r) == "EMFILE", "descriptors: the worker gets EMFILE", short(r))
    for what, src in code.FLOODS.items():
        r = run(src, timeout_ms=60000)
        flag = r.get("stderr_truncated" if "stderr" in what else "stdout_truncated")
        ok(r.get("status") == "ok" and flag and len(r.get("stdout", b"")) + len(r.get("stderr", b"")) < 2 * MiB + 4096,
           "output: %s is capped and flagged" % what, short({k: v for k, v in r.items() if k not in ("stdout", "stderr")}))
    back = wait_for(at_rest, 15)
    ok(back is not None and back == base_fds, "descriptors: the dispatcher's fd count at rest is back to %s (%s)"
       % (base_fds, back), os.listdir("/proc/%d/fd" % DAEMON))
    ok(rss_kb() <= base_rss + 20 * 1024, "output: the dispatcher's RSS stays bounded (%d kB, was %d kB)"
       % (rss_kb(), base_rss))


# ---------------------------------------------------------------- §C mounts, §F zygote threads

def host_mount_lines(pid="self"):
    with open("/proc/%s/mountinfo" % pid) as f:
        return len(f.read().splitlines())


def check_many_workers(n=1000, conns=4, window=8):
    _, zygotes, _ = pool_procs(DAEMON)
    before, dbefore = host_mount_lines(), host_mount_lines(DAEMON)
    samples, stop = [], threading.Event()

    def sample():
        zs = list(zygotes)
        while not stop.is_set():
            for z in zs:
                t = status_field(z, "Threads")
                if t is not None:
                    samples.append(int(t))
                else:  # a new zygote (there should be none)
                    zs = pool_procs(DAEMON)[1]
            time.sleep(0.002)

    def conn(k):
        good = sent = 0
        with Client(SOCK, timeout=120) as c:
            pending = set()
            while sent < k or pending:
                while sent < k and len(pending) < window:
                    sent += 1
                    c.send(sent, "run", {"code": "1+1"})
                    pending.add(sent)
                m = c.recv()
                if m.get("id") in pending and "event" not in m:
                    pending.discard(m["id"])
                    good += m.get("result", {}).get("value") == "2"
        return good
    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    try:
        got = concurrently([lambda: conn(n // conns) for _ in range(conns)])
    finally:
        stop.set()
        sampler.join()
    dt = time.monotonic() - t0
    ok(sum(g or 0 for g in got) == n, "mounts: %d requests (%d workers created and destroyed) succeed (%.1f s)"
       % (n, n, dt), got)
    ok(host_mount_lines() == before and host_mount_lines(DAEMON) == dbefore,
       "mounts: the host mount table is unchanged (%d lines)" % before, host_mount_lines(), host_mount_lines(DAEMON))
    ok(samples and set(samples) == {1}, "zygote: single-threaded in all %d samples taken while it forked %d workers"
       % (len(samples), n), sorted(set(samples)), zygotes)


# ---------------------------------------------------------------- §B/§D kill(-1), grandchild

def check_kill_minus_one():
    wait_for(settled, 30)
    spawners, zygotes, workers = pool_procs(DAEMON)
    stable = set(spawners + zygotes + workers) | {p for p, pp, _s, _c, _st in descendants(DAEMON) if pp == DAEMON}
    before = {(p, s) for p, _pp, s, _c, _st in descendants(DAEMON) if p in stable}
    restarts0 = status()["environments"][0]["restarts"]
    r = run(code.KILL_MINUS_ONE)
    ok(value(r) == 9, "signals: kill(-1, SIGKILL) in a worker kills its own child", short(r))
    time.sleep(0.2)
    gone = [p for p, s in before if not host_lib.alive(p, s)]
    ok(len(gone) <= 1 and status()["environments"][0]["restarts"] == restarts0,
       "signals: kill(-1, SIGKILL) takes no other process of the daemon (%d watched; at most the worker that ran "
       "it ended)" % len(before), "gone: %s" % gone)
    v = value(run("6 * 7"))
    ok(v == 42, "signals: the daemon serves the next request", v)


def check_grandchild():
    name = TOKEN + "-gc"
    r = run(code.fill(code.DAEMONISE, comm=name))
    inner = value(r)
    ok(isinstance(inner, int), "processes: the code daemonises a grandchild (fork, setsid, SIGHUP ignored, "
       "spinning)", short(r))
    gone = wait_for(lambda: not by_comm(name), 2.0, 0.02)
    ok(gone, "processes: the daemonised grandchild is gone within 2 s of the request's end (%s)"
       % ("its cgroup and its pid namespace" if MODE == "root" else "its pid namespace"), by_comm(name))
    for p in by_comm(name):
        os.kill(p, 9)


def check_zygote_kill():
    wait_for(settled, 30)
    restarts0 = status()["environments"][0]["restarts"]
    _, zygotes, _ = pool_procs(DAEMON)
    s = Streamed("import time\nprint('ready', flush=True)\ntime.sleep(20)", b"ready")
    os.kill(zygotes[0], 9)
    t0 = time.monotonic()
    m = s.finish()
    dt = time.monotonic() - t0
    err = m.get("error") or {}
    ok(err.get("code") == -32603 and "zygote" in (err.get("message") or "") and dt < 5,
       "processes: kill -9 of the zygote fails its in-flight request cleanly (-32603 naming the zygote, %.1f s)" % dt,
       short(m))
    back = wait_for(lambda: settled() and status()["environments"][0]["restarts"] > restarts0, 60)
    ok(bool(back), "processes: the pool recovers with a new zygote and serves again",
       short(status(), 600))
    ok(value(run("6 * 7")) == 42, "processes: a request after the zygote's death succeeds")


def check_hostile_worker():
    base_fds = wait_for(at_rest, 30)
    base_rss = rss_kb()
    sleeper = Streamed("import time\nprint('ready', flush=True)\ntime.sleep(3)\n'alive'", b"ready")

    def hostile(src):
        t0 = time.monotonic()
        return run(src, timeout_ms=2000), time.monotonic() - t0
    got = concurrently([lambda src=src: hostile(src) for src in code.HOSTILE_WORKER.values()])
    for what, (r, dt) in zip(code.HOSTILE_WORKER, got):
        # A frame that never completes is not a violation yet: the deadline ends it.
        ok(r.get("status") in ("crashed", "timeout") and dt < 10,
           "protocol: a worker that writes %s gets a clear result (%s)" % (what, r.get("status")),
           "after %.1f s: %s" % (dt, short(r, 600)))
    s = sleeper.finish()
    ok(s.get("value") == "'alive'", "protocol: a concurrent request is unaffected by the hostile workers", short(s))
    back = wait_for(at_rest, 15)
    ok(back == base_fds, "protocol: the dispatcher's fd count at rest is back to %s (%s)" % (base_fds, back),
       os.listdir("/proc/%d/fd" % DAEMON))
    ok(rss_kb() <= base_rss + 20 * 1024, "protocol: the dispatcher's RSS stays bounded (%d kB, was %d kB)"
       % (rss_kb(), base_rss))


# ---------------------------------------------------------------- known hole, then the residue-leaving checks

def check_sched_tamper():
    base = fingerprint()
    r = run(code.TAMPER)
    touched = value(r) or {}
    diag("the tampering request changed: %s" % short(touched, 600))
    compare_fingerprints("processes: a worker cannot change the rlimits, nice value, scheduling policy, "
                         "affinity or I/O priority of the zygote or of the other workers (by pid, user or "
                         "process group)", base, n=3, keys=("rlimits", "nice", "sched", "affinity", "ioprio"))


def check_fork_bomb():
    name = TOKEN + "-fb"
    wait_for(settled, 30)
    r = run(code.THREAD_BOMB, timeout_ms=10000)
    ok(r.get("status") == "ok" and b"limited" in (r.get("stdout") or b""),
       "limits: a thread bomb is stopped by the process or memory limit (%s; %s processes in the jail)"
       % ((r.get("stdout") or b"").strip().decode(errors="replace"), r.get("value")), short(r))
    wait_for(settled, 30)
    n0 = len(descendants(DAEMON))
    r = run(code.fill(code.FORK_BOMB, comm=name), timeout_ms=2000)
    ok(r.get("status") == "timeout" and b"limited BlockingIOError" in (r.get("stdout") or b""),
       "limits: a fork bomb of sleepers hits the process limit (EAGAIN) and ends at its deadline",
       short({k: v for k, v in r.items() if k != "stderr"}))
    flat = wait_for(lambda: not by_comm(name) and len(descendants(DAEMON)) <= n0, 3)
    ok(bool(flat), "limits: the daemon's process count is back to %d (no sleeper left)" % n0,
       "%d sleepers left" % len(by_comm(name)))


def main(argv):
    global SOCK, DAEMON, MODE, TOKEN, IDLE
    SOCK, DAEMON, MODE, TOKEN, secret, IDLE = argv[1], int(argv[2]), argv[3], argv[4], argv[5].encode(), int(argv[6])
    if not ok(bool(wait_for(settled, 60)), "the pool is at rest with %d warm workers" % IDLE):
        return 1
    zombie = "vz-" + TOKEN
    ok(wait_for(lambda: not [p for p, _pp, _s, comm, _st in descendants(DAEMON) if comm == zombie], 10),
       "processes: the zombie the probe bundle left behind is reaped after its request",
       [x for x in descendants(DAEMON) if x[3] == zombie])
    for fn in (lambda: check_secret(secret), check_uids, check_owner, check_bleed, check_random, check_image,
               check_planted, check_channels, check_timeouts, check_memory, check_fds_and_floods,
               check_hostile_worker, check_many_workers, check_kill_minus_one, check_zygote_kill, check_grandchild,
               check_sched_tamper, check_fork_bomb):
        t0 = time.monotonic()
        try:
            fn()
            diag("%s took %.1f s" % (getattr(fn, "__name__", "check_secret"), time.monotonic() - t0))
        except Exception:  # noqa: BLE001 - one broken check must not hide the others
            import traceback
            ok(False, "host_daemon.py: %s ran to its end" % getattr(fn, "__name__", "a check"),
               traceback.format_exc())
    return 1 if host_lib.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
