"""The fleet commander (universed.fleet): missions, strategies, pins, and both ways to run it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import trio
from helpers import http, running_daemon

from universed.agents.agentrun import apply_pins
from universed.agents.agentrun import main as agent_main
from universed.client import AgentClient
from universed.fleet import DONE, FleetCommander, FleetEvent, FleetView, Quotas, standard
from universed.plugins import hookimpl


class Steady:
    """A mission that always does the same thing and remembers whom it drove."""

    def __init__(self, action: str) -> None:
        self.name = action
        self.action = action
        self.seen: list[tuple[int, str]] = []

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        self.seen.append((int(observation.get("tick", 0)), str(observation["probe_id"])))
        return {"action": self.action}


class Twice:
    """Surveys twice per probe, then is done with it."""

    name = "twice"

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def decide(self, observation: Mapping[str, Any]) -> Any:
        pid = str(observation["probe_id"])
        self.count[pid] = self.count.get(pid, 0) + 1
        return DONE if self.count[pid] > 2 else {"action": "survey"}


def obs(pid: str, tick: int, **extra: Any) -> dict[str, Any]:
    return {"probe_id": pid, "tick": tick, "status": "active", **extra}


def test_default_strategy_gives_every_probe_the_first_mission() -> None:
    fleet = FleetCommander({"scan": Steady("scan"), "mine": Steady("mine")})
    assert fleet.decide(obs("1-1", 1)) == {"action": "scan"}
    assert fleet.decide(obs("1-2", 1)) == {"action": "scan"}
    assert dict(fleet) == {"1-1": "scan", "1-2": "scan"}
    assert fleet.stats["scan"].probes == 2 and fleet.stats["scan"].decisions == 2


def test_quotas_keep_the_split_and_start_with_first() -> None:
    quotas = Quotas({"explore": 1, "mine": 2}, first="explore")
    fleet = FleetCommander({"explore": Steady("survey"), "mine": Steady("mine")}, quotas)
    order = []
    for i in range(1, 7):
        fleet.decide(obs(f"1-{i}", 1))
        order.append(fleet.mission_of(f"1-{i}"))
    assert order == ["explore", "mine", "mine", "mine", "explore", "mine"]
    assert (fleet.stats["explore"].probes, fleet.stats["mine"].probes) == (2, 4)
    with pytest.raises(ValueError, match="positive share"):
        Quotas({"a": 0})
    with pytest.raises(ValueError, match="no share"):
        Quotas({"a": 1}, first="b")


def test_a_finished_mission_hands_the_probe_over_without_losing_a_tick() -> None:
    twice, mine = Twice(), Steady("mine")
    fleet = FleetCommander({"twice": twice, "mine": mine}, lambda p, o, f: "twice")
    actions = [fleet.decide(obs("1-1", t)) for t in (1, 2)]
    assert actions == [{"action": "survey"}] * 2
    # third tick: twice is done; the strategy (always "twice") gives it again, which is done
    # at once for this probe: the probe waits this tick and asks again on the next
    assert fleet.decide(obs("1-1", 3)) == {"action": "wait"}
    assert fleet.stats["twice"].done == 2 and fleet.mission_of("1-1") is None

    # a strategy that moves finished probes on: the new mission acts in the same tick
    started: set[str] = set()

    def strategy(pid: str, observation: Mapping[str, Any], fleet: FleetView) -> str:
        mission = "mine" if pid in started else "twice"
        started.add(pid)
        return mission

    fleet = FleetCommander({"twice": Twice(), "mine": mine}, strategy)
    actions = [fleet.decide(obs("1-1", t)) for t in (1, 2, 3)]
    assert [a["action"] for a in actions] == ["survey", "survey", "mine"]
    kinds = [e.kind for e in fleet.events]
    assert kinds.count("mission_done") == 1 and fleet.mission_of("1-1") == "mine"


def test_pins_rejections_errors_births_and_deaths() -> None:
    class Boom:
        name = "boom"

        def decide(self, observation: Mapping[str, Any]) -> Any:
            raise RuntimeError("mission bug")

    seen: list[list[FleetEvent]] = []

    class Mover:
        """Moves every unpinned probe to "mine" once something happened."""

        def assign(self, pid: str, observation: Mapping[str, Any], fleet: FleetView) -> str:
            return "scan"

        def reconsider(self, fleet: FleetView, events: Sequence[FleetEvent]) -> dict[str, str]:
            seen.append(list(events))
            return {p: "mine" for p in fleet.assignments if not fleet.pinned(p)}

    fleet = FleetCommander(
        {"scan": Steady("scan"), "mine": Steady("mine"), "boom": Boom()},
        Mover(),
        pins={"1-1": "boom"},
    )
    assert fleet.decide(obs("1-1", 1)) == {"action": "wait"}  # the mission raised: wait
    assert fleet.stats["boom"].errors == 1
    rejected = {"action": "land", "ok": False, "reason": "not orbiting"}
    assert fleet.decide(obs("1-2", 1, last_action=rejected)) == {"action": "scan"}
    fleet.on_birth("1-3", "1-2")
    assert fleet.decide(obs("1-3", 1, parent_id="1-2")) == {"action": "scan"}
    # next tick: the strategy sees tick 1's events once, and moves the unpinned probes
    assert fleet.decide(obs("1-2", 2, last_action=rejected)) == {"action": "mine"}
    assert [e.kind for e in seen[0]] == ["error", "born"]
    assert fleet.mission_of("1-1") == "boom" and fleet.mission_of("1-3") == "mine"
    assert fleet.stats["mine"].rejected == 1  # tick 1's rejection counted under scan, not mine
    assert fleet.stats["scan"].probes == 0 and fleet.stats["mine"].probes == 2
    fleet.on_death("1-3")
    assert fleet.stats["mine"].probes == 1 and fleet.mission_of("1-3") is None
    assert fleet.describe()["missions"]["boom"]["errors"] == 1
    with pytest.raises(ValueError, match="unknown mission 'fly'"):
        fleet.pin("1-2", "fly")


def test_assign_flag() -> None:
    fleet = FleetCommander({"scan": Steady("scan"), "mine": Steady("mine")})
    apply_pins(fleet, ["1-4:mine"])
    assert fleet.pins == {"1-4": "mine"} and fleet.mission_of("1-4") is None  # not seen yet
    assert fleet.stats["mine"].probes == 0
    assert fleet.decide(obs("1-4", 1)) == {"action": "mine"}
    assert fleet.mission_of("1-4") == "mine" and fleet.stats["mine"].probes == 1
    with pytest.raises(ValueError, match="PROBE:MISSION"):
        apply_pins(fleet, ["1-4"])
    with pytest.raises(ValueError, match="needs a fleet commander"):
        apply_pins(Steady("scan"), ["1-1:scan"])
    bad = ["universed.fleet:standard", "--assign", "1-1:fly", "--url", "ws://127.0.0.1:1/ws"]
    assert agent_main(bad) == 2


def test_standard_fleet_loads_the_bundled_plugins() -> None:
    fleet = standard()
    assert list(fleet.missions) == ["explore", "mine"]
    assert fleet.decide(obs("1-1", 1, hull=1.0)) is not None
    assert fleet.mission_of("1-1") == "explore"


class Breeder:
    """Replicates whenever it can."""

    name = "breed"

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        return {"action": "replicate"}


def family_fleet() -> FleetCommander:
    def strategy(pid: str, observation: Mapping[str, Any], fleet: FleetView) -> str:
        return "breed" if observation.get("parent_id") is None else "scan"

    return FleetCommander({"breed": Breeder(), "scan": Steady("scan")}, strategy)


FAST = {"replication_cost_scale": 0, "replication_time_scale": 0.01}


async def test_remote_fleet_assigns_newborns_a_mission() -> None:
    fleet = family_fleet()
    async with running_daemon(sim_config=FAST, mode="lockstep") as daemon:
        client = AgentClient(f"ws://127.0.0.1:{daemon.port}/ws", probe_id="1-1", lineage=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run_policy, fleet)
            with trio.fail_after(20):
                while True:  # the daemon runs lockstep as fast as the agent answers
                    if fleet.stats["scan"].decisions >= 3:
                        break
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert fleet.mission_of("1-1") == "breed"
    children = [p for p, m in fleet if m == "scan"]
    assert children and all(daemon.engine.parents.get(c) == "1-1" for c in children)
    assert any(e.kind == "born" for e in fleet.events)


class FleetPlugin:
    def __init__(self, fleet: FleetCommander) -> None:
        self.fleet = fleet

    @hookimpl
    def universed_policies(self) -> Mapping[str, Any]:
        return {"commander": self.fleet}


async def test_in_process_fleet_gets_inherited_newborns() -> None:
    fleet = family_fleet()
    async with running_daemon(
        plugins=(FleetPlugin(fleet),), sim_config=FAST, policies={"1-1": "commander"}
    ) as daemon:
        for _ in range(30):
            await daemon.engine.manual_tick(1)
            if fleet.stats["scan"].decisions >= 2:
                break
        assert daemon.registry.controller_name("1-1") == "commander"
        children = [p for p, m in fleet if m == "scan"]
        assert children
        assert all(daemon.registry.controller_name(c) == "commander" for c in children)
        # the commander's own report, through the policy stats endpoint
        status, stats = await http(daemon.port, "GET", "/api/policies/commander/stats")
        assert status == 200 and stats["state"]["missions"]["scan"]["probes"] == len(children)
        assert stats["state"]["missions"]["breed"]["probes"] == 1
