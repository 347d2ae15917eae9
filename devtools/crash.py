"""Crash soak: real daemons in subprocesses, SIGKILLed at random moments (sim and daemon).

After each kill the daemon resumes from its state directory; its ``(tick, hash)`` must equal an
uninterrupted reference run's. tests/test_crash.py and ``python -m devtools.crash --crash-soak N``
(``make soak``) share this harness. Moved out of universed/core/store.py: it is a developer tool,
not part of the runtime package.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orjson

CRASH_CONFIG = """\
default_policy = "{policy}"
checkpoint_every = {checkpoint_every}
verify_every = 10
agent_timeout_ms = 2000
log_level = "info"
"""


class DaemonProcess:
    """``universed serve`` on a state directory, in a subprocess (for crash tests).

    Starts paused (``--mode paused``), so the state right after a start is the resumed one.
    """

    def __init__(
        self,
        state_dir: Path,
        config: Path,
        log_path: Path,
        token: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.config = config
        self.log_path = log_path
        self.token = token
        self.env = dict(env or {})  # extra environment (e.g. UNIVERSE_SIM_SAVE_DELAY_MS)
        self.proc: Any = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait until it serves; returns the seconds that took."""
        import subprocess
        import sys

        t0 = time.monotonic()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ, UNIVERSED_ADMIN_TOKEN=self.token, **self.env)
        env.pop("UNIVERSED_CONFIG", None)
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "universed.cli", "serve", "--config", str(self.config),
                 "--state-dir", str(self.state_dir), "--port", "0", "--mode", "paused"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file, env=env,
            )  # fmt: skip
        pattern = re.compile(rb"universed serving on http://[^:]+:(\d+)")
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the daemon exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                found = pattern.search(fh.read())
            if found:
                self.port = int(found.group(1))
                break
            if time.monotonic() - t0 > timeout:
                self.kill()
                raise RuntimeError(f"the daemon did not start in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.01)
        self.get("/api/status?limit=0")
        return time.monotonic() - t0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, *, wait: float = 30.0) -> Any:
        """One REST call; a 503 (the sim is restarting) is retried for up to ``wait`` s."""
        import urllib.error
        import urllib.request

        data = orjson.dumps(body) if body is not None else None
        deadline = time.monotonic() + wait
        while True:
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return orjson.loads(resp.read())
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code != 503 or time.monotonic() > deadline:
                    raise
            time.sleep(0.005)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def state(self) -> tuple[int, str]:
        st = self.get("/api/state")
        return int(st["tick"]), str(st["hash"])

    def sim_pid(self) -> int:
        return int(self.get("/api/status?limit=0")["sim"]["pid"])

    def kill(self) -> None:
        """SIGKILL the daemon; wait until its sim child (it exits on EOF) is gone too."""
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return
        sim_pid = None
        with contextlib.suppress(Exception):
            sim_pid = self.sim_pid()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if sim_pid is not None:
            _wait_gone(sim_pid)

    def stop(self) -> int:
        """SIGTERM (final checkpoint, clean exit); returns the exit status."""
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return int(self.proc.returncode) if self.proc is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return int(self.proc.wait(timeout=30))
        except Exception:
            self.proc.kill()
            self.proc.wait()
            raise


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(OSError):  # a zombie of someone else counts as gone
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                return
        time.sleep(0.01)
    raise RuntimeError(f"process {pid} did not exit")


@attrs.define
class CrashReport:
    rounds: list[dict[str, Any]] = attrs.field(factory=list)
    recovery_seconds: list[float] = attrs.field(factory=list)  # daemon kill -> serving again

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rounds if not r["ok"]]


