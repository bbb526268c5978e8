# SPDX-License-Identifier: LGPL-2.1-or-later
"""The vivarium RPC against a running daemon (PROTOCOL.md, PROTOCOL-NOTES.md).

Run by tests/protocol/protocol.sh, which starts two daemons and passes their
sockets in the environment:

VIVARIUM_TEST_SOCKET
    a daemon with the default configuration;
VIVARIUM_TEST_SOCKET_SMALL
    a daemon started with ``--preload colorsys`` and a configuration of
    ``[service] max_inflight = 2``, ``[limits] timeout = 1``,
    ``max_timeout = 5``, ``[pool] idle_workers = 1``, ``max_workers = 1``,
    ``queue = 2`` (the tests of queue limits,
    in-flight limits and timeout clamping; skipped when unset).

By hand, with Debian's interpreter (python3-msgpack)::

    VIVARIUM_TEST_SOCKET=/path/sock /usr/bin/python3 -m unittest -v tests/protocol/test_protocol.py

With VIVARIUM_TAP=1 and run as a script, results are printed as TAP.
"""

import os
import socket
import struct
import subprocess
import sys
import time
import traceback
import unittest

import msgpack

TOP = os.environ.get("top_srcdir") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "examples", "python"))

from vivarium_client import Client, ConnectionClosed, RpcError, encode_frame  # noqa: E402

SOCK = os.environ.get("VIVARIUM_TEST_SOCKET")
SMALL = os.environ.get("VIVARIUM_TEST_SOCKET_SMALL")
SMALL_MAX_TIMEOUT_MS = 5000
SMALL_DEFAULT_TIMEOUT_MS = 1000
SMALL_QUEUE_LIMIT = 2
SMALL_PRELOAD = "colorsys"
# What the default environment preloads: the part of the data stack that is
# installed for the jail's interpreter.
DATA_STACK = ("numpy", "pandas", "matplotlib.pyplot")
DATA_STACK_INSTALLED = [m for m in DATA_STACK
                        if subprocess.run(["/usr/bin/python3", "-I", "-c", "import " + m],
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL).returncode == 0]
MAX_FRAME = 16 << 20  # the default max_frame
OUTPUT_BYTES = 1 << 20  # the default output cap per stream

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
OVERLOADED = -32000
NO_SUCH_SESSION = -32002
NO_SUCH_ENVIRONMENT = -32003
TOO_MANY_REQUESTS = -32004

RESULT_KEYS = {"status", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "value",
               "exception", "images", "wall_ms", "cpu_ms", "max_rss_kb"}
NOTES_RESULT_KEYS = {"images_omitted", "detail"}
STATUSES = {"ok", "exception", "timeout", "memory", "killed", "cancelled", "crashed"}
# Code that tells us (by a streamed stdout event) that it is running, then runs on.
STARTED_SLEEP = 'import time\nprint("started", flush=True)\ntime.sleep(60)'
STARTED_SPIN = 'print("started", flush=True)\nwhile True:\n    pass'


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def frame(payload):
    """A frame around raw payload bytes."""
    return struct.pack(">I", len(payload)) + payload


def connect(path=None, timeout=60):
    return Client(path or SOCK, timeout=timeout)


def is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def next_final(c, id, timeout=30, events=None, skip_events_of=()):
    """The final response for id (events for it go to `events`); output
    events of the requests in skip_events_of are dropped (a stream may still
    deliver the rest of a line wait_started() saw); other messages are an
    error."""
    deadline = time.monotonic() + timeout
    while True:
        msg = c.recv(timeout=max(0.01, deadline - time.monotonic()))
        if msg.get("id") in skip_events_of and "event" in msg:
            continue
        if msg.get("id") != id:
            raise AssertionError(f"expected a message for id {id}, got {msg!r:.300}")
        if "event" in msg:
            if events is not None:
                events.append(msg)
            continue
        return msg


def wait_started(c, id, timeout=30):
    """Wait for the stdout event "started" of request id (sent with stream)."""
    got = b""
    deadline = time.monotonic() + timeout
    while b"started" not in got:
        msg = c.recv(timeout=max(0.01, deadline - time.monotonic()))
        if msg.get("id") != id or "event" not in msg:
            raise AssertionError(f"waiting for request {id} to start, got {msg!r:.300}")
        if msg["event"] == "stdout":
            got += msg["data"]


def wait_status(path, pred, timeout):
    """Poll status until pred(status) holds; returns (True, status) or
    (False, last status)."""
    deadline = time.monotonic() + timeout
    while True:
        with connect(path, timeout=10) as c:
            st = c.status()
        if pred(st):
            return True, st
        if time.monotonic() > deadline:
            return False, st
        time.sleep(0.05)


def idle(st):
    return st["busy_workers"] == 0 and st["queue_depth"] == 0


class Base(unittest.TestCase):
    path = None

    def setUp(self):
        if not SOCK:
            self.skipTest("VIVARIUM_TEST_SOCKET is not set")
        self.path = SOCK

    def client(self, timeout=60):
        c = connect(self.path, timeout=timeout)
        self.addCleanup(c.close)
        return c

    def run_code(self, code, **kw):
        with connect(self.path) as c:
            return c.run(code, **kw)

    def assertRpcError(self, msg, code, id=None, key=None):
        """msg is an error response with that code (and id, if given); with
        key, the message names it."""
        self.assertIn("error", msg, f"expected error {code}, got {msg!r:.300}")
        err = msg["error"]
        self.assertIsInstance(err, dict)
        self.assertEqual(err.get("code"), code, f"wrong error code in {msg!r:.300}")
        self.assertIsInstance(err.get("message"), str)
        if id is not None:
            self.assertEqual(msg.get("id"), id, f"wrong id in {msg!r:.300}")
        if key is not None:
            self.assertIn(key, err["message"], "the message should name the parameter")
        return err

    def request(self, obj, *, raw=None, code=None, id=None, key=None):
        """Send one request (an object, or raw payload bytes) on a fresh
        connection; expect error `code` (or return the response) and that
        the connection stays open."""
        c = self.client(timeout=30)
        c.send_raw(frame(raw) if raw is not None else encode_frame(obj))
        msg = c.recv()
        if code is not None:
            self.assertRpcError(msg, code, id=id, key=key)
        c.send(4242, "ping")
        self.assertEqual(c.recv(), {"id": 4242, "result": {}},
                         "the connection should stay open and serve a ping")
        return msg

    def assertServing(self):
        with connect(self.path, timeout=10) as c:
            self.assertEqual(c.ping(), {}, "the service should still serve a fresh connection")

    def assertResult(self, r):
        """Every field of a run result, with its type."""
        self.assertLessEqual(RESULT_KEYS | NOTES_RESULT_KEYS, set(r))
        self.assertIn(r["status"], STATUSES)
        self.assertIsInstance(r["stdout"], bytes, "stdout must be bin")
        self.assertIsInstance(r["stderr"], bytes, "stderr must be bin")
        self.assertIsInstance(r["stdout_truncated"], bool)
        self.assertIsInstance(r["stderr_truncated"], bool)
        self.assertIsInstance(r["value"], (str, type(None)))
        if r["exception"] is not None:
            self.assertIsInstance(r["exception"], dict)
            for k in ("type", "message", "traceback"):
                self.assertIsInstance(r["exception"].get(k), str, k)
        self.assertIsInstance(r["images"], list)
        for im in r["images"]:
            self.assertIsInstance(im.get("mime"), str)
            self.assertIsInstance(im.get("data"), bytes)
        self.assertIsInstance(r["wall_ms"], float, "wall_ms must be a float")
        self.assertIsInstance(r["cpu_ms"], float, "cpu_ms must be a float")
        self.assertTrue(is_uint(r["max_rss_kb"]), "max_rss_kb must be a uint")
        self.assertTrue(is_uint(r["images_omitted"]), "images_omitted must be a uint")
        self.assertIsInstance(r["detail"], (str, type(None)))


