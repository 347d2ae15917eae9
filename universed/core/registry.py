"""Who controls which probe.

A `Controller` decides actions for a set of probes: a remote WebSocket connection
(`RemoteController`, implemented by the gateway) or an in-process policy (`PolicyController`).
The `Registry` maps each probe to at most one controller; assigning a probe to a new controller
takes it from the previous one. Probes with no controller are decided by the default policy (if
configured) or the fallback policy.

Newborn probes get their parent's controller when that controller ``inherits``: policies (if
``inherit_controller``), fleet connections (``lineage`` always, explicit lists if
``inherit_controller``); a single-probe connection never does, since the agent protocol gives it
exactly one probe. A newborn listed itself in ``lineage_policies`` gets that policy even from
an inheriting parent; one that inherits nothing gets its lineage's policy (the nearest listed
ancestor), else ``newborn_policy``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .messages import ACTION_NAMES, Piece
from .policy import Observation, Policy

__all__ = ["Controller", "PolicyController", "Registry", "RemoteController", "lineage_policy"]

log = logging.getLogger(__name__)
_ids = itertools.count(1)
MAX_GENERATIONS = 100_000  # a bound on ancestor walks (a parent index is never cyclic)


def _orphan(_probe_id: str) -> str | None:
    return None


def lineage_policy(
    table: Mapping[str, str], probe_id: str, parent_of: Callable[[str], str | None]
) -> str:
    """The policy ``table`` gives the nearest ancestor-or-self of ``probe_id`` ("" if none)."""
    if not table:
        return ""
    node: str | None = probe_id
    for _ in range(MAX_GENERATIONS):
        if node is None:
            break
        name = table.get(node)
        if name:
            return name
        node = parent_of(node)
    return ""


class Controller:
    """Base of both kinds; ``probes`` is maintained by the `Registry`."""

    kind = "controller"

    def __init__(self, name: str, *, inherits: bool) -> None:
        self.id = f"{self.kind[0]}{next(_ids)}"
        self.name = name
        self.inherits = inherits
        #: observation detail this controller needs: "full" (living-universe fields) or "compact"
        self.detail = "full"
        #: observation shape it is sent: "readable" (universed's own; in-process policies) or
        #: "reference" (the sim's reference overlay merged in; remote agents that ask for it)
        self.shape = "readable"
        self.probes: set[str] = set()
        #: bumped by the `Registry` whenever it changes ``probes`` (who caches something
        #: derived from the set, e.g. the engine's delta groups, knows when to redo it)
        self.probes_version = 0
        self.connected_at_tick = 0

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        """A probe was born under this controller."""

    def on_death(self, probe_id: str) -> None:
        """A probe of this controller was destroyed."""

    def released(self, probe_id: str) -> None:
        """The probe was given to another controller."""

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "probes": sorted(self.probes),
            "connected_at_tick": self.connected_at_tick,
        }


class RemoteController(Controller):
    """A remote agent; the gateway subclasses it with the transport."""

    kind = "remote"
    remote_addr: str | None = None
    fleet = False
    #: the engine asks the sim for whole observations for this controller at the next tick
    #: (its first after a registration or a resync; see `engine_delta`)
    whole_next = True

    #: whether the sim computes this controller's delta observations: its probes are then not
    #: observed, but sent as a delta group of the tick (`deliver_group`). A transport that can
    #: send a group sets it (a plain attribute: the tick path reads it per controller per tick)
    engine_delta = False

    def deliver_group(self, tick: int, group: bytes, whole: bool) -> None:
        """This tick's delta group for the controller's probes, as the sim wrote it
        (``{"observations":[...whole...],"deltas":[...]}``; only ``observations`` if ``whole``);
        docs/pipe-protocol.md "Delta groups". Must never block."""
        raise NotImplementedError

    def deliver(self, tick: int, observations: Sequence[Observation]) -> None:
        """Queue this tick's observations for the agent; must never block."""
        raise NotImplementedError

    def deliver_wire(
        self, tick: int, observations: Sequence[Observation], wires: Sequence[bytes]
    ) -> None:
        """`deliver`, with each observation's ``observe`` message already encoded (``wires``,
        the same order; shared with other connections: send them, never change them). A
        transport that writes bytes overrides this; the default calls `deliver`."""
        self.deliver(tick, observations)

    #: whether `deliver_piece` may be used: the controller sends each observation of its one
    #: probe as its own message, as it is (no delta, no batch); a transport that can sets it
    plain = False

    def deliver_piece(self, piece: Piece, tail: bytes) -> None:
        """A plain controller's (``plain``) one observation of the tick: the sim's bytes of it
        (``piece``, without ``tick``) and the ``observe`` message's ``tail``, the
        ``,"tick":N}`` that replaces the piece's closing brace (`messages.observe_wire` is
        the two joined). Must never block."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["remote_addr"] = self.remote_addr
        out["fleet"] = self.fleet
        out["shape"] = self.shape
        return out


def normalize_action(result: object) -> dict[str, Any] | None:
    """A policy's result as a sim action object, or None if it is not a valid action."""
    if isinstance(result, str):
        return {"type": result} if result in ACTION_NAMES else None
    if not isinstance(result, Mapping):
        return None
    name = result.get("action")
    if name is None:
        name = result.get("type")
    if not isinstance(name, str) or name not in ACTION_NAMES:
        return None
    out = {k: v for k, v in result.items() if k not in ("action", "type", "probe_id")}
    out["type"] = name
    return out


