"""Unit tests of universed.server.limits on trio's autojump clock (no real sleeps)."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from universed.server.limits import (
    ConnectionLimiter,
    Heartbeat,
    KeyedRateLimiter,
    LimitExceeded,
    TokenBucket,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.1)
    clock.now += 0.05
    assert bucket.take() == pytest.approx(0.05)  # refused takes take nothing
    clock.now += 0.05
    assert bucket.take() == 0.0
    assert bucket.take(5) == math.inf  # can never fit
    clock.now += 100
    assert bucket.full and bucket.take(3) == 0.0 and not bucket.full


def test_bucket_validates() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1, 0.5)


async def test_bucket_on_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(rate=2, burst=1)
    assert bucket.take() == 0.0
    wait = bucket.take()
    assert wait == pytest.approx(0.5)
    await trio.sleep(wait)
    assert bucket.take() == 0.0


def test_keyed_limiter_is_per_key_and_bounded() -> None:
    clock = FakeClock()
    limiter = KeyedRateLimiter(1, 2, max_keys=4, clock=clock)
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0
    for i in range(100):
        limiter.take(f"flood{i}")
        assert len(limiter) <= 4
    # "a" was evicted long ago: a fresh full bucket (evicting an empty one only costs leniency)
    assert limiter.take("a") == 0.0


def test_keyed_limiter_evicts_idle_buckets_first() -> None:
    clock = FakeClock()
    limiter = KeyedRateLimiter(1, 1, max_keys=2, clock=clock)
    limiter.take("idle")
    clock.now += 10  # "idle" refilled: full
    limiter.take("busy")
    limiter.take("new")  # evicts "idle" (full), keeps "busy" (empty)
    assert limiter.take("busy") > 0


def test_connection_limits() -> None:
    limiter = ConnectionLimiter(max_total=3, max_per_address=2)
    a1 = limiter.acquire("10.0.0.1")
    a2 = limiter.acquire("10.0.0.1")
    with pytest.raises(LimitExceeded) as per_addr:
        limiter.acquire("10.0.0.1")
    assert per_addr.value.scope == "address"
    b1 = limiter.acquire("10.0.0.2")
    with pytest.raises(LimitExceeded) as total:
        limiter.acquire("10.0.0.3")
    assert total.value.scope == "total"
    assert limiter.refused == 2
    a1.release()
    a1.release()  # idempotent
    with limiter.acquire("10.0.0.1"):
        assert limiter.total == 3
    a2.release()
    b1.release()
    assert limiter.total == 0 and limiter.by_address == {}


class FakeConn:
    def __init__(self) -> None:
        self.last_seen = trio.current_time()
        self.pings: list[float] = []
        self.aborted: str | None = None
        self.answer = True

    def ping(self, payload: bytes) -> None:
        self.pings.append(trio.current_time())

    async def abort(self, reason: str) -> None:
        self.aborted = reason


async def test_heartbeat_keeps_a_live_peer(autojump_clock: trio.testing.MockClock) -> None:
    conn = FakeConn()
    hb = Heartbeat(conn, interval=5, timeout=2)

    async def pong_soon() -> None:
        seen = 0
        while True:
            await trio.sleep(0.5)
            if len(conn.pings) > seen:
                seen = len(conn.pings)
                conn.last_seen = trio.current_time()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hb.run)
        nursery.start_soon(pong_soon)
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert conn.aborted is None and not hb.reaped
    assert 8 <= len(conn.pings) <= 12  # one per interval of silence (+ pong delay)


async def test_heartbeat_no_ping_while_traffic_flows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conn = FakeConn()

    async def chatty() -> None:
        while True:
            await trio.sleep(1)
            conn.last_seen = trio.current_time()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(Heartbeat(conn, interval=5, timeout=2).run)
        nursery.start_soon(chatty)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert conn.pings == [] and conn.aborted is None


async def test_heartbeat_reaps_a_silent_peer(autojump_clock: trio.testing.MockClock) -> None:
    conn = FakeConn()
    hb = Heartbeat(conn, interval=5, timeout=2)
    start = trio.current_time()
    with trio.fail_after(100):
        await hb.run()
    assert hb.reaped and conn.aborted == "no reply to a ping in 2 s"
    assert trio.current_time() - start == pytest.approx(7)
    assert conn.pings == [pytest.approx(start + 5)]


def test_heartbeat_validates() -> None:
    with pytest.raises(ValueError):
        Heartbeat(FakeConn.__new__(FakeConn), 0, 1)
