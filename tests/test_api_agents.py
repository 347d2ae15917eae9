"""Policies, run-time assignment and the ledger over REST, against the real daemon and sim."""

from __future__ import annotations

import pytest
import trio
from helpers import agent, http, recv_type, register, running_daemon


async def test_policies_are_listed_with_their_probes() -> None:
    async with running_daemon(mode="paused") as d:
        status, body = await http(d.port, "GET", "/api/policies")
        assert status == 200
        names = {p["name"]: p for p in body["policies"]}
        # built-ins come through the same hook as the pip-installed plugins
        assert {"wait", "fallback", "explorer", "random", "greedy-miner"} <= set(names)
        assert names["wait"]["default"] and names["fallback"]["fallback"]
        assert names["explorer"]["probes"] == 0


async def test_assign_a_probe_to_a_policy_at_run_time() -> None:
    async with running_daemon(mode="paused") as d:
        status, body = await http(
            d.port, "POST", "/api/probes/1-1/controller", {"controller": "explorer"}
        )
        assert status == 200
        assert body == {"ok": True, "probe_id": "1-1", "controller": "explorer"}
        _, agents = await http(d.port, "GET", "/api/agents")
        assert agents["assignments"]["1-1"] == "explorer"
        _, policies = await http(d.port, "GET", "/api/policies")
        assert {p["name"]: p["probes"] for p in policies["policies"]}["explorer"] == 1
        # the policy now decides: after a tick, Bob's last action is the explorer's choice
        status, ticked = await http(d.port, "POST", "/api/tick", {"count": 2})
        assert status == 200
        bob = next(o for o in ticked["observations"] if o["probe_id"] == "1-1")
        assert bob["last_action"]["action"] != "wait"


async def test_assignment_replaces_a_remote_agent() -> None:
    async with running_daemon(mode="paused") as d, agent(d.port) as ws:
        await register(ws, "1-1")
        await http(d.port, "POST", "/api/probes/1-1/controller", {"controller": "fallback"})
        frame = await recv_type(ws, "error")
        assert frame["code"] == "replaced"
        _, agents = await http(d.port, "GET", "/api/agents")
        assert agents["assignments"]["1-1"] == "fallback"


async def test_assignment_errors_are_precise() -> None:
    async with running_daemon(mode="paused") as d:
        status, body = await http(d.port, "POST", "/api/probes/1-1/controller", {"controller": "x"})
        assert status == 422 and body["error"]["code"] == "unknown_policy"
        assert body["error"]["details"]["path"] == "$.controller"
        status, body = await http(
            d.port, "POST", "/api/probes/1-999/controller", {"controller": "wait"}
        )
        assert status == 404 and body["error"]["code"] == "unknown_probe"
        status, body = await http(d.port, "POST", "/api/probes/1-1/controller", {"nope": 1})
        assert status == 422
        status, body = await http(d.port, "GET", "/api/policies/nope/stats")
        assert status == 404 and body["error"]["code"] == "unknown_policy"


async def test_ledger_records_hazards_and_pages_by_query() -> None:
    async with running_daemon(mode="paused") as d:
        await http(d.port, "POST", "/api/probes/1-1/controller", {"controller": "fallback"})
        await http(
            d.port,
            "POST",
            "/api/inject",
            {"event": {"type": "hazard", "subtype": 0, "severity": 0.5, "probe_id": "1-1"}},
        )
        await http(d.port, "POST", "/api/tick", {"count": 3})
        d.engine.ledger.flush()  # the writer thread commits asynchronously
        status, page = await http(d.port, "GET", "/api/events?probe=1-1")
        assert status == 200
        assert page["events"], page
        assert all(e["probe_id"] == "1-1" for e in page["events"])
        status, body = await http(d.port, "GET", "/api/events?since=abc")
        assert status == 400 and body["error"]["details"]["param"] == "since"
        status, stats = await http(d.port, "GET", "/api/policies/fallback/stats")
        assert status == 200 and stats["probes_now"] == 1


@pytest.mark.parametrize("scope", ["all", "controlled"])
async def test_ledger_records_events_of_probes_nobody_observes(scope: str) -> None:
    # lockstep, no agents, default policy "wait": the daemon observes no probe at all, yet the
    # tick reply's "events" list (pipe extension) still brings every probe's events; with
    # ledger_scope = "controlled" the ledger keeps only controlled probes' events
    async with running_daemon(mode="paused", sim_args=("--populate", "2"), ledger_scope=scope) as d:
        hazard = {"type": "hazard", "subtype": 0, "severity": 0.5, "probe_id": "1-2"}
        status, _ = await http(d.port, "POST", "/api/inject", {"event": hazard})
        assert status == 200
        start = d.engine.tick
        d.engine.set_mode("lockstep")
        with trio.fail_after(10):
            while True:  # as fast as the sim goes: a few ticks take milliseconds
                _, body = await http(d.port, "GET", "/api/status?limit=0")
                if body["tick"] >= start + 3:
                    break
        d.engine.set_mode("paused")
        assert "1-2" not in d.engine.observations
        d.engine.ledger.flush()
        status, page = await http(d.port, "GET", "/api/events?probe=1-2&type=hazard")
        assert status == 200
        expected = ["solar_flare"] if scope == "all" else []
        assert [e["subtype"] for e in page["events"]] == expected, page
