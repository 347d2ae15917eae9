"""Delta observations (issue 15, docs/agent-protocol.md "Delta observations").

A connection that registers with ``"delta": true`` gets one whole observation per probe, then
only the top-level fields that changed, each message with the connection's sequence number;
``{"type":"resync"}`` gets the whole observations again. The SDK applies the deltas, so the
policy sees whole observations: checked here against the engine's own observation at every tick
of a long run with random actions, single and fleet, across a dropped connection.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
import trio
from helpers import agent, recv, recv_type, running_daemon, send

from universed.agents.client import AgentClient
from universed.core import messages as m
from universed.server.gateway import AgentSession

pytestmark = pytest.mark.e2e

ACTIONS = ["wait", "survey", "mine", "scan", "repair", "research", "wait", "mine"]


def test_diff_and_apply_are_inverse() -> None:
    rng = random.Random(3)
    keys = [f"k{i}" for i in range(12)]
    base: dict[str, Any] = {"type": "observe", "probe_id": "1-1", "tick": 1}
    for tick in range(2, 300):
        obs = {"type": "observe", "probe_id": "1-1", "tick": tick}
        for k in keys:
            if rng.random() < 0.8:
                obs[k] = base.get(k) if rng.random() < 0.7 else {"v": rng.randint(0, 3)}
        changed, removed = m.diff_observation(base, obs)
        assert "tick" not in changed and "probe_id" not in changed
        assert m.apply_delta(base, {"changed": changed, "removed": removed}, tick) == obs
        base = obs


def observe_everything(engine: Any) -> None:
    """Make every tick observe every probe, so that ``engine.observations`` holds the truth
    for probes whose deltas the sim computes (a readable delta fleet's are otherwise not
    observed: they come as the fleet's delta group)."""
    plan = engine.observer.observe_request

    def everything() -> tuple[Any, str, Any]:
        _observe, detail, reference = plan()
        return "all", detail, reference

    engine.observer.observe_request = everything


def whole(engine: Any, pid: str) -> dict[str, Any]:
    """The observation the non-delta path sends for ``pid`` now, decoded."""
    obs: dict[str, Any] = orjson.loads(m.encode_observe(engine.observations[pid], engine.tick))
    return obs


async def test_sdk_deltas_reproduce_every_observation_of_a_long_random_run() -> None:
    rng = random.Random(15)
    checked: list[str] = []
    wrong: list[tuple[int, str]] = []
    async with running_daemon(sim_args=("--populate", "8"), agent_timeout_ms=10_000) as d:
        engine = d.engine
        observe_everything(engine)
        url = f"ws://127.0.0.1:{d.port}/ws"

        def decide(obs: Any) -> dict[str, Any]:
            pid = obs["probe_id"]  # (the SDK turns an exception in decide into a wait: record)
            if obs["tick"] != engine.tick or dict(obs) != whole(engine, pid):
                wrong.append((obs["tick"], pid))
            checked.append(pid)
            name = rng.choice(ACTIONS)
            return {"action": name, "resource": "iron"} if name == "mine" else {"action": name}

        single = AgentClient(url, probe_id="1-1", delta=True, max_ticks=250)
        fleet = AgentClient(url, probe_ids=["1-2", "1-3", "1-4", "1-5"], delta=True, max_ticks=250)
        async with trio.open_nursery() as nursery:
            await nursery.start(single.run, decide)
            await nursery.start(fleet.run, decide)
            engine.set_mode("lockstep")
            with trio.fail_after(60):
                while single.ticks < 250 or fleet.ticks < 250:  # noqa: ASYNC110 (polls another task)
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        assert single.deltas_applied >= 240 and fleet.deltas_applied >= 4 * 240
        assert single.resyncs == 0 and fleet.resyncs == 0
        assert wrong == []
        assert checked.count("1-1") >= 250 and checked.count("1-5") >= 250


async def test_deltas_carry_only_what_changed_and_resync_sends_the_whole() -> None:
    async with running_daemon(sim_args=("--populate", "2")) as d:
        engine = d.engine
        async with agent(d.port) as ws:
            await send(
                ws, {"type": "register", "probe_id": "1-1", "shape": "readable", "delta": True}
            )
            reg = await recv_type(ws, "registered")
            assert reg["delta"] is True
            first = await recv(ws)
            assert first["type"] == "observe" and first["seq"] == 1
            obs = {k: v for k, v in first.items() if k != "seq"}
            for n in range(5):
                await send(ws, {"action": "survey" if n % 2 else "wait"})
                await engine.manual_tick(1, shape="readable")
                delta = await recv(ws)
                assert delta["type"] == "observe_delta" and delta["seq"] == n + 2
                assert delta["tick"] == engine.tick and delta["probe_id"] == "1-1"
                assert set(delta) == {"type", "probe_id", "tick", "seq", "changed", "removed"}
                assert len(delta["changed"]) < len(obs) // 2  # most fields stay the same
                obs = m.apply_delta(obs, delta, delta["tick"])
                assert obs == whole(engine, "1-1")
            await send(ws, {"type": "resync"})
            again = await recv(ws)
            assert again["type"] == "observe" and again["seq"] == 7
            assert {k: v for k, v in again.items() if k != "seq"} == obs
        async with agent(d.port) as ws:  # resync is for delta connections only
            await send(ws, {"type": "register", "probe_id": "1-2", "shape": "readable"})
            await recv_type(ws, "registered")
            assert "seq" not in await recv(ws)
            await send(ws, {"type": "resync"})
            err = await recv_type(ws, "error")
            assert err["code"] == "invalid"


async def test_fleet_deltas_and_resync_after_a_dropped_connection() -> None:
    seen: list[tuple[int, str]] = []
    wrong: list[tuple[int, str]] = []
    async with running_daemon(sim_args=("--populate", "4"), agent_timeout_ms=10_000) as d:
        engine = d.engine
        observe_everything(engine)
        url = f"ws://127.0.0.1:{d.port}/ws"

        def decide(obs: Any) -> str:
            if dict(obs) != whole(engine, obs["probe_id"]):
                wrong.append((obs["tick"], obs["probe_id"]))
            seen.append((obs["tick"], obs["probe_id"]))
            return "survey"

        client = AgentClient(url, probe_ids=["1-1", "1-2", "1-3"], delta=True, backoff=(0.05, 0.1))
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run, decide)
            engine.set_mode("lockstep")
            with trio.fail_after(20):
                while client.ticks < 30:  # noqa: ASYNC110 (polls another task)
                    await trio.sleep(0.02)
            applied = client.deltas_applied
            assert applied >= 3 * 25
            engine.set_mode("paused")
            (session,) = [
                r for r in engine.registry.remotes.values() if isinstance(r, AgentSession)
            ]
            await session.ws.close(1001, "test: drop")  # the server drops the connection
            with trio.fail_after(20):
                while client.connections < 2:  # noqa: ASYNC110 (polls another task)
                    await trio.sleep(0.02)
            engine.set_mode("lockstep")
            before = client.ticks
            with trio.fail_after(20):
                while client.ticks < before + 30:  # noqa: ASYNC110 (polls another task)
                    await trio.sleep(0.02)
            nursery.cancel_scope.cancel()
        assert client.deltas_applied >= applied + 3 * 25  # deltas again after the whole ones
        assert client.resyncs == 0
        assert len(seen) >= 3 * 60
        assert wrong == []


