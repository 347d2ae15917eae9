"""End-to-end scenarios (server-plan.md Phase 6 and more): real sim, real server, 127.0.0.1."""

from __future__ import annotations

import os
import signal
from typing import Any

import orjson
import pytest
import trio
from helpers import agent, http, recv, recv_type, register, running_daemon, send

from universed.plugins import hookimpl

pytestmark = pytest.mark.e2e


async def wait_tick(port: int, at_least: int, limit: float = 10.0) -> int:
    with trio.fail_after(limit):
        while True:
            _, body = await http(port, "GET", "/api/status?limit=0")
            if body["tick"] >= at_least:
                return int(body["tick"])
            await trio.sleep(0.02)


# both agent read paths: the epoll ReadMux (Linux default) and a reader task per connection
READERS = pytest.mark.parametrize("mux", [True, False], ids=["readmux", "task-per-connection"])


@READERS
async def test_two_agents_twenty_ticks(mux: bool) -> None:
    async with running_daemon(mode="lockstep", sim_args=("--populate", "2"), mux=mux) as d:
        async with agent(d.port) as a, agent(d.port) as b:
            await register(a, "1-1")
            await register(b, "1-2")
            seen: dict[str, list[int]] = {"1-1": [], "1-2": []}
            done: dict[str, list[str]] = {"1-1": [], "1-2": []}

            async def play(ws: Any, pid: str, action: str) -> None:
                while len(seen[pid]) < 20:
                    obs = await recv_type(ws, "observe")
                    assert obs["probe_id"] == pid
                    seen[pid].append(obs["tick"])
                    done[pid].append(obs["last_action"]["action"])
                    await send(ws, {"action": action})

            async with trio.open_nursery() as nursery:
                nursery.start_soon(play, a, "1-1", "survey")
                nursery.start_soon(play, b, "1-2", "scan")
        for ticks in seen.values():
            assert len(ticks) == 20
            assert ticks[1:] == [t + 1 for t in ticks[:-1]]
        # every observation after the first shows the action answered to the previous one
        assert set(done["1-1"][1:]) == {"survey"}
        assert set(done["1-2"][1:]) == {"scan"}


async def test_agent_timeout_gets_fallback_and_others_are_not_blocked() -> None:
    async with (
        running_daemon(mode="lockstep", agent_timeout_ms=150, sim_args=("--populate", "2")) as d,
        agent(d.port) as silent,
        agent(d.port) as busy,
    ):
        await register(silent, "1-1")
        await register(busy, "1-2")
        start = trio.current_time()
        ticks = []
        for _ in range(4):
            obs = await recv_type(busy, "observe")
            ticks.append(obs["tick"])
            await send(busy, {"action": "survey"})
        elapsed = trio.current_time() - start
        # each tick waited for the silent agent's timeout, never longer
        assert 0.3 <= elapsed < 2.0
        assert ticks[1:] == [t + 1 for t in ticks[:-1]]
        _, probe = await http(d.port, "GET", "/api/probes/1-1")
        assert probe["status"] != "destroyed"
        assert probe["last_action"]["action"] == "wait"  # fallback: undamaged => wait
        assert probe["last_action"]["ok"] is True


async def test_inject_decreases_hull() -> None:
    async with running_daemon(mode="paused") as d:
        _, before = await http(d.port, "GET", "/api/probes/1-1")
        status, reply = await http(
            d.port,
            "POST",
            "/api/inject",
            {"event": {"type": "hazard", "subtype": 1, "severity": 0.8, "probe_id": "1-1"}},
        )
        assert status == 200 and reply["applied"] == 1
        status, ticked = await http(d.port, "POST", "/api/tick", {})
        assert status == 200
        _, after = await http(d.port, "GET", "/api/probes/1-1")
        assert after["hull"] < before["hull"]
        bob = ticked["observations"][0]
        assert any(e["type"] == "hazard" and e["injected"] for e in bob["events"])


