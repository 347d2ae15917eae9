"""Real daemons killed at random moments resume exactly where an uninterrupted run is.

Also: SIGTERM writes a final checkpoint, SIGHUP reloads the configuration, named snapshots
survive restarts, and a fork starts a new universe from a snapshot with a new seed.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from devtools.crash import CRASH_CONFIG, DaemonProcess, crash_soak
from universed.core.store import SqliteJournal

pytestmark = pytest.mark.e2e
TOKEN = "crash-test-admin-token-0123456789abcdef"


def make(tmp_path: Path, name: str = "d", config: str | None = None) -> DaemonProcess:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config or CRASH_CONFIG.format(policy="random", checkpoint_every=25))
    return DaemonProcess(tmp_path / name, cfg, tmp_path / f"{name}.log", TOKEN)


def run_for(d: DaemonProcess, seconds: float) -> None:
    d.request("POST", "/api/mode", {"mode": "lockstep"})
    time.sleep(seconds)
    d.request("POST", "/api/pause")


def test_random_sigkills_of_sim_and_daemon_resume_with_identical_hashes(tmp_path: Path) -> None:
    report = crash_soak(tmp_path, sim_kills=20, daemon_kills=20, seed=20261123)
    kinds = [r["kind"] for r in report.rounds]
    assert kinds.count("sim") == 20 and kinds.count("daemon") == 20
    assert not report.failures, report.failures
    ticks = [r["tick"] for r in report.rounds]
    assert ticks == sorted(ticks) and ticks[-1] > 200, ticks  # it really ran between kills
    # the kills landed at many different ticks, not only at checkpoints
    assert len({t % 25 for t in ticks}) > 5, ticks


def test_kills_while_background_saves_are_in_flight_lose_nothing(tmp_path: Path) -> None:
    """Checkpoints every 5 ticks, each background save waiting 150 ms before its rename: almost
    every kill (of the sim, of the daemon) lands while a background save is being written.
    Recovery never names an incomplete file, and resumes where an uninterrupted run is."""
    report = crash_soak(
        tmp_path, sim_kills=6, daemon_kills=6, seed=15, checkpoint_every=5, save_delay_ms=150
    )
    assert not report.failures, report.failures
    ticks = [r["tick"] for r in report.rounds]
    assert ticks == sorted(ticks) and ticks[-1] > 20, ticks
    journal = SqliteJournal(tmp_path / "sut", readonly=True)
    rows = journal.checkpoints()
    journal.close()
    assert rows and all(cp.path.is_file() for cp in rows)
    # the sim kills did land while a background save was in flight (its writer died with it)
    assert "lost with the sim" in (tmp_path / "sut.log").read_text()


def test_sigterm_writes_a_final_checkpoint_and_restart_resumes_there(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.start()
    try:
        d.request("POST", "/api/mode", {"mode": "lockstep"})
        time.sleep(0.3)
        assert d.stop() == 0
        journal = SqliteJournal(d.state_dir, readonly=True)
        last = journal.last_tick()
        newest = journal.checkpoints()[-1]
        journal.close()
        assert last is not None and last > 0 and newest.tick == last
        assert newest.path.is_file()
        d.start()
        tick, hashed = d.state()
        assert (tick, hashed) == (newest.tick, newest.hash)
    finally:
        d.kill()


def test_sighup_reloads_the_config_and_refuses_a_bad_one(tmp_path: Path) -> None:
    base = CRASH_CONFIG.format(policy="random", checkpoint_every=25)
    base = base.replace("agent_timeout_ms = 2000\n", "")
    d = make(tmp_path, config=base + "tick_rate = 5.0\n")
    d.start()
    try:
        pid = d.proc.pid
        reloaded = 'tick_rate = 50.0\nagent_timeout_ms = 700\n[policies]\n"1-1" = "wait"\n'
        d.config.write_text(base + reloaded)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while d.get("/api/status?limit=0")["tick_rate"] != 50.0:
            assert time.monotonic() < deadline, d.log_tail()
            time.sleep(0.02)
        status = d.get("/api/status?limit=0")
        assert status["agent_timeout_ms"] == 700
        assert d.get("/api/agents")["assignments"] == {"1-1": "wait"}
        d.config.write_text(base + "tick_rate = -3.0\n")
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload refused" not in d.log_tail():
            assert time.monotonic() < deadline, d.log_tail()
            time.sleep(0.02)
        assert "tick_rate must be > 0" in d.log_tail()
        assert d.proc.poll() is None
        assert d.get("/api/status?limit=0")["tick_rate"] == 50.0
    finally:
        d.kill()


def test_snapshots_survive_restarts_and_fork_with_a_new_seed(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.start()
    try:
        run_for(d, 0.2)
        t1, h1 = d.state()
        snap = d.request("POST", "/api/snapshot", {"tag": "t1"})
        assert snap == {"ok": True, "snapshot": "t1", "tick": t1}
        [listed] = d.get("/api/snapshots")["snapshots"]
        assert (listed["tag"], listed["tick"], listed["hash"]) == ("t1", t1, h1)
        assert listed["bytes"] > 0 and listed["created"] > 0
        run_for(d, 0.1)
        d.kill()  # kill -9: the snapshot file and its row are already durable
        d.start()
        assert [s["tag"] for s in d.get("/api/snapshots")["snapshots"]] == ["t1"]
        assert d.request("POST", "/api/restore", {"tag": "t1"})["tick"] == t1
        assert d.state() == (t1, h1)
        d.request("POST", "/api/tick", {"count": 30})
        ahead = d.state()
        d.kill()
        d.start()  # restored, ticked, killed: resumes on the restored timeline
        assert d.state() == ahead

        fork = d.request("POST", "/api/fork", {"tag": "t1", "seed": 99})
        assert fork["tick"] == t1 and fork["seed"] == 99
        assert d.state()[1] != h1  # same past, another future
        d.request("POST", "/api/tick", {"count": 40})
        forked = d.state()
        snapshot_file = d.state_dir / "snapshots" / "t1.sav"
    finally:
        d.kill()

    # the same fork from the command line, into a new state directory
    f = make(tmp_path, "fork")
    f_cfg = f.config.read_text() + f'fork_from = "{snapshot_file}"\nseed = 99\n'
    f.config.write_text(f_cfg)
    f.start()
    try:
        assert f.state()[0] == t1
        f.request("POST", "/api/tick", {"count": 40})
        assert f.state() == forked
    finally:
        f.kill()


def test_snapshot_tags_are_validated(tmp_path: Path) -> None:
    import urllib.error

    d = make(tmp_path)
    d.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            d.request("POST", "/api/snapshot", {"tag": "../evil"})
        assert err.value.code == 422
        err.value.close()
        with pytest.raises(urllib.error.HTTPError) as err:
            d.request("POST", "/api/fork", {"tag": "never", "seed": 1})
        assert err.value.code == 404
        err.value.close()
    finally:
        d.kill()
