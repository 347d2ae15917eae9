"""The built-in policies, registered through the same ``universed_policies`` hook as plugins.

- ``wait``: every probe waits (what agent-protocol.md gives a probe whose agent is absent).
- ``fallback``: repair when the hull is damaged (below ``REPAIR_BELOW``), else wait.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.policy import Action, Observation, Policy
from .hookspecs import hookimpl

#: Hull level under which ``fallback`` repairs.
REPAIR_BELOW = 0.999


class WaitPolicy:
    name = "wait"
    detail = "compact"

    def decide(self, observation: Observation) -> Action:
        return {"action": "wait"}


class FallbackPolicy:
    name = "fallback"
    detail = "compact"

    def decide(self, observation: Observation) -> Action:
        hull = observation.get("hull")
        if isinstance(hull, int | float) and hull < REPAIR_BELOW:
            cargo = observation.get("cargo") or {}
            if not isinstance(cargo, Mapping) or cargo.get("iron", 1.0) > 0.0:
                return {"action": "repair"}
        return {"action": "wait"}


@hookimpl
def universed_policies() -> Mapping[str, Policy]:
    return {"wait": WaitPolicy(), "fallback": FallbackPolicy()}