def crash_soak(
    workdir: Path,
    *,
    sim_kills: int,
    daemon_kills: int,
    seed: int = 1,
    run_seconds: tuple[float, float] = (0.02, 0.25),
    policy: str = "random",
    checkpoint_every: int = 25,
    save_delay_ms: int = 0,
    say: Callable[[str], None] | None = None,
) -> CrashReport:
    """Kill the sim ``sim_kills`` times and the daemon ``daemon_kills`` times, at random.

    A daemon under test runs in lockstep mode (an in-process policy decides every action, so
    the action stream is a function of the state); between kills it runs ``run_seconds`` (drawn
    from a seeded RNG). After each kill it is paused and its ``(tick, hash)`` compared with a
    reference daemon that is never killed, advanced by hand to the same tick. Every few rounds
    the same event is injected into both (journaled injects). Kinds alternate in random order.
    ``save_delay_ms``: the daemon under test's background saves wait that long before their
    rename (``UNIVERSE_SIM_SAVE_DELAY_MS``), so most kills land while one is in flight.
    """
    import random

    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "crash.toml"
    config.write_text(CRASH_CONFIG.format(policy=policy, checkpoint_every=checkpoint_every))
    token = "crash-soak-admin-token-0123456789abcdef"
    ref = DaemonProcess(workdir / "ref", config, workdir / "ref.log", token)
    delay = {"UNIVERSE_SIM_SAVE_DELAY_MS": str(save_delay_ms)} if save_delay_ms else {}
    sut = DaemonProcess(workdir / "sut", config, workdir / "sut.log", token, env=delay)
    kinds = ["sim"] * sim_kills + ["daemon"] * daemon_kills
    rng.shuffle(kinds)
    report = CrashReport()
    ref.start()
    sut.start()
    ref_tick = 0
    try:
        for i, kind in enumerate(kinds):
            sut.request("POST", "/api/mode", {"mode": "lockstep"})
            time.sleep(rng.uniform(*run_seconds))
            if kind == "sim":
                restarts = sut.get("/api/status?limit=0")["sim"]["restarts"]
                os.kill(sut.sim_pid(), 9)
                deadline = time.monotonic() + 30
                while sut.get("/api/status?limit=0")["sim"]["restarts"] == restarts:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the sim was not restarted:\n" + sut.log_tail())
                    time.sleep(0.005)
                sut.request("POST", "/api/pause")
                seen = 0
            else:
                seen = int(sut.get("/api/status?limit=0")["tick"])
                t0 = time.monotonic()
                sut.kill()
                sut.start()
                report.recovery_seconds.append(time.monotonic() - t0)
            tick, got = sut.state()
            if tick < ref_tick:
                raise RuntimeError(f"round {i}: resumed at tick {tick}, before tick {ref_tick}")
            if tick > ref_tick:
                ref.request("POST", "/api/tick?shape=readable", {"count": tick - ref_tick})
            ref_tick, want = ref.state()
            ok = ref_tick == tick and got == want and tick >= seen
            report.rounds.append(
                {"round": i, "kind": kind, "tick": tick, "seen": seen, "hash": got,
                 "expected": want, "ok": ok}
            )  # fmt: skip
            if say is not None:
                say(f"round {i + 1}/{len(kinds)}: killed the {kind}, resumed at tick {tick}: "
                    + ("same hash" if ok else f"MISMATCH {got} != {want}"))  # fmt: skip
            if i % 4 == 3:  # the same event into both, at the same tick
                event = {"event": {"type": "hazard", "subtype": i % 4, "severity": 0.3}}
                sut.request("POST", "/api/inject", event)
                ref.request("POST", "/api/inject", event)
    finally:
        sut.kill()
        ref.kill()
    return report


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(
        prog="python -m devtools.crash",
        description="Crash soak: SIGKILL the sim and the daemon at random moments and compare "
        "the resumed state hash with an uninterrupted run.",
    )
    parser.add_argument("--crash-soak", type=int, metavar="N", required=True,
                        help="kills of each kind (sim, daemon)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill schedule")
    parser.add_argument("--policy", default="random", help="in-process policy for every probe")
    parser.add_argument("--workdir", help="keep the state directories and logs here")
    parser.add_argument("--checkpoint-every", type=int, default=25, metavar="TICKS",
                        help="the daemons' checkpoint_every (default 25)")  # fmt: skip
    parser.add_argument("--save-delay-ms", type=int, default=0, metavar="MS",
                        help="each background save of the daemon under test waits MS before "
                        "its rename: kills land while saves are in flight")  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="universed-crash-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        report = crash_soak(
            work, sim_kills=args.crash_soak, daemon_kills=args.crash_soak, seed=args.seed,
            policy=args.policy, run_seconds=(0.02, 1.0), say=print,
            checkpoint_every=args.checkpoint_every, save_delay_ms=args.save_delay_ms,
        )  # fmt: skip
    rec = sorted(report.recovery_seconds)
    if rec:
        print(f"daemon kill -> serving: median {rec[len(rec) // 2]:.3f}s, max {rec[-1]:.3f}s")
    failed = report.failures
    print(f"{len(report.rounds)} rounds, {len(failed)} mismatches")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(_main())
