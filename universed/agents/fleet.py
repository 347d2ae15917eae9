"""Mission control for a fleet: every probe runs a *mission*, a strategy decides which.

What agent authors build for themselves on other platforms (a fleet commander with a strategy
engine, an assignment registry, mission loops), as one object. A `FleetCommander` is itself a
policy (``name``, ``decide``, ``on_birth``, ``on_death``), so the same commander runs
in-process (register it through the ``universed_policies`` hook and assign it the root probe:
children inherit it) or remotely over one fleet connection::

    universed agent run mypkg.fleet:commander --fleet --assign 1-1:explore

Missions are ordinary policies, one object per mission serving every probe on that mission. A
mission that is finished with a probe returns `DONE` instead of an action: the probe goes back to
the strategy, which gives it its next mission at once (the probe loses no tick).

The strategy is the decision engine, kept free of I/O so it can be tested alone:

* ``assign(probe_id, observation, fleet) -> mission name`` for every probe without a mission
  (the fleet's first tick, newborns, probes whose mission is done); a plain function of the
  same signature works too;
* optionally ``reconsider(fleet, events) -> {probe_id: mission}``, called once per tick when
  something happened (births, deaths, missions done, rejected actions, mission errors), to move
  probes between missions.

`Quotas` is a ready strategy: it keeps the fleet's split between missions close to fixed
shares. Pinned probes (`FleetCommander.pin`, ``--assign PROBE:MISSION``) keep their mission
whatever the strategy says. Everything is deterministic: the same observations in the same
order give the same assignments and actions, in-process or remote.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

from ..core.policy import Action, Observation, Policy

__all__ = [
    "DONE",
    "FleetCommander",
    "FleetEvent",
    "FleetView",
    "MissionStats",
    "Quotas",
    "Strategy",
    "standard",
]

log = logging.getLogger(__name__)


class _Done:
    """The type of `DONE`."""

    def __repr__(self) -> str:
        return "DONE"


#: What a mission returns instead of an action when it is finished with a probe.
DONE: Final = _Done()

WAIT: Final[dict[str, Any]] = {"action": "wait"}


@attrs.frozen
class FleetEvent:
    """Something that happened to the fleet (the strategy's input, the operator's log).

    ``kind``: "assigned", "born", "destroyed", "mission_done", "rejected" (the engine refused
    the probe's last action; ``detail`` has the reason) or "error" (the mission raised).
    """

    tick: int
    kind: str
    probe_id: str
    mission: str | None = None
    detail: str | None = None


@attrs.define
class MissionStats:
    """Per-mission counters."""

    probes: int = 0
    decisions: int = 0
    done: int = 0
    rejected: int = 0
    errors: int = 0


class FleetView:
    """What a strategy may read: the fleet as the commander knows it (read-only)."""

    def __init__(self, commander: FleetCommander) -> None:
        self._c = commander

    @property
    def tick(self) -> int:
        return self._c.tick

    @property
    def missions(self) -> Sequence[str]:
        """Mission names, in the order they were given."""
        return tuple(self._c.missions)

    @property
    def assignments(self) -> Mapping[str, str]:
        """Probe id -> mission, for every live probe that has one."""
        return dict(self._c.assignments)

    def count(self, mission: str) -> int:
        return self._c.stats[mission].probes

    def observation(self, probe_id: str) -> Observation | None:
        """The probe's latest observation seen by the commander."""
        return self._c.last_observation.get(probe_id)

    def pinned(self, probe_id: str) -> bool:
        return probe_id in self._c.pins


class Strategy(Protocol):
    """Decides missions; see the module docstring."""

    def assign(self, probe_id: str, observation: Observation, fleet: FleetView) -> str:
        """The mission for a probe that has none."""
        ...


AssignFn = Callable[[str, Observation, FleetView], str]


class Quotas:
    """Keep the fleet split between missions close to fixed shares.

    ``Quotas({"explore": 1, "mine": 3})``: a probe without a mission gets the mission furthest
    below its share of the fleet (ties: the order given). ``first`` (optional) is the mission
    of a fleet's very first probe, whatever the shares.
    """

    def __init__(self, shares: Mapping[str, float], *, first: str | None = None) -> None:
        if not shares or any(v <= 0 for v in shares.values()):
            raise ValueError("quotas need at least one mission, each with a positive share")
        if first is not None and first not in shares:
            raise ValueError(f"first mission {first!r} has no share")
        total = float(sum(shares.values()))
        self.shares = {name: value / total for name, value in shares.items()}
        self.first = first

    def assign(self, probe_id: str, observation: Observation, fleet: FleetView) -> str:
        counts = {name: fleet.count(name) for name in self.shares}
        size = sum(counts.values()) + 1  # with the probe being assigned
        if self.first is not None and size == 1:
            return self.first
        deficits = [(self.shares[n] * size - counts[n], -i, n) for i, n in enumerate(self.shares)]
        return max(deficits)[2]


class FleetCommander:
    """Runs each probe's mission; a strategy assigns missions. See the module docstring.

    Args:
        missions: mission name -> policy object.
        strategy: a `Strategy`, or a function ``(probe_id, observation, fleet) -> mission``.
            Default: the first mission for every probe.
        pins: probe id -> mission, kept whatever the strategy says.
        name: the policy name (``GET /api/policies`` shows it when run in-process).
        history: how many `FleetEvent` to keep in ``events``.
    """

    def __init__(
        self,
        missions: Mapping[str, Policy],
        strategy: Strategy | AssignFn | None = None,
        *,
        pins: Mapping[str, str] | None = None,
        name: str = "commander",
        history: int = 1000,
    ) -> None:
        if not missions:
            raise ValueError("a fleet commander needs at least one mission")
        for mission, policy in missions.items():
            if not callable(getattr(policy, "decide", None)):
                raise TypeError(f"mission {mission!r}: {policy!r} has no decide(observation)")
        self.name = name
        self.missions: dict[str, Policy] = dict(missions)
        first = next(iter(self.missions))
        if strategy is None:
            self._assign: AssignFn = lambda _pid, _obs, _fleet: first
            self._reconsider: Callable[..., Mapping[str, str]] | None = None
        elif callable(getattr(strategy, "assign", None)):
            self._assign = strategy.assign  # type: ignore[union-attr]
            self._reconsider = getattr(strategy, "reconsider", None)
        elif callable(strategy):
            self._assign = strategy
            self._reconsider = None
        else:
            raise TypeError(f"strategy {strategy!r} is neither a Strategy nor a function")
        self.assignments: dict[str, str] = {}
        self.pins: dict[str, str] = {}
        self.stats: dict[str, MissionStats] = {m: MissionStats() for m in self.missions}
        self.events: deque[FleetEvent] = deque(maxlen=history)
        self.last_observation: dict[str, Observation] = {}
        self.tick = 0
        self.view = FleetView(self)
        self._pending: list[FleetEvent] = []  # events the strategy has not seen yet
        for probe_id, mission in (pins or {}).items():
            self.pin(probe_id, mission)

    # ------------------------------------------------------------------ the registry

    def pin(self, probe_id: str, mission: str) -> None:
        """Give ``probe_id`` this mission for good (the strategy will not move it); a probe not
        seen yet gets it when it first shows up.

        Raises:
            ValueError: an unknown mission.
        """
        self._check(mission)
        self.pins[probe_id] = mission
        if probe_id in self.assignments:
            self._set(probe_id, mission, "pinned")

    def unpin(self, probe_id: str) -> None:
        """Let the strategy decide for ``probe_id`` again (it keeps its mission for now)."""
        self.pins.pop(probe_id, None)

    def mission_of(self, probe_id: str) -> str | None:
        return self.assignments.get(probe_id)

    def _check(self, mission: str) -> None:
        if mission not in self.missions:
            known = ", ".join(self.missions)
            raise ValueError(f"unknown mission {mission!r}; missions: {known}")

    def _set(self, probe_id: str, mission: str | None, why: str | None = None) -> None:
        old = self.assignments.get(probe_id)
        if old == mission:
            return
        if old is not None:
            self.stats[old].probes -= 1
            del self.assignments[probe_id]
        if mission is not None:
            self.assignments[probe_id] = mission
            self.stats[mission].probes += 1
            self._event("assigned", probe_id, mission, why)

    def _event(
        self, kind: str, probe_id: str, mission: str | None, detail: str | None = None
    ) -> None:
        event = FleetEvent(self.tick, kind, probe_id, mission, detail)
        self.events.append(event)
        if kind != "assigned":
            self._pending.append(event)

    # ------------------------------------------------------------------ the policy interface

    def decide(self, observation: Observation) -> Action:
        pid = str(observation.get("probe_id"))
        tick = observation.get("tick")
        if isinstance(tick, int) and tick != self.tick:
            self.tick = tick
            self._strategy_round()
        self.last_observation[pid] = observation
        last = observation.get("last_action")
        mission = self.assignments.get(pid)
        if isinstance(last, Mapping) and last.get("ok") is False and mission is not None:
            self.stats[mission].rejected += 1
            self._event("rejected", pid, mission, str(last.get("reason")))
        if mission is None:
            mission = self._new_mission(pid, observation, "assigned")
        action = self._run(mission, pid, observation)
        if isinstance(action, _Done):
            self.stats[mission].done += 1
            self._event("mission_done", pid, mission)
            if pid in self.pins:  # a pinned probe stays; its mission may start over next tick
                return WAIT
            self._set(pid, None)
            mission = self._new_mission(pid, observation, "after " + mission)
            action = self._run(mission, pid, observation)
            if isinstance(action, _Done):  # finished before it began: ask again next tick
                self.stats[mission].done += 1
                self._set(pid, None)
                return WAIT
        return action

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        self._event("born", probe_id, None, parent_id)

    def on_death(self, probe_id: str) -> None:
        mission = self.assignments.get(probe_id)
        self._event("destroyed", probe_id, mission)
        self._set(probe_id, None)
        self.last_observation.pop(probe_id, None)
        self.pins.pop(probe_id, None)
        if mission is not None:
            hook = getattr(self.missions[mission], "on_death", None)
            if callable(hook):
                self._guard(mission, hook, probe_id)

    # ------------------------------------------------------------------ internals

    def _new_mission(self, pid: str, observation: Observation, why: str) -> str:
        mission = self.pins.get(pid)
        if mission is None:
            try:
                mission = self._assign(pid, observation, self.view)
                self._check(mission)
            except Exception as exc:
                fallback = next(iter(self.missions))
                log.warning(
                    "fleet %s: the strategy failed for %s (%r); using %s",
                    self.name,
                    pid,
                    exc,
                    fallback,
                )
                mission = fallback
        self._set(pid, mission, why)
        hook = getattr(self.missions[mission], "on_birth", None)
        if callable(hook) and observation.get("parent_id"):
            self._guard(mission, hook, pid, str(observation.get("parent_id")))
        return mission

    def _run(self, mission: str, pid: str, observation: Observation) -> Action | _Done:
        stats = self.stats[mission]
        stats.decisions += 1
        try:
            return self.missions[mission].decide(observation)
        except Exception as exc:
            stats.errors += 1
            log.warning("fleet %s: mission %s failed for %s: %r", self.name, mission, pid, exc)
            self._event("error", pid, mission, repr(exc)[:200])
            return WAIT

    def _guard(self, mission: str, hook: Callable[..., Any], *args: str) -> None:
        try:
            hook(*args)
        except Exception as exc:
            self.stats[mission].errors += 1
            log.warning("fleet %s: mission %s hook failed: %r", self.name, mission, exc)

    def _strategy_round(self) -> None:
        """Once per tick, before its first decision: show the strategy what happened."""
        if self._reconsider is None or not self._pending:
            self._pending.clear()
            return
        events, self._pending = self._pending, []
        try:
            moves = self._reconsider(self.view, events)
            for pid, mission in dict(moves or {}).items():
                self._check(mission)
                if pid in self.assignments and pid not in self.pins:
                    self._set(pid, mission, "reconsidered")
        except Exception as exc:
            log.warning("fleet %s: the strategy's reconsider failed: %r", self.name, exc)

    # ------------------------------------------------------------------ reporting

    def describe(self) -> dict[str, Any]:
        """Missions with their counters, the pins, and the latest events (for logs and UIs)."""
        return {
            "name": self.name,
            "tick": self.tick,
            "missions": {m: attrs.asdict(s) for m, s in self.stats.items()},
            "pins": dict(self.pins),
            "recent_events": [attrs.asdict(e) for e in list(self.events)[-20:]],
        }

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(probe id, mission) pairs."""
        return iter(list(self.assignments.items()))


def standard() -> FleetCommander:
    """A ready fleet from the bundled plugins: explorers grow the civilization, miners stock up.

    One explorer for every two greedy miners (`Quotas`), the first probe an explorer.
    ``universed agent run universed.fleet:standard --fleet``.
    """
    from ..core.config import load_config
    from .plugins import load_policies, make_plugin_manager

    table = load_policies(make_plugin_manager(), load_config().to_json())
    wanted = {"explore": "explorer", "mine": "greedy-miner"}
    missing = [p for p in wanted.values() if p not in table]
    if missing:
        raise LookupError(
            f"the standard fleet needs the policy plugins {', '.join(missing)} "
            "(pip install plugins/universed-policy-explorer plugins/universed-policy-greedy-miner)"
        )
    missions = {m: table[p] for m, p in wanted.items()}
    return FleetCommander(
        missions, Quotas({"explore": 1, "mine": 2}, first="explore"), name="standard-fleet"
    )
