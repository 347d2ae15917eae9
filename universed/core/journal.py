"""The seam for durability: checkpoints plus a log of what happened since the latest one.

The engine records every state-changing input (tick actions, injected events, config changes)
and, every ``verify_every`` ticks, the state hash. Every ``checkpoint_every`` ticks (and after a
restore) it asks the sim to ``save`` a checkpoint file and starts a new log; a background save is
recorded once the sim reports the file durable, with the log position of the moment it was taken
(``after_seq``: the rows appended since stay in the log). After a sim crash it loads the latest
checkpoint, replays the log and checks the hashes: the restart is lossless.

`MemoryJournal` keeps the log in memory (lossless across sim crashes, not daemon restarts);
`universed.core.store.SqliteJournal` is the durable implementation the daemon uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import attrs

__all__ = ["Checkpoint", "Entry", "Journal", "MemoryJournal"]


@attrs.frozen
class Checkpoint:
    tick: int
    path: Path
    hash: str


@attrs.frozen
class Entry:
    """One logged input. ``kind``: ``tick`` (data = actions), ``inject`` (data = event),
    ``config`` (data = config keys), ``hash`` (data = {"hash": ...}, a verification mark)."""

    kind: str
    tick: int
    data: Any
    observe: Any = None  # tick rows: the tick's [observe, detail], to get its observations back
    #: ``data`` as orjson encodes it, if the caller has it already (the engine encodes a tick's
    #: actions once, for the sim's request and the journal's row); not part of the entry's value
    encoded: bytes | None = attrs.field(default=None, eq=False, repr=False)


class Journal(Protocol):
    def checkpoint(
        self, checkpoint: Checkpoint, *, reset: bool = False, after_seq: int | None = None
    ) -> None:
        """A new checkpoint is the base; entries before it are no longer needed. ``reset``:
        the engine's view starts over there (a fresh start, a restore, a fork). ``after_seq``:
        the last entry its state includes (default: the last appended)."""

    def append(self, entry: Entry) -> None:
        """Record an input applied after the latest checkpoint."""

    @property
    def last_seq(self) -> int:
        """The sequence number of the last entry appended (0 before any)."""
        ...

    def latest(self) -> tuple[Checkpoint | None, list[Entry]]:
        """The latest checkpoint and every entry after it, in order."""
        ...


class MemoryJournal:
    """In-memory `Journal`; keeps the two newest checkpoint files on disk, deletes older ones."""

    def __init__(self, keep_files: int = 2) -> None:
        self._checkpoint: Checkpoint | None = None
        self._entries: list[tuple[int, Entry]] = []
        self._seq = 0
        self._files: list[Path] = []
        self._keep = keep_files

    def checkpoint(
        self, checkpoint: Checkpoint, *, reset: bool = False, after_seq: int | None = None
    ) -> None:
        after = self._seq if after_seq is None else after_seq
        self._checkpoint = checkpoint
        self._entries = [(s, e) for s, e in self._entries if s > after]
        if checkpoint.path not in self._files:
            self._files.append(checkpoint.path)
        while len(self._files) > self._keep:
            old = self._files.pop(0)
            old.unlink(missing_ok=True)

    def append(self, entry: Entry) -> None:
        self._seq += 1
        self._entries.append((self._seq, entry))

    @property
    def last_seq(self) -> int:
        return self._seq

    def latest(self) -> tuple[Checkpoint | None, list[Entry]]:
        return self._checkpoint, [e for _s, e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)
