"""Checkpoints that do not stop the world (issue 15): the compact save format (version 3) and
background saves, against the real engine.

* a background save and a synchronous one of the same tick restore the same state hash, and the
  version 3 payload decodes (by the layout documented in docs/universe.md) to the canonical
  payload the state hash is computed over; version 2 files still load;
* damaged, truncated and foreign files are refused with a precise message, the state untouched;
* the tick loop's checkpoints go to the background, and each row names the journal position of
  the moment its save was taken (the replay of the whole journal reaches the daemon's hash);
* a background save that fails, or a sim killed while its writer is in the middle of a save,
  leaves no row naming an incomplete file, and recovery replays to the same hash; the next start
  sweeps the leftovers.
(Kills of the daemon while saves are in flight: tests/test_crash.py.)
"""

from __future__ import annotations

import os
import signal
import struct
from pathlib import Path

import pytest
import trio
from helpers import http, running_daemon, sim_child

from universed.core.store import SqliteJournal, replay_journal
from universed.simproc import SimError, SimSupervisor

M64 = (1 << 64) - 1


async def play(sim: SimSupervisor, ticks: int) -> None:
    cycle = ["survey", "scan", "wait", "mine", "survey", "orbit"]
    for t in range(ticks):
        await sim.request(
            {"cmd": "tick", "actions": {"1-1": {"type": cycle[t % len(cycle)]}}, "observe": "none"}
        )


# ------------------------------------------------------------------ the format, in Python


def mix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def state_hash(payload: bytes) -> str:
    """The state hash of a canonical payload (docs/universe.md)."""
    h = 0xCBF29CE484222325 ^ len(payload)
    whole = len(payload) // 8 * 8
    for i in range(0, whole, 8):
        h = mix64(h ^ int.from_bytes(payload[i : i + 8], "little"))
    h = mix64(h ^ int.from_bytes(payload[whole:], "little") ^ 0xFF)
    return f"{h:016x}"


