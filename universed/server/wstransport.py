"""A thin server-side WebSocket (RFC 6455) transport for the agent hot path.

Two layers, as in hypercorn: `FrameParser` is the protocol (bytes in, messages out, no I/O) and
`WebSocket` is the trio adapter. Supported: text and binary messages, fragmentation, ping/pong,
close handshake, a maximum message size (close 1009), masked client frames (unmasked ones are a
protocol error, close 1002). Not supported: extensions (permessage-deflate is simply not
negotiated), which RFC 6455 allows.

Sending never blocks the caller: `WebSocket.send` writes straight to the socket when it can
(the common case: one ``send(2)``), otherwise queues the frame for the connection's writer task.
The queue is bounded (``max_pending`` frames); a peer that lets it fill is disconnected.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections import deque
from collections.abc import Sequence

import trio

from .limits import TokenBucket

__all__ = ["ConnectionClosed", "FrameParser", "ProtocolError", "WebSocket", "accept_key"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConnectionClosed(Exception):
    """The peer closed the connection (or it broke)."""


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def unmask(payload: bytes | bytearray, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeating 4-byte ``mask`` (one big-integer XOR)."""
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * ((n >> 2) + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def frame_head(opcode: int, n: int) -> bytes:
    """The header of an unmasked, final server frame of ``n`` payload bytes."""
    if n < 126:
        return bytes((0x80 | opcode, n))
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n)
    return struct.pack("!BBQ", 0x80 | opcode, 127, n)


def frame(opcode: int, payload: bytes | memoryview) -> bytes:
    """An unmasked, final server frame."""
    return b"".join((frame_head(opcode, len(payload)), payload))


def _rest(parts: Sequence[bytes | memoryview], sent: int) -> bytes:
    """What ``parts`` hold after their first ``sent`` bytes, joined (one copy)."""
    rest: list[bytes | memoryview] = []
    for part in parts:
        n = len(part)
        if sent >= n:
            sent -= n
            continue
        rest.append(memoryview(part)[sent:] if sent else part)
        sent = 0
    return b"".join(rest)


class FrameParser:
    """Bytes in, ``(opcode, payload)`` messages out (control frames included, in order)."""

    def __init__(self, max_message: int, max_fragments: int = 1024) -> None:
        self.max_message = max_message
        self.max_fragments = max_fragments
        self._buf = bytearray()
        self._frag_op: int | None = None
        self._frags: list[bytes] = []
        self._frag_len = 0

    def single_text(self, data: bytes) -> bytes | None:
        """The payload if ``data`` is the usual agent message, one whole, short (< 126 bytes),
        masked text frame and nothing else, with nothing buffered before it; else None (and
        nothing consumed: `feed` it)."""
        n = len(data) - 6
        if (
            0 <= n < 126
            and data[0] == 0x81
            and data[1] == 0x80 | n  # masked, and its payload is the whole rest of ``data``
            and not self._buf
            and self._frag_op is None
            and n <= self.max_message
        ):
            return unmask(data[6:], data[2:6])
        return None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        single = self.single_text(data)
        if single is not None:
            return [(OP_TEXT, single)]
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b0 & 0x70:
                raise ProtocolError(1002, "reserved bits set (no extension negotiated)")
            if not b1 & 0x80:
                raise ProtocolError(1002, "client frames must be masked")
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode >= 0x8:
                if length > 125 or not fin:
                    raise ProtocolError(1002, "bad control frame")
            elif length + self._frag_len > self.max_message:
                raise ProtocolError(1009, f"message larger than {self.max_message} bytes")
            total = head + 4 + length
            if end - pos < total:
                break
            mask = bytes(buf[pos + head : pos + head + 4])
            payload = unmask(buf[pos + head + 4 : pos + total], mask)
            pos += total
            if opcode >= 0x8:
                if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise ProtocolError(1002, f"unknown opcode {opcode}")
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                if self._frag_op is None:
                    raise ProtocolError(1002, "continuation without a first fragment")
                if len(self._frags) >= self.max_fragments:
                    raise ProtocolError(1009, f"more than {self.max_fragments} fragments")
                self._frags.append(payload)
                self._frag_len += length
                if fin:
                    out.append((self._frag_op, b"".join(self._frags)))
                    self._frag_op, self._frags, self._frag_len = None, [], 0
            elif opcode in (OP_TEXT, OP_BIN):
                if self._frag_op is not None:
                    raise ProtocolError(1002, "new message inside a fragmented one")
                if fin:
                    out.append((opcode, payload))
                else:
                    self._frag_op, self._frags, self._frag_len = opcode, [payload], length
            else:
                raise ProtocolError(1002, f"unknown opcode {opcode}")
        if pos:
            del buf[:pos]
        return out