class PolicyController(Controller):
    """An in-process policy. Its failures are logged with its name; the probe then waits."""

    kind = "policy"

    def __init__(self, name: str, policy: Policy, *, inherits: bool) -> None:
        super().__init__(name, inherits=inherits)
        self.policy = policy
        self.errors = 0
        self.is_wait = name == "wait"
        self.detail = "compact" if getattr(policy, "detail", "full") == "compact" else "full"

    def decide(self, observation: Observation) -> dict[str, Any] | None:
        try:
            result = self.policy.decide(observation)
        except Exception as exc:
            self.errors += 1
            log.warning(
                "policy %r raised for probe %s: %r; the probe waits",
                self.name,
                observation.get("probe_id"),
                exc,
            )
            return None
        action = normalize_action(result)
        if action is None:
            self.errors += 1
            log.warning(
                "policy %r returned %.200r for probe %s, not an action; the probe waits",
                self.name,
                result,
                observation.get("probe_id"),
            )
        return action

    def _hook(self, hook: str, *args: str) -> None:
        fn = getattr(self.policy, hook, None)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception as exc:
            self.errors += 1
            log.warning("policy %r %s%r raised %r", self.name, hook, args, exc)

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        self._hook("on_birth", probe_id, parent_id)

    def on_death(self, probe_id: str) -> None:
        self._hook("on_death", probe_id)


