# SPDX-License-Identifier: LGPL-2.1-or-later
"""Load, faults and hostile workers against a running daemon, for
tests/protocol/load.sh (which starts the daemon and passes its socket and pid).

Each subcommand prints TAP-like lines, ``ok - DESC``, ``not ok - DESC`` and
``# DIAG``, that load.sh numbers and passes on; a nonzero exit status without
a ``not ok`` line means the helper itself failed.

  load SOCKET N CONCURRENCY WINDOW   N runs of ``1+1`` over CONCURRENCY
                                     connections (one process each), WINDOW
                                     requests pipelined on each
  fault-worker SOCKET DAEMON_PID     kill -9 a busy worker mid-load
  fault-zygote SOCKET DAEMON_PID     kill -9 the zygote mid-load
  fault-spawner SOCKET DAEMON_PID    kill -9 the spawner mid-load
  fault-zygote-unread SOCKET DAEMON_PID
                                     kill -9 a stopped zygote that has a spawn
                                     request unread
  hostile SOCKET DAEMON_PID IDLE     code that abuses its own socket (fd 3);
                                     IDLE is the warm worker count to settle at
  bg SOCKET                          sleeping runs until the connection closes
                                     (the load under which the daemon is killed)
  rest SOCKET IDLE SECONDS           wait until the pool is at rest: IDLE warm
                                     workers, none busy, starting or queued
  tree PID                           "PID:STARTTIME:COMM" of PID's descendants
  survive FILE SECONDS               exit 0 when none of FILE's processes (from
                                     tree) is alive within SECONDS, else list them

Debian's interpreter (/usr/bin/python3, with python3-msgpack) and the example
client of examples/python are used; nothing is imported inside the jail but
the standard library, so the frames the hostile code writes are byte literals
built here.
"""

import multiprocessing
import os
import re
import signal
import struct
import sys
import threading
import time
import traceback

import msgpack

TOP = os.environ.get("top_srcdir") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "examples", "python"))

from vivarium_client import Client, ConnectionClosed, RpcError  # noqa: E402

INTERNAL_ERROR = -32603
OVERLOADED = -32000

failures = 0


def ok(cond, desc, *diags):
    """One TAP line; the diagnostics follow a failure only."""
    global failures
    if cond:
        print("ok - " + desc, flush=True)
    else:
        failures += 1
        print("not ok - " + desc, flush=True)
        for d in diags:
            diag(d)
    return cond


def diag(*lines):
    for text in lines:
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)


def short(obj, n=300):
    s = repr(obj)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------- processes

def proc_table():
    """{pid: (ppid, starttime, comm)} of every process of the host."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                line = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        comm = line[line.index("(") + 1:line.rindex(")")]
        rest = line[line.rindex(")") + 2:].split()
        table[int(name)] = (int(rest[1]), rest[19], comm, rest[0])
    return table


def descendants(pid, table=None):
    """[(pid, ppid, starttime, comm)] of every descendant of pid."""
    table = table if table is not None else proc_table()
    children = {}
    for p, (pp, start, comm, _state) in table.items():
        children.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            pp, start, comm, _state = table[c]
            out.append((c, pp, start, comm))
            todo.append(c)
    return out


def alive(pid, start):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    rest = line[line.rindex(")") + 2:].split()
    return rest[0] != "Z" and rest[19] == start


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def pool_procs(daemon):
    """(spawners, zygotes, workers) among the daemon's descendants: a spawner
    is a vivarium-spawn child of the daemon's keeper (vivarium-keeper, the
    daemon's child that starts spawners), a zygote a vivarium-zygote child
    of a spawner (PID 1 of its jail), a worker a child of a zygote other than
    the init of a worker's pid namespace (vivarium-init)."""
    d = descendants(daemon)
    keepers = [p for p, pp, _, comm in d if pp == daemon and comm == "vivarium-keeper"]
    spawners = [p for p, pp, _, comm in d if pp in keepers and comm == "vivarium-spawn"]
    zygotes = [p for p, pp, _, comm in d if pp in spawners and comm == "vivarium-zygote"]
    workers = [p for p, pp, _, comm in d if pp in zygotes and comm != "vivarium-init"]
    return spawners, zygotes, workers


def status(sock):
    with Client(sock, timeout=20) as c:
        return c.status()


