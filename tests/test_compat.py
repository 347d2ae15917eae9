"""The reference wire, shape for shape: a client of the reference server works unchanged.

``tests/compat/reference.jsonl`` is the reference server's wire as recorded answering its own
clients (REST replies, ``/ws`` and ``/ws/dashboard`` messages; a copy of
``../shared/compat/reference.jsonl``), ``tests/compat/shape_diff.py`` its shape comparer. This test
drives a real daemon through every endpoint and message type of that transcript, in states where
every array the reference shows filled is filled here too (claims, proposals, beacons, structures,
research, recent events, history, scenario, scan), records universed's answers in the same format
and requires the comparer to find no difference (``$.error`` allowed: universed's errors are
objects, see docs/server.md). It uses the default shapes: no ``shape`` opt-in anywhere.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from helpers import QUIET, http, running_daemon
from trio_websocket import WebSocketConnection, open_websocket_url

from universed.server.daemon import Daemon

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent / "compat"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "compat"


class Recorder:
    """Drives a daemon and writes the transcript (the format of reference.jsonl)."""

    def __init__(self, d: Daemon, out: Path) -> None:
        self.d = d
        self.port = d.port
        self.out = out.open("w")
        self.agent: WebSocketConnection | None = None
        self.last: dict[str, Any] = {}  # the agent's latest observation

    def rec(self, record: dict[str, Any]) -> None:
        self.out.write(orjson.dumps(record).decode() + "\n")

    async def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, reply = await http(self.port, method, path, body)
        self.rec(
            {
                "kind": "http",
                "method": method,
                "path": path,
                "req": body,
                "status": status,
                "body": reply,
            }
        )
        return status, reply

    async def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, reply = await self.http(method, path, body)
        assert status == 200 and reply["ok"] is True, (method, path, status, reply)
        return dict(reply)

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.agent is not None
        self.rec({"kind": "ws-out", "path": "/ws", "msg": msg})
        await self.agent.send_message(orjson.dumps(msg).decode())

    async def receive(self, kind: str) -> dict[str, Any]:
        assert self.agent is not None
        with trio.fail_after(10):
            while True:
                msg = orjson.loads(await self.agent.get_message())
                self.rec({"kind": "ws-in", "path": "/ws", "msg": msg})
                if msg.get("type") == kind:
                    return dict(msg)

    async def register(self, probe_id: str = "1-1") -> dict[str, Any]:
        await self.send({"type": "register", "probe_id": probe_id})
        reg = await self.receive("registered")
        assert reg["probe_id"] == probe_id
        self.last = await self.receive("observe")
        return reg

    async def act(self, action: dict[str, Any]) -> dict[str, Any]:
        """Send one action, then ``POST /api/tick`` at once (the manual tick waits for it, as the
        reference clients expect); returns the next observation."""
        await self.send(action)
        reply = await self.ok("POST", "/api/tick")
        self.last = await self.receive("observe")
        assert self.last["tick"] == reply["tick"]
        return self.last

    async def readable(self) -> dict[str, Any]:
        status, obs = await http(self.port, "GET", "/api/probes/1-1?shape=readable")
        assert status == 200, obs
        return dict(obs)


class Dashboard:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.arrived = trio.Event()


@asynccontextmanager
async def dashboard(r: Recorder) -> AsyncIterator[Dashboard]:
    """A reference dashboard client, listening (and recording) in the background."""
    dash = Dashboard()

    async def listen(ws: WebSocketConnection) -> None:
        while True:
            msg = orjson.loads(await ws.get_message())
            r.rec({"kind": "ws-in", "path": "/ws/dashboard", "msg": msg})
            dash.seen.append(msg)
            dash.arrived.set()

    url = f"ws://127.0.0.1:{r.port}/ws/dashboard"
    async with open_websocket_url(url) as ws, trio.open_nursery() as nursery:
        nursery.start_soon(listen, ws)
        yield dash
        nursery.cancel_scope.cancel()


def compat_file(name: str) -> Path:
    """The shared copy when it is beside the checkout (CI), else the one in tests/compat."""
    shared = SHARED / name
    return shared if shared.exists() else HERE / name


def shape_diff(ours: Path) -> str:
    done = subprocess.run(
        [
            sys.executable,
            str(compat_file("shape_diff.py")),
            str(compat_file("reference.jsonl")),
            str(ours),
            "--allow",
            "$.error",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


async def mine_for(r: Recorder, need: dict[str, float]) -> None:
    """Bob flies to the system's belt, orbits it, surveys it and mines until ``need`` is met."""
    obs = await r.readable()
    belt = next(p for p in obs["system_info"]["planets"] if p["type"] == "asteroid_belt")
    await r.act({"action": "navigate_to_body", "target_body": belt["id"]})
    for _ in range(50):
        if (await r.readable())["activity"] is None:
            break
        await r.act({"action": "wait"})
    await r.act({"action": "enter_orbit"})
    for _ in range(5):
        if ((await r.readable())["survey"] or {}).get("level", 0) >= 1:
            break
        await r.act({"action": "survey"})
    for resource, kg in need.items():
        for _ in range(40):
            if (await r.readable())["cargo"][resource] >= kg:
                break
            await r.act({"action": "mine", "resource": resource})
        assert (await r.readable())["cargo"][resource] >= kg, resource