async def test_snapshot_run_restore() -> None:
    async with running_daemon(mode="paused") as d:
        status, body = await http(d.port, "POST", "/api/tick", {"count": 10})
        assert status == 200 and body["tick"] == 10
        _, state10 = await http(d.port, "GET", "/api/state")
        status, snap = await http(d.port, "POST", "/api/snapshot", {"tag": "t1"})
        assert status == 200 and snap == {"ok": True, "snapshot": "t1", "tick": 10}
        await http(d.port, "POST", "/api/tick", {"count": 10})
        _, state20 = await http(d.port, "GET", "/api/state")
        assert state20["tick"] == 20
        status, restored = await http(d.port, "POST", "/api/restore", {"tag": "t1"})
        assert status == 200 and restored == {"ok": True, "restored": "t1", "tick": 10}
        _, state = await http(d.port, "GET", "/api/state")
        assert state["tick"] == 10 and state["hash"] == state10["hash"]
        _, st = await http(d.port, "GET", "/api/status")
        assert st["tick"] == 10


async def test_config_change_takes_effect() -> None:
    async with running_daemon(mode="paused") as d:
        await http(d.port, "POST", "/api/tick", {"count": 50})
        _, m0 = await http(d.port, "GET", "/api/metrics")
        status, body = await http(
            d.port, "POST", "/api/config", {"event_freq_discovery": 1.0, "event_freq_hazard": 0}
        )
        assert status == 200
        assert body["config"]["event_freq_discovery"] == 1.0
        _, cfg = await http(d.port, "GET", "/api/config")
        assert cfg["sim"]["event_freq_discovery"] == 1.0
        await http(d.port, "POST", "/api/tick", {"count": 50})
        _, m1 = await http(d.port, "GET", "/api/metrics")
        # every tick now rolls a discovery for Bob; before, about one in a thousand
        assert m1["discoveries"] - m0["discoveries"] >= 45
        assert m1["hazards"] == m0["hazards"]
        # the {"data": {...}} form of the server plan works too
        status, body = await http(
            d.port, "POST", "/api/config", {"data": {"event_freq_hazard": "0.5"}}
        )
        assert status == 200 and body["config"]["event_freq_hazard"] == 0.5


async def test_dashboard_receives_tick_stream() -> None:
    async with running_daemon(mode="paused") as d, agent(d.port, "/ws/dashboard") as dash:
        await trio.sleep(0.05)  # let the subscription start
        await send(dash, {"hello": "ignored"})
        ticks = []
        for _ in range(3):
            await http(d.port, "POST", "/api/tick", {})
            msg = await recv(dash)
            assert msg["type"] == "tick"
            ticks.append(msg["tick"])
            assert msg["observations"][0]["probe_id"] == "1-1"
            assert msg["probe_count"] == 1
            assert msg["agents"] == {"connected": 0}
            assert msg["mode"] == "paused"
            assert msg["metrics"]["probes_alive"] == 1
        assert ticks == [1, 2, 3]