class WebSocket:
    """One accepted WebSocket connection over a trio stream (handshake already done).

    Run `writer` in a task for the connection's lifetime; read with `messages`.
    """

    def __init__(
        self,
        stream: trio.SocketStream,
        *,
        max_message: int,
        max_pending: int = 256,
        max_fragments: int = 1024,
        rate: TokenBucket | None = None,
    ) -> None:
        self.stream = stream
        self.parser = FrameParser(max_message, max_fragments)
        self.rate = rate  # charged one token per data message and per ping
        self.rate_limited = False  # set when ``rate`` ran dry; `messages` then returns early
        self.last_seen = trio.current_time()  # when bytes last arrived (the heartbeat reads it)
        self.closed = False
        self.close_code: int | None = None
        self.ended: str | None = None  # why reading stopped (see `take`)
        self.protocol_error: ProtocolError | None = None
        self._fd = stream.socket.fileno()
        self._pending: deque[bytes] = deque()
        self._max_pending = max_pending
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._writing = False
        self._initial = b""

    def prime(self, data: bytes) -> None:
        """Bytes that arrived with the handshake: parsed before anything read from the socket."""
        self._initial = data

    # ---------------------------------------------------------------- sending

    def send(self, payload: bytes | memoryview, opcode: int = OP_TEXT) -> None:
        """Queue (or directly write) one message; never blocks. Drops silently once closed.

        The direct write gathers the frame header and ``payload`` (one ``writev(2)``): the
        payload, often an observation shared by many connections, is never copied here."""
        if self.closed:
            return
        head = frame_head(opcode, len(payload))
        if not self._pending and not self._writing:
            try:
                sent = os.writev(self._fd, (head, payload))
            except BlockingIOError:
                sent = 0
            except OSError:
                self._abort()
                return
            if sent == len(head) + len(payload):
                return
            data = b"".join((head, payload))[sent:]
        else:
            data = b"".join((head, payload))
        self._queue(data)

    def send_parts(self, parts: Sequence[bytes | memoryview], opcode: int = OP_TEXT) -> None:
        """`send` of one message given in parts (e.g. an envelope's start and a big payload
        shared with other connections): gathered by the same ``writev(2)``, never joined first
        unless the socket takes only part of it."""
        if self.closed:
            return
        size = sum(map(len, parts))
        head = frame_head(opcode, size)
        if not self._pending and not self._writing:
            try:
                sent = os.writev(self._fd, (head, *parts))
            except BlockingIOError:
                sent = 0
            except OSError:
                self._abort()
                return
            if sent == len(head) + size:
                return
            data = _rest((head, *parts), sent)
        else:
            data = b"".join((head, *parts))
        self._queue(data)

    def _queue(self, data: bytes) -> None:
        """Queue a frame (or what of it the socket did not take) for the writer task."""
        if len(self._pending) >= self._max_pending:
            self._abort()  # the peer does not read: let it go rather than buffer forever
            return
        self._pending.append(data)
        self._wake.set()

    def _abort(self) -> None:
        self.closed = True
        self._wake.set()

    async def writer(self) -> None:
        """Flush queued frames until the connection closes."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                while self._pending:
                    self._writing = True
                    chunk = b"".join(self._pending)
                    self._pending.clear()
                    await self.stream.send_all(chunk)
                    self._writing = False
                self._drained.set()
                if self.closed:
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed = True
        finally:
            self._writing = False
            self._drained.set()

    async def flushed(self) -> None:
        """Wait until every queued frame was handed to the kernel (or the connection closed)."""
        while (self._pending or self._writing) and not self.closed:
            self._drained = trio.Event()
            await self._drained.wait()

    def ping(self, payload: bytes) -> None:
        self.send(payload, OP_PING)

    async def abort(self, reason: str) -> None:
        """Give up on the peer (heartbeat): a best-effort close frame, then close the stream."""
        await self.close(1001, reason, wait_reply=False)

    # ---------------------------------------------------------------- receiving

    def take(self, data: bytes, now: float | None = None) -> list[tuple[int, bytes]]:
        """Process received bytes without blocking; the data messages (text/binary) in them.

        Pings are answered here. When the connection must end, ``ended`` says why: "eof" (b""
        received), "close" (the peer's close frame; ``close_code``), "protocol" (a protocol
        error; ``protocol_error``) or "rate" (the rate limit ran dry; ``rate_limited``). The
        messages before the reason are returned. `finish` does the async part (answering the
        close, closing on protocol errors); on "rate" the caller answers, then closes.
        ``now``: trio's clock, if the caller read it for many connections at once.
        """
        if not data:
            self.ended = "eof"
            return []
        if now is None:
            now = trio.current_time()
        self.last_seen = now
        parser = self.parser
        rate = self.rate
        # the usual agent message, with a token to spare (else the general path below refuses
        # it as it must): no frame loop
        single = parser.single_text(data)
        if single is not None and (rate is None or not rate.take(1.0, now)):
            return [(OP_TEXT, single)]
        try:
            frames = parser.feed(data)
        except ProtocolError as exc:
            self.protocol_error = exc
            self.ended = "protocol"
            return []
        out: list[tuple[int, bytes]] = []
        for opcode, payload in frames:
            if rate is not None and opcode in (OP_TEXT, OP_BIN, OP_PING) and rate.take(1.0, now):
                self.rate_limited = True
                self.ended = "rate"
                return out
            if opcode == OP_PING:
                self.send(payload, OP_PONG)
            elif opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.ended = "close"
                return out
            elif opcode != OP_PONG:
                out.append((opcode, payload))
        return out

    async def finish(self) -> None:
        """The async part of ``ended`` (see `take`): answer a close, close on a protocol error."""
        if self.ended == "eof":
            self.closed = True
        elif self.ended == "protocol":
            assert self.protocol_error is not None
            await self.close(self.protocol_error.code, self.protocol_error.reason)
        elif self.ended == "close":
            code = self.close_code if self.close_code is not None else 1005
            await self.close(1000 if code == 1005 else code, "", wait_reply=False)

    async def messages(self) -> list[tuple[int, bytes]]:
        """The next data messages (text/binary) received; [] means the connection is over.

        Pings are answered, a close is answered and ends the connection (see `take`).
        """
        while not self.closed and self.ended is None:
            if self._initial:
                data, self._initial = self._initial, b""
            else:
                try:
                    data = await self.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
            out = self.take(data)
            if self.ended not in (None, "rate"):
                await self.finish()
            if out or self.ended is not None:
                return out
        return []

    async def close(self, code: int = 1000, reason: str = "", *, wait_reply: bool = True) -> None:
        """Send a close frame (best effort), wait up to 1 s for the peer's, close the stream."""
        if self.stream.socket.fileno() < 0:
            self.closed = True
            return
        if code in (1005, 1006, 1015) or not (1000 <= code < 5000):
            code = 1000
        payload = struct.pack("!H", code) + reason.encode()[:120]
        self.closed = True
        self._wake.set()
        with trio.move_on_after(1.0) as scope:
            scope.shield = True
            try:
                pending = b"".join(self._pending)
                self._pending.clear()
                await self.stream.send_all(pending + frame(OP_CLOSE, payload))
                if wait_reply:
                    await self._await_close_reply()
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                pass
        await self.stream.aclose()

    async def _await_close_reply(self) -> None:
        """After our close frame, read until the peer's close frame or EOF (RFC 6455 7.1.1)."""
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                return
            try:
                frames = self.parser.feed(data)
            except ProtocolError:
                return
            if any(op == OP_CLOSE for op, _ in frames):
                return
