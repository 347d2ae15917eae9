"""The action window: the agents' side of a tick.

A window opens when a tick's observations go out (``expected`` holds the remote probes that got
one) and closes when the next tick's actions go to the sim. `Engine.submit` puts an agent's
action in the open window; in lockstep, the last expected action sets ``all_in``, which lets the
tick run at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import trio

from .messages import encode_observe, observe_wire
from .registry import RemoteController

__all__ = ["ActionWindow", "deliver"]


class ActionWindow:
    """Actions for the coming tick; ``expected`` holds remote probes still to answer."""

    def __init__(self, tick: int, expected: set[str]) -> None:
        self.tick = tick
        self.expected = expected
        self.actions: dict[str, dict[str, Any]] = {}
        self.opened_at = trio.current_time()
        self.all_in = trio.Event()
        self.closed = False  # set once the tick's actions went to the sim
        if not expected:
            self.all_in.set()

    def submit(self, probe_id: str, action: dict[str, Any]) -> None:
        if self.closed:
            return  # too late for this tick; the agent answers the next observation
        self.actions[probe_id] = action
        expected = self.expected
        if probe_id in expected:
            expected.discard(probe_id)
            if not expected:
                self.all_in.set()

    def expect(self, probe_id: str) -> None:
        if probe_id not in self.actions:
            self.expected.add(probe_id)
            self.all_in = trio.Event() if self.all_in.is_set() else self.all_in

    def forget(self, probe_ids: set[str] | list[str]) -> None:
        for pid in probe_ids:
            self.expected.discard(pid)
        if not self.expected:
            self.all_in.set()


def deliver(
    tick: int,
    remotes: Iterable[RemoteController],
    obs_by_id: dict[str, dict[str, Any]],
    refs: dict[str, dict[str, Any]],
    destroyed: list[str],
    raw: dict[str, bytes] | None = None,
) -> ActionWindow:
    """Hand a tick's observations to the remote controllers (in each one's shape; a probe the
    sim gave no overlay, e.g. at compact detail, goes as it is); return the next window, which
    expects an action for each live probe delivered.

    Each probe's observation is encoded once per tick and shape, shared by every connection that
    sends it (`RemoteController.deliver_wire`): the readable one straight from the sim's bytes
    when ``raw`` has them (`messages.split_observations`: pass-through, no re-encoding), else
    (and for the reference shape) by orjson from the parsed object.
    """
    expected: set[str] = set()
    dead = set(destroyed)
    readable: dict[str, bytes] = {}
    reference: dict[str, bytes] = {}
    raw = raw or {}
    for ctrl in list(remotes):
        pids = [pid for pid in ctrl.probes if pid in obs_by_id]
        if not pids:
            continue
        as_ref = bool(refs) and ctrl.shape == "reference"
        batch = []
        wires = []
        for pid in pids:
            ref = refs.get(pid) if as_ref else None
            if ref is not None:
                batch.append(ref)
                wire = reference.get(pid)
                if wire is None:
                    reference[pid] = wire = encode_observe(ref, tick)
            else:
                obs = obs_by_id[pid]
                batch.append(obs)
                wire = readable.get(pid)
                if wire is None:
                    piece = raw.get(pid)
                    wire = observe_wire(piece, tick) if piece else encode_observe(obs, tick)
                    readable[pid] = wire
            wires.append(wire)
            if pid not in dead:
                expected.add(pid)
        ctrl.deliver_wire(tick, batch, wires)
    return ActionWindow(tick, expected)
