"""The operations ledger: what happened in the universe, in SQLite, queryable over REST.

Every tick the engine hands the tick's results to `Ledger.record_tick`; it turns them into rows
(births, deaths, hazards, discoveries and the sim's other events, mined amounts, rejected
actions), each tagged with the name of the controller that drove the probe then, and queues them.
A writer thread commits each batch of queued ticks in one transaction (stdlib ``sqlite3``, WAL
journal, ``synchronous=NORMAL``), so the tick loop only pays for building the rows.

Reads (`Ledger.query`, `Ledger.policy_stats`) use their own connection; WAL lets them run while
the writer commits. Pagination is by cursor: the ``next_cursor`` of a page is the id of its last
row, and the next page starts after it, so pages stay stable while rows are appended.

Tables::

    events(id INTEGER PRIMARY KEY, tick, probe_id, type, subtype, severity, value, policy, data)

``type`` is one of born, destroyed, hazard, discovery, survey, arrival, replicated, dormant,
mined (``subtype`` = resource, ``value`` = kg summed over ``mining_window`` ticks, ``data`` =
``{"from_tick", "ticks"}``; ``tick`` is the last mining tick), rejected (``subtype`` = action,
``data`` = ``{"reason": ...}``). ``data`` is JSON text with the rest of the event.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import trio

__all__ = ["EVENT_TYPES", "Ledger", "LedgerQueryError", "parse_query"]

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset(
    {
        "born",
        "destroyed",
        "hazard",
        "discovery",
        "survey",
        "arrival",
        "replicated",
        "dormant",
        "mined",
        "rejected",
    }
)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    tick INTEGER NOT NULL,
    probe_id TEXT,
    type TEXT NOT NULL,
    subtype TEXT,
    severity REAL,
    value REAL,
    policy TEXT,
    data TEXT
);
CREATE INDEX IF NOT EXISTS events_tick ON events(tick);
CREATE INDEX IF NOT EXISTS events_probe ON events(probe_id, id);
CREATE INDEX IF NOT EXISTS events_type ON events(type, id);
CREATE INDEX IF NOT EXISTS events_policy ON events(policy, type);
"""

Row = tuple[int, str | None, str, str | None, float | None, float | None, str | None, str | None]
_SKIP_EVENT_TYPES = frozenset({"born", "destroyed"})  # recorded from the tick's born/destroyed