def env0(st):
    return st["environments"][0]


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until it is true or timeout seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def settled(sock, idle):
    """The pool is at rest: IDLE warm workers, none busy, starting or queued."""
    try:
        st = status(sock)
    except (OSError, RpcError, ConnectionClosed):
        return False
    e = env0(st)
    return (e["state"] == "ready" and st["busy_workers"] == 0 and st["queue_depth"] == 0
            and e["starting_workers"] == 0 and st["idle_workers"] == idle)


def stable_fds(pid, seconds=0.5):
    """The fd count of pid if it stays the same for that long, else None."""
    n = fd_count(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if fd_count(pid) != n:
            return None
    return n


def outcome(r):
    """A result in a few words."""
    if "status" not in r:
        return short(r, 100)
    return f"{r['status']}: " + repr(r.get("detail") if r["status"] != "ok" else r.get("value"))


def run_ok(sock, n=5):
    """n runs of 6*7 on a fresh connection; a list of what was not right."""
    bad = []
    try:
        with Client(sock, timeout=60) as c:
            for _ in range(n):
                r = c.run("6 * 7", timeout_ms=10000)
                if r.get("status") != "ok" or r.get("value") != "42":
                    bad.append(r)
    except Exception as e:  # noqa: BLE001 - reported as the failure
        bad.append(f"{type(e).__name__}: {e}")
    return bad


# ---------------------------------------------------------------- load

def load_child(sock, conn, n, window, queue):
    """One connection: n runs of 1+1, window pipelined. Reports a summary."""
    s = {"conn": conn, "ok": 0, "bad": [], "bad_n": 0, "overloaded": 0, "errors": [], "errors_n": 0,
         "duplicates": [], "unexpected": [], "lost": 0, "failure": None}
    base = (conn + 1) * 1_000_000
    pending, done = set(), set()
    sent = 0
    try:
        c = Client(sock, timeout=120)
        while sent < n or pending:
            while sent < n and len(pending) < window:
                sent += 1
                c.send(base + sent, "run", {"code": "1+1"})
                pending.add(base + sent)
            m = c.recv()
            mid = m.get("id")
            if mid in pending and "event" not in m:
                pending.discard(mid)
                done.add(mid)
                if "error" in m:
                    s["errors_n"] += 1
                    if m["error"].get("code") == OVERLOADED:
                        s["overloaded"] += 1
                    if len(s["errors"]) < 5:
                        s["errors"].append(short(m))
                elif m.get("result", {}).get("status") == "ok" and m["result"].get("value") == "2":
                    s["ok"] += 1
                else:
                    s["bad_n"] += 1
                    if len(s["bad"]) < 5:
                        s["bad"].append(short(m))
            elif mid in done:
                s["duplicates"].append(short(m))
            else:
                s["unexpected"].append(short(m))
        # Anything still to come for these ids would arrive before the
        # answer to a ping sent now (or at least not much later).
        c.send(1, "ping")
        while True:
            m = c.recv(timeout=30)
            if m.get("id") == 1 and "result" in m:
                break
            (s["duplicates"] if m.get("id") in done else s["unexpected"]).append(short(m))
        c.close()
    except Exception as e:  # noqa: BLE001 - reported
        s["failure"] = f"{type(e).__name__}: {e}"
        s["lost"] = len(pending) + (n - sent)
    queue.put(s)


def cmd_load(sock, n, conc, window):
    before = status(sock)["requests"]
    per = [n // conc + (1 if i < n % conc else 0) for i in range(conc)]
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    t0 = time.monotonic()
    procs = [ctx.Process(target=load_child, args=(sock, i, per[i], window, q)) for i in range(conc)]
    for p in procs:
        p.start()
    results = []
    for _ in procs:
        try:
            results.append(q.get(timeout=900))
        except Exception:  # noqa: BLE001 - a child that never reported
            break
    dt = time.monotonic() - t0
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    after = status(sock)["requests"]

    got = {r["conn"] for r in results}
    missing = [i for i in range(conc) if i not in got]
    okn = sum(r["ok"] for r in results)
    lost = sum(r["lost"] for r in results) + sum(per[i] for i in missing)
    dups = [d for r in results for d in r["duplicates"]]
    unexp = [d for r in results for d in r["unexpected"]]
    overloaded = sum(r["overloaded"] for r in results)
    errors_n = sum(r["errors_n"] for r in results)
    bad_n = sum(r["bad_n"] for r in results)
    fails = [f"connection {r['conn']}: {r['failure']}" for r in results if r["failure"]]
    fails += [f"connection {i}: its process did not report" for i in missing]
    answered = okn + errors_n + bad_n

    diag(f"load: {n} runs of 1+1 over {conc} connections ({window} pipelined on each): "
         f"{dt:.1f} s, {n / dt:.0f} requests/s")
    ok(not fails and lost == 0 and answered == n,
       f"load: every one of the {n} requests got a response ({answered})",
       f"lost: {lost}", *fails[:10])
    ok(not dups, f"load: no duplicated response ({len(dups)})", *dups[:5])
    ok(not unexp, f"load: no unexpected response ({len(unexp)})", *unexp[:5])
    ok(overloaded == 0, f"load: no -32000 overloaded at queue 256 ({overloaded})",
       *[e for r in results for e in r["errors"]][:5])
    ok(okn == n and errors_n == 0 and bad_n == 0,
       f"load: all {n} results are status ok with value '2' ({okn}; errors {errors_n}, others {bad_n})",
       *[e for r in results for e in r["errors"] + r["bad"]][:10])
    d_ok = after["ok"] - before["ok"]
    ok(d_ok == n, f"load: status requests.ok grew by {n} ({d_ok})",
       f"before {before}", f"after {after}")


# ---------------------------------------------------------------- background load for the faults

# Every worker is pid 2 of its own pid namespace, so a pid printed inside names
# no worker: the code names its process with a random tag the host can find.
TAG_CODE = ('import ctypes, os\ntag = "vl" + os.urandom(6).hex()\n'
            'ctypes.CDLL(None).prctl(15, tag.encode(), 0, 0, 0)\nprint("tag", tag, flush=True)\n')
TAG_RE = rb"tag (vl[0-9a-f]+)"
SLEEP_CODE = TAG_CODE + 'import time\ntime.sleep(0.3)\n"done"'


class BgLoad:
    """n runs of SLEEP_CODE (streamed, so we learn each one's tag as it
    starts) over conc connections, one request at a time on each."""

    def __init__(self, sock, n=200, conc=8, timeout_ms=10000):
        self.sock, self.timeout_ms = sock, timeout_ms
        self.lock = threading.Lock()
        self.recs = {}  # id -> {"sent", "tag", "started", "resp", "t"}
        self.extra = []  # messages for no request of ours, or a second final
        self.failures = []
        ids = list(range(1, n + 1))
        self.threads = [threading.Thread(target=self._conn, args=(ids[i::conc],), daemon=True)
                        for i in range(conc)]
        for t in self.threads:
            t.start()

    def _conn(self, ids):
        try:
            c = Client(self.sock, timeout=60)
        except Exception as e:  # noqa: BLE001 - reported
            with self.lock:
                self.failures.append(f"connect: {e}")
            return
        try:
            for i in ids:
                with self.lock:
                    self.recs[i] = {"sent": time.monotonic(), "tag": None, "started": None,
                                    "resp": None, "t": None}
                c.send(i, "run", {"code": SLEEP_CODE, "timeout_ms": self.timeout_ms, "stream": True})
                while True:
                    m = c.recv()
                    now = time.monotonic()
                    with self.lock:
                        if m.get("id") != i:
                            self.extra.append(m)
                            continue
                        r = self.recs[i]
                        if "event" in m:
                            g = re.search(TAG_RE, m.get("data") or b"")
                            if g and r["tag"] is None:
                                r["tag"], r["started"] = g.group(1).decode(), now
                            continue
                        r["resp"], r["t"] = m, now
                        break
            # A ping flushes out anything more for these ids.
            c.send(10**9, "ping")
            while True:
                m = c.recv(timeout=30)
                if m.get("id") == 10**9:
                    break
                with self.lock:
                    self.extra.append(m)
        except Exception as e:  # noqa: BLE001 - reported
            with self.lock:
                self.failures.append(f"{type(e).__name__}: {e}")
        finally:
            c.close()

    def answered(self):
        with self.lock:
            return sum(1 for r in self.recs.values() if r["resp"] is not None)

    def running(self):
        """[(id, tag)] of requests started and not answered."""
        with self.lock:
            return [(i, r["tag"]) for i, r in self.recs.items()
                    if r["tag"] is not None and r["resp"] is None]

    def join(self, timeout=120):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def check_complete(self, what, n):
        """Every request got exactly one final response."""
        finished = self.join()
        with self.lock:
            missing = [i for i, r in self.recs.items() if r["resp"] is None]
            count = len(self.recs)
        ok(finished and not self.failures and not missing and count == n,
           f"{what}: every one of the {n} requests got a final response",
           f"threads finished: {finished}; sent {count}; without a response: {missing[:20]}",
           *self.failures[:10])
        ok(not self.extra, f"{what}: no duplicated or unexpected response", *map(short, self.extra[:5]))

    @staticmethod
    def is_ok(m):
        return m is not None and m.get("result", {}).get("status") == "ok" and m["result"].get("value") == "'done'"


def wait_mid_load(bg, answered=16, timeout=60):
    """Wait until the load is well under way and a request is running."""
    return wait_for(lambda: bg.answered() >= answered and bg.running(), timeout, 0.01)


def worker_host_pid(daemon, tag):
    """The host pid of the worker that named itself tag."""
    _, _, workers = pool_procs(daemon)
    for p in workers:
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == tag:
                    return p
        except OSError:
            pass
    return None


def cmd_fault_worker(sock, daemon):
    what = "kill -9 of a busy worker"
    bg = BgLoad(sock)
    target = victim = None
    deadline = time.monotonic() + 60
    if wait_mid_load(bg):
        while time.monotonic() < deadline and victim is None:
            # The one that started last has the longest still to run.
            for i, tag in sorted(bg.running(), key=lambda x: -bg.recs[x[0]]["started"]):
                hp = worker_host_pid(daemon, tag)
                if not hp:
                    continue
                t_kill = time.monotonic()
                try:
                    os.kill(hp, 9)
                except ProcessLookupError:
                    continue  # it just finished: another one
                target, victim = i, hp
                break
            else:
                time.sleep(0.01)
    if not ok(victim is not None, f"{what}: found a busy worker (a child of the zygote) mid-load"):
        bg.join()
        return
    diag(f"killed worker {victim} (tagged {bg.recs[target]['tag']}), running request {target}")
    bg.check_complete(what, 200)
    m = bg.recs[target]["resp"]
    res = (m or {}).get("result") or {}
    err = (m or {}).get("error") or {}
    if res:
        diag(f"{what}: its request's result: status {res.get('status')!r}, detail {res.get('detail')!r}")
    elif err:
        diag(f"{what}: its request's error: {err.get('code')} {err.get('message')!r}")
    ok(res.get("status") == "killed" or err.get("code") == INTERNAL_ERROR,
       f"{what}: the request it ran ends with status 'killed' (or error -32603)", short(m))
    others = {i: r["resp"] for i, r in bg.recs.items() if i != target}
    bad = {i: m for i, m in others.items() if not BgLoad.is_ok(m)}
    ok(not bad, f"{what}: the other {len(others)} requests succeed ({len(bad)} did not)",
       *[f"{i}: {short(m)}" for i, m in list(bad.items())[:5]])
    later = [i for i, r in bg.recs.items() if r["sent"] > t_kill]
    ok(later and all(BgLoad.is_ok(bg.recs[i]["resp"]) for i in later),
       f"{what}: the {len(later)} requests sent after the kill succeed")
    bad = run_ok(sock)
    ok(not bad, f"{what}: later requests on a new connection succeed", *map(short, bad[:3]))


def cmd_fault_zygote(sock, daemon, victim_kind):
    spawner_fault = victim_kind == "spawner"
    what = f"kill -9 of the {victim_kind}"
    st0 = status(sock)
    restarts0 = env0(st0)["restarts"]
    spawners0, zygotes0, _ = pool_procs(daemon)
    if not ok(len(spawners0) == 1 and len(zygotes0) == 1,
              f"{what}: the daemon has one spawner and one zygote",
              f"spawners {spawners0}, zygotes {zygotes0}"):
        return
    victim = spawners0[0] if spawner_fault else zygotes0[0]
    bg = BgLoad(sock)
    if not ok(wait_mid_load(bg), f"{what}: the load is under way, requests running"):
        bg.join()
        return
    with bg.lock:
        running = {i for i, r in bg.recs.items() if r["tag"] is not None and r["resp"] is None}
    t_kill = time.monotonic()
    os.kill(victim, 9)
    diag(f"killed the {victim_kind} {victim} with {len(running)} requests running")

    # The pool recovers: state ready again, restarts counted.
    back = wait_for(lambda: (lambda st: env0(st)["state"] == "ready" and env0(st)["restarts"] > restarts0
                             and st)(status(sock)), 60)
    t_back = time.monotonic()
    st1 = back or status(sock)
    ok(bool(back), f"{what}: the environment is 'ready' again with restarts incremented "
       f"({restarts0} -> {env0(st1)['restarts']}) within 60 s",
       f"status: {short(st1, 800)}")
    if back:
        diag(f"{what}: ready again {t_back - t_kill:.2f} s after the kill")

    bg.check_complete(what, 200)
    with bg.lock:
        recs = dict(bg.recs)
    failed = {i: r["resp"] for i, r in recs.items() if not BgLoad.is_ok(r["resp"])}
    msgs = sorted({(m or {}).get("error", {}).get("message", short(m)) for m in failed.values()})
    diag(f"{what}: {len(failed)} of {len(recs)} requests failed; their messages: {msgs}")

    def clear(m):
        err = (m or {}).get("error") or {}
        if err.get("code") != INTERNAL_ERROR or not isinstance(err.get("message"), str):
            return False
        return spawner_fault and err["message"] != "" or "zygote" in err["message"]
    ok(failed and all(clear(m) for m in failed.values()),
       f"{what}: the requests in flight fail with -32603"
       + ("" if spawner_fault else " and a message that mentions the zygote"),
       *[f"{i}: {short(m)}" for i, m in list(failed.items())[:5]])
    later = [i for i, r in recs.items() if r["sent"] > t_back]
    ok(later and all(BgLoad.is_ok(recs[i]["resp"]) for i in later),
       f"{what}: the {len(later)} requests sent after the recovery succeed")
    bad = run_ok(sock)
    ok(not bad, f"{what}: later requests on a new connection succeed", *map(short, bad[:3]))
    spawners1, zygotes1, _ = pool_procs(daemon)
    if spawner_fault:
        ok(len(spawners1) == 1 and spawners1 != spawners0,
           f"{what}: a new spawner runs ({spawners0} -> {spawners1})")
    ok(len(zygotes1) == 1 and zygotes1 != zygotes0,
       f"{what}: a new zygote runs ({zygotes0} -> {zygotes1})")


def cmd_fault_zygote_unread(sock, daemon):
    """kill -9 of a zygote that had not read a spawn request yet: the socket
    then ends with ECONNRESET rather than end of file, and that is still the
    zygote's death, not a protocol violation."""
    what = "kill -9 of the zygote with a spawn request unread"
    restarts0 = env0(status(sock))["restarts"]
    _, zygotes, _ = pool_procs(daemon)
    if not ok(len(zygotes) == 1, f"{what}: the daemon has one zygote ({zygotes})"):
        return
    os.kill(zygotes[0], signal.SIGSTOP)
    try:
        c = Client(sock, timeout=30)
        c.send(1, "run", {"code": "import time\ntime.sleep(3)", "timeout_ms": 10000})
        # The request is leased and a replacement worker asked of the zygote.
        asked = wait_for(lambda: (lambda e: e["busy_workers"] == 1 and e["starting_workers"] >= 1)(
            env0(status(sock))), 10)
    finally:
        os.kill(zygotes[0], signal.SIGKILL)
    ok(bool(asked), f"{what}: a request runs and a spawn request waits in the stopped zygote's socket")
    m = c.recv()
    c.close()
    err = m.get("error") or {}
    msg = err.get("message") or ""
    ok(err.get("code") == INTERNAL_ERROR and "zygote" in msg,
       f"{what}: the request in flight fails with -32603 naming the zygote ({msg!r})", short(m))
    ok("died" in msg and "protocol" not in msg,
       f"{what}: the message says the zygote died, not that it broke the protocol ({msg!r})")
    back = wait_for(lambda: (lambda e: e["state"] == "ready" and e["restarts"] > restarts0)(
        env0(status(sock))), 60)
    ok(back, f"{what}: the environment is 'ready' again with restarts incremented")
    bad = run_ok(sock)
    ok(not bad, f"{what}: later requests succeed", *map(short, bad[:3]))


# ---------------------------------------------------------------- hostile workers

def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def result_frame(status="ok", value="'forged'"):
    return frame(msgpack.packb({"type": "result", "status": status, "value": value, "exception": None,
                                "images": [], "images_omitted": 0}, use_bin_type=True))


def write3(data, then=""):
    """Code that writes data (a byte literal here) to its socket, then THEN."""
    return f"import os\nos.write(3, {data!r})\n{then}"


def sendfds(data, fds, then=""):
    return (f"import array, os, socket\n"
            f"s = socket.socket(fileno=3)\n"
            f"s.sendmsg([{data!r}], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', {fds!r}))])\n"
            f"{then}")


def protocol_crash(r):
    return r.get("status") == "crashed" and "protocol" in (r.get("detail") or "")


def forged(r):
    return r.get("status") == "ok" and r.get("value") == "'forged'"


HOSTILE = [
    # (description, code, accept(result), slow: the code sleeps after the abuse)
    ("garbage: a length of 0xffffffff and 100 bytes",
     write3(b"\xff\xff\xff\xff" + b"x" * 100), protocol_crash, False),
    ("a 4 GiB length header (0xffffffff), alone, then sleep(5)",
     write3(b"\xff\xff\xff\xff", "import time; time.sleep(5)"), protocol_crash, True),
    ("a length of 64 MiB + 1 (above the result frame limit), then sleep(5)",
     write3(struct.pack(">I", (64 << 20) + 1), "import time; time.sleep(5)"), protocol_crash, True),
    ("a zero length frame", write3(b"\x00\x00\x00\x00"), protocol_crash, False),
    ("a frame of invalid msgpack (0xc1)", write3(frame(b"\xc1")), protocol_crash, False),
    ("a frame holding an array, not a map", write3(frame(b"\x92\x01\x02")), protocol_crash, False),
    ("a truncated frame (256 announced, 10 sent), then sleep(5)",
     write3(b"\x00\x00\x01\x00" + b"\x82" * 10, "import time; time.sleep(5)"), protocol_crash, False),
    ("100000-deep nesting in a frame of valid length",
     write3(frame(b"\x81\xa1a" + b"\x91" * 100000 + b"\xc0")), protocol_crash, False),
    ("a frame of an unknown type", write3(frame(msgpack.packb({"type": "hello"}))), protocol_crash, False),
    ("a forged result claiming status 'timeout'",
     write3(result_frame("timeout", None)), protocol_crash, False),
    ("a forged result claiming status 'killed'",
     write3(result_frame("killed", None)), protocol_crash, False),
    ("a forged result with a value that is not a str",
     write3(result_frame("ok", 5)), protocol_crash, False),
    ("a second result after a forged first one",
     write3(result_frame() + result_frame("ok", "'second'")),
     lambda r: forged(r) or protocol_crash(r), False),
]


def cmd_hostile(sock, daemon, idle):
    c = Client(sock, timeout=60)
    c.status()  # our connection is open before the counts are taken
    for desc, code, accept, slow in HOSTILE:
        t0 = time.monotonic()
        try:
            r = c.run(code, timeout_ms=10000)
        except Exception as e:  # noqa: BLE001 - reported
            r = {"error": f"{type(e).__name__}: {e}"}
        dt = time.monotonic() - t0
        ok(accept(r), f"hostile: {desc}: a clear result ({outcome(r)})",
           short(r, 600))
        if slow:
            ok(dt < 4.5, f"hostile: {desc}: answered before the code's sleep ends ({dt:.2f} s)")
        try:
            v = c.run("1+1", timeout_ms=10000)
        except Exception as e:  # noqa: BLE001 - reported
            v = {"error": f"{type(e).__name__}: {e}"}
        ok(v.get("value") == "2", f"hostile: {desc}: the daemon keeps serving", short(v))

    # A forged but valid result, then the code goes on: the answer comes at
    # once and the worker is killed.
    code = (TAG_CODE + f"os.write(3, {result_frame()!r})\nimport time\ntime.sleep(5)\n'late'")
    t0 = time.monotonic()
    r = c.run(code, timeout_ms=10000)
    dt = time.monotonic() - t0
    ok(forged(r), f"hostile: a forged result then sleep(5): the forged result is the answer "
       f"({r.get('status')}: {r.get('value')!r})", short(r, 600))
    ok(dt < 4.5, f"hostile: a forged result then sleep(5): answered before the sleep ends ({dt:.2f} s)")
    busy = wait_for(lambda: (lambda st: st["busy_workers"] == 0 and st)(c.status()), 1.0, 0.02)
    ok(bool(busy), "hostile: a forged result then sleep(5): busy_workers is 0 within 1 s",
       short(c.status(), 600))
    g = re.search(TAG_RE, r.get("stdout") or b"")
    if ok(g is not None, "hostile: a forged result then sleep(5): its output (its tag) came with it",
          short(r.get("stdout"))):
        tag = g.group(1).decode()
        gone = wait_for(lambda: worker_host_pid(daemon, tag) is None, 1.0, 0.02)
        ok(gone, f"hostile: a forged result then sleep(5): the worker (tagged {tag}) is killed within 1 s")

    # File descriptors passed over the socket are not kept by the dispatcher:
    # once the pool is at rest again, its fd count is what it was at rest.
    base = wait_for(lambda: settled(sock, idle) and stable_fds(daemon), 15)
    ok(bool(base), f"hostile: the pool comes to rest, its dispatcher holding {base or fd_count(daemon)} fds")
    for desc, code, accept in [
        ("SCM_RIGHTS [0,1,2] with a forged result",
         sendfds(result_frame(), [0, 1, 2]), forged),
        ("SCM_RIGHTS [0,1,2] with garbage",
         sendfds(b"\xff\xff\xff\xff" + b"x" * 100, [0, 1, 2]), protocol_crash),
        ("SCM_RIGHTS of 250 fds with a forged result",
         sendfds(result_frame(), [0, 1, 2] * 83 + [0]), forged),
        ("SCM_RIGHTS [0,1,2] four times over, with 1, 2, 1 and 127 bytes",
         sendfds(b"\x00", [0, 1, 2],
                 "for b in (b'\\x00\\x00', b'\\x7f'):\n"
                 "    s.sendmsg([b], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0, 1, 2]))])\n"
                 "import time\ntime.sleep(0.1)\n"
                 "s.sendmsg([b'x' * 127], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0, 1, 2]))])\n"),
         lambda r: r.get("status") in ("crashed", "ok")),
    ]:
        r = c.run(code, timeout_ms=10000)
        ok(accept(r), f"hostile: {desc}: a clear result ({outcome(r)})",
           short(r, 600))
        back = wait_for(lambda: settled(sock, idle) and fd_count(daemon) == base, 5)
        ok(bool(back), f"hostile: {desc}: the dispatcher's fd count is back to {base} "
           f"(now {fd_count(daemon)})")
        v = c.run("1+1", timeout_ms=10000)
        ok(v.get("value") == "2", f"hostile: {desc}: the daemon keeps serving", short(v))
    c.close()


# ---------------------------------------------------------------- the daemon's own death

def cmd_bg(sock):
    """Sleeping runs on 8 connections until the daemon goes away."""
    def conn():
        try:
            with Client(sock, timeout=120) as c:
                while True:
                    c.run(SLEEP_CODE, timeout_ms=10000)
        except Exception:  # noqa: BLE001 - the daemon's death ends us
            pass
    ts = [threading.Thread(target=conn, daemon=True) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)


def cmd_tree(pid):
    for p, _pp, start, comm in descendants(pid):
        print(f"{p}:{start}:{comm}")


def cmd_survive(path, seconds):
    with open(path) as f:
        procs = [line.strip().split(":", 2) for line in f if line.strip()]
    if wait_for(lambda: not [p for p in procs if alive(int(p[0]), p[1])], seconds, 0.02):
        return 0
    for p in procs:
        if alive(int(p[0]), p[1]):
            print(":".join(p))
    return 1


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "tree":
        cmd_tree(int(args[0]))
        return 0
    if cmd == "survive":
        return cmd_survive(args[0], float(args[1]))
    if cmd == "rest":
        return 0 if wait_for(lambda: settled(args[0], int(args[1])), float(args[2])) else 1
    if cmd == "bg":
        cmd_bg(args[0])
        return 0
    try:
        if cmd == "load":
            cmd_load(args[0], int(args[1]), int(args[2]), int(args[3]))
        elif cmd == "fault-worker":
            cmd_fault_worker(args[0], int(args[1]))
        elif cmd == "fault-zygote-unread":
            cmd_fault_zygote_unread(args[0], int(args[1]))
        elif cmd in ("fault-zygote", "fault-spawner"):
            cmd_fault_zygote(args[0], int(args[1]), cmd[6:])
        elif cmd == "hostile":
            cmd_hostile(args[0], int(args[1]), int(args[2]))
        else:
            print(f"unknown command {cmd}", file=sys.stderr)
            return 2
    except Exception:  # noqa: BLE001 - a broken helper is a failure
        ok(False, f"{cmd}: the helper ran to its end", traceback.format_exc())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