async def test_slow_dashboard_does_not_slow_ticks() -> None:
    async with running_daemon(mode="lockstep") as d:
        stream = await trio.open_tcp_stream("127.0.0.1", d.port)
        async with stream:
            # a dashboard that completes the handshake and then never reads
            await stream.send_all(
                b"GET /ws/dashboard HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            t0 = await wait_tick(d.port, 1)
            await trio.sleep(1.0)
            t1 = await wait_tick(d.port, 1)
            assert t1 - t0 > 200  # the loop kept going
            [sub] = d.hub.subscribers
            # bounded: old ticks dropped, at most dashboard_queue of them queued
            assert len(sub.pending) <= d.config.dashboard_queue and sub.dropped > 100
            assert d.gateway.dashboards == 1


async def test_rest_probes_match_sim_state() -> None:
    async with running_daemon(mode="paused", sim_args=("--populate", "3")) as d:
        await http(d.port, "POST", "/api/tick", {"count": 5})
        status, body = await http(d.port, "GET", "/api/probes")
        assert status == 200 and body["total"] == 3
        sim = await d.sim.request({"cmd": "status"})
        assert [p["id"] for p in body["probes"]] == [p["id"] for p in sim["probes"]]
        for row, truth in zip(body["probes"], sim["probes"], strict=True):
            assert {k: row[k] for k in truth} == truth
            assert row["controller"] == "default:wait"
        _, one = await http(d.port, "GET", "/api/probes/1-2")
        detail = await d.sim.request({"cmd": "probe", "probe_id": "1-2"})
        assert {k: one[k] for k in detail["probe"]} == detail["probe"]
        _, page = await http(d.port, "GET", "/api/probes?limit=1&offset=1")
        assert [p["id"] for p in page["probes"]] == ["1-2"]
        _, st = await http(d.port, "GET", "/api/status")
        assert st["total"] == 3 and st["sim"]["state"] == "running"
        system = one["system"]
        status, sysd = await http(d.port, "GET", f"/api/systems/{system}")
        assert status == 200 and sysd["id"] == system and sysd["bodies"]


@READERS
async def test_disconnect_falls_back_and_reconnect_resumes(mux: bool) -> None:
    async with running_daemon(mode="lockstep", mux=mux) as d:
        async with agent(d.port) as ws:
            await register(ws)
            for _ in range(3):
                await recv_type(ws, "observe")
                await send(ws, {"action": "survey"})
            obs = await recv_type(ws, "observe")
            assert obs["last_action"]["action"] == "survey"
        gone_at = d.engine.tick
        await wait_tick(d.port, gone_at + 20)  # nobody waits for the missing agent
        _, probe = await http(d.port, "GET", "/api/probes/1-1")
        assert probe["last_action"]["action"] == "wait"
        assert probe["controller"] == "default:wait"
        async with agent(d.port) as ws:
            await register(ws)
            await recv_type(ws, "observe")
            await send(ws, {"action": "survey"})
            obs = await recv_type(ws, "observe")
            assert obs["last_action"]["action"] == "survey"
            _, agents = await http(d.port, "GET", "/api/agents")
            assert agents["connected"] == 1
            assert agents["assignments"]["1-1"].startswith("remote:")


async def test_reregister_replaces_previous_agent() -> None:
    async with (
        running_daemon(mode="paused") as d,
        agent(d.port) as first,
        agent(d.port) as second,
    ):
        await register(first)
        await register(second)
        err = await recv_type(first, "error")
        assert err["code"] == "replaced"
        await send(first, {"action": "survey"})
        err = await recv_type(first, "error")
        assert err["code"] in ("not_registered", "not_controlled")


@READERS
async def test_fleet_mode(mux: bool) -> None:
    async with (
        running_daemon(mode="lockstep", sim_args=("--populate", "3"), mux=mux) as d,
        agent(d.port) as ws,
    ):
        await send(ws, {"type": "register", "probe_ids": ["1-1", "1-3"]})
        reg = await recv_type(ws, "registered")
        assert reg == {
            "type": "registered",
            "probe_ids": ["1-1", "1-3"],
            "fleet": True,
            "shape": "reference",
        }
        for _ in range(3):
            batch = await recv_type(ws, "observe_batch")
            assert sorted(o["probe_id"] for o in batch["observations"]) == ["1-1", "1-3"]
            await send(
                ws,
                {
                    "type": "actions",
                    "tick": batch["tick"],
                    "actions": {"1-1": {"action": "survey"}, "1-3": {"action": "scan"}},
                },
            )
        batch = await recv_type(ws, "observe_batch")
        last = {o["probe_id"]: o["last_action"]["action"] for o in batch["observations"]}
        assert last == {"1-1": "survey", "1-3": "scan"}
        await send(ws, {"type": "actions", "actions": {"1-2": {"action": "survey"}}})
        err = await recv_type(ws, "error")
        assert err["code"] == "not_controlled"
        await send(ws, {"type": "register", "probe_id": "1-1", "lineage": True})
        reg = await recv_type(ws, "registered")
        assert reg["fleet"] is True and "1-1" in reg["probe_ids"]


class BoomPolicy:
    name = "boom"

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, observation: Any) -> Any:
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError("kaboom")
        return {"nonsense": True}


