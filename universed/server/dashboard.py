"""Fan-out of the per-tick dashboard message to any number of slow or fast readers.

Subscribers listen in one of two shapes (``/ws/dashboard?shape=readable``, default
``reference``); the engine encodes one message per shape that has subscribers, once per tick,
and publishes each to that shape's subscribers.

Each subscriber has a bounded queue (``dashboard_queue`` ticks): publishing never waits; when a
subscriber's queue is full the oldest pending tick is dropped (so a client too slow for the tick
rate sees the newest state, coalesced). A client that keeps up gets every tick. The queued
messages are the shared encoded bytes, so the backlog costs at most ``dashboard_queue`` messages
of memory however many clients lag.
"""

from __future__ import annotations

from collections import deque

import trio

__all__ = ["SHAPES", "DashboardHub", "Subscription"]

SHAPES = ("reference", "readable")


class Subscription:
    def __init__(self, depth: int, shape: str = "reference") -> None:
        self.pending: deque[bytes] = deque(maxlen=depth)
        self.shape = shape
        self.dropped = 0
        self._wake = trio.Event()

    def offer(self, message: bytes) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append(message)
        self._wake.set()

    async def next(self) -> bytes:
        """The oldest pending message, waiting for one if none is pending."""
        while not self.pending:
            await self._wake.wait()
            self._wake = trio.Event()
        return self.pending.popleft()


class DashboardHub:
    """``subscribers``: every subscription; ``by_shape[shape]``: those of one shape."""

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self.subscribers: set[Subscription] = set()
        self.by_shape: dict[str, set[Subscription]] = {shape: set() for shape in SHAPES}

    def subscribe(self, shape: str = "reference") -> Subscription:
        if shape not in self.by_shape:
            raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
        sub = Subscription(self.depth, shape)
        self.subscribers.add(sub)
        self.by_shape[shape].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        self.by_shape[sub.shape].discard(sub)

    def listening(self, shape: str) -> bool:
        """Whether any subscriber listens in ``shape``."""
        return bool(self.by_shape[shape])

    def publish(self, message: bytes, shape: str | None = None) -> None:
        """Offer ``message`` to the subscribers of ``shape`` (None: to every subscriber)."""
        for sub in self.subscribers if shape is None else self.by_shape[shape]:
            sub.offer(message)