# ====================================================================== ping, framing basics

class TestPing(Base):
    def test_ping(self):
        """ping -> {}"""
        self.assertEqual(self.client().ping(), {})

    def test_ping_response_shape(self):
        """the response is exactly {id, result}"""
        c = self.client()
        c.send(7, "ping")
        self.assertEqual(c.recv(), {"id": 7, "result": {}})

    def test_ping_with_empty_params(self):
        c = self.client()
        c.send(1, "ping", {})
        self.assertEqual(c.recv(), {"id": 1, "result": {}})

    def test_unknown_keys_ignored(self):
        """unknown keys of the request are ignored"""
        msg = self.request({"id": 3, "method": "ping", "jsonrpc": "2.0", "x": [1, {"y": b"z"}]})
        self.assertEqual(msg, {"id": 3, "result": {}})

    def test_id_max_uint64(self):
        """an id of 2^64-1 is echoed"""
        msg = self.request({"id": 2**64 - 1, "method": "ping"})
        self.assertEqual(msg, {"id": 2**64 - 1, "result": {}})

    def test_id_wide_encodings(self):
        """a map16, str8/str16 keys and a uint64-encoded id are fine"""
        raw = (b"\xde\x00\x02" + b"\xd9\x02id" + b"\xcf" + (7).to_bytes(8, "big")
               + b"\xda\x00\x06method" + b"\xa4ping")
        self.assertEqual(self.request(None, raw=raw), {"id": 7, "result": {}})

    def test_id_reuse_after_completion(self):
        c = self.client()
        for _ in range(3):
            c.send(1, "ping")
            self.assertEqual(c.recv(), {"id": 1, "result": {}})

    def test_two_frames_in_one_write(self):
        c = self.client()
        c.send_raw(encode_frame({"id": 1, "method": "ping"}) + encode_frame({"id": 2, "method": "ping"}))
        got = {c.recv()["id"], c.recv()["id"]}
        self.assertEqual(got, {1, 2})

    def test_frame_in_pieces(self):
        """a frame written in several pieces, the header split too"""
        c = self.client()
        data = encode_frame({"id": 1, "method": "ping"})
        for part in (data[:2], data[2:5], data[5:9], data[9:]):
            c.send_raw(part)
            time.sleep(0.05)
        self.assertEqual(c.recv(), {"id": 1, "result": {}})

    def test_max_frame_accepted(self):
        """a frame of exactly max_frame (16 MiB) is accepted"""
        head = pack({"id": 1, "method": "ping"})[1:]  # the map's two entries, without the fixmap byte
        pad_key = pack("pad")
        # 0x83 + entries + key + bin32 header (5 bytes) + padding == MAX_FRAME
        n = MAX_FRAME - (1 + len(head) + len(pad_key) + 5)
        raw = b"\x83" + head + pad_key + b"\xc6" + struct.pack(">I", n) + bytes(n)
        self.assertEqual(len(raw), MAX_FRAME)
        self.assertEqual(self.request(None, raw=raw), {"id": 1, "result": {}})


# ====================================================================== malformed frames

