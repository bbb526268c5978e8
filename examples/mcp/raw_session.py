#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One stateless MCP exchange (protocol 2026-07-28) with `vivarium mcp`.

Starts the server, sends server/discover, tools/list and one execute_python
call, each with the _meta envelope and no initialize, and prints the result
as a model would see it. Standard library only.

    python3 raw_session.py [--vivarium PATH] [-c CODE] [-- MCP-OPTIONS...]
"""
import argparse
import json
import subprocess
import sys

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw_session.py", "version": "1.0"},
}


def request(proc, id_, method, params=None, meta=None):
    """Send one request and return its result; print notifications on the way."""
    params = dict(params or {}, _meta={**META, **(meta or {})})
    msg = {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
    proc.stdin.write(json.dumps(msg, separators=(",", ":")) + "\n")
    proc.stdin.flush()
    for line in proc.stdout:  # one JSON-RPC message per line
        msg = json.loads(line)
        if "method" in msg:  # a notification: progress, log messages
            print("#", msg["method"], json.dumps(msg.get("params")), file=sys.stderr)
        elif msg.get("id") == id_:
            if "error" in msg:
                sys.exit(f"{method}: error {msg['error']['code']}: {msg['error']['message']}")
            return msg["result"]
    sys.exit(f"{method}: vivarium mcp closed its output")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vivarium", default="vivarium", help="the vivarium binary")
    ap.add_argument("-c", "--code", default="import platform\nprint('hello from', platform.node())\n6 * 7")
    ap.add_argument("mcp_args", nargs="*", help="options for vivarium mcp (after --)")
    a = ap.parse_args()

    with subprocess.Popen([a.vivarium, "mcp", *a.mcp_args], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, encoding="utf-8") as proc:
        info = request(proc, 1, "server/discover")
        print("server:", json.dumps(info["_meta"]["io.modelcontextprotocol/serverInfo"]),
              "speaks", ", ".join(info["supportedVersions"]))
        tools = request(proc, 2, "tools/list")
        print("tools:", ", ".join(t["name"] for t in tools["tools"]))
        result = request(proc, 3, "tools/call",
                         {"name": "execute_python", "arguments": {"code": a.code, "timeout_s": 10}},
                         meta={"progressToken": "run-1"})
        proc.stdin.close()  # end of input: the server exits 0

    for block in result["content"]:
        if block["type"] == "text":
            print(block["text"])
        else:
            print(f"[{block['type']} {block.get('mimeType', '')}, {len(block.get('data', ''))} base64 chars]")
    status = (result.get("structuredContent") or {}).get("status")
    print("isError:", result.get("isError", False), "status:", status)
    return 1 if result.get("isError") else 0


if __name__ == "__main__":
    sys.exit(main())
