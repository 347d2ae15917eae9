"""sd_notify over a real datagram socket, the unit files, and `install_service`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from universed.cli import service
from universed.cli.service import install_service, render_unit
from universed.core.config import Config, load_config
from universed.core.notify import Notifier, keepalive

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "systemd"


# ------------------------------------------------------------------------------------ sd_notify


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd's notification socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_not_under_systemd_every_call_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled
    assert n.watchdog_interval is None
    assert not n.ready("x")
    assert not n.status("x")
    assert not n.watchdog()
    assert not n.watchdog_due(1e9)
    n.tick(1e9)
    n.close()


def test_ready_status_stopping_reloading_datagrams(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("serving on 127.0.0.1:8000, tick 0")
    assert n.status("tick 100\nagents 3")  # one line: a newline would start a new field
    assert n.reloading("reloading /etc/universed/universed.toml")
    assert n.stopping()
    msgs = received(sock)
    assert msgs[0] == f"READY=1\nSTATUS=serving on 127.0.0.1:8000, tick 0\nMAINPID={os.getpid()}"
    assert msgs[1] == "STATUS=tick 100 agents 3"
    fields = msgs[2].split("\n")
    assert fields[0] == "RELOADING=1"
    assert fields[1].startswith("MONOTONIC_USEC=") and int(fields[1].split("=")[1]) > 0
    assert fields[2] == "STATUS=reloading /etc/universed/universed.toml"
    assert msgs[3] == "STOPPING=1"
    assert n.failures == 0
    n.close()


def test_abstract_namespace_socket() -> None:
    name = f"universed-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert received(sock) == [f"READY=1\nMAINPID={os.getpid()}"]
        n.close()
    finally:
        sock.close()


def test_vanished_socket_is_reported_not_raised(
    listener: tuple[socket.socket, str], caplog: pytest.LogCaptureFixture
) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    sock.close()
    os.unlink(path)
    assert not n.status("anyone?")
    assert n.failures == 1
    assert "sd_notify" in caplog.text and "notify.sock" in caplog.text
    n.close()


def test_relative_socket_names_are_ignored() -> None:
    assert not Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(
    listener: tuple[socket.socket, str], env: dict[str, str], interval: float | None
) -> None:
    n = Notifier({"NOTIFY_SOCKET": listener[1], **env})
    assert n.watchdog_interval == interval


def test_watchdog_needs_a_socket() -> None:
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval is None


def test_tick_pings_only_when_due(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    now = [100.0]
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}, clock=lambda: now[0])
    assert n.watchdog_interval == 1.0
    n.tick()  # the first tick pings at once
    assert received(sock) == ["WATCHDOG=1"]
    for t in (100.1, 100.5, 100.99):
        now[0] = t
        assert not n.watchdog_due()
        n.tick()
    assert received(sock) == []
    now[0] = 101.0
    assert n.watchdog_due()
    n.tick()
    n.tick()
    assert received(sock) == ["WATCHDOG=1"]
    assert n.watchdog_due(102.5) and not n.watchdog_due(101.5)  # explicit times work too
    n.close()


async def test_keepalive_pings_only_while_idle(
    listener: tuple[socket.socket, str], autojump_clock: trio.testing.MockClock
) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}, clock=trio.current_time)
    idle = [True]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keepalive, n, lambda: idle[0])
        await trio.sleep(5.1)
        paused_pings = len(received(sock))
        idle[0] = False
        await trio.sleep(5.0)
        ticking_pings = len(received(sock))
        nursery.cancel_scope.cancel()
    assert 5 <= paused_pings <= 6  # one per second (the interval), checked 4x per interval
    assert ticking_pings == 0  # the tick loop is in charge now
    n.close()


async def test_keepalive_returns_without_watchdog() -> None:
    with trio.fail_after(1):
        await keepalive(Notifier({}), lambda: True)


# ------------------------------------------------------------------------------------ the files


def test_example_config_documents_every_key_and_loads() -> None:
    example = TEMPLATES / "universed.toml.example"
    keys = set(tomllib.loads(example.read_text()))
    defaults = set(tomllib.loads((REPO / "universed" / "default.toml").read_text()))
    fields = {f.name for f in Config.__attrs_attrs__}
    assert keys == defaults == fields
    assert load_config(config_path=example, environ={}) == load_config(environ={})


def test_render_unit_points_exec_start_and_renames() -> None:
    text = (TEMPLATES / "universed.service").read_text()
    out = render_unit(text, exec_start="/opt/universed/bin/universed", name="universed-e2e")
    assert (
        "ExecStart=/opt/universed/bin/universed serve --config /etc/universed-e2e/universed.toml"
        " --state-dir /var/lib/universed-e2e\n"
    ) in out
    for key in ("StateDirectory", "ConfigurationDirectory", "User", "Group"):
        assert f"\n{key}=universed-e2e\n" in out
    assert "/usr/local/bin/universed" not in out
    with pytest.raises(ValueError, match="bad service name"):
        render_unit(text, name="../evil")
    with pytest.raises(ValueError, match="one 'ExecStart="):
        render_unit("[Service]\nExecStart=/bin/true\n")


def test_install_service_writes_files_and_keeps_existing_config(tmp_path: Path) -> None:
    written = install_service(tmp_path, exec_start="/opt/u/bin/universed")
    unit = tmp_path / "etc/systemd/system/universed.service"
    drop_in = tmp_path / "etc/systemd/system/universed.service.d/hardening.conf"
    config = tmp_path / "etc/universed/universed.toml"
    assert written == [unit, drop_in, config]
    assert "ExecStart=/opt/u/bin/universed serve" in unit.read_text()
    assert drop_in.read_text() == (TEMPLATES / "universed.service.d/hardening.conf").read_text()
    assert config.read_text() == (TEMPLATES / "universed.toml.example").read_text()
    assert oct(unit.stat().st_mode & 0o777) == "0o644"
    config.write_text("port = 9000\n")
    assert install_service(tmp_path, exec_start="/x/universed", hardening=False) == [unit]
    assert config.read_text() == "port = 9000\n"  # an operator's configuration survives upgrades
    assert not drop_in.exists()
    assert "ExecStart=/x/universed serve" in unit.read_text()


def test_install_main_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert service.install_main(["--root", str(tmp_path), "--exec", "/opt/u/bin/universed"]) == 0
    assert capsys.readouterr().out.count("wrote ") == 3
    assert service.install_main(["--root", "/proc/1/nonexistent-root"]) == 1
    assert "universed install-service:" in capsys.readouterr().err


def _verify(unit_dir: Path, name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_dir}:"}  # trailing ':' = plus the defaults
    return subprocess.run(
        ["systemd-analyze", "verify", f"{name}.service"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (apt systemd)"
)
def test_systemd_analyze_verify_accepts_the_installed_unit(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "universed"
    install_service(tmp_path, exec_start=str(exe), name="universed-verify")
    unit_dir = tmp_path / "etc/systemd/system"
    result = _verify(unit_dir, "universed-verify")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # unknown keys are only warnings: none allowed
    # The check can fail: a typo in the drop-in is reported.
    drop_in = unit_dir / "universed-verify.service.d/hardening.conf"
    drop_in.write_text(drop_in.read_text() + "ProtectEverything=yes\n")
    assert "Unknown key 'ProtectEverything'" in _verify(unit_dir, "universed-verify").stderr