async def test_a_reference_client_sees_the_reference_shapes(tmp_path: Path) -> None:
    ours = tmp_path / "ours.jsonl"
    config = {**QUIET, "travel_speed_scale": 1000, "mining_rate_scale": 100}
    async with running_daemon(mode="paused", seed=42, state_dir=str(tmp_path / "state")) as d:
        r = Recorder(d, ours)
        status = await r.ok("GET", "/api/status")
        assert status["probes"][0]["id"] == "1-1"
        paused = await r.ok("POST", "/api/pause")
        assert paused["state"]["paused"] is True
        await r.ok("POST", "/api/config", {k: str(v) for k, v in config.items()})
        first = await r.ok("POST", "/api/tick")
        assert isinstance(first["observations"][0]["system"], dict)

        async with open_websocket_url(f"ws://127.0.0.1:{d.port}/ws") as ws:
            r.agent = ws
            await r.register()
            async with dashboard(r) as dash:
                await r.act({"action": "survey", "target": 0})
                await r.act({"action": "mine", "resource": "iron"})
                await r.act({"action": "scan"})
                await r.act({"action": "bogus"})
                # a hazard, injected as the reference's clients send it (the event is the body)
                await r.ok("POST", "/api/snapshot", {"tag": "e2e_pre_inject"})
                injected = await r.ok(
                    "POST", "/api/inject", {"type": "hazard", "subtype": 0, "severity": 0.9}
                )
                assert injected["queued"] >= 1
                obs = await r.act({"action": "wait"})
                assert obs["hull"] < 1 and obs["recent_events"][-1]["type"] == 2
                with trio.fail_after(10):
                    while dash.seen[-1:] == [] or dash.seen[-1]["tick"] < obs["tick"]:
                        dash.arrived = trio.Event()
                        await dash.arrived.wait()
                tick = dash.seen[-1]
                assert tick["type"] == "tick" and "connected" in tick["agents"]
                assert tick["observations"][0]["recent_events"][-1]["type"] == 2
            history = await r.ok("GET", "/api/history/1-1")
            assert any(e["type"] == 2 for e in history["events"])

            await mine_for(r, {"iron": 20_000, "silicon": 5_000})
            await r.act({"action": "place_beacon", "message": "Explorer was here"})
            obs = await r.act({"action": "build_structure", "structure_type": 0})
            assert obs["visible_structures"][0]["type"] == 0, obs["visible_structures"]
            obs = await r.act({"action": "claim_system"})
            assert obs["claims"][0]["claimer"] == "1-1"
            obs = await r.act({"action": "propose", "text": "Survey all planets"})
            assert obs["proposals"][0]["proposer"] == "1-1"
            obs = await r.act({"action": "research", "domain": 0})
            obs = await r.act({"action": "research", "domain": 0})
            assert obs["research"]["domain"] == 0
            assert obs["visible_beacons"][0]["placed_tick"] > 0

            await r.ok("POST", "/api/config", {"travel_speed_scale": "1"})
            scan = await r.ok("POST", "/api/scan/1-1")
            target = scan["systems"][0]
            x, y, z = target["sector"]
            obs = await r.act(
                {
                    "action": "travel_to_system",
                    "target_system_id": target["system_id"],
                    "sector_x": x,
                    "sector_y": y,
                    "sector_z": z,
                }
            )
            assert obs["status"] == "traveling", obs["status"]
            await r.act({"action": "wait"})

        for method, path, body in (
            ("GET", "/api/metrics", None),
            ("GET", "/api/agents", None),
            ("GET", "/api/state", None),
            ("GET", "/api/tick-rate", None),
            ("GET", "/api/lineage", None),
            ("GET", "/api/probes", None),
            ("GET", "/api/probes/1-1", None),
            ("POST", "/api/tick-rate", {"tickRate": 20}),
            ("POST", "/api/save", {"path": "compat.db"}),
            ("POST", "/api/load", {"path": "compat.db"}),
            ("POST", "/api/restore", {"tag": "e2e_pre_inject"}),
            ("POST", "/api/config", {"event_freq_discovery": "0.99"}),
        ):
            await r.ok(method, path, body)
        scenario = {
            "events": [
                {"at_tick": 100_000, "type": 2, "subtype": 0, "severity": 0.5},
                {"at_tick": 200_000, "type": 4, "subtype": 1, "severity": 0.9},
            ]
        }
        assert (await r.ok("POST", "/api/scenario", scenario))["loaded"] == 2
        events = (await r.ok("GET", "/api/scenario"))["events"]
        assert [(e["type"], e["subtype"], e["fired"]) for e in events] == [
            (2, 0, False),
            (4, 1, False),
        ]
        status, _ = await r.http("GET", "/api/probes/9-9")
        assert status == 404
        status, _ = await r.http("POST", "/api/tick-rate", {"tickRate": -1})
        assert status == 400
        status, _ = await r.http("POST", "/api/restore", {"tag": "nope"})
        assert status == 404
        resumed = await r.ok("POST", "/api/resume")
        assert resumed["state"]["paused"] is False
        await r.ok("POST", "/api/pause")
        r.out.close()

    report = shape_diff(ours)
    assert report.strip().endswith("0 field differences, 0 message kinds never seen"), report


def test_the_vendored_reference_is_the_shared_one() -> None:
    if not SHARED.exists():
        pytest.skip(f"no {SHARED} beside this checkout")
    for name in ("reference.jsonl", "shape_diff.py"):
        assert (HERE / name).read_bytes() == (SHARED / name).read_bytes(), name
