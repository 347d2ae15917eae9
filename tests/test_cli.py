"""The console script: config errors, and a clean SIGTERM shutdown of a real daemon."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from helpers import free_port, reap

from universed.cli import main


def test_config_error_exits_2(capsys: object) -> None:
    assert main(["serve", "--port", "99999"]) == 2


def test_unknown_policy_is_a_config_error_not_a_traceback(
    tmp_path: object, capsys: object, monkeypatch: object
) -> None:
    monkeypatch.setenv("UNIVERSED_NEWBORN_POLICY", "ghost")  # type: ignore[attr-defined]
    assert main(["serve", "--port", "0", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "configuration error: unknown policy 'ghost'" in err and "Traceback" not in err


def test_config_command_prints_effective_config(capsys: object) -> None:
    import orjson

    assert main(["config", "--seed", "7"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert orjson.loads(out)["seed"] == 7


def wait_listening(port: int, proc: subprocess.Popen[bytes], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the daemon did not start listening")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_sigterm_and_sigint_stop_everything_within_a_second() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "universed.cli",
                "serve",
                "--port",
                str(port),
                "--mode",
                "lockstep",
                "--log-level",
                "warning",
            ],
            stderr=subprocess.PIPE,
        )
        try:
            wait_listening(port, proc)
            sims = children_of(proc.pid)
            assert len(sims) == 1
            t0 = time.monotonic()
            os.kill(proc.pid, sig)
            proc.wait(timeout=5)
            assert time.monotonic() - t0 < 1.0
            assert proc.returncode == 0
            for pid in sims:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    continue
                raise AssertionError(f"sim child {pid} outlived the daemon")
        finally:
            reap(proc)
