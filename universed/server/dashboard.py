"""Fan-out of the per-tick dashboard message to any number of slow or fast readers.

Each subscriber has a bounded queue (``dashboard_queue`` ticks, default 1): publishing never
waits; when a subscriber's queue is full the oldest pending tick is dropped (so a slow client
sees the newest state, coalesced). The message is encoded once per tick, only when somebody
is subscribed.
"""

from __future__ import annotations

from collections import deque

import trio

__all__ = ["DashboardHub", "Subscription"]


class Subscription:
    def __init__(self, depth: int) -> None:
        self.pending: deque[bytes] = deque(maxlen=depth)
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
    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self.subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        sub = Subscription(self.depth)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def publish(self, message: bytes) -> None:
        for sub in self.subscribers:
            sub.offer(message)
