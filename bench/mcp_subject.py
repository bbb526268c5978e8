# SPDX-License-Identifier: LGPL-2.1-or-later
"""The MCP face in the benchmark: `execute_python` round trips over stdio.

One `vivarium mcp` process per workload (with no options, as the README
configures it, so the installed data stack is preloaded; numpy named for
the numpy workload, like the numpy daemon; a second subject with
`--preload ''` for the plot), spoken to in the stateless era
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
        if preload is not None:  # "" turns the default preload off
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


def make_subject(base, exe, preload_for, workers, key="vivarium-mcp", workloads=None):
    """A bench Subject (base is bench.Subject) measuring the MCP face, with
    as many warm workers as the daemons it is compared with. preload_for(wl)
    is the --preload of the server for a workload (None: no option, the
    default); workloads, when given, the keys it runs."""
    lazy = key.endswith("-lazy")

    class McpSubject(base):
        ours = True

        def __init__(self):
            self.key = key
            self.label = ("vivarium mcp --preload '', execute_python" if lazy
                          else "vivarium mcp, execute_python over stdio")
            self.short = "vivarium mcp --preload ''" if lazy else "vivarium mcp"
            self.servers = {}

        def runs(self, args):
            return args.requests

        def skip_reason(self, wl):
            if workloads is not None and wl.key not in workloads:
                return "measured on the %s workload only" % "/".join(workloads)
            return None

        def _server(self, wl):
            if wl.key not in self.servers:
                s = McpServer(exe, preload=preload_for(wl), workers=workers)
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
                if (sc and sc.get("status") == "ok" and sc.get("value") == wl.expect
                        and (wl.images is None or sc.get("images") == wl.images)):
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


def cold_start(exe, runs=5, preload=None):
    """Seconds from starting `vivarium mcp` (with --preload PRELOAD unless
    None) to the first execute_python result (1+1), as a host that starts
    the server per session sees it."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s = McpServer(exe, preload=preload)
        try:
            sc = s.execute("1+1")
            if sc and sc.get("value") == "2":
                samples.append(time.perf_counter() - t0)
        finally:
            s.close()
    return samples