class TestFraming(Base):
    """Each framing error gets a -32700 answer, then the connection closes;
    the service keeps serving."""

    def framing_error(self, data, *, ids=(0,), half_close=False):
        c = self.client(timeout=15)
        try:
            c.send_raw(data)
            if half_close:
                c._sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            msg = c.recv()
        except (ConnectionClosed, ConnectionResetError):
            self.fail("the connection was closed without an error response")
        self.assertRpcError(msg, PARSE_ERROR)
        self.assertIn(msg.get("id"), ids, "a framing error is answered with id 0")
        try:
            extra = c.recv(timeout=5)
        except (ConnectionClosed, ConnectionResetError):
            pass
        except TimeoutError:
            self.fail("the connection was not closed after a framing error")
        else:
            self.fail(f"the connection should be closed, got another message {extra!r:.200}")
        self.assertServing()

    def test_length_zero(self):
        self.framing_error(b"\x00\x00\x00\x00")

    def test_length_max_uint32(self):
        """length 2^32-1, announced only"""
        self.framing_error(b"\xff\xff\xff\xff")

    def test_length_above_max_frame(self):
        """length max_frame+1, announced only"""
        self.framing_error(struct.pack(">I", MAX_FRAME + 1))

    def test_truncated_then_eof(self):
        """a header for 10 bytes, 3 bytes, then end of file"""
        self.framing_error(b"\x00\x00\x00\x0a\x82\xa2i", half_close=True)

    def test_header_truncated_then_eof(self):
        """2 bytes of a header, then end of file"""
        self.framing_error(b"\x00\x00", half_close=True)

    def test_huge_array_declared(self):
        """a 5-byte frame declaring a 4-billion-element array"""
        self.framing_error(b"\x00\x00\x00\x05\xdd\xff\xff\xff\xff")

    def test_huge_map_declared(self):
        """a 5-byte frame declaring a 4-billion-entry map"""
        self.framing_error(b"\x00\x00\x00\x05\xdf\xff\xff\xff\xff")

    def test_huge_bin_declared(self):
        """a frame declaring a 4 GiB bin inside a map"""
        self.framing_error(frame(b"\x81\xa3pad\xc6\xff\xff\xff\xff"))

    def test_deep_nesting_maps(self):
        """100000 nested maps"""
        self.framing_error(frame(b"\x81\xa1a" * 100000 + b"\xc0"))

    def test_deep_nesting_arrays(self):
        """100000 nested arrays in a map"""
        self.framing_error(frame(b"\x81\xa1a" + b"\x91" * 100000 + b"\xc0"))

    def test_nesting_40(self):
        """a request nested 40 deep (more than 32) in params"""
        params = None
        for _ in range(38):
            params = {"a": params}
        self.framing_error(encode_frame({"id": 1, "method": "ping", "params": params}), ids=(0, 1))

    def test_nesting_shallow_ok(self):
        """a request nested 8 deep is fine"""
        params = None
        for _ in range(6):
            params = {"a": params}
        self.assertEqual(self.request({"id": 1, "method": "ping", "params": params}),
                         {"id": 1, "result": {}})

    def test_array(self):
        """a frame holding an array"""
        self.framing_error(frame(pack([1, "ping"])))

    def test_nil(self):
        self.framing_error(frame(b"\xc0"))

    def test_invalid_msgpack_byte(self):
        """0xc1 is never used in msgpack"""
        self.framing_error(frame(b"\xc1"))

    def test_invalid_utf8(self):
        """a str with invalid UTF-8"""
        raw = b"\x82" + pack("id") + pack(1) + pack("method") + b"\xa4p\xffng"
        self.framing_error(frame(raw), ids=(0, 1))

    def test_invalid_utf8_key(self):
        raw = b"\x83" + pack("id") + pack(1) + pack("method") + pack("ping") + b"\xa2\xc3\x28" + b"\x01"
        self.framing_error(frame(raw), ids=(0, 1))

    def test_trailing_bytes(self):
        """a map followed by a nil in the same frame"""
        self.framing_error(frame(pack({"id": 1, "method": "ping"}) + b"\xc0"), ids=(0, 1))

    def test_truncated_map_in_frame(self):
        """a frame whose map ends early"""
        self.framing_error(frame(pack({"id": 1, "method": "ping"})[:-2]), ids=(0, 1))

    def test_non_string_key(self):
        raw = b"\x83" + pack("id") + pack(1) + pack("method") + pack("ping") + pack(5) + pack(6)
        self.framing_error(frame(raw), ids=(0, 1))

    def test_ext_type(self):
        raw = pack({"id": 1, "method": "ping", "x": msgpack.ExtType(1, b"abc")})
        self.framing_error(frame(raw), ids=(0, 1))

    def test_slowloris(self):
        """a frame sent one byte per 0.2 s does not block other clients, and is
        served when complete"""
        slow = self.client(timeout=30)
        fast = self.client(timeout=30)
        data = encode_frame({"id": 1, "method": "ping"})
        slow.send_raw(data[:4])
        worst = 0.0
        for b in data[4:]:
            time.sleep(0.2)
            slow.send_raw(bytes([b]))
            t0 = time.monotonic()
            self.assertEqual(fast.ping(timeout=5), {})
            worst = max(worst, time.monotonic() - t0)
        self.assertLess(worst, 0.5, "a ping took too long while another client sent slowly")
        self.assertEqual(slow.recv(timeout=10), {"id": 1, "result": {}})

    def test_slowloris_stalled(self):
        """a header then one byte per 0.2 s for 2 s, then nothing: others are served"""
        slow = self.client(timeout=30)
        slow.send_raw(b"\x00\x00\x00\x64")
        worst = 0.0
        for _ in range(10):
            time.sleep(0.2)
            slow.send_raw(b"\x80")
            t0 = time.monotonic()
            self.assertServing()
            worst = max(worst, time.monotonic() - t0)
        self.assertLess(worst, 0.5, "a fresh connection took too long to be served")


# ====================================================================== invalid requests

class TestInvalidRequest(Base):
    """-32600: the connection stays open."""

    def test_missing_id(self):
        self.request({"method": "ping"}, code=INVALID_REQUEST, id=0)

    def test_id_zero(self):
        self.request({"id": 0, "method": "ping"}, code=INVALID_REQUEST, id=0)

    def test_id_str(self):
        self.request({"id": "1", "method": "ping"}, code=INVALID_REQUEST, id=0)

    def test_id_negative(self):
        self.request({"id": -1, "method": "ping"}, code=INVALID_REQUEST, id=0)

    def test_id_float(self):
        self.request({"id": 1.0, "method": "ping"}, code=INVALID_REQUEST, id=0)

    def test_id_nil(self):
        self.request({"id": None, "method": "ping"}, code=INVALID_REQUEST, id=0)

    def test_method_missing(self):
        self.request({"id": 9}, code=INVALID_REQUEST, id=9)

    def test_method_not_str(self):
        self.request({"id": 9, "method": 5}, code=INVALID_REQUEST, id=9)

    def test_method_bin(self):
        self.request({"id": 9, "method": b"ping"}, code=INVALID_REQUEST, id=9)

    def test_params_array(self):
        self.request({"id": 9, "method": "ping", "params": [1]}, code=INVALID_REQUEST, id=9)

    def test_params_str(self):
        self.request({"id": 9, "method": "run", "params": "print(1)"}, code=INVALID_REQUEST, id=9)

    def test_empty_map(self):
        self.request({}, code=INVALID_REQUEST, id=0)

    def test_duplicate_inflight_id(self):
        """a second request with the id of one in flight: -32600 for it, and
        the first completes normally"""
        c = self.client()
        c.send(5, "run", {"code": 'import time\nprint("started", flush=True)\ntime.sleep(1.5)\n"done"',
                          "stream": True})
        wait_started(c, 5)
        c.send(5, "ping")
        self.assertRpcError(next_final(c, 5), INVALID_REQUEST, id=5)
        r = next_final(c, 5)
        self.assertIn("result", r, f"the first request should complete: {r!r:.300}")
        self.assertEqual(r["result"]["status"], "ok")
        self.assertEqual(r["result"]["value"], "'done'")

    def test_unknown_method(self):
        self.request({"id": 2, "method": "nope"}, code=METHOD_NOT_FOUND, id=2)

    def test_unknown_method_case(self):
        self.request({"id": 2, "method": "PING"}, code=METHOD_NOT_FOUND, id=2)

    def test_unknown_method_empty(self):
        self.request({"id": 2, "method": ""}, code=METHOD_NOT_FOUND, id=2)


