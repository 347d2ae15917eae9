"""One task reads every agent connection: the receive side of the hot path (Linux epoll).

With a reader task per connection, every agent message costs a trio task switch, a failed
``recv`` and an ``epoll_ctl`` to re-arm trio's one-shot registration before the real read: about
60 us of daemon CPU per message, which caps 1,000 agents at ~12 ticks/s on the reference machine
(docs/performance.md, "Daemon"). Here the agent sockets sit in our own level-triggered epoll set;
trio waits for *that* descriptor to become readable, and one wakeup then drains every socket that
has data, calling each connection's ``on_data`` synchronously. A connection's task still owns its
lifecycle (registration, close, heartbeat); it only sleeps until ``on_data`` hands it work that
must await.

``on_data(data, now)`` gets the bytes read (b"" at EOF or on a read error) and trio's clock at
the wakeup (one clock read for every connection the wakeup drains), and returns whether to keep
reading; returning False (or raising, which is logged) removes the connection from the set. It
must never block.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
from collections.abc import Callable

import trio

__all__ = ["ReadMux", "available"]

log = logging.getLogger(__name__)

OnData = Callable[[bytes, float], bool]
READ_SIZE = 65536
MAX_EVENTS = 512


def available() -> bool:
    """Whether this platform has epoll (elsewhere each connection reads in its own task)."""
    return hasattr(select, "epoll")


class ReadMux:
    """A set of sockets read by one task (`run`); see the module docstring."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, OnData] = {}
        self.reads = 0  # successful reads (tests, diagnostics)

    def __len__(self) -> int:
        return len(self._readers)

    def add(self, fd: int, on_data: OnData) -> None:
        """Start reading ``fd`` (a non-blocking socket) for ``on_data``."""
        self._readers[fd] = on_data
        try:
            self._epoll.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
        except FileExistsError:  # a closed descriptor's number, reused: epoll dropped it lazily
            self._epoll.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)

    def remove(self, fd: int, on_data: OnData) -> None:
        """Stop reading ``fd`` if ``on_data`` still owns it (idempotent; call before closing)."""
        if self._readers.get(fd) is not on_data:
            return  # already removed, or the number now belongs to a newer connection
        del self._readers[fd]
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)

    def close(self) -> None:
        self._readers.clear()
        self._epoll.close()

    async def run(self) -> None:
        """Read until cancelled."""
        epoll = self._epoll
        readers = self._readers
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                now = trio.current_time()
                for fd, _events in epoll.poll(0, MAX_EVENTS):
                    on_data = readers.get(fd)
                    if on_data is None:
                        with contextlib.suppress(OSError, ValueError):
                            epoll.unregister(fd)
                        continue
                    try:
                        data = os.read(fd, READ_SIZE)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    self.reads += 1
                    try:
                        keep = on_data(data, now) and bool(data)
                    except Exception:
                        log.exception("agent connection (fd %d) failed while reading", fd)
                        keep = False
                    if not keep:
                        self.remove(fd, on_data)
        finally:
            self.close()
