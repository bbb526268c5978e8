# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vivarium mcp` on raw JSON lines (vivarium-mcp(1), docs/MCP-NOTES.md).

Every test starts its own server (``$VIVARIUM mcp --workers 4``) with pipes,
writes lines to its standard input and reads lines from its standard output
with a timeout. Every line the server writes is checked on arrival: strict
UTF-8, one JSON object (an array only as the reply to a batch), JSON-RPC 2.0
with nothing the official clients reject (no ``"id": null``, no unknown
top-level member, no request from the server). A test fails if any line broke
these rules, whatever it was looking at.

Run by tests/mcp/raw.sh, which passes VIVARIUM (the test install's binary)
and VIVARIUM_TAP=1; with VIVARIUM_TEST_SOCKET=PATH as well, the servers are
``vivarium mcp --socket PATH`` and the tests of their own pool are skipped. By hand, with Debian's interpreter (standard library
only)::

    VIVARIUM=/path/to/vivarium /usr/bin/python3 -m unittest -v tests/mcp/test_mcp_raw.py

With VIVARIUM_TAP=1 and run as a script, results are printed as TAP; test
names (``Execute.test_value``) may be given as arguments.
"""

import base64
import json
import os
import re
import selectors
import signal
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
MCP_ARGS = ["--socket", SOCKET] if SOCKET else ["--workers", "4"]

HANDSHAKE_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
LATEST_HANDSHAKE = "2025-11-25"
STATELESS = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": STATELESS,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "test_mcp_raw.py", "version": "1.0"},
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
                                        "clientInfo": {"name": "test_mcp_raw.py", "version": "1.0"}}, id=id)
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


# ====================================================================== tests

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


def execute_output_schema(tools):
    return next(t for t in tools if t["name"] == "execute_python")["outputSchema"]


class Hygiene(Base):
    """Nothing but protocol messages on stdout."""

    def test_nothing_before_a_request(self):
        s = self.server()
        s.quiet(1.0)
        self.assertEqual(s.raw, 0, "the server wrote to stdout before any request (a banner?)")
        self.assertEqual(s.request("ping").get("result"), {})

    def test_code_output_stays_inside_results(self):
        s = self.ready("2025-06-18")
        code = ("import os, sys\n"
                "os.write(1, b'RAW-FD1\\n{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}\\n')\n"
                "os.write(2, b'RAW-FD2\\n')\n"
                "sys.stdout.write('y' * 3000000 + '\\n')\n"
                "print('{\"jsonrpc\":\"2.0\",\"method\":\"notifications/forged\"}\\n' * 2000)\n"
                "sys.stderr.write('e' * 200000)\n"
                "sys.stdout.flush()\n"
                "'END'")
        r = s.call("execute_python", {"code": code, "timeout_s": 30}, id=1)
        sc = self.assertToolResult(r, "2025-06-18")
        self.assertEqual(sc["status"], "ok", f"{self.text(r['result'])[:500]}")
        self.assertEqual(sc["value"], "'END'")
        self.assertIn("RAW-FD1", sc["stdout"], "os.write(1, ...) goes to the result's stdout")
        self.assertIn("RAW-FD2", sc["stderr"])
        self.assertTrue(sc["stdout_truncated"], "3 MB of stdout is over the 1 MiB cap")
        s.quiet(0.5)
        forged = [m for _, m in s.log if isinstance(m, dict)
                  and (m.get("id") == 99 or m.get("method") == "notifications/forged")]
        self.assertEqual(forged, [], "the code's output appeared as a protocol message")
        self.assertEqual(s.request("ping").get("result"), {})
        self.assertLess(s.raw, 16 << 20, "the output was bounded")

    @unittest.skipIf(SOCKET, "forwarding to a daemon: no pool of its own")
    def test_preload_printing_module(self):
        # `this` prints the Zen of Python when imported: in the zygote, at start-up.
        s = self.server(MCP_ARGS + ["--preload", "this"])
        r = s.call("execute_python", {"code": "import sys\n'this' in sys.modules"}, meta=META)
        self.assertEqual(self.assertToolResult(r, STATELESS)["value"], "True", "the module was preloaded")
        s.quiet(0.3)
        self.assertEqual(len(s.log), 1, f"nothing but the response on stdout: {s.log!r:.400}")


class Handshake(Base):
    """initialize, ping, logging/setLevel and tools in the handshake era."""

    def check_tools(self, tools, version):
        self.assertEqual([t.get("name") for t in tools], TOOLS, "tools/list: exactly these, in this order")
        base = {"name", "description", "inputSchema"}
        for t in tools:
            self.assertIsInstance(t["description"], str)
            self.assertTrue(t["description"])
            if version == "2024-11-05":
                self.assertEqual(set(t), base, f"{t['name']} in {version}")
            elif version == "2025-03-26":
                self.assertEqual(set(t), base | {"annotations"}, f"{t['name']} in {version}")
            else:
                want = base | {"title", "outputSchema", "annotations"}
                extra = {"icons", "_meta"} | ({"execution"} if version == "2025-11-25" else set())
                self.assertLessEqual(want, set(t), f"{t['name']} in {version}")
                self.assertLessEqual(set(t), want | extra, f"{t['name']} in {version}")
                self.assertIsInstance(t["title"], str)
                self.assertEqual(t["outputSchema"].get("type"), "object")
            if version != "2024-11-05":
                a = t["annotations"]
                self.assertIsInstance(a, dict)
                self.assertIs(a.get("openWorldHint"), False, f"{t['name']}: no network, openWorldHint false")
        ex, hc = tools
        schema = ex["inputSchema"]
        self.assertEqual(schema.get("type"), "object")
        self.assertEqual(sorted(schema.get("properties", {})), ["code", "stdin", "timeout_s"])
        self.assertEqual(schema["properties"]["code"].get("type"), "string")
        self.assertEqual(schema["properties"]["timeout_s"].get("type"), "number")
        self.assertEqual(schema["properties"]["stdin"].get("type"), "string")
        self.assertEqual(schema.get("required"), ["code"])
        self.assertIs(schema.get("additionalProperties"), False)
        desc = json.dumps(schema["properties"]["timeout_s"]) + ex["description"]
        self.assertTrue("30" in desc and "600" in desc,
                        "timeout_s: the default 30 and maximum 600 are stated")
        self.assertEqual(hc["inputSchema"].get("type"), "object")
        self.assertIs(hc["inputSchema"].get("additionalProperties"), False)
        self.assertFalse(hc["inputSchema"].get("required"), "health_check takes no required argument")
        if version not in ("2024-11-05", "2025-03-26"):
            out = ex["outputSchema"]
            self.assertEqual(out.get("type"), "object")
            self.assertEqual(sorted(out.get("required", [])), sorted(OUTPUT_REQUIRED))
            self.assertLessEqual(set(OUTPUT_REQUIRED), set(out.get("properties", {})))
            hreq = set(hc["outputSchema"].get("required", []))
            self.assertLessEqual({"idle_workers", "busy_workers", "queue_depth", "version"},
                                 set(hc["outputSchema"].get("properties", {})))
            self.assertLessEqual(hreq, set(hc["outputSchema"].get("properties", {})))
        if version != "2024-11-05":
            self.assertIs(ex["annotations"].get("readOnlyHint"), False)
            self.assertIs(hc["annotations"].get("readOnlyHint"), True)

    def test_versions(self):
        for version in HANDSHAKE_VERSIONS:
            with self.subTest(version=version):
                s = self.server()
                r = s.request("initialize", {"protocolVersion": version, "capabilities": {},
                                             "clientInfo": {"name": "t", "version": "1"}}, id=0)
                self.assertIn("result", r, f"{r!r:.300}")
                res = r["result"]
                self.assertEqual(res.get("protocolVersion"), version, "the client's version is echoed")
                self.assertIn("tools", res.get("capabilities", {}))
                self.assertIn("logging", res["capabilities"])
                self.assertIsInstance(res.get("serverInfo", {}).get("name"), str)
                self.assertIsInstance(res["serverInfo"].get("version"), str)
                s.notify("notifications/initialized")
                self.assertEqual(s.quiet(0.3), [], "notifications/initialized gets no response")
                r = s.request("tools/list")
                self.assertIn("result", r, f"{r!r:.300}")
                self.assertNotIn("resultType", r["result"], "resultType is of the stateless era")
                self.check_tools(r["result"].get("tools"), version)
                tools = r["result"]["tools"]
                r = s.call("execute_python", {"code": "print('hi')\n6 * 7"})
                sc = self.assertToolResult(r, version)
                self.assertIs(r["result"].get("isError", False), False)
                self.assertIn("42", r["result"]["content"][0]["text"])
                self.assertIn("hi", r["result"]["content"][0]["text"])
                if sc is None:
                    self.assertEqual(len(r["result"]["content"]), 1, "one text block before 2025-06-18")
                else:
                    self.assertEqual(sc["status"], "ok")
                    self.assertEqual(sc["value"], "42")
                    self.assertEqual(sc["stdout"], "hi\n")
                    self.assertEqual(schema_problems(sc, execute_output_schema(tools)), [],
                                     "structuredContent matches the declared outputSchema")
                r = s.call("health_check", {})
                hsc = self.assertToolResult(r, version)
                if hsc is not None:
                    for k in ("idle_workers", "busy_workers", "queue_depth"):
                        self.assertTrue(is_int(hsc.get(k)), f"health_check {k}: {hsc!r:.300}")
                    self.assertIsInstance(hsc.get("version"), str)
                    hschema = tools[1]["outputSchema"]
                    self.assertEqual(schema_problems(hsc, hschema), [])

    def test_unknown_version(self):
        s = self.server()
        r = s.request("initialize", {"protocolVersion": "1999-01-01", "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "1"}})
        self.assertEqual(r.get("result", {}).get("protocolVersion"), LATEST_HANDSHAKE, f"{r!r:.300}")
        s.notify("notifications/initialized")
        self.assertEqual(s.request("tools/list").get("result", {}).get("tools", [{}])[0].get("name"),
                         "execute_python")

    def test_never_answers_2026_to_initialize(self):
        s = self.server()
        r = s.request("initialize", {"protocolVersion": STATELESS, "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "1"}})
        self.assertIn(r.get("result", {}).get("protocolVersion"), HANDSHAKE_VERSIONS, f"{r!r:.300}")

    def test_ping(self):
        s = self.server()
        self.assertEqual(s.request("ping", id=1), {"jsonrpc": "2.0", "id": 1, "result": {}})
        self.assertEqual(s.request("ping", id="p", params={}).get("result"), {})
        s.initialize()
        self.assertEqual(s.request("ping", id=2), {"jsonrpc": "2.0", "id": 2, "result": {}})

    def test_ping_while_running(self):
        s = self.ready()
        s.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": "import time; time.sleep(2)"}}})
        s.quiet(0.3)
        t0 = time.monotonic()
        s.send({"jsonrpc": "2.0", "id": 6, "method": "ping"})
        pong = s.response(6, timeout=5)
        self.assertEqual(pong.get("result"), {})
        self.assertLess(time.monotonic() - t0, 1.0, "a ping is not delayed by a running call")
        done = s.response(5, timeout=30)
        order = [m.get("id") for _, m in s.log if isinstance(m, dict) and m.get("id") in (5, 6)]
        self.assertEqual(order, [6, 5], "the ping reply arrives before the tools/call reply")
        self.assertIs(done["result"].get("isError"), False)

    def test_pipelined(self):
        s = self.ready()
        n = 3000
        s.send_raw(b"".join(dumps({"jsonrpc": "2.0", "id": i, "method": "ping"}) + b"\n"
                            for i in range(n)))
        ids = []
        deadline = time.monotonic() + 30
        while len(ids) < n and time.monotonic() < deadline:
            m = s.take(lambda m: isinstance(m, dict) and "id" in m, timeout=1)
            if m is not None:
                self.assertEqual(m.get("result"), {}, f"{m!r:.200}")
                ids.append(m["id"])
        self.assertEqual(sorted(ids), list(range(n)), "every pipelined ping answered once")
        self.assertServing(s)

    def test_set_level(self):
        s = self.server()
        r = s.request("logging/setLevel", {"level": "debug"})
        self.assertError(r, INVALID_REQUEST)  # not initialized
        s.initialize()
        r = s.request("logging/setLevel", {"level": "debug"})
        self.assertEqual(r.get("result"), {}, f"{r!r:.300}")
        for level in LOG_LEVELS:
            self.assertEqual(s.request("logging/setLevel", {"level": level}).get("result"), {}, level)
        for bad in ({"level": "verbose"}, {"level": "DEBUG"}, {"level": 3}, {}, None):
            with self.subTest(params=bad):
                r = s.request("logging/setLevel", bad)
                self.assertError(r, INVALID_PARAMS)
        self.assertServing(s)

    def test_before_initialize(self):
        s = self.server()
        for method, params in (("tools/list", None),
                               ("tools/call", {"name": "health_check", "arguments": {}}),
                               ("tools/call", {"name": "execute_python", "arguments": {"code": "1"}})):
            with self.subTest(method=method):
                self.assertError(s.request(method, params), INVALID_REQUEST)
        self.assertError(s.request("no/such/method"), METHOD_NOT_FOUND)
        self.assertError(s.request("resources/list"), METHOD_NOT_FOUND)
        self.assertError(s.request("server/discover"), INVALID_PARAMS)  # a malformed stateless request
        s.notify("notifications/initialized")  # before initialize: ignored
        s.notify("notifications/whatever", {"x": 1})
        self.assertEqual(s.quiet(0.3), [], "notifications get no response")
        self.assertServing(s)
        r = s.initialize()
        self.assertEqual(r["result"]["protocolVersion"], LATEST_HANDSHAKE)
        self.assertIn("result", s.request("tools/list"))

    def test_second_initialize(self):
        s = self.ready("2024-11-05")
        r = s.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "1"}})
        self.assertError(r, INVALID_REQUEST)
        r = s.request("tools/list")
        self.check_tools(r["result"]["tools"], "2024-11-05")  # still the first negotiation

    def test_unknown_methods_after_initialize(self):
        s = self.ready()
        for method in ("no/such/method", "prompts/list", "resources/read", "tasks/get", "PING", "ping "):
            with self.subTest(method=method):
                self.assertError(s.request(method), METHOD_NOT_FOUND)
        r = s.request("")  # an empty method: invalid or unknown, either will do
        self.assertIn(r.get("error", {}).get("code"), (INVALID_REQUEST, METHOD_NOT_FOUND), f"{r!r:.300}")
        self.assertError(s.request("server/discover"), INVALID_PARAMS)
        s.notify("notifications/unknown")
        self.assertEqual(s.quiet(0.3), [])
        self.assertServing(s)


class Stateless(Base):
    """Protocol 2026-07-28: every request carries its envelope."""

    def assertStatelessResult(self, r, cacheable=False):
        self.assertIn("result", r, f"{r!r:.400}")
        res = r["result"]
        self.assertEqual(res.get("resultType"), "complete")
        info = res.get("_meta", {}).get(SERVER_INFO)
        self.assertIsInstance(info, dict, f"_meta[{SERVER_INFO!r}]: {res!r:.300}")
        self.assertIsInstance(info.get("name"), str)
        self.assertIsInstance(info.get("version"), str)
        if cacheable:
            self.assertEqual(res.get("ttlMs"), 3600000)
            self.assertTrue(is_int(res["ttlMs"]))
            self.assertEqual(res.get("cacheScope"), "public")
        return res

    def test_discover(self):
        s = self.server()
        r = s.request("server/discover", meta=META, id="server-discover-probe-1")
        self.assertEqual(r.get("id"), "server-discover-probe-1")
        res = self.assertStatelessResult(r, cacheable=True)
        self.assertIsInstance(res.get("supportedVersions"), list)
        self.assertLessEqual(set(HANDSHAKE_VERSIONS) | {STATELESS}, set(res["supportedVersions"]))
        self.assertIn("tools", res.get("capabilities", {}))
        self.assertNotIn("tasks", res["capabilities"])

    def test_tools_list_and_call(self):
        s = self.server()
        r = s.request("tools/list", meta=META)
        res = self.assertStatelessResult(r, cacheable=True)
        tools = res.get("tools")
        self.assertEqual([t.get("name") for t in tools], TOOLS)
        for t in tools:
            self.assertLessEqual({"name", "title", "description", "inputSchema", "outputSchema",
                                  "annotations"}, set(t))
            self.assertNotIn("execution", t, "tasks are gone in 2026-07-28")
        self.assertEqual(tools[0]["inputSchema"].get("required"), ["code"])
        self.assertIs(tools[0]["inputSchema"].get("additionalProperties"), False)
        self.assertEqual(sorted(tools[0]["outputSchema"].get("required", [])), sorted(OUTPUT_REQUIRED))
        r = s.call("execute_python", {"code": "print('x')\n6 * 7"}, meta=META)
        res = self.assertStatelessResult(r)
        sc = self.assertToolResult(r, STATELESS)
        self.assertEqual(sc["value"], "42")
        self.assertEqual(schema_problems(sc, tools[0]["outputSchema"]), [])
        r = s.call("execute_python", {"code": "1/0"}, meta=META)
        self.assertStatelessResult(r)
        self.assertIs(r["result"].get("isError"), True)
        r = s.call("health_check", {}, meta=META)
        self.assertStatelessResult(r)
        sc = self.assertToolResult(r, STATELESS)
        for k in ("idle_workers", "busy_workers", "queue_depth"):
            self.assertTrue(is_int(sc.get(k)))
        self.assertIsInstance(sc.get("version"), str)

    def test_no_handshake_needed_and_streams_mix(self):
        s = self.server()
        self.assertStatelessResult(s.request("tools/list", meta=META))
        # Stateless requests do not initialize the handshake era.
        self.assertError(s.request("tools/list"), INVALID_REQUEST)
        s.initialize("2024-11-05")
        self.assertStatelessResult(s.request("tools/list", meta=META), cacheable=True)
        r = s.request("tools/list")
        self.assertNotIn("resultType", r["result"])
        self.assertEqual(set(r["result"]["tools"][0]), {"name", "description", "inputSchema"})
        # the stateless request is answered in its own era, whatever was negotiated
        r = s.call("execute_python", {"code": "6 * 7"}, meta=META)
        self.assertEqual(self.assertToolResult(r, STATELESS)["value"], "42")

    def test_missing_capabilities(self):
        s = self.server()
        meta = {k: v for k, v in META.items() if k != "io.modelcontextprotocol/clientCapabilities"}
        for method in ("server/discover", "tools/list"):
            with self.subTest(method=method):
                self.assertError(s.request(method, meta=meta), INVALID_PARAMS)
        self.assertError(s.call("health_check", {}, meta=meta), INVALID_PARAMS)
        bad = dict(META, **{"io.modelcontextprotocol/clientCapabilities": "all"})
        self.assertError(s.request("server/discover", meta=bad), INVALID_PARAMS)
        self.assertServing(s, stateless=True)

    def test_unsupported_version(self):
        s = self.server()
        for v in ("1999-01-01", "2025-11-25", "2026-07-29"):
            with self.subTest(version=v):
                meta = dict(META, **{"io.modelcontextprotocol/protocolVersion": v})
                err = self.assertError(s.request("server/discover", meta=meta), UNSUPPORTED_VERSION)
                data = err.get("data")
                self.assertIsInstance(data, dict, f"{err!r:.300}")
                self.assertIn(STATELESS, data.get("supported", []))
                self.assertEqual(data.get("requested"), v)
        meta = dict(META, **{"io.modelcontextprotocol/protocolVersion": "1999-01-01"})
        self.assertError(s.request("tools/list", meta=meta), UNSUPPORTED_VERSION)
        self.assertServing(s, stateless=True)

    def test_methods_of_the_other_era(self):
        s = self.server()
        for method, params in (("ping", None), ("logging/setLevel", {"level": "debug"}),
                               ("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                               "clientInfo": {"name": "t", "version": "1"}}),
                               ("no/such/method", None)):
            with self.subTest(method=method):
                self.assertError(s.request(method, params, meta=META), METHOD_NOT_FOUND)
        self.assertServing(s, stateless=True)
        # the initialize above did not initialize anything
        self.assertError(s.request("tools/list"), INVALID_REQUEST)

    def test_discover_without_envelope(self):
        s = self.server()
        self.assertError(s.request("server/discover"), INVALID_PARAMS)
        self.assertError(s.request("server/discover", {}), INVALID_PARAMS)
        self.assertError(s.request("server/discover", {"_meta": {}}), INVALID_PARAMS)
        s.initialize()
        self.assertError(s.request("server/discover"), INVALID_PARAMS)
        self.assertServing(s)

    def test_errors_and_unknown_tool(self):
        s = self.server()
        err = self.assertError(s.call("nope", {}, meta=META), INVALID_PARAMS, words=["nope"])
        self.assertNotIn("resultType", err)
        self.assertError(s.call("execute_python", {}, meta=META), INVALID_PARAMS, words=["code"])
        self.assertServing(s, stateless=True)


class Malformed(Base):
    """Errors for what is not a valid request; the server keeps serving."""

    def test_parse_errors(self):
        for init in (False, True):
            s = self.ready() if init else self.server()
            for raw in (b'{"jsonrpc":"2.0","id":1,"method":"ping"', b"{", b"nul", b"[1,",
                        b'{"jsonrpc":"2.0","id":1,"method":"ping"} x', b"{'a': 1}"):
                with self.subTest(init=init, line=raw):
                    s.send_raw(raw + b"\n")
                    self.assertError(s.idless_error(), PARSE_ERROR, idless=True)
                    self.assertServing(s)

    def test_invalid_utf8(self):
        s = self.ready()
        for raw in (b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\xff\xfe"}}',
                    b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\xc0\xaf"}}',
                    b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\xed\xa0\x80"}}',
                    b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\xe2\x82"}}'):
            with self.subTest(line=raw):
                s.send_raw(raw + b"\n")
                self.assertError(s.idless_error(), PARSE_ERROR, idless=True)
                self.assertNoResponse(s, 3, 0.05)
                self.assertServing(s)

    def test_not_objects(self):
        for init in (False, True):
            s = self.ready() if init else self.server()
            for raw in (b"42", b'"x"', b"null", b"true", b"3.5"):
                with self.subTest(init=init, line=raw):
                    s.send_raw(raw + b"\n")
                    self.assertError(s.idless_error(), INVALID_REQUEST, idless=True)
                    self.assertServing(s)

    def test_invalid_requests(self):
        s = self.ready()
        cases = [
            ({"id": 7, "method": "ping"}, 7),
            ({"jsonrpc": "1.0", "id": 7, "method": "ping"}, 7),
            ({"jsonrpc": 2.0, "id": 7, "method": "ping"}, 7),
            ({"jsonrpc": "2.0", "id": 7, "method": 5}, 7),
            ({"jsonrpc": "2.0", "id": 7, "method": None}, 7),
            ({"jsonrpc": "2.0", "id": 7}, 7),
            ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
            ({}, None),
        ]
        for obj, id in cases:
            with self.subTest(request=obj):
                s.send(obj)
                if id is None:
                    msg = s.idless_error()
                    self.assertError(msg, INVALID_REQUEST, idless=True)
                else:
                    msg = s.take(lambda m: isinstance(m, dict) and "error" in m
                                 and m.get("id", id) == id, timeout=10)
                    self.assertIsNotNone(msg, f"no error response{s.stderr_tail()}")
                    self.assertError(msg, INVALID_REQUEST)
                self.assertEqual(s.quiet(0.05, lambda m: isinstance(m, dict) and "result" in m), [],
                                 "an invalid request is not served")
                self.assertServing(s)

    def test_ids_echoed(self):
        s = self.ready()
        for id in (0, -5, 2 ** 53 + 1, 2 ** 63 - 1, "", "server-discover-probe-1", "\u00fc\n\"x\\",
                   "a\u0000b", "\U0001f389"):
            with self.subTest(id=id):
                s.send({"jsonrpc": "2.0", "id": id, "method": "ping"})
                self.assertEqual(s.response(id, timeout=10), {"jsonrpc": "2.0", "id": id, "result": {}})
        # the same id as a number and as a string are different ids
        s.send({"jsonrpc": "2.0", "id": "17", "method": "ping"})
        s.send({"jsonrpc": "2.0", "id": 17, "method": "ping"})
        self.assertEqual(s.response("17").get("result"), {})
        self.assertEqual(s.response(17).get("result"), {})

    def test_deep_nesting(self):
        s = self.ready()
        for raw in (b"[" * 200000 + b"]" * 200000, b'{"a":' * 200000 + b"1" + b"}" * 200000,
                    b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + b"[" * 100000
                    + b"]" * 100000 + b"}}"):
            with self.subTest(line=raw[:20]):
                s.send_raw(raw + b"\n")
                msg = s.take(lambda m: isinstance(m, dict) and "error" in m, timeout=10)
                self.assertIsNotNone(msg, f"no error for a deeply nested line{s.stderr_tail()}")
                self.assertIn(msg["error"]["code"], (PARSE_ERROR, INVALID_REQUEST))
                self.assertServing(s)

    def test_client_responses_ignored(self):
        s = self.ready()
        s.send({"jsonrpc": "2.0", "id": 5, "result": {}})
        s.send({"jsonrpc": "2.0", "id": 6, "error": {"code": -1, "message": "x"}})
        self.assertEqual(s.quiet(0.3, lambda m: isinstance(m, dict) and "result" in m), [],
                         "a response from the client is not answered with a result")
        self.assertServing(s)

    def test_bad_progress_token(self):
        s = self.ready()
        for token in (1.5, None, {"a": 1}, True):
            with self.subTest(token=token):
                r = s.request("tools/call", {"name": "health_check", "arguments": {},
                                             "_meta": {"progressToken": token}})
                self.assertError(r, INVALID_PARAMS, words=["progressToken"])
        self.assertServing(s)

    def test_params_not_an_object(self):
        s = self.ready()
        for params in ([1], "x", 5):
            with self.subTest(params=params):
                s.send({"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": params})
                r = s.response(8)
                self.assertIn("error", r, f"{r!r:.300}")
                self.assertIn(r["error"]["code"], (INVALID_REQUEST, INVALID_PARAMS))
        self.assertServing(s)

    def test_blank_lines_and_crlf(self):
        s = self.server()
        s.send_raw(b"\n\r\n\n")
        self.assertEqual(s.quiet(0.3), [], "blank lines are ignored")
        s.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\r\n')
        self.assertEqual(s.response(1).get("result"), {}, "a trailing CR is ignored")

    def test_batches(self):
        s = self.server()
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        s.send([ping])
        self.assertError(s.idless_error(), INVALID_REQUEST, idless=True)  # before initialize
        self.assertNoResponse(s, 1, 0.2)
        s.initialize(LATEST_HANDSHAKE)
        s.send([ping, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}])
        self.assertError(s.idless_error(), INVALID_REQUEST, idless=True)
        self.assertNoResponse(s, 1, 0.2)
        self.assertEqual(s.quiet(0.05, lambda m: isinstance(m, list)), [])
        self.assertServing(s)
        for version in ("2024-11-05", "2025-06-18"):
            with self.subTest(version=version):
                t = self.ready(version)
                t.send([ping])
                self.assertError(t.idless_error(), INVALID_REQUEST, idless=True)
                self.assertServing(t)

    def test_batches_2025_03_26(self):
        s = self.ready("2025-03-26")
        s.arrays_ok = True
        s.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                {"jsonrpc": "2.0", "method": "notifications/whatever"},
                {"jsonrpc": "2.0", "id": "two", "method": "tools/list"},
                {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                 "params": {"name": "execute_python", "arguments": {"code": "6 * 7"}}}])
        arr = s.take(lambda m: isinstance(m, list), timeout=30)
        self.assertIsNotNone(arr, f"no array reply to a batch (pending {s.pending!r:.300}){s.stderr_tail()}")
        self.assertEqual(s.pending, [], "the replies come back as one array, nothing else")
        by_id = {m.get("id"): m for m in arr}
        self.assertEqual(len(arr), 3, f"one response per request, none for the notification: {arr!r:.400}")
        self.assertEqual(by_id.get(1, {}).get("result"), {})
        self.assertEqual([t["name"] for t in by_id["two"]["result"]["tools"]], TOOLS)
        self.assertIn("42", self.text(by_id[3]["result"]))
        # only notifications: no reply at all
        s.send([{"jsonrpc": "2.0", "method": "notifications/whatever"},
                {"jsonrpc": "2.0", "method": "notifications/initialized"}])
        self.assertEqual(s.quiet(0.5), [], "a batch of notifications gets no reply")
        # an empty array
        s.send([])
        self.assertError(s.idless_error(), INVALID_REQUEST, idless=True)
        self.assertEqual(s.quiet(0.05, lambda m: isinstance(m, list)), [])
        # an invalid member
        s.send([{"jsonrpc": "2.0", "id": 4, "method": "ping"}, 42])
        arr = s.take(lambda m: isinstance(m, list), timeout=10)
        self.assertIsNotNone(arr, f"no array reply (pending {s.pending!r:.300})")
        self.assertEqual(len(arr), 2, f"{arr!r:.300}")
        self.assertIn({"jsonrpc": "2.0", "id": 4, "result": {}}, arr)
        bad = [m for m in arr if "error" in m]
        self.assertEqual(len(bad), 1)
        self.assertError(bad[0], INVALID_REQUEST, idless=True)
        # a call of a batch cancelled: the array comes without its response
        s.send([{"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                 "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                            "_meta": {"progressToken": "b"}}},
                {"jsonrpc": "2.0", "id": 6, "method": "ping"}])
        m = s.take(lambda m: isinstance(m, dict) and m.get("method") == "notifications/progress", 15)
        self.assertIsNotNone(m, "the call of the batch runs")
        s.notify("notifications/cancelled", {"requestId": 5})
        arr = s.take(lambda m: isinstance(m, list), timeout=10)
        self.assertEqual(arr, [{"jsonrpc": "2.0", "id": 6, "result": {}}])
        self.assertServing(s)

    def test_huge_line(self):
        s = self.ready()
        pad = b"a" * (40 << 20)
        t0 = time.monotonic()
        s.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + pad + b'"}}\n'
                   b'{"jsonrpc":"2.0","id":2,"method":"ping"}\n', timeout=60)
        self.assertError(s.idless_error(timeout=30), PARSE_ERROR, idless=True)
        self.assertEqual(s.response(2, timeout=30).get("result"), {}, "the next line is served")
        self.assertNoResponse(s, 1, 0.05)
        self.assertLess(time.monotonic() - t0, 30)
        # a huge line without a newline yet, then the rest of it
        s.send_raw(b'{"jsonrpc":"2.0","id":3,' + pad)
        s.quiet(0.2)
        s.send_raw(b'"}\n{"jsonrpc":"2.0","id":4,"method":"ping"}\n')
        self.assertError(s.idless_error(timeout=30), PARSE_ERROR, idless=True)
        self.assertEqual(s.response(4, timeout=30).get("result"), {})
        self.assertNoResponse(s, 3, 0.05)
        # a large line under the limit is served
        code = "x = '" + "b" * (2 << 20) + "'\nlen(x)"
        r = s.call("execute_python", {"code": code})
        self.assertEqual(r["result"]["structuredContent"]["value"], str(2 << 20))

    def test_tools_call_params(self):
        s = self.ready()
        cases = [
            ("no params", None, []),
            ("no name", {"arguments": {"code": "1"}}, ["name"]),
            ("name not a string", {"name": 5, "arguments": {}}, ["name"]),
            ("unknown tool", {"name": "no_such_tool", "arguments": {}}, ["no_such_tool"]),
            ("arguments a string", {"name": "execute_python", "arguments": "print(1)"}, ["arguments"]),
            ("arguments an array", {"name": "execute_python", "arguments": ["print(1)"]}, ["arguments"]),
            ("no arguments", {"name": "execute_python"}, ["code"]),
            ("code missing", {"name": "execute_python", "arguments": {}}, ["code"]),
            ("code a number", {"name": "execute_python", "arguments": {"code": 5}}, ["code"]),
            ("code null", {"name": "execute_python", "arguments": {"code": None}}, ["code"]),
            ("timeout_s negative", {"name": "execute_python", "arguments": {"code": "1", "timeout_s": -1}},
             ["timeout_s"]),
            ("timeout_s zero", {"name": "execute_python", "arguments": {"code": "1", "timeout_s": 0}},
             ["timeout_s"]),
            ("timeout_s a string", {"name": "execute_python", "arguments": {"code": "1", "timeout_s": "5"}},
             ["timeout_s"]),
            ("timeout_s a boolean", {"name": "execute_python", "arguments": {"code": "1", "timeout_s": True}},
             ["timeout_s"]),
            ("stdin a number", {"name": "execute_python", "arguments": {"code": "1", "stdin": 5}}, ["stdin"]),
            ("unknown argument", {"name": "execute_python", "arguments": {"code": "1", "colour": "red"}},
             ["colour"]),
            ("session", {"name": "execute_python", "arguments": {"code": "1", "session": "s1"}},
             ["session", "not available"]),
            ("env", {"name": "execute_python", "arguments": {"code": "1", "env": "default"}},
             ["env", "not available"]),
            ("health_check argument", {"name": "health_check", "arguments": {"x": 1}}, ["x"]),
        ]
        for desc, params, words in cases:
            with self.subTest(desc):
                r = s.request("tools/call", params)
                self.assertError(r, INVALID_PARAMS, words=words)
                self.assertServing(s)
        r = s.request("tools/call", {"name": "health_check"})
        self.assertIn("result", r, "health_check without arguments")
        r = s.call("execute_python", {"code": "'ok'", "timeout_s": 100000})
        self.assertEqual(r["result"]["structuredContent"]["value"], "'ok'", "a large timeout_s is lowered")
        r = s.call("execute_python", {"code": "'ok'", "timeout_s": 2.5})
        self.assertEqual(r["result"]["structuredContent"]["status"], "ok", "timeout_s may be fractional")


class Execute(Base):
    """What execute_python returns."""

    def test_value(self):
        s = self.ready()
        r = s.call("execute_python", {"code": "x = 6\nx * 7"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertIs(r["result"].get("isError"), False)
        self.assertEqual((sc["status"], sc["value"], sc["exception"]), ("ok", "42", None))
        self.assertEqual((sc["stdout"], sc["stderr"]), ("", ""))
        self.assertIn("42", r["result"]["content"][0]["text"])
        self.assertTrue(is_number(sc["wall_ms"]) and is_number(sc["cpu_ms"]) and is_int(sc["max_rss_kb"]))
        r = s.call("execute_python", {"code": "print('no value')"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertEqual((sc["status"], sc["value"], sc["stdout"]), ("ok", None, "no value\n"))

    def test_stdin(self):
        s = self.ready()
        r = s.call("execute_python", {"code": "import sys\nsys.stdin.read().upper()", "stdin": "héllo\n"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertEqual(sc["value"], repr("HÉLLO\n"))

    def test_unicode(self):
        s = self.ready()
        text = "h\u00e9llo \u2603 \U0001f389 \u2028 \u4e2d"
        r = s.call("execute_python", {"code": f"print({text!r})\n{text!r}"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertEqual(sc["stdout"], text + "\n")
        self.assertEqual(sc["value"], repr(text))

    def test_code_over_max_frame(self):
        # Under the longest line (2 x max_frame, 32 MiB) but over what the
        # service takes in one request (max_frame, 16 MiB): refused or an
        # isError result, and the server keeps running code.
        for desc, args in (("code", {"code": "x = '" + "a" * (20 << 20) + "'\nlen(x)"}),
                           ("stdin", {"code": "import sys\nlen(sys.stdin.read())",
                                      "stdin": "b" * (20 << 20)})):
            with self.subTest(desc):
                s = self.ready()
                r = s.call("execute_python", args, timeout=60)
                if "error" in r:
                    self.assertEqual(r["error"]["code"], INVALID_PARAMS, f"{r!r:.300}")
                else:
                    self.assertIs(r["result"].get("isError"), True, f"{r!r:.300}")
                r = s.call("execute_python", {"code": "6 * 7"})
                self.assertEqual(r.get("result", {}).get("structuredContent", {}).get("value"), "42",
                                 f"the server still runs code after a request over max_frame: {r!r:.400}")

    def test_output_back_pressure(self):
        # The client does not read while ~80 MiB of results pile up; then
        # it reads everything: nothing is lost.
        s = self.ready()
        n = 40
        data = b"".join(dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                               "params": {"name": "execute_python",
                                          "arguments": {"code": "print('x' * (1 << 20))"}}}) + b"\n"
                        for i in range(n)) + b'{"jsonrpc":"2.0","id":"last","method":"ping"}\n'
        os.set_blocking(s.in_fd, True)
        try:
            os.write(s.in_fd, data)  # fits in the pipe: the server need not read it yet
        finally:
            os.set_blocking(s.in_fd, False)
        time.sleep(3)
        self.assertIsNone(s.proc.poll(), "the server is still running")
        ids = set()
        deadline = time.monotonic() + 60
        while len(ids) < n + 1 and time.monotonic() < deadline:
            m = s.take(lambda m: isinstance(m, dict) and "id" in m, timeout=1)
            if m is not None:
                self.assertIn("result", m, f"{m!r:.300}")
                ids.add(m["id"])
        self.assertEqual(ids, set(range(n)) | {"last"}, "every request answered")
        self.assertServing(s)

    def test_abnormal_ends(self):
        s = self.ready()
        for code, status in (("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed"),
                             ("bytearray(2 << 30)", "memory"),
                             ("import ctypes\nctypes.string_at(0)", "crashed")):
            with self.subTest(status):
                r = s.call("execute_python", {"code": code})
                sc = self.assertToolResult(r, LATEST_HANDSHAKE)
                self.assertEqual(sc["status"], status)
                self.assertIs(r["result"].get("isError"), True)
                self.assertTrue(r["result"]["content"][0]["text"].strip(), "the text says what went wrong")
        r = s.call("execute_python", {"code": "import sys\nsys.exit(0)"})
        self.assertIs(r["result"].get("isError"), False)

    def test_images(self):
        s = self.ready()
        r = s.call("execute_python", {"code": "import matplotlib.pyplot as plt\nfor i in range(10):\n"
                                              "    plt.figure()\n    plt.plot([i, 1])"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertEqual(sc["status"], "ok", f"{self.text(r['result'])[:500]}")
        images = [b for b in r["result"]["content"] if b["type"] == "image"]
        self.assertEqual(len(images), 8, "max_images (8) figures come back")
        for b in images:
            self.assertEqual(b.get("mimeType"), "image/png")
            self.assertEqual(base64.b64decode(b["data"], validate=True)[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual((sc["images"], sc["images_omitted"]), (8, 2))
        self.assertTrue(re.search(r"\b2\b.*left out|left out.*\b2\b", self.text(r["result"])),
                        "a text note names the figures left out")
        kinds = [b["type"] for b in r["result"]["content"]]
        self.assertEqual(kinds[0], "text")
        self.assertEqual(kinds[-1], "text")
        self.assertEqual(kinds[1:-1].count("image"), 8)

    def test_exception(self):
        s = self.ready()
        r = s.call("execute_python", {"code": "def f():\n    return 1 / 0\nf()"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertIs(r["result"].get("isError"), True)
        self.assertEqual(sc["status"], "exception")
        self.assertEqual(sc["exception"]["type"], "ZeroDivisionError")
        self.assertIn("Traceback", sc["exception"]["traceback"])
        text = r["result"]["content"][0]["text"]
        self.assertIn("Traceback", text)
        self.assertIn("ZeroDivisionError", text)

    def test_timeout(self):
        s = self.ready()
        t0 = time.monotonic()
        r = s.call("execute_python", {"code": "while True:\n    pass", "timeout_s": 1})
        self.assertLess(time.monotonic() - t0, 6)
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertIs(r["result"].get("isError"), True)
        self.assertEqual(sc["status"], "timeout")
        self.assertIn("timeout_s", r["result"]["content"][0]["text"], "the text says what to do")

    def test_invalid_utf8_output(self):
        s = self.ready()
        r = s.call("execute_python",
                   {"code": "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok')\nsys.stdout.flush()"})
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertEqual(sc["status"], "ok")
        self.assertIn("\ufffd", sc["stdout"])
        self.assertTrue(sc["stdout"].endswith(" ok"), f"{sc['stdout']!r}")
        self.assertIn("\ufffd", r["result"]["content"][0]["text"])

    def test_progress(self):
        # Three servers at once: 2025-11-25 with a string token, 2024-11-05
        # with the integer token 0 (no message in that revision), and the
        # stateless era.
        cases = [(LATEST_HANDSHAKE, "tok-1", None), ("2024-11-05", 0, None), (STATELESS, 7, META)]
        servers = [self.server() if meta else self.ready(version) for version, _, meta in cases]
        # and a fourth that writes output every 50 ms for 1.5 s: progress, at most every 250 ms
        chatty = self.ready()
        chatty.send({"jsonrpc": "2.0", "id": 12, "method": "tools/call",
                     "params": {"name": "execute_python",
                                "arguments": {"code": "import time\nfor i in range(30):\n"
                                              "    print(i, flush=True)\n    time.sleep(0.05)"},
                                "_meta": {"progressToken": "out"}}})
        for s, (version, token, meta) in zip(servers, cases):
            params = {"name": "execute_python",
                      "arguments": {"code": "import time; time.sleep(2.8)", "timeout_s": 20},
                      "_meta": {**(meta or {}), "progressToken": token}}
            s.send({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": params})
        for s, (version, token, meta) in zip(servers, cases):
            with self.subTest(version=version):
                r = s.response(11)
                self.assertIs(r["result"].get("isError"), False, f"{r!r:.300}")
        with self.subTest("output"):
            chatty.response(12)
            prog = [m["params"] for _, m in chatty.log
                    if isinstance(m, dict) and m.get("method") == "notifications/progress"]
            # 1.5 s of output: every 250 ms at most, plus the ticks of each second
            self.assertGreaterEqual(len(prog), 3, "output triggers progress")
            self.assertLessEqual(len(prog), 9, f"output triggers progress at most every 250 ms: {prog}")
            values = [p.get("progress") for p in prog]
            self.assertEqual(values, sorted(set(values)), f"progress strictly increases: {values}")
        time.sleep(1.2)  # a tick after the result would be in the pipes by now
        for s, (version, token, meta) in zip(servers, cases):
            with self.subTest(version=version):
                s.quiet(0.05)
                log = [m for _, m in s.log if isinstance(m, dict)]
                done = next(i for i, m in enumerate(log) if is_response(m, 11))
                prog = [(i, m["params"]) for i, m in enumerate(log)
                        if m.get("method") == "notifications/progress"]
                self.assertGreaterEqual(len(prog), 2, "at least two progress notifications for a 2.8 s run")
                self.assertTrue(all(i < done for i, _ in prog), "no progress after the result")
                values = [p.get("progress") for _, p in prog]
                self.assertTrue(all(is_number(v) for v in values), f"{values}")
                self.assertEqual(values, sorted(set(values)), f"progress strictly increases: {values}")
                for _, p in prog:
                    self.assertEqual(p.get("progressToken"), token)
                    self.assertEqual(type(p["progressToken"]), type(token))
                    self.assertEqual(p.get("total"), 20, "total is the deadline in seconds (timeout_s)")
                    if version == "2024-11-05":
                        self.assertNotIn("message", p, "no message in 2024-11-05")
                    else:
                        self.assertIsInstance(p.get("message"), str)

    def wait_running(self, s, token, timeout=15):
        """Wait for a progress notification of that token (the code's
        output triggers one)."""
        m = s.take(lambda m: isinstance(m, dict) and m.get("method") == "notifications/progress"
                   and m.get("params", {}).get("progressToken") == token, timeout)
        self.assertIsNotNone(m, f"the call did not start within {timeout} s{s.stderr_tail()}")

    def busy_zero(self, s, meta=None, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            r = s.call("health_check", {}, meta=meta)
            sc = r["result"].get("structuredContent") or json.loads(r["result"]["content"][-1]["text"])
            if sc["busy_workers"] == 0:
                return True, sc
            if time.monotonic() > deadline:
                return False, sc
            time.sleep(0.1)

    def test_cancel(self):
        # Both eras at once, on two servers.
        cases = [("handshake", None), ("stateless", META)]
        servers = [self.server() if meta else self.ready() for _, meta in cases]
        for s, (_, meta) in zip(servers, cases):
            s.send({"jsonrpc": "2.0", "id": 21, "method": "tools/call",
                    "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                               "_meta": {**(meta or {}), "progressToken": "c"}}})
        for s, (_, meta) in zip(servers, cases):
            self.wait_running(s, "c")
            params = {"requestId": 21, "reason": "test"}
            if meta:
                params["_meta"] = dict(meta)
            s.notify("notifications/cancelled", params)
        time.sleep(2)
        for s, (era, meta) in zip(servers, cases):
            with self.subTest(era=era):
                self.assertNoResponse(s, 21, 0.05)
                ok, sc = self.busy_zero(s, meta)
                self.assertTrue(ok, f"busy_workers is still {sc['busy_workers']} 5 s after the cancel")
                # unknown or finished ids are ignored
                extra = {"_meta": meta} if meta else {}
                s.notify("notifications/cancelled", {"requestId": 21, **extra})
                s.notify("notifications/cancelled", {"requestId": "nope", **extra})
                self.assertNoResponse(s, 21, 0.3)
                self.assertNoResponse(s, "nope", 0.01)
                r = s.call("execute_python", {"code": "6 * 7"}, meta=meta)
                self.assertIs(r["result"].get("isError"), False, "the service still runs code")
                self.assertNoResponse(s, 21, 0.01)
                # the threshold is warning until logging/setLevel; stateless: no logLevel, no log
                late = [m for _, m in s.log if is_log(m)]
                self.assertEqual(late, [], "no notifications/message")

    def test_log_messages(self):
        s = self.ready()
        self.assertEqual(s.request("logging/setLevel", {"level": "debug"}).get("result"), {})
        s.send({"jsonrpc": "2.0", "id": 25, "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                           "_meta": {"progressToken": "l"}}})
        self.wait_running(s, "l")
        s.notify("notifications/cancelled", {"requestId": 25, "reason": "test"})
        m = s.take(is_log, timeout=5)
        self.assertIsNotNone(m, "at debug, a cancelled run is logged")
        self.assertEqual(m["params"].get("logger"), "vivarium")
        self.assertIn(m["params"].get("level"), LOG_LEVELS)
        self.assertIn("data", m["params"])
        self.assertNotIn("started", json.dumps(m["params"]), "never the code's output")
        self.assertNoResponse(s, 25, 0.5)
        # above the level of that event: nothing
        self.assertEqual(s.request("logging/setLevel", {"level": "emergency"}).get("result"), {})
        s.send({"jsonrpc": "2.0", "id": 26, "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                           "_meta": {"progressToken": "m"}}})
        self.wait_running(s, "m")
        s.notify("notifications/cancelled", {"requestId": 26})
        self.assertEqual(s.quiet(1, is_log),
                         [], "nothing below the level set")

    def test_log_messages_stateless(self):
        s = self.server()
        meta = dict(META, **{"io.modelcontextprotocol/logLevel": "debug"})
        s.send({"jsonrpc": "2.0", "id": 27, "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                           "_meta": {**meta, "progressToken": "s"}}})
        self.wait_running(s, "s")
        s.notify("notifications/cancelled", {"requestId": 27, "_meta": meta})
        m = s.take(is_log, timeout=5)
        self.assertIsNotNone(m, "with logLevel debug in the envelope, a cancelled run is logged")
        self.assertEqual(m["params"].get("logger"), "vivarium")
        self.assertNoResponse(s, 27, 0.5)

    def test_concurrency(self):
        s = self.ready()
        s.call("execute_python", {"code": "1"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sc = s.call("health_check", {})["result"]["structuredContent"]
            if sc["idle_workers"] >= 3:
                break
            time.sleep(0.1)
        t0 = time.monotonic()
        for i in range(3):
            s.send({"jsonrpc": "2.0", "id": 30 + i, "method": "tools/call",
                    "params": {"name": "execute_python",
                               "arguments": {"code": "import time; time.sleep(1)\n'z'"}}})
        for i in range(3):
            r = s.response(30 + i, timeout=20)
            self.assertEqual(r["result"]["structuredContent"]["value"], "'z'")
        took = time.monotonic() - t0
        self.assertLess(took, 2.8, f"three 1 s calls took {took:.2f} s with 4 workers")


SMALL_CONF = """\
# test_mcp_raw.py: small limits
[service]
max_frame = 64K
[limits]
timeout = 1
max_timeout = 2
output = 4K
[pool]
idle_workers = 1
max_workers = 1
queue = 1
"""


@unittest.skipIf(SOCKET, "forwarding to a daemon: its configuration applies")
class Config(Base):
    """--config: the bounds of vivarium.conf(5) reach the MCP face."""

    def small(self):
        f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(SMALL_CONF)
        f.close()
        os.chmod(f.name, 0o644)
        s = self.server(["--config", f.name])
        self.assertIn("result", s.initialize())
        return s

    def test_timeouts(self):
        s = self.small()
        tools = s.request("tools/list")["result"]["tools"]
        desc = tools[0]["inputSchema"]["properties"]["timeout_s"].get("description", "")
        self.assertRegex(desc, r"\b1\b", "the configured default (1 s) is stated")
        self.assertRegex(desc, r"\b2\b", "the configured maximum (2 s) is stated")
        self.assertNotIn("600", desc)
        for args, want in (({}, 1), ({"timeout_s": 100}, 2)):
            with self.subTest(args=args):
                t0 = time.monotonic()
                r = s.call("execute_python", {"code": "import time; time.sleep(10)", **args})
                took = time.monotonic() - t0
                sc = r["result"]["structuredContent"]
                self.assertEqual(sc["status"], "timeout")
                self.assertTrue(want - 0.2 < took < want + 2, f"took {took:.2f} s, want about {want} s")

    def test_line_limit(self):
        s = self.small()
        s.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * 140000 + b'"}}\n')
        self.assertError(s.idless_error(), PARSE_ERROR, idless=True)
        self.assertNoResponse(s, 1, 0.05)
        s.send_raw(b'{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":"' + b"a" * 120000 + b'"}}\n')
        self.assertEqual(s.response(2).get("result"), {}, "a line under 2 x max_frame is served")

    def test_over_max_frame(self):
        s = self.small()
        r = s.call("execute_python", {"code": "x = '" + "a" * 100000 + "'\nlen(x)"})
        if "error" in r:
            self.assertEqual(r["error"]["code"], INVALID_PARAMS, f"{r!r:.300}")
        else:
            self.assertIs(r["result"].get("isError"), True, f"{r!r:.300}")
        r = s.call("execute_python", {"code": "6 * 7"})
        self.assertEqual(r.get("result", {}).get("structuredContent", {}).get("value"), "42",
                         f"the server still runs code after a request over max_frame: {r!r:.400}")

    def test_output_cap(self):
        s = self.small()
        r = s.call("execute_python", {"code": "print('x' * 10000, end='')"})
        sc = r["result"]["structuredContent"]
        self.assertTrue(sc["stdout_truncated"])
        self.assertLess(sc["stdout"].count("x"), 10000)

    def test_queue_full(self):
        s = self.small()
        deadline = time.monotonic() + 10
        while s.call("health_check", {})["result"]["structuredContent"]["idle_workers"] < 1:
            self.assertLess(time.monotonic(), deadline, "the worker starts")
            time.sleep(0.1)
        for i in range(4):
            s.send({"jsonrpc": "2.0", "id": 60 + i, "method": "tools/call",
                    "params": {"name": "execute_python",
                               "arguments": {"code": "import time; time.sleep(0.5)"}}})
        rs = [s.response(60 + i) for i in range(4)]
        for r in rs:
            self.assertIn("result", r, f"a failure of the service is a result, not an error: {r!r:.300}")
        ok = [r for r in rs if not r["result"].get("isError")]
        full = [r for r in rs if r["result"].get("isError")]
        self.assertGreaterEqual(len(ok), 1)
        self.assertGreaterEqual(len(full), 1, "one worker and a queue of one: not all four run")
        for r in full:
            self.assertTrue(self.text(r["result"]), "the reason is given")
        self.assertServing(s)


class Lifecycle(Base):
    """End of input and signals."""

    def zygotes(self, s):
        procs = descendants(s.proc.pid)
        if SOCKET:
            self.assertEqual(procs, [], "forwarding to a daemon, the server starts no process")
            return procs
        z = [p for p in procs if "zygote" in p[2] or "zygot" in p[2]]
        self.assertTrue(z, f"a zygote among the server's descendants: {procs}")
        return procs

    def test_eof(self):
        s = self.ready()
        self.assertIs(s.call("execute_python", {"code": "1"})["result"].get("isError"), False)
        procs = self.zygotes(s)
        s.close_stdin()
        rc, took = s.wait_exit(5)
        self.assertIsNotNone(rc, "the server exits within 5 s of EOF")
        self.assertEqual(rc, 0)
        self.assertEqual(survivors(procs, 2), [], "no process of the server survives it")

    def test_eof_while_running(self):
        s = self.ready()
        s.send({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                           "_meta": {"progressToken": "e"}}})
        Execute.wait_running(self, s, "e")
        procs = self.zygotes(s)
        s.close_stdin()
        rc, took = s.wait_exit(5)
        self.assertIsNotNone(rc, "the server exits within 5 s of EOF with code running")
        self.assertEqual(rc, 0)
        self.assertEqual(survivors(procs, 2), [], "no process of the server survives it")

    def check_signal(self, sig):
        s = self.ready()
        s.send({"jsonrpc": "2.0", "id": 51, "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": STARTED_SLEEP},
                           "_meta": {"progressToken": "t"}}})
        Execute.wait_running(self, s, "t")
        procs = self.zygotes(s)
        s.proc.send_signal(sig)
        rc, took = s.wait_exit(5)
        self.assertIsNotNone(rc, f"the server exits within 5 s of {sig.name}")
        self.assertEqual(rc, 0, f"exit status after {sig.name}")
        self.assertTrue(s.eof)
        r = [m for _, m in s.log if is_response(m, 51)]
        self.assertLessEqual(len(r), 1)
        if r:
            self.assertIn("error", r[0], f"the call in flight gets an error or nothing: {r[0]!r:.300}")
            self.assertEqual(r[0]["error"]["code"], INTERNAL_ERROR)
        self.assertEqual(survivors(procs, 2), [], "no process of the server survives it")

    def test_sigterm(self):
        self.check_signal(signal.SIGTERM)

    def test_quick_exits(self):
        # Hosts that probe start a server and end it at once, while its pool
        # is still starting: EOF at once, EOF or SIGTERM after one ping (a
        # signal at once could come before any handler can exist).
        for how in ("eof", "ping-eof", "ping-sigterm"):
            with self.subTest(how):
                s = self.server()
                seen = set()
                if how.startswith("ping-"):
                    self.assertEqual(s.request("ping").get("result"), {})
                if how == "ping-sigterm":
                    s.proc.send_signal(signal.SIGTERM)
                else:
                    s.close_stdin()
                deadline = time.monotonic() + 5
                while s.proc.poll() is None and time.monotonic() < deadline:
                    seen.update(descendants(s.proc.pid))
                    s.quiet(0.02)
                rc, _ = s.wait_exit(0.5)
                self.assertEqual(rc, 0, f"exit status within 5 s{s.stderr_tail()}")
                self.assertEqual(survivors(sorted(seen), 2), [], "no process of the server survives it")

    def test_sigint(self):
        self.check_signal(signal.SIGINT)


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


def tap_main(argv):
    loader = unittest.TestLoader()
    if argv:
        suite = loader.loadTestsFromNames(argv, sys.modules[__name__])
    else:
        suite = loader.loadTestsFromModule(sys.modules[__name__])
    result = TapResult()
    try:
        suite.run(result)
    except Exception:
        result.line(f"not ok {result.n + 1} - the test run itself", traceback.format_exc())
    print(f"1..{result.n}", flush=True)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    if os.environ.get("VIVARIUM_TAP") == "1":
        sys.exit(tap_main(sys.argv[1:]))
    unittest.main(verbosity=2)