# ====================================================================== run

class TestRun(Base):
    def test_ok_output(self):
        r = self.run_code("print(1)")
        self.assertResult(r)
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["stdout"], b"1\n")
        self.assertEqual(r["stderr"], b"")
        self.assertIsNone(r["value"])
        self.assertIsNone(r["exception"])
        self.assertFalse(r["stdout_truncated"])
        self.assertFalse(r["stderr_truncated"])
        self.assertEqual(r["images"], [])

    def test_value(self):
        r = self.run_code('x = 2\nprint("first")\nx * 21')
        self.assertEqual((r["status"], r["stdout"], r["value"]), ("ok", b"first\n", "42"))

    def test_value_repr(self):
        self.assertEqual(self.run_code('"abc"')["value"], "'abc'")
        self.assertEqual(self.run_code('[1, "a"]')["value"], "[1, 'a']")

    def test_value_none(self):
        self.assertIsNone(self.run_code("None")["value"])
        self.assertIsNone(self.run_code("x = 1")["value"])

    def test_exception(self):
        r = self.run_code("1/0")
        self.assertResult(r)
        self.assertEqual(r["status"], "exception")
        self.assertIsNone(r["value"])
        e = r["exception"]
        self.assertIsInstance(e, dict)
        self.assertEqual(e["type"], "ZeroDivisionError")
        self.assertEqual(e["message"], "division by zero")
        self.assertIn("ZeroDivisionError", e["traceback"])

    def test_syntax_error(self):
        r = self.run_code("def f(:")
        self.assertEqual(r["status"], "exception")
        self.assertEqual(r["exception"]["type"], "SyntaxError")

    def test_stderr(self):
        r = self.run_code('import sys\nprint("e", file=sys.stderr)')
        self.assertEqual((r["status"], r["stdout"], r["stderr"]), ("ok", b"", b"e\n"))

    def test_binary_stdout(self):
        """stdout is bin and keeps every byte value"""
        r = self.run_code("import os\nos.write(1, bytes(range(256)))\nos.write(2, b'\\xff\\x00')\nNone")
        self.assertIsInstance(r["stdout"], bytes)
        self.assertEqual(r["stdout"], bytes(range(256)))
        self.assertEqual(r["stderr"], b"\xff\x00")

    def test_stdin_bin(self):
        r = self.run_code("import sys\nsys.stdin.buffer.read()", stdin=b"\xff\x00abc\n")
        self.assertEqual(r["value"], repr(b"\xff\x00abc\n"))

    def test_stdin_str(self):
        r = self.run_code("input()", stdin="h\u00e9llo\n")
        self.assertEqual(r["value"], repr("h\u00e9llo"))

    def test_stdin_absent(self):
        r = self.run_code("import sys\nsys.stdin.read()")
        self.assertEqual((r["status"], r["value"]), ("ok", "''"))

    def test_stdin_large(self):
        data = os.urandom(1 << 20)
        r = self.run_code("import sys, hashlib\nhashlib.sha256(sys.stdin.buffer.read()).hexdigest()",
                          stdin=data)
        import hashlib
        self.assertEqual(r["value"], repr(hashlib.sha256(data).hexdigest()))

    def test_timeout_busy(self):
        t0 = time.monotonic()
        r = self.run_code("while True:\n    pass", timeout_ms=1000)
        self.assertResult(r)
        self.assertEqual(r["status"], "timeout")
        self.assertGreaterEqual(r["wall_ms"], 900)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertGreater(r["cpu_ms"], 300)

    def test_timeout_keeps_output(self):
        r = self.run_code('import time\nprint("before", flush=True)\ntime.sleep(100)', timeout_ms=500)
        self.assertEqual((r["status"], r["stdout"]), ("timeout", b"before\n"))

    def test_timeout_clamp_max_uint(self):
        """a huge timeout_ms is clamped, not rejected"""
        r = self.run_code("1", timeout_ms=2**64 - 1)
        self.assertEqual((r["status"], r["value"]), ("ok", "1"))

    def test_timeout_zero_rejected(self):
        c = self.client()
        with self.assertRaises(RpcError) as cm:
            c.run("1", timeout_ms=0)
        self.assertEqual(cm.exception.code, INVALID_PARAMS)
        self.assertIn("timeout_ms", cm.exception.message)

    def test_memory(self):
        r = self.run_code("bytearray(4 << 30)")
        self.assertResult(r)
        self.assertEqual(r["status"], "memory")

    def test_killed(self):
        r = self.run_code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        self.assertResult(r)
        self.assertEqual(r["status"], "killed")

    def test_crashed(self):
        """the interpreter exits without a result"""
        r = self.run_code("import os\nos._exit(3)")
        self.assertResult(r)
        self.assertEqual(r["status"], "crashed")

    def test_abort(self):
        r = self.run_code("import os\nos.abort()")
        self.assertResult(r)
        self.assertIn(r["status"], ("crashed", "killed"))

    def test_result_types(self):
        r = self.run_code('import sys\nprint("o")\nprint("e", file=sys.stderr)\n[1] * 1000\n7')
        self.assertResult(r)
        self.assertGreater(r["max_rss_kb"], 0)
        self.assertGreaterEqual(r["wall_ms"], 0.0)
        self.assertGreaterEqual(r["cpu_ms"], 0.0)

    def test_env_default(self):
        self.assertEqual(self.run_code("1", env="default")["value"], "1")

    def test_unknown_param_ignored(self):
        c = self.client()
        c.send(1, "run", {"code": "1", "future_option": [1, 2]})
        self.assertEqual(c.recv()["result"]["value"], "1")

    def test_output_capped(self):
        """a 50 MiB flood: flagged, head and tail kept, within the cap"""
        r = self.run_code('import sys\n_ = sys.stdout.write("x" * (50 << 20))')
        self.assertEqual(r["status"], "ok")
        self.assertTrue(r["stdout_truncated"])
        self.assertFalse(r["stderr_truncated"])
        self.assertLessEqual(len(r["stdout"]), OUTPUT_BYTES + 256)
        self.assertGreaterEqual(len(r["stdout"]), OUTPUT_BYTES // 2)
        self.assertTrue(r["stdout"].startswith(b"x") and r["stdout"].endswith(b"x"))

    @unittest.skipUnless(os.path.isdir("/usr/lib/python3/dist-packages/matplotlib"), "no matplotlib")
    def test_images(self):
        r = self.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nNone")
        self.assertResult(r)
        self.assertEqual(r["status"], "ok", r.get("exception"))
        self.assertEqual(len(r["images"]), 1)
        self.assertEqual(r["images"][0]["mime"], "image/png")
        self.assertTrue(r["images"][0]["data"].startswith(b"\x89PNG\r\n\x1a\n"))


class TestRunParams(Base):
    """-32602 for wrong run parameters; the message names the key."""

    def bad(self, params, key, method="run"):
        self.request({"id": 11, "method": method, "params": params}, code=INVALID_PARAMS, id=11, key=key)

    def test_code_missing(self):
        self.bad({}, "code")

    def test_params_missing(self):
        self.request({"id": 11, "method": "run"}, code=INVALID_PARAMS, id=11, key="code")

    def test_code_int(self):
        self.bad({"code": 1}, "code")

    def test_code_bin(self):
        self.bad({"code": b"print(1)"}, "code")

    def test_code_nil(self):
        self.bad({"code": None}, "code")

    def test_timeout_str(self):
        self.bad({"code": "1", "timeout_ms": "1000"}, "timeout_ms")

    def test_timeout_zero(self):
        self.bad({"code": "1", "timeout_ms": 0}, "timeout_ms")

    def test_timeout_negative(self):
        self.bad({"code": "1", "timeout_ms": -5}, "timeout_ms")

    def test_timeout_float(self):
        self.bad({"code": "1", "timeout_ms": 1.5}, "timeout_ms")

    def test_stream_str(self):
        self.bad({"code": "1", "stream": "yes"}, "stream")

    def test_stream_int(self):
        self.bad({"code": "1", "stream": 1}, "stream")

    def test_stdin_int(self):
        self.bad({"code": "1", "stdin": 5}, "stdin")

    def test_env_int(self):
        self.bad({"code": "1", "env": 5}, "env")

    def test_session(self):
        """sessions do not exist yet: -32002"""
        self.request({"id": 12, "method": "run", "params": {"code": "1", "session": "s1"}},
                     code=NO_SUCH_SESSION, id=12)

    def test_env_nope(self):
        self.request({"id": 13, "method": "run", "params": {"code": "1", "env": "nope"}},
                     code=NO_SUCH_ENVIRONMENT, id=13)

    def test_client_errors(self):
        """the client raises RpcError with code, message, data"""
        c = self.client()
        with self.assertRaises(RpcError) as cm:
            c.run("1", env="nope")
        self.assertEqual(cm.exception.code, NO_SUCH_ENVIRONMENT)
        with self.assertRaises(RpcError) as cm:
            c.call("nope")
        self.assertEqual(cm.exception.code, METHOD_NOT_FOUND)
        self.assertEqual(c.ping(), {})


# ====================================================================== streaming

class TestStream(Base):
    CODE = ('import sys, time\nprint("first", flush=True)\ntime.sleep(1)\n'
            'sys.stderr.write("err\\n"); sys.stderr.flush()\nprint("second")\n"v"')

    def test_events(self):
        """events come before the final response, as the output is produced,
        and concatenate to the result's output"""
        c = self.client()
        c.send(1, "run", {"code": self.CODE, "stream": True})
        events, times = [], []
        while True:
            msg = c.recv()
            self.assertEqual(msg.get("id"), 1)
            if "event" not in msg:
                final, t_final = msg, time.monotonic()
                break
            events.append(msg)
            times.append(time.monotonic())
        r = final["result"]
        self.assertResult(r)
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["value"], "'v'")
        for e in events:
            self.assertEqual(set(e), {"id", "event", "data"})
            self.assertIn(e["event"], ("stdout", "stderr"))
            self.assertIsInstance(e["data"], bytes, "event data must be bin")
        out = b"".join(e["data"] for e in events if e["event"] == "stdout")
        err = b"".join(e["data"] for e in events if e["event"] == "stderr")
        self.assertEqual(out, r["stdout"])
        self.assertEqual(err, r["stderr"])
        self.assertEqual((out, err), (b"first\nsecond\n", b"err\n"))
        self.assertGreater(t_final - times[0], 0.5, "the first event should arrive while the code runs")
        # no event after the final response
        c.send(2, "ping")
        self.assertEqual(c.recv(timeout=10), {"id": 2, "result": {}})

    def test_on_output(self):
        got = []
        r = self.client().run(self.CODE, on_output=lambda s, d: got.append((s, d)))
        self.assertEqual(b"".join(d for s, d in got if s == "stdout"), r["stdout"])
        self.assertEqual(b"".join(d for s, d in got if s == "stderr"), r["stderr"])

    def test_no_events_without_stream(self):
        c = self.client()
        c.send(1, "run", {"code": 'print("a")\nprint("b")'})
        msg = c.recv()
        self.assertNotIn("event", msg)
        self.assertEqual(msg["result"]["stdout"], b"a\nb\n")
        c.send(2, "ping")
        self.assertEqual(c.recv(timeout=10), {"id": 2, "result": {}})

    def test_stream_false(self):
        c = self.client()
        c.send(1, "run", {"code": 'print("a")', "stream": False})
        self.assertEqual(c.recv()["result"]["stdout"], b"a\n")

    def test_events_capped(self):
        """events of a 50 MiB flood stop at the output cap"""
        c = self.client(timeout=120)
        c.send(1, "run", {"code": 'import sys\n_ = sys.stdout.write("x" * (50 << 20))', "stream": True})
        events = []
        final = next_final(c, 1, timeout=120, events=events)
        total = sum(len(e["data"]) for e in events)
        self.assertTrue(final["result"]["stdout_truncated"])
        self.assertLessEqual(total, OUTPUT_BYTES + 256)
        self.assertGreater(total, 0)


