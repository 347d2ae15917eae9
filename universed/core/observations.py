"""A tick's observations by probe id, parsed only when something reads them.

The engine's ``tick`` reply is split (`messages.split_tick_reply`): the daemon parses what it
must read itself (born, destroyed, rejected, events, mined) and keeps each observation as the
bytes the sim wrote. `Observations` maps probe id -> observation like a dict, parsing a probe's
bytes on first access (an in-process policy deciding, a REST read, a delta connection, the
dashboard's sample); `Observations.wire` frames the ``observe`` message of a probe straight from
its bytes (pass-through), once per tick, for every connection that sends it.

A host with 1,000 WebSocket agents and a ``wait`` fallback parses none of the 1,000
observations; one with in-process policies parses exactly those they decide for.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import orjson

from .messages import Piece, encode_observe, observe_wire, probe_id_of

__all__ = ["Observations"]


class Observations(MutableMapping[str, dict[str, Any]]):
    """Probe id -> observation (with ``tick``) of one tick; in the sim's probe order."""

    __slots__ = ("_parsed", "_raw", "_wires", "tick")

    def __init__(self, tick: int) -> None:
        self.tick = tick
        # every probe of the tick: its bytes as the sim wrote them (a view of the reply line),
        # or None (parsed only)
        self._raw: dict[str, Piece | None] = {}
        self._parsed: dict[str, dict[str, Any]] = {}
        self._wires: dict[str, bytes] = {}

    @classmethod
    def from_pieces(cls, tick: int, pieces: Sequence[Piece]) -> Observations:
        """From the slices of a split reply (`messages.split_tick_reply`)."""
        out = cls(tick)
        raw = out._raw
        for piece in pieces:
            raw[probe_id_of(piece)] = piece
        return out

    def add_parsed(self, obs: dict[str, Any]) -> None:
        """An observation already parsed (``tick`` set); its ``observe`` message is encoded
        from the object."""
        pid = obs["probe_id"]
        self._raw[pid] = None
        self._parsed[pid] = obs
        self._wires.pop(pid, None)

    def raw(self, probe_id: str) -> Piece | None:
        """The probe's observation as the sim wrote it (without ``tick``), if the tick's reply
        was split and it came without the reference overlay."""
        return self._raw.get(probe_id)

    def wire(self, probe_id: str) -> bytes:
        """The probe's single-probe ``observe`` message (readable shape), encoded once a tick:
        the sim's bytes with ``tick`` added, or (parsed only) orjson of the object. The same
        JSON value either way (tests/test_passthrough.py)."""
        wire = self._wires.get(probe_id)
        if wire is None:
            piece = self._raw.get(probe_id)
            if piece is not None:
                wire = observe_wire(piece, self.tick)
            else:
                wire = encode_observe(self[probe_id], self.tick)
            self._wires[probe_id] = wire
        return wire

    def discard(self, probe_id: str) -> None:
        """Remove the probe if present, without parsing it (``pop`` would)."""
        if probe_id in self._raw:
            del self[probe_id]

    def parsed_count(self) -> int:
        """How many observations were parsed so far (the benchmarks and tests read it)."""
        return len(self._parsed)

    # ---------------------------------------------------------------- the mapping

    def __getitem__(self, probe_id: str) -> dict[str, Any]:
        obs = self._parsed.get(probe_id)
        if obs is None:
            piece = self._raw[probe_id]  # KeyError: not observed this tick
            assert piece is not None
            obs = orjson.loads(piece)
            obs["tick"] = self.tick
            self._parsed[probe_id] = obs
        return obs

    def __setitem__(self, probe_id: str, obs: dict[str, Any]) -> None:
        self._raw[probe_id] = None
        self._parsed[probe_id] = obs
        self._wires.pop(probe_id, None)

    def __delitem__(self, probe_id: str) -> None:
        del self._raw[probe_id]
        self._parsed.pop(probe_id, None)
        self._wires.pop(probe_id, None)

    def __contains__(self, probe_id: object) -> bool:
        return probe_id in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"<Observations tick {self.tick}: {len(self._raw)} ({len(self._parsed)} parsed)>"