class Registry:
    """Probe -> controller, plus the policy controllers by name.

    Args:
        policies: the policy table from the plugins.
        fallback: name of the policy for probes whose agent is slow, gone or absent.
        default: name of the policy for probes nobody registered for ("" = ``fallback``).
        inherit: config ``inherit_controller``.
    """

    def __init__(
        self,
        policies: Mapping[str, Policy],
        *,
        fallback: str,
        default: str = "",
        inherit: bool,
        newborn: str = "",
        lineages: Mapping[str, str] | None = None,
    ) -> None:
        lineages = dict(lineages or {})
        for name in (fallback, default, newborn, *lineages.values()):
            if name and name not in policies:
                raise ValueError(f"unknown policy {name!r}; known: {', '.join(sorted(policies))}")
        self.policy_table = dict(policies)
        self.inherit = inherit
        self.newborn = newborn  # policy for newborns that inherit nothing ("" = the default)
        self.lineages = lineages  # lineage root probe id -> policy for it and its descendants
        self._by_probe: dict[str, Controller] = {}
        self._policy_controllers: dict[str, PolicyController] = {}
        self.remotes: dict[str, RemoteController] = {}
        self.fallback = self.policy_controller(fallback)
        self.default = self.policy_controller(default) if default else self.fallback

    def policy_controller(self, name: str) -> PolicyController:
        ctrl = self._policy_controllers.get(name)
        if ctrl is None:
            policy = self.policy_table.get(name)
            if policy is None:
                raise KeyError(name)
            ctrl = PolicyController(name, policy, inherits=self.inherit)
            self._policy_controllers[name] = ctrl
        return ctrl

    def controller_of(self, probe_id: str) -> Controller | None:
        return self._by_probe.get(probe_id)

    def controller_name(self, probe_id: str) -> str:
        ctrl = self._by_probe.get(probe_id)
        if ctrl is None:
            return f"default:{self.default.name}"
        return ctrl.name if ctrl.kind == "policy" else f"remote:{ctrl.id}"

    def assignments(self) -> Iterator[tuple[str, Controller]]:
        return iter(self._by_probe.items())

    def controllers(self) -> Iterator[Controller]:
        """Every controller that may hold probes: the remote ones, then the policies (each
        holds its probes in ``probes``, kept in step with `assignments`)."""
        yield from self.remotes.values()
        yield from self._policy_controllers.values()

    def assign(self, probe_id: str, ctrl: Controller) -> None:
        previous = self._by_probe.get(probe_id)
        if previous is ctrl:
            return
        if previous is not None:
            previous.probes.discard(probe_id)
            previous.probes_version += 1
            previous.released(probe_id)
            if isinstance(previous, RemoteController) and not previous.probes:
                self.remotes.pop(previous.id, None)
        self._by_probe[probe_id] = ctrl
        ctrl.probes.add(probe_id)
        ctrl.probes_version += 1
        if isinstance(ctrl, RemoteController):
            self.remotes[ctrl.id] = ctrl

    def drop(self, ctrl: Controller) -> None:
        """Forget a controller (a disconnect): its probes fall back to the default."""
        for pid in list(ctrl.probes):
            if self._by_probe.get(pid) is ctrl:
                del self._by_probe[pid]
        ctrl.probes.clear()
        ctrl.probes_version += 1
        self.remotes.pop(ctrl.id, None)

    def drop_probe(self, probe_id: str, ctrl: Controller) -> None:
        """Take one probe from ``ctrl`` (back to the default policy)."""
        if self._by_probe.get(probe_id) is ctrl:
            del self._by_probe[probe_id]
        ctrl.probes.discard(probe_id)
        ctrl.probes_version += 1

    def on_birth(
        self, child: str, parent: str | None, parent_of: Callable[[str], str | None] = _orphan
    ) -> None:
        """Give a newborn its controller: its own ``lineages`` entry if it has one; else the
        parent's controller, if that one inherits; else the policy of its lineage (nearest
        listed ancestor); else ``newborn``; else none (the default policy decides for it)."""
        ctrl = self._by_probe.get(parent) if parent else None
        if child in self.lineages:
            ctrl = self.policy_controller(self.lineages[child])
        elif ctrl is None or not ctrl.inherits:
            name = self.lineage_policy(child, parent_of) or self.newborn
            ctrl = self.policy_controller(name) if name else None
        if ctrl is not None:
            self.assign(child, ctrl)
            ctrl.on_birth(child, parent or "")

    def lineage_policy(self, probe_id: str, parent_of: Callable[[str], str | None]) -> str:
        """The ``lineages`` policy of the nearest listed ancestor-or-self ("" if none)."""
        return lineage_policy(self.lineages, probe_id, parent_of)

    def apply_lineages(
        self,
        probes: Iterable[str],
        parent_of: Callable[[str], str | None],
        previous: Mapping[str, str] | None = None,
    ) -> None:
        """Assign ``probes`` by lineage. A probe follows the current table if it has no
        controller, or if it is still driven by the policy the ``previous`` table (a reload)
        gave it; remote agents, ``policies`` entries and run-time assignments stay."""
        for pid in probes:
            old = lineage_policy(previous, pid, parent_of) if previous else ""
            new = self.lineage_policy(pid, parent_of)
            ctrl = self._by_probe.get(pid)
            if ctrl is not None and not (old and ctrl.kind == "policy" and ctrl.name == old):
                continue
            if new:
                self.assign(pid, self.policy_controller(new))
            elif ctrl is not None:
                self.drop_probe(pid, ctrl)

    def on_death(self, probe_id: str) -> None:
        ctrl = self._by_probe.pop(probe_id, None)
        if ctrl is not None:
            ctrl.probes.discard(probe_id)
            ctrl.probes_version += 1
            ctrl.on_death(probe_id)

    def describe(self) -> dict[str, Any]:
        agents = [c.describe() for c in self.remotes.values()]
        agents += [c.describe() for c in self._policy_controllers.values() if c.probes]
        return {
            "agents": agents,
            "assignments": {pid: self.controller_name(pid) for pid in sorted(self._by_probe)},
            "connected": len(self.remotes),
            "default": self.default.name,
            "fallback": self.fallback.name,
            "newborn": self.newborn or self.default.name,
            "lineages": dict(sorted(self.lineages.items())),
        }
