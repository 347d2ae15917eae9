"""Limits that keep one abusive peer from hurting the others (docs/security.md).

* `TokenBucket`: ``rate`` events per second with bursts up to ``burst``; answers "how long until
  this would be allowed" so REST can send ``Retry-After``. Time comes from an injectable clock
  (default `trio.current_time`, so tests run on trio's autojump clock).
* `KeyedRateLimiter`: one bucket per key (client address), with a bounded table: idle buckets
  are evicted first, so a flood of addresses cannot grow memory without end.
* `ConnectionLimiter`: connections in total and per address; `acquire` gives a `Slot` to release.
* `Heartbeat`: pings a connection every ``interval`` and closes it when nothing at all (a pong or
  any message) arrived for ``timeout`` after a ping: it reaps half-open connections, whose reader
  would otherwise wait forever.

Queue bounds live where the queues are: per-connection send queue (wstransport
``max_pending``), dashboard coalescing (dashboard.py), WebSocket message and fragment sizes
(wstransport), request heads (gateway), REST bodies (api ``MAX_CONTENT_LENGTH``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import attrs
import trio

__all__ = [
    "ConnectionLimiter",
    "Heartbeat",
    "KeyedRateLimiter",
    "LimitExceeded",
    "Limits",
    "Slot",
    "TokenBucket",
]

Clock = Callable[[], float]


@attrs.frozen
class Limits:
    """The configurable limits, with their safe defaults (mirrors the config keys)."""

    max_connections: int = 4096
    max_connections_per_address: int = 1024
    ws_messages_per_second: float = 5000.0
    ws_message_burst: int = 10000
    rest_requests_per_second: float = 50.0
    rest_request_burst: int = 100
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    max_rest_body: int = 1 << 20
    ws_send_queue: int = 256
    ws_max_fragments: int = 1024


class LimitExceeded(Exception):
    """A connection limit was hit; ``scope`` is ``"total"`` or ``"address"``."""

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message)
        self.scope = scope
        self.message = message


def _now() -> float:
    return trio.current_time()


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full.

    Args:
        rate: tokens added per second (> 0).
        burst: bucket capacity (>= 1).
        clock: seconds, monotonic (default `trio.current_time`).
    """

    __slots__ = ("_clock", "_level", "_stamp", "burst", "rate")

    def __init__(self, rate: float, burst: float, clock: Clock = _now) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._level = float(burst)
        self._stamp = clock()

    def _refill(self, now: float | None = None) -> float:
        if now is None:
            now = self._clock()
        if now > self._stamp:
            self._level = min(self.burst, self._level + (now - self._stamp) * self.rate)
            self._stamp = now
        return self._level

    def take(self, n: float = 1.0, now: float | None = None) -> float:
        """Take ``n`` tokens if there are enough: 0.0; else take none and return the wait (s).
        ``now``: the clock's time, if the caller has read it already (a burst of messages)."""
        level = self._refill(now)
        if level >= n - 1e-9:  # float sums of rate * dt land a hair short of whole tokens
            self._level = max(0.0, level - n)
            return 0.0
        if n > self.burst:
            return math.inf
        return (n - level) / self.rate

    @property
    def full(self) -> bool:
        return self._refill() >= self.burst


class KeyedRateLimiter:
    """One `TokenBucket` per key, at most ``max_keys`` kept (full buckets evicted first)."""

    def __init__(
        self, rate: float, burst: float, *, max_keys: int = 65536, clock: Clock = _now
    ) -> None:
        TokenBucket(rate, burst, clock)  # validate now, not on the first request
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, n: float = 1.0) -> float:
        """0.0 if allowed, else the seconds to wait (see `TokenBucket.take`)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._clock)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(n)

    def _evict(self) -> None:
        # least recently used first; a full bucket holds no information, so dropping it is free.
        # If none of the oldest are full, drop the oldest anyway: memory stays bounded.
        for key in list(self._buckets)[: max(1, len(self._buckets) // 8)]:
            if self._buckets[key].full:
                del self._buckets[key]
        while len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class Slot:
    """A held connection slot; `release` is idempotent."""

    __slots__ = ("_limiter", "address")

    def __init__(self, limiter: ConnectionLimiter, address: str) -> None:
        self._limiter: ConnectionLimiter | None = limiter
        self.address = address

    def release(self) -> None:
        if self._limiter is not None:
            self._limiter._release(self.address)
            self._limiter = None

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class ConnectionLimiter:
    """Counts open connections in total and per address (the host part, without the port)."""

    def __init__(self, max_total: int, max_per_address: int) -> None:
        if max_total < 1 or max_per_address < 1:
            raise ValueError("connection limits must be >= 1")
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.total = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0

    def acquire(self, address: str) -> Slot:
        """A slot for one more connection from ``address``.

        Raises:
            LimitExceeded: the total or the per-address limit is reached.
        """
        if self.total >= self.max_total:
            self.refused += 1
            raise LimitExceeded(
                "total", f"the server is at its limit of {self.max_total} connections"
            )
        count = self.by_address.get(address, 0)
        if count >= self.max_per_address:
            self.refused += 1
            raise LimitExceeded(
                "address", f"at most {self.max_per_address} connections per address"
            )
        self.total += 1
        self.by_address[address] = count + 1
        return Slot(self, address)

    def _release(self, address: str) -> None:
        self.total -= 1
        count = self.by_address[address] - 1
        if count:
            self.by_address[address] = count
        else:
            del self.by_address[address]


class Pingable(Protocol):
    """What `Heartbeat` needs from a connection."""

    last_seen: float  # trio.current_time() of the latest bytes received

    def ping(self, payload: bytes) -> None: ...

    async def abort(self, reason: str) -> None: ...


class Heartbeat:
    """Reap a connection whose peer went silent (see the module docstring).

    Args:
        conn: the connection (its ``last_seen`` is updated by its reader).
        interval: seconds between pings (a ping is only sent after ``interval`` of silence).
        timeout: seconds to wait for any inbound bytes after a ping.
    """

    def __init__(self, conn: Pingable, interval: float, timeout: float) -> None:
        if not interval > 0 or not timeout > 0:
            raise ValueError("heartbeat interval and timeout must be > 0")
        self.conn = conn
        self.interval = interval
        self.timeout = timeout
        self.reaped = False

    async def run(self) -> None:
        """Until cancelled or the peer is reaped (then ``conn.abort`` was awaited).

        Cancellation: safe at any point; nothing is left half-done.
        """
        conn = self.conn
        while True:
            idle_until = conn.last_seen + self.interval
            now = trio.current_time()
            if now < idle_until:
                await trio.sleep_until(idle_until)
                continue
            pinged_at = now
            conn.ping(b"hb")
            await trio.sleep_until(pinged_at + self.timeout)
            if conn.last_seen < pinged_at:
                self.reaped = True
                await conn.abort(f"no reply to a ping in {self.timeout:g} s")
                return
