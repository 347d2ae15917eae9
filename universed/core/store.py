"""Durable state: the SQLite journal, checkpoint retention, named snapshots, replay.

Everything lives in the state directory::

    journal.sqlite3            the journal (SQLite, WAL): entries, checkpoints, snapshots, meta
    checkpoints/ckpt-<tick>-<n>.usim   the sim's save files (the newest ``keep`` are kept)
    snapshots/<tag>.sav        named snapshots (kept until replaced or deleted)

**Write-ahead.** The engine appends a tick's row (its actions) *before* it sends the tick to the
sim, and every append is its own committed transaction. "The last committed tick" is the last
tick whose row committed: after a ``kill -9`` of the daemon at any moment the next start loads a
checkpoint and replays the rows after it, so the universe resumes exactly there, with the state
an uninterrupted run has at that tick (the sim is deterministic; recorded hashes prove it).
Injected events and sim config changes are rows too, in the order they were applied.

**Checkpoints** are the sim's ``save`` files: the sim writes them atomically (temp file, fsync,
rename, fsync of the directory; sim/src/persist_file.c ``persist_save_ex``), and the journal
records ``(tick, path, hash)`` only once the file is durable: after a ``save`` returned, or, for
a background save (the sim copies the state aside and a writer thread writes the file while the
engine keeps ticking), once the sim reports the job done. A background checkpoint's row names
the journal position of the moment it was *taken* (``after_seq``), so the rows appended while it
was being written stay after it and are replayed on top of it. A crash before the row commits
leaves at most an unreferenced file, which `SqliteJournal.sweep_orphans` removes at the next
start. A checkpoint is a *reset* when the engine's view started over there (a fresh universe, a
restore, a fork): no observations are carried across it. Retention keeps the newest ``keep``
checkpoints (>= 2) and deletes the rows before the oldest kept one.

**Resuming** (`SqliteJournal.resume_plan`) picks the base checkpoint: the newest one that is a
reset or has a tick row after it (walking back over checkpoints with no tick after them, e.g.
the final one written at SIGTERM). Replaying at least the last tick re-creates that tick's
observations, so in-process policies see exactly what they would have seen without the
restart: the action stream, and so the universe, continues bit for bit.

**synchronous=NORMAL** (the default; ``full`` is available): in WAL mode a commit is one
``write()`` to the WAL file, durable against any process crash, ``kill -9`` included; only a
power cut or kernel crash can lose the last commits since the previous WAL sync (the database
stays consistent, and resumes at an earlier tick). ``full`` fsyncs the WAL on every commit.
Measured costs are in docs/performance.md ("Durability").
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from .journal import Checkpoint, Entry

__all__ = [
    "JOURNAL_FILE",
    "TAG_RE",
    "CorruptJournal",
    "ReplayResult",
    "SnapshotInfo",
    "SqliteJournal",
    "StoredCheckpoint",
    "replay",
    "replay_journal",
    "valid_tag",
]

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.sqlite3"
CHECKPOINT_DIR = "checkpoints"
SNAPSHOT_DIR = "snapshots"
SCHEMA_VERSION = 1
TAG_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
SYNC_MODES = ("normal", "full")
WAL_AUTOCHECKPOINT_PAGES = 16384  # 64 MiB: a safety net; our checkpoints fold the WAL earlier

Request = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Observe = tuple[list[str] | str, str]  # a tick's (observe, detail)


class CorruptJournal(Exception):
    """The journal database cannot be used (wrong schema version, unreadable, foreign file)."""


def valid_tag(tag: str) -> bool:
    """Snapshot tags are file names: 1..64 of ``A-Z a-z 0-9 _ . -``, not starting with ``.``."""
    return bool(TAG_RE.fullmatch(tag))


@attrs.frozen
class StoredCheckpoint:
    """A checkpoint row: ``after_seq`` is the last journal row included in the state."""

    id: int
    tick: int
    path: Path
    hash: str
    reset: bool
    after_seq: int
    created: float

    def as_checkpoint(self) -> Checkpoint:
        return Checkpoint(self.tick, self.path, self.hash)


@attrs.frozen
class SnapshotInfo:
    tag: str
    tick: int
    path: Path
    hash: str
    bytes: int
    created: float

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "tick": self.tick,
            "created": self.created,
            "bytes": self.bytes,
            "hash": self.hash,
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY, tick INTEGER NOT NULL, kind TEXT NOT NULL, data BLOB NOT NULL,
    observe BLOB);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, tick INTEGER NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL,
    reset INTEGER NOT NULL, after_seq INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    tag TEXT PRIMARY KEY, tick INTEGER NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL,
    bytes INTEGER NOT NULL, created REAL NOT NULL);
"""


