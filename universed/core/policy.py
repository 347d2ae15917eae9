"""The public interface of an in-process policy: what decides a probe's action each tick.

A policy is any object with a ``name`` and a synchronous ``decide(observation) -> action``::

    class Miner:
        name = "miner"

        def decide(self, observation: Observation) -> Action:
            if observation["hull"] < 0.5:
                return {"action": "repair"}
            return {"action": "mine", "resource": "iron"}

``observation`` is the observation of one probe exactly as an agent receives it
(docs/agent-protocol.md: ``probe_id``, ``tick``, ``hull``, ``location``...). The result is an
action object as an agent would send it: ``{"action": "survey"}`` (``"type"`` is accepted for
the name too), or just the action name as a string. Anything else, or an exception, is logged
with the policy's name and that probe waits this tick; the daemon carries on.

Optional hooks: ``on_birth(probe_id, parent_id)`` when a probe this policy controls is born (it
inherited the parent's policy), ``on_death(probe_id)`` when one it controls is destroyed.

One policy object serves every probe assigned to it: keep per-probe state keyed by
``observation["probe_id"]``. ``decide`` runs inside the tick loop: it must be quick and must
not block (no network calls: write a remote agent for that).

Policies are made available through the ``universed_policies`` hook (see hookspecs.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Action", "Observation", "Policy"]

#: One probe's observation (the sim's fields plus ``tick``).
Observation = Mapping[str, Any]
#: An action object (``{"action": "mine", "resource": "iron"}``) or a bare action name.
Action = Mapping[str, Any] | str


@runtime_checkable
class Policy(Protocol):
    """Decides actions for the probes assigned to it. See the module docstring."""

    name: str

    def decide(self, observation: Observation) -> Action:
        """Return this tick's action for ``observation["probe_id"]``."""
        ...
