"""Pass-through delivery (issue 15): observations go to agents as the sim wrote them.

Each tick's readable observations are sliced out of the sim's reply line
(`messages.split_tick_reply`, `core.observations`) and framed with the tick added
(`messages.observe_wire`), once per probe per tick and shape, shared by every connection; the
reference shape is encoded once per probe from the merged object. What a connection receives
must be the same JSON value the previous path sent (`encode_observe` / `encode_observe_batch`
of the whole reply parsed by orjson), in both shapes, single and fleet: checked here on the
real engine over a run with varied actions and against the sim's replies directly.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest
from helpers import running_daemon

from universed.core import messages as m
from universed.core import observations as observations_module
from universed.core.observe import Observer
from universed.core.registry import RemoteController
from universed.core.simproc import find_sim_binary

pytestmark = pytest.mark.e2e


def sim_lines(requests: list[dict[str, Any]], probes: int = 6) -> list[bytes]:
    """The reply lines of the real engine to ``requests``."""
    payload = b"".join(orjson.dumps(r) + b"\n" for r in requests) + b'{"cmd":"quit"}\n'
    out = subprocess.run(
        [str(find_sim_binary()), "--pipe", "--populate", str(probes)],
        input=payload,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return out.splitlines()[: len(requests)]


def test_split_observations_gives_each_observation_as_the_sim_wrote_it() -> None:
    requests: list[dict[str, Any]] = [
        {"cmd": "tick", "actions": {}, "detail": "full", "events": True},
        {"cmd": "tick", "actions": {}, "detail": "compact"},
        {"cmd": "tick", "actions": {}, "observe": ["1-2", "1-5"], "reference": ["1-5"]},
        {"cmd": "tick", "actions": {}, "reference": "all"},
        {"cmd": "tick", "actions": {}, "observe": []},
    ]
    for n, line in enumerate(sim_lines(requests)):
        reply = orjson.loads(line)
        observations = reply["observations"]
        pieces = m.split_observations(line, len(observations))
        assert pieces is not None, requests[n]
        assert [orjson.loads(p) for p in pieces] == observations
        tick = reply["tick"]
        for obs, piece in zip(observations, pieces, strict=True):
            obs["tick"] = tick
            assert orjson.loads(m.observe_wire(piece, tick)) == orjson.loads(
                m.encode_observe(obs, tick)
            )
        wires = [m.observe_wire(p, tick) for p in pieces]
        assert orjson.loads(m.encode_observe_batch_wire(wires, tick)) == orjson.loads(
            m.encode_observe_batch(observations, tick)
        )


def test_split_observations_refuses_a_line_laid_out_otherwise() -> None:
    (line,) = sim_lines([{"cmd": "tick", "actions": {}, "detail": "compact"}], probes=3)
    assert m.split_observations(line, 3) is not None
    assert m.split_observations(line, 2) is None  # count mismatch
    assert m.split_observations(line, 4) is None
    assert m.split_observations(orjson.dumps(orjson.loads(line)), 3) is not None  # same layout
    spaced = orjson.dumps(orjson.loads(line), option=orjson.OPT_INDENT_2)
    assert m.split_observations(spaced, 3) is None
    cut = line[: line.index(b'],"born":[')] + b'],"born":[]}'
    assert m.split_observations(cut.replace(b'"events":[]}]', b'"events":[]]'), 3) is None
    assert m.split_observations(b'{"ok":true}', 1) is None
    assert m.split_observations(b"", 0) == []


class Recorder(RemoteController):
    """A remote controller that checks every delivery against the previous encoding path: the
    whole reply line parsed by orjson (``truth``: probe id -> that tick's observation, in the
    connection's shape), encoded by `encode_observe` / `encode_observe_batch`."""

    def __init__(
        self,
        name: str,
        shape: str,
        fleet: bool,
        truth: Callable[[str, str], dict[str, Any]],
    ) -> None:
        super().__init__(name, inherits=False)
        self.shape = shape
        self.fleet = fleet
        self.truth = truth
        self.deliveries = 0

    def deliver(self, tick: int, observations: Sequence[Mapping[str, Any]]) -> None:
        raise AssertionError("the engine delivers through deliver_wire")

    def deliver_wire(
        self, tick: int, observations: Sequence[Mapping[str, Any]], wires: Sequence[bytes]
    ) -> None:
        self.deliveries += 1
        assert len(wires) == len(observations)
        expected = [self.truth(orjson.loads(w)["probe_id"], self.shape) for w in wires]
        if self.fleet:
            new = m.encode_observe_batch_wire(wires, tick)
            old = m.encode_observe_batch(expected, tick)
            assert orjson.loads(new) == orjson.loads(old)
        for obs, want, wire in zip(observations, expected, wires, strict=True):
            value = orjson.loads(wire)
            assert value == orjson.loads(m.encode_observe(want, tick))
            assert dict(obs) == want  # what a policy or a delta connection reads
            assert value["tick"] == tick and value["type"] == "observe"
            if self.shape == "readable":
                assert "reference" not in value


class PlainRecorder(Recorder):
    """A one-probe connection handed its observation as the sim wrote it (`deliver_piece`)
    whenever no overlay must be merged; checked against the previous path as `Recorder`."""

    plain = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pieces = 0

    def deliver_piece(self, piece: m.Piece, tail: bytes) -> None:
        self.deliveries += 1
        self.pieces += 1
        wire = bytes(memoryview(piece)[:-1]) + tail  # what the transport gathers
        value = orjson.loads(wire)
        want = self.truth(value["probe_id"], self.shape)
        assert value == orjson.loads(m.encode_observe(want, want["tick"]))
        assert value["type"] == "observe" and "reference" not in value


async def test_delivered_observations_equal_the_previous_path_in_both_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passed: list[bytes] = []

    def observe_wire(raw: bytes, tick: int) -> bytes:
        passed.append(raw)
        return m.observe_wire(raw, tick)

    monkeypatch.setattr(observations_module, "observe_wire", observe_wire)
    rng = random.Random(15)
    actions = ["wait", "survey", "mine", "repair", "scan", "research"]
    async with running_daemon(sim_args=("--populate", "9")) as d:
        engine = d.engine
        parsed: dict[int, dict[str, dict[str, Any]]] = {}

        def truth(pid: str, shape: str) -> dict[str, Any]:
            rid, line = engine.sim.last_line
            if rid not in parsed:  # the previous path: the whole line through orjson
                reply = orjson.loads(line)
                parsed[rid] = {o["probe_id"]: o for o in reply["observations"]}
            obs = dict(parsed[rid][pid])
            obs["tick"] = engine.tick
            overlay = obs.pop("reference", None)
            if shape == "reference" and overlay is not None:
                obs.update(overlay)
            return obs

        recorders = {
            "single readable": (Recorder("r1", "readable", False, truth), ["1-1"]),
            "single reference": (Recorder("r2", "reference", False, truth), ["1-2"]),
            "fleet readable": (Recorder("r3", "readable", True, truth), ["1-3", "1-4", "1-5"]),
            "fleet reference": (Recorder("r4", "reference", True, truth), ["1-6", "1-7"]),
            "plain readable": (PlainRecorder("r5", "readable", False, truth), ["1-8"]),
            "plain reference": (PlainRecorder("r6", "reference", False, truth), ["1-9"]),
        }
        async with engine.state_lock:
            for ctrl, pids in recorders.values():
                for pid in pids:
                    engine.registry.assign(pid, ctrl)
        for n in range(60):
            shape = "reference" if n % 7 == 3 else "readable"
            await engine.manual_tick(rng.choice([1, 1, 2]), shape=shape)
            for ctrl, pids in recorders.values():
                for pid in pids:
                    name = rng.choice(actions)
                    action: dict[str, Any] = {"type": name}
                    if name == "mine":
                        action["resource"] = "iron"
                    engine.submit(ctrl, pid, action)
        for label, (ctrl, _) in recorders.items():
            assert ctrl.deliveries >= 60, label
        plain = recorders["plain readable"][0]
        plain_ref = recorders["plain reference"][0]
        assert isinstance(plain, PlainRecorder) and isinstance(plain_ref, PlainRecorder)
        # as the sim wrote them, but at the ticks that asked for every probe's overlay (each
        # observation is then parsed: the readable one is the object without it)
        assert plain.deliveries // 2 < plain.pieces < plain.deliveries
        # a reference connection's probe always comes with the overlay: merged, never a piece
        assert plain_ref.pieces == 0
        # single and fleet readable connections were sent the sim's slices
        sent = {orjson.loads(raw)["probe_id"] for raw in passed}
        assert {"1-1", "1-3", "1-4", "1-5"} <= sent
        assert len(passed) >= 4 * 50


def test_a_split_reply_parses_only_what_the_daemon_reads() -> None:
    (line,) = sim_lines(
        [{"cmd": "tick", "actions": {}, "id": 7, "reference": ["1-2"], "events": True}], probes=3
    )
    whole = orjson.loads(line)
    parts = m.split_tick_reply(line)
    assert parts is not None
    reply, pieces = parts
    assert reply == {**whole, "observations": []}
    assert [orjson.loads(p) for p in pieces] == whole["observations"]
    reply[m.OBSERVATION_PIECES] = pieces
    observed, refs = Observer.index(reply, whole["tick"], ["1-2"])
    assert observed.parsed_count() == 1 and set(refs) == {"1-2"}  # only the overlay's probe
    assert list(observed) == ["1-1", "1-2", "1-3"]
    assert observed.raw("1-1") == pieces[0] and observed.raw("1-2") is None
    for obs in whole["observations"]:
        pid = obs["probe_id"]
        want = {**obs, "tick": whole["tick"]}
        overlay = want.pop("reference", None)
        assert observed[pid] == want
        assert orjson.loads(observed.wire(pid)) == {**want, "type": "observe"}
        if overlay is not None:
            assert refs[pid] == {**want, **overlay}
    assert observed.parsed_count() == 3
    observed.discard("1-3")
    assert "1-3" not in observed and len(observed) == 2


def test_a_reply_laid_out_otherwise_is_parsed_whole() -> None:
    (line,) = sim_lines([{"cmd": "tick", "actions": {}, "id": 1}], probes=2)
    assert m.split_tick_reply(line) is not None
    assert m.split_tick_reply(orjson.dumps(orjson.loads(line), option=orjson.OPT_INDENT_2)) is None
    assert m.split_tick_reply(line.replace(b',"born":[', b',"babies":[')) is None
    assert m.split_tick_reply(b'{"ok":true,"observations":[],"born":[]}') == (
        {"ok": True, "observations": [], "born": []},
        [],
    )


def test_observation_lens_cut_the_reply_as_the_scan_does() -> None:
    """A tick that asks for ``observation_lens`` (the daemon's do) is cut by the lengths, into
    views of the line: the same observations, header and delta groups as the scan of the same
    reply without them; lengths that do not cut objects make the line parse whole."""
    base: list[dict[str, Any]] = [
        {"cmd": "tick", "actions": {}, "detail": "full", "events": True, "mined": True},
        {"cmd": "tick", "actions": {}, "detail": "compact", "observe": ["1-2", "1-5"]},
        {"cmd": "tick", "actions": {}, "reference": ["1-3"]},
        {"cmd": "tick", "actions": {}, "observe": []},
        {"cmd": "tick", "actions": {}, "delta": [{"probes": ["1-1", "1-4"]}, {"probes": ["1-2"]}]},
    ]
    plain = sim_lines(base)
    with_lens = sim_lines([{**r, "observation_lens": True} for r in base])
    for n, (old, new) in enumerate(zip(plain, with_lens, strict=True)):
        assert new.startswith(old[:-1]) and new != old, base[n]  # the key is appended last
        lens = orjson.loads(new)["observation_lens"]
        want = m.split_tick_reply(old)
        got = m.split_tick_reply(new)
        assert want is not None and got is not None, base[n]
        assert got[0] == want[0]  # the lengths were read, not kept
        assert [bytes(p) for p in got[1]] == list(want[1])
        assert all(isinstance(p, memoryview) for p in got[1])
        assert [len(p) for p in got[1]] == lens
        assert m.split_tick_reply(new + b"\n") is not None  # a trailing newline is no matter
    line = with_lens[0]
    lens = orjson.loads(line)["observation_lens"]
    key = b',"observation_lens":'
    head = line[: line.rindex(key) + len(key)]
    for bad in ([lens[0] + 1, *lens[1:]], [*lens[:-1], lens[-1] - 1], [*lens, 9], ["x"]):
        assert m.split_tick_reply(head + orjson.dumps(bad) + b"}") is None, bad
