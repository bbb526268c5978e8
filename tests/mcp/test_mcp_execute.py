# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vivarium mcp` on raw JSON lines: running code (vivarium-mcp(1),
docs/MCP-NOTES.md).

What execute_python returns, progress, cancellation, log messages and
concurrency (Execute); the bounds of --config (Config); the default
preload of the data stack (Preload); end of input and signals (Lifecycle).

The shared part (the server under test, the check of every line it writes,
the TAP runner) and how to run these tests are in mcp_wire.py beside this
file.
"""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

# mcp_wire.py, the shared part, sits beside this file. Run as a script
# (tests/mcp/raw.sh), this file's directory is on sys.path already;
# imported as tests.mcp.test_mcp_execute (`python3 -m unittest
# tests/mcp/test_mcp_execute.py` from the top of the tree), it is not: put it
# first, so that `import mcp_wire` works both ways.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mcp_wire import (  # noqa: E402
    INTERNAL_ERROR, INVALID_PARAMS, LATEST_HANDSHAKE, LOG_LEVELS, MCP_ARGS, META, PARSE_ERROR, SOCKET,
    STARTED_SLEEP, STATELESS, Base, descendants, dumps, is_int, is_log, is_number, is_response,
    survivors, tap_main,
)


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
        chatty_sent = time.monotonic()
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
            answered = next(t for t, m in chatty.log if is_response(m, 12))
            prog = [m["params"] for _, m in chatty.log
                    if isinstance(m, dict) and m.get("method") == "notifications/progress"]
            # 1.5 s of output (longer on a loaded machine: the bound follows
            # the time the call really took): every 250 ms at most, plus the
            # ticks of each second
            took = answered - chatty_sent
            most = int(took / 0.25 + took / 1.0) + 2
            self.assertGreaterEqual(len(prog), 3, "output triggers progress")
            self.assertLessEqual(len(prog), most,
                                 f"output triggers progress at most every 250 ms over {took:.2f} s: {prog}")
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
# test_mcp_execute.py: small limits
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
[environment.default]
preload =
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

    def test_limits_from_the_command_line(self):
        # --memory and --processes reach every call's request (not tool
        # arguments: execute_python keeps its predecessors' arguments).
        s = self.server([*MCP_ARGS, "--memory", "64", "--processes", "8"])
        self.assertIn("result", s.initialize())
        alloc = "x = bytearray(200 << 20)\nfor i in range(0, len(x), 4096):\n    x[i] = 1"
        r = s.call("execute_python", {"code": alloc})
        sc = r["result"]["structuredContent"]
        self.assertEqual(sc["status"], "memory", f"64 MiB must not hold 200: {sc!r:.300}")
        self.assertIn("64 MiB", sc["detail"] or "")
        forks = ("import os, time\nn = 0\ntry:\n    for _ in range(100):\n        if os.fork() == 0:\n"
                 "            time.sleep(30)\n            os._exit(0)\n        n += 1\nexcept OSError:\n"
                 "    pass\nn")
        r = s.call("execute_python", {"code": forks, "timeout_s": 20})
        sc = r["result"]["structuredContent"]
        self.assertEqual(sc["status"], "ok")
        self.assertTrue(1 <= int(sc["value"]) <= 7, f"processes 8 allowed {sc['value']} children")
        tools = s.request("tools/list")["result"]["tools"]
        props = tools[0]["inputSchema"]["properties"]
        for k in ("memory_mb", "processes", "cpus"):
            self.assertNotIn(k, props, "no tool argument is invented for the limits")

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


# The data stack `vivarium mcp` preloads by default, whichever of it is
# installed for the interpreter the jail runs.
DATA_STACK = ("numpy", "pandas", "matplotlib.pyplot")
PYTHON = "/usr/bin/python3"


def installed(module):
    return subprocess.run([PYTHON, "-I", "-c", "import " + module], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


INSTALLED = [m for m in DATA_STACK if installed(m)]
HAVE_PYPLOT = "matplotlib.pyplot" in INSTALLED

# What a run finds: the data stack in sys.modules, the figures and rcParams
# matplotlib shows when imported lazily, and the threads of the worker.
PROBE = """import sys, threading
mods = [m for m in %r if m in sys.modules]
mpl = None
if 'matplotlib' in sys.modules or %r:
    import matplotlib, matplotlib.pyplot as plt
    mpl = (plt.get_fignums(), sorted((k, repr(v)) for k, v in matplotlib.rcParams.items()))
