"""The explorer: a whole Bob life cycle, driven only by observations.

Every probe runs the same loop:

1. **Stay alive**: repair when the hull is low (iron in cargo), wait while busy or dormant.
2. **Learn the system**: bodies are found by visiting them. A body's id is its system's id with
   the body index (1-based) in the low 16 bits (docs/universe.md, "Ids"), so the explorer
   navigates to index 1, 2, 3... and surveys each body it reaches to level 2 (abundances to
   0.01); a navigation refused with ``target not found in the current system`` tells how many
   bodies the system has. What one probe learns is shared by every probe of the policy.
3. **Gather the recipe**: mine, resource by resource, what replication still lacks, from the best
   known deposit that the probe can work (belts from orbit, giants' hydrogen/helium-3 from orbit,
   everything else landed), surveying the deposit to the highest level reachable for the yield.
4. **Replicate** when the cargo holds the recipe.
5. **Colonize**: every ``colonist_every``-th newborn, and every probe of a system that can no
   longer supply the recipe, scans, picks the nearest unexplored system nobody else is heading
   to, tops up hydrogen for the trip, and travels; on arrival it surveys the system and starts
   again at 2.

The replication recipe is read from the observation (``replication_cost``) when the engine
provides it, else from the ``recipe`` given to the constructor (default: docs/universe.md).
Decisions depend only on the observations received and the policy's own state, so the same
sequence of observations gives the same actions in-process, remotely or in the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["DEFAULT_RECIPE", "RESOURCES", "ExplorerPolicy"]

RESOURCES = (
    "iron",
    "silicon",
    "rare_earth",
    "water",
    "hydrogen",
    "helium3",
    "carbon",
    "uranium",
    "exotic",
)
#: The engine's replication recipe (used when the observation does not carry one; the benchmark
#: passes the engine's own, from the ``probe`` command's ``replication_cost``).
DEFAULT_RECIPE: Mapping[str, float] = {
    "iron": 200000.0,
    "silicon": 120000.0,
    "rare_earth": 15000.0,
    "water": 40000.0,
    "hydrogen": 80000.0,
    "helium3": 10000.0,
    "carbon": 30000.0,
    "uranium": 4500.0,
    "exotic": 500.0,
}
GIANTS = frozenset({"gas_giant", "ice_giant"})
UNLANDABLE = GIANTS | {"asteroid_belt"}
WAIT: dict[str, Any] = {"action": "wait"}


def body_index(body_id: str) -> int:
    """0-based index of a body in its system, from its id (``lo``'s low 16 bits hold index+1)."""
    return (int(body_id.rsplit("-", 1)[1]) & 0xFFFF) - 1


def body_id(system_id: str, index: int) -> str:
    hi, lo = system_id.split("-")
    return f"{hi}-{(int(lo) & ~0xFFFF) | (index + 1)}"


def can_mine(body_type: str, resource: str) -> bool:
    if body_type in GIANTS:
        return resource in ("hydrogen", "helium3")
    return True


@attrs.define
class BodyInfo:
    type: str
    level: int = 0  # best survey level seen (abundances are as precise as this level)
    abundance: dict[str, float] = attrs.field(factory=dict)
    exhausted: set[str] = attrs.field(factory=set)

    def offers(self, resource: str) -> float:
        """How attractive this body is for ``resource`` (0 = not at all)."""
        if resource in self.exhausted or not can_mine(self.type, resource):
            return 0.0
        if self.level < 1:
            return 0.0
        a = self.abundance.get(resource, 0.0)
        if a > 0.0:
            return a
        # level 1-2 round small abundances to 0: a trace may still be there
        return 1e-4 if self.level < 3 else 0.0


@attrs.define
class SystemInfo:
    bodies: dict[int, BodyInfo] = attrs.field(factory=dict)
    count: int | None = None  # number of bodies, once a navigation past the last one failed
    scan: list[dict[str, Any]] | None = None  # systems in range, nearest first

    def next_unknown(self, taken: set[int], want: str | None = None) -> int | None:
        """The first body not surveyed yet (that could hold ``want``), not in ``taken``."""
        index = 0
        while self.count is None or index < self.count:
            info = self.bodies.get(index)
            unseen = info is None or (
                info.level < 1 and (want is None or can_mine(info.type, want))
            )
            if unseen and index not in taken:
                return index
            index += 1
            if index > 64:
                return None
        return None


@attrs.define
class ProbeState:
    colonist: bool = False
    target_system: str | None = None
    exploring: int | None = None  # body index this probe is on its way to learn
    last_nav: int | None = None
    rejected_in_row: int = 0


class ExplorerPolicy:
    """See the module docstring.

    Args:
        recipe: replication cost per resource (kg) when observations do not carry one.
        colonist_every: every N-th newborn (by probe number) leaves for a new system.
        repair_below: hull level under which a probe repairs.
        iron_reserve: iron (kg) kept beyond the recipe for repairs.
        good_enough: an abundance at which a known deposit is used without looking further.
        crew_per_target: colonists sent to one system (voyages are long and hazardous: a
            second crew makes arriving likelier).
        cargo_capacity: the hold's size in kg (a ``cargo hold full`` rejection also tells).
    """

    name = "explorer"

    def __init__(
        self,
        *,
        recipe: Mapping[str, float] | None = None,
        colonist_every: int = 2,
        repair_below: float = 0.75,
        iron_reserve: float = 200.0,
        good_enough: float = 0.25,
        crew_per_target: int = 3,
        cargo_capacity: float = 1_000_000.0,
    ) -> None:
        self.cargo_capacity = cargo_capacity
        self.good_enough = good_enough
        self.recipe = dict(recipe if recipe is not None else DEFAULT_RECIPE)
        self.colonist_every = colonist_every
        self.repair_below = repair_below
        self.iron_reserve = iron_reserve
        self.systems: dict[str, SystemInfo] = {}
        self.probes: dict[str, ProbeState] = {}
        self.crew_per_target = crew_per_target
        self.claimed: dict[str, set[str]] = {}  # target system -> probes heading there
        self.visited: set[str] = set()  # systems some probe of this policy reached
        self._last_mined: dict[str, str] = {}  # probe -> resource of its last mine action
        self.births = 0
        self.deaths = 0

    # ------------------------------------------------------------------ hooks

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        self.births += 1

    def on_death(self, probe_id: str) -> None:
        self.deaths += 1
        self._last_mined.pop(probe_id, None)
        state = self.probes.pop(probe_id, None)
        if state is not None:
            self._unclaim(probe_id, state)

    def _unclaim(self, probe_id: str, state: ProbeState) -> None:
        if state.target_system is not None:
            crew = self.claimed.get(state.target_system)
            if crew is not None:
                crew.discard(probe_id)
                if not crew:
                    del self.claimed[state.target_system]
            state.target_system = None

    # ------------------------------------------------------------------ decide

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        obs = observation
        pid = str(obs["probe_id"])
        state = self.probes.get(pid)
        if state is None:
            state = self.probes[pid] = ProbeState(colonist=self._born_colonist(obs))
        if obs.get("status") in ("destroyed", "dormant") or obs.get("activity"):
            return WAIT
        system_id = obs.get("system")
        if obs.get("location") == "interstellar" or not system_id:
            return WAIT
        system = self.systems.setdefault(system_id, SystemInfo())
        self._learn(obs, state, system)
        if state.target_system == system_id:  # arrived
            self.visited.add(system_id)
            self._unclaim(pid, state)
            state.colonist = False
        cargo: Mapping[str, float] = obs.get("cargo") or {}
        hull = float(obs.get("hull", 1.0))
        if hull < self.repair_below and cargo.get("iron", 0.0) >= 10.0:
            return {"action": "repair"}
        if obs.get("system_survey", 0) < 1 and obs.get("body") is None:
            return {"action": "survey"}  # marks a newly reached system explored
        if state.colonist:
            return self._colonize(obs, state, system, cargo)
        recipe = self._recipe(obs)
        want = self._missing(cargo, recipe)
        if want is None:
            if float(obs.get("energy", 0.0)) < 2e10:
                return WAIT
            return {"action": "replicate"}
        return self._gather(obs, state, system, want, cargo)

    def _born_colonist(self, obs: Mapping[str, Any]) -> bool:
        if not obs.get("parent_id") or self.colonist_every <= 0:
            return False
        number = int(str(obs["probe_id"]).rsplit("-", 1)[1])
        return number % self.colonist_every == 0

    def _hold_full(self, obs: Mapping[str, Any], cargo: Mapping[str, float]) -> bool:
        last = obs.get("last_action") or {}
        if last.get("reason") == "cargo hold full":
            return True
        return sum(float(v) for v in cargo.values()) >= self.cargo_capacity - 1.0

    def _recipe(self, obs: Mapping[str, Any]) -> Mapping[str, float]:
        cost = obs.get("replication_cost")
        return cost if isinstance(cost, Mapping) and cost else self.recipe

    def _missing(self, cargo: Mapping[str, float], recipe: Mapping[str, float]) -> str | None:
        for resource in RESOURCES:
            need = float(recipe.get(resource, 0.0))
            if resource == "iron":
                need += self.iron_reserve
            if need > 0 and cargo.get(resource, 0.0) < need:
                return resource
        return None

    # ------------------------------------------------------------------ knowledge

    def _learn(self, obs: Mapping[str, Any], state: ProbeState, system: SystemInfo) -> None:
        last = obs.get("last_action") or {}
        reason = last.get("reason")
        body = obs.get("body")
        if last.get("action") == "navigate_to_body" and state.last_nav is not None:
            if reason == "target not found in the current system":
                if system.count is None or state.last_nav < system.count:
                    system.count = state.last_nav
                state.exploring = None
            state.last_nav = None
        info_block = obs.get("system_info")
        if isinstance(info_block, Mapping) and isinstance(info_block.get("planets"), list):
            self._learn_system_info(system, info_block["planets"])
        if last.get("action") == "scan" and last.get("ok"):
            result = last.get("result") or {}
            system.scan = list(result.get("systems") or [])
        if body is None:
            return
        index = body_index(body)
        info = system.bodies.get(index)
        if info is None:
            info = system.bodies[index] = BodyInfo(type=str(obs.get("body_type") or "rocky"))
        survey = obs.get("survey") or {}
        level = int(survey.get("level", 0) or 0)
        if level >= info.level and survey.get("resources"):
            info.level = level
            info.abundance = {k: float(v) for k, v in survey["resources"].items()}
            remaining = survey.get("remaining_kg")
            if isinstance(remaining, Mapping):
                for res, kg in remaining.items():
                    if float(kg) < 1.0:
                        info.exhausted.add(res)
        if last.get("action") == "mine":
            result = last.get("result") or {}
            if reason in ("deposit exhausted", "resource absent on this body"):
                res = self._last_mined.get(str(obs["probe_id"]))
                if res:
                    info.exhausted.add(res)
            elif last.get("ok") and float(result.get("kg", 1.0)) <= 0.0:
                info.exhausted.add(str(result.get("resource")))
        if state.exploring == index and info.level >= 2:
            state.exploring = None

    @staticmethod
    def _learn_system_info(system: SystemInfo, bodies: list[Any]) -> None:
        """Engines that list the system's bodies in the observation spare the visits."""
        if system.count is None:
            system.count = len(bodies)
        for entry in bodies:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
                continue
            index = body_index(entry["id"])
            info = system.bodies.get(index)
            if info is None:
                info = system.bodies[index] = BodyInfo(type=str(entry.get("type") or "rocky"))
            resources = entry.get("resources")
            done = entry.get("survey_complete")
            level = sum(1 for x in done if x) - 1 if isinstance(done, list) else 0
            if isinstance(resources, Mapping) and resources and level >= info.level:
                info.level = max(level, 1)
                info.abundance = {k: float(v) for k, v in resources.items()}

    # ------------------------------------------------------------------ gathering

    def _gather(
        self,
        obs: Mapping[str, Any],
        state: ProbeState,
        system: SystemInfo,
        want: str,
        cargo: Mapping[str, float],
    ) -> dict[str, Any]:
        if self._hold_full(obs, cargo):
            state.colonist = True  # full of what this system gives: take it elsewhere
            return self._colonize(obs, state, system, cargo)
        current = obs.get("body")
        here = body_index(current) if current else None
        if state.exploring is not None and state.exploring in system.bodies:
            if system.bodies[state.exploring].level >= 1 and state.exploring != here:
                state.exploring = None  # someone else surveyed it meanwhile
            elif system.bodies[state.exploring].level >= 2:
                state.exploring = None
        if state.exploring is not None:
            return self._visit(obs, state, system, state.exploring, here, survey_to=2)
        best, best_score = None, 0.0
        for index, info in system.bodies.items():
            score = info.offers(want) * (1.3 if index == here else 1.0)
            if score > best_score:
                best, best_score = index, score
        if best_score < self.good_enough:
            # a poor (or no) deposit known: look at the bodies nobody has seen yet first
            taken = {p.exploring for p in self.probes.values() if p.exploring is not None}
            unknown = system.next_unknown(taken, want)
            if unknown is None and best is None:
                unknown = system.next_unknown(set(), want)
            if unknown is not None:
                state.exploring = unknown
                return self._visit(obs, state, system, unknown, here, survey_to=2)
        if best is None:
            state.colonist = True  # this system cannot supply the recipe any more
            return self._colonize(obs, state, system, cargo)
        return self._visit(obs, state, system, best, here, survey_to=4, mine=want)

    def _visit(
        self,
        obs: Mapping[str, Any],
        state: ProbeState,
        system: SystemInfo,
        index: int,
        here: int | None,
        *,
        survey_to: int,
        mine: str | None = None,
    ) -> dict[str, Any]:
        """Go to body ``index``, survey it to ``survey_to`` (as far as possible), then mine."""
        location = obs.get("location")
        if here != index:
            if location == "landed":
                return {"action": "launch"}
            state.last_nav = index
            return {"action": "navigate_to_body", "target_body": body_id(str(obs["system"]), index)}
        info = system.bodies[index]
        level = int((obs.get("survey") or {}).get("level", 0) or 0)
        if mine is None:  # only learning the body: level 2 is possible from near it
            return {"action": "survey"} if level < survey_to else WAIT
        landed_needed = info.type not in UNLANDABLE
        if location == "in_system":
            return {"action": "survey"} if level < 2 else {"action": "enter_orbit"}
        if location == "orbiting":
            if landed_needed:
                return {"action": "survey"} if level < 3 else {"action": "land"}
            if level < 4:
                return {"action": "survey"}
        elif location == "landed" and level < 4:
            return {"action": "survey"}
        self._last_mined[str(obs["probe_id"])] = mine
        return {"action": "mine", "resource": mine}

    # ------------------------------------------------------------------ colonizing

    def _colonize(
        self,
        obs: Mapping[str, Any],
        state: ProbeState,
        system: SystemInfo,
        cargo: Mapping[str, float],
    ) -> dict[str, Any]:
        pid = str(obs["probe_id"])
        if system.scan is None:
            if obs.get("location") == "landed":
                return {"action": "launch"}
            return {"action": "scan"}
        target = None
        if state.target_system is not None:
            target = next((s for s in system.scan if s["id"] == state.target_system), None)
        if target is None:
            for candidate in system.scan:
                if candidate.get("explored") or candidate["id"] in self.visited:
                    continue
                if len(self.claimed.get(candidate["id"], ())) >= self.crew_per_target:
                    continue
                target = candidate
                break
            if target is None:
                state.colonist = False  # nowhere to go: stay and help here
                return WAIT
            self._unclaim(pid, state)
            state.target_system = target["id"]
            self.claimed.setdefault(target["id"], set()).add(pid)
        need = float(target.get("fuel_needed", 0.0)) * 1.02 + 1.0
        have = float(obs.get("fuel", 0.0)) + float(cargo.get("hydrogen", 0.0))
        if have >= need:
            if obs.get("location") == "landed":
                return {"action": "launch"}
            return {"action": "travel_to_system", "target_system_id": target["id"]}
        # top up hydrogen at the best giant (or any body with hydrogen)
        current = obs.get("body")
        here = body_index(current) if current else None
        best, best_score = None, 0.0
        for index, info in system.bodies.items():
            score = info.offers("hydrogen") * (1.3 if index == here else 1.0)
            if score > best_score:
                best, best_score = index, score
        if best is None:
            taken = {p.exploring for p in self.probes.values() if p.exploring is not None}
            unknown = system.next_unknown(taken, "hydrogen")
            if unknown is None:
                unknown = system.next_unknown(set(), "hydrogen")
            if unknown is None:
                state.colonist = False
                self._unclaim(pid, state)
                return WAIT
            state.exploring = unknown
            return self._visit(obs, state, system, unknown, here, survey_to=2)
        if self._hold_full(obs, cargo):
            state.colonist = False  # the hold is full of other things: cannot carry the fuel
            self._unclaim(pid, state)
            return WAIT
        return self._visit(obs, state, system, best, here, survey_to=4, mine="hydrogen")
