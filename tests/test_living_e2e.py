"""The living universe end to end: real sim, real daemon on 127.0.0.1, agents over /ws.

Every daemon runs paused; a fleet agent answers each observation batch over the WebSocket and
the test advances time with ``POST /api/tick`` once the daemon holds the answer, so every run
is deterministic. Setup goes through the pipe-level admin commands (``/api/config``,
``/api/inject``, ``/api/scenario``) instead of thousands of idle ticks: travel is sped up with
``travel_speed_scale``, random events are switched off where they would interfere.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from helpers import QUIET, agent, http, recv_type, running_daemon, send
from trio_websocket import WebSocketConnection

from universed.server.daemon import Daemon

pytestmark = pytest.mark.e2e

LIGHT_TICKS_PER_LY = 365
Obs = dict[str, Any]


class Fleet:
    """One fleet agent (``probe_ids``) driving a paused daemon tick by tick."""

    def __init__(self, d: Daemon, ws: WebSocketConnection) -> None:
        self.d = d
        self.ws = ws
        self.tick = 0
        self.obs: dict[str, Obs] = {}

    async def register(self, ids: list[str]) -> None:
        # universed's readable shapes (the names these tests read)
        await send(self.ws, {"type": "register", "probe_ids": ids, "shape": "readable"})
        reg = await recv_type(self.ws, "registered")
        assert reg["probe_ids"] == ids
        await self._take(await recv_type(self.ws, "observe_batch"))

    async def inject(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/inject`` of ``event``; the reply (asserted a 200)."""
        status, body = await http(self.d.port, "POST", "/api/inject", {"event": event})
        assert status == 200, body
        return dict(body)

    async def _take(self, batch: Mapping[str, Any]) -> None:
        self.tick = int(batch["tick"])
        self.obs = {o["probe_id"]: o for o in batch["observations"]}

    async def step(self, actions: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Obs]:
        """Answer the current observations with ``actions``, tick once, return the new ones."""
        if actions:
            await send(self.ws, {"type": "actions", "tick": self.tick, "actions": actions})
            window = self.d.engine.window
            with trio.fail_after(5):
                while not set(actions) <= set(window.actions):  # noqa: ASYNC110 (daemon state)
                    await trio.sleep(0.002)
        status, body = await http(self.d.port, "POST", "/api/tick?shape=readable", {})
        assert status == 200, body
        assert body["tick"] == self.tick + 1
        batch = await recv_type(self.ws, "observe_batch")
        assert batch["tick"] == body["tick"]
        # POST /api/tick answers with that tick's observations: the same the agent got
        rest = {o["probe_id"]: o for o in body["observations"]}
        for o in batch["observations"]:
            assert rest[o["probe_id"]] == o
        await self._take(batch)
        return self.obs

    async def idle(self, count: int) -> dict[str, Obs]:
        """``count`` ticks without actions, by ``POST /api/tick {"count"}`` in chunks of 100
        (the daemon disconnects an agent that leaves 256 frames unread)."""
        target = self.tick + count
        while self.tick < target:
            chunk = min(100, target - self.tick)
            status, body = await http(
                self.d.port, "POST", "/api/tick?shape=readable", {"count": chunk}
            )
            assert status == 200 and body["tick"] == self.tick + chunk, body
            with trio.fail_after(10):
                while self.tick < body["tick"]:
                    await self._take(await recv_type(self.ws, "observe_batch"))
        return self.obs

    async def until(self, pid: str, done: Any, limit: int = 100) -> Obs:
        """Idle tick by tick until ``done(observation of pid)``."""
        for _ in range(limit):
            if done(self.obs[pid]):
                return self.obs[pid]
            await self.step()
        raise AssertionError(f"{pid} never got there in {limit} ticks: {self.obs[pid]}")


