"""The action window: the agents' side of a tick.

A window opens when a tick's observations go out (``expected`` holds the remote probes that got
one) and closes when the next tick's actions go to the sim. `Engine.submit` puts an agent's
action in the open window; in lockstep, the last expected action sets ``all_in``, which lets the
tick run at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, overload

import trio

from .messages import encode_observe, observe_tail
from .observations import Observations
from .registry import RemoteController

__all__ = ["ActionWindow", "deliver"]


class ActionWindow:
    """Actions for the coming tick; ``expected`` holds remote probes still to answer, and
    ``groups`` the delta fleets still to answer, each with the probes its group listed: a
    fleet of 10,000 probes owes one batch, not 10,000 set entries put in and taken out again
    (`submit_many`). A fleet that answers otherwise (in part, probe by probe, or leaves) owes
    its probes one by one from then on (`_spread`)."""

    def __init__(
        self,
        tick: int,
        expected: set[str],
        groups: dict[object, list[str]] | None = None,
        dead: AbstractSet[str] = frozenset(),
    ) -> None:
        self.tick = tick
        self.expected = expected
        self.groups: dict[object, list[str]] = groups if groups is not None else {}
        self.dead = dead  # destroyed at the tick delivered: owe nothing
        self.actions: dict[str, Mapping[str, Any]] = {}
        self.opened_at = trio.current_time()
        self.all_in = trio.Event()
        self.closed = False  # set once the tick's actions went to the sim
        if not expected and not self.groups:
            self.all_in.set()

    def submit(self, probe_id: str, action: Mapping[str, Any], owner: object = None) -> None:
        """``owner``: who sent it (a fleet with a group pending owes its probes one by one)."""
        if self.closed:
            return  # too late for this tick; the agent answers the next observation
        if owner is not None and owner in self.groups:
            self._spread(owner)
        self.actions[probe_id] = action
        expected = self.expected
        if probe_id in expected:
            expected.discard(probe_id)
            if not expected and not self.groups:
                self.all_in.set()

    def submit_many(self, actions: Mapping[str, Mapping[str, Any]], owner: object = None) -> None:
        """`submit` for a batch (a fleet's ``actions``); ``owner``: the fleet."""
        if self.closed or not actions:
            return
        self.actions.update(actions)
        listed = self.groups.pop(owner, None) if owner is not None else None
        if listed is not None and not all(map(actions.__contains__, listed)):
            self._owe(listed)  # in part: the rest probe by probe
        expected = self.expected
        if expected:
            expected.difference_update(actions)
        if not expected and not self.groups:
            self.all_in.set()

    def _spread(self, owner: object) -> None:
        """``owner``'s group: owed probe by probe from now on."""
        self._owe(self.groups.pop(owner))

    def _owe(self, listed: list[str]) -> None:
        actions, dead = self.actions, self.dead
        self.expected.update(pid for pid in listed if pid not in actions and pid not in dead)

    def expect(self, probe_id: str) -> None:
        if probe_id not in self.actions:
            self.expected.add(probe_id)
            self.all_in = trio.Event() if self.all_in.is_set() else self.all_in

    def forget(self, probe_ids: set[str] | list[str]) -> None:
        for owner in list(self.groups):  # an agent left (rare): every fleet owes one by one
            self._spread(owner)
        for pid in probe_ids:
            self.expected.discard(pid)
        if not self.expected:
            self.all_in.set()


class _Batch(Sequence[Mapping[str, Any]]):
    """A connection's observations of the tick, parsed only if read (a delta connection
    diffs them; one sent the bytes as they are never reads them)."""

    __slots__ = ("_get", "_pids")

    def __init__(self, pids: list[str], get: Callable[[str], Mapping[str, Any]]) -> None:
        self._pids = pids
        self._get = get

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        if isinstance(index, slice):
            return [self._get(pid) for pid in self._pids[index]]
        return self._get(self._pids[index])

    def __len__(self) -> int:
        return len(self._pids)


def deliver(
    tick: int,
    remotes: Iterable[RemoteController],
    observed: Observations,
    refs: dict[str, dict[str, Any]],
    destroyed: list[str],
    delta: Sequence[tuple[RemoteController, list[str]]] = (),
    groups: Sequence[bytes] | None = None,
) -> ActionWindow:
    """Hand a tick's observations to the remote controllers (in each one's shape; a probe the
    sim gave no overlay, e.g. at compact detail, goes as it is); return the next window, which
    expects an action for each live probe delivered.

    Each probe's observation is encoded once per tick and shape, shared by every connection that
    sends it (`RemoteController.deliver_wire`): the readable one straight from the sim's bytes
    (`Observations.wire`: pass-through, no parsing, no re-encoding) unless it was parsed for
    the overlay, the reference one by orjson from the merged object. The usual agent, one
    probe, plain (`RemoteController.plain`), is handed its probe's bytes as the sim wrote them
    and the message's tail (`deliver_piece`): not even joined, the transport gathers them.

    The controllers in ``delta`` (the sim computes their delta observations; each with the
    probes its group listed) get their delta group of the tick (``groups``, the same order)
    instead; without groups (a tick completed by a recovery) they get nothing this tick and ask
    for whole ones at the next.
    """
    expected: set[str] = set()
    owed: dict[object, list[str]] = {}  # the delta fleets' groups (`ActionWindow.groups`)
    dead = set(destroyed)
    reference: dict[str, bytes] = {}
    tail = observe_tail(tick)
    piece_of = observed.raw
    if delta:
        if groups is not None and len(groups) == len(delta):
            for (ctrl, listed), group in zip(delta, groups, strict=True):
                ctrl.deliver_group(tick, group, ctrl.whole_next)
                ctrl.whole_next = False
                owed[ctrl] = listed  # owed as one batch (not a newborn it did not list)
        else:
            for ctrl, _ in delta:
                ctrl.whole_next = True
    for ctrl in list(remotes):
        if ctrl.engine_delta:
            continue
        if ctrl.plain and len(ctrl.probes) == 1 and not (refs and ctrl.shape == "reference"):
            # the usual agent: one probe, its observation sent as the sim wrote it
            (pid,) = ctrl.probes
            piece = piece_of(pid)
            if piece is not None:
                ctrl.deliver_piece(piece, tail)
                expected.add(pid)
                continue
        pids = [pid for pid in ctrl.probes if pid in observed]
        if not pids:
            continue
        if refs and ctrl.shape == "reference":
            wires = []
            for pid in pids:
                ref = refs.get(pid)
                if ref is None:
                    wires.append(observed.wire(pid))
                    continue
                wire = reference.get(pid)
                if wire is None:
                    reference[pid] = wire = encode_observe(ref, tick)
                wires.append(wire)

            def get(pid: str) -> Mapping[str, Any]:
                return refs.get(pid) or observed[pid]

            batch = _Batch(pids, get)
        else:
            wire_of = observed.wire
            wires = [wire_of(pid) for pid in pids]
            batch = _Batch(pids, observed.__getitem__)
        expected.update(pids)
        ctrl.deliver_wire(tick, batch, wires)
    expected -= dead
    return ActionWindow(tick, expected, owed, dead)
