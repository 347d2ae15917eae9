"""The thin WebSocket transport: frame parser units, and a standard client against the server."""

from __future__ import annotations

import os
import struct

import pytest
import trio
from helpers import agent, recv_type, register, running_daemon

from devtools.soak import client_frame
from universed.server.wstransport import (
    OP_BIN,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameParser,
    ProtocolError,
    WebSocket,
    _rest,
    accept_key,
    frame,
)


def test_accept_key_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 65535, 65536, 100_000])
def test_roundtrip_sizes_split_anywhere(size: int) -> None:
    payload = os.urandom(size)
    data = client_frame(OP_BIN, payload)
    parser = FrameParser(1 << 20)
    out = []
    for i in range(0, len(data), 7777):  # arbitrary chunking
        out += parser.feed(data[i : i + 7777])
    assert out == [(OP_BIN, payload)]


def test_whole_text_frames_of_every_short_and_extended_size() -> None:
    """The single-frame shortcut (`FrameParser.single_text`) takes exactly the whole, short,
    masked text frames; at 126 bytes and up (extended lengths) and for anything else the
    general parser does, with the same result."""
    for size in range(300):
        payload = os.urandom(size)
        data = client_frame(OP_TEXT, payload)
        single = FrameParser(1 << 20).single_text(data)
        assert single == (payload if size < 126 else None), size
        assert FrameParser(1 << 20).feed(data) == [(OP_TEXT, payload)], size
        assert FrameParser(1 << 20).single_text(data + data) is None  # two frames
        assert FrameParser(1 << 20).single_text(data[:-1]) is None  # a part
    binary = client_frame(OP_BIN, b"abc")
    assert FrameParser(1 << 20).single_text(binary) is None
    with pytest.raises(ProtocolError):  # too large for this parser: the general path says so
        FrameParser(10).feed(client_frame(OP_TEXT, b"x" * 11))


def test_fragmentation_with_interleaved_ping() -> None:
    parser = FrameParser(1024)
    data = (
        client_frame(OP_TEXT, b"hel", fin=False)
        + client_frame(OP_PING, b"p")
        + client_frame(0, b"lo", fin=False)
        + client_frame(0, b"!", fin=True)
    )
    assert parser.feed(data) == [(OP_PING, b"p"), (OP_TEXT, b"hello!")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client_frame(OP_TEXT, b"x", mask=False), 1002),
        (client_frame(0, b"x"), 1002),
        (client_frame(OP_PING, b"x", fin=False), 1002),
        (client_frame(OP_TEXT, b"x" * 2000), 1009),
        (client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"), 1002),
        (bytes((0xC1, 0x80)) + b"\0\0\0\0", 1002),
        (client_frame(0x3, b""), 1002),
    ],
)
def test_protocol_errors(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        FrameParser(1024).feed(data)
    assert info.value.code == code


def test_server_frames() -> None:
    assert frame(OP_TEXT, b"hi") == b"\x81\x02hi"
    assert frame(OP_CLOSE, b"")[:2] == b"\x88\x00"
    assert frame(OP_TEXT, b"x" * 300)[:4] == b"\x81\x7e\x01\x2c"
    assert frame(OP_TEXT, b"x" * 70000)[:2] == b"\x81\x7f"


async def test_standard_client_ping_and_large_messages() -> None:
    async with running_daemon(mode="paused", max_message_bytes=4096) as d:
        async with agent(d.port) as ws:
            with trio.fail_after(5):
                await ws.ping(b"are you there")  # returns once the pong arrived
            await register(ws)
            await ws.send_message("x" * 4000)  # under the limit: a JSON error, connection stays
            err = await recv_type(ws, "error")
            assert err["code"] == "bad_json"
        # an oversized message closes the connection with 1009 (raw client: exact frames)
        stream = await trio.open_tcp_stream("127.0.0.1", d.port)
        await stream.send_all(UPGRADE + client_frame(OP_TEXT, b"x" * 5000))
        data = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                data += chunk
                if b"\r\n\r\n" in data and data.split(b"\r\n\r\n", 1)[1][:1] == b"\x88":
                    break
            await stream.send_all(client_frame(OP_CLOSE, b"\x03\xf1"))
        await stream.aclose()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert rest[0] == 0x88 and struct.unpack("!H", rest[2:4])[0] == 1009


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_bad_handshakes_get_http_errors() -> None:
    async with running_daemon(mode="paused") as d:
        stream = await trio.open_tcp_stream("127.0.0.1", d.port)
        await stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        reply = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 400")
        assert b"bad WebSocket handshake" in reply
        await stream.aclose()


def test_rest_of_parts_after_a_partial_write() -> None:
    parts = (b"ab", memoryview(b"xcdefg")[1:], b"", b"hij")
    whole = b"abcdefghij"
    for sent in range(len(whole) + 1):
        assert _rest(parts, sent) == whole[sent:]


async def test_a_message_in_parts_arrives_as_one_frame_even_when_the_socket_is_full() -> None:
    """`WebSocket.send_parts` (an envelope's start and a shared payload, never joined first):
    a message larger than the socket takes at once is finished by the writer task, in order
    with the messages queued behind it."""
    left, right = trio.socket.socketpair()
    server = trio.SocketStream(left)
    peer = trio.SocketStream(right)
    ws = WebSocket(server, max_message=1 << 20)
    group = b"{" + os.urandom(3 << 20) + b"}"
    messages = [(b'{"type":"a",', group), (b'{"type":"b",', b"{}")]
    got = bytearray()
    want = b"".join(frame(OP_TEXT, head + body[1:]) for head, body in messages)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ws.writer)
        for head, body in messages:
            ws.send_parts((head, memoryview(body)[1:]))
        assert ws._pending  # the socket took only part of the first message
        with trio.fail_after(10):
            while len(got) < len(want):
                got += await peer.receive_some(1 << 16)
        nursery.cancel_scope.cancel()
    assert bytes(got) == want
    await server.aclose()
    await peer.aclose()
