"""Observation shapes per connection, and the tick behaviours reference clients rely on.

Shapes (docs/agent-protocol.md "Observation shapes"): against the fake sim (tests/fakesim.py),
which emits the engine's ``reference`` overlay exactly when a tick asks for it, so what every
consumer receives, and what the daemon asks the sim for, is checked deterministically.

Tick behaviours, against the real engine: an action sent just before ``POST /api/tick`` is
applied in that tick, every time; a dashboard gets every tick at 20 ticks/s.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from helpers import agent, http, recv, recv_type, register, running_daemon, send
from trio_websocket import WebSocketConnection, open_websocket_url

from universed.server.daemon import Daemon

pytestmark = pytest.mark.e2e

FAKE = Path(__file__).with_name("fakesim.py")
OVERLAY = ("system", "recent_events", "trust", "relay_network", "research", "visible_structures")


def fake_binary(tmp_path: Path) -> str:
    script = tmp_path / "fake-sim"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    script.chmod(0o755)
    return str(script)


@asynccontextmanager
async def fake_daemon(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[Daemon, list[Any]]]:
    """A paused daemon on the fake sim; yields it and the list of tick requests it sends."""
    overrides.setdefault("agent_timeout_ms", 50)  # agents here do not answer: tick at once
    async with running_daemon(sim_path=fake_binary(tmp_path), **overrides) as d:
        ticks: list[dict[str, Any]] = []
        request: Callable[..., Awaitable[dict[str, Any]]] = d.sim.request

        async def recording(command: dict[str, Any], **kw: Any) -> dict[str, Any]:
            if command.get("cmd") == "tick":
                ticks.append(dict(command))
            return await request(command, **kw)

        d.sim.request = recording  # type: ignore[method-assign,assignment]
        yield d, ticks


def is_reference(obs: dict[str, Any]) -> bool:
    assert "reference" not in obs  # never the raw overlay
    return isinstance(obs["system"], dict) and obs["trust"] == [] and obs["relay_network"] == []


def is_readable(obs: dict[str, Any]) -> bool:
    assert "reference" not in obs
    return obs["system"] == "7-1" and obs["trust"] == {} and "relays" in obs["relay_network"]


async def tick(d: Daemon, query: str = "") -> dict[str, Any]:
    status, body = await http(d.port, "POST", f"/api/tick{query}", {})
    assert status == 200, body
    assert body["ok"] is True
    return dict(body)


@asynccontextmanager
async def dashboard(d: Daemon, query: str = "") -> AsyncIterator[WebSocketConnection]:
    url = f"ws://127.0.0.1:{d.port}/ws/dashboard{query}"
    before = len(d.hub.subscribers)
    async with open_websocket_url(url, max_message_size=64 << 20) as ws:
        with trio.fail_after(5):  # subscribed once the hub counts it
            while len(d.hub.subscribers) <= before:  # noqa: ASYNC110 (the daemon's state)
                await trio.sleep(0.005)
        yield ws


async def test_post_tick_shapes_and_what_the_sim_is_asked(tmp_path: Path) -> None:
    async with fake_daemon(tmp_path) as (d, ticks):
        body = await tick(d)
        assert set(body) >= {"ok", "tick", "observations"} and body["tick"] == 1
        [obs] = body["observations"]
        assert is_reference(obs) and obs["tick"] == 1 and obs["recent_events"][0]["type"] == 2
        assert ticks[-1]["reference"] == "all"
        readable = await tick(d, "?shape=readable")
        [obs] = readable["observations"]
        assert is_readable(obs) and readable["tick"] == 2
        assert "reference" not in ticks[-1]  # nobody needs the overlay: the sim is not asked
        explicit = await tick(d, "?shape=reference")
        assert is_reference(explicit["observations"][0])
        for bad in ("?shape=bogus", "?shape="):
            status, err = await http(d.port, "POST", f"/api/tick{bad}", {})
            assert status == 400 and err["error"]["code"] == "bad_request", err
            assert "readable" in err["error"]["message"]
        assert d.engine.tick == 3  # the refused requests ticked nothing
        # internal state stays readable: what policies, the ledger and REST read
        assert is_readable(d.engine.observations["1-1"])


async def test_agents_get_their_own_shape(tmp_path: Path) -> None:
    async with (
        fake_daemon(tmp_path) as (d, ticks),
        agent(d.port) as ref_ws,
    ):
        await tick(d, "?shape=readable")  # the last tick has no overlay: registration asks
        reg = await register(ref_ws)
        assert reg == {"type": "registered", "probe_id": "1-1", "shape": "reference"}
        first = await recv_type(ref_ws, "observe")
        assert first["probe_id"] == "1-1"  # (the pipe's probe has no overlay: readable form)
        await tick(d, "?shape=readable")
        obs = await recv_type(ref_ws, "observe")
        assert is_reference(obs) and obs["tick"] == 2
        assert ticks[-1]["reference"] == "all"  # the reference agent's probe
        # the same probe, now to a readable connection (it takes the probe over)
        async with agent(d.port) as readable_ws:
            await send(readable_ws, {"type": "register", "probe_id": "1-1", "shape": "readable"})
            reg = await recv_type(readable_ws, "registered")
            assert reg["shape"] == "readable"
            first = await recv_type(readable_ws, "observe")
            assert is_readable(first)
            replaced = await recv_type(ref_ws, "error")
            assert replaced["code"] == "replaced"
            await tick(d, "?shape=readable")
            assert is_readable(await recv_type(readable_ws, "observe"))
            assert "reference" not in ticks[-1]  # every consumer is readable
            agents = d.engine.registry.describe()["agents"]
            assert [a["shape"] for a in agents if a["kind"] == "remote"] == ["readable"]


async def test_a_reference_agent_registering_after_a_reference_tick(tmp_path: Path) -> None:
    async with fake_daemon(tmp_path) as (d, _ticks), agent(d.port) as ws:
        await tick(d)  # reference: the overlay of every probe is kept for registrations
        await register(ws)
        first = await recv_type(ws, "observe")
        assert is_reference(first) and first["tick"] == 1


async def test_fleet_batches_in_each_shape(tmp_path: Path) -> None:
    async with fake_daemon(tmp_path) as (d, _ticks):
        for shape, check in (("reference", is_reference), ("readable", is_readable)):
            async with agent(d.port) as ws:
                await send(ws, {"type": "register", "probe_ids": ["1-1"], "shape": shape})
                reg = await recv_type(ws, "registered")
                assert reg["fleet"] is True and reg["shape"] == shape
                await recv_type(ws, "observe_batch")
                await tick(d, "?shape=readable")
                batch = await recv_type(ws, "observe_batch")
                [obs] = batch["observations"]
                assert check(obs), obs


async def test_a_bad_shape_is_a_precise_error_and_the_connection_stays(tmp_path: Path) -> None:
    async with fake_daemon(tmp_path) as (d, _ticks), agent(d.port) as ws:
        await send(ws, {"type": "register", "probe_id": "1-1", "shape": "pretty"})
        err = await recv(ws)
        assert err["type"] == "error" and err["code"] == "invalid" and err["path"] == "$.shape"
        assert "pretty" in err["message"] and "readable" in err["message"]
        reg = await register(ws)
        assert reg["shape"] == "reference"


async def test_dashboards_get_one_message_per_shape(tmp_path: Path) -> None:
    async with (
        fake_daemon(tmp_path) as (d, ticks),
        dashboard(d) as ref_dash,
        dashboard(d, "?shape=readable") as readable_dash,
    ):
        assert {s.shape for s in d.hub.subscribers} == {"reference", "readable"}
        await tick(d, "?shape=readable")
        ref_msg = await recv_type(ref_dash, "tick")
        readable_msg = await recv_type(readable_dash, "tick")
        assert ref_msg["tick"] == readable_msg["tick"] == 1
        assert list(ref_msg)[:4] == ["type", "tick", "observations", "agents"]
        assert ref_msg["agents"] == {"connected": 0}
        assert is_reference(ref_msg["observations"][0])
        assert is_readable(readable_msg["observations"][0])
        # universed's own fields stay beside the reference's, in both shapes
        assert {k: v for k, v in ref_msg.items() if k != "observations"} == {
            k: v for k, v in readable_msg.items() if k != "observations"
        }
        assert ticks[-1]["reference"] == "all" and ticks[-1]["detail"] == "full"
    async with fake_daemon(tmp_path) as (d, ticks), dashboard(d, "?shape=readable") as dash:
        await tick(d, "?shape=readable")
        assert is_readable((await recv_type(dash, "tick"))["observations"][0])
        assert "reference" not in ticks[-1]  # a readable dashboard costs no overlay


async def test_a_bad_dashboard_shape_is_refused_before_the_upgrade(tmp_path: Path) -> None:
    async with fake_daemon(tmp_path) as (d, _ticks):
        head = (
            b"GET /ws/dashboard?shape=fancy HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        stream = await trio.open_tcp_stream("127.0.0.1", d.port)
        async with stream:
            await stream.send_all(head)
            data = b""
            with trio.fail_after(5):
                while chunk := await stream.receive_some(65536):
                    data += chunk
        status_line, _, rest = data.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 400")
        body = orjson.loads(rest.partition(b"\r\n\r\n")[2])
        assert body["error"]["code"] == "invalid" and "fancy" in body["error"]["message"]


# --------------------------------------------------------------------------- the real engine


@pytest.mark.parametrize("mux", [True, False], ids=["mux", "task-per-connection"])
async def test_an_action_then_post_tick_is_applied_in_that_tick(mux: bool) -> None:
    """The reference clients' loop: send the action, POST /api/tick at once. The manual tick
    waits for the action of the agent holding an observation, so it never races it."""
    async with running_daemon(mode="paused", mux=mux) as d, agent(d.port) as ws:
        await send(ws, {"type": "register", "probe_id": "1-1", "shape": "readable"})
        await recv_type(ws, "registered")
        await recv_type(ws, "observe")
        for n in range(40):
            name = ("scan", "survey")[n % 2]
            await send(ws, {"action": name})
            body = await tick(d, "?shape=readable")
            [mine] = [o for o in body["observations"] if o["probe_id"] == "1-1"]
            assert mine["last_action"]["action"] == name, (n, mine["last_action"])
            obs = await recv_type(ws, "observe")
            assert obs["tick"] == body["tick"] and obs["last_action"]["action"] == name


async def test_a_silent_agent_costs_a_manual_tick_its_timeout_then_the_fallback() -> None:
    async with running_daemon(mode="paused", agent_timeout_ms=300) as d, agent(d.port) as ws:
        await register(ws)
        await recv_type(ws, "observe")
        opened = d.engine.window.opened_at  # the timeout runs from the observation, as realtime
        body = await tick(d, "?shape=readable")
        assert 0.3 <= trio.current_time() - opened < 5
        assert body["tick"] == 1
        await recv_type(ws, "observe")
        await trio.sleep(0.4)  # the observation is older than the timeout: no more waiting
        t0 = trio.current_time()
        await tick(d, "?shape=readable")
        assert trio.current_time() - t0 < 0.25


async def test_dashboards_get_every_tick_at_20_per_second() -> None:
    """Realtime at 20 ticks/s with an agent answering: both dashboard shapes see every tick."""
    async with (
        running_daemon(mode="realtime", tick_rate=20.0) as d,
        dashboard(d) as ref_dash,
        dashboard(d, "?shape=readable") as readable_dash,
        agent(d.port) as ws,
    ):
        await send(ws, {"type": "register", "probe_id": "1-1", "shape": "readable"})
        await recv_type(ws, "registered")

        async def answer() -> None:
            while True:
                msg = await recv(ws)
                if msg["type"] == "observe":
                    await send(ws, {"action": "scan"})

        seen: dict[str, list[int]] = {"reference": [], "readable": []}

        async def listen(shape: str, dash: WebSocketConnection) -> None:
            while len(seen[shape]) < 60:
                msg = await recv(dash)
                if msg["type"] == "tick":
                    seen[shape].append(msg["tick"])

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer)
                async with trio.open_nursery() as listeners:
                    listeners.start_soon(listen, "reference", ref_dash)
                    listeners.start_soon(listen, "readable", readable_dash)
                nursery.cancel_scope.cancel()
        for shape, ticks in seen.items():
            assert ticks == list(range(ticks[0], ticks[0] + 60)), (shape, ticks)
        assert d.engine.ticks_per_second > 15