# ====================================================================== pipelining

class TestPipelining(Base):
    def test_twenty(self):
        """20 requests sent without reading: each answered exactly once"""
        c = self.client(timeout=180)
        for i in range(1, 21):
            c.send(i, "run", {"code": f"{i} * 3"})
        seen = {}
        while len(seen) < 20:
            msg = c.recv()
            self.assertNotIn("event", msg)
            self.assertNotIn(msg["id"], seen, "an id was answered twice")
            self.assertIn(msg["id"], range(1, 21))
            seen[msg["id"]] = msg
        for i, msg in seen.items():
            self.assertEqual(msg["result"]["status"], "ok")
            self.assertEqual(msg["result"]["value"], str(i * 3))
        c.send(100, "ping")
        self.assertEqual(c.recv(timeout=10), {"id": 100, "result": {}}, "no extra answers")

    def test_mixed(self):
        """runs, pings, statuses and errors pipelined together"""
        c = self.client(timeout=120)
        c.send(1, "run", {"code": "import time\ntime.sleep(0.5)\n1"})
        c.send(2, "ping")
        c.send(3, "nope")
        c.send(4, "status")
        c.send(5, "run", {"code": "2"})
        c.send(6, "run", {})
        got = {}
        while len(got) < 6:
            msg = c.recv()
            self.assertNotIn(msg["id"], got)
            got[msg["id"]] = msg
        self.assertEqual(got[1]["result"]["value"], "1")
        self.assertEqual(got[2]["result"], {})
        self.assertRpcError(got[3], METHOD_NOT_FOUND, id=3)
        self.assertIn("busy_workers", got[4]["result"])
        self.assertEqual(got[5]["result"]["value"], "2")
        self.assertRpcError(got[6], INVALID_PARAMS, id=6)

    def test_client_keeps_other_answers(self):
        """call() keeps answers to pipelined requests for recv()"""
        c = self.client()
        c.send(1000, "run", {"code": "5"})
        self.assertEqual(c.ping(), {})
        r = c.run("6")
        self.assertEqual(r["value"], "6")
        msg = c.recv()
        self.assertEqual((msg["id"], msg["result"]["value"]), (1000, "5"))


