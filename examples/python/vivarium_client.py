# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small client for the vivarium RPC (version 1).

The daemon, ``vivarium serve``, listens on a unix stream socket.  Every
message in either direction is one *frame*: a 4-byte big-endian length
followed by exactly that many bytes holding one msgpack map.  A request is
``{"id": uint, "method": str, "params": map}``; the server answers each one
with exactly one final response, ``{"id", "result": map}`` or
``{"id", "error": {"code", "message", "data"}}``, optionally preceded by
``{"id", "event": "stdout" | "stderr", "data": bin}`` events when the request
asked for streaming.  The contract is vivarium-protocol(7).

Typical use::

    from vivarium_client import Client, RpcError

    with Client() as c:
        r = c.run("import sys; print('hi'); 6 * 7")
        print(r["status"], r["stdout"], r["value"])   # ok b'hi\\n' 42

        # Stream the output as it is produced:
        c.run("for i in range(3): print(i)",
              on_output=lambda stream, data: print(stream, data))

The convenience methods (``call``, ``run``, ``ping``, ``status``, ``cancel``)
wait for their own final response.  Messages for other requests that arrive in
the meantime (because requests were pipelined with ``send``) are kept, in
order, and handed out later by ``recv``.  A ``Client`` is not thread-safe: use
one per thread, or serialise access to it.

