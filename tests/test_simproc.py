"""The supervisor against the real engine and against a misbehaving fake (tests/fakesim.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from universed.simproc import SimError, SimSupervisor, SimUnavailable, find_sim_binary

FAKE = Path(__file__).with_name("fakesim.py")


def fake_binary(tmp_path: Path, **env: str) -> Path:
    """A wrapper script running fakesim.py with the given FAKESIM_* variables."""
    script = tmp_path / "fake-sim"
    exports = "".join(f"export {k}={v}\n" for k, v in env.items())
    script.write_text(f'#!/bin/sh\n{exports}exec {sys.executable} {FAKE} "$@"\n')
    script.chmod(0o755)
    return script


async def test_real_sim_round_trip() -> None:
    sim = SimSupervisor(find_sim_binary(), seed=7, timeout=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        status = await sim.request({"cmd": "status"})
        assert status["seed"] == 7 and status["tick"] == 0
        tick = await sim.request({"cmd": "tick", "actions": {}})
        assert tick["tick"] == 1
        with pytest.raises(SimError) as info:
            await sim.request({"cmd": "restore", "tag": "nope"})
        assert info.value.code == "unknown_tag"
        pid = sim.pid
        nursery.cancel_scope.cancel()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child is gone (reaped) after shutdown


@pytest.mark.parametrize("failure", ["FAKESIM_HANG_AT", "FAKESIM_GARBAGE_AT", "FAKESIM_EXIT_AT"])
async def test_dead_or_hung_child_is_replaced_and_recovered(tmp_path: Path, failure: str) -> None:
    binary = fake_binary(tmp_path, **{failure: "3", "FAKESIM_MARKER": str(tmp_path / "m")})
    recovered: list[dict[str, Any]] = []

    async def recover(request: Any) -> None:
        recovered.append(await request({"cmd": "status"}))

    sim = SimSupervisor(binary, seed=1, timeout=0.5, recover=recover)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        first_pid = sim.pid
        await sim.request({"cmd": "tick"})
        await sim.request({"cmd": "tick"})
        with pytest.raises(SimUnavailable):
            await sim.request({"cmd": "tick"})
        with trio.fail_after(5):
            await sim.wait_ready()
        assert sim.restarts == 1 and sim.pid != first_pid
        assert len(recovered) == 1 and recovered[0]["tick"] == 0
        reply = await sim.request({"cmd": "tick"})
        assert reply["tick"] == 1
        nursery.cancel_scope.cancel()


def test_find_sim_binary_prefers_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_binary(tmp_path)
    monkeypatch.setenv("UNIVERSED_SIM", str(fake))
    assert find_sim_binary() == fake
    assert find_sim_binary(str(fake)) == fake
    monkeypatch.setenv("UNIVERSED_SIM", str(tmp_path / "missing"))
    assert find_sim_binary().name == "universe-sim"


async def test_sent_runs_once_before_the_reply_and_its_failure_kills_the_child() -> None:
    recoveries: list[int] = []

    async def recover(request: Any) -> None:
        recoveries.append(1)

    sim = SimSupervisor(find_sim_binary(), seed=7, timeout=5, recover=recover)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        calls: list[str] = []

        def journal() -> None:
            # runs before the supervisor waits for anything: no other task has run yet
            calls.append("sent" if not ran_meanwhile else "late")

        ran_meanwhile = False

        async def other() -> None:
            nonlocal ran_meanwhile
            ran_meanwhile = True

        nursery.start_soon(other)
        reply = await sim.request({"cmd": "tick", "actions": {}}, sent=journal)
        assert reply["tick"] == 1 and calls == ["sent"]

        # a commit that fails: the child may have applied the tick, so it must go
        first_pid = sim.pid

        def broken() -> None:
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            await sim.request({"cmd": "tick", "actions": {}}, sent=broken)
        with trio.fail_after(10):
            await sim.wait_ready()  # the failure reset readiness: this waits for the new child
        assert sim.pid != first_pid and sim.restarts == 1 and recoveries == [1]
        nursery.cancel_scope.cancel()


async def test_large_request_and_reply_cross_the_socket_streams_whole() -> None:
    """The sim's standard streams are a socket pair (`open_sim`): a multi-megabyte request
    (4,000 actions, padded) and reply (1,000 full observations, ~8 MB) arrive whole and in
    step, the same bytes as the engine writes to a plain pipe for the same session."""
    binary = find_sim_binary()
    args = ("--populate", "1000")
    padded = {f"1-{i}": {"action": "wait"} for i in range(1, 1001)}
    padded.update({f"9-{i}": {"action": "wait"} for i in range(3000)})  # unknown: rejected
    cmd = {"cmd": "tick", "actions": padded, "detail": "full"}
    sim = SimSupervisor(binary, seed=5, timeout=30, extra_args=args)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        reply = await sim.request(cmd)
        assert reply["tick"] == 1 and len(reply["observations"]) == 1000
        line = sim.last_line[1]
        assert len(line) > 4_000_000
        nursery.cancel_scope.cancel()
    requests = b'{"cmd":"status","limit":0,"id":1}\n' + orjson.dumps({**cmd, "id": 2}) + b"\n"
    done = await trio.run_process(
        [str(binary), "--pipe", "--seed", "5", *args], stdin=requests, capture_stdout=True
    )
    piped = done.stdout.split(b"\n")
    assert piped[1] == line