class SqliteJournal:
    """The durable `universed.core.journal.Journal` (see the module docstring).

    Args:
        state_dir: the state directory (created if missing).
        keep: checkpoints to keep (at least 2).
        synchronous: ``normal`` or ``full`` (SQLite's ``PRAGMA synchronous``).
        readonly: open an existing journal for reading only (replay, verify).

    Raises:
        CorruptJournal: the file is not a journal of this version.
        ValueError: bad ``keep`` or ``synchronous``.
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        keep: int = 3,
        synchronous: str = "normal",
        readonly: bool = False,
    ) -> None:
        if keep < 2:
            raise ValueError(f"keep must be >= 2 (resuming may need the previous one), got {keep}")
        if synchronous not in SYNC_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNC_MODES)}")
        self.state_dir = Path(state_dir).absolute()
        self.keep = keep
        self.readonly = readonly
        self.path = self.state_dir / JOURNAL_FILE
        self.checkpoint_dir = self.state_dir / CHECKPOINT_DIR
        self.snapshot_dir = self.state_dir / SNAPSHOT_DIR
        if readonly:
            if not self.path.is_file():
                raise CorruptJournal(f"no journal at {self.path}")
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        else:
            for d in (self.state_dir, self.checkpoint_dir, self.snapshot_dir):
                d.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._init(synchronous)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CorruptJournal(f"{self.path}: {exc}") from None
        # sequence numbers only grow: retention can delete every row (e.g. restores with no tick
        # between them), and the checkpoints still name the last row they include
        self._last_seq = max(
            self._scalar("SELECT coalesce(max(seq), 0) FROM entries"),
            self._scalar("SELECT coalesce(max(after_seq), 0) FROM checkpoints"),
        )
        self.appends = 0
        self.append_seconds = 0.0  # total time spent committing rows (metrics)

    def _init(self, synchronous: str) -> None:
        db = self._db
        if not self.readonly:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            # the WAL is folded into the database at our checkpoints (see checkpoint()), not every
            # 1000 pages inside a tick's commit (a 30 ms stall every ~90 ticks at 1,000 actions)
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('created', ?)",
                (str(SCHEMA_VERSION), repr(time.time())),
            )
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = row[0] if row else None
            raise CorruptJournal(
                f"{self.path}: journal schema {found!r}, this universed reads {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def _scalar(self, sql: str, *args: Any) -> int:
        row = self._db.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # ------------------------------------------------------------------ the Journal protocol

    def append(self, entry: Entry) -> None:
        """Commit one row (its own transaction); returns once it is in the WAL."""
        t0 = time.perf_counter()
        data = entry.encoded if entry.encoded is not None else orjson.dumps(entry.data)
        observe = None if entry.observe is None else orjson.dumps(entry.observe)
        # an explicit seq: SQLite would reuse rowids once retention emptied the table, and a
        # row numbered below a checkpoint's after_seq would be lost to every replay after it
        seq = self._last_seq + 1
        self._db.execute(
            "INSERT INTO entries (seq, tick, kind, data, observe) VALUES (?, ?, ?, ?, ?)",
            (seq, entry.tick, entry.kind, data, observe),
        )
        self._last_seq = seq
        self.appends += 1
        self.append_seconds += time.perf_counter() - t0

    def checkpoint(
        self, checkpoint: Checkpoint, *, reset: bool = False, after_seq: int | None = None
    ) -> None:
        """Record a checkpoint (written by the sim already, durable), then apply the retention
        policy. ``after_seq``: the last row included in its state (default: the last row
        appended; a background save passes `last_seq` as of the moment the save was taken).

        A checkpoint that adds nothing (not a reset, and no tick, inject or config row between
        the newest one and it: e.g. a stop right after a start) is not recorded and its file is
        removed, so repeated restarts cannot push the last resumable base out of the retention
        window; nor is one older than the newest (its rows may be gone).
        """
        db = self._db
        after = self._last_seq if after_seq is None else after_seq
        if after > self._last_seq:
            raise ValueError(f"after_seq {after} is beyond the last row {self._last_seq}")
        cps = self.checkpoints()
        if (
            cps
            and not reset
            and (after < cps[-1].after_seq or not self._changes_between(cps[-1].after_seq, after))
        ):
            if checkpoint.path != cps[-1].path:
                with contextlib.suppress(OSError):
                    Path(checkpoint.path).unlink()
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO checkpoints (tick, path, hash, reset, after_seq, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    checkpoint.tick,
                    self._rel(checkpoint.path),
                    checkpoint.hash,
                    int(reset),
                    after,
                    time.time(),
                ),
            )
            doomed = db.execute(
                "SELECT id, path FROM checkpoints ORDER BY id DESC LIMIT -1 OFFSET ?",
                (self.keep,),
            ).fetchall()
            if doomed:
                db.execute("DELETE FROM checkpoints WHERE id <= ?", (doomed[0][0],))
            oldest = db.execute("SELECT min(after_seq) FROM checkpoints").fetchone()[0]
            db.execute("DELETE FROM entries WHERE seq <= ?", (oldest,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        # files go only after the rows that name them are gone
        kept = {c.path for c in self.checkpoints()}
        for _id, text in doomed:
            if self._abs(text) not in kept:
                with contextlib.suppress(OSError):
                    self._abs(text).unlink()

    def _changes_between(self, after: int, upto: int) -> int:
        return self._scalar(
            "SELECT count(*) FROM entries WHERE seq > ? AND seq <= ?"
            " AND kind IN ('tick', 'inject', 'config', 'scenario')",
            after,
            upto,
        )

    def latest(self) -> tuple[Checkpoint | None, list[Entry]]:
        """The newest checkpoint and the rows after it (what a fresh sim child needs)."""
        cps = self.checkpoints()
        if not cps:
            return None, self.entries_after(0)
        newest = cps[-1]
        return newest.as_checkpoint(), self.entries_after(newest.after_seq)

    # ------------------------------------------------------------------ queries

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._db.execute(
            "SELECT id, tick, path, hash, reset, after_seq, created FROM checkpoints ORDER BY id"
        ).fetchall()
        return [
            StoredCheckpoint(r[0], r[1], self._abs(r[2]), r[3], bool(r[4]), r[5], r[6])
            for r in rows
        ]

    def _rel(self, path: Path) -> str:
        """Paths inside the state directory are stored relative to it (it may move)."""
        try:
            return str(Path(path).absolute().relative_to(self.state_dir))
        except ValueError:
            return str(Path(path).absolute())

    def _abs(self, text: str) -> Path:
        path = Path(text)
        return path if path.is_absolute() else self.state_dir / path

    def entries_after(self, seq: int) -> list[Entry]:
        return [e for _s, e in self.iter_entries(seq)]

    def iter_entries(self, after_seq: int = 0) -> Iterator[tuple[int, Entry]]:
        cur = self._db.execute(
            "SELECT seq, tick, kind, data, observe FROM entries WHERE seq > ? ORDER BY seq",
            (after_seq,),
        )
        for seq, tick, kind, data, observe in cur:
            yield (
                seq,
                Entry(
                    kind,
                    tick,
                    orjson.loads(data),
                    None if observe is None else orjson.loads(observe),
                ),
            )

    def count_entries(self, after_seq: int = 0, kind: str | None = None) -> int:
        if kind is None:
            return self._scalar("SELECT count(*) FROM entries WHERE seq > ?", after_seq)
        return self._scalar(
            "SELECT count(*) FROM entries WHERE seq > ? AND kind = ?", after_seq, kind
        )

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def last_tick(self) -> int | None:
        """The last committed tick (None for an empty journal)."""
        row = self._db.execute(
            "SELECT max(t) FROM (SELECT max(tick) AS t FROM entries WHERE kind = 'tick'"
            " UNION ALL SELECT tick FROM checkpoints WHERE id = (SELECT max(id) FROM checkpoints))"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def is_empty(self) -> bool:
        return not self.checkpoints() and self._last_seq == 0

    def resume_plan(self) -> tuple[StoredCheckpoint | None, list[Entry]]:
        """The base checkpoint to resume from and every row after it (module docstring)."""
        cps = self.checkpoints()
        if not cps:
            return None, []
        base = cps[-1]
        for cp in reversed(cps):
            base = cp
            if cp.reset or self._scalar(
                "SELECT count(*) FROM entries WHERE seq > ? AND kind = 'tick'", cp.after_seq
            ):
                break
        return base, self.entries_after(base.after_seq)

    def next_checkpoint_path(self, tick: int) -> Path:
        """A fresh file name (never one that exists: a file left by an interrupted background
        save is not overwritten while something might still name it)."""
        n = self._scalar("SELECT coalesce(max(id), 0) FROM checkpoints") + 1
        while True:
            path = self.checkpoint_dir / f"ckpt-{tick:012d}-{n:06d}.usim"
            if not path.exists():
                return path
            n += 1

    def sweep_orphans(self) -> list[Path]:
        """Delete the files in the checkpoint directory that no row names: the temp files of
        saves that never finished and the files of background saves whose row never committed
        (the daemon or the sim died first). Only call it when no save is in flight (at start)."""
        if self.readonly:
            return []
        kept = {c.path.resolve() for c in self.checkpoints()}
        removed = []
        with contextlib.suppress(OSError):
            for path in sorted(self.checkpoint_dir.iterdir()):
                if path.is_file() and path.resolve() not in kept:
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed.append(path)
        return removed

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ named snapshots

    def snapshot_path(self, tag: str) -> Path:
        if not valid_tag(tag):
            raise ValueError(
                f"bad snapshot tag {tag!r}: 1..64 of A-Z a-z 0-9 _ . - (not starting with .)"
            )
        return self.snapshot_dir / f"{tag}.sav"

    def record_snapshot(self, tag: str, tick: int, hash: str, nbytes: int) -> SnapshotInfo:
        info = SnapshotInfo(tag, tick, self.snapshot_path(tag), hash, nbytes, time.time())
        self._db.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
            (tag, tick, self._rel(info.path), hash, nbytes, info.created),
        )
        return info

    def snapshots(self) -> list[SnapshotInfo]:
        rows = self._db.execute(
            "SELECT tag, tick, path, hash, bytes, created FROM snapshots ORDER BY created, tag"
        ).fetchall()
        infos = [SnapshotInfo(r[0], r[1], self._abs(r[2]), r[3], r[4], r[5]) for r in rows]
        return [i for i in infos if i.path.is_file()]

    def snapshot(self, tag: str) -> SnapshotInfo | None:
        return next((s for s in self.snapshots() if s.tag == tag), None)

    def delete_snapshot(self, tag: str) -> bool:
        info = self.snapshot(tag)
        self._db.execute("DELETE FROM snapshots WHERE tag = ?", (tag,))
        if info is None:
            return False
        with contextlib.suppress(OSError):
            info.path.unlink()
        return True


# ---------------------------------------------------------------------------------- replay


@attrs.define
class ReplayResult:
    """What a replay reached: the final tick and hash, and what it checked on the way."""

    tick: int = 0
    hash: str = ""
    ticks: int = 0
    checked: int = 0  # hashes compared (hash rows, checkpoint hashes)
    mismatches: list[tuple[int, str, str]] = attrs.field(factory=list)  # (tick, want, got)
    last_reply: dict[str, Any] | None = None  # the reply of the last tick (observations)
    refused: int = 0  # inject/config rows the sim refused (it refused them originally too)

    @property
    def ok(self) -> bool:
        return not self.mismatches


async def _apply(
    request: Request, entry: Entry, out: ReplayResult, *, observe: Observe | None = None
) -> None:
    """Re-apply one journal row to the sim and check what it records; ``observe``: this tick's
    (observe, detail), to get its observations back (None: no observations)."""
    from .simproc import SimError

    kind = entry.kind
    if kind == "tick":
        cmd: dict[str, Any] = {"cmd": "tick", "actions": entry.data, "observe": "none"}
        if observe is not None:
            cmd["observe"], cmd["detail"] = observe
        try:
            reply = await request(cmd)
        except SimError:
            out.refused += 1  # the sim refused this tick then too (state unchanged)
            return
        out.tick = int(reply["tick"])
        out.ticks += 1
        if out.tick != entry.tick:
            out.mismatches.append((entry.tick, f"tick {entry.tick}", f"tick {out.tick}"))
        if observe is not None:
            out.last_reply = reply
    elif kind in ("inject", "config", "scenario"):
        if kind == "inject":
            cmd = {"cmd": "inject", "event": entry.data}
        elif kind == "config":
            cmd = {"cmd": "config", "data": entry.data}
        else:
            cmd = {"cmd": "scenario", **entry.data}
        try:
            await request(cmd)
        except SimError:
            out.refused += 1  # refused then too: a refused command changes nothing
    elif kind == "hash":
        await _check_hash(request, entry.tick, str(entry.data["hash"]), out)
    else:
        log.warning("journal row of unknown kind %r at tick %d skipped", kind, entry.tick)


async def _check_hash(request: Request, tick: int, want: str, out: ReplayResult) -> None:
    got = await request({"cmd": "hash"})
    out.checked += 1
    if got["hash"] != want:
        out.mismatches.append((tick, want, str(got["hash"])))


async def _load(request: Request, cp: Checkpoint, out: ReplayResult) -> None:
    # verify: the sim recomputes the state hash while decoding (else it reports the one the
    # file records), so the comparison below checks the state, not only the file's identity
    loaded = await request({"cmd": "load", "path": str(cp.path), "verify": True})
    out.tick = int(loaded["tick"])
    out.checked += 1
    if loaded["hash"] != cp.hash:
        out.mismatches.append((out.tick, cp.hash, str(loaded["hash"])))


async def _finish(request: Request, out: ReplayResult) -> ReplayResult:
    final = await request({"cmd": "hash"})
    out.tick = int(final["tick"])
    out.hash = str(final["hash"])
    return out


async def replay(
    request: Request,
    checkpoint: Checkpoint | None,
    entries: list[Entry],
    *,
    observe_last: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Load ``checkpoint`` into the sim behind ``request`` and re-apply ``entries``.

    Every ``hash`` row is compared with the sim's hash. With ``observe_last`` the last tick is
    replayed observing what it observed originally (its row's ``observe``), so its reply, with
    the same observations, can stand in for the original one (engine resume and recovery).
    ``progress(n)`` is called after each row. Raises `universed.simproc.SimError` if the
    checkpoint cannot be loaded.
    """
    out = ReplayResult()
    if checkpoint is not None:
        await _load(request, checkpoint, out)
    last_tick_index = max((i for i, e in enumerate(entries) if e.kind == "tick"), default=-1)
    for i, entry in enumerate(entries):
        observe = None
        if observe_last and i == last_tick_index:
            recorded = entry.observe
            observe = ("all", "full") if recorded is None else (recorded[0], recorded[1])
        await _apply(request, entry, out, observe=observe)
        if progress is not None:
            progress(1)
    return await _finish(request, out)


