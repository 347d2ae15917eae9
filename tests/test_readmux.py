"""ReadMux: one task reading many sockets (the agent receive path)."""

from __future__ import annotations

import logging
import socket

import pytest
import trio

from universed.server import readmux
from universed.server.readmux import ReadMux

pytestmark = pytest.mark.skipif(not readmux.available(), reason="epoll is Linux-only")


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    return a, b


class Sink:
    def __init__(self, keep: bool = True) -> None:
        self.data: list[bytes] = []
        self.keep = keep
        self.event = trio.Event()

    def __call__(self, data: bytes, now: float) -> bool:
        self.data.append(data)
        self.event.set()
        return self.keep

    async def next(self) -> bytes:
        with trio.fail_after(5):
            await self.event.wait()
        self.event = trio.Event()
        return self.data[-1]


async def test_routes_each_socket_to_its_reader_until_eof() -> None:
    mux = ReadMux()
    (a, a_peer), (b, b_peer) = pair(), pair()
    sink_a, sink_b = Sink(), Sink()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mux.run)
        mux.add(a.fileno(), sink_a)
        mux.add(b.fileno(), sink_b)
        b_peer.sendall(b"to b")
        assert await sink_b.next() == b"to b"
        a_peer.sendall(b"to a")
        assert await sink_a.next() == b"to a"
        a_peer.close()
        assert await sink_a.next() == b""  # EOF is delivered, then the socket leaves the set
        assert len(mux) == 1
        b_peer.sendall(b"still")
        assert await sink_b.next() == b"still"
        nursery.cancel_scope.cancel()
    assert sink_a.data == [b"to a", b""]
    for s in (a, b, b_peer):
        s.close()


async def test_reader_that_raises_is_dropped_alone(caplog: pytest.LogCaptureFixture) -> None:
    mux = ReadMux()
    (bad, bad_peer), (good, good_peer) = pair(), pair()

    exploded = trio.Event()

    def explode(data: bytes, now: float) -> bool:
        exploded.set()
        raise RuntimeError("boom")

    sink = Sink()
    with caplog.at_level(logging.ERROR, logger="universed.server.readmux"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mux.run)
            mux.add(bad.fileno(), explode)
            mux.add(good.fileno(), sink)
            bad_peer.sendall(b"x")
            good_peer.sendall(b"y")
            assert await sink.next() == b"y"
            with trio.fail_after(5):
                await exploded.wait()
            assert len(mux) == 1  # removed before the mux task could yield
            good_peer.sendall(b"z")
            assert await sink.next() == b"z"
            nursery.cancel_scope.cancel()
    assert "failed while reading" in caplog.text
    for s in (bad, bad_peer, good, good_peer):
        s.close()


async def test_reader_returning_false_stops_reading() -> None:
    mux = ReadMux()
    a, peer = pair()
    sink = Sink(keep=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mux.run)
        mux.add(a.fileno(), sink)
        peer.sendall(b"last")
        assert await sink.next() == b"last"
        assert len(mux) == 0
        nursery.cancel_scope.cancel()
    a.close()
    peer.close()


def test_remove_ignores_a_reused_descriptor() -> None:
    mux = ReadMux()
    a, peer = pair()
    old, new = Sink(), Sink()
    fd = a.fileno()
    mux.add(fd, old)
    mux.add(fd, new)  # the number now belongs to a newer connection
    mux.remove(fd, old)  # the old connection's cleanup must not drop the new one
    assert len(mux) == 1
    mux.remove(fd, new)
    mux.remove(fd, new)  # idempotent
    assert len(mux) == 0
    mux.close()
    a.close()
    peer.close()
