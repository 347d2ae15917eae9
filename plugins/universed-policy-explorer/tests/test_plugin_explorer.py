"""The explorer against the real engine (through the pipe, as the benchmark drives it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from universed_policy_explorer import ExplorerPolicy
from universed_policy_explorer.bench import PipeSim, run
from universed_policy_explorer.policy import body_id, body_index

from universed.plugins import load_policies, make_plugin_manager
from universed.simproc import find_sim_binary


@pytest.fixture
def sim() -> Iterator[PipeSim]:
    pipe = PipeSim(find_sim_binary(), 42)
    yield pipe
    pipe.close()


def test_registered_through_the_entry_point() -> None:
    table = load_policies(make_plugin_manager(), {})
    assert isinstance(table["explorer"], ExplorerPolicy)


def test_body_ids_round_trip() -> None:
    system = "13835060254306467840-65536"
    assert body_id(system, 0) == "13835060254306467840-65537"
    assert body_index(body_id(system, 11)) == 11


def test_grows_a_civilization_and_sends_colonists(sim: PipeSim) -> None:
    sim.request(
        {"cmd": "config", "data": {"replication_cost_scale": 0.1, "replication_time_scale": 0.1}}
    )
    recipe = sim.request({"cmd": "probe", "probe_id": "1-1"})["probe"]["replication_cost"]
    policy = ExplorerPolicy(recipe=recipe)
    departures: list[dict[str, Any]] = []
    original = policy.decide

    def spy(obs: Any) -> Any:
        action = original(obs)
        if action.get("action") == "travel_to_system":
            departures.append(action)
        return action

    policy.decide = spy  # type: ignore[method-assign]
    metrics = run(policy, sim, 500)
    assert metrics["probes_spawned"] >= 3  # Bob replicated, and again (or a child did)
    assert policy.births == metrics["probes_spawned"] - 1
    home = next(iter(policy.systems.values()))
    assert home.count == 12  # learned every body of the home system by visiting
    assert {b.type for b in home.bodies.values()} >= {"asteroid_belt", "gas_giant", "rocky"}
    assert departures, "no colonist left for another system"
    assert all(d["target_system_id"] in policy.claimed for d in departures)


def test_repairs_when_damaged(sim: PipeSim) -> None:
    policy = ExplorerPolicy()
    run(policy, sim, 120)  # mining: iron in the hold
    sim.request({"cmd": "inject", "event": {"type": "hazard", "severity": 0.9, "probe_id": "1-1"}})
    obs = sim.request({"cmd": "tick"})["observations"][0]
    assert obs["hull"] < 0.75 and obs["cargo"]["iron"] >= 10
    assert policy.decide(obs) == {"action": "repair"}


def test_reads_the_recipe_from_the_observation_when_given() -> None:
    policy = ExplorerPolicy()
    obs = {
        "probe_id": "1-1", "status": "active", "location": "in_system", "hull": 1.0,
        "energy": 1e12, "system": "13835060254306467840-65536", "system_survey": 1,
        "body": None, "cargo": {"iron": 250.0}, "replication_cost": {"iron": 1.0},
    }  # fmt: skip
    assert policy.decide(obs) == {"action": "replicate"}
    del obs["replication_cost"]
    assert policy.decide(obs)["action"] == "navigate_to_body"  # gathering iron


def test_waits_while_busy_or_dormant() -> None:
    policy = ExplorerPolicy()
    base = {"probe_id": "1-1", "location": "in_system", "system": "1-65536", "hull": 1.0}
    assert policy.decide({**base, "status": "dormant"}) == {"action": "wait"}
    assert policy.decide({**base, "status": "traveling", "activity": {"kind": "navigating"}}) == {
        "action": "wait"
    }
    assert policy.decide({**base, "status": "traveling", "location": "interstellar"}) == {
        "action": "wait"
    }
