"""universed-policy-greedy-miner: the seed's greedy miner, as an in-process policy.

Each probe goes to a body (the first of its system, then the next one when a body runs dry),
surveys it, lands (or stays in orbit of a belt or giant), and mines whatever resource the survey
shows most abundant there, for as long as it can; it repairs when the hull drops below
``repair_below`` and it carries iron. It never replicates or travels: a baseline to compare
smarter policies against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from universed.plugins import hookimpl
from universed.policy import Policy

__all__ = ["GreedyMinerPolicy", "universed_policies"]

GIANTS = frozenset({"gas_giant", "ice_giant"})
UNLANDABLE = GIANTS | {"asteroid_belt"}
DRY = frozenset(
    {
        "deposit exhausted",
        "resource absent on this body",
        "cannot mine this resource here",
        "target not found in the current system",
    }
)


def body_id(system_id: str, index: int) -> str:
    hi, lo = system_id.split("-")
    return f"{hi}-{(int(lo) & ~0xFFFF) | (index + 1)}"


class GreedyMinerPolicy:
    """See the module docstring.

    Args:
        repair_below: hull level under which the probe repairs (if it has 10 kg of iron).
    """

    name = "greedy-miner"

    def __init__(self, repair_below: float = 0.5) -> None:
        self.repair_below = repair_below
        self.body: dict[str, int] = {}  # probe -> index of the body it works
        self.dry: dict[str, set[str]] = {}  # probe -> resources that ran dry at its body

    def on_death(self, probe_id: str) -> None:
        self.body.pop(probe_id, None)
        self.dry.pop(probe_id, None)

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        obs = observation
        pid = str(obs["probe_id"])
        if obs.get("activity") or obs.get("status") in ("destroyed", "dormant"):
            return {"action": "wait"}
        system = obs.get("system")
        if not isinstance(system, str):
            return {"action": "wait"}
        cargo = obs.get("cargo") or {}
        if float(obs.get("hull", 1.0)) < self.repair_below and cargo.get("iron", 0.0) >= 10:
            return {"action": "repair"}
        last = obs.get("last_action") or {}
        target = self.body.setdefault(pid, 0)
        if not last.get("ok", True) and last.get("reason") in DRY:
            if last.get("action") == "navigate_to_body":
                self.body[pid] = target = 0  # past the last body: start over
            elif last.get("action") == "mine":
                dry = self.dry.setdefault(pid, set())
                dry.add(str(self._richest(obs, dry)))
        body = obs.get("body")
        here = (int(body.rsplit("-", 1)[1]) & 0xFFFF) - 1 if isinstance(body, str) else None
        survey = obs.get("survey") or {}
        level = int(survey.get("level", 0) or 0)
        resource = self._richest(obs, self.dry.get(pid, set()))
        if here is not None and level >= 1 and resource is None:
            self.body[pid] = target = here + 1  # this body is spent for us: try the next
            self.dry[pid] = set()
        if here != target:
            if obs.get("location") == "landed":
                return {"action": "launch"}
            return {"action": "navigate_to_body", "target_body": body_id(system, target)}
        location = obs.get("location")
        body_type = obs.get("body_type")
        if level < 1:
            return {"action": "survey"}
        if location == "in_system":
            return {"action": "enter_orbit"}
        if location == "orbiting" and body_type not in UNLANDABLE:
            return {"action": "land"}
        if resource is None:
            return {"action": "wait"}
        return {"action": "mine", "resource": resource}

    @staticmethod
    def _richest(obs: Mapping[str, Any], dry: set[str]) -> str | None:
        survey = obs.get("survey") or {}
        resources = survey.get("resources") or {}
        body_type = obs.get("body_type")
        best, best_a = None, 0.0
        for res, a in resources.items():
            if res in dry or (body_type in GIANTS and res not in ("hydrogen", "helium3")):
                continue
            if float(a) > best_a:
                best, best_a = res, float(a)
        return best


@hookimpl
def universed_policies() -> Mapping[str, Policy]:
    return {"greedy-miner": GreedyMinerPolicy()}
