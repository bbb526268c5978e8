# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vivarium mcp` on raw JSON lines: the protocol (vivarium-mcp(1),
docs/MCP-NOTES.md).

Nothing but protocol messages on stdout (Hygiene); initialize, ping,
logging/setLevel and the tools of each revision of the handshake era
(Handshake); the stateless era, 2026-07-28 (Stateless); errors for
malformed input, and batches (Malformed).

The shared part (the server under test, the check of every line it writes,
the TAP runner) and how to run these tests are in mcp_wire.py beside this
file.
"""

import json
import os
import sys
import time
import unittest

# mcp_wire.py, the shared part, sits beside this file. Run as a script
# (tests/mcp/raw.sh), this file's directory is on sys.path already;
# imported as tests.mcp.test_mcp_protocol (`python3 -m unittest
# tests/mcp/test_mcp_protocol.py` from the top of the tree), it is not: put it
# first, so that `import mcp_wire` works both ways.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mcp_wire import (  # noqa: E402
    HANDSHAKE_VERSIONS, INVALID_PARAMS, INVALID_REQUEST, LATEST_HANDSHAKE, LOG_LEVELS, MCP_ARGS,
    META, METHOD_NOT_FOUND, OUTPUT_REQUIRED, PARSE_ERROR, SERVER_INFO, SOCKET, STARTED_SLEEP,
    STATELESS, TOOLS, UNSUPPORTED_VERSION, Base, dumps, is_int, schema_problems, tap_main,
)


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


if __name__ == "__main__":
    if os.environ.get("VIVARIUM_TAP") == "1":
        sys.exit(tap_main(sys.argv[1:], sys.modules[__name__]))
    unittest.main(verbosity=2)
