# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vivarium mcp` on raw JSON lines (vivarium-mcp(1), docs/MCP-NOTES.md):
what the test modules share.

The tests are in two families, each a module beside this one:
test_mcp_protocol.py (stdout hygiene, the handshake of each revision, the
stateless era, malformed input and batches) and test_mcp_execute.py
(execute_python's results, progress, cancellation, concurrency, --config,
EOF and signals). This module holds what both use: the constants of the
protocol, the check of every line on the wire (``wire_problems``), the
server under test (``Server``), a small JSON Schema check
(``schema_problems``), the process-table helpers, the base class of the
tests (``Base``) and the TAP runner (``TapResult``, ``tap_main``). It has no
test of its own, and its name does not match ``test*.py``.

Every test starts its own server (``$VIVARIUM mcp --workers 4``) with pipes,
writes lines to its standard input and reads lines from its standard output
with a timeout. Every line the server writes is checked on arrival: strict
UTF-8, one JSON object (an array only as the reply to a batch), JSON-RPC 2.0
with nothing the official clients reject (no ``"id": null``, no unknown
top-level member, no request from the server). A test fails if any line broke
these rules, whatever it was looking at.

The test modules are run by tests/mcp/raw.sh, which passes VIVARIUM (the test
install's binary) and VIVARIUM_TAP=1; with VIVARIUM_TEST_SOCKET=PATH as well,
the servers are ``vivarium mcp --socket PATH`` and the tests of their own pool
are skipped. By hand, with Debian's interpreter (standard library only), from
the top of the source tree::

    VIVARIUM=/path/to/vivarium /usr/bin/python3 -m unittest -v \\
        tests/mcp/test_mcp_protocol.py tests/mcp/test_mcp_execute.py

With VIVARIUM_TAP=1 and run as a script, a test module prints its results as
TAP; test names of that module (``Execute.test_value``) may be given as
arguments.
"""

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

VIVARIUM = os.environ.get("VIVARIUM") or "vivarium"
# With VIVARIUM_TEST_SOCKET, the servers forward to the daemon on that socket
# (`vivarium mcp --socket`) instead of running a pool of their own; the tests
# of the pool's own processes and configuration are skipped.
SOCKET = os.environ.get("VIVARIUM_TEST_SOCKET")
# Without the data stack the default would preload: these tests time calls
# (timeouts, progress) from a server's start, and a zygote importing numpy,
# pandas and matplotlib takes seconds on a loaded machine. The default
# preload has tests of its own (test_mcp_execute.Preload).
MCP_ARGS = ["--socket", SOCKET] if SOCKET else ["--workers", "4", "--preload", ""]

HANDSHAKE_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
LATEST_HANDSHAKE = "2025-11-25"
STATELESS = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": STATELESS,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "mcp_wire.py", "version": "1.0"},
}
SERVER_INFO = "io.modelcontextprotocol/serverInfo"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSUPPORTED_VERSION = -32022

TOOLS = ["execute_python", "health_check"]
OUTPUT_REQUIRED = ["status", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "value",
                   "exception", "images", "images_omitted", "wall_ms", "cpu_ms", "max_rss_kb"]
LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
SERVER_NOTIFICATIONS = {"notifications/progress", "notifications/message"}

# Prints "started" (output triggers a progress notification, which says it
# runs, when it comes 250 ms after the start), then waits.
STARTED_SLEEP = 'import time\ntime.sleep(0.3)\nprint("started", flush=True)\ntime.sleep(60)'


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# ====================================================================== the wire

def wire_problems(msg, arrays_ok):
    """What is wrong with one message the server wrote (an empty list if
    nothing)."""
    if isinstance(msg, list):
        if not arrays_ok:
            return ["a JSON array outside a batch reply"]
        if not msg:
            return ["an empty array"]
        out = []
        for m in msg:
            out += wire_problems(m, False)
        return out
    if not isinstance(msg, dict):
        return [f"not a JSON object: {type(msg).__name__}"]
    p = []
    if msg.get("jsonrpc") != "2.0":
        p.append('jsonrpc is not "2.0"')
    if "method" in msg:
        if "id" in msg:
            p.append("the server sent a request (a method with an id)")
        if msg["method"] not in SERVER_NOTIFICATIONS:
            p.append(f"unexpected notification {msg['method']!r}")
        if set(msg) - {"jsonrpc", "method", "params"}:
            p.append(f"unknown members {sorted(set(msg) - {'jsonrpc', 'method', 'params'})}")
        if "params" in msg and not isinstance(msg["params"], dict):
            p.append("params is not an object")
        return p
    if set(msg) - {"jsonrpc", "id", "result", "error"}:
        p.append(f"unknown members {sorted(set(msg) - {'jsonrpc', 'id', 'result', 'error'})}")
    if ("result" in msg) == ("error" in msg):
        p.append("not exactly one of result and error")
    if "id" in msg:
        if msg["id"] is None:
            p.append('"id": null (the official clients reject it; omit the member)')
        elif not (is_int(msg["id"]) or isinstance(msg["id"], str)):
            p.append(f"id of type {type(msg['id']).__name__}")
    elif "result" in msg:
        p.append("a result without an id")
    if "result" in msg and not isinstance(msg["result"], dict):
        p.append("result is not an object")
    if "error" in msg:
        e = msg["error"]
        if not isinstance(e, dict) or not is_int(e.get("code")) or not isinstance(e.get("message"), str):
            p.append("error is not {code: integer, message: string, ...}")
        elif set(e) - {"code", "message", "data"}:
            p.append(f"unknown members of error {sorted(set(e) - {'code', 'message', 'data'})}")
    return p


class ServerGone(AssertionError):
    pass


class Server:
    """`vivarium mcp` as a subprocess with non-blocking pipes."""

    def __init__(self, args=MCP_ARGS):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([VIVARIUM, "mcp", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err)
        self.in_fd = self.proc.stdin.fileno()
        self.out_fd = self.proc.stdout.fileno()
        os.set_blocking(self.in_fd, False)
        os.set_blocking(self.out_fd, False)
        self.sel = selectors.DefaultSelector()
        self.buf = bytearray()
        self.raw = 0            # bytes read from stdout
        self.pending = []       # messages read and not yet taken
        self.log = []           # (monotonic time, message) of every message
        self.bad = []           # lines that broke the rules of the wire
        self.eof = False
        self.arrays_ok = False  # a batch was sent: an array may come back
        self.next_id = 1000
        self.closed_stdin = False

    # ------------------------------------------------------------ pipes

    def _line(self, line):
        try:
            text = bytes(line).decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            self.bad.append(f"not UTF-8 ({e}): {bytes(line)[:200]!r}")
            return
        if "\r" in text:
            self.bad.append(f"a carriage return in a line: {text[:200]!r}")
        try:
            msg = json.loads(text)
        except ValueError as e:
            self.bad.append(f"not one JSON value ({e}): {text[:200]!r}")
            return
        for p in wire_problems(msg, self.arrays_ok):
            self.bad.append(f"{p}: {text[:300]}")
        self.pending.append(msg)
        self.log.append((time.monotonic(), msg))

    def _read(self):
        try:
            chunk = os.read(self.out_fd, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            self.eof = True
            if self.buf:
                self.bad.append(f"output ends without a newline: {bytes(self.buf)[:200]!r}")
            return
        self.raw += len(chunk)
        self.buf += chunk
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            line = self.buf[:i]
            del self.buf[:i + 1]
            self._line(line)

    def _pump(self, deadline, data=b"", stop=None):
        """Read the server's output, writing `data` meanwhile, until `stop()`
        holds with everything written (True) or the deadline (False)."""
        view = memoryview(data)
        while True:
            if not view and stop is not None and stop():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                if view:
                    raise ServerGone(f"could not write {len(view)} bytes in time{self.stderr_tail()}")
                return False
            if self.eof and not view:
                time.sleep(min(left, 0.05))
                continue
            events = 0
            if not self.eof:
                self.sel.register(self.out_fd, selectors.EVENT_READ)
                events += 1
            if view:
                self.sel.register(self.in_fd, selectors.EVENT_WRITE)
                events += 1
            try:
                ready = self.sel.select(min(left, 0.25)) if events else []
            finally:
                for fd in (self.out_fd, self.in_fd):
                    try:
                        self.sel.unregister(fd)
                    except KeyError:
                        pass
            for key, ev in ready:
                if key.fd == self.out_fd:
                    self._read()
                elif view:
                    try:
                        n = os.write(self.in_fd, view[:1 << 20])
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, OSError) as e:
                        raise ServerGone(f"writing to the server: {e}{self.stderr_tail()}")
                    view = view[n:]
            if view and self.eof:
                raise ServerGone(f"the server closed its output with input unwritten{self.stderr_tail()}")

    def send_raw(self, data, timeout=60):
        self._pump(time.monotonic() + timeout, data, stop=lambda: True)

    def send(self, obj):
        self.send_raw(dumps(obj) + b"\n")

    def take(self, pred, timeout=10):
        """The first message (pending or to come) for which pred holds,
        removed from the pending ones; None at the timeout."""
        def found():
            return any(pred(m) for m in self.pending)
        self._pump(time.monotonic() + timeout, stop=found)
        for i, m in enumerate(self.pending):
            if pred(m):
                return self.pending.pop(i)
        return None

    def quiet(self, timeout, pred=lambda m: True):
        """Read for `timeout` seconds; the pending messages for which pred
        holds (left pending)."""
        self._pump(time.monotonic() + timeout)
        return [m for m in self.pending if pred(m)]

    def response(self, id, timeout=30):
        """The response (result or error) with that id."""
        msg = self.take(lambda m: is_response(m, id), timeout)
        if msg is None:
            raise AssertionError(f"no response for id {id!r} within {timeout} s"
                                 f" (pending: {self.pending!r:.400}){self.stderr_tail()}")
        return msg

    def idless_error(self, timeout=10):
        """The next error response without an id member."""
        msg = self.take(lambda m: isinstance(m, dict) and "error" in m and "id" not in m, timeout)
        if msg is None:
            raise AssertionError(f"no error response without an id within {timeout} s"
                                 f" (pending: {self.pending!r:.400}){self.stderr_tail()}")
        return msg

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def request(self, method, params=None, id=None, meta=None, timeout=30):
        """Send a request (with the stateless envelope `meta` merged into
        params._meta, if given) and return its response."""
        if id is None:
            id = self.new_id()
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None or meta is not None:
            msg["params"] = dict(params or {})
            if meta is not None:
                msg["params"]["_meta"] = {**msg["params"].get("_meta", {}), **meta}
        self.send(msg)
        return self.response(id, timeout)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def initialize(self, version=LATEST_HANDSHAKE, id=None):
        r = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                        "clientInfo": {"name": "mcp_wire.py", "version": "1.0"}}, id=id)
        self.notify("notifications/initialized")
        return r

    def call(self, name, arguments=None, id=None, meta=None, timeout=60):
        params = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        return self.request("tools/call", params, id=id, meta=meta, timeout=timeout)

    # ------------------------------------------------------------ process

    def close_stdin(self):
        if not self.closed_stdin:
            self.closed_stdin = True
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait_exit(self, timeout):
        """Read until the process exits (its output is still checked);
        returns (status, seconds) or (None, seconds) if it did not exit."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._pump(time.monotonic() + 1, stop=lambda: self.eof)
                return self.proc.returncode, time.monotonic() - t0
            self._pump(min(deadline, time.monotonic() + 0.05))
        return None, time.monotonic() - t0

    def stop(self):
        self.close_stdin()
        if self.proc.poll() is None:
            rc, _ = self.wait_exit(10)
            if rc is None:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.sel.close()

    def stderr_tail(self, n=1500):
        try:
            self.err.seek(0)
            data = self.err.read()
        except (OSError, ValueError):
            return ""
        if not data:
            return ""
        return "\n--- the server's stderr (tail):\n" + data[-n:].decode("utf-8", "replace")


def is_log(m):
    return isinstance(m, dict) and m.get("method") == "notifications/message"


def is_response(m, id):
    return (isinstance(m, dict) and "method" not in m and "id" in m
            and type(m["id"]) is type(id) and m["id"] == id)


# ====================================================================== schemas

def schema_problems(value, schema, path="$"):
    """A small JSON Schema check (type, enum, properties, required,
    additionalProperties false, items, minimum, exclusiveMinimum)."""
    p = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        ok = False
        for t in types:
            ok = ok or {
                "object": isinstance(value, dict), "array": isinstance(value, list),
                "string": isinstance(value, str), "boolean": isinstance(value, bool),
                "integer": is_int(value), "number": is_number(value), "null": value is None,
            }.get(t, False)
        if not ok:
            return [f"{path}: {value!r:.80} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        p.append(f"{path}: {value!r:.80} not in {schema['enum']}")
    if is_number(value):
        if "minimum" in schema and value < schema["minimum"]:
            p.append(f"{path}: {value} < minimum {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            p.append(f"{path}: {value} <= exclusiveMinimum {schema['exclusiveMinimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                p.append(f"{path}: required member {k!r} missing")
        for k, v in value.items():
            if k in props:
                p += schema_problems(v, props[k], f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                p.append(f"{path}: member {k!r} not allowed")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            p += schema_problems(v, schema["items"], f"{path}[{i}]")
    return p


# ====================================================================== processes

def proc_table():
    """{pid: (ppid, starttime, comm)} of every process."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                line = f.read()
        except OSError:
            continue
        comm = line[line.index("(") + 1:line.rindex(")")]
        rest = line[line.rindex(")") + 2:].split()
        t[int(d)] = (int(rest[1]), rest[19], comm, rest[0])
    return t


def descendants(pid):
    """[(pid, starttime, comm)] of every descendant of pid."""
    t = proc_table()
    known, out, changed = {pid}, [], True
    while changed:
        changed = False
        for p, (pp, start, comm, _) in t.items():
            if pp in known and p not in known:
                known.add(p)
                out.append((p, start, comm))
                changed = True
    return out


def alive(entry):
    pid, start, _ = entry
    try:
        with open(f"/proc/{pid}/stat") as f:
            line = f.read()
    except OSError:
        return False
    rest = line[line.rindex(")") + 2:].split()
    return rest[0] != "Z" and rest[19] == start


def survivors(entries, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = [e for e in entries if alive(e)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


# ====================================================================== the base of the tests

class Base(unittest.TestCase):
    maxDiff = 2000

    def server(self, args=MCP_ARGS):
        s = Server(args)
        self.addCleanup(self.finish, s)
        return s

    def finish(self, s):
        s.stop()
        # The wire is checked for every test, whatever else it checked.
        if s.bad:
            raise AssertionError("the server wrote lines that are not valid protocol messages:\n  "
                                 + "\n  ".join(s.bad[:10]) + s.stderr_tail())

    def ready(self, version=LATEST_HANDSHAKE):
        s = self.server()
        r = s.initialize(version)
        self.assertIn("result", r, f"initialize failed: {r!r:.300}")
        return s

    def assertError(self, msg, code, id=None, idless=False, words=()):
        self.assertIn("error", msg, f"expected error {code}, got {msg!r:.400}")
        err = msg["error"]
        self.assertEqual(err.get("code"), code, f"wrong error code in {msg!r:.400}")
        self.assertIsInstance(err.get("message"), str)
        self.assertTrue(err["message"], "an empty error message")
        if idless:
            self.assertNotIn("id", msg, f"an error that names no request has no id: {msg!r:.300}")
        elif id is not None:
            self.assertIn("id", msg, f"{msg!r:.300}")
            self.assertEqual(msg["id"], id)
        for w in words:
            self.assertIn(w.lower(), err["message"].lower(),
                          f"the message should mention {w!r}: {msg!r:.300}")
        return err

    def assertServing(self, s, stateless=False):
        """A ping (handshake era) or a tools/list (stateless) still works."""
        if stateless:
            r = s.request("tools/list", meta=META)
            self.assertIn("result", r, f"tools/list after an error: {r!r:.300}")
        else:
            r = s.request("ping")
            self.assertEqual(r.get("result"), {}, f"ping after an error: {r!r:.300}")

    def assertNoResponse(self, s, id, timeout):
        got = s.quiet(timeout, lambda m: is_response(m, id))
        self.assertEqual(got, [], f"no response expected for id {id!r}")

    def text(self, result):
        return "\n".join(b["text"] for b in result["content"] if b.get("type") == "text")

    def assertToolResult(self, r, version):
        """A tools/call result of execute_python in that revision; returns
        its structuredContent (or None before 2025-06-18)."""
        self.assertIn("result", r, f"tools/call failed: {r!r:.400}")
        res = r["result"]
        self.assertIsInstance(res.get("content"), list)
        self.assertTrue(res["content"], "empty content")
        for b in res["content"]:
            self.assertIn(b.get("type"), ("text", "image", "resource_link"), f"{b!r:.200}")
            if b["type"] == "text":
                self.assertIsInstance(b.get("text"), str)
        self.assertIsInstance(res.get("isError", False), bool)
        if version in ("2024-11-05", "2025-03-26"):
            self.assertNotIn("structuredContent", res, f"no structuredContent in {version}")
            return None
        sc = res.get("structuredContent")
        self.assertIsInstance(sc, dict, f"structuredContent in {version}: {res!r:.400}")
        last = res["content"][-1]
        self.assertEqual(last.get("type"), "text", "the last block holds the JSON of structuredContent")
        self.assertEqual(json.loads(last["text"]), sc, "the last text block is the JSON of structuredContent")
        return sc


# ====================================================================== TAP

class TapResult(unittest.TestResult):
    """Prints one TAP line per test (and per failed subtest), with
    tracebacks as "# " lines."""

    def __init__(self):
        super().__init__()
        self.n = 0

    @staticmethod
    def name(test):
        return test.id().rsplit(".", 2)[-2] + "." + test.id().rsplit(".", 1)[-1]

    def line(self, text, diag=None):
        self.n += 1
        print(text.replace("\n", " "))
        if diag:
            for d in diag.rstrip("\n").split("\n"):
                print("# " + d)
        sys.stdout.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.line(f"ok {self.n + 1} - {self.name(test)}")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.line(f"not ok {self.n + 1} - {self.name(test)}", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self.line(f"not ok {self.n + 1} - {self.name(test)}", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.line(f"ok {self.n + 1} - {self.name(test)} # SKIP {reason}")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.line(f"not ok {self.n + 1} - {self.name(test)} {subtest._subDescription()}",
                      self._exc_info_to_string(err, test))


def tap_main(argv, module):
    """Run the tests of `module` (those named in argv, or all of them) and
    print their results as TAP; the exit status."""
    loader = unittest.TestLoader()
    if argv:
        suite = loader.loadTestsFromNames(argv, module)
    else:
        suite = loader.loadTestsFromModule(module)
    result = TapResult()
    try:
        suite.run(result)
    except Exception:
        result.line(f"not ok {result.n + 1} - the test run itself", traceback.format_exc())
    print(f"1..{result.n}", flush=True)
    return 0 if result.wasSuccessful() else 1