# ====================================================================== cancel

class TestCancel(Base):
    def test_cancel_running(self):
        c = self.client()
        c.send(1, "run", {"code": STARTED_SPIN, "stream": True, "timeout_ms": 30000})
        wait_started(c, 1)
        t0 = time.monotonic()
        self.assertEqual(c.cancel(1, timeout=10), {})
        final = next_final(c, 1, timeout=10)
        self.assertIn("result", final, f"{final!r:.300}")
        self.assertResult(final["result"])
        self.assertEqual(final["result"]["status"], "cancelled")
        self.assertTrue(final["result"]["stdout"].startswith(b"started"), "output before the cancel is kept")
        self.assertLess(time.monotonic() - t0, 5)

    def test_cancel_raw_order(self):
        """cancel's {} and the cancelled request's response both come, once"""
        c = self.client()
        c.send(1, "run", {"code": STARTED_SLEEP, "stream": True, "timeout_ms": 30000})
        wait_started(c, 1)
        c.send(2, "cancel", {"id": 1})
        got = {}
        while len(got) < 2:
            msg = c.recv(timeout=10)
            if "event" in msg:
                continue
            self.assertNotIn(msg["id"], got)
            got[msg["id"]] = msg
        self.assertEqual(got[2], {"id": 2, "result": {}})
        self.assertEqual(got[1]["result"]["status"], "cancelled")

    def test_cancel_unknown(self):
        with self.assertRaises(RpcError) as cm:
            self.client().cancel(12345)
        self.assertEqual(cm.exception.code, INVALID_PARAMS)

    def test_cancel_finished(self):
        c = self.client()
        c.send(1, "ping")
        c.recv()
        with self.assertRaises(RpcError) as cm:
            c.cancel(1)
        self.assertEqual(cm.exception.code, INVALID_PARAMS)

    def test_cancel_other_connection(self):
        """a request of another connection cannot be cancelled"""
        a, b = self.client(), self.client()
        a.send(1, "run", {"code": 'import time\nprint("started", flush=True)\ntime.sleep(1)\n"a"',
                          "stream": True})
        wait_started(a, 1)
        with self.assertRaises(RpcError) as cm:
            b.cancel(1)
        self.assertEqual(cm.exception.code, INVALID_PARAMS)
        self.assertEqual(next_final(a, 1)["result"]["value"], "'a'")

    def test_cancel_bad_params(self):
        for params in ({}, {"id": "1"}, {"id": -1}, {"id": 0}, {"id": None}):
            with self.subTest(params=params):
                self.request({"id": 21, "method": "cancel", "params": params}, code=INVALID_PARAMS, id=21)


# ====================================================================== per-request limits

# Touches 200 MiB page by page: passes under the default 512 MiB limit.
ALLOC_200 = ("x = bytearray(200 << 20)\n"
             "for i in range(0, len(x), 4096):\n"
             "    x[i] = 1\n"
             "len(x) >> 20")
FORKS = ("import os, time\n"
         "n = 0\n"
         "try:\n"
         "    for _ in range(200):\n"
         "        if os.fork() == 0:\n"
         "            time.sleep(30)\n"
         "            os._exit(0)\n"
         "        n += 1\n"
         "except OSError:\n"
         "    pass\n"
         "n")
SPIN_1S = ("import time\n"
           "t = time.monotonic()\n"
           "while time.monotonic() - t < 1.0:\n"
           "    pass\n"
           "time.process_time() / (time.monotonic() - t)")


