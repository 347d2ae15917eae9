"""Operator subcommands: check-config, replay, verify (offline) and status (REST)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from test_store import record_run, sim_child

from universed.cli.admin import main
from universed.core.store import SqliteJournal


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_config_ok_and_precise_errors(tmp_path: Path, capsys: Any) -> None:
    good = tmp_path / "good.toml"
    good.write_text('tick_rate = 20.0\n[policies]\n"1-1" = "fallback"\n')
    code, out, _ = run(capsys, "check-config", "--config", str(good))
    assert code == 0 and out.strip() == f"{good}: OK"
    code, out, _ = run(capsys, "check-config", "--config", str(good), "--json")
    assert code == 0 and orjson.loads(out)["config"]["tick_rate"] == 20.0

    cases = {
        "tick_rate = -1.0\n": "tick_rate must be > 0",
        "tick_rate = 'fast'\n": "tick_rate: expected a number, got 'fast'",
        "tick_rat = 1.0\n": "unknown key 'tick_rat'",
        "tick_rate = \n": "invalid TOML",
        'default_policy = "nope"\n': "default_policy: unknown policy 'nope'",
        '[policies]\n"1-1" = "nope"\n': "policies.1-1: unknown policy 'nope'",
        'newborn_policy = "ghost"\n': "newborn_policy: unknown policy 'ghost'",
        '[lineage_policies]\n"1-2" = "nope"\n': "lineage_policies.1-2: unknown policy 'nope'",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        code, out, err = run(capsys, "check-config", "--config", str(bad))
        assert code == 2, text
        assert message in err and str(bad) in err, err
        code, out, err = run(capsys, "check-config", "--config", str(bad), "--json")
        assert code == 2 and message in orjson.loads(out)["error"]
    code, _, err = run(capsys, "check-config", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "No such file" in err


async def recorded_state_dir(path: Path) -> list[str]:
    j = SqliteJournal(path)
    async with sim_child() as sim:
        hashes = await record_run(j, sim, 10)
    j.close()
    return hashes


async def test_replay_and_verify_a_state_dir(tmp_path: Path, capsys: Any) -> None:
    hashes = await recorded_state_dir(tmp_path)
    saved = tmp_path / "final.usim"
    code, out, err = await trio.to_thread.run_sync(
        run, capsys, "replay", "--state-dir", str(tmp_path), "--json", "--save", str(saved)
    )
    assert code == 0, err
    body = orjson.loads(out)
    assert (body["tick"], body["hash"], body["ok"]) == (10, hashes[-1], True)
    assert body["ticks_replayed"] == 10 and saved.is_file()
    code, out, err = await trio.to_thread.run_sync(
        run, capsys, "verify", "--state-dir", str(tmp_path), "--to-tick", "7", "--quiet"
    )
    assert code == 0, err
    assert "tick 7" in out and f"hash {hashes[6]}" in out and "verified" in out
    code, out, err = await trio.to_thread.run_sync(
        run, capsys, "replay", "--state-dir", str(tmp_path), "--from", "6", "--json"
    )
    assert code == 0 and orjson.loads(out)["from_tick"] == 6
    code, _, err = await trio.to_thread.run_sync(
        run, capsys, "replay", "--state-dir", str(tmp_path), "--from", "3"
    )
    assert code == 2 and "no checkpoint at tick 3 (there are: 0, 6)" in err

    # a recorded hash that the replay does not reproduce: verify fails and says where
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        db.execute(
            """UPDATE entries SET data = '{"hash":"0000000000000000"}'"""
            " WHERE kind = 'hash' AND tick = 9"
        )
    code, out, err = await trio.to_thread.run_sync(
        run, capsys, "verify", "--state-dir", str(tmp_path), "--json"
    )
    assert code == 1
    body = orjson.loads(out)
    assert body["ok"] is False
    assert body["mismatches"] == [{"tick": 9, "expected": "0" * 16, "got": hashes[8]}]
    assert "MISMATCH" in err and "tick 9" in err


def test_replay_without_a_journal_fails_precisely(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "verify", "--state-dir", str(tmp_path / "nothing"))
    assert code == 1 and "no journal at" in err


def test_status_of_an_unreachable_daemon(capsys: Any) -> None:
    code, out, err = run(capsys, "status", "--url", "http://127.0.0.1:9", "--json")
    assert code == 1
    assert orjson.loads(out)["error"]["code"] == "unreachable"
    assert "cannot reach universed at http://127.0.0.1:9" in err


async def test_status_of_a_running_daemon(capsys: Any) -> None:
    from helpers import running_daemon

    async with running_daemon() as d:
        url = f"http://127.0.0.1:{d.port}"
        code, out, err = await trio.to_thread.run_sync(run, capsys, "status", "--url", url)
        assert code == 0, err
        assert "tick 0, paused mode" in out and "sim: running" in out
        code, out, _ = await trio.to_thread.run_sync(run, capsys, "status", "--url", url, "--json")
        assert orjson.loads(out)["mode"] == "paused"


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNIVERSED_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("UNIVERSED_CONFIG", raising=False)


async def test_snapshot_commands_against_a_running_daemon(tmp_path: Path, capsys: Any) -> None:
    from helpers import running_daemon

    async with running_daemon(state_dir=str(tmp_path)) as d:
        url = f"http://127.0.0.1:{d.port}"
        await d.engine.manual_tick(3)
        code, out, err = await trio.to_thread.run_sync(
            run, capsys, "snapshot", "create", "three", "--url", url
        )
        assert code == 0, err
        assert out.strip() == "snapshot 'three' taken at tick 3"
        await d.engine.manual_tick(2)
        code, out, _ = await trio.to_thread.run_sync(
            run, capsys, "snapshot", "list", "--url", url, "--json"
        )
        [row] = orjson.loads(out)["snapshots"]
        assert (row["tag"], row["tick"]) == ("three", 3)
        code, out, _ = await trio.to_thread.run_sync(run, capsys, "snapshot", "list", "--url", url)
        assert out.splitlines()[1].startswith("three") and row["hash"] in out
        code, out, _ = await trio.to_thread.run_sync(
            run, capsys, "snapshot", "restore", "three", "--url", url
        )
        assert code == 0 and "tick 3" in out and d.engine.tick == 3
        code, _, err = await trio.to_thread.run_sync(
            run, capsys, "snapshot", "create", "../x", "--url", url
        )
        assert code == 1 and "422 invalid" in err and "bad tag" in err
        code, _, err = await trio.to_thread.run_sync(
            run, capsys, "snapshot", "restore", "--url", url
        )
        assert code == 2 and "needs a TAG" in err