async def test_a_readable_delta_fleet_gets_the_sims_deltas_and_whole_ones_on_resync() -> None:
    async with running_daemon(sim_args=("--populate", "3")) as d:
        engine = d.engine
        observe_everything(engine)
        async with agent(d.port) as ws:
            ids = ["1-1", "1-2", "1-3"]
            await send(
                ws, {"type": "register", "probe_ids": ids, "shape": "readable", "delta": True}
            )
            await recv_type(ws, "registered")
            await engine.manual_tick(1, shape="readable")
            first = await recv(ws)  # whole, with the first tick after the registration
            assert first["type"] == "observe_batch" and first["seq"] == 1
            assert "deltas" not in first
            base = {o["probe_id"]: o for o in first["observations"]}
            assert {pid: whole(engine, pid) for pid in ids} == base
            for n in range(6):
                actions = {pid: {"action": "survey" if n % 2 else "wait"} for pid in ids[:2]}
                await send(ws, {"type": "actions", "actions": actions})
                await engine.manual_tick(1, shape="readable")
                batch = await recv(ws)
                assert batch["type"] == "observe_batch_delta" and batch["seq"] == n + 2
                assert batch["observations"] == [] and len(batch["deltas"]) == 3
                for delta in batch["deltas"]:
                    pid = delta["probe_id"]
                    assert "tick" not in delta["changed"] and "type" not in delta["changed"]
                    assert len(delta["changed"]) < len(base[pid]) // 2
                    base[pid] = m.apply_delta(base[pid], delta, batch["tick"])
                    assert base[pid] == whole(engine, pid)
            await send(ws, {"type": "resync"})
            await engine.manual_tick(1, shape="readable")
            again = await recv(ws)  # whole again, with the next tick
            assert again["type"] == "observe_batch" and again["seq"] == 8
            assert {o["probe_id"]: o for o in again["observations"]} == {
                pid: whole(engine, pid) for pid in ids
            }
            await send(ws, {"type": "register", "probe_ids": ["1-1", "1-9"], "delta": True})
            err = await recv_type(ws, "error")
            assert err["code"] == "unknown_probe" and err["path"] == "$.probe_ids[1]"


