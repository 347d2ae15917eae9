"""The probe index: every live probe's parent, as the engine knows it between sim requests.

Read whole from the sim at a start, a restore or a load (`ProbeIndex.load`), then kept by each
tick: its newborns are added (`ProbeIndex.index_births`), its destroyed probes removed. The
registry's lineage rules read it (``parents.get``), and so does the gateway (`children_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .simproc import SimSupervisor

__all__ = ["ProbeIndex"]


class ProbeIndex:
    """Live probe -> parent (in id order), probes ever created, live probes after the last tick."""

    def __init__(self, sim: SimSupervisor) -> None:
        self._sim = sim
        self.parents: dict[str, str | None] = {}  # live probe -> parent (id order)
        self.total_created = 0  # probes ever created, destroyed included
        self.count = 0  # live probes as of the last tick (the tick loop updates it at its end)

    async def load(self) -> int:
        """Read every live probe's parent from the sim (start, restore, load); return its tick."""
        status = await self._sim.request({"cmd": "status"})
        self.parents = {
            row["id"]: row.get("parent_id")
            for row in status.get("probes") or ()
            if row.get("status") != "destroyed"
        }
        self.total_created = int(status.get("total", len(self.parents)))
        self.count = len(self.parents)
        return int(status["tick"])

    async def index_births(
        self, born: list[str], observed: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Learn the parents of this tick's newborns.

        Observed newborns carry ``parent_id``; for the others one ``status`` page is read: the
        sim issues probe ids in order, so this tick's newborns are the last rows of its list.
        """
        first = self.total_created
        self.total_created += len(born)
        missing = []
        for pid in born:
            obs = observed.get(pid)
            if obs is not None:
                self.parents[pid] = obs.get("parent_id")
            else:
                missing.append(pid)
        if missing:
            reply = await self._sim.request({"cmd": "status", "offset": first, "limit": len(born)})
            rows = {row["id"]: row.get("parent_id") for row in reply.get("probes") or ()}
            for pid in missing:
                self.parents[pid] = rows.get(pid)

    def children_of(self) -> dict[str, list[str]]:
        """Live probe -> its live children (for lineage registration)."""
        children: dict[str, list[str]] = {}
        for pid, parent in self.parents.items():
            if parent:
                children.setdefault(parent, []).append(pid)
        return children
