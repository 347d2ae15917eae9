"""``universed agent run``: the same policy in-process and remote, fleets, failures, reconnects."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from helpers import running_daemon
from universed_policy_explorer import ExplorerPolicy

from universed.agents.agentrun import PolicyLoadError, load_policy, main
from universed.agents.builtin_policies import FallbackPolicy
from universed.client import AgentClient, AgentError
from universed.plugins import hookimpl
from universed.server.daemon import Daemon

TICKS = 150


def test_load_policy_by_module_hook_entry_point_and_class() -> None:
    assert isinstance(load_policy("universed_policy_explorer:explorer"), ExplorerPolicy)
    assert isinstance(load_policy("explorer"), ExplorerPolicy)
    assert isinstance(load_policy("universed_policy_explorer:ExplorerPolicy"), ExplorerPolicy)
    assert isinstance(
        load_policy("universed.agents.builtin_policies:FallbackPolicy"), FallbackPolicy
    )
    assert load_policy("greedy-miner").name == "greedy-miner"
    for bad in (
        "no_such_module_xyz:p",
        "universed_policy_explorer:nothing",
        "unknown-policy",
        ":x",
    ):
        with pytest.raises(PolicyLoadError):
            load_policy(bad)
    with pytest.raises(PolicyLoadError, match="not a policy"):
        load_policy("universed:__version__")


def test_cli_reports_bad_specs_and_unreachable_daemons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no_such_module_xyz:p"]) == 2
    assert "cannot import" in capsys.readouterr().err
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["explorer", "--url", f"ws://127.0.0.1:{port}/ws", "--no-reconnect"]) == 1
    assert "cannot connect" in capsys.readouterr().err


async def drive_manually(daemon: Daemon, probes: list[str], ticks: int) -> None:
    """Tick the paused daemon each time every probe in ``probes`` has its action in."""
    engine = daemon.engine
    for _ in range(ticks):
        with trio.fail_after(20):
            while not all(p in engine.window.actions for p in probes):  # noqa: ASYNC110 (polls state of another process/task)
                await trio.sleep(0.001)
        await engine.manual_tick(1)


def journal_actions(daemon: Daemon) -> list[dict[str, Any]]:
    _checkpoint, entries = daemon.engine.journal.latest()
    return [e.data for e in entries if e.kind == "tick"]


async def test_same_policy_same_actions_in_process_and_remote(tmp_path: Path) -> None:
    # in-process: the daemon runs the plugin's policy for Bob (tick 1 has no observation yet
    # to decide from, so Bob waits; the remote agent below connects after tick 1 too)
    async with running_daemon(policies={"1-1": "explorer"}) as daemon:
        await daemon.engine.manual_tick(TICKS + 1)
        local_actions = journal_actions(daemon)
        local_hash = (await daemon.sim.request({"cmd": "hash"}))["hash"]
    # remote: the same policy through `universed agent run` (a real subprocess)
    record = tmp_path / "decisions.jsonl"
    async with running_daemon() as daemon:
        await daemon.engine.manual_tick(1)
        argv = [
            sys.executable, "-m", "universed.agents.agentrun",
            "run", "universed_policy_explorer:explorer",
            "--url", f"ws://127.0.0.1:{daemon.port}/ws", "--probe", "1-1",
            "--ticks", str(TICKS + 1), "--record", str(record), "--log-level", "warning",
        ]  # fmt: skip
        async with trio.open_nursery() as nursery:
            proc = await nursery.start(
                lambda task_status: trio.run_process(argv, check=False, task_status=task_status)  # noqa: ASYNC105 (started by nursery.start)
            )
            await drive_manually(daemon, ["1-1"], TICKS)
            with trio.fail_after(20):
                await proc.wait()
        assert proc.returncode == 0
        remote_actions = journal_actions(daemon)
        remote_hash = (await daemon.sim.request({"cmd": "hash"}))["hash"]
    assert len(local_actions) == len(remote_actions) == TICKS + 1
    assert remote_actions == local_actions
    assert remote_hash == local_hash
    assert sum(1 for a in local_actions if a) > TICKS // 2  # it did act, not just wait
    # and a fresh policy fed the recorded observations decides the recorded actions
    fresh = ExplorerPolicy()
    lines = [orjson.loads(line) for line in record.read_bytes().splitlines()]
    assert len(lines) == TICKS + 1
    for line in lines:
        expected = fresh.decide(line["observation"])
        assert line["action"] == dict(expected)


class Replicator:
    """Replicates whenever it can; records the hook calls it gets."""

    name = "replicator"

    def __init__(self) -> None:
        self.births: list[tuple[str, str]] = []
        self.seen: set[str] = set()

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        self.seen.add(str(observation["probe_id"]))
        return {"action": "replicate"}

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        self.births.append((probe_id, parent_id))


async def test_fleet_mode_picks_up_newborns() -> None:
    fast = {"replication_cost_scale": 0, "replication_time_scale": 0.01}
    async with running_daemon(sim_config=fast) as daemon:
        policy = Replicator()
        client = AgentClient(f"ws://127.0.0.1:{daemon.port}/ws", probe_id="1-1", lineage=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run_policy, policy)
            engine = daemon.engine
            for _ in range(12):
                expected = [
                    p for p, o in engine.observations.items() if o.get("status") != "destroyed"
                ]
                await drive_manually(daemon, expected or ["1-1"], 1)
                if len(policy.seen) >= 3:
                    break
            nursery.cancel_scope.cancel()
    assert {"1-1", "1-2"} <= policy.seen
    assert ("1-2", "1-1") in policy.births
    assert client.connections == 1


class Flaky:
    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, observation: Mapping[str, Any]) -> Any:
        self.calls += 1
        if self.calls % 3 == 1:
            raise RuntimeError("policy bug")
        if self.calls % 3 == 2:
            return {"action": "teleport"}  # not an action
        return "survey"


async def test_a_policy_that_raises_is_contained_remote() -> None:
    async with running_daemon() as daemon:
        policy = Flaky()
        client = AgentClient(f"ws://127.0.0.1:{daemon.port}/ws", probe_id="1-1")
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run_policy, policy)
            await drive_manually(daemon, ["1-1"], 6)
            nursery.cancel_scope.cancel()
        actions = journal_actions(daemon)
    assert policy.calls >= 6
    # raise -> wait, garbage -> wait, "survey" -> survey; the connection stays up throughout
    assert [a.get("1-1", {}).get("type") for a in actions[:6]] == ["wait", "wait", "survey"] * 2
    assert client.connections == 1


class Boom:
    name = "boom"

    def decide(self, observation: Mapping[str, Any]) -> Any:
        raise ValueError("boom")


class BoomPlugin:
    @hookimpl
    def universed_policies(self) -> Mapping[str, Any]:
        return {"boom": Boom()}


async def test_a_policy_that_raises_is_contained_in_process() -> None:
    async with running_daemon(plugins=(BoomPlugin(),), policies={"1-1": "boom"}) as daemon:
        result = await daemon.engine.manual_tick(5)
        assert result["tick"] == 5
        ctrl = daemon.registry.policy_controller("boom")
        assert ctrl.errors == 4  # tick 1 has no observation to decide from yet


async def test_unknown_probe_is_refused_not_retried() -> None:
    async with running_daemon() as daemon:
        client = AgentClient(f"ws://127.0.0.1:{daemon.port}/ws", probe_id="1-999")
        with pytest.raises(AgentError) as info, trio.fail_after(10):
            await client.run(lambda obs: "wait")
        assert info.value.code == "unknown_probe"


async def test_reconnects_until_the_daemon_is_there_and_after_a_drop() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AgentClient(
        f"ws://127.0.0.1:{port}/ws", probe_id="1-1", backoff=(0.05, 0.2), max_ticks=4
    )
    answered: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run, lambda obs: answered.append(obs["tick"]) or "survey")
        await trio.sleep(0.2)  # the client is retrying: nothing listens yet
        assert client.connections == 0
        async with running_daemon(port=port) as daemon:

            async def answers(n: int) -> None:
                with trio.fail_after(10):
                    while len(answered) < n:  # noqa: ASYNC110 (polls another task)
                        await trio.sleep(0.01)

            await answers(1)  # registered: answered the current observation
            await daemon.engine.manual_tick(1)
            await answers(2)
            for session in list(daemon.gateway.agent_sessions):  # the daemon drops it
                await session.ws.close(1001, "going away")
            await answers(3)  # reconnected and registered again
            await daemon.engine.manual_tick(1)
            await answers(4)
    # two answers per connection (the observation at registration, then the tick's): the client
    # stops by itself after 4, without being cancelled
    assert client.connections == 2 and len(answered) == 4


def test_agentrun_module_help_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "universed.agents.agentrun", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--fleet" in out.stdout and "PACKAGE:POLICY" in out.stdout