async def test_controlled_ledger_keeps_a_delta_fleets_events() -> None:
    # a readable delta fleet's probes are not observed (they come as its delta group), yet
    # somebody decides for them: ledger_scope "controlled" records their events
    async with running_daemon(sim_args=("--populate", "3"), ledger_scope="controlled") as d:
        engine = d.engine
        assert engine.ledger is not None
        async with agent(d.port) as ws:
            await send(
                ws,
                {
                    "type": "register",
                    "probe_ids": ["1-1", "1-2"],
                    "shape": "readable",
                    "delta": True,
                },
            )
            await recv_type(ws, "registered")
            for pid in ("1-1", "1-3"):  # 1-3: nobody decides for it
                await engine.inject({"type": "hazard", "severity": 0.2, "probe_id": pid})
            engine.set_mode("lockstep")  # (a manual tick would observe every probe)
            assert (await recv(ws))["type"] == "observe_batch"
            engine.set_mode("paused")
        engine.ledger.flush()
        hazards = engine.ledger.query(type="hazard")["events"]
        assert {e["probe_id"] for e in hazards} == {"1-1"}


async def test_a_delta_fleets_probe_list_is_kept_while_its_probes_are_unchanged() -> None:
    """`Observer.delta_request` lists (and encodes) a delta fleet's probes once, not every
    tick; any change of the fleet's probes (here: one taken back) lists them again."""
    async with running_daemon(sim_args=("--populate", "3")) as d:
        engine = d.engine
        async with agent(d.port) as ws:
            ids = ["1-1", "1-2", "1-3"]
            await send(
                ws, {"type": "register", "probe_ids": ids, "shape": "readable", "delta": True}
            )
            await recv_type(ws, "registered")
            (ctrl,) = engine.registry.remotes.values()

            def request() -> tuple[list[str], list[str]]:
                (listed,), (group,) = engine.observer.delta_request()
                assert listed[0] is ctrl
                return listed[1], orjson.loads(orjson.dumps(group))["probes"]

            first, sent = request()
            assert sorted(first) == ids and sent == first
            await engine.manual_tick(1)
            await recv(ws)
            again, sent = request()
            assert again is first and sent == first  # unchanged: the same list, not rebuilt
            engine.registry.drop_probe("1-2", ctrl)
            changed, sent = request()
            assert sorted(changed) == ["1-1", "1-3"] and sent == changed
            await engine.manual_tick(1)
            batch = await recv(ws)
            assert {o["probe_id"] for o in batch["deltas"]} == {"1-1", "1-3"}


def test_delta_groups_list_probes_in_the_sims_order() -> None:
    """A group lists its probes by number (the sim walks their state in the order listed),
    whatever order the set holds them in."""
    from universed.core.observe import _in_id_order

    ids = [f"1-{n}" for n in (10, 2, 100, 9, 1, 11, 1000, 99)]
    assert _in_id_order(set(ids)) == [f"1-{n}" for n in (1, 2, 9, 10, 11, 99, 100, 1000)]
    assert _in_id_order([]) == []
