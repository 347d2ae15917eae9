"""The SQLite journal: rows, checkpoints, retention, resume plans, snapshots, replay."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import sim_child

from universed.core.journal import Checkpoint, Entry
from universed.core.store import CorruptJournal, SqliteJournal, replay, replay_journal, valid_tag
from universed.simproc import SimSupervisor


def cp_file(j: SqliteJournal, tick: int) -> Checkpoint:
    path = j.next_checkpoint_path(tick)
    path.write_bytes(b"x")
    return Checkpoint(tick, path, f"{tick:016x}")


def test_rows_survive_reopen_in_order(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path)
    j.checkpoint(cp_file(j, 0), reset=True)
    j.append(Entry("tick", 1, {"1-1": {"type": "survey"}}))
    j.append(Entry("inject", 1, {"type": "hazard", "severity": 0.5}))
    j.append(Entry("tick", 2, {}))
    j.close()  # no explicit flush: every append is its own committed transaction
    j2 = SqliteJournal(tmp_path)
    cp, entries = j2.latest()
    assert cp is not None and cp.tick == 0
    assert [(e.kind, e.tick) for e in entries] == [("tick", 1), ("inject", 1), ("tick", 2)]
    assert entries[0].data == {"1-1": {"type": "survey"}}
    assert j2.last_tick() == 2
    assert j2.journal_mode() == "wal"


def test_retention_keeps_newest_checkpoints_and_prunes_rows(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path, keep=2)
    files = []
    for t in range(0, 40, 10):
        cp = cp_file(j, t)
        files.append(cp.path)
        j.checkpoint(cp, reset=t == 0)
        for k in range(1, 11):
            j.append(Entry("tick", t + k, {}))
    ticks = [c.tick for c in j.checkpoints()]
    assert ticks == [20, 30]
    assert [p.exists() for p in files] == [False, False, True, True]
    # rows before the oldest kept checkpoint are gone, the ones after it are all there
    assert [e.tick for e in j.entries_after(0)] == list(range(21, 41))
    with pytest.raises(ValueError, match="keep must be >= 2"):
        SqliteJournal(tmp_path, keep=1)


def test_resume_plan_walks_back_over_checkpoints_without_ticks(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path, keep=3)
    assert j.resume_plan() == (None, [])
    j.checkpoint(cp_file(j, 0), reset=True)
    base, entries = j.resume_plan()
    assert base is not None and base.tick == 0 and base.reset and entries == []
    for k in range(1, 6):
        j.append(Entry("tick", k, {}))
    j.checkpoint(cp_file(j, 5))  # e.g. the final checkpoint at SIGTERM
    base, entries = j.resume_plan()
    # the newest has no tick after it: replaying from the one before re-creates tick 5's reply
    assert base is not None and base.tick == 0
    assert [e.tick for e in entries] == [1, 2, 3, 4, 5]
    j.append(Entry("tick", 6, {}))
    base, entries = j.resume_plan()
    assert base is not None and base.tick == 5 and [e.tick for e in entries] == [6]


def test_resume_plan_never_crosses_a_reset(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path, keep=3)
    j.checkpoint(cp_file(j, 0), reset=True)
    j.append(Entry("tick", 1, {}))
    j.checkpoint(cp_file(j, 0), reset=True)  # a restore back to tick 0
    base, entries = j.resume_plan()
    assert base is not None and base.reset and base.id == 2 and entries == []


def test_rows_after_retention_emptied_the_table_are_kept(tmp_path: Path) -> None:
    """Found by tests/test_stateful.py: restores with no tick between them made retention delete
    every row; SQLite then reused rowid 1 for the next tick, below the newest checkpoint's
    after_seq, so a sim kill or a restart lost that tick."""
    j = SqliteJournal(tmp_path, keep=2)
    j.checkpoint(cp_file(j, 0), reset=True)
    for k in range(1, 4):
        j.append(Entry("tick", k, {}))
    for _ in range(3):  # restores back to tick 0, nothing in between
        j.checkpoint(cp_file(j, 0), reset=True)
    assert j.entries_after(0) == []  # retention removed every row
    j.append(Entry("tick", 1, {"1-1": {"type": "survey"}}))
    cp, entries = j.latest()
    assert cp is not None and cp.tick == 0
    assert [(e.kind, e.tick) for e in entries] == [("tick", 1)]
    j.close()
    # the same after a restart: numbering continues above every checkpoint's after_seq
    j2 = SqliteJournal(tmp_path, keep=2)
    j2.checkpoint(cp_file(j2, 0), reset=True)
    j2.checkpoint(cp_file(j2, 0), reset=True)
    j2.close()
    j3 = SqliteJournal(tmp_path, keep=2)
    j3.append(Entry("tick", 1, {}))
    cp, entries = j3.latest()
    assert cp is not None and [e.tick for e in entries] == [1]


def test_a_checkpoint_that_adds_nothing_is_not_recorded(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path, keep=2)
    j.checkpoint(cp_file(j, 0), reset=True)
    j.append(Entry("tick", 1, {}))
    j.checkpoint(cp_file(j, 1))
    j.append(Entry("hash", 1, {"hash": "00"}))  # a verification mark changes nothing
    for _ in range(5):  # repeated stop/start without ticks
        redundant = cp_file(j, 1)
        j.checkpoint(redundant)
        assert not redundant.path.exists()
    assert [c.tick for c in j.checkpoints()] == [0, 1]
    base, entries = j.resume_plan()
    assert base is not None and base.tick == 0 and [e.kind for e in entries] == ["tick", "hash"]


def test_a_background_checkpoint_keeps_the_rows_after_its_position(tmp_path: Path) -> None:
    """A background save is recorded when its file is durable, later than it was taken: its row
    names the position of the tick it saved, and the rows appended meanwhile stay after it."""
    j = SqliteJournal(tmp_path, keep=3)
    j.checkpoint(cp_file(j, 0), reset=True)
    for k in range(1, 4):
        j.append(Entry("tick", k, {}))
    taken_at = j.last_seq  # the save of tick 3 starts here ...
    for k in range(4, 7):
        j.append(Entry("tick", k, {}))
    j.checkpoint(cp_file(j, 3), after_seq=taken_at)  # ... and is durable now, at tick 6
    cp, entries = j.latest()
    assert cp is not None and cp.tick == 3 and [e.tick for e in entries] == [4, 5, 6]
    base, entries = j.resume_plan()
    assert base is not None and base.tick == 3 and [e.tick for e in entries] == [4, 5, 6]
    assert [e.tick for e in j.entries_after(0)] == [1, 2, 3, 4, 5, 6]  # nothing pruned (keep=3)
    # one taken before the newest (superseded) is not recorded, its file removed
    stale = cp_file(j, 2)
    j.checkpoint(stale, after_seq=taken_at - 1)
    assert [c.tick for c in j.checkpoints()] == [0, 3] and not stale.path.exists()
    with pytest.raises(ValueError, match="beyond the last row"):
        j.checkpoint(cp_file(j, 9), after_seq=j.last_seq + 1)


def test_files_no_row_names_are_swept_and_never_reused(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path)
    kept = cp_file(j, 0)
    j.checkpoint(kept, reset=True)
    orphan = j.next_checkpoint_path(5)  # a background save whose row never committed
    orphan.write_bytes(b"complete but unrecorded")
    assert j.next_checkpoint_path(5) != orphan  # a new save never overwrites it
    temp = j.checkpoint_dir / f"{orphan.name}.tmp.4242"  # an interrupted writer's temp file
    temp.write_bytes(b"partial")
    assert sorted(j.sweep_orphans()) == sorted([orphan, temp])
    assert list(j.checkpoint_dir.iterdir()) == [kept.path]
    ro = SqliteJournal(tmp_path, readonly=True)
    assert ro.sweep_orphans() == []
    ro.close()


def test_snapshots_are_listed_and_tags_validated(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path)
    path = j.snapshot_path("before-war_1.0")
    path.write_bytes(b"12345")
    j.record_snapshot("before-war_1.0", 7, "ab" * 8, 5)
    j.close()
    j = SqliteJournal(tmp_path)
    [info] = j.snapshots()
    assert info.to_json()["tag"] == "before-war_1.0"
    assert (info.tick, info.bytes, info.hash) == (7, 5, "ab" * 8)
    for bad in ("", "a/b", "..", ".", ".hidden", "x" * 65, "sp ace", "é"):
        assert not valid_tag(bad)
        with pytest.raises(ValueError, match="bad snapshot tag"):
            j.snapshot_path(bad)
    assert j.delete_snapshot("before-war_1.0") and not path.exists()
    assert j.snapshots() == [] and not j.delete_snapshot("before-war_1.0")


def test_foreign_or_future_databases_are_refused(tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorruptJournal):
        SqliteJournal(tmp_path)
    other = tmp_path / "b"
    SqliteJournal(other).close()
    with sqlite3.connect(other / "journal.sqlite3") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(CorruptJournal, match="schema '99'"):
        SqliteJournal(other)
    with pytest.raises(CorruptJournal, match="no journal"):
        SqliteJournal(tmp_path / "missing", readonly=True)


# ------------------------------------------------------------------ replay with the real sim


def actions_for(tick: int) -> dict[str, Any]:
    cycle = ["survey", "scan", "wait", "survey"]
    return {"1-1": {"type": cycle[tick % len(cycle)]}}


async def record_run(j: SqliteJournal, sim: SimSupervisor, ticks: int) -> list[str]:
    """Drive ``ticks`` ticks the way the engine does (row first), with an inject midway."""
    saved = await sim.request({"cmd": "save", "path": str(j.next_checkpoint_path(0))})
    j.checkpoint(Checkpoint(0, Path(saved["path"]), saved["hash"]), reset=True)
    hashes = []
    for t in range(1, ticks + 1):
        j.append(Entry("tick", t, actions_for(t)))
        await sim.request({"cmd": "tick", "actions": actions_for(t)})
        if t == 4:
            event = {"type": "hazard", "subtype": 1, "severity": 0.3, "probe_id": "1-1"}
            j.append(Entry("inject", t, event))
            await sim.request({"cmd": "inject", "event": event})
            j.append(Entry("inject", t, {"type": "hazard", "probe_id": "9-9"}))  # refused
        if t % 3 == 0:
            h = (await sim.request({"cmd": "hash"}))["hash"]
            j.append(Entry("hash", t, {"hash": h}))
        if t == 6:
            saved = await sim.request({"cmd": "save", "path": str(j.next_checkpoint_path(t))})
            j.checkpoint(Checkpoint(t, Path(saved["path"]), saved["hash"]))
        hashes.append((await sim.request({"cmd": "hash"}))["hash"])
    return hashes


async def test_replay_reaches_the_same_hash_and_detects_divergence(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path)
    async with sim_child() as sim:
        hashes = await record_run(j, sim, 10)
        with pytest.raises(Exception, match="unknown_probe"):
            await sim.request({"cmd": "inject", "event": {"type": "hazard", "probe_id": "9-9"}})
    base, entries = j.resume_plan()
    assert base is not None and base.tick == 6
    async with sim_child(seed=7) as fresh:  # the seed comes from the checkpoint
        result = await replay(fresh.request, base.as_checkpoint(), entries)
    assert result.ok and result.tick == 10 and result.hash == hashes[-1]
    assert result.last_reply is not None and result.last_reply["tick"] == 10
    assert result.last_reply["observations"][0]["probe_id"] == "1-1"

    # the whole retained journal, from the reset checkpoint, checking the later checkpoint too
    first = j.checkpoints()[0]
    counted: list[int] = []
    async with sim_child() as fresh:
        full = await replay_journal(fresh.request, j, progress=counted.append)
    assert full.ok and full.hash == hashes[-1] and full.refused == 1
    assert full.checked == 1 + 3 + 1  # the base, hash rows at 3, 6, 9, the checkpoint at 6
    assert len(counted) == len(j.entries_after(first.after_seq))
    async with sim_child() as fresh:
        part = await replay_journal(fresh.request, j, to_tick=5)
    assert part.ok and part.tick == 5 and part.hash == hashes[4]

    # a different action stream diverges and the replay says where
    tampered = [
        Entry("tick", e.tick, {"1-1": {"type": "scan"}}) if e.tick == 2 and e.kind == "tick" else e
        for e in j.entries_after(first.after_seq)
    ]
    async with sim_child() as fresh:
        bad = await replay(fresh.request, first.as_checkpoint(), tampered)
    assert not bad.ok and bad.mismatches[0][0] == 3


def test_a_moved_state_directory_still_resumes(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "a")
    j.checkpoint(cp_file(j, 0), reset=True)
    j.append(Entry("tick", 1, {}))
    j.snapshot_path("s1").write_bytes(b"1")
    j.record_snapshot("s1", 1, "00" * 8, 1)
    j.close()
    (tmp_path / "a").rename(tmp_path / "b")  # a backup restored elsewhere
    j = SqliteJournal(tmp_path / "b")
    base, entries = j.resume_plan()
    assert base is not None and base.path.is_file() and len(entries) == 1
    assert base.path.parent == tmp_path / "b" / "checkpoints"
    assert [s.tag for s in j.snapshots()] == ["s1"]


def test_a_row_given_its_encoding_stores_those_bytes(tmp_path: Path) -> None:
    """The engine encodes a tick's actions once (for the sim and the row): the row is those
    bytes, and the entry reads back equal to one appended without them."""
    actions = {"1-2": {"type": "survey"}, "1-1": {"type": "wait"}}
    j = SqliteJournal(tmp_path)
    j.checkpoint(cp_file(j, 0), reset=True)
    encoded = orjson.dumps(actions, option=orjson.OPT_INDENT_2)  # the same value, other bytes
    j.append(Entry("tick", 1, actions, ["none", "compact"], encoded=encoded))
    j.append(Entry("tick", 2, actions, ["none", "compact"]))
    j.close()
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        rows = db.execute("SELECT data FROM entries ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [encoded, orjson.dumps(actions)]
    _cp, (first, second) = SqliteJournal(tmp_path).latest()
    assert first == second.__class__("tick", 1, actions, ["none", "compact"])
    assert list(first.data) == ["1-2", "1-1"] and second.data == actions
    assert Entry("tick", 1, {}, encoded=b"{}") == Entry("tick", 1, {})
