"""The operations ledger: rows from real sim tick replies, queries, pagination, stats."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from universed.core.ledger import Ledger, LedgerQueryError, parse_query
from universed.simproc import find_sim_binary


class Pipe:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(find_sim_binary()), "--pipe", "--seed", "42"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        if obj["cmd"] == "tick":  # as the engine asks when a ledger records
            obj = {**obj, "events": True, "mined": True}
        self.proc.stdin.write(orjson.dumps(obj) + b"\n")
        self.proc.stdin.flush()
        reply: dict[str, Any] = orjson.loads(self.proc.stdout.readline())
        assert reply["ok"], reply
        return reply


@pytest.fixture
def sim() -> Iterator[Pipe]:
    pipe = Pipe()
    yield pipe
    pipe({"cmd": "quit"})
    pipe.proc.wait(5)
    assert pipe.proc.stdin and pipe.proc.stdout
    pipe.proc.stdin.close()
    pipe.proc.stdout.close()


def feed(ledger: Ledger, reply: dict[str, Any], names: dict[str, str] | None = None) -> int:
    table = names or {}
    return ledger.record_tick(
        reply["tick"],
        reply.get("born") or [],
        reply.get("destroyed") or [],
        reply.get("rejected") or [],
        lambda pid: table.get(pid, "explorer"),
        reply["events"],
        reply["mined"],
    )


def test_records_hazards_mining_rejections_births_and_deaths(tmp_path: Path, sim: Pipe) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", mining_window=1)
    try:
        # an impossible action (rejected), a hazard injected on Bob
        feed(ledger, sim({"cmd": "tick", "actions": {"1-1": {"type": "land"}}}))
        sim({"cmd": "inject", "event": {"type": "hazard", "severity": 0.3, "probe_id": "1-1"}})
        feed(ledger, sim({"cmd": "tick"}))
        sim({"cmd": "inject", "event": {"type": "discovery", "subtype": 1, "probe_id": "1-1"}})
        feed(ledger, sim({"cmd": "tick"}))
        ledger.flush()
        page = ledger.query()
        kinds = [e["type"] for e in page["events"]]
        assert "rejected" in kinds and "hazard" in kinds and "discovery" in kinds
        rejected = next(e for e in page["events"] if e["type"] == "rejected")
        assert rejected == {
            "id": rejected["id"],
            "tick": 1,
            "probe_id": "1-1",
            "type": "rejected",
            "subtype": "land",
            "policy": "explorer",
            "reason": "not orbiting",
        }
        hazard = next(e for e in page["events"] if e["type"] == "hazard")
        assert hazard["severity"] == 0.3 and hazard["value"] > 0 and hazard["tick"] == 2
        # mining: the derelict discovery put iron in cargo; go to a body, survey, orbit, mine
        home = sim({"cmd": "probe", "probe_id": "1-1"})["probe"]["system"]
        system = sim({"cmd": "system", "system_id": home})["system"]
        belt = next(b for b in system["bodies"] if b["type"] == "asteroid_belt")
        reply = sim(
            {
                "cmd": "tick",
                "actions": {"1-1": {"type": "navigate_to_body", "target_body": belt["id"]}},
            }
        )
        feed(ledger, reply)
        for _ in range(10):
            obs = feed(ledger, sim({"cmd": "tick"}))
        for action in ("survey", "survey", "enter_orbit", "mine", "mine"):
            feed(
                ledger,
                sim({"cmd": "tick", "actions": {"1-1": {"type": action, "resource": "iron"}}}),
            )
        assert obs >= 0
        ledger.flush()
        mined = ledger.query(type="mined")["events"]
        assert len(mined) == 2 and all(e["subtype"] == "iron" and e["value"] > 0 for e in mined)
        stats = ledger.policy_stats("explorer")
        assert stats["hazards"] == 1 and stats["discoveries"] == 1 and stats["rejected"] >= 1
        assert stats["mined_kg"]["iron"] == pytest.approx(sum(e["value"] for e in mined))
        assert stats["top_rejections"]["not orbiting"] == 1
        assert ledger.policies() == ["explorer"]
    finally:
        ledger.close()


def test_mining_is_summed_per_window(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "m.sqlite", mining_window=10, threaded=False)
    mine = {"probe_id": "1-1", "resource": "iron", "kg": 2.5}
    for tick in range(1, 26):
        ledger.record_tick(tick, mined=[mine], controller_of=str)
    rows = ledger.query(type="mined")["events"]
    assert [(r["tick"], r["value"], r["from_tick"], r["ticks"]) for r in rows] == [
        (10, 25.0, 1, 10),
        (20, 25.0, 11, 10),
    ]
    ledger.close()  # the partial window is written on close
    again = Ledger(tmp_path / "m.sqlite", threaded=False)
    assert again.policy_stats("1-1")["mined_kg"] == {"iron": 62.5}
    again.close()


def test_births_and_deaths_from_tick_lists(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite", threaded=False)
    ledger.record_tick(
        7,
        born=["1-2"],
        destroyed=["1-3"],
        controller_of=lambda p: "random",
        events=[{"probe_id": "1-2", "type": "born", "value": 1.0}],
        parent_of={"1-2": "1-1"}.get,
    )
    page = ledger.query()
    assert [(e["type"], e["probe_id"]) for e in page["events"]] == [
        ("born", "1-2"),
        ("destroyed", "1-3"),
    ]
    assert page["events"][0]["parent_id"] == "1-1"
    assert ledger.policy_stats("random")["births"] == 1
    assert ledger.policy_stats("random")["deaths"] == 1
    ledger.close()


def test_cursor_pagination_and_filters(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "p.sqlite")
    for tick in range(1, 51):
        events = [
            {"probe_id": pid, "type": "hazard", "subtype": "radiation", "severity": 0.1}
            for pid in ("1-1", "1-2")
        ]
        ledger.record_tick(tick, events=events, controller_of=lambda p: "a" if p == "1-1" else "b")
    ledger.flush()
    seen, cursor = [], None
    while True:
        page = ledger.query(probe="1-2", limit=7, cursor=cursor)
        seen += page["events"]
        cursor = int(page["next_cursor"]) if page["next_cursor"] else None
        if cursor is None:
            break
    assert [e["tick"] for e in seen] == list(range(1, 51))
    assert {e["probe_id"] for e in seen} == {"1-2"}
    late = ledger.query(since=45, type=["hazard"], limit=1000)["events"]
    assert len(late) == 12 and min(e["tick"] for e in late) == 45
    assert ledger.query(policy="a", limit=1000)["events"][0]["probe_id"] == "1-1"
    assert ledger.query(type="born")["events"] == []
    ledger.close()
    # WAL mode on disk, every row committed by close()
    with sqlite3.connect(tmp_path / "p.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 100


def test_reopen_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "again.sqlite"
    first = Ledger(path)
    first.record_tick(1, destroyed=["1-1"])
    first.close()
    second = Ledger(path)
    assert [e["type"] for e in second.query()["events"]] == ["destroyed"]
    second.close()


@pytest.mark.parametrize(
    ("args", "param"),
    [
        ({"since": "x"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"cursor": "-1"}, "cursor"),
        ({"type": "hazard,nonsense"}, "type"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_parse_query_rejects_bad_parameters(args: dict[str, str], param: str) -> None:
    with pytest.raises(LedgerQueryError) as info:
        parse_query(args)
    assert info.value.param == param


def test_parse_query_accepts_good_parameters() -> None:
    assert parse_query({"since": "10", "probe": "1-2", "type": "hazard,mined", "limit": "5"}) == {
        "since": 10,
        "probe": "1-2",
        "type": ["hazard", "mined"],
        "limit": 5,
    }


async def test_a_slow_writer_slows_the_caller_instead_of_buffering(tmp_path: Path) -> None:
    # the writer thread is held inside a commit: the queue fills to max_backlog, then the tick
    # loop's await_room waits (without blocking trio) until the writer drains half of it
    import threading

    import trio
    import trio.testing

    ledger = Ledger(tmp_path / "ledger.sqlite", max_backlog=4)
    gate = threading.Event()
    real_commit = ledger._commit

    def slow_commit(batches: list[Any]) -> None:
        gate.wait(10)
        real_commit(batches)

    ledger._commit = slow_commit  # type: ignore[method-assign]
    hazard = {"type": "hazard", "subtype": "solar_flare", "severity": 0.5}
    tick = 0
    while not ledger.behind:
        tick += 1
        ledger.record_tick(tick, events=[{"probe_id": "1-1", **hazard}])
        assert tick < 50, "the backlog never reached max_backlog"
    assert ledger.backlog > 4
    waited = trio.Event()

    async def tick_loop() -> None:
        await ledger.await_room()
        waited.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick_loop)
        await trio.testing.wait_all_tasks_blocked()  # this task runs: trio is not blocked
        assert not waited.is_set() and ledger.backlog > 2  # the tick loop waits for the writer
        gate.set()
        with trio.fail_after(10):
            await waited.wait()
    assert ledger.backlog <= 2 and ledger.waits == 1
    ledger.flush()
    assert len(ledger.query(type="hazard", limit=100)["events"]) == tick  # nothing dropped
    ledger.close()