(mods, mpl, threading.active_count())""" % (DATA_STACK, HAVE_PYPLOT)

PLOT = ("import numpy as np\nimport matplotlib.pyplot as plt\n"
        "plt.plot(np.arange(10))\nNone")


@unittest.skipIf(SOCKET, "forwarding to a daemon: its configuration decides")
class Preload(Base):
    """The default environment preloads the installed data stack (numpy,
    pandas, pyplot), warmed up in the zygote; --preload '' and "preload ="
    turn it off; a module someone names must exist."""

    def probe(self, s):
        r = s.call("execute_python", {"code": PROBE}, timeout=120)
        sc = self.assertToolResult(r, LATEST_HANDSHAKE)
        self.assertEqual(sc["status"], "ok", f"{self.text(r['result'])[:800]}")
        return eval(sc["value"])

    def ready_with(self, args):
        s = self.server(args)
        self.assertIn("result", s.initialize())
        return s

    def conf(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(text)
        f.close()
        os.chmod(f.name, 0o644)
        return f.name

    def test_default_preloads_the_data_stack(self):
        mods, mpl, threads = self.probe(self.ready_with(["--workers", "2"]))
        self.assertEqual(mods, INSTALLED, "the installed part of the data stack, nothing missing")
        self.assertEqual(threads, 1, "the worker (and so the zygote) has one thread")
        if HAVE_PYPLOT:
            self.assertEqual(mpl[0], [], "no figure of the zygote's warm-up is left open")

    def test_off_with_empty_preload(self):
        for args in (["--workers", "1", "--preload", ""],
                     ["--workers", "1", "--config", self.conf("[environment.default]\npreload =\n")]):
            with self.subTest(args=args):
                mods, _, _ = self.probe(self.ready_with(args))
                self.assertEqual([m for m in mods if m != "matplotlib.pyplot"], [],
                                 "nothing of the data stack but what the probe imports")

    @unittest.skipUnless(HAVE_PYPLOT, "matplotlib is not installed")
    def test_rcparams_as_a_plain_import(self):
        warm = self.probe(self.ready_with(["--workers", "1"]))
        cold = self.probe(self.ready_with(["--workers", "1", "--preload", ""]))
        self.assertEqual(warm[1], cold[1], "figures and rcParams as a lazy import shows them")

    @unittest.skipUnless(HAVE_PYPLOT, "matplotlib is not installed")
    def test_plot_returns_a_png_and_nothing_leaks(self):
        s = self.ready_with(["--workers", "2"])
        for _ in range(3):
            r = s.call("execute_python", {"code": PLOT}, timeout=120)
            sc = self.assertToolResult(r, LATEST_HANDSHAKE)
            self.assertEqual(sc["status"], "ok", f"{self.text(r['result'])[:800]}")
            images = [b for b in r["result"]["content"] if b["type"] == "image"]
            self.assertEqual(len(images), 1, "the one figure comes back")
            self.assertEqual(images[0].get("mimeType"), "image/png")
            png = base64.b64decode(images[0]["data"], validate=True)
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
            self.assertGreater(len(png), 1000, "a drawn figure, not an empty image")
        r = s.call("execute_python", {"code": "import matplotlib.pyplot as plt\n"
                                              "(plt.get_fignums(), plt.figure().number)"})
        self.assertEqual(self.assertToolResult(r, LATEST_HANDSHAKE)["value"], "([], 1)",
                         "a run after a plot finds no figure of it")

    def test_named_module_that_does_not_exist_is_an_error(self):
        for args in (["--workers", "1", "--preload", "json,no_such_module_vivarium"],
                     ["--workers", "1", "--config",
                      self.conf("[environment.default]\npreload = json, no_such_module_vivarium\n")]):
            with self.subTest(args=args):
                s = self.ready_with(args)
                r = s.call("execute_python", {"code": "1"}, timeout=120)
                self.assertIs(r["result"].get("isError"), True, f"{r!r:.400}")
                self.assertIn("no_such_module_vivarium", self.text(r["result"]),
                              "the error names the module that does not import")


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


if __name__ == "__main__":
    if os.environ.get("VIVARIUM_TAP") == "1":
        sys.exit(tap_main(sys.argv[1:], sys.modules[__name__]))
    unittest.main(verbosity=2)