Only Debian's ``python3-msgpack`` is needed besides the standard library.
"""

import itertools
import os
import socket
import struct
import time

import msgpack

__all__ = [
    "Client",
    "RpcError",
    "ConnectionClosed",
    "ProtocolError",
    "default_socket_path",
    "encode_frame",
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "OVERLOADED",
    "SHUTTING_DOWN",
    "NO_SUCH_SESSION",
    "NO_SUCH_ENVIRONMENT",
    "TOO_MANY_REQUESTS",
]

# Error codes (vivarium-protocol(7)).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
OVERLOADED = -32000
SHUTTING_DOWN = -32001
NO_SUCH_SESSION = -32002
NO_SUCH_ENVIRONMENT = -32003
TOO_MANY_REQUESTS = -32004

_HEADER = struct.Struct(">I")
# The largest frame we accept from the server.  Results hold at most two
# capped output streams plus a few images, far below this.
DEFAULT_MAX_FRAME = 256 << 20


class RpcError(Exception):
    """An error response: ``code``, ``message`` and optional ``data``.

    ``id`` is the id the error answered (0 for a connection-level error such
    as a framing error, after which the server closes the connection).
    """

    def __init__(self, code, message, data=None, id=None):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data
        self.id = id


class ConnectionClosed(ConnectionError):
    """The server closed the connection (end of file)."""


class ProtocolError(Exception):
    """The server sent something that is not a valid frame or message."""


def default_socket_path():
    """The socket the daemon listens on by default, resolved like the server.

    ``$VIVARIUM_SOCKET`` if set, else ``$XDG_RUNTIME_DIR/vivarium.sock`` if
    ``XDG_RUNTIME_DIR`` is set, else ``/run/vivarium/vivarium.sock`` (the
    system service, which runs as root).
    """
    path = os.environ.get("VIVARIUM_SOCKET")
    if path:
        return path
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "vivarium.sock")
    return "/run/vivarium/vivarium.sock"


def encode_frame(obj):
    """One frame holding ``obj`` packed as msgpack (str as str, bytes as bin)."""
    payload = msgpack.packb(obj, use_bin_type=True)
    return _HEADER.pack(len(payload)) + payload


class Client:
    """One connection to a vivarium daemon.

    ``path`` is the socket path (default: ``default_socket_path()``).
    ``timeout`` is the default limit, in seconds, on how long ``call``,
    ``run`` and ``recv`` wait for the server (None: forever); each of them
    also takes its own ``timeout``.  ``max_frame`` bounds the frames accepted
    from the server.  The connection is made at once; use the client as a
    context manager, or call ``close()``.
    """

    def __init__(self, path=None, *, timeout=None, max_frame=DEFAULT_MAX_FRAME):
        self.path = path or default_socket_path()
        self.timeout = timeout
        self.max_frame = max_frame
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(self.path)
        except BaseException:
            self._sock.close()
            raise
        self._buf = bytearray()  # bytes read but not yet a whole frame
        self._pending = []  # messages read for someone else, oldest first
        self._next_id = itertools.count(1)
        self._used_ids = set()  # ids passed to send(); call() avoids them

    # ------------------------------------------------------------ lifetime

    def close(self):
        """Close the connection (requests in flight are abandoned)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        """The socket's file descriptor (for select/poll)."""
        return self._sock.fileno()

    # ------------------------------------------------------------ low level

    def send(self, id, method, params=None):
        """Send one request without waiting for its answer (pipelining).

        ``id`` must be a nonzero unsigned integer unique among this
        connection's requests in flight; read the answers with ``recv``.
        """
        msg = {"id": id, "method": method}
        if params is not None:
            msg["params"] = params
        if isinstance(id, int):
            self._used_ids.add(id)
        self.send_raw(encode_frame(msg))

    def send_raw(self, data):
        """Send bytes as they are: frames built by hand, or broken ones."""
        self._sock.sendall(data)

    def recv(self, timeout=None):
        """The next message from the server, a response or an event, as a dict.

        Messages kept back by ``call`` come first.  Waits at most ``timeout``
        seconds (default: the client's), then raises ``TimeoutError``.
        Raises ``ConnectionClosed`` at end of file and ``ProtocolError`` for
        a malformed frame.
        """
        if self._pending:
            return self._pending.pop(0)
        return self._read_message(self._deadline(timeout))

    # ------------------------------------------------------------ calls

    def call(self, method, params=None, timeout=None, on_event=None):
        """Send a request and wait for its final response; return its result.

        Raises ``RpcError`` for an error response.  Events for this request
        are passed to ``on_event(message)`` (and dropped without one).
        ``timeout`` (seconds) bounds the whole wait; ``TimeoutError`` leaves
        the request in flight and its answer will come out of ``recv``.
        """
        id = self._new_id()
        self.send(id, method, params)
        self._used_ids.discard(id)
        deadline = self._deadline(timeout)
        while True:
            msg = self._read_message(deadline)
            mid = msg.get("id")
            if mid == id:
                if "event" in msg:
                    if on_event is not None:
                        on_event(msg)
                    continue
                return self._final(msg)
            if mid == 0 and "error" in msg:
                # A connection-level error (framing): ours as much as anyone's.
                return self._final(msg)
            self._pending.append(msg)

    def ping(self, timeout=None):
        """``ping``: returns ``{}``."""
        return self.call("ping", timeout=timeout)

    def status(self, timeout=None):
        """``status``: pool and service figures (see vivarium-protocol(7))."""
        return self.call("status", timeout=timeout)

    def cancel(self, id, timeout=None):
        """``cancel`` the request ``id`` of this connection; returns ``{}``.

        The cancelled request still gets its final response, with status
        ``cancelled`` (unless it had already finished); read it with ``recv``.
        """
        return self.call("cancel", {"id": id}, timeout=timeout)

    def run(self, code, *, timeout_ms=None, stdin=None, stream=None, env=None,
            session=None, memory_mb=None, processes=None, cpus=None, on_output=None,
            timeout=None):
        """Run Python ``code`` and return the ``run`` result as a dict.

        ``timeout_ms``: the wall-clock deadline (server default when None).
        ``stdin``: bytes or str for the code's standard input.
        ``stream``: ask for ``stdout``/``stderr`` events; defaults to True
        when ``on_output`` is given.  ``on_output(stream_name, data)`` is
        called with each event's stream name ("stdout" or "stderr") and bytes
        as they arrive.  ``env``/``session``: environment and session names.
        ``timeout``: seconds to wait for the answer (default: the client's).

        The result holds ``status`` ("ok", "exception", "timeout", "memory",
        "killed", "cancelled", "crashed"), ``stdout``/``stderr`` (bytes),
        ``value`` (repr of the last expression, or None), ``exception``,
        ``images``, ``wall_ms``, ``cpu_ms``, ``max_rss_kb``, ``limits`` (the
        limits the run had) and more.  A
        failing code is a result, not an exception; ``RpcError`` means the
        request was not served.
        """
        params = {"code": code}
        if timeout_ms is not None:
            params["timeout_ms"] = timeout_ms
        if stdin is not None:
            params["stdin"] = stdin
        if stream is None:
            stream = on_output is not None
        if stream:
            params["stream"] = True
        if env is not None:
            params["env"] = env
        if session is not None:
            params["session"] = session
        for key, value in (("memory_mb", memory_mb), ("processes", processes), ("cpus", cpus)):
            if value is not None:
                params[key] = value

        def on_event(msg):
            if on_output is not None:
                on_output(msg.get("event"), msg.get("data"))

        return self.call("run", params, timeout=timeout, on_event=on_event)

    # ------------------------------------------------------------ internals

    def _new_id(self):
        while True:
            id = next(self._next_id)
            if id not in self._used_ids:
                return id

    def _deadline(self, timeout):
        if timeout is None:
            timeout = self.timeout
        return None if timeout is None else time.monotonic() + timeout

    @staticmethod
    def _final(msg):
        if "error" in msg:
            err = msg["error"]
            if not isinstance(err, dict):
                raise ProtocolError(f"malformed error response: {msg!r}")
            raise RpcError(err.get("code"), err.get("message"), err.get("data"), msg.get("id"))
        if "result" in msg:
            return msg["result"]
        raise ProtocolError(f"response with neither result nor error: {msg!r}")

    def _fill(self, want, deadline):
        """Read until the buffer holds ``want`` bytes."""
        if self._sock is None:
            raise ConnectionClosed("the client is closed")
        while len(self._buf) < want:
            if deadline is None:
                self._sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer from the vivarium daemon in time")
                self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(max(65536, want - len(self._buf)))
            except socket.timeout:
                raise TimeoutError("no answer from the vivarium daemon in time") from None
            if not chunk:
                if self._buf:
                    raise ConnectionClosed("the server closed the connection in the middle of a frame")
                raise ConnectionClosed("the server closed the connection")
            self._buf += chunk

    def _read_message(self, deadline):
        # The buffer keeps partial frames across timeouts, so a TimeoutError
        # never desynchronises the stream.
        self._fill(_HEADER.size, deadline)
        (n,) = _HEADER.unpack_from(self._buf)
        if n == 0 or n > self.max_frame:
            raise ProtocolError(f"frame length {n} out of range")
        self._fill(_HEADER.size + n, deadline)
        payload = bytes(self._buf[_HEADER.size:_HEADER.size + n])
        del self._buf[:_HEADER.size + n]
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(n, 1))
        unpacker.feed(payload)
        try:
            msg = unpacker.unpack()
        except (msgpack.OutOfData, ValueError) as e:
            raise ProtocolError(f"undecodable frame: {e}") from None
        if unpacker.tell() != n:
            raise ProtocolError("trailing bytes after the message in a frame")
        if not isinstance(msg, dict):
            raise ProtocolError(f"a frame that is not a map: {msg!r:.100}")
        return msg
