"""Running under systemd: sd_notify without libsystemd, and installing the unit.

`Notifier` speaks the sd_notify protocol: one datagram per message to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a leading ``@`` means the Linux abstract namespace). Outside systemd (no
``$NOTIFY_SOCKET``) every call is a cheap no-op, so the daemon calls it unconditionally.

The watchdog is fed from the tick loop, not from a timer task: a hung tick loop must stop the pings
so that systemd (``WatchdogSec=``) kills and restarts the daemon. The engine calls
``notifier.tick(now)`` once per tick; it costs one float comparison unless a ping is due. While the
engine is paused no tick runs, so `keepalive` pings on its behalf; it proves that the trio event
loop is alive, which is all a paused daemon does.

`install_service` writes the unit, the hardening drop-in and the example configuration (never
overwriting an existing configuration) below a root directory.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import trio

__all__ = ["Notifier", "install_service", "keepalive", "render_unit", "template_dir"]

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


# ---------------------------------------------------------------------------------- installation

UNIT = "universed.service"
DROP_IN = "universed.service.d/hardening.conf"
CONFIG_EXAMPLE = "universed.toml.example"
DEFAULT_EXEC = "/usr/local/bin/universed"


def template_dir() -> Path:
    """Where the unit templates are: packaged ``universed/_systemd`` or the checkout's systemd/."""
    packaged = Path(str(resources.files("universed").joinpath("_systemd")))
    for candidate in (packaged, Path(__file__).resolve().parents[2] / "systemd"):
        if (candidate / UNIT).is_file():
            return candidate
    raise FileNotFoundError(f"{UNIT} template not found in {packaged} or the checkout's systemd/")


def render_unit(text: str, *, exec_start: str = DEFAULT_EXEC, name: str = "universed") -> str:
    """Point ``ExecStart=`` at ``exec_start`` and rename the state/config directories to ``name``.

    ``exec_start`` is the command that runs universed (a path, or e.g. ``/usr/bin/python3 -m
    universed.cli``); ``name`` lets tests install a unit that cannot clash with a real one.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"bad service name {name!r}: letters, digits, '_', '.', '-' only")
    pattern = rf"^ExecStart={re.escape(DEFAULT_EXEC)}(?=\s|$)"
    text, count = re.subn(pattern, lambda _m: f"ExecStart={exec_start}", text, flags=re.M)
    if count != 1:
        raise ValueError(f"the unit template must have one 'ExecStart={DEFAULT_EXEC} ...' line")
    if name != "universed":
        keys = "StateDirectory|ConfigurationDirectory|User|Group|SyslogIdentifier"
        text = re.sub(rf"^({keys})=universed$", rf"\1={name}", text, flags=re.M)
        text = text.replace("/etc/universed/", f"/etc/{name}/")
        text = text.replace("/var/lib/universed", f"/var/lib/{name}")
    return text


def install_service(
    root: str | Path = "/",
    *,
    exec_start: str | None = None,
    name: str = "universed",
    unit_dir: str = "etc/systemd/system",
    hardening: bool = True,
) -> list[Path]:
    """Install the unit, the hardening drop-in and the configuration below ``root``.

    Writes ``<root>/etc/systemd/system/<name>.service``, ``<name>.service.d/hardening.conf`` and,
    only if it does not exist yet, ``<root>/etc/<name>/universed.toml`` (from the example). Returns
    the paths written. ``exec_start`` defaults to the ``universed`` script beside this Python.

    Raises:
        FileNotFoundError: the templates are missing.
        ValueError: a bad ``name``.
    """
    src = template_dir()
    if exec_start is None:
        exec_start = _default_exec()
    root = Path(root)
    written: list[Path] = []
    unit_path = root / unit_dir / f"{name}.service"
    text = render_unit((src / UNIT).read_text(), exec_start=exec_start, name=name)
    written.append(_write(unit_path, text, 0o644))
    drop_in = root / unit_dir / f"{name}.service.d" / Path(DROP_IN).name
    if hardening:
        written.append(_write(drop_in, (src / DROP_IN).read_text(), 0o644))
    elif drop_in.exists():
        drop_in.unlink()
    config = root / "etc" / name / "universed.toml"
    if not config.exists():
        written.append(_write(config, (src / CONFIG_EXAMPLE).read_text(), 0o644))
    return written


def _default_exec() -> str:
    script = Path(sys.executable).parent / "universed"
    if script.is_file():
        return str(script)
    found = shutil.which("universed")
    return found if found else DEFAULT_EXEC


def _write(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return path


def install_main(argv: Sequence[str] | None = None) -> int:
    """``universed install-service [--root DIR] [--exec CMD] [--no-hardening]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="universed install-service",
        description="Install the systemd unit, its hardening drop-in and /etc/universed/"
        "universed.toml (an existing configuration is kept). Then: systemctl daemon-reload && "
        "systemctl enable --now universed",
    )
    parser.add_argument("--root", default="/", help="install below this directory (default /)")
    parser.add_argument(
        "--exec",
        dest="exec_start",
        help="command for ExecStart= (default: the universed script of this Python)",
    )
    parser.add_argument("--no-hardening", action="store_true", help="skip the hardening drop-in")
    args = parser.parse_args(argv)
    try:
        paths = install_service(
            args.root, exec_start=args.exec_start, hardening=not args.no_hardening
        )
    except (OSError, ValueError) as exc:
        print(f"universed install-service: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
