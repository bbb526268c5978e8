#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vivarium's benchmark: the daemon against what users would pick instead.

One run, on one machine, interleaved so that drift (frequency scaling, a noisy
neighbour on a virtual machine) falls on every subject alike. It measures:

* latency at concurrency 1: `run` of `1+1` over the unix socket of a
  `vivarium serve` started from the build tree (p50/p90/p99 over --requests),
  and the same for a numpy call in a second daemon started with
  `--preload numpy`; `ping` as the daemon's own floor;
* throughput at concurrency 8 for a fixed time, from 8 client processes with
  one connection each (the client's own CPU use is reported, so that a
  saturated client is visible);
* the plot (numpy and pyplot imported, one line plotted, the figure returned
  as a PNG) through the default daemon and `vivarium mcp` with no options,
  which preload the data stack, and through a daemon and `vivarium mcp`
  with `--preload ''`;
* cold start: `vivarium run -c 1+1` from process start to result, daemon
  start to first result, `vivarium mcp` with and without the default
  preload to its first result;
* memory: RSS of the zygote and private memory of each idle warm worker
  (/proc/PID/smaps_rollup of the daemon's descendants), with the data
  stack preloaded and without;
* the peers present on the machine, on the same workloads, in batches that
  alternate with ours: python3 -c, bubblewrap, firejail, unshare(1), and
  Pyodide in Node when bench/node_modules/pyodide is present.

It prints a table of absolute figures and ratios and writes the same as JSON
(bench/results/latest.json by default). It is a measurement, never a test:
a slow number never fails it. It exits non-zero only when it cannot measure
vivarium at all (no binary, no msgpack, neither the daemon nor the one-shot
path working).

Runs under Debian's /usr/bin/python3 (`make bench` passes $(PYTHON_EMBED_EXE))
and needs python3-msgpack; numpy only for the numpy workload.
"""

import argparse
import collections
import gc
import json
import multiprocessing
import os
import platform
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

try:
    import msgpack
except ImportError:  # reported in main(): without it there is no daemon half
    msgpack = None

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import mcp_subject  # noqa: E402  (beside this file)
SRC_DIR = os.path.dirname(BENCH_DIR)
PYTHON = "/usr/bin/python3"
TAIL_CHARS = 400  # of a failing command's stderr, in messages


# --------------------------------------------------------------------------
# Workloads


class Workload:
    """One piece of code, as each kind of subject runs it.

    `code` goes to the daemon and to `vivarium run` (the value of its last
    expression is the result); `script` goes to `python3 -c` and the other
    peers, which must print the same value. Preloading numpy in the daemon
    imports it in the zygote but does not bind the name in the code's
    globals, hence the `import numpy`: a dictionary lookup in sys.modules.
    """

    def __init__(self, key, code, script, expect, needs_numpy, needs=None, images=None,
                 max_runs=None):
        self.key = key
        self.code = code
        self.script = script
        self.expect = expect
        self.needs_numpy = needs_numpy
        self.needs = (needs or ("numpy",)) if needs_numpy else ()  # modules it imports
        self.images = images  # PNGs a vivarium result must carry; None: not checked
        self.max_runs = max_runs  # at most this many samples per subject


# The first call of a data-analysis user: numpy and pyplot imported, one line
# plotted, the figure returned as a PNG. vivarium captures the open figure
# itself (bbox_inches="tight", dpi 100); the peers save it the same way and
# print 1 when they got a PNG.
PLOT_CODE = ("import numpy as np\nimport matplotlib.pyplot as plt\n"
             "plt.plot(np.arange(10))\nlen(plt.get_fignums())")
PLOT_SCRIPT = ("import io, numpy as np, matplotlib; matplotlib.use('Agg'); "
               "import matplotlib.pyplot as plt; plt.plot(np.arange(10)); b = io.BytesIO(); "
               "plt.gcf().savefig(b, format='png', dpi=100, bbox_inches='tight'); "
               "print(int(b.getvalue().startswith(b'\\x89PNG')))")

WORKLOADS = [
    Workload("1+1", "1+1", "print(1+1)", "2", False),
    Workload("numpy", "import numpy\nint(numpy.arange(10).sum())",
             "import numpy; print(int(numpy.arange(10).sum()))", "45", True),
    Workload("plot", PLOT_CODE, PLOT_SCRIPT, "1", True, needs=("numpy", "matplotlib"), images=1,
             max_runs=300),
]


# --------------------------------------------------------------------------
# Statistics


def percentile(xs_sorted, q):
    """Linear interpolation between closest ranks; xs_sorted non-empty."""
    k = (len(xs_sorted) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs_sorted) - 1)
    return xs_sorted[lo] + (xs_sorted[hi] - xs_sorted[lo]) * (k - lo)


def summarize(seconds):
    """Latency samples in seconds -> figures in milliseconds (None if empty)."""
    if not seconds:
        return None
    xs = sorted(s * 1e3 for s in seconds)
    return {"n": len(xs), "min": xs[0], "p50": percentile(xs, 50),
            "p90": percentile(xs, 90), "p99": percentile(xs, 99),
            "max": xs[-1], "mean": sum(xs) / len(xs)}


def distribute(total, parts):
    """Split `total` into `parts` integers that differ by at most one."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def fmt_ms(x):
    if x is None:
        return "-"
    if x < 1:
        return "%.3f" % x
    if x < 10:
        return "%.2f" % x
    if x < 100:
        return "%.1f" % x
    return "%.0f" % x


def fmt_ratio(x):
    if x is None:
        return "-"
    if x >= 10:
        return "%.0fx" % x
    if x >= 1:
        return "%.1fx" % x
    return "%.2fx" % x


def fmt_rate(x):
    if x is None:
        return "-"
    return "%.0f" % x if x >= 100 else "%.1f" % x


# --------------------------------------------------------------------------
# The RPC client: PROTOCOL.md framing, sequential calls on one connection.


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__("%s (%s)" % (message, code))
        self.code = code


class Connection:
    """4-byte big-endian length + one msgpack map per frame. Kept to the
    minimum so that the client's own cost stays small and known."""

    def __init__(self, path, timeout=120.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.next_id = 0
        self.header = bytearray(4)

    def close(self):
        self.sock.close()

    def call(self, method, params=None):
        self.next_id += 1
        req = {"id": self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        body = msgpack.packb(req)
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        while True:
            msg = self._recv()
            if msg.get("id") != self.next_id or "event" in msg:
                continue
            if "error" in msg:
                err = msg["error"]
                raise RpcError(err.get("code"), err.get("message"))
            return msg["result"]

    def _recv(self):
        self._read_into(memoryview(self.header))
        (n,) = struct.unpack(">I", self.header)
        body = bytearray(n)
        self._read_into(memoryview(body))
        return msgpack.unpackb(body, raw=False)

    def _read_into(self, view):
        while len(view):
            got = self.sock.recv_into(view)
            if got == 0:
                raise ConnectionError("daemon closed the connection")
            view = view[got:]


class ExampleConnection:
    """The same interface over examples/python/vivarium_client.py, the
    project's own client, so that bench exercises what users will use."""

    def __init__(self, path, timeout=120.0):
        self.client = vivarium_client.Client(path, timeout=timeout)

    def close(self):
        self.client.close()

    def call(self, method, params=None):
        try:
            return self.client.call(method, params)
        except vivarium_client.RpcError as e:
            raise RpcError(e.code, e.message) from None
        except vivarium_client.ProtocolError as e:
            raise ConnectionError("protocol error: %s" % e) from None


def load_example_client():
    """The project's client module, or None when it is absent or broken."""
    global vivarium_client
    sys.path.insert(0, os.path.join(SRC_DIR, "examples", "python"))
    try:
        import vivarium_client as mod
    except Exception:  # absent, or does not import: bench's own framing then
        return None
    finally:
        sys.path.pop(0)
    vivarium_client = mod
    return mod


vivarium_client = None
# The connection class every measurement uses; chosen once in main(), before
# the client processes are forked (--client).
connect = Connection


def result_ok(res, expect, images=None):
    """A `run` result is counted only when it is right, not just answered:
    the value, and the number of PNGs when the workload returns figures."""
    if expect is None:
        return True
    if images is not None and len(res.get("images") or ()) != images:
        return False
    return res.get("status") == "ok" and res.get("value") == expect


# --------------------------------------------------------------------------
# Client processes for concurrency 8. Started once, before any daemon, each
# with its own connection per slice; told when to start on the system-wide
# monotonic clock so that all of them begin together.


def _sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


def _job_rpc(spec, end):
    conn = connect(spec["socket"])
    method, params, expect = spec["method"], spec.get("params"), spec["expect"]
    images = spec.get("images")
    count, last, errors, lat = 0, None, collections.Counter(), []
    try:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                res = conn.call(method, params)
            except RpcError as e:
                errors["rpc error %s" % e.code] += 1
                continue
            t1 = time.perf_counter()
            if result_ok(res, expect, images):
                count += 1
                last = time.monotonic()
                lat.append(t1 - t0)
            else:
                errors["status %s" % res.get("status")] += 1
    except OSError as e:
        errors["connection: %s" % e] += 1
    finally:
        conn.close()
    return count, last, errors, lat


def _job_spawn(spec, end):
    argv, expect = spec["argv"], spec["expect"]
    count, last, errors, lat = 0, None, collections.Counter(), []
    while time.monotonic() < end:
        t0 = time.perf_counter()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
        out = p.stdout.decode(errors="replace").strip().splitlines()
        if p.returncode == 0 and out and out[-1] == expect:
            count += 1
            last = time.monotonic()
            lat.append(t1 - t0)
        else:
            errors["exit %d" % p.returncode] += 1
    return count, last, errors, lat


def _pool_main(pipe):
    gc.disable()
    while True:
        msg = pipe.recv()
        if msg is None:
            return
        spec, start, duration = msg
        _sleep_until(start)
        t0 = os.times()
        run = _job_rpc if spec["kind"] == "rpc" else _job_spawn
        try:
            count, last, errors, lat = run(spec, start + duration)
        except Exception as e:  # e.g. cannot connect: a result, not a hang
            count, last, errors, lat = 0, None, {"client: %s" % e: 1}, []
        t1 = os.times()
        pipe.send({
            "count": count,
            "elapsed": (last - start) if last else None,
            "wall": time.monotonic() - start,
            "errors": dict(errors),
            "client_cpu": (t1.user - t0.user) + (t1.system - t0.system),
            "child_cpu": (t1.children_user - t0.children_user)
                         + (t1.children_system - t0.children_system),
            "lat": lat[:100000],
        })


class ClientPool:
    def __init__(self, n):
        ctx = multiprocessing.get_context("fork")
        self.pipes, self.procs = [], []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=_pool_main, args=(b,), daemon=True)
            p.start()
            b.close()
            self.pipes.append(a)
            self.procs.append(p)

    def run(self, spec, duration):
        start = time.monotonic() + 0.05
        for pipe in self.pipes:
            pipe.send((spec, start, duration))
        return [pipe.recv() for pipe in self.pipes]

    def close(self):
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(5)


def cpu_jiffies():
    """(busy, total) from /proc/stat's aggregate line."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


# --------------------------------------------------------------------------
# The daemon under test


class DaemonError(Exception):
    pass


class Daemon:
    """One `vivarium serve` on a private socket, its log in the temp dir."""

    def __init__(self, exe, tmpdir, name, serve_help, workers=None, preload=None):
        self.exe, self.name = exe, name
        self.sock = os.path.join(tmpdir, name + ".sock")
        self.log = os.path.join(tmpdir, name + ".log")
        self.argv = [exe, "serve", "--socket", self.sock]
        self.notes = []
        if workers is not None:
            if "--workers" in serve_help:
                self.argv += ["--workers", str(workers)]
            else:
                self.notes.append("serve has no --workers; daemon default used")
        if preload is not None:  # "" turns the default preload off
            if "--preload" not in serve_help:
                raise DaemonError("serve has no --preload")
            self.argv += ["--preload", preload]
        self.proc = None

    def start(self):
        """Start; return seconds to the socket accepting and to a first result."""
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        with open(self.log, "ab") as log:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        conn = self._connect(t0 + 120)
        t_sock = time.monotonic()
        try:
            res = conn.call("run", {"code": "1+1"})
        except (RpcError, OSError) as e:
            raise DaemonError("first request failed: %s%s" % (e, self.log_tail()))
        finally:
            conn.close()
        t_first = time.monotonic()
        if not result_ok(res, "2"):
            raise DaemonError("first request answered %r%s" % (res, self.log_tail()))
        return t_sock - t0, t_first - t0

    def _connect(self, deadline):
        while True:
            if self.proc.poll() is not None:
                raise DaemonError("exited with status %d%s"
                                  % (self.proc.returncode, self.log_tail()))
            try:
                return connect(self.sock)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise DaemonError("socket not ready after 120 s" + self.log_tail())
                time.sleep(0.0005)

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self):
        try:
            with open(self.log, "rb") as f:
                text = f.read().decode(errors="replace")[-TAIL_CHARS:]
        except OSError:
            return ""
        return "\n--- %s (tail) ---\n%s" % (self.log, text) if text.strip() else ""

    def status(self):
        conn = connect(self.sock, timeout=10)
        try:
            return conn.call("status")
        finally:
            conn.close()


def serve_help(exe):
    """`vivarium serve --help`, or None when the build has no daemon."""
    try:
        p = subprocess.run([exe, "serve", "--help"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def start_daemon(args, exe, tmpdir, name, help_text, preload, log):
    """Start the daemon --daemon-starts times (stopping all but the last) and
    return (daemon, {"socket_ms": [...], "first_result_ms": [...]})."""
    sock_ms, first_ms = [], []
    for i in range(args.daemon_starts):
        d = Daemon(exe, tmpdir, name, help_text, args.workers, preload)
        try:
            t_sock, t_first = d.start()
        except BaseException:
            d.stop()
            raise
        sock_ms.append(t_sock * 1e3)
        first_ms.append(t_first * 1e3)
        if i + 1 < args.daemon_starts:
            d.stop()
    log("  %s daemon: socket after %s ms, first result after %s ms (median of %d)"
        % (name, fmt_ms(sorted(sock_ms)[len(sock_ms) // 2]),
           fmt_ms(sorted(first_ms)[len(first_ms) // 2]), len(first_ms)))
    return d, {"socket_ms": sock_ms, "first_result_ms": first_ms,
               "first_result_p50_ms": percentile(sorted(first_ms), 50),
               "argv": d.argv, "notes": d.notes}


# --------------------------------------------------------------------------
# Subjects: things that answer a workload. Ours and the peers alike.


class Subject:
    key = label = ""
    short = ""  # for the ratio lines
    ours = False
    single_batch = False  # expensive to set up: sample it in one batch

    def runs(self, args):
        return args.peer_runs

    def skip_reason(self, wl):
        """None when this subject can run `wl`, else why not."""
        return None

    def sample(self, wl, n):
        raise NotImplementedError

    def tp_spec(self, wl):
        """What a client process loops on for throughput; None: not measured."""
        return None


class DaemonSubject(Subject):
    """`run` (or `ping`) over a persistent connection, concurrency 1."""

    ours = True

    def __init__(self, key, label, short, daemons, method="run", workloads=None):
        self.key, self.label, self.short = key, label, short
        self.daemons, self.method, self.workloads = daemons, method, workloads
        self.conns = {}
        self.server_wall = collections.defaultdict(list)  # the result's wall_ms

    def runs(self, args):
        return args.requests

    def skip_reason(self, wl):
        if self.workloads is not None and wl.key not in self.workloads:
            return "measured on the %s workload only" % "/".join(self.workloads)
        if self.daemons.get(wl.key) is None:
            return "no daemon for this workload"
        return None

    def _params(self, wl):
        return {"code": wl.code} if self.method == "run" else None

    def _expect(self, wl):
        return wl.expect if self.method == "run" else None

    def _conn(self, wl):
        d = self.daemons[wl.key]
        if d.sock not in self.conns:
            self.conns[d.sock] = connect(d.sock)
        return self.conns[d.sock]

    def sample(self, wl, n):
        params, expect = self._params(wl), self._expect(wl)
        out, bad = [], collections.Counter()
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                res = self._conn(wl).call(self.method, params)
            except RpcError as e:
                bad["rpc error %s" % e.code] += 1
                continue
            except OSError as e:  # the daemon went away: count it, go on
                bad["connection: %s" % e] += 1
                conn = self.conns.pop(self.daemons[wl.key].sock, None)
                if conn:
                    conn.close()
                break
            t1 = time.perf_counter()
            if result_ok(res, expect, wl.images if self.method == "run" else None):
                out.append(t1 - t0)
                if isinstance(res.get("wall_ms"), (int, float)):
                    self.server_wall[wl.key].append(res["wall_ms"] / 1e3)
            else:
                bad["status %s" % res.get("status")] += 1
        return out, bad

    def tp_spec(self, wl):
        return {"kind": "rpc", "socket": self.daemons[wl.key].sock, "method": self.method,
                "params": self._params(wl), "expect": self._expect(wl),
                "images": wl.images if self.method == "run" else None}

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


class CommandSubject(Subject):
    """A process per request: the peers, and `vivarium run` (one-shot)."""

    def __init__(self, key, label, short, argv, ours=False, use_code=False, version=None):
        self.key, self.label, self.short, self.ours = key, label, short, ours
        self.argv = argv          # prefix; the code is appended
        self.use_code = use_code  # vivarium run takes `code`, peers `script`
        self.version = version
        self.broken = {}          # workload key -> why it cannot run here

    def command(self, wl):
        return self.argv + [wl.code if self.use_code else wl.script]

    def skip_reason(self, wl):
        return self.broken.get(wl.key)

    def probe(self, wl):
        """Run once; remember why not when it fails. Returns the reason or None."""
        try:
            p = subprocess.run(self.command(wl), stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.broken[wl.key] = str(e)
            return self.broken[wl.key]
        out = p.stdout.decode(errors="replace").strip().splitlines()
        if p.returncode != 0 or not out or out[-1] != wl.expect:
            err = p.stderr.decode(errors="replace").strip().splitlines()
            self.broken[wl.key] = "exit %d: %s" % (p.returncode, (err[-1] if err else "")[-200:])
        return self.broken.get(wl.key)

    def sample(self, wl, n):
        argv, out, bad = self.command(wl), [], collections.Counter()
        for _ in range(n):
            t0 = time.perf_counter()
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            t1 = time.perf_counter()
            lines = p.stdout.decode(errors="replace").strip().splitlines()
            if p.returncode == 0 and lines and lines[-1] == wl.expect:
                out.append(t1 - t0)
            else:
                bad["exit %d" % p.returncode] += 1
        return out, bad

    def tp_spec(self, wl):
        return {"kind": "spawn", "argv": self.command(wl), "expect": wl.expect}


class DefaultSocketSubject(CommandSubject):
    """`vivarium run -c` with no --socket, finding the workload's daemon on the
    default socket ($XDG_RUNTIME_DIR/vivarium.sock: a hard link to the
    daemon's socket in a private directory), trust checks included."""

    def __init__(self, exe, daemons, tmpdir):
        super().__init__("vivarium-run-default", "vivarium run -c (default socket)",
                         "vivarium run (default socket)", [exe, "run", "-c"], ours=True,
                         use_code=True)
        self.exe, self.dirs = exe, {}
        for key, d in daemons.items():
            if d:
                self.dirs[key] = os.path.join(tmpdir, "xdg-" + key.replace("+", "p"))
                os.mkdir(self.dirs[key], 0o700)
                os.link(d.sock, os.path.join(self.dirs[key], "vivarium.sock"))

    def command(self, wl):
        return ["env", "XDG_RUNTIME_DIR=" + self.dirs.get(wl.key, "/nonexistent"),
                self.exe, "run", "-c", wl.code]

    def skip_reason(self, wl):
        if wl.key not in self.dirs:
            return "no daemon for this workload"
        return super().skip_reason(wl)


PYODIDE_COLD_JS = r"""
const path = require("path");
const { loadPyodide } = require(path.join(process.argv[2], "pyodide.js"));
loadPyodide().then((py) => { py.runPython(process.argv[3]); });
"""

PYODIDE_WARM_JS = r"""
const path = require("path");
const { loadPyodide } = require(path.join(process.argv[2], "pyodide.js"));
loadPyodide().then((py) => {
  const code = process.argv[3], n = Number(process.argv[4]);
  for (let i = 0; i < 50; i++) py.runPython(code);
  const out = new Array(n);
  let value;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    value = py.runPython(code);
    out[i] = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  process.stdout.write(JSON.stringify({ value: String(value), samples: out }));
});
"""


class PyodideColdSubject(CommandSubject):
    """A fresh Node process: loadPyodide(), then the script. Seconds each,
    hence few runs and one batch of client processes for throughput."""

    single_batch = True

    def __init__(self, node, pyodide_dir, script_path, version):
        super().__init__("pyodide", "Pyodide %s in Node (cold process)" % version,
                         "pyodide", [node, script_path, pyodide_dir], version=version)

    def runs(self, args):
        return args.pyodide_runs

    def skip_reason(self, wl):
        if wl.needs_numpy:
            return "numpy is not in the npm package; bench never downloads it"
        return super().skip_reason(wl)


class PyodideWarmSubject(Subject):
    """runPython in one Node process: shared globals, no isolation between
    calls, no socket. The in-process floor a sandbox-less user would see."""

    single_batch = True

    def __init__(self, node, pyodide_dir, script_path, version):
        self.key = "pyodide-warm"
        self.label = "Pyodide %s, warm, same process" % version
        self.short = "pyodide warm"
        self.argv = [node, script_path, pyodide_dir]
        self.version = version

    def runs(self, args):
        return args.requests

    def skip_reason(self, wl):
        if wl.needs_numpy:
            return "numpy is not in the npm package; bench never downloads it"
        return None

    def sample(self, wl, n):
        p = subprocess.run(self.argv + [wl.code, str(n)], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=600)
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            return [], collections.Counter({"exit %d" % p.returncode: 1})
        if doc.get("value") != wl.expect:
            return [], collections.Counter({"value %r" % doc.get("value"): 1})
        return doc["samples"], collections.Counter()


# --------------------------------------------------------------------------
# Discovering the peers


BWRAP_ARGS = ["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
              "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
              "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
              "--tmpfs", "/tmp",
              # Debian reaches libblas.so.3 (numpy) through /etc/alternatives.
              "--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]
UNSHARE_ARGS = ["-Urmpf", "--mount-proc", "-n", "-i", "-u"]
FIREJAIL_ARGS = ["--noprofile", "--net=none", "--quiet"]


def tool_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stdout or p.stderr).decode(errors="replace").strip().splitlines()
    return text[0] if text else None


def find_pyodide(tmpdir):
    """(cold, warm) subjects, or a reason to skip Pyodide."""
    node = shutil.which("node")
    pdir = os.path.join(BENCH_DIR, "node_modules", "pyodide")
    if not node:
        return None, "node is not installed"
    if not os.path.exists(os.path.join(pdir, "pyodide.js")):
        return None, ("bench/node_modules/pyodide is absent (install it with "
                      "`npm install --no-save pyodide` in bench/; bench never downloads it)")
    try:
        with open(os.path.join(pdir, "package.json")) as f:
            version = json.load(f).get("version", "?")
    except (OSError, ValueError):
        version = "?"
    cold_js = os.path.join(tmpdir, "pyodide-cold.js")
    warm_js = os.path.join(tmpdir, "pyodide-warm.js")
    for path, text in ((cold_js, PYODIDE_COLD_JS), (warm_js, PYODIDE_WARM_JS)):
        with open(path, "w") as f:
            f.write(text)
    return (PyodideColdSubject(node, pdir, cold_js, version),
            PyodideWarmSubject(node, pdir, warm_js, version)), None


def find_peers(args, tmpdir, log):
    """The peers present on this machine and a {name: reason} of the absent."""
    peers, skipped = [], {}
    want = set(args.peers.split(",")) if args.peers else None

    def offer(key, make, why_absent):
        if want is not None and key not in want:
            skipped[key] = "not selected (--peers)"
        elif why_absent:
            skipped[key] = why_absent
        else:
            peers.append(make())

    py_ok = os.access(PYTHON, os.X_OK)
    offer("python3", lambda: CommandSubject(
        "python3", "python3 -c", "python3", [PYTHON, "-c"], version=platform.python_version()),
        None if py_ok else PYTHON + " is absent")
    for key, tool, extra, label in (
            ("bwrap", "bwrap", BWRAP_ARGS, "bwrap + python3"),
            ("firejail", "firejail", FIREJAIL_ARGS, "firejail + python3"),
            ("unshare", "unshare", UNSHARE_ARGS, "unshare(1) + python3")):
        path = shutil.which(tool)
        offer(key, lambda path=path, extra=extra, label=label, tool=tool: CommandSubject(
            tool, label, tool + "+python3", [path] + extra + [PYTHON, "-c"],
            version=tool_version([path, "--version"])),
            None if path and py_ok else "%s is not installed" % tool)
    if want is None or "pyodide" in want:
        pyo, why = find_pyodide(tmpdir)
        if pyo:
            peers.extend(pyo)
        else:
            skipped["pyodide"] = why
    for s in peers:
        if isinstance(s, CommandSubject):
            for wl in WORKLOADS:
                if s.skip_reason(wl) is None and s.probe(wl):
                    log("  %s cannot run %s: %s" % (s.label, wl.key, s.broken[wl.key]))
    return peers, skipped


# --------------------------------------------------------------------------
# Latency at concurrency 1, interleaved


def measure_latency(wl, anchor, others, args, log):
    """Batches alternate: anchor, other 1, anchor, other 2, ... for
    --rounds rounds, so every subject sees the same drift. The anchor (the
    daemon) is spread over all slots; single-batch subjects run once, in
    the middle round."""
    samples = {s.key: [] for s in [anchor] + others}
    failures = {s.key: collections.Counter() for s in [anchor] + others}
    spent = {s.key: 0.0 for s in others}
    slots = args.rounds * max(1, len(others))
    anchor_batches = iter(distribute(runs_of(anchor, wl, args), slots))
    anchor.sample(wl, args.warmup if isinstance(anchor, DaemonSubject) else 1)
    if isinstance(anchor, DaemonSubject):
        anchor.server_wall[wl.key] = []
    gc.disable()
    try:
        for r in range(args.rounds):
            for o in others or [None]:
                got, bad = anchor.sample(wl, next(anchor_batches))
                samples[anchor.key] += got
                failures[anchor.key] += bad
                if o is None:
                    continue
                n = other_batch(o, r, args, len(samples[o.key]), spent[o.key], wl)
                if n:
                    t0 = time.monotonic()
                    got, bad = o.sample(wl, n)
                    spent[o.key] += time.monotonic() - t0
                    samples[o.key] += got
                    failures[o.key] += bad
            log("  latency %s: round %d/%d" % (wl.key, r + 1, args.rounds))
    finally:
        gc.enable()
    out = {key: {"stats": summarize(xs), "failures": dict(failures[key])}
           for key, xs in samples.items()}
    if isinstance(anchor, DaemonSubject):
        # The worker's own wall_ms: the rest is dispatch, IPC and the client.
        out[anchor.key]["worker_wall"] = summarize(anchor.server_wall[wl.key])
    return out


def runs_of(subject, wl, args):
    n = subject.runs(args)
    return min(n, wl.max_runs) if wl.max_runs else n


def other_batch(o, r, args, have, spent, wl):
    if o.single_batch:
        return runs_of(o, wl, args) if r == args.rounds // 2 else 0
    if spent > args.budget and have >= 3:
        return 0
    return distribute(runs_of(o, wl, args), args.rounds)[r]


# --------------------------------------------------------------------------
# Throughput at concurrency 8, interleaved


class ThroughputAcc:
    def __init__(self):
        self.slices = []

    def add(self, duration, results, busy_cores):
        rate = sum(r["count"] / r["elapsed"] for r in results if r["elapsed"])
        wall = max(r["wall"] for r in results)
        errors = collections.Counter()
        for r in results:
            errors.update(r["errors"])
        self.slices.append({
            "duration": duration, "rate": rate, "wall": wall,
            "count": sum(r["count"] for r in results), "errors": errors,
            "client_cpu": sum(r["client_cpu"] for r in results),
            "child_cpu": sum(r["child_cpu"] for r in results),
            "busy_cores": busy_cores,
            "lat": [x for r in results for x in r["lat"]],
        })

    def summary(self):
        if not self.slices:
            return None
        dur = sum(s["duration"] for s in self.slices)
        wall = sum(s["wall"] for s in self.slices)
        errors = collections.Counter()
        for s in self.slices:
            errors.update(s["errors"])
        return {
            "rps": sum(s["rate"] * s["duration"] for s in self.slices) / dur,
            "completed": sum(s["count"] for s in self.slices),
            "seconds": dur, "slices": len(self.slices),
            "errors": dict(errors),
            "client_cpu_cores": sum(s["client_cpu"] for s in self.slices) / wall,
            # CPU of the children the client reaped: incomplete for tools whose
            # sandboxed process is reaped inside its pid namespace (bwrap).
            "reaped_children_cpu_cores": sum(s["child_cpu"] for s in self.slices) / wall,
            "machine_busy_cores": sum(s["busy_cores"] * s["wall"] for s in self.slices) / wall,
            "latency_under_load": summarize([x for s in self.slices for x in s["lat"]]),
        }


def run_slice(pool, subject, wl, duration, acc):
    spec = subject.tp_spec(wl)
    b0, t0 = cpu_jiffies()
    results = pool.run(spec, duration)
    b1, t1 = cpu_jiffies()
    busy = (b1 - b0) / (t1 - t0) * os.cpu_count() if t1 > t0 else 0.0
    acc.add(duration, results, busy)


def measure_throughput(wl, anchor, others, pool, args, log):
    """Fixed-time slices alternating like the latency batches: each subject
    gets --duration seconds in all, the anchor's spread between the others'.
    The rate of a client process is its completions over the time to its
    last completion, which stays unbiased when one request takes seconds."""
    others = [o for o in others if o.tp_spec(wl) is not None]
    accs = {s.key: ThroughputAcc() for s in [anchor] + others}
    rounds = args.tp_rounds
    anchor_slice = args.duration / (rounds * max(1, len(others)))
    for r in range(rounds):
        for o in others or [None]:
            run_slice(pool, anchor, wl, anchor_slice, accs[anchor.key])
            if o is None:
                continue
            if not o.single_batch:
                run_slice(pool, o, wl, args.duration / rounds, accs[o.key])
            elif r == rounds // 2:
                run_slice(pool, o, wl, args.duration, accs[o.key])
        log("  throughput %s: round %d/%d" % (wl.key, r + 1, rounds))
    return {key: acc.summary() for key, acc in accs.items()}


# --------------------------------------------------------------------------
# Memory: the daemon's process tree from /proc


def proc_table():
    """{pid: (ppid, comm)} for every process we can see."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(name)] = (ppid, comm)
    return table


def descendants(table, root):
    children = collections.defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for c in children.get(pid, ()):
            out.append(c)
            todo.append(c)
    return out, children


def smaps_kb(pid):
    """Rss, Pss, Private (clean + dirty) in KiB, or None if unreadable."""
    fields = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return None
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def wait_idle(daemon, timeout=5.0):
    """Until no worker is busy and the idle count is steady (or timeout)."""
    deadline, prev = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            st = daemon.status()
        except (RpcError, OSError):
            time.sleep(0.5)
            return None
        cur = (st.get("busy_workers"), st.get("idle_workers"))
        if cur[0] == 0 and cur == prev:
            return st
        prev = cur
        time.sleep(0.2)
    return None


def measure_memory(daemon):
    """Zygote RSS and the private memory of each idle warm worker. The
    zygote is the jail's PID 1; its children are the workers and the init of
    each worker's pid namespace (vivarium-init), which shares the zygote's
    memory: counting it would count the zygote again."""
    status = wait_idle(daemon)
    table = proc_table()
    tree, children = descendants(table, daemon.proc.pid)
    zygotes = [p for p in tree if table[p][1] == "vivarium-zygote"
               and table.get(table[p][0], (0, ""))[1] != "vivarium-zygote"]
    out = {"daemon": smaps_kb(daemon.proc.pid), "processes": [], "zygotes": []}
    tree = [p for p in tree if table[p][1] != "vivarium-init"]
    for pid in tree:
        out["processes"].append({"pid": pid, "ppid": table[pid][0], "comm": table[pid][1],
                                 "mem_kb": smaps_kb(pid)})
    for z in zygotes:
        workers = [smaps_kb(w) for w in children.get(z, ()) if table[w][1] != "vivarium-init"]
        workers = [w for w in workers if w]
        priv = sorted(w["private"] for w in workers)
        out["zygotes"].append({
            "pid": z, "mem_kb": smaps_kb(z), "workers": len(workers),
            "worker_private_kb": priv,
            "worker_private_p50_kb": percentile(priv, 50) if priv else None,
            "worker_pss_kb": sorted(w["pss"] for w in workers),
            "worker_rss_kb": sorted(w["rss"] for w in workers),
        })
    out["tree_pss_kb"] = sum((p["mem_kb"] or {}).get("pss", 0) for p in out["processes"]) \
        + ((out["daemon"] or {}).get("pss", 0))
    out["status_idle_workers"] = (status or {}).get("idle_workers")
    return out


# --------------------------------------------------------------------------
# Floors and probes


def socket_floor(n=2000):
    """Round trip of 100 bytes over a unix socketpair to a forked echo."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        try:
            while True:
                data = b.recv(4096)
                if not data:
                    break
                b.sendall(data)
        finally:
            os._exit(0)
    b.close()
    msg, out = b"x" * 100, []
    for _ in range(n + 100):
        t0 = time.perf_counter()
        a.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(a.recv(4096))
        out.append(time.perf_counter() - t0)
    a.close()
    os.waitpid(pid, 0)
    return summarize(out[100:])


FORK_FLOOR_PY = r"""
import os, sys, time, json
import numpy
out = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def fork_floor(n=200):
    """fork + exit + wait of a process with numpy imported."""
    try:
        p = subprocess.run([PYTHON, "-c", FORK_FLOOR_PY, str(n)], capture_output=True,
                           timeout=120)
        return summarize(json.loads(p.stdout))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def probe_session(daemon):
    """Sessions (stateful workers): measured once the daemon has them."""
    conn = connect(daemon.sock, timeout=30)
    try:
        conn.call("run", {"code": "x = 1", "session": "bench-probe"})
    except RpcError as e:
        return "not available in this daemon (%s)" % e
    finally:
        conn.close()
    return None


# --------------------------------------------------------------------------
# Machine information


def machine_info(exe):
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    uname = os.uname()
    return {
        "nproc": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": "%s %s" % (uname.sysname, uname.release),
        "kernel_version": uname.version,
        "machine": uname.machine,
        "mem_total_kb": mem_kb,
        "loadavg_at_start": os.getloadavg(),
        "python": "%s %s" % (sys.executable, platform.python_version()),
        "vivarium": tool_version([exe, "--version"]),
        "uid": os.getuid(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------
# Report


def ratios(lat, tp, anchor_key, cold_key, ours, extra=None):
    """Lines 'peer p50 / vivarium p50 = Nx' (>1: vivarium faster) and
    'vivarium req/s / peer req/s = Nx'; latency against `extra` (the MCP
    face) too."""
    out = []
    for wl_key, subjects in lat.items():
        base = (subjects.get(anchor_key) or {}).get("stats")
        cold = (subjects.get(cold_key) or {}).get("stats")
        more = (subjects.get(extra) or {}).get("stats") if extra else None
        for key, r in subjects.items():
            s = r["stats"]
            if key in ours or not s:
                continue
            if more and key != "pyodide-warm":
                out.append({"workload": wl_key, "what": "latency p50", "peer": key,
                            "against": extra, "ratio": s["p50"] / more["p50"]})
            if base:
                out.append({"workload": wl_key, "what": "latency p50", "peer": key,
                            "against": anchor_key, "ratio": s["p50"] / base["p50"]})
            if cold and key != "pyodide-warm":
                out.append({"workload": wl_key, "what": "latency p50", "peer": key,
                            "against": cold_key, "ratio": s["p50"] / cold["p50"]})
    for wl_key, subjects in tp.items():
        base = subjects.get(anchor_key)
        for key, r in subjects.items():
            if key in ours or not r or not base:
                continue
            out.append({"workload": wl_key, "what": "throughput", "peer": key,
                        "against": anchor_key,
                        "ratio": base["rps"] / r["rps"] if r["rps"] else None})
    return out


def print_report(doc, labels):
    p = print
    m, cfg = doc["machine"], doc["config"]
    p()
    p("vivarium bench — %s CPUs (%s), %s; %s" % (m["nproc"], m["cpu_model"], m["kernel"],
                                                "quick" if cfg["quick"] else "full run"))
    p("command: %s" % doc["command"])
    p("client: %s; load average at start %s, at end %s" % (
        doc["client"], " ".join("%.2f" % x for x in m["loadavg_at_start"]),
        " ".join("%.2f" % x for x in doc["loadavg_at_end"])))
    p()
    p("Latency at concurrency 1 (ms)")
    p("  %-44s %6s %8s %8s %8s %8s" % ("", "n", "p50", "p90", "p99", "max"))
    for wl_key, subjects in doc["latency"].items():
        p("  %s" % wl_key)
        for key, r in subjects.items():
            s = r["stats"]
            fail = " (%s)" % ", ".join("%s x%d" % kv for kv in r["failures"].items()) \
                if r["failures"] else ""
            if not s:
                p("    %-42s %6s%s" % (labels[key], "-", fail))
                continue
            p("    %-42s %6d %8s %8s %8s %8s%s" % (labels[key], s["n"], fmt_ms(s["p50"]),
                                                  fmt_ms(s["p90"]), fmt_ms(s["p99"]),
                                                  fmt_ms(s["max"]), fail))
            w = r.get("worker_wall")
            if w:
                p("      %-40s %6d %8s %8s %8s %8s" % ("of which wall_ms in the worker", w["n"],
                                                    fmt_ms(w["p50"]), fmt_ms(w["p90"]),
                                                    fmt_ms(w["p99"]), fmt_ms(w["max"])))
    p()
    p("Throughput at concurrency %d, %g s each (requests/s; p50 under load; CPU in cores "
      "used by the client processes and by the whole machine)" % (cfg["concurrency"], cfg["duration"]))
    p("  %-44s %8s %9s %8s %8s" % ("", "req/s", "p50 ms", "client", "machine"))
    for wl_key, subjects in doc["throughput"].items():
        p("  %s" % wl_key)
        for key, r in subjects.items():
            if not r:
                continue
            lu = r["latency_under_load"]
            err = " (errors: %s)" % ", ".join("%s x%d" % kv for kv in r["errors"].items()) \
                if r["errors"] else ""
            p("    %-42s %8s %9s %8.2f %8.2f%s" % (
                labels[key], fmt_rate(r["rps"]), fmt_ms(lu["p50"] if lu else None),
                r["client_cpu_cores"], r["machine_busy_cores"], err))
    p()
    p("Cold start")
    for name, d in doc["daemon_start"].items():
        if d.get("first_result_p50_ms") is not None:
            p("  daemon start to first result (%s): p50 %s ms over %d starts"
              % (name, fmt_ms(d["first_result_p50_ms"]), len(d["first_result_ms"])))
        else:
            p("  daemon (%s): %s" % (name, d.get("error", "not started")))
    for wl_key, subjects in doc["latency"].items():
        s = (subjects.get("vivarium-run") or {}).get("stats")
        if s:
            p("  vivarium run (%s), process start to result: p50 %s ms over %d runs"
              % (wl_key, fmt_ms(s["p50"]), s["n"]))
    for key, what in (("mcp_cold_start", "vivarium mcp"),
                      ("mcp_cold_start_lazy", "vivarium mcp --preload ''")):
        s = doc.get(key)
        if s:
            p("  %s, process start to first execute_python result (1+1): p50 %s ms over %d starts"
              % (what, fmt_ms(s["p50"]), s["n"]))
    p()
    p("Memory (idle; KiB = 1024 bytes)")
    for name, mem in doc["memory"].items():
        if "error" in mem:
            p("  %s: %s" % (name, mem["error"]))
            continue
        for z in mem["zygotes"]:
            zm = z["mem_kb"] or {}
            pw = z["worker_private_kb"]
            p("  %s: zygote RSS %.1f MiB (PSS %.1f MiB); %d idle workers, private %s"
              % (name, zm.get("rss", 0) / 1024, zm.get("pss", 0) / 1024, z["workers"],
                 ("p50 %.0f KiB (min %d, max %d)" % (z["worker_private_p50_kb"], pw[0], pw[-1]))
                 if pw else "-"))
        if not mem["zygotes"]:
            p("  %s: no vivarium-zygote among the daemon's %d descendants"
              % (name, len(mem["processes"])))
        if mem["daemon"]:
            p("  %s: daemon RSS %.1f MiB; whole tree PSS %.1f MiB"
              % (name, mem["daemon"]["rss"] / 1024, mem["tree_pss_kb"] / 1024))
    p()
    p("Floors")
    for name, s in doc["floors"].items():
        if s:
            p("  %-44s p50 %s ms" % (name, fmt_ms(s["p50"])))
    p()
    p("Ratios (>1x: vivarium is faster; against = which vivarium figure)")
    for r in doc["ratios"]:
        if r["what"] == "throughput":
            p("  %-6s vivarium req/s / %s req/s = %s" % (
                r["workload"], labels[r["peer"] + ":short"], fmt_ratio(r["ratio"])))
        else:
            p("  %-6s %s p50 / %s p50 = %s" % (
                r["workload"], labels[r["peer"] + ":short"], labels[r["against"] + ":short"],
                fmt_ratio(r["ratio"])))
    if doc["skipped"]:
        p()
        p("Skipped")
        for k, why in doc["skipped"].items():
            p("  %s: %s" % (k, why))
    p()


# --------------------------------------------------------------------------
# Main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=SRC_DIR, help="where the built vivarium is")
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
                    help="small counts and short windows (also BENCH_QUICK=1)")
    ap.add_argument("--requests", type=int, help="daemon requests at concurrency 1 "
                    "(default 2000, quick 200)")
    ap.add_argument("--peer-runs", type=int, help="runs of each process-per-request "
                    "subject (default 100, quick 20)")
    ap.add_argument("--pyodide-runs", type=int, help="cold Pyodide runs (default 10, quick 3)")
    ap.add_argument("--duration", type=float, help="seconds of throughput per subject "
                    "and workload (default 10, quick 2)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, help="latency interleaving rounds (default 10, quick 4)")
    ap.add_argument("--tp-rounds", type=int, help="throughput interleaving rounds "
                    "(default 2, quick 1)")
    ap.add_argument("--daemon-starts", type=int, help="daemon start-to-first-result "
                    "repetitions (default 5, quick 2)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of latency "
                    "sampling per peer and workload before it is cut short (default 60, quick 15)")
    ap.add_argument("--workers", type=int, default=None,
                    help="warm idle workers, passed to `vivarium serve --workers` "
                    "(default: --concurrency; -1: the daemon's own default)")
    ap.add_argument("--client", choices=("example", "own"), default="example",
                    help="examples/python/vivarium_client.py (default, when it imports) "
                    "or bench's own minimal framing")
    ap.add_argument("--peers", help="comma-separated subset: python3,bwrap,firejail,"
                    "unshare,pyodide (default: all present)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--output", default=os.path.join(BENCH_DIR, "results", "latest.json"))
    args = ap.parse_args(argv)
    q = args.quick
    defaults = {"requests": (2000, 200), "peer_runs": (100, 20), "pyodide_runs": (10, 3),
                "duration": (10.0, 2.0), "rounds": (10, 4), "tp_rounds": (2, 1),
                "daemon_starts": (5, 2), "budget": (60.0, 15.0)}
    for k, (full, quick) in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, quick if q else full)
    args.warmup = 20 if q else 100
    if args.workers is None:
        args.workers = args.concurrency
    elif args.workers < 0:
        args.workers = None
    if args.no_peers:
        args.peers = "none"
    return args


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def module_present(name, _known={}):
    if name not in _known:
        _known[name] = subprocess.run([PYTHON, "-c", "import " + name],
                                      capture_output=True).returncode == 0
    return _known[name]


def numpy_present():
    return module_present("numpy")


def workload_runs(wl):
    return all(module_present(m) for m in wl.needs)


def start_daemons(args, exe, tmpdir, doc):
    """The default daemon (which preloads the data stack that is installed),
    and with numpy installed one with numpy preloaded, and with matplotlib
    one with the default preload turned off (--preload ''), for the plot.
    Returns {workload key: Daemon or None}; "plot-lazy" is the last one."""
    daemons = {wl.key: None for wl in WORKLOADS}
    daemons["plot-lazy"] = None
    help_text = serve_help(exe)
    if help_text is None:
        doc["skipped"]["vivarium serve"] = "`vivarium serve --help` fails: no daemon in this build"
        log("  no daemon: `%s serve --help` fails" % exe)
        return daemons
    wanted = [("default", None, "1+1")]
    if numpy_present():
        wanted.append(("numpy", "numpy", "numpy"))
    else:
        doc["skipped"]["numpy daemon"] = "numpy is not installed for " + PYTHON
    plot = next(wl for wl in WORKLOADS if wl.key == "plot")
    if workload_runs(plot):
        wanted.append(("lazy", "", "plot-lazy"))
    else:
        doc["skipped"]["plot workload"] = "numpy or matplotlib is not installed for " + PYTHON
    for name, preload, wl_key in wanted:
        try:
            d, timing = start_daemon(args, exe, tmpdir, name, help_text, preload, log)
        except DaemonError as e:
            doc["daemon_start"][name] = {"error": str(e)}
            log("  %s daemon failed: %s" % (name, e))
            continue
        doc["daemon_start"][name] = timing
        daemons[wl_key] = d
    daemons["plot"] = daemons["1+1"]
    return daemons


def run_bench(args, exe, tmpdir, pool, doc):
    log("peers:")
    peers, doc["skipped"] = ([], {"peers": "--no-peers"}) if args.peers == "none" \
        else find_peers(args, tmpdir, log)
    for p in peers:
        log("  %s%s" % (p.label, " (%s)" % p.version if getattr(p, "version", None) else ""))
    log("daemons:")
    daemons = start_daemons(args, exe, tmpdir, doc)
    anchor = DaemonSubject("vivarium", "vivarium serve, run (warm worker)", "vivarium",
                           daemons)
    ping = DaemonSubject("vivarium-ping", "vivarium serve, ping (no worker)", "vivarium ping",
                         daemons, "ping", workloads=("1+1",))
    # --no-daemon: a daemon on the default socket must not stand in for the one-shot path.
    oneshot = CommandSubject("vivarium-run", "vivarium run -c (one-shot)", "vivarium run",
                             [exe, "run", "--no-daemon", "-c"], ours=True, use_code=True)
    found = DefaultSocketSubject(exe, daemons, tmpdir)
    for wl in WORKLOADS:
        for o in (oneshot, found):
            if not o.skip_reason(wl) and o.probe(wl):
                log("  %s cannot run %s: %s" % (o.short, wl.key, o.broken[wl.key]))
    lazy = DaemonSubject("vivarium-lazy", "vivarium serve --preload '', run",
                         "vivarium --preload ''", {"plot": daemons["plot-lazy"]},
                         workloads=("plot",))
    # The MCP face as the README configures it (no options: the data stack
    # preloaded), with numpy named for the numpy workload like its daemon;
    # and with the default preload off, for the plot.
    mcp = mcp_subject.make_subject(Subject, exe, lambda wl: "numpy" if wl.key == "numpy" else None,
                                   args.workers or 2)
    mcp_lazy = mcp_subject.make_subject(Subject, exe, lambda wl: "", args.workers or 2,
                                        key="vivarium-mcp-lazy", workloads=("plot",))
    subjects = [anchor, ping, lazy, oneshot, found, mcp, mcp_lazy] + peers
    labels = {s.key: s.label for s in subjects}
    labels.update({s.key + ":short": s.short for s in subjects})
    doc["subjects"] = {s.key: {"label": s.label, "short": s.short, "ours": s.ours,
                               "version": getattr(s, "version", None),
                               "argv": getattr(s, "argv", None)} for s in subjects}
    try:
        for wl in WORKLOADS:
            if not workload_runs(wl):
                continue
            measure_workload(wl, anchor, [ping, lazy, oneshot, found, mcp, mcp_lazy] + peers, pool,
                             args, doc)
        for name, d in (("default", daemons["1+1"]), ("numpy", daemons["numpy"]),
                        ("lazy", daemons["plot-lazy"])):
            if d:
                doc["memory"][name] = measure_memory_safe(d)
                doc["status"][name] = status_safe(d)
        if daemons["1+1"]:
            why = probe_session(daemons["1+1"])
            if why:
                doc["skipped"]["session call"] = why
    finally:
        anchor.close()
        ping.close()
        lazy.close()
        mcp.close()
        mcp_lazy.close()
        for d in daemons.values():
            if d:
                d.stop()
    log("MCP face: cold start")
    for key, preload, what in (("mcp_cold_start", None, "`vivarium mcp`"),
                               ("mcp_cold_start_lazy", "", "`vivarium mcp --preload ''`")):
        cold = mcp_subject.cold_start(exe, preload=preload)
        doc[key] = summarize(cold) if cold else None
        if cold:
            log("  %s start to first execute_python result: p50 %s" % (what, fmt_ms(doc[key]["p50"])))
    return labels, daemons


def measure_workload(wl, anchor, others, pool, args, doc):
    runnable = []
    for o in others:
        why = o.skip_reason(wl)
        if why:
            doc["skipped"]["%s (%s)" % (o.key, wl.key)] = why
        else:
            runnable.append(o)
    if anchor.skip_reason(wl):
        # No daemon: still measure the rest, anchored on the first of them.
        if not runnable:
            return
        anchor, runnable = runnable[0], runnable[1:]
    log("%s: latency" % wl.key)
    doc["latency"][wl.key] = measure_latency(wl, anchor, runnable, args, log)
    log("%s: throughput" % wl.key)
    doc["throughput"][wl.key] = measure_throughput(wl, anchor, runnable, pool, args, log)


def measure_memory_safe(d):
    try:
        return measure_memory(d)
    except (OSError, ValueError, RpcError) as e:
        return {"error": str(e)}


def status_safe(d):
    try:
        return d.status()
    except (OSError, RpcError) as e:
        return {"error": str(e)}


def main(argv):
    args = parse_args(argv)
    exe = os.path.join(os.path.abspath(args.builddir), "vivarium")
    if not os.access(exe, os.X_OK):
        log("bench: %s not found; build first (make)" % exe)
        return 2
    if msgpack is None:
        log("bench: %s has no msgpack module (apt-get install python3-msgpack)" % sys.executable)
        return 2
    global connect
    client = "bench's own framing"
    if args.client == "example":
        if load_example_client():
            connect = ExampleConnection
            client = "examples/python/vivarium_client.py"
        else:
            log("bench: examples/python/vivarium_client.py does not import; using own framing")
    pool = ClientPool(args.concurrency)  # forked before anything else exists
    tmpdir = tempfile.mkdtemp(prefix="vivarium-bench-")
    doc = {"version": 1, "command": shlex.join([sys.executable] + sys.argv),
           "cwd": os.getcwd(), "machine": machine_info(exe), "client": client,
           "config": {k: v for k, v in vars(args).items()},
           "subjects": {}, "skipped": {}, "daemon_start": {}, "latency": {},
           "throughput": {}, "memory": {}, "status": {}, "floors": {}}
    try:
        log("floors")
        doc["floors"]["unix socket round trip, 100 bytes"] = socket_floor()
        if numpy_present():
            doc["floors"]["fork + exit + wait, numpy imported"] = fork_floor()
        labels, daemons = run_bench(args, exe, tmpdir, pool, doc)
    finally:
        pool.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    doc["loadavg_at_end"] = os.getloadavg()
    ours = {k for k, v in doc["subjects"].items() if v["ours"]}
    doc["ratios"] = ratios(doc["latency"], doc["throughput"], "vivarium", "vivarium-run", ours,
                           extra="vivarium-mcp")
    print_report(doc, labels)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    log("wrote %s" % args.output)
    measured = any(k in subjects and subjects[k]["stats"]
                   for subjects in doc["latency"].values()
                   for k in ("vivarium", "vivarium-run"))
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
