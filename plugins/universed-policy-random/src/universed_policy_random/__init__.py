"""universed-policy-random: the seed's random agent, as an in-process policy.

Every tick each probe takes a random action among those that make sense for an agent (wait,
survey, mine a random resource, repair, enter_orbit, land, launch, scan, navigate to a random
body of its system). The draw is a hash of ``(seed, probe id, tick)``, never a shared generator,
so the same observations give the same actions in-process, remotely, or in a replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from universed.plugins import hookimpl
from universed.policy import Policy

__all__ = ["RandomPolicy", "universed_policies"]

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
SIMPLE = ("wait", "survey", "repair", "enter_orbit", "land", "launch", "scan")


class RandomPolicy:
    """Random actions, reproducible from ``(seed, probe id, tick)``.

    Args:
        seed: mixes into every draw (two policies with different seeds play differently).
        max_bodies: navigation picks a body index below this.
    """

    name = "random"

    def __init__(self, seed: int = 0, max_bodies: int = 12) -> None:
        self.seed = seed
        self.max_bodies = max_bodies

    def draw(self, probe_id: str, tick: int, salt: str = "") -> int:
        key = f"{self.seed}:{probe_id}:{tick}:{salt}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        pid = str(observation["probe_id"])
        tick = int(observation.get("tick") or 0)
        choice = self.draw(pid, tick) % (len(SIMPLE) + 2)
        if choice < len(SIMPLE):
            return {"action": SIMPLE[choice]}
        if choice == len(SIMPLE):
            resource = RESOURCES[self.draw(pid, tick, "resource") % len(RESOURCES)]
            return {"action": "mine", "resource": resource}
        system = observation.get("system")
        if not isinstance(system, str) or "-" not in system:
            return {"action": "survey"}
        hi, lo = system.split("-")
        index = self.draw(pid, tick, "body") % self.max_bodies
        return {
            "action": "navigate_to_body",
            "target_body": f"{hi}-{(int(lo) & ~0xFFFF) | (index + 1)}",
        }


@hookimpl
def universed_policies() -> Mapping[str, Policy]:
    return {"random": RandomPolicy()}