class BoomPlugin:
    def __init__(self) -> None:
        self.policy = BoomPolicy()

    @hookimpl
    def universed_policies(self) -> dict[str, Any]:
        return {"boom": self.policy}


async def test_crashing_policy_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    plugin = BoomPlugin()
    async with running_daemon(mode="paused", plugins=(plugin,), policies={"1-1": "boom"}) as d:
        status, body = await http(d.port, "POST", "/api/tick", {"count": 6})
        assert status == 200 and body["tick"] == 6
        assert body["observations"][0]["last_action"]["action"] == "wait"
        assert plugin.policy.calls >= 5
        _, agents = await http(d.port, "GET", "/api/agents")
        assert agents["assignments"] == {"1-1": "boom"}
        assert "boom" in agents["policies"] and "fallback" in agents["policies"]
    assert any("'boom' raised" in r.getMessage() for r in caplog.records)
    assert any("'boom' returned" in r.getMessage() for r in caplog.records)


async def test_sim_killed_recovers_losslessly() -> None:
    async with (
        running_daemon(
            mode="paused", checkpoint_every=7, verify_every=3, sim_args=("--populate", "2")
        ) as d,
        agent(d.port) as ws,
    ):
        await register(ws, "1-2")
        for _ in range(25):
            await recv_type(ws, "observe")
            await send(ws, {"action": "survey"})
            await http(d.port, "POST", "/api/tick", {})
        await http(d.port, "POST", "/api/config", {"event_freq_hazard": 0.3})
        await http(d.port, "POST", "/api/inject", {"event": {"type": "hazard", "severity": 0.3}})
        _, before = await http(d.port, "GET", "/api/state")
        old_pid = d.sim.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        with trio.fail_after(10):
            while d.sim.restarts < 1 or d.sim.state != "running":  # noqa: ASYNC110 (polls the daemon)
                await trio.sleep(0.02)
        assert d.sim.pid != old_pid
        _, after = await http(d.port, "GET", "/api/state")
        assert after["tick"] == before["tick"] == 25
        assert after["hash"] == before["hash"]
        assert d.engine.recoveries_verified
        # and it keeps serving: the agent still plays
        await send(ws, {"action": "survey"})
        status, body = await http(d.port, "POST", "/api/tick", {})
        assert status == 200 and body["tick"] == 26
        _, st = await http(d.port, "GET", "/api/status")
        assert st["sim"]["restarts"] == 1


async def test_sim_killed_while_running_lockstep() -> None:
    async with running_daemon(mode="lockstep", checkpoint_every=50) as d:
        await wait_tick(d.port, 100)
        pid = d.sim.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):
            while d.sim.restarts < 1:  # noqa: ASYNC110 (polls the daemon)
                await trio.sleep(0.02)
        tick = d.engine.tick
        await wait_tick(d.port, tick + 50)
        assert d.engine.recoveries_verified


@READERS
async def test_malformed_websocket_input_gets_error_frames(mux: bool) -> None:
    async with running_daemon(mode="paused", mux=mux) as d, agent(d.port) as ws:
        cases: list[tuple[Any, str, str | None]] = [
            ("{not json", "bad_json", "$"),
            ([1, 2], "invalid", "$"),
            ({"type": "dance"}, "unknown_type", "$.type"),
            ({"type": "register", "probe_id": "bob"}, "invalid", "$.probe_id"),
            ({"type": "register", "probe_id": "1-99"}, "unknown_probe", "$.probe_id"),
            ({"type": "register", "probe_ids": ["1-1", 7]}, "invalid", "$.probe_ids[1]"),
            ({"type": "register", "probe_id": "1-1", "extra": 1}, "invalid", "$"),
            ({"action": "fly"}, "unknown_action", "$.action"),
            ({"action": "survey"}, "not_registered", "$.probe_id"),
            ({"type": "actions", "actions": []}, "invalid", "$.actions"),
        ]
        for payload, code, path in cases:
            text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
            await ws.send_message(text)
            err = await recv(ws)
            assert err["type"] == "error", payload
            assert err["code"] == code, (payload, err)
            assert err.get("path") == path, (payload, err)
            assert err["message"]
        # the connection is still usable
        assert (await register(ws))["probe_id"] == "1-1"