async def replay_journal(
    request: Request,
    journal: SqliteJournal,
    *,
    start: StoredCheckpoint | None = None,
    to_tick: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Re-run a state directory's journal from ``start`` (default: the oldest checkpoint).

    Later checkpoints are checked on the way: a regular one's recorded hash must equal the
    replayed state's; at a reset (a restore or fork) the replay loads it, as the daemon did.
    Stops before the first tick after ``to_tick``.

    Raises:
        ValueError: the journal has no checkpoint.
    """
    cps = journal.checkpoints()
    if not cps:
        raise ValueError(f"{journal.path}: no checkpoint to start from")
    base = start if start is not None else cps[0]
    following = [c for c in cps if c.id > base.id]
    out = ReplayResult()
    await _load(request, base.as_checkpoint(), out)

    async def reach(seq: int) -> None:
        while following and following[0].after_seq < seq:
            cp = following.pop(0)
            if cp.reset:
                await _load(request, cp.as_checkpoint(), out)
            else:
                await _check_hash(request, cp.tick, cp.hash, out)

    for seq, entry in journal.iter_entries(base.after_seq):
        if to_tick is not None and entry.kind == "tick" and entry.tick > to_tick:
            break
        await reach(seq)
        await _apply(request, entry, out)
        if progress is not None:
            progress(1)
    else:
        await reach(journal.last_seq + 1)
    return await _finish(request, out)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
