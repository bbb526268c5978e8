#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Run Python code through a vivarium daemon, like `vivarium run --socket`.

    python3 run.py -c 'print(1)'
    python3 run.py script.py < input.txt
    echo '6 * 7' | python3 run.py -

Output is streamed as the code produces it; the value of a last expression is
printed after it.  Exit status: 0 ok, 1 exception or crash, 124 timeout,
137 memory limit or killed, 125 when the daemon could not serve the request.
"""

import argparse
import sys

from vivarium_client import Client, RpcError

EXIT = {"ok": 0, "exception": 1, "crashed": 1, "timeout": 124, "memory": 137,
        "killed": 137, "cancelled": 125}


def main():
    ap = argparse.ArgumentParser(description="Run Python code in a vivarium jail.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("-c", dest="code", metavar="CODE", help="the code to run")
    src.add_argument("file", nargs="?", help="a file with the code, or - for standard input")
    ap.add_argument("--socket", help="the daemon's socket (default: $VIVARIUM_SOCKET, ...)")
    ap.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock deadline")
    ap.add_argument("--env", help="environment name")
    args = ap.parse_args()

    if args.code is not None:
        code = args.code
        stdin = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
    elif args.file == "-":
        code, stdin = sys.stdin.read(), b""
    else:
        with open(args.file, encoding="utf-8") as f:
            code = f.read()
        stdin = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()

    def on_output(stream, data):
        out = sys.stdout if stream == "stdout" else sys.stderr
        out.buffer.write(data)
        out.flush()

    try:
        with Client(args.socket) as client:
            result = client.run(code, stdin=stdin or None, env=args.env, on_output=on_output,
                                timeout_ms=None if args.timeout is None else int(args.timeout * 1000))
    except RpcError as e:
        print(f"run.py: {e.message} (error {e.code})", file=sys.stderr)
        return 125
    except OSError as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 125

    status = result["status"]
    if result.get("value") is not None:
        print(result["value"])
    if result.get("exception"):
        sys.stderr.write(result["exception"]["traceback"])
    elif status != "ok":
        print(f"run.py: {status}" + (f": {result['detail']}" if result.get("detail") else ""),
              file=sys.stderr)
    return EXIT.get(status, 1)


if __name__ == "__main__":
    sys.exit(main())
