"""What a tick observes and who sees it: the observation plan, the observations in both
shapes, a probe's latest observation on demand, and the dashboard message.

The sim observes only the probes somebody looks at (`Observer.observe_request`): those of remote
agents and of deciding policies, plus a sample while a dashboard listens; the reference overlay
only for what a reference consumer sees (`Observer.index` merges it in, once per probe). A probe
nobody observed yet is asked for (`Observer.observation_of`). After the tick, the dashboards get
one message per shape (`Observer.publish`), through a `TickSink`: a protocol, so the core never
imports the server (the daemon injects its `DashboardHub`).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from typing import Any, Protocol

import orjson

from .messages import OBSERVATION_PIECES
from .observations import Observations
from .registry import PolicyController, RemoteController
from .simproc import SimError
from .state import EngineState

__all__ = ["METRICS_EVERY", "Observer", "TickSink"]

METRICS_EVERY = 10  # ticks between the sim metrics refreshes in dashboard messages


class TickSink(Protocol):
    """Where the per-tick dashboard message goes (the server's `DashboardHub`, injected)."""

    @property
    def subscribers(self) -> Collection[object]:
        """Who listens; empty: the engine skips building the message."""
        ...

    def listening(self, shape: str) -> bool:
        """Whether anyone listens in ``shape`` ("reference" or "readable")."""
        ...

    def publish(self, message: bytes, shape: str | None = None) -> None:
        """Offer ``message`` to the listeners of ``shape`` (None: to everyone)."""
        ...


def _in_id_order(probes: Iterable[str]) -> list[str]:
    """Probe ids in the sim's probe order (``1-N`` by N: by length, then as strings; two stable
    sorts at C speed, ~2 ms for 10,000). A delta group in any order is valid, but the sim walks
    its probes' state in the order listed: in a set's hash order every probe is a cache miss
    (measured at 100,000 probes in 10 groups: 49 against 32 ms of engine CPU a tick)."""
    ordered = sorted(probes)
    ordered.sort(key=len)
    return ordered


class Observer:
    """Owned by the `Engine` (``engine.observer``); holds it as an `EngineState`, and the hub."""

    def __init__(self, engine: EngineState, hub: TickSink) -> None:
        self._engine = engine
        self.hub = hub
        self._metrics: dict[str, Any] = {}  # the sim's metrics, refreshed every METRICS_EVERY
        #: controller id -> (probes_version, probe count, its probes listed, encoded), for
        #: `delta_request`
        self._delta_lists: dict[str, tuple[int, int, list[str], orjson.Fragment]] = {}

    def observe_request(self) -> tuple[list[str] | str, str, list[str] | str | None]:
        """Which probes the coming tick must observe, at which detail, and which of them in the
        reference shape too (the sim's ``reference`` overlay; None: none).

        Only probes somebody decides for are observed (remote agents, non-wait policies), plus a
        sample of the first ``dashboard_max_observations`` probes while a dashboard listens: a
        host with 100k probes and a few agents pays for a few observations, not 100k. Full
        detail (the living-universe fields, ~6 KB each) only when some consumer wants it. The
        overlay only for what a reference consumer sees: the probes of reference agents, and
        the sample while a reference dashboard listens (at full detail, the overlay's).
        """
        engine = self._engine
        registry = engine.registry
        parents = engine.probes.parents
        hub = self.hub
        ref_dash = hub.listening("reference")
        refs: set[str] = set()
        for remote in registry.remotes.values():
            if remote.shape == "reference":
                refs.update(remote.probes)
        sample: list[str] = []
        if hub.subscribers:
            sample = list(itertools.islice(parents, engine.config.dashboard_max_observations))
            if ref_dash:
                refs.update(sample)
        if not registry.default.is_wait:
            detail = "full" if ref_dash else registry.default.detail
            return "all", detail, self._listed(refs)
        wanted = set(sample)
        detail = "full" if ref_dash else "compact"
        for remote in registry.remotes.values():
            if remote.engine_delta and remote.detail == "full":
                detail = "full"  # the delta groups come at the tick's detail
        for ctrl in registry.controllers():  # per controller: 100,000 probes are 10 fleets
            if not ctrl.probes:
                continue
            if isinstance(ctrl, PolicyController) and ctrl.is_wait:
                continue
            if isinstance(ctrl, RemoteController) and ctrl.engine_delta:
                continue  # its probes come in its delta group (`delta_request`)
            wanted |= ctrl.probes
            if ctrl.detail == "full":
                detail = "full"
        if len(wanted) >= len(parents):
            return "all", detail, self._listed(refs)
        return sorted(wanted), detail, self._listed(refs)

    def delta_request(
        self,
    ) -> tuple[list[tuple[RemoteController, list[str]]], list[dict[str, Any]]]:
        """The controllers whose delta observations the sim computes this tick, each with the
        probes it lists, and the tick's ``delta`` groups for them, in the same order."""
        listed: list[tuple[RemoteController, list[str]]] = []
        groups: list[dict[str, Any]] = []
        cached = self._delta_lists
        kept: dict[str, tuple[int, int, list[str], orjson.Fragment]] = {}
        for ctrl in self._engine.registry.remotes.values():
            if not ctrl.engine_delta or not ctrl.probes:
                continue
            # the list and its encoding are kept while the controller's probe set is unchanged
            # (the same set lists in the same order): a fleet of 100,000 probes is not listed
            # and encoded again every tick
            key = (ctrl.probes_version, len(ctrl.probes))
            hit = cached.get(ctrl.id)
            if hit is None or hit[:2] != key:
                probes = _in_id_order(ctrl.probes)
                hit = (*key, probes, orjson.Fragment(orjson.dumps(probes)))
            kept[ctrl.id] = hit
            probes = hit[2]
            listed.append((ctrl, probes))
            group: dict[str, Any] = {"probes": hit[3]}
            if ctrl.whole_next:
                group["whole"] = True
            groups.append(group)
        self._delta_lists = kept
        return listed, groups

    def _listed(self, probes: set[str]) -> list[str] | str | None:
        """A probe set as the tick's ``reference`` value."""
        if not probes:
            return None
        if len(probes) >= len(self._engine.probes.parents):
            return "all"
        return sorted(probes)

    @staticmethod
    def index(
        reply: dict[str, Any], tick: int, reference: list[str] | str | None
    ) -> tuple[Observations, dict[str, dict[str, Any]]]:
        """A tick's observations by probe id, readable, and (if the tick asked for the
        ``reference`` overlay) by probe id in the reference shape, for the probes it came with.

        A split reply (`messages.split_tick_reply`) stays unparsed but for the probes that came
        with the overlay (their readable form is the object without it); a reply parsed whole
        (a recovered tick) is indexed as it is.
        """
        refs: dict[str, dict[str, Any]] = {}
        pieces = reply.get(OBSERVATION_PIECES)
        if pieces is not None:
            observed = Observations.from_pieces(tick, pieces)
            if reference is None:
                return observed, refs
            with_overlay = list(observed) if reference == "all" else reference
            for pid in with_overlay:
                if pid not in observed:
                    continue
                obs = observed[pid]
                overlay = obs.pop("reference", None)
                observed.add_parsed(obs)  # its bytes carry the overlay: encode from the object
                if overlay is not None:
                    refs[pid] = {**obs, **overlay}  # once per probe, shared by every consumer
            return observed, refs
        observed = Observations(tick)
        for obs in reply["observations"]:
            obs["tick"] = tick
            if reference is not None:
                overlay = obs.pop("reference", None)  # everything internal reads the readable
                if overlay is not None:
                    refs[obs["probe_id"]] = {**obs, **overlay}
            observed.add_parsed(obs)
        return observed, refs

    async def observation_of(self, probe_id: str, shape: str = "readable") -> dict[str, Any] | None:
        """The probe's latest observation in ``shape`` (asks the sim if no tick has produced
        one yet, or not in the reference shape)."""
        engine = self._engine
        if shape == "reference":
            ref = engine.references.get(probe_id)
            if ref is not None:
                return ref
        obs = engine.observations.get(probe_id)
        if obs is not None and shape != "reference":
            return obs
        command: dict[str, Any] = {"cmd": "probe", "probe_id": probe_id}
        if shape == "reference":
            command["reference"] = True
        try:
            reply = await engine.sim.request(command)
        except SimError:
            return None
        probe = dict(reply["probe"])
        overlay = probe.pop("reference", None)
        probe["tick"] = engine.tick
        if probe.get("status") == "destroyed":
            return probe
        if obs is None:
            engine.observations[probe_id] = obs = probe
        if shape != "reference":
            return obs
        if not isinstance(overlay, dict):
            return obs  # no overlay (a sim without it): the readable form
        ref = {**obs, **overlay}
        engine.references[probe_id] = ref
        return ref

    async def publish(
        self,
        tick: int,
        reply: dict[str, Any],
        observed: Observations,
        refs: dict[str, dict[str, Any]],
    ) -> None:
        """Refresh the sim's metrics if due, then one message per shape that has listeners,
        each encoded once."""
        engine = self._engine
        if tick % METRICS_EVERY == 0 or not self._metrics:
            self._metrics = (await engine.sim.request({"cmd": "metrics"}))["metrics"]
        cap = engine.config.dashboard_max_observations
        observations = list(itertools.islice(observed.values(), cap))  # parses only these
        every = reply.get("events")  # all probes' events, when the tick asked for them
        pairs = (
            ((ev.get("probe_id"), ev) for ev in every)
            if every is not None
            else ((pid, ev) for pid, obs in observed.items() for ev in obs.get("events") or ())
        )
        events = [
            {
                "probe_id": pid,
                "type": ev.get("type"),
                "subtype": ev.get("subtype"),
                "severity": ev.get("severity"),
                "message": ev.get("message"),
            }
            for pid, ev in itertools.islice(pairs, cap)
        ]
        message = {
            "type": "tick",
            "tick": reply["tick"],
            "observations": observations,
            "agents": {"connected": engine.agents_connected},
            "mode": engine.mode,
            "tick_rate": engine.tick_rate,
            "ticks_per_second": round(engine.ticks_per_second, 3),
            "probe_count": engine.probe_count,
            "born": reply.get("born") or [],
            "destroyed": reply.get("destroyed") or [],
            "rejected": reply.get("rejected") or [],
            "events": events,
            "metrics": self._metrics,
        }
        hub = self.hub
        if hub.listening("readable"):
            hub.publish(orjson.dumps(message), "readable")
        if hub.listening("reference"):
            if refs:
                sample = message["observations"]
                message["observations"] = [refs.get(o["probe_id"], o) for o in sample]
            hub.publish(orjson.dumps(message), "reference")
