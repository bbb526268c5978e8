#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write the hand-made seeds of tests/fuzz/corpus (run from the top of the tree).

fuzz-validate inputs are frame bodies; fuzz-frame inputs are a byte choosing
max_frame (index into max_frames[] of fuzz-frame.c: 5 is the 16 MiB default),
a byte seeding the chunk sizes, then the byte stream of one or more frames.
Entries the fuzzer found are named by their SHA-1 and are not written here.
"""

import os
import struct
import sys

FRAME_MAX_DEFAULT = 5
FRAME_MAX_16 = 2


def pack(o):
    """Just enough msgpack for the seeds, in the shortest encoding."""
    if o is None:
        return b"\xc0"
    if o is True or o is False:
        return b"\xc3" if o else b"\xc2"
    if isinstance(o, int):
        if 0 <= o <= 0x7F:
            return bytes([o])
        if -32 <= o < 0:
            return struct.pack(">b", o)
        if o >= 0:
            return b"\xcf" + struct.pack(">Q", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(o, bytes):
        return b"\xc4" + bytes([len(o)]) + o
    if isinstance(o, list):
        head = bytes([0x90 | len(o)]) if len(o) < 16 else b"\xdc" + struct.pack(">H", len(o))
        return head + b"".join(pack(x) for x in o)
    if isinstance(o, dict):
        head = bytes([0x80 | len(o)]) if len(o) < 16 else b"\xde" + struct.pack(">H", len(o))
        return head + b"".join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError(type(o))


def nest(depth, container=b"\x91", leaf=b"\x90"):
    """{"a": [[...[]...]]}: the top-level map is depth 1, so depth-1 arrays."""
    return b"\x81\xa1a" + container * (depth - 2) + leaf


PING = pack({"id": 1, "method": "ping"})
RUN = pack({"id": 2, "method": "run",
            "params": {"code": "import sys\nprint(sys.stdin.read())\n1 + 1",
                       "timeout_ms": 5000, "stdin": b"input\n", "stream": True}})
CANCEL = pack({"id": 3, "method": "cancel", "params": {"id": 2}})

BODIES = {
    # Valid requests and responses.
    "ping": PING,
    "run-params": RUN,
    "run-str-stdin": pack({"id": 4, "method": "run",
                           "params": {"code": "x = 'h\u00e9llo \u2713 \U0001d11e'", "stdin": "text",
                                      "timeout_ms": 70000, "stream": False, "env": "default"}}),
    "cancel": CANCEL,
    "response": pack({"id": 2, "result": {"status": "ok", "stdout": b"2\n", "stderr": b"",
                                          "value": None, "wall_ms": 1.5, "cpu_ms": 0.25,
                                          "images": [{"mime": "image/png", "data": b"\x89PNG"}],
                                          "exception": None, "max_rss_kb": 2 ** 40}}),
    "error-response": pack({"id": 0, "error": {"code": -32600, "message": "invalid request",
                                               "data": [1, -1, -2 ** 40, None, True]}}),
    "empty-map": b"\x80",
    "empty-key-and-values": pack({"": "", "id": b"", "params": {}, "stdin": []}),
    # Every wide encoding, with small contents.
    "wide-encodings": (b"\xde\x00\x07" + b"\xd9\x02id" + b"\xcd\x01\x00"
                       + b"\xda\x00\x06method" + b"\xdb\x00\x00\x00\x04ping"
                       + b"\xa4code" + b"\xd0\x80"
                       + b"\xa5stdin" + b"\xc6\x00\x00\x00\x01x"
                       + b"\xaatimeout_ms" + b"\xca\x3f\xc0\x00\x00"
                       + b"\xa6params" + b"\xdf\x00\x00\x00\x01\xa2id\xdd\x00\x00\x00\x01\xce\xff\xff\xff\xff"
                       + b"\xa6stream" + b"\xdc\x00\x02\xd1\x80\x00\xd2\x80\x00\x00\x00"),
    "depth-32": nest(32),                   # the deepest the defaults accept
    "depth-33": nest(33),                   # -ELOOP, also for an empty innermost array
    "depth-100": nest(100),                 # -ELOOP; below the wide limit, so a heap stack
    "depth-5-tight": nest(5),               # passes the defaults, not max_depth 4
    "elements-100-tight": pack({"params": list(range(100))}),  # not max_elements 64
    # Every type byte but ext, each in its shortest form that is not a fix type.
    "all-types": (b"\x81\xa6params\xdc\x00\x19"
                  + b"\x00\x7f\xe0\xff\xc0\xc2\xc3"
                  + b"\xcc\xff" + b"\xcd\xff\xff" + b"\xce\xff\xff\xff\xff" + b"\xcf" + b"\xff" * 8
                  + b"\xd0\x80" + b"\xd1\x80\x00" + b"\xd2\x80\x00\x00\x00" + b"\xd3\x80" + b"\x00" * 7
                  + b"\xca\x7f\xc0\x00\x00" + b"\xcb\x7f\xf8" + b"\x00" * 6
                  + b"\xd9\x00" + b"\xda\x00\x01a" + b"\xdb\x00\x00\x00\x00"
                  + b"\xc4\x00" + b"\xc5\x00\x01\x00" + b"\xc6\x00\x00\x00\x00"
                  + b"\xdd\x00\x00\x00\x00" + b"\xdf\x00\x00\x00\x00"),
    "utf8-boundaries": pack({"\u0800": "\u07ff\u0800\ud7ff\ue000\uffff",
                             "\U00010000": "\U0010ffff\x7f\x00"}),
    # Hostile.
    "empty": b"",
    "array32-4g": b"\xdd\xff\xff\xff\xff",  # 5 bytes declaring 2^32-1 elements
    "map-array32-4g": b"\x81\xa1a\xdd\xff\xff\xff\xff",
    "map32-huge": b"\xdf\xff\xff\xff\xff\xa1a\x01",
    "str32-4g": b"\x81\xa1a\xdb\xff\xff\xff\xffxyz",
    "bin32-4g": b"\x81\xa1a\xc6\xff\xff\xff\xffxyz",
    "array-count-short": b"\x81\xa1a\x9f\x01\x02",
    "deep-10000-arrays": nest(10000, b"\x91", b"\xc0"),
    "deep-10000-maps": b"\x81\xa0" * 10000 + b"\xc0",
    "top-array": pack([1, 2, 3]),
    "top-str": pack("ping"),
    "top-nil": b"\xc0",
    "key-int": b"\x81\x01\x02",
    "key-bin": b"\x81\xc4\x02id\x01",
    "key-nil-second": b"\x82\xa2id\x01\xc0\x02",
    "utf8-invalid": b"\x81\xa1a\xa2\xc3\x28",
    "utf8-overlong": b"\x81\xa1a\xa2\xc0\x80",
    "utf8-surrogate": b"\x81\xa1a\xa3\xed\xa0\x80",
    "utf8-above-max": b"\x81\xa1a\xa4\xf4\x90\x80\x80",
    "utf8-truncated-key": b"\x81\xa2\xe2\x9c\x01",
    "utf8-lone-continuation": b"\x81\xa1a\xa1\x80",
    "utf8-f5": b"\x81\xa1a\xa4\xf5\x80\x80\x80",
    "utf8-bad-third": b"\x81\xa1a\xa3\xe2\x82\x28",
    "utf8-e0-overlong": b"\x81\xa1a\xa3\xe0\x80\x80",
    "utf8-f0-overlong": b"\x81\xa1a\xa4\xf0\x80\x80\x80",
    "trailing-nil": PING + b"\xc0",
    "trailing-map": PING + PING,
    "ext-fixext1": b"\x81\xa1a\xd4\x01\x00",
    "ext8": b"\x81\xa1a\xc7\x01\x05x",
    "ext16": b"\x81\xa1a\xc8\x00\x01\x05x",
    "ext32": b"\x81\xa1a\xc9\x00\x00\x00\x01\x05x",
    "ext-fixext2": b"\x81\xa1a\xd5\x01\x00\x00",
    "ext-fixext4": b"\x81\xa1a\xd6\x01" + b"\x00" * 4,
    "ext-fixext8": b"\x81\xa1a\xd7\x01" + b"\x00" * 8,
    "ext-fixext16": b"\x81\xa1a\xd8\x01" + b"\x00" * 16,
    "type-c1": b"\x81\xa1a\xc1",
    "truncated-uint64": b"\x81\xa1a\xcf\x00\x00",
    "truncated-str8-length": b"\x81\xa1a\xd9",
    "truncated-key": b"\x82\xa1a\x01",
    "truncated-map": RUN[:-3],
}


def frame(body, declared=None):
    n = len(body) if declared is None else declared
    return struct.pack(">I", n) + body


def frame_input(stream, max_frame=FRAME_MAX_DEFAULT, seed=0x5A):
    return bytes([max_frame, seed]) + stream


STREAMS = {
    "pipelined": frame_input(frame(PING) + frame(RUN) + frame(CANCEL), seed=1),
    "pipelined-2": frame_input(frame(PING) + frame(CANCEL) + frame(PING), seed=0),
    "len-zero": frame_input(frame(b"") + frame(PING)),
    "len-max": frame_input(frame(PING, declared=0xFFFFFFFF)),
    "len-over-max-frame": frame_input(frame(RUN) + frame(PING), max_frame=FRAME_MAX_16),
    "truncated-frame": frame_input(frame(RUN, declared=len(RUN) + 100)),
    "truncated-header": frame_input(frame(PING) + b"\x00\x00"),
    "array32-4g-frame": frame_input(frame(b"\xdd\xff\xff\xff\xff") + frame(PING)),
}


# fuzz-jsonrpc inputs: a byte choosing the line bound (index into max_lines[]
# of fuzz-jsonrpc.c: 3 is 1 MiB), a byte seeding the chunk sizes, then lines.
ENVELOPE = (
    '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    '"io.modelcontextprotocol/clientCapabilities":{},"progressToken":7}'
)


def jsonrpc_input(lines, max_line=3, seed=0x33):
    return bytes([max_line, seed]) + "".join(line + "\n" for line in lines).encode()


def init(version):
    return (
        '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"%s",'
        '"capabilities":{},"clientInfo":{"name":"seed","version":"1"}}}' % version
    )


INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}'
CALL = (
    '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"execute_python",'
    '"arguments":{"code":"1+1","timeout_s":2.5,"stdin":"x"}%s}}'
)
JSONRPC = {
    "handshake": jsonrpc_input(
        [
            init("2025-06-18"),
            INITIALIZED,
            '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
            CALL % (2, ',"_meta":{"progressToken":"p"}'),
            '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}',
            '{"jsonrpc":"2.0","id":3,"method":"ping"}',
            '{"jsonrpc":"2.0","id":4,"method":"logging/setLevel","params":{"level":"debug"}}',
            '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"health_check"}}',
        ]
    ),
    "stateless": jsonrpc_input(
        [
            '{"jsonrpc":"2.0","id":"d","method":"server/discover","params":{%s}}' % ENVELOPE,
            '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{%s}}' % ENVELOPE,
            CALL % ('"c"', "," + ENVELOPE),
            '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":'
            '{"io.modelcontextprotocol/protocolVersion":"1999-01-01"}}}',
        ]
    ),
    "batch": jsonrpc_input(
        [
            init("2025-03-26"),
            '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"},'
            + CALL % (2, "")
            + ",42,[]]",
            "[]",
        ],
        seed=7,
    ),
    "invalid": jsonrpc_input(
        [
            "garbage",
            "42",
            '{"jsonrpc":"1.0","id":1,"method":"ping"}',
            '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_python",'
            '"arguments":{"code":1,"session":"s","timeout_s":-1}}}',
            '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
            '{"jsonrpc":"2.0","id":1,"method":"ping"',
        ]
    ),
    "long-line": jsonrpc_input(['{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + "x" * 300 + '"}}',
                                '{"jsonrpc":"2.0","id":2,"method":"ping"}'], max_line=1),
}


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "."
    corpus = os.path.join(top, "tests", "fuzz", "corpus")
    for name, body in BODIES.items():
        write(os.path.join(corpus, "fuzz-validate"), name, body)
        write(os.path.join(corpus, "fuzz-frame"), name, frame_input(frame(body)))
    for name, stream in STREAMS.items():
        write(os.path.join(corpus, "fuzz-frame"), name, stream)
    for name, data in JSONRPC.items():
        write(os.path.join(corpus, "fuzz-jsonrpc"), name, data)


if __name__ == "__main__":
    main()
