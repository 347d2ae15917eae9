"""Assignment by lineage and for newborns (config ``lineage_policies``, ``newborn_policy``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from helpers import http, running_daemon

from universed.agents.builtin_policies import FallbackPolicy, WaitPolicy
from universed.core.registry import Registry, RemoteController
from universed.plugins import hookimpl


class Named:
    """A policy that waits and remembers the probes it decided for."""

    def __init__(self, name: str, action: str = "wait") -> None:
        self.name = name
        self.action = action
        self.decided: set[str] = set()
        self.births: list[tuple[str, str]] = []

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        self.decided.add(str(observation["probe_id"]))
        return {"action": self.action}

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        self.births.append((probe_id, parent_id))


def table(*names: str) -> dict[str, Any]:
    out: dict[str, Any] = {"wait": WaitPolicy(), "fallback": FallbackPolicy()}
    out.update({n: Named(n) for n in names})
    return out


PARENTS = {"1-2": "1-1", "1-3": "1-2", "1-4": "1-1", "1-5": None}


def test_newborn_follows_nearest_listed_ancestor_then_newborn_policy() -> None:
    reg = Registry(
        table("scout", "miner", "nursery"),
        fallback="fallback",
        inherit=False,
        newborn="nursery",
        lineages={"1-1": "scout", "1-2": "miner"},
    )
    reg.on_birth("1-2", "1-1", PARENTS.get)
    reg.on_birth("1-3", "1-2", PARENTS.get)  # nearest listed ancestor-or-self: 1-2
    reg.on_birth("1-6", "1-5", {**PARENTS, "1-6": "1-5"}.get)
    assert reg.controller_name("1-2") == "miner"  # itself listed
    assert reg.controller_name("1-3") == "miner"
    assert reg.controller_name("1-6") == "nursery"
    assert reg.describe()["lineages"] == {"1-1": "scout", "1-2": "miner"}
    assert reg.describe()["newborn"] == "nursery"


def test_a_newborn_listed_itself_gets_its_own_entry_over_the_parents_controller() -> None:
    reg = Registry(table("scout", "miner"), fallback="fallback", inherit=True)
    reg.lineages = {"1-1": "scout", "1-2": "miner"}
    reg.apply_lineages(["1-1"], PARENTS.get)
    reg.on_birth("1-2", "1-1", PARENTS.get)  # scout inherits, but 1-2 has its own entry
    reg.on_birth("1-3", "1-2", PARENTS.get)  # and its children follow it
    reg.on_birth("1-4", "1-1", PARENTS.get)
    assert [reg.controller_name(p) for p in ("1-2", "1-3", "1-4")] == ["miner", "miner", "scout"]


def test_an_inheriting_parent_controller_wins_over_lineage() -> None:
    reg = Registry(table("scout"), fallback="fallback", inherit=True, lineages={"1-1": "scout"})
    fleet = RemoteController("fleet", inherits=True)
    reg.assign("1-1", fleet)
    reg.on_birth("1-2", "1-1", PARENTS.get)
    assert reg.controller_of("1-2") is fleet
    single = RemoteController("single", inherits=False)
    reg.assign("1-1", single)
    reg.on_birth("1-4", "1-1", PARENTS.get)
    assert reg.controller_name("1-4") == "scout"


def test_apply_lineages_keeps_explicit_assignments_and_follows_reloads() -> None:
    reg = Registry(table("scout", "miner"), fallback="fallback", inherit=True)
    agent = RemoteController("agent", inherits=False)
    reg.assign("1-4", agent)
    reg.lineages = {"1-1": "scout"}
    reg.apply_lineages(["1-1", "1-2", "1-3", "1-4", "1-5"], PARENTS.get)
    assert [reg.controller_name(p) for p in ("1-1", "1-2", "1-3", "1-5")] == [
        "scout",
        "scout",
        "scout",
        "default:fallback",
    ]
    assert reg.controller_of("1-4") is agent
    previous, reg.lineages = reg.lineages, {"1-2": "miner"}  # a reload
    reg.apply_lineages(["1-1", "1-2", "1-3", "1-4", "1-5"], PARENTS.get, previous)
    assert reg.controller_of("1-1") is None  # no longer in a listed lineage
    assert [reg.controller_name(p) for p in ("1-2", "1-3")] == ["miner", "miner"]
    assert reg.controller_of("1-4") is agent


def test_unknown_lineage_or_newborn_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        Registry(table(), fallback="fallback", inherit=True, lineages={"1-1": "nope"})
    with pytest.raises(ValueError, match="unknown policy 'ghost'"):
        Registry(table(), fallback="fallback", inherit=True, newborn="ghost")


class Family:
    """A plugin: ``replicator`` replicates; ``scout`` and ``nursery`` only wait."""

    def __init__(self) -> None:
        self.policies = {
            "replicator": Named("replicator", "replicate"),
            "scout": Named("scout"),
            "nursery": Named("nursery"),
        }

    @hookimpl
    def universed_policies(self) -> Mapping[str, Any]:
        return self.policies


async def test_newborns_get_their_lineage_policy_through_the_daemon() -> None:
    family = Family()
    fast = {"replication_cost_scale": 0, "replication_time_scale": 0.01}
    async with running_daemon(
        plugins=(family,),
        sim_args=("--populate", "2"),
        sim_config=fast,
        inherit_controller=False,
        policies={"1-1": "replicator", "1-2": "replicator"},
        lineage_policies={"1-1": "scout", "1-9": "scout"},
        newborn_policy="nursery",
    ) as daemon:
        engine = daemon.engine
        # 1-9 is not born yet: no phantom assignment, it gets its policy at birth
        assert daemon.registry.controller_of("1-9") is None
        for _ in range(30):
            await engine.manual_tick(1)
            kids = {p: q for p, q in engine.parents.items() if q in ("1-1", "1-2")}
            if set(kids.values()) == {"1-1", "1-2"}:
                break
        assert set(kids.values()) == {"1-1", "1-2"}, engine.parents
        for child, parent in kids.items():
            expected = "scout" if parent == "1-1" else "nursery"
            assert daemon.registry.controller_name(child) == expected, (child, parent)
        await engine.manual_tick(1)
        scout, nursery = family.policies["scout"], family.policies["nursery"]
        assert scout.decided == {c for c, p in kids.items() if p == "1-1"}
        assert nursery.decided == {c for c, p in kids.items() if p == "1-2"}
        assert {c for c, _p in scout.births} == scout.decided  # on_birth reached the policy
        _, agents = await http(daemon.port, "GET", "/api/agents")
        assert agents["lineages"] == {"1-1": "scout", "1-9": "scout"}
        assert agents["newborn"] == "nursery"
        # a reload that drops the lineage table hands those probes back to the default
        await engine.reload(attrs.evolve(engine.config, lineage_policies={}))
        for child, parent in kids.items():
            if parent == "1-1":
                assert daemon.registry.controller_of(child) is None


class Unsendable:
    """A plugin whose ``odd`` policy answers with a value JSON cannot carry."""

    @hookimpl
    def universed_policies(self) -> Mapping[str, Any]:
        class Odd:
            def decide(self, observation: Mapping[str, Any]) -> Any:
                return {"action": "mine", "resource": {"iron"}}  # a set

        return {"odd": Odd()}


async def test_an_action_json_cannot_carry_is_dropped_and_the_universe_ticks_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_daemon(
        plugins=(Unsendable(),), sim_args=("--populate", "2"), policies={"1-1": "odd"}
    ) as daemon:
        engine = daemon.engine
        start = engine.tick
        await engine.manual_tick(3)
        assert engine.tick == start + 3
        obs = await engine.observation_of("1-1")
        assert obs is not None and obs["last_action"]["action"] == "wait"
        assert "action for 1-1 cannot be sent" in caplog.text
        assert daemon.sim.restarts == 0  # the sim never saw it
