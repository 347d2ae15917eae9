"""Running under systemd: sd_notify without libsystemd (the install half is cli/service.py).

`Notifier` speaks the sd_notify protocol: one datagram per message to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a leading ``@`` means the Linux abstract namespace). Outside systemd (no
``$NOTIFY_SOCKET``) every call is a cheap no-op, so the daemon calls it unconditionally.

The watchdog is fed from the tick loop, not from a timer task: a hung tick loop must stop the pings
so that systemd (``WatchdogSec=``) kills and restarts the daemon. The engine calls
``notifier.tick(now)`` once per tick; it costs one float comparison unless a ping is due. While the
engine is paused no tick runs, so `keepalive` pings on its behalf; it proves that the trio event
loop is alive, which is all a paused daemon does.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

import trio

__all__ = ["Notifier", "keepalive"]

log = logging.getLogger(__name__)


class Notifier:
    """An sd_notify client; every method is a no-op when not started by systemd.

    Args:
        environ: the environment to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``
            from (default ``os.environ``).
        clock: the monotonic clock `tick` compares against (seconds).
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if name.startswith("@"):
            self.address = "\0" + name[1:]
        elif name.startswith("/"):
            self.address = name
        self._sock: socket.socket | None = None
        self.clock = clock
        # systemd pings at half the watchdog timeout, as sd_watchdog_enabled(3) recommends.
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if self.address and usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            self.watchdog_interval = int(usec) / 2e6
        self._next_ping = -float("inf")
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False if not under systemd or it failed."""
        if self.address is None:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)  # a full receive queue must not stall the tick loop
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            self.failures += 1
            log.warning("sd_notify to %r failed: %s", self.address.replace("\0", "@"), exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *self._status(status), f"MAINPID={os.getpid()}")

    def status(self, text: str) -> bool:
        return self.notify(*self._status(text))

    def reloading(self, status: str | None = None) -> bool:
        # MONOTONIC_USEC lets Type=notify-reload (systemd >= 253) match the reload; older ignore it.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", *self._status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *self._status(status))

    def watchdog(self) -> bool:
        """Ping the watchdog now (and restart the interval)."""
        if self.watchdog_interval is None:
            return False
        self._next_ping = self.clock() + self.watchdog_interval
        return self.notify("WATCHDOG=1")

    def watchdog_due(self, now: float | None = None) -> bool:
        return self.watchdog_interval is not None and (
            (self.clock() if now is None else now) >= self._next_ping
        )

    def tick(self, now: float | None = None) -> None:
        """Call from the tick loop every tick: pings when half the watchdog timeout has passed."""
        if self.watchdog_interval is not None and self.watchdog_due(now):
            self.watchdog()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @staticmethod
    def _status(text: str | None) -> tuple[str, ...]:
        # One datagram holds newline-separated fields: keep the status on one line.
        return () if text is None else ("STATUS=" + " ".join(text.split()),)


async def keepalive(notifier: Notifier, idle: Callable[[], bool]) -> None:
    """Feed the watchdog while ``idle()`` is true (the engine is paused: no tick loop pings).

    Wakes a few times per interval and pings only when a ping is due, so while the engine ticks
    the tick loop stays the only source of pings. Returns at once when the watchdog is off.
    """
    interval = notifier.watchdog_interval
    if interval is None:
        return
    while True:
        await trio.sleep(interval / 4)
        if idle():
            notifier.tick()