class TestLimits(Base):
    """memory_mb, processes and cpus on run (PROTOCOL.md, additions to version 1)."""

    def daemon_limits(self):
        lim = self.client().status().get("limits")
        self.assertIsInstance(lim, dict, "status reports the daemon's limits")
        return lim

    def refused(self, key, value, *needles):
        msg = self.request({"id": 7, "method": "run", "params": {"code": "1", key: value}},
                           code=INVALID_PARAMS, id=7, key=key)
        for n in needles:
            self.assertIn(n, msg["error"]["message"])
        return msg["error"]["message"]

    def test_status_reports_the_daemons_limits(self):
        lim = self.daemon_limits()
        self.assertEqual(lim.get("memory_mb"), 512)
        self.assertEqual(lim.get("processes"), 64)
        self.assertTrue(is_number(lim.get("cpus")) and lim["cpus"] >= 0)
        self.assertIsInstance(lim.get("cpu_quota_usable"), bool)
        self.assertEqual(lim.get("timeout_ms"), 30000)
        self.assertEqual(lim.get("max_timeout_ms"), 600000)

    def test_result_reports_the_limits_it_had(self):
        r = self.run_code("1")
        self.assertResult(r)
        self.assertEqual(r.get("limits"), {"memory_mb": 512, "processes": 64, "cpus": 0.0})
        r = self.run_code("1", memory_mb=100, processes=10)
        self.assertEqual(r["limits"]["memory_mb"], 100)
        self.assertEqual(r["limits"]["processes"], 10)

    def test_memory_lowered(self):
        r = self.run_code(ALLOC_200)
        self.assertEqual((r["status"], r["value"]), ("ok", "200"), "200 MiB fits the daemon's 512")
        r = self.run_code(ALLOC_200, memory_mb=64)
        self.assertResult(r)
        self.assertEqual(r["status"], "memory", f"64 MiB must not hold 200: {r!r:.400}")
        self.assertIn("64 MiB", r["detail"], "the detail names the limit that applied")
        r = self.run_code(ALLOC_200, memory_mb=512)
        self.assertEqual(r["status"], "ok", "the daemon's own limit may be asked for")

    def test_memory_above_the_daemons_limit(self):
        self.refused("memory_mb", 513, "the daemon's limit is 512 MiB")
        self.refused("memory_mb", 65536, "the daemon's limit is 512 MiB")

    def test_memory_range_and_type(self):
        for v in (0, 15, -1, 65537, 1 << 63):
            self.refused("memory_mb", v, "from 16 to 65536")
        for v in ("64", 64.0, True, [64], {"mb": 64}, b"64"):
            self.refused("memory_mb", v, "must be an integer")

    def test_nil_is_the_daemons_limit(self):
        r = self.run_code("1", memory_mb=None, processes=None, cpus=None)
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["limits"]["memory_mb"], 512)

    def test_processes_lowered_stop_a_fork_loop_earlier(self):
        r = self.run_code(FORKS, timeout_ms=20000)
        self.assertEqual((r["status"], r["value"]), ("ok", "63"), "the daemon's 64, the code itself included")
        r = self.run_code(FORKS, processes=8, timeout_ms=20000)
        self.assertEqual((r["status"], r["value"]), ("ok", "7"), f"processes 8: {r!r:.300}")

    def test_processes_refused(self):
        self.refused("processes", 65, "the daemon's limit is 64 processes")
        for v in (0, 3, -4, 4097):
            self.refused("processes", v, "from 4 to 4096")
        for v in ("8", 8.5, False):
            self.refused("processes", v, "must be an integer")

    def test_cpus_lowered_is_applied(self):
        if not self.daemon_limits()["cpu_quota_usable"]:
            self.refused("cpus", 0.5, "cannot be applied")
            self.skipTest("no CPU quota can be had here; the refusal was checked")
        r = self.run_code(SPIN_1S)
        self.assertEqual(r["status"], "ok")
        free = float(r["value"])
        r = self.run_code(SPIN_1S, cpus=0.25)
        self.assertEqual(r["status"], "ok", f"{r!r:.300}")
        self.assertEqual(r["limits"]["cpus"], 0.25)
        share = float(r["value"])
        # The quota holds the loop to about a quarter of a CPU; without it the
        # loop has a whole one, as much as the machine's load allows.
        self.assertLess(share, 0.4, f"cpus 0.25 gave a CPU share of {share:.2f}")
        self.assertLess(share, free, f"no less than without a quota ({free:.2f})")

    def test_cpus_refused(self):
        lim = self.daemon_limits()
        if lim["cpus"] == 0:
            ncpu = os.cpu_count()
            self.refused("cpus", ncpu + 1, "the daemon has no CPU quota", f"the {ncpu} CPUs")
        for v in (0, 0.004, -1, 1025, float("nan"), float("inf")):
            self.refused("cpus", v, "from 0.01 to 1024")
        for v in ("0.5", True, [1]):
            self.refused("cpus", v, "must be a number")

    def test_a_bad_limit_runs_nothing(self):
        c = self.client()
        before = c.status()["requests"]["served"]
        self.refused("memory_mb", 4096)
        self.assertEqual(self.client().status()["requests"]["served"], before,
                         "a refused request is not served")


# ====================================================================== status, disconnects

class TestStatus(Base):
    def test_fields(self):
        st = self.client().status()
        self.assertIsInstance(st.get("version"), str)
        self.assertTrue(is_number(st.get("uptime_s")) and st["uptime_s"] >= 0)
        self.assertTrue(is_uint(st.get("connections")) and st["connections"] >= 1)
        iso = st.get("isolation")
        self.assertIsInstance(iso, dict)
        self.assertIn(iso.get("mode"), ("root", "unprivileged"))
        self.assertIn(iso.get("idmap"), ("range", "single"))
        self.assertIn(iso.get("cgroup"), ("v2", "v1", "none"))
        self.assertIsInstance(iso.get("cgroup_scope"), str, "isolation.cgroup_scope")
        self.assertTrue(is_number(iso.get("cpus")) and iso["cpus"] >= 0, "isolation.cpus")
        if iso["cgroup"] == "none":
            self.assertEqual(iso["cpus"], 0, "no CPU quota without cgroups")
        self.assertIsInstance(iso.get("landlock"), bool)
        self.assertIs(iso.get("seccomp"), True)
        for k in ("idle_workers", "busy_workers", "queue_depth"):
            self.assertTrue(is_uint(st.get(k)), k)
        envs = st.get("environments")
        self.assertIsInstance(envs, list)
        self.assertEqual([e.get("name") for e in envs], ["default"])
        for e in envs:
            self.assertIsInstance(e.get("preload"), list)
            self.assertTrue(all(isinstance(m, str) for m in e["preload"]))
            self.assertIn(e.get("state"), ("starting", "ready", "restarting", "failed"))
            for k in ("restarts", "idle_workers", "busy_workers", "queue_depth", "queue_limit"):
                self.assertTrue(is_uint(e.get(k)), k)
        req = st.get("requests")
        self.assertIsInstance(req, dict)
        for k in ("served", "errors", "ok", "exception", "timeout", "memory", "killed", "cancelled",
                  "crashed"):
            self.assertTrue(is_uint(req.get(k)), k)

    def test_defaults(self):
        st = self.client().status()
        env = st["environments"][0]
        self.assertEqual(env["queue_limit"], 64)
        ok, st = wait_status(self.path, lambda s: s["environments"][0]["state"] == "ready", 60)
        self.assertTrue(ok, f"the default environment is not ready: {st!r:.500}")
        self.assertEqual(st["environments"][0]["preload"], DATA_STACK_INSTALLED,
                         "ready, the default environment names the part of the data stack it imported")

    def test_default_preload_reaches_the_run(self):
        r = self.run_code("import sys, threading\n"
                          f"([m for m in {DATA_STACK!r} if m in sys.modules], threading.active_count())")
        self.assertEqual(r["status"], "ok", f"{r!r:.500}")
        self.assertEqual(r["value"], repr((DATA_STACK_INSTALLED, 1)))

    def test_becomes_ready(self):
        # Ready, and a warm worker within the same minute: the workers that
        # earlier tests used up are refilled by forks of the zygote.
        ok, st = wait_status(self.path, lambda s: s["environments"][0]["state"] == "ready"
                             and s["environments"][0]["idle_workers"] >= 1, 60)
        self.assertTrue(ok, f"the default environment is not ready with a warm worker: {st!r:.500}")

    def test_counters(self):
        c = self.client()
        before = c.status()["requests"]
        c.run("1")
        c.run("1/0")
        after = c.status()["requests"]
        self.assertGreaterEqual(after["served"], before["served"] + 2)
        self.assertGreaterEqual(after["ok"], before["ok"] + 1)
        self.assertGreaterEqual(after["exception"], before["exception"] + 1)

    def test_uptime_grows(self):
        c = self.client()
        a = c.status()["uptime_s"]
        time.sleep(1.1)
        self.assertGreater(c.status()["uptime_s"], a)

    def test_disconnect_frees_worker(self):
        """a client that disconnects with a run in flight: busy_workers back
        to 0 within ~3 s"""
        ok, st = wait_status(self.path, idle, 30)
        self.assertTrue(ok, f"not idle before the test: {st!r:.300}")
        c = connect(self.path)
        c.send(1, "run", {"code": STARTED_SPIN, "stream": True, "timeout_ms": 30000})
        wait_started(c, 1)
        self.assertGreaterEqual(self.client().status()["busy_workers"], 1)
        c.close()
        ok, st = wait_status(self.path, lambda s: s["busy_workers"] == 0, 3.5)
        self.assertTrue(ok, f"busy_workers still {st['busy_workers']} 3.5 s after the client left")