@asynccontextmanager
async def fleet(
    probes: int, config: Mapping[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Fleet]:
    sim_args = ("--populate", str(probes)) if probes > 1 else ()
    # a manual tick waits for the agent's pending answers (up to agent_timeout_ms); the steps
    # here send theirs first and wait until the daemon holds them: probes without one idle at once
    overrides.setdefault("agent_timeout_ms", 1)
    async with running_daemon(mode="paused", seed=42, sim_args=sim_args, **overrides) as d:
        if config:
            status, body = await http(d.port, "POST", "/api/config", dict(config))
            assert status == 200, body
        async with agent(d.port) as ws:
            f = Fleet(d, ws)
            await f.register([f"1-{n}" for n in range(1, probes + 1)])
            yield f


def events(obs: Obs, kind: str) -> list[dict[str, Any]]:
    return [e for e in obs["events"] if e["type"] == kind]


def distance(a: Obs, b: Obs) -> float:
    pa, pb = a["position"]["coordinates_ly"], b["position"]["coordinates_ly"]
    return math.dist(pa, pb)


async def nearest_system(f: Fleet, pid: str) -> dict[str, Any]:
    status, scan = await http(f.d.port, "POST", f"/api/scan/{pid}", {"limit": 3})
    assert status == 200, scan
    return dict(scan["systems"][0])


async def fly(f: Fleet, pid: str, system_id: str) -> Obs:
    """Travel ``pid`` to ``system_id``; returns the observation of the arrival tick."""
    obs = await f.step({pid: {"action": "travel_to_system", "target_system_id": system_id}})
    assert obs[pid]["last_action"]["ok"], obs[pid]["last_action"]
    for _ in range(50):
        if obs[pid]["location"] == "in_system":
            assert obs[pid]["system"] == system_id
            assert events(obs[pid], "arrival")
            return obs[pid]
        assert obs[pid]["visible_beacons"] == []  # nothing is seen between the stars
        obs = await f.step()
    raise AssertionError(f"{pid} did not arrive")


# --------------------------------------------------------------------------- communication


async def test_beacon_is_seen_by_a_second_probe_arriving() -> None:
    async with fleet(2, {**QUIET, "travel_speed_scale": 1000}) as f:
        target = await nearest_system(f, "1-1")
        await fly(f, "1-1", target["id"])
        obs = await f.step({"1-1": {"action": "place_beacon", "message": "Bob was here"}})
        assert obs["1-1"]["last_action"]["ok"], obs["1-1"]["last_action"]
        beacon = {"owner": "1-1", "message": "Bob was here", "tick": f.tick, "placed_tick": f.tick}
        assert obs["1-1"]["visible_beacons"] == [beacon]
        assert obs["1-2"]["visible_beacons"] == []  # 1-2 is still at home
        arrived = await fly(f, "1-2", target["id"])
        assert arrived["visible_beacons"] == [beacon]
        [seen] = events(arrived, "beacon")
        assert seen["value"] == 1.0 and seen["tick"] == f.tick
        assert [p["probe_id"] for p in arrived["nearby_probes"]] == ["1-1"]


async def test_message_arrives_after_the_light_delay_and_a_remote_trade_completes() -> None:
    config = {**QUIET, "travel_speed_scale": 1000, "trade_ticks": 7}
    async with fleet(2, config) as f:
        target = await nearest_system(f, "1-1")
        await fly(f, "1-1", target["id"])
        d = distance(f.obs["1-1"], f.obs["1-2"])
        assert 1 < d < 15  # in direct range (Bob: 15 ly), far enough for a real delay
        sent_at = f.tick + 1
        obs = await f.step(
            {"1-2": {"action": "send_message", "target": "1-1", "content": "hello, Bob"}}
        )
        result = obs["1-2"]["last_action"]
        assert result["ok"], result
        arrival = result["result"]["arrival_tick"]
        assert arrival == sent_at + max(1, math.ceil(LIGHT_TICKS_PER_LY * d))
        # one tick before the light gets there: nothing
        obs = await f.idle(arrival - 1 - f.tick)
        assert obs["1-1"]["inbox"] == [] and not events(obs["1-1"], "message")
        obs = await f.step()
        assert f.tick == arrival
        [msg] = obs["1-1"]["inbox"]
        assert msg["from"] == "1-2" and msg["to"] == "1-1" and msg["content"] == "hello, Bob"
        assert (msg["sent_tick"], msg["arrival_tick"]) == (sent_at, arrival)
        assert msg["broadcast"] is False
        [event] = events(obs["1-1"], "message")
        assert event["subtype"] == "direct"

        # a trade across systems: the goods leave now and arrive trade_ticks later
        await f.inject({"type": "discovery", "subtype": "rich_deposit", "probe_id": "1-2"})
        obs = await f.step()
        [found] = events(obs["1-2"], "discovery")
        resource, kg = found["resource"], obs["1-2"]["cargo"][found["resource"]]
        assert kg > 0
        before = obs["1-1"]["cargo"][resource]
        obs = await f.step(
            {"1-2": {"action": "trade", "target": "1-1", "resource": resource, "amount": kg / 2}}
        )
        assert obs["1-2"]["last_action"]["ok"], obs["1-2"]["last_action"]
        assert obs["1-2"]["cargo"][resource] == kg / 2
        [pending] = obs["1-1"]["pending_trades"]
        assert pending["from"] == "1-2" and pending["amount"] == kg / 2
        assert pending["arrival_tick"] == f.tick + 7
        obs = await f.idle(6)
        assert obs["1-1"]["cargo"][resource] == before
        obs = await f.step()
        assert obs["1-1"]["cargo"][resource] == before + kg / 2
        assert [e["subtype"] for e in events(obs["1-1"], "trade")] == ["received"]
        assert obs["1-1"]["pending_trades"] == []
        assert obs["1-1"]["trust"]["1-2"] == pytest.approx(0.05)


# --------------------------------------------------------------------------- society


async def test_trade_claim_proposals_and_votes() -> None:
    async with fleet(3, {**QUIET, "proposal_ticks": 5}) as f:
        home = f.obs["1-1"]["system"]
        await f.inject({"type": "discovery", "subtype": "rich_deposit", "probe_id": "1-1"})
        obs = await f.step({"1-1": {"action": "claim_system"}})
        [found] = events(obs["1-1"], "discovery")
        resource = found["resource"]
        claim = {"system_id": home, "claimant": "1-1", "claimer": "1-1", "tick": f.tick}
        assert obs["1-1"]["claims"] == [{**claim, "mine": True}]
        for other in ("1-2", "1-3"):
            assert obs[other]["claims"] == [{**claim, "mine": False}]
        # a claimed system cannot be claimed again by another probe
        obs = await f.step({"1-2": {"action": "claim_system"}})
        assert obs["1-2"]["last_action"]["reason"] == "system claimed by another probe"

        # an instant trade in the same system
        have = obs["1-1"]["cargo"][resource]
        obs = await f.step(
            {"1-1": {"action": "trade", "target": "1-2", "resource": resource, "amount": 100.0}}
        )
        assert obs["1-1"]["last_action"]["ok"], obs["1-1"]["last_action"]
        assert obs["1-1"]["cargo"][resource] == have - 100.0
        assert obs["1-2"]["cargo"][resource] == 100.0
        assert [e["subtype"] for e in events(obs["1-2"], "trade")] == ["instant"]
        assert obs["1-1"]["trust"] == {"1-2": pytest.approx(0.05)}

        # two proposals: one passes (2 for), one is rejected (1 for, 1 against)
        obs = await f.step(
            {
                "1-3": {"action": "propose", "text": "Build a relay"},
                "1-1": {"action": "propose", "text": "Leave Earth alone"},
            }
        )
        relay = obs["1-3"]["last_action"]["result"]["proposal"]
        earth = obs["1-1"]["last_action"]["result"]["proposal"]
        deadline = f.tick + 5
        listed = {p["id"]: p for p in obs["1-2"]["proposals"]}
        assert listed[relay]["text"] == "Build a relay" and listed[relay]["proposer"] == "1-3"
        assert listed[relay]["deadline"] == deadline and listed[relay]["my_vote"] is None
        obs = await f.step(
            {
                "1-1": {"action": "vote", "proposal": relay, "favor": True},
                "1-2": {"action": "vote", "proposal": relay, "favor": True},
            }
        )
        assert obs["1-2"]["last_action"]["ok"], obs["1-2"]["last_action"]
        obs = await f.step(
            {
                "1-2": {"action": "vote", "proposal": earth, "favor": False},
                "1-3": {"action": "vote", "proposal": earth, "favor": True},
            }
        )
        listed = {p["id"]: p for p in obs["1-2"]["proposals"]}
        assert (listed[relay]["votes_for"], listed[relay]["votes_against"]) == (2, 0)
        assert (listed[earth]["votes_for"], listed[earth]["votes_against"]) == (1, 1)
        assert listed[earth]["my_vote"] is False
        assert obs["1-2"]["trust"]["1-1"] == pytest.approx(0.05 - 0.05)  # trade +, vote against -
        # one vote per probe
        obs = await f.step({"1-2": {"action": "vote", "proposal": relay, "favor": False}})
        assert obs["1-2"]["last_action"]["reason"] == "already voted on this proposal"
        obs = await f.idle(deadline - 1 - f.tick)
        assert not events(obs["1-3"], "proposal") and not events(obs["1-1"], "proposal")
        obs = await f.step()
        [passed] = events(obs["1-3"], "proposal")
        [rejected] = events(obs["1-1"], "proposal")
        assert passed["subtype"] == rejected["subtype"] == "resolved"
        assert passed["message"].endswith("passed") and rejected["message"].endswith("rejected")
        assert obs["1-2"]["proposals"] == []

        # revoking the claim frees the system
        obs = await f.step({"1-1": {"action": "revoke_claim"}})
        assert obs["1-1"]["claims"] == [] and obs["1-2"]["claims"] == []


async def test_research_progresses_and_tech_is_shared() -> None:
    async with fleet(2, QUIET) as f:
        weapons = 8  # tech index (docs/agent-protocol.md)
        level = f.obs["1-1"]["tech"][weapons]
        obs = await f.step({"1-1": {"action": "research", "domain": "weapons"}})
        assert obs["1-1"]["last_action"]["ok"], obs["1-1"]["last_action"]
        total = obs["1-1"]["last_action"]["result"]["ticks"]
        research = obs["1-1"]["research"]
        assert research["domain"] == "weapons" and research["ticks_remaining"] == total - 1
        progress = [research["progress"]]
        for _ in range(3):
            obs = await f.step()
            progress.append(obs["1-1"]["research"]["progress"])
        assert progress == sorted(progress) and len(set(progress)) == 4  # it moves every tick
        # one research at a time
        obs = await f.step({"1-1": {"action": "research", "domain": "biotech"}})
        assert obs["1-1"]["last_action"]["reason"] == "already researching"
        obs = await f.idle(obs["1-1"]["research"]["ticks_remaining"] - 1)
        assert obs["1-1"]["tech"][weapons] == level
        obs = await f.step()
        assert obs["1-1"]["tech"][weapons] == level + 1 and obs["1-1"]["research"] is None
        [done] = events(obs["1-1"], "research")
        assert (done["subtype"], done["tech"]) == ("completed", "weapons")

        obs = await f.step({"1-1": {"action": "share_tech", "target": "1-2", "domain": "weapons"}})
        assert obs["1-1"]["last_action"]["ok"], obs["1-1"]["last_action"]
        assert obs["1-2"]["tech"][weapons] == level + 1
        assert obs["1-2"]["trust"]["1-1"] == pytest.approx(0.08)


async def test_a_relay_satellite_built_together_joins_the_relay_network() -> None:
    async with fleet(2, {**QUIET, "travel_speed_scale": 1000, "mining_rate_scale": 100}) as f:
        planets = f.obs["1-1"]["system_info"]["planets"]
        belt = next(p for p in planets if p["type"] == "asteroid_belt")
        await f.step({"1-1": {"action": "navigate_to_body", "target_body": belt["id"]}})
        await f.until("1-1", lambda o: o["activity"] is None)
        await f.step({"1-1": {"action": "enter_orbit"}})
        for _ in range(5):
            if f.obs["1-1"]["survey"]["level"] >= 1:
                break
            await f.step({"1-1": {"action": "survey"}})
        for resource in ("iron", "silicon"):
            obs = await f.step({"1-1": {"action": "mine", "resource": resource}})
            assert obs["1-1"]["last_action"]["ok"], obs["1-1"]["last_action"]
        cargo = obs["1-1"]["cargo"]
        assert cargo["iron"] >= 5000 and cargo["silicon"] >= 10000  # a relay's iron and silicon
        obs = await f.step({"1-1": {"action": "build_structure", "structure_type": 1}})
        assert obs["1-1"]["last_action"]["ok"], obs["1-1"]["last_action"]
        assert obs["1-1"]["cargo"]["iron"] == cargo["iron"] - 5000  # the first builder pays
        [built] = obs["1-2"]["visible_structures"]
        assert (built["type"], built["owner"], built["builders"]) == (
            "relay_satellite",
            "1-1",
            ["1-1"],
        )
        assert built["progress"] == pytest.approx(1 / 80)  # base 80 ticks alone
        obs = await f.step(
            {"1-2": {"action": "build_structure", "structure_type": "relay_satellite"}}
        )
        [built] = obs["1-2"]["visible_structures"]
        assert built["builders"] == ["1-1", "1-2"]
        assert built["progress"] == pytest.approx((1 + 1.6) / 80)  # 1 + 0.6 x (2 - 1) together
        assert obs["1-2"]["trust"]["1-1"] == pytest.approx(0.06)  # building together
        assert obs["1-1"]["relay_network"]["relays"] == 0
        remaining = math.ceil((1 - built["progress"]) / (1.6 / 80) - 1e-9)
        obs = await f.idle(remaining - 1)
        assert not obs["1-1"]["visible_structures"][0]["complete"]
        obs = await f.step()
        assert obs["1-1"]["visible_structures"][0]["complete"] is True
        for pid in ("1-1", "1-2"):
            assert [e["subtype"] for e in events(obs[pid], "structure")] == ["completed"]
            assert obs[pid]["relay_network"]["relays"] == 1  # joined the network by itself
            assert obs[pid]["relay_network"]["relays_in_range"] == 1


# --------------------------------------------------------------------------- encounters


async def test_hazard_is_warned_before_it_lands() -> None:
    async with fleet(1, QUIET) as f:
        await http(f.d.port, "POST", "/api/config", {"event_freq_hazard": 1.0})
        obs = await f.until("1-1", lambda o: events(o, "threat"), limit=10)
        await http(f.d.port, "POST", "/api/config", {"event_freq_hazard": 0})
        [threat] = events(obs, "threat")
        [pending] = obs["threats"]
        lands = f.tick + int(threat["ticks_until"])
        assert 3 <= threat["ticks_until"] <= 5
        assert pending["type"] == threat["subtype"]
        assert pending["severity"] == pytest.approx(threat["severity"], abs=1e-6)  # rounded there
        hull = obs["hull"]
        while f.tick < lands - 1:
            obs = (await f.step())["1-1"]
            assert not events(obs, "hazard") and obs["hull"] == hull
            [pending] = obs["threats"]
            assert pending["ticks_until"] == lands - f.tick  # counts down
        obs = (await f.step())["1-1"]
        [hit] = events(obs, "hazard")
        assert hit["subtype"] == threat["subtype"] and obs["hull"] < hull
        assert obs["threats"] == []
        # an announced hazard can also be injected (any of the living universe's event types)
        event = {"type": "threat", "subtype": "radiation", "severity": 0.4, "probe_id": "1-1"}
        body = await f.inject(event)
        assert body["applied"] == 1, body
        obs = (await f.step())["1-1"]
        [warned] = events(obs, "threat")
        assert warned["injected"] and warned["subtype"] == "radiation"
        assert [t["type"] for t in obs["threats"]] == ["radiation"]
        assert obs["threats"][0]["ticks_until"] == warned["ticks_until"] - 1


async def test_artifact_stays_hidden_until_the_deep_survey() -> None:
    # Seed 42: the home system's moon "Zenva-879 g2" holds an artifact (found by surveying
    # every home body to level 4 over a range of seeds).
    async with fleet(1, {**QUIET, "travel_speed_scale": 1000}) as f:
        bodies = {b["name"]: b for b in f.obs["1-1"]["system_info"]["planets"]}
        moon = bodies["Zenva-879 g2"]
        tech_before = sum(f.obs["1-1"]["tech"])
        obs = (await f.step({"1-1": {"action": "navigate_to_body", "target_body": moon["id"]}}))[
            "1-1"
        ]
        assert obs["last_action"]["ok"], obs["last_action"]
        obs = await f.until("1-1", lambda o: o["activity"] is None)
        found = None
        for _ in range(40):
            last = obs["last_action"]
            if last["reason"] == "survey already at the maximum level possible from this location":
                action = "enter_orbit" if obs["location"] == "in_system" else "land"
            else:
                assert last["ok"], last
                action = "survey"
            obs = (await f.step({"1-1": {"action": action}}))["1-1"]
            level = obs["survey"]["level"] if obs["survey"] else 0
            here = next(p for p in obs["system_info"]["planets"] if p["id"] == moon["id"])
            assert here["survey_complete"][:4] == [level >= n for n in (1, 2, 3, 4)]
            for planet in obs["system_info"]["planets"]:
                if planet["id"] != moon["id"]:
                    assert planet["artifact"] is None  # never surveyed: never shown
            if level < 4:
                assert here["artifact"] is None, (level, here)
                continue
            found = here["artifact"]
            break
        assert obs["location"] == "landed"
        assert found is not None and found["count"] >= 1 and found["recovered"] is True
        [event] = events(obs, "artifact")
        assert sum(obs["tech"]) == tech_before + found["count"]
        assert event["tech"]


# --------------------------------------------------------------------------- REST


async def test_scan_lineage_and_history() -> None:
    async with fleet(3, {**QUIET, "travel_speed_scale": 1000}) as f:
        status, scan = await http(f.d.port, "POST", "/api/scan/1-1")
        assert status == 200 and scan["probe_id"] == "1-1"
        dists = [s["distance_ly"] for s in scan["systems"]]
        assert dists and dists == sorted(dists) and dists[-1] <= scan["range_ly"]
        assert f.obs["1-1"]["system"] not in {s["id"] for s in scan["systems"]}
        status, short = await http(f.d.port, "POST", "/api/scan/1-1", {"limit": 2})
        assert status == 200 and short["systems"] == scan["systems"][:2]
        # after flying somewhere else, the scan is taken from there
        await fly(f, "1-3", scan["systems"][0]["id"])
        status, there = await http(f.d.port, "POST", "/api/scan/1-3")
        assert status == 200 and there["systems"] != scan["systems"]
        assert f.obs["1-1"]["system"] in {s["id"] for s in there["systems"]}

        status, tree = await http(f.d.port, "GET", "/api/lineage")
        assert status == 200 and tree["total"] == 3
        assert [e["probe_id"] for e in tree["entries"]] == ["1-1", "1-2", "1-3"]
        assert tree["entries"][0]["generation"] == 0 and tree["entries"][0]["name"] == "Bob"
        status, page = await http(f.d.port, "GET", "/api/lineage?limit=1&offset=1")
        assert status == 200 and [e["probe_id"] for e in page["entries"]] == ["1-2"]

        status, hist = await http(f.d.port, "GET", "/api/history/1-3?shape=readable")
        assert status == 200 and hist["probe_id"] == "1-3"
        assert hist["events"][-1]["type"] == "arrival" and hist["events_total"] >= 1
        status, body = await http(f.d.port, "GET", "/api/history/1-99")
        assert status == 404 and body["error"]["code"] == "unknown_probe"
        status, body = await http(f.d.port, "POST", "/api/scan/1-99")
        assert status == 404 and body["error"]["code"] == "unknown_probe"


async def test_scenario_event_fires_at_its_tick_and_survives_a_sim_crash() -> None:
    async with fleet(2, QUIET, checkpoint_every=1000, verify_every=1) as f:
        script = {
            "name": "drill",
            "relative": True,
            "events": [
                {"at_tick": 6, "type": "crisis", "severity": 0.5, "target": "1-2"},
                {"at_tick": 9, "type": "wonder"},
            ],
        }
        status, body = await http(f.d.port, "POST", "/api/scenario", {"scenario": script})
        assert status == 200, body
        assert body["loaded"] == 2 and body["scenario"]["next_tick"] == f.tick + 6
        crisis_at, wonder_at = f.tick + 6, f.tick + 9
        status, got = await http(f.d.port, "GET", "/api/scenario?shape=readable")
        assert status == 200 and got["scenario"] == body["scenario"]
        await f.step()
        # the sim child dies: the restarted one replays the journal, scenario included
        old = f.d.sim.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        with trio.fail_after(10):
            while f.d.sim.restarts < 1 or f.d.sim.state != "running":  # noqa: ASYNC110
                await trio.sleep(0.02)
        assert f.d.engine.recoveries_verified
        status, after = await http(f.d.port, "GET", "/api/scenario?shape=readable")
        assert after["scenario"] == got["scenario"]
        obs = await f.idle(crisis_at - 1 - f.tick)
        assert not events(obs["1-2"], "crisis")
        obs = await f.step()
        assert [e["type"] for e in obs["1-2"]["events"]].count("crisis") == 1
        assert not events(obs["1-1"], "crisis")  # targeted
        obs = await f.idle(wonder_at - f.tick)
        assert events(obs["1-1"], "wonder") and events(obs["1-2"], "wonder")  # everyone
        status, got = await http(f.d.port, "GET", "/api/scenario?shape=readable")
        assert got["scenario"]["next_tick"] is None
        assert all(e["fired"] for e in got["scenario"]["events"])

        # a shipped example by name, then cleared
        status, body = await http(f.d.port, "POST", "/api/scenario", {"path": "supernova"})
        assert status == 200 and body["scenario"]["name"] == "supernova"
        assert body["loaded"] == 5 and body["scenario"]["next_tick"] == f.tick + 20
        status, body = await http(f.d.port, "POST", "/api/scenario", {"clear": True})
        assert status == 200 and body["scenario"]["events"] == []


async def test_save_load_round_trip_and_fork() -> None:
    async with fleet(2, checkpoint_every=1000) as f:
        await f.idle(5)
        _, state5 = await http(f.d.port, "GET", "/api/state")
        status, saved = await http(f.d.port, "POST", "/api/save", {"path": "t5.usim"})
        assert status == 200, saved
        assert saved["tick"] == 5 and saved["hash"] == state5["hash"] and saved["bytes"] > 0
        assert saved["name"] == "t5.usim"
        await f.idle(10)
        _, state15 = await http(f.d.port, "GET", "/api/state")
        assert state15["hash"] != state5["hash"]
        status, loaded = await http(f.d.port, "POST", "/api/load", {"path": "t5.usim"})
        assert status == 200, loaded
        assert (loaded["tick"], loaded["hash"], loaded["forked"]) == (5, state5["hash"], False)
        _, now = await http(f.d.port, "GET", "/api/state")
        assert (now["tick"], now["hash"]) == (5, state5["hash"])
        # the agent got the loaded state's observations and plays on from there
        batch = await recv_type(f.ws, "observe_batch")
        assert batch["tick"] == 5
        await f._take(batch)
        await f.idle(10)
        _, again = await http(f.d.port, "GET", "/api/state")
        assert again["hash"] == state15["hash"]  # same past, same seed: same future

        # a fork: the same past with a new event seed
        status, forked = await http(f.d.port, "POST", "/api/load", {"path": "t5.usim", "seed": 7})
        assert status == 200 and forked["forked"] is True and forked["tick"] == 5
        assert forked["event_seed"] == 7 and forked["seed"] == 42
        await f._take(await recv_type(f.ws, "observe_batch"))
        status, body = await http(f.d.port, "POST", "/api/load", {"path": "../escape.usim"})
        assert status == 422 and body["error"]["details"]["path"] == "$.path"
        status, body = await http(f.d.port, "POST", "/api/load", {"path": "missing.usim"})
        assert status == 404 and body["error"]["code"] == "not_found"


async def test_tick_rate() -> None:
    async with running_daemon(mode="paused", tick_rate=10.0) as d:
        status, body = await http(d.port, "GET", "/api/tick-rate")
        assert status == 200 and body["tick_rate"] == 10.0 and body["mode"] == "paused"
        status, body = await http(d.port, "POST", "/api/tick-rate", {"tick_rate": 250.0})
        assert status == 200 and body["tick_rate"] == 250.0 and body["mode"] == "paused"
        _, st = await http(d.port, "GET", "/api/status?limit=0")
        assert st["tick_rate"] == 250.0 and st["tick"] == 0  # still paused
        status, body = await http(d.port, "POST", "/api/tick-rate", {"tick_rate": 0})
        assert status == 422 and body["error"]["details"]["path"] == "$.tick_rate"
        # in realtime mode the new rate drives the loop
        await http(d.port, "POST", "/api/mode", {"mode": "realtime"})
        with trio.fail_after(10):
            while d.engine.tick < 20:  # noqa: ASYNC110 (polls the daemon)
                await trio.sleep(0.01)
        status, body = await http(d.port, "POST", "/api/tick-rate", {"tick_rate": 2.0})
        assert body["mode"] == "realtime"
        start = d.engine.tick
        await trio.sleep(1.0)
        assert d.engine.tick - start <= 3  # 2 ticks/s now, not 250
        await http(d.port, "POST", "/api/pause")
