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
rename, fsync of the directory; sim/src/persist_file.c ``persist_save``), and the journal records
``(tick, path, hash)`` only after the save returned. A checkpoint is a *reset* when the engine's
view started over there (a fresh universe, a restore, a fork): no observations are carried
across it. Retention keeps the newest ``keep`` checkpoints (>= 2) and deletes the rows before the
oldest kept one.

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
    """The durable `universed.journal.Journal` (see the module docstring).

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
        self._last_seq = self._scalar("SELECT coalesce(max(seq), 0) FROM entries")
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
        data = orjson.dumps(entry.data)
        observe = None if entry.observe is None else orjson.dumps(entry.observe)
        cur = self._db.execute(
            "INSERT INTO entries (tick, kind, data, observe) VALUES (?, ?, ?, ?)",
            (entry.tick, entry.kind, data, observe),
        )
        self._last_seq = int(cur.lastrowid or self._last_seq + 1)
        self.appends += 1
        self.append_seconds += time.perf_counter() - t0

    def checkpoint(self, checkpoint: Checkpoint, *, reset: bool = False) -> None:
        """Record a checkpoint (written by the sim already), then apply the retention policy.

        A checkpoint that adds nothing (not a reset, and no tick, inject or config row since the
        newest one: e.g. a stop right after a start) is not recorded and its file is removed, so
        repeated restarts cannot push the last resumable base out of the retention window.
        """
        db = self._db
        cps = self.checkpoints()
        if cps and not reset and not self._changes_after(cps[-1].after_seq):
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
                    self._last_seq,
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

    def _changes_after(self, seq: int) -> int:
        return self._scalar(
            "SELECT count(*) FROM entries WHERE seq > ?"
            " AND kind IN ('tick', 'inject', 'config', 'scenario')",
            seq,
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
        n = self._scalar("SELECT coalesce(max(id), 0) FROM checkpoints") + 1
        return self.checkpoint_dir / f"ckpt-{tick:012d}-{n:06d}.usim"

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
    loaded = await request({"cmd": "load", "path": str(cp.path)})
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


# ---------------------------------------------------------------------------------- crash soak
# Real daemons in subprocesses, killed at random moments; the test (tests/test_crash.py) and
# `python -m universed.store --crash-soak N` (for `make soak`) share this harness.

CRASH_CONFIG = """\
default_policy = "{policy}"
checkpoint_every = {checkpoint_every}
verify_every = 10
agent_timeout_ms = 2000
log_level = "info"
"""


class DaemonProcess:
    """``universed serve`` on a state directory, in a subprocess (for crash tests).

    Starts paused (``--mode paused``), so the state right after a start is the resumed one.
    """

    def __init__(self, state_dir: Path, config: Path, log_path: Path, token: str) -> None:
        self.state_dir = state_dir
        self.config = config
        self.log_path = log_path
        self.token = token
        self.proc: Any = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait until it serves; returns the seconds that took."""
        import subprocess
        import sys

        t0 = time.monotonic()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ, UNIVERSED_ADMIN_TOKEN=self.token)
        env.pop("UNIVERSED_CONFIG", None)
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "universed.cli", "serve", "--config", str(self.config),
                 "--state-dir", str(self.state_dir), "--port", "0", "--mode", "paused"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file, env=env,
            )  # fmt: skip
        pattern = re.compile(rb"universed serving on http://[^:]+:(\d+)")
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the daemon exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                found = pattern.search(fh.read())
            if found:
                self.port = int(found.group(1))
                break
            if time.monotonic() - t0 > timeout:
                self.kill()
                raise RuntimeError(f"the daemon did not start in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.01)
        self.get("/api/status?limit=0")
        return time.monotonic() - t0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, *, wait: float = 30.0) -> Any:
        """One REST call; a 503 (the sim is restarting) is retried for up to ``wait`` s."""
        import urllib.error
        import urllib.request

        data = orjson.dumps(body) if body is not None else None
        deadline = time.monotonic() + wait
        while True:
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return orjson.loads(resp.read())
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code != 503 or time.monotonic() > deadline:
                    raise
            time.sleep(0.005)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def state(self) -> tuple[int, str]:
        st = self.get("/api/state")
        return int(st["tick"]), str(st["hash"])

    def sim_pid(self) -> int:
        return int(self.get("/api/status?limit=0")["sim"]["pid"])

    def kill(self) -> None:
        """SIGKILL the daemon; wait until its sim child (it exits on EOF) is gone too."""
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return
        sim_pid = None
        with contextlib.suppress(Exception):
            sim_pid = self.sim_pid()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if sim_pid is not None:
            _wait_gone(sim_pid)

    def stop(self) -> int:
        """SIGTERM (final checkpoint, clean exit); returns the exit status."""
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return int(self.proc.returncode) if self.proc is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return int(self.proc.wait(timeout=30))
        except Exception:
            self.proc.kill()
            self.proc.wait()
            raise


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(OSError):  # a zombie of someone else counts as gone
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                return
        time.sleep(0.01)
    raise RuntimeError(f"process {pid} did not exit")