async def test_malformed_rest_input_gets_clear_errors() -> None:
    async with running_daemon(mode="paused") as d:
        p = d.port
        status, body = await http(p, "POST", "/api/inject", raw=b"{nope")
        assert status == 400 and body["error"]["code"] == "bad_json"
        status, body = await http(
            p, "POST", "/api/inject", {"event": {"type": "hazard", "severity": 7}}
        )
        assert status == 422 and body["error"]["details"]["path"] == "$.event.severity"
        status, body = await http(p, "POST", "/api/inject", {"event": {"type": "flood"}})
        assert status == 422 and body["error"]["details"]["path"] == "$.event.type"
        status, body = await http(p, "POST", "/api/mode", {"mode": "warp"})
        assert status == 422 and body["error"]["details"]["path"] == "$.mode"
        status, body = await http(p, "POST", "/api/snapshot", {})
        assert status == 422 and body["error"]["details"]["path"] == "$.tag"
        status, body = await http(p, "POST", "/api/snapshot", raw=b"")
        assert status == 400 and body["error"]["code"] == "bad_request"
        status, body = await http(p, "GET", "/api/probes/1-77")
        assert status == 404 and body["error"]["code"] == "unknown_probe"
        status, body = await http(p, "GET", "/api/probes/zzz")
        assert status == 404 and body["error"]["code"] == "unknown_probe"
        status, body = await http(p, "GET", "/api/nothing")
        assert status == 404 and body["error"]["code"] == "not_found"
        status, body = await http(p, "DELETE", "/api/status")
        assert status == 405 and body["error"]["code"] == "method_not_allowed"
        status, body = await http(p, "POST", "/api/restore", {"tag": "never"})
        assert status == 404 and body["error"]["code"] == "unknown_tag"
        status, body = await http(p, "POST", "/api/config", {"warp_factor": 9})
        assert status == 422 and body["error"]["code"] == "bad_config"
        status, body = await http(p, "POST", "/api/config", {"event_freq_hazard": [1]})
        assert status == 422 and body["error"]["details"]["path"] == "$.event_freq_hazard"
        status, body = await http(p, "GET", "/api/probes?limit=x")
        assert status == 400 and body["error"]["code"] == "bad_request"
        await http(p, "POST", "/api/resume", {})
        status, body = await http(p, "POST", "/api/tick", {})
        assert status == 409 and body["error"]["code"] == "conflict"


async def test_modes_switch_at_run_time() -> None:
    async with running_daemon(mode="paused") as d:
        await trio.sleep(0.2)
        assert d.engine.tick == 0
        status, body = await http(
            d.port, "POST", "/api/mode", {"mode": "realtime", "tick_rate": 50}
        )
        assert status == 200 and body["mode"] == "realtime" and body["tick_rate"] == 50
        await trio.sleep(0.5)
        rt = d.engine.tick
        assert 10 <= rt <= 40
        status, body = await http(d.port, "POST", "/api/pause", {})
        assert body["mode"] == "paused"
        paused_at = d.engine.tick
        await trio.sleep(0.2)
        assert d.engine.tick == paused_at
        status, body = await http(d.port, "POST", "/api/resume", {})
        assert body["mode"] == "realtime"
        await http(d.port, "POST", "/api/mode", {"mode": "lockstep"})
        await wait_tick(d.port, paused_at + 500)