def unsparse(buf: bytes, i: int, dst: bytearray) -> int:
    """XOR sparse(len(dst)) at buf[i:] into dst; returns the position after it."""
    words = (len(dst) + 7) // 8
    bitmap = buf[i : i + (words + 7) // 8]
    i += len(bitmap)
    for w in range(words):
        if bitmap[w >> 3] >> (w & 7) & 1:
            mask = buf[i]
            i += 1
            for k in range(8):
                if mask >> k & 1:
                    dst[8 * w + k] ^= buf[i]
                    i += 1
    return i


def decode_v3(data: bytes) -> tuple[dict[str, int], bytes]:
    """A version 3 save file -> (its header fields, the canonical payload)."""
    magic, version, flags, _hsum, _psum, plen, clen, state, tick = struct.unpack_from(
        "<8sIIQQQQQQ", data
    )
    assert magic == b"UNIVSIM\0" and version == 3 and flags == 0 and plen == len(data) - 64
    payload, out, i = data[64:], bytearray(), 0
    while True:
        kind = payload[i]
        i += 1
        if kind == 0:
            break
        if kind in (1, 2):
            (n,) = struct.unpack_from("<I", payload, i)
            i += 4
            if kind == 2:
                out += payload[i : i + n]
                i += n
            else:
                block = bytearray(n)
                i = unsparse(payload, i, block)
                out += block
        else:
            assert kind == 3, kind
            stride, count = struct.unpack_from("<II", payload, i)
            i += 8
            record = bytearray(stride)
            for _ in range(count):
                i = unsparse(payload, i, record)
                out += record
    assert i == len(payload) and len(out) == clen
    return {"tick": tick, "state": state, "canonical": clen}, bytes(out)


async def test_background_and_synchronous_saves_restore_the_same_hash(tmp_path: Path) -> None:
    async with sim_child("--populate", "40") as sim:
        await play(sim, 25)
        before = await sim.request({"cmd": "hash"})
        sync = await sim.request({"cmd": "save", "path": str(tmp_path / "sync.usim")})
        bg = await sim.request(
            {"cmd": "save", "path": str(tmp_path / "bg.usim"), "background": True}
        )
        assert bg["background"] is True and bg["tick"] == 25
        await play(sim, 10)  # the engine goes on while its writer writes tick 25
        done = await sim.request({"cmd": "saves", "wait": True})
        [report] = done["saves"]
        assert report["job"] == bg["job"] and report["ok"] and done["pending"] == []
        assert sync["hash"] == report["hash"] == before["hash"]
        assert report["bytes"] == (tmp_path / "bg.usim").stat().st_size
        assert (tmp_path / "bg.usim").read_bytes() == (tmp_path / "sync.usim").read_bytes()
        after = (await sim.request({"cmd": "hash"}))["hash"]
    async with sim_child(seed=9) as fresh:  # the seed comes from the file
        for name in ("sync.usim", "bg.usim"):
            loaded = await fresh.request({"cmd": "load", "path": str(tmp_path / name)})
            assert (loaded["tick"], loaded["hash"], loaded["version"]) == (25, before["hash"], 3)
            assert not loaded["verified"]  # the hash recorded in the file ...
            checked = await fresh.request(
                {"cmd": "load", "path": str(tmp_path / name), "verify": True}
            )
            assert checked["verified"] and checked["hash"] == before["hash"]  # ... recomputed
            assert (await fresh.request({"cmd": "hash"}))["hash"] == before["hash"]
            await play(fresh, 10)  # and the future is the same
            assert (await fresh.request({"cmd": "hash"}))["hash"] == after

    # the documented layout: the compact payload decodes to the canonical one, whose hash is
    # the state hash; written as a version 2 file (the previous format) it loads the same
    header, canonical = decode_v3((tmp_path / "bg.usim").read_bytes())
    assert header["tick"] == 25 and f"{header['state']:016x}" == before["hash"]
    assert state_hash(canonical) == before["hash"]
    assert len(canonical) > 8 * (tmp_path / "bg.usim").stat().st_size  # 40 clones: compact
    v2 = b"UNIVSIM\0" + struct.pack("<IIQQ", 2, 0, len(canonical), int(before["hash"], 16))
    (tmp_path / "v2.sav").write_bytes(v2 + canonical)
    async with sim_child() as fresh:
        loaded = await fresh.request({"cmd": "load", "path": str(tmp_path / "v2.sav")})
        assert (loaded["version"], loaded["hash"], loaded["verified"]) == (2, before["hash"], True)
        assert (await fresh.request({"cmd": "hash"}))["hash"] == before["hash"]


async def test_damaged_truncated_and_foreign_files_are_refused_precisely(tmp_path: Path) -> None:
    async with sim_child() as sim:
        await play(sim, 12)
        good = tmp_path / "good.usim"
        await sim.request({"cmd": "save", "path": str(good)})
        data = good.read_bytes()
        await play(sim, 3)
        state = (await sim.request({"cmd": "hash"}))["hash"]

        def variant(name: str, content: bytes) -> str:
            (tmp_path / name).write_bytes(content)
            return str(tmp_path / name)

        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x20
        version9 = bytearray(data)
        version9[8] = 9
        cases = {
            variant("trunc.usim", data[: len(data) - 3]): "length mismatch: header says",
            variant("short.usim", data[:40]): "file too short for a save header",
            variant("flip.usim", bytes(flipped)): "checksum mismatch",
            variant("v9.usim", bytes(version9)): (
                "unsupported save version 9 (this engine reads versions 2 and 3)"
            ),
            variant("foreign.usim", b"PK\x03\x04" + data[4:]): "not a universe-sim save file",
        }
        for path, message in cases.items():
            with pytest.raises(SimError) as err:
                await sim.request({"cmd": "load", "path": path})
            assert err.value.code == "bad_file" and message in str(err.value), str(err.value)
        assert (await sim.request({"cmd": "hash"}))["hash"] == state  # untouched


# ------------------------------------------------------------------ the daemon


def check_rows(journal: SqliteJournal) -> None:
    """Every checkpoint row names a complete file, and its journal position is exactly its
    tick: the tick rows up to after_seq end at its tick, the next one is the tick after it."""
    ticks = [(seq, e.tick) for seq, e in journal.iter_entries(0) if e.kind == "tick"]
    for cp in journal.checkpoints():
        assert cp.path.is_file()
        before = [t for s, t in ticks if s <= cp.after_seq]
        after = [t for s, t in ticks if s > cp.after_seq]
        if before:
            assert before[-1] == cp.tick, (cp, before[-3:])
        if after:
            assert after[0] == cp.tick + 1, (cp, after[:3])


async def test_lockstep_checkpoints_go_to_the_background(tmp_path: Path) -> None:
    async with running_daemon(
        mode="lockstep", checkpoint_every=15, state_dir=str(tmp_path), sim_args=("--populate", "50")
    ) as d:
        recovery = d.engine.recovery
        with trio.fail_after(60):
            while recovery.background_saves < 4:  # noqa: ASYNC110 (polls the daemon)
                await trio.sleep(0.01)
        await http(d.port, "POST", "/api/pause")
        await recovery.settle()
        _, state = await http(d.port, "GET", "/api/state")
        assert recovery.background_failures == 0
        journal = d.engine.journal
        assert isinstance(journal, SqliteJournal)
        check_rows(journal)
        # the journal from its oldest checkpoint replays to the daemon's state
        async with sim_child() as fresh:
            result = await replay_journal(fresh.request, journal)
        assert result.ok and (result.tick, result.hash) == (state["tick"], state["hash"])


async def test_killed_save_leaves_no_row_and_recovery_replays_to_the_same_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sim's writer waits 3 s between its fsync and its rename: the kill lands mid-save
    monkeypatch.setenv("UNIVERSE_SIM_SAVE_DELAY_MS", "3000")
    async with running_daemon(
        mode="paused",
        checkpoint_every=1000,
        verify_every=4,
        state_dir=str(tmp_path),
        sim_args=("--populate", "2000"),
    ) as d:
        recovery, journal = d.engine.recovery, d.engine.journal
        assert isinstance(journal, SqliteJournal)
        await http(d.port, "POST", "/api/tick", {"count": 3})
        rows = journal.checkpoints()

        # 1. a background save that fails (its file cannot be created): no row, no file, and
        # the next call of the tick loop starts another
        real_next_path = recovery._next_path
        monkeypatch.setattr(recovery, "_next_path", lambda: tmp_path / "missing" / "x.usim")
        await recovery.checkpoint(background=True)
        monkeypatch.setattr(recovery, "_next_path", real_next_path)
        pending = recovery.pending
        assert pending is not None and pending.tick == 3
        await http(d.port, "POST", "/api/tick", {"count": 2})
        await recovery.settle()
        assert recovery.pending is None and recovery.background_failures == 1
        assert journal.checkpoints() == rows
        check_rows(journal)

        # 2. the sim is killed while its writer thread is in the middle of a save
        await recovery.checkpoint(background=True)
        pending = recovery.pending
        assert pending is not None and pending.tick == 5
        _, before = await http(d.port, "GET", "/api/state")
        old = d.sim.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        with trio.fail_after(60):
            while d.sim.restarts < 1 or d.sim.state != "running":  # noqa: ASYNC110
                await trio.sleep(0.02)
        assert recovery.pending is None and d.engine.recoveries_verified
        _, after = await http(d.port, "GET", "/api/state")
        assert (after["tick"], after["hash"]) == (before["tick"], before["hash"])
        assert all(cp.path != pending.path for cp in journal.checkpoints())
        assert not pending.path.exists()
        check_rows(journal)
        named = {cp.path for cp in journal.checkpoints()}
        leftovers = [p for p in journal.checkpoint_dir.iterdir() if p not in named]

    # 3. the next start removes what no row names (temp files of interrupted saves) and
    # resumes at the same state
    async with running_daemon(mode="paused", state_dir=str(tmp_path)) as d2:
        _, resumed = await http(d2.port, "GET", "/api/state")
        assert (resumed["tick"], resumed["hash"]) == (before["tick"], before["hash"])
        for path in leftovers:
            assert not path.exists()
        journal2 = d2.engine.journal
        assert isinstance(journal2, SqliteJournal)
        named = {cp.path for cp in journal2.checkpoints()}
        assert set(journal2.checkpoint_dir.iterdir()) <= named