class LedgerQueryError(ValueError):
    """A bad query parameter; ``param`` names it (for a 400 ``bad_request`` reply)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def parse_query(args: Mapping[str, str]) -> dict[str, Any]:
    """REST query parameters (``since``, ``probe``, ``type``, ``limit``, ``cursor``) checked.

    Raises:
        LedgerQueryError: naming the bad parameter.
    """
    out: dict[str, Any] = {}
    for key in args:
        if key not in ("since", "probe", "type", "limit", "cursor"):
            raise LedgerQueryError(key, f"unknown parameter {key!r}")
    for key in ("since", "limit", "cursor"):
        text = args.get(key)
        if text is None or text == "":
            continue
        try:
            value = int(text)
        except ValueError:
            raise LedgerQueryError(key, f"{key} must be an integer, got {text!r}") from None
        if value < 0 or (key == "limit" and not 1 <= value <= MAX_LIMIT):
            bound = f"1..{MAX_LIMIT}" if key == "limit" else ">= 0"
            raise LedgerQueryError(key, f"{key} must be {bound}, got {value}")
        out[key] = value
    kind = args.get("type")
    if kind:
        kinds = kind.split(",")
        for k in kinds:
            if k not in EVENT_TYPES:
                raise LedgerQueryError(
                    "type", f"unknown event type {k!r}; one of {', '.join(sorted(EVENT_TYPES))}"
                )
        out["type"] = kinds
    probe = args.get("probe")
    if probe:
        out["probe"] = probe
    return out


class Ledger:
    """See the module docstring.

    Args:
        path: the SQLite file (created with its directory if missing).
        record_mining: record what probes mine.
        mining_window: mining is summed per (probe, resource, controller) and written as one
            ``mined`` row every this many ticks (1 = a row per mining tick).
        threaded: commit from a writer thread (False: commit inside `record_tick`).
        max_backlog: ticks of rows the writer may have queued before `behind` says so; the
            engine then waits (`await_room`) so memory stays bounded and no row is dropped.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        record_mining: bool = True,
        mining_window: int = 100,
        threaded: bool = True,
        max_backlog: int = 64,
    ) -> None:
        self.path = Path(path)
        self.max_backlog = max_backlog
        self.waits = 0  # times the tick loop waited for the writer (backpressure)
        self._inflight = 0  # ticks in the writer's current transaction
        self._room = threading.Condition()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.record_mining = record_mining
        self.mining_window = mining_window
        # (probe, resource, controller) -> [kg, first tick, last tick, mining ticks]
        self._mining: dict[tuple[str, str, str | None], list[Any]] = {}
        self._mining_since = 0
        self._writer = self._connect()
        self._writer.executescript(SCHEMA)
        self._writer.commit()
        self._reader = self._connect()
        self._read_lock = threading.Lock()
        self._queue: queue.Queue[list[Row] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.closed = False
        if threaded:
            self._thread = threading.Thread(target=self._write_loop, name="ledger", daemon=True)
            self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    # ------------------------------------------------------------------ writing

    def record_tick(
        self,
        tick: int,
        born: Sequence[str] = (),
        destroyed: Sequence[str] = (),
        rejected: Sequence[Mapping[str, Any]] = (),
        controller_of: Callable[[str], str] | None = None,
        events: Sequence[Mapping[str, Any]] = (),
        mined: Sequence[Mapping[str, Any]] = (),
        parent_of: Callable[[str], str | None] | None = None,
    ) -> int:
        """Queue one tick's rows; returns how many. Never blocks on the disk.

        Everything comes from the tick reply's own lists, so no observation is read (the
        daemon leaves them unparsed: `core.observations`).

        Args:
            tick: the tick just completed.
            born, destroyed: the tick reply's lists.
            rejected: the tick reply's ``rejected`` entries.
            controller_of: probe id -> controller name (the ``policy`` column).
            events: the tick reply's ``events`` (each with its ``probe_id``), those to record.
            mined: the tick reply's ``mined`` entries (``probe_id``, ``resource``, ``kg``).
            parent_of: probe id -> parent id (the probe index's), for the ``born`` rows.
        """
        name: Callable[[str], str | None] = controller_of or _no_name
        rows: list[Row] = []
        for ev in events:
            pid = ev.get("probe_id")
            if isinstance(pid, str):
                self._event_row(rows, tick, pid, ev, name)
        if self.record_mining:
            for row in mined:
                pid = row.get("probe_id")
                kg = _num(row.get("kg"))
                if not isinstance(pid, str) or not kg:
                    continue
                key = (pid, str(row.get("resource")), name(pid))
                acc = self._mining.get(key)
                if acc is None:
                    self._mining[key] = [kg, tick, tick, 1]
                else:
                    acc[0] += kg
                    acc[2] = tick
                    acc[3] += 1
        for child in born:
            parent = parent_of(child) if parent_of is not None else None
            data = orjson.dumps({"parent_id": parent}).decode()
            rows.append((tick, child, "born", None, None, None, name(child), data))
        for pid in destroyed:
            rows.append((tick, pid, "destroyed", None, None, None, name(pid), None))
        for rej in rejected:
            pid = rej.get("probe_id")
            action = rej.get("action")
            data = orjson.dumps({"reason": rej.get("reason")}).decode()
            who = name(pid) if isinstance(pid, str) else None
            sub = None if action is None else str(action)
            probe = pid if isinstance(pid, str) else None
            rows.append((tick, probe, "rejected", sub, None, None, who, data))
        if self._mining and tick - self._mining_since >= self.mining_window:
            rows.extend(self._mining_rows())
            self._mining_since = tick
        if rows:
            if self._thread is not None:
                self._queue.put(rows)
            else:
                self._commit([rows])
        return len(rows)

    @staticmethod
    def _event_row(
        rows: list[Row],
        tick: int,
        pid: str,
        ev: Mapping[str, Any],
        name: Callable[[str], str | None],
    ) -> None:
        kind = ev.get("type")
        if not isinstance(kind, str) or kind in _SKIP_EVENT_TYPES:
            return
        skip = ("type", "subtype", "severity", "value", "tick", "probe_id")
        extra = {k: v for k, v in ev.items() if k not in skip}
        sub = ev.get("subtype")
        rows.append(
            (
                tick,
                pid,
                kind,
                None if sub is None else str(sub),
                _num(ev.get("severity")),
                _num(ev.get("value")),
                name(pid),
                orjson.dumps(extra).decode() if extra else None,
            )
        )

    def _mining_rows(self) -> list[Row]:
        rows: list[Row] = []
        for (pid, resource, policy), (kg, first, last, ticks) in self._mining.items():
            data = orjson.dumps({"from_tick": first, "ticks": ticks}).decode()
            rows.append((last, pid, "mined", resource, None, round(kg, 3), policy, data))
        self._mining.clear()
        return rows

    def _write_loop(self) -> None:
        while True:
            batch = self._queue.get()
            batches = [batch]
            stop = batch is None
            while not stop:  # drain what is queued: one transaction for all of it
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                batches.append(more)
                stop = more is None
            pending = [b for b in batches if b is not None]
            self._inflight = len(pending)
            try:
                if pending:
                    self._commit(pending)
            except sqlite3.Error:
                log.exception("ledger: could not write %d tick(s); dropped", len(pending))
            finally:
                self._inflight = 0
                for _ in batches:
                    self._queue.task_done()
                with self._room:
                    self._room.notify_all()
            if stop:
                return

    def _commit(self, batches: list[list[Row]]) -> None:
        conn = self._writer
        conn.execute("BEGIN")
        try:
            for rows in batches:
                conn.executemany(
                    "INSERT INTO events(tick, probe_id, type, subtype, severity, value, policy,"
                    " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self.rows_written += len(rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def backlog(self) -> int:
        """Ticks of rows not committed yet: queued, or in the writer's open transaction."""
        return self._queue.qsize() + self._inflight

    @property
    def behind(self) -> bool:
        """The writer has more than ``max_backlog`` ticks to commit: call `await_room`."""
        return self._thread is not None and self.backlog > self.max_backlog

    async def await_room(self) -> None:
        """Wait (without blocking trio) until the backlog is down to half of ``max_backlog``.

        The ledger never drops what happened and never buffers without end: when a universe
        produces events faster than SQLite takes them, the tick loop slows to the writer's pace.
        """
        self.waits += 1
        await trio.to_thread.run_sync(self._wait_room)

    def _wait_room(self) -> None:
        with self._room:
            while self.backlog > self.max_backlog // 2 and self._thread is not None:
                if not self._thread.is_alive():
                    return
                self._room.wait(timeout=1.0)

    def flush(self) -> None:
        """Block until every queued tick is committed."""
        if self._thread is not None:
            self._queue.join()

    async def aflush(self) -> None:
        """`flush` from trio without blocking the event loop."""
        await trio.to_thread.run_sync(self.flush)

    def close(self) -> None:
        """Commit what is queued, stop the writer, close both connections."""
        if self.closed:
            return
        self.closed = True
        if self._mining:
            rows = self._mining_rows()
            if self._thread is not None:
                self._queue.put(rows)
            else:
                self._commit([rows])
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._writer.close()
        self._reader.close()

    # ------------------------------------------------------------------ reading

    def query(
        self,
        *,
        since: int | None = None,
        probe: str | None = None,
        type: str | Sequence[str] | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: int | None = None,
        policy: str | None = None,
    ) -> dict[str, Any]:
        """One page of events, oldest first.

        Args:
            since: only events of this tick or later.
            probe: only this probe's events.
            type: an event type or a list of them.
            limit: page size (1..1000).
            cursor: the ``next_cursor`` of the previous page.
            policy: only events of probes driven by this controller.

        Returns:
            ``{"events": [...], "next_cursor": "123" | None, "limit": n}``.
        """
        limit = max(1, min(int(limit), MAX_LIMIT))
        where: list[str] = []
        params: list[int | str] = []
        if cursor is not None:
            where.append("id > ?")
            params.append(cursor)
        if since is not None:
            where.append("tick >= ?")
            params.append(since)
        if probe is not None:
            where.append("probe_id = ?")
            params.append(probe)
        if type is not None:
            kinds = [type] if isinstance(type, str) else list(type)
            where.append(f"type IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if policy is not None:
            where.append("policy = ?")
            params.append(policy)
        sql = "SELECT id, tick, probe_id, type, subtype, severity, value, policy, data FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit + 1)
        with self._read_lock:
            rows = self._reader.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        events = [_event(r) for r in rows]
        return {
            "events": events,
            "next_cursor": str(rows[-1][0]) if more and rows else None,
            "limit": limit,
        }

    def policy_stats(self, policy: str) -> dict[str, Any]:
        """Totals for one controller: event counts by type, kg mined by resource, probes seen."""
        with self._read_lock:
            counts = self._reader.execute(
                "SELECT type, COUNT(*) FROM events WHERE policy = ? GROUP BY type", (policy,)
            ).fetchall()
            mined = self._reader.execute(
                "SELECT subtype, SUM(value) FROM events WHERE policy = ? AND type = 'mined'"
                " GROUP BY subtype",
                (policy,),
            ).fetchall()
            probes, first, last = self._reader.execute(
                "SELECT COUNT(DISTINCT probe_id), MIN(tick), MAX(tick) FROM events"
                " WHERE policy = ?",
                (policy,),
            ).fetchone()
            reasons = self._reader.execute(
                "SELECT json_extract(data, '$.reason'), COUNT(*) FROM events"
                " WHERE policy = ? AND type = 'rejected' GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
                (policy,),
            ).fetchall()
        by_type = {kind: n for kind, n in counts}
        return {
            "policy": policy,
            "events": by_type,
            "births": by_type.get("born", 0),
            "deaths": by_type.get("destroyed", 0),
            "hazards": by_type.get("hazard", 0),
            "discoveries": by_type.get("discovery", 0),
            "rejected": by_type.get("rejected", 0),
            "top_rejections": {str(reason): n for reason, n in reasons},
            "mined_kg": {str(res): round(kg, 3) for res, kg in mined},
            "mined_total_kg": round(sum(kg for _res, kg in mined), 3),
            "probes_seen": probes,
            "first_tick": first,
            "last_tick": last,
        }

    def policies(self) -> list[str]:
        """Controller names that appear in the ledger."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT DISTINCT policy FROM events WHERE policy IS NOT NULL ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]


def _no_name(_probe_id: str) -> str | None:
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _event(row: tuple[Any, ...]) -> dict[str, Any]:
    ev_id, tick, pid, kind, sub, severity, value, policy, data = row
    out: dict[str, Any] = {"id": ev_id, "tick": tick, "probe_id": pid, "type": kind}
    if sub is not None:
        out["subtype"] = sub
    if severity is not None:
        out["severity"] = severity
    if value is not None:
        out["value"] = value
    if policy is not None:
        out["policy"] = policy
    if data:
        out.update(orjson.loads(data))
    return out