# ====================================================================== the small daemon

class SmallBase(Base):
    def setUp(self):
        if not SMALL:
            self.skipTest("VIVARIUM_TEST_SOCKET_SMALL is not set")
        self.path = SMALL
        ok, st = wait_status(SMALL, idle, 20)
        self.assertTrue(ok, f"the small daemon is not idle: {st!r:.300}")


class TestSmallDaemon(SmallBase):
    def test_config_applied(self):
        st = self.client().status()
        env = st["environments"][0]
        self.assertEqual(env["queue_limit"], SMALL_QUEUE_LIMIT)
        self.assertEqual(env["preload"], [SMALL_PRELOAD])

    def test_preload(self):
        r = self.run_code(f"import sys\n{SMALL_PRELOAD!r} in sys.modules")
        self.assertEqual(r["value"], "True")

    def test_default_timeout(self):
        """without timeout_ms the server default (1 s here) applies"""
        r = self.run_code("import time\ntime.sleep(60)")
        self.assertEqual(r["status"], "timeout")
        self.assertLess(r["wall_ms"], SMALL_DEFAULT_TIMEOUT_MS + 1500)

    def test_timeout_clamped(self):
        """timeout_ms above the maximum (5 s here) is clamped to it"""
        t0 = time.monotonic()
        r = self.run_code("import time\ntime.sleep(60)", timeout_ms=10**9)
        self.assertEqual(r["status"], "timeout")
        self.assertGreaterEqual(r["wall_ms"], SMALL_MAX_TIMEOUT_MS - 500)
        self.assertLess(r["wall_ms"], SMALL_MAX_TIMEOUT_MS + 3000)
        self.assertLess(time.monotonic() - t0, 20)

    def test_overloaded(self):
        """one worker, a queue of 2: a fourth request is -32000; the queued and
        the running ones can be cancelled"""
        conns = [self.client() for _ in range(4)]
        conns[0].send(1, "run", {"code": STARTED_SLEEP, "stream": True})
        wait_started(conns[0], 1)
        conns[1].send(1, "run", {"code": STARTED_SLEEP, "stream": True})
        conns[2].send(1, "run", {"code": STARTED_SLEEP, "stream": True})
        ok, st = wait_status(self.path, lambda s: s["queue_depth"] == 2, 2)
        self.assertTrue(ok, f"queue_depth should be 2: {st!r:.300}")
        self.assertEqual(st["busy_workers"], 1)
        self.assertEqual(st["environments"][0]["queue_depth"], 2)
        conns[3].send(1, "run", {"code": "1"})
        self.assertRpcError(conns[3].recv(timeout=5), OVERLOADED, id=1)
        for c in (conns[2], conns[1], conns[0]):
            self.assertEqual(c.cancel(1, timeout=10), {})
            final = next_final(c, 1, timeout=10)
            self.assertEqual(final["result"]["status"], "cancelled", f"{final!r:.300}")
        self.assertEqual(conns[3].ping(), {})

    def test_too_many_inflight(self):
        """max_inflight = 2: a third request in flight on a connection is -32004;
        a disconnect then clears the running and the queued request"""
        c = connect(self.path, timeout=30)
        try:
            c.send(1, "run", {"code": STARTED_SLEEP, "stream": True})
            wait_started(c, 1)
            c.send(2, "run", {"code": STARTED_SLEEP})
            c.send(3, "run", {"code": "1"})
            self.assertRpcError(next_final(c, 3, timeout=5, skip_events_of=(1,)), TOO_MANY_REQUESTS, id=3)
        finally:
            c.close()
        ok, st = wait_status(self.path, idle, 3.5)
        self.assertTrue(ok, f"not idle 3.5 s after the client left: {st!r:.300}")

    def test_inflight_per_connection(self):
        """the in-flight limit is per connection; a disconnect drops the
        running and the queued request and the next queued one is served"""
        a = connect(self.path, timeout=30)
        b = self.client(timeout=30)
        try:
            a.send(1, "run", {"code": STARTED_SLEEP, "stream": True})
            wait_started(a, 1)
            a.send(2, "run", {"code": STARTED_SLEEP})
            b.send(1, "run", {"code": "3"})
            b.send(2, "ping")
            self.assertEqual(b.recv(timeout=5), {"id": 2, "result": {}})
        finally:
            a.close()
        t0 = time.monotonic()
        final = next_final(b, 1, timeout=30)
        self.assertEqual(final["result"]["value"], "3", f"{final!r:.300}")
        self.assertLess(time.monotonic() - t0, 4, "the queued request should run once the others are dropped")


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

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.line(f"ok {self.n + 1} - {self.name(test)} # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.line(f"not ok {self.n + 1} - {self.name(test)} (unexpected success)")


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