@attrs.define
class CrashReport:
    rounds: list[dict[str, Any]] = attrs.field(factory=list)
    recovery_seconds: list[float] = attrs.field(factory=list)  # daemon kill -> serving again

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rounds if not r["ok"]]


def crash_soak(
    workdir: Path,
    *,
    sim_kills: int,
    daemon_kills: int,
    seed: int = 1,
    run_seconds: tuple[float, float] = (0.02, 0.25),
    policy: str = "random",
    checkpoint_every: int = 25,
    say: Callable[[str], None] | None = None,
) -> CrashReport:
    """Kill the sim ``sim_kills`` times and the daemon ``daemon_kills`` times, at random.

    A daemon under test runs in lockstep mode (an in-process policy decides every action, so
    the action stream is a function of the state); between kills it runs ``run_seconds`` (drawn
    from a seeded RNG). After each kill it is paused and its ``(tick, hash)`` compared with a
    reference daemon that is never killed, advanced by hand to the same tick. Every few rounds
    the same event is injected into both (journaled injects). Kinds alternate in random order.
    """
    import random

    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "crash.toml"
    config.write_text(CRASH_CONFIG.format(policy=policy, checkpoint_every=checkpoint_every))
    token = "crash-soak-admin-token-0123456789abcdef"
    ref = DaemonProcess(workdir / "ref", config, workdir / "ref.log", token)
    sut = DaemonProcess(workdir / "sut", config, workdir / "sut.log", token)
    kinds = ["sim"] * sim_kills + ["daemon"] * daemon_kills
    rng.shuffle(kinds)
    report = CrashReport()
    ref.start()
    sut.start()
    ref_tick = 0
    try:
        for i, kind in enumerate(kinds):
            sut.request("POST", "/api/mode", {"mode": "lockstep"})
            time.sleep(rng.uniform(*run_seconds))
            if kind == "sim":
                restarts = sut.get("/api/status?limit=0")["sim"]["restarts"]
                os.kill(sut.sim_pid(), 9)
                deadline = time.monotonic() + 30
                while sut.get("/api/status?limit=0")["sim"]["restarts"] == restarts:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the sim was not restarted:\n" + sut.log_tail())
                    time.sleep(0.005)
                sut.request("POST", "/api/pause")
                seen = 0
            else:
                seen = int(sut.get("/api/status?limit=0")["tick"])
                t0 = time.monotonic()
                sut.kill()
                sut.start()
                report.recovery_seconds.append(time.monotonic() - t0)
            tick, got = sut.state()
            if tick < ref_tick:
                raise RuntimeError(f"round {i}: resumed at tick {tick}, before tick {ref_tick}")
            if tick > ref_tick:
                ref.request("POST", "/api/tick?shape=readable", {"count": tick - ref_tick})
            ref_tick, want = ref.state()
            ok = ref_tick == tick and got == want and tick >= seen
            report.rounds.append(
                {"round": i, "kind": kind, "tick": tick, "seen": seen, "hash": got,
                 "expected": want, "ok": ok}
            )  # fmt: skip
            if say is not None:
                say(f"round {i + 1}/{len(kinds)}: killed the {kind}, resumed at tick {tick}: "
                    + ("same hash" if ok else f"MISMATCH {got} != {want}"))  # fmt: skip
            if i % 4 == 3:  # the same event into both, at the same tick
                event = {"event": {"type": "hazard", "subtype": i % 4, "severity": 0.3}}
                sut.request("POST", "/api/inject", event)
                ref.request("POST", "/api/inject", event)
    finally:
        sut.kill()
        ref.kill()
    return report


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(
        prog="python -m universed.store",
        description="Crash soak: SIGKILL the sim and the daemon at random moments and compare "
        "the resumed state hash with an uninterrupted run.",
    )
    parser.add_argument("--crash-soak", type=int, metavar="N", required=True,
                        help="kills of each kind (sim, daemon)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill schedule")
    parser.add_argument("--policy", default="random", help="in-process policy for every probe")
    parser.add_argument("--workdir", help="keep the state directories and logs here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="universed-crash-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        report = crash_soak(
            work, sim_kills=args.crash_soak, daemon_kills=args.crash_soak, seed=args.seed,
            policy=args.policy, run_seconds=(0.02, 1.0), say=print,
        )  # fmt: skip
    rec = sorted(report.recovery_seconds)
    if rec:
        print(f"daemon kill -> serving: median {rec[len(rec) // 2]:.3f}s, max {rec[-1]:.3f}s")
    failed = report.failures
    print(f"{len(report.rounds)} rounds, {len(failed)} mismatches")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(_main())
