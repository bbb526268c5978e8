# SPDX-License-Identifier: LGPL-2.1-or-later
"""The MCP face in the benchmark: `execute_python` round trips over stdio.

One `vivarium mcp` process per workload (numpy preloaded for the numpy
workload, like the numpy daemon), spoken to in the stateless era
(2026-07-28): each sample is one tools/call with the _meta envelope, timed
from the write of the request line to the read of its response line, as an
MCP host would see it. Kept apart from bench.py, which imports it.
"""

import json
import os
import selectors
import subprocess
import time

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


class McpServer:
    """A `vivarium mcp` child with line-oriented pipes."""

    def __init__(self, exe, preload=None, workers=2, timeout=120.0):
        argv = [exe, "mcp", "--workers", str(workers)]
        if preload:
            argv += ["--preload", preload]
        self.timeout = timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.next_id = 1

    def _line(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                raise TimeoutError("vivarium mcp did not answer")
            chunk = self.proc.stdout.read(1 << 20)
            if not chunk:
                raise EOFError("vivarium mcp exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params):
        rid = self.next_id
        self.next_id += 1
        params = dict(params, _meta=META)
        msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()
        while True:
            m = self._line()
            if m.get("id") == rid:
                return m

    def execute(self, code):
        """The structuredContent of one execute_python call, or None."""
        r = self.call("tools/call", {"name": "execute_python", "arguments": {"code": code}})
        return (r.get("result") or {}).get("structuredContent")

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def make_subject(base, exe, numpy_preload, workers):
    """A bench Subject (base is bench.Subject) measuring the MCP face, with
    as many warm workers as the daemons it is compared with."""

    class McpSubject(base):
        ours = True
        key = "vivarium-mcp"
        label = "vivarium mcp, execute_python over stdio"
        short = "vivarium mcp"

        def __init__(self):
            self.servers = {}

        def runs(self, args):
            return args.requests

        def _server(self, wl):
            if wl.key not in self.servers:
                s = McpServer(exe, preload=numpy_preload if wl.needs_numpy else None,
                              workers=workers)
                # Wait for the pool: the first call pays the zygote's start.
                s.execute("None")
                self.servers[wl.key] = s
            return self.servers[wl.key]

        def sample(self, wl, n):
            out, bad = [], {}
            try:
                server = self._server(wl)
            except (OSError, EOFError, TimeoutError, ValueError) as e:
                return [], {"start: %s" % e: 1}
            for _ in range(n):
                t0 = time.perf_counter()
                try:
                    sc = server.execute(wl.code)
                except (OSError, EOFError, TimeoutError, ValueError) as e:
                    bad["call: %s" % e] = bad.get("call: %s" % e, 0) + 1
                    break
                t1 = time.perf_counter()
                if sc and sc.get("status") == "ok" and sc.get("value") == wl.expect:
                    out.append(t1 - t0)
                else:
                    key = "status %s" % (sc or {}).get("status")
                    bad[key] = bad.get(key, 0) + 1
            return out, bad

        def close(self):
            for s in self.servers.values():
                s.close()
            self.servers = {}

    return McpSubject()


def cold_start(exe, runs=5):
    """Seconds from starting `vivarium mcp` to the first execute_python
    result (1+1), as a host that starts the server per session sees it."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s = McpServer(exe)
        try:
            sc = s.execute("1+1")
            if sc and sc.get("value") == "2":
                samples.append(time.perf_counter() - t0)
        finally:
            s.close()
    return samples
