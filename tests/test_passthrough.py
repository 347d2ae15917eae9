"""Pass-through delivery (issue 15): observations go to agents as the sim wrote them.

Each tick's readable observations are sliced out of the sim's reply line
(`messages.split_observations`) and framed with the tick added (`messages.observe_wire`), once
per probe per tick and shape, shared by every connection; the reference shape is encoded once
per probe from the merged object. What a connection receives must be the same JSON value the
previous path sent (`encode_observe` / `encode_observe_batch` of the parsed objects), in both
shapes, single and fleet: checked here on the real engine over a run with varied actions and
against the sim's replies directly.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest
from helpers import running_daemon

from universed.core import messages as m
from universed.core import window
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
    """A remote controller that checks every delivery against the previous encoding path."""

    def __init__(self, name: str, shape: str, fleet: bool) -> None:
        super().__init__(name, inherits=False)
        self.shape = shape
        self.fleet = fleet
        self.deliveries = 0

    def deliver(self, tick: int, observations: Sequence[Mapping[str, Any]]) -> None:
        raise AssertionError("the engine delivers through deliver_wire")

    def deliver_wire(
        self, tick: int, observations: Sequence[Mapping[str, Any]], wires: Sequence[bytes]
    ) -> None:
        self.deliveries += 1
        assert len(wires) == len(observations)
        if self.fleet:
            new = m.encode_observe_batch_wire(wires, tick)
            old = m.encode_observe_batch(observations, tick)
            assert orjson.loads(new) == orjson.loads(old)
        for obs, wire in zip(observations, wires, strict=True):
            assert orjson.loads(wire) == orjson.loads(m.encode_observe(obs, tick))
            value = orjson.loads(wire)
            assert value["tick"] == tick and value["type"] == "observe"
            if self.shape == "readable":
                assert "reference" not in value


async def test_delivered_observations_equal_the_previous_path_in_both_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passed: list[bytes] = []

    def observe_wire(raw: bytes, tick: int) -> bytes:
        passed.append(raw)
        return m.observe_wire(raw, tick)

    monkeypatch.setattr(window, "observe_wire", observe_wire)
    rng = random.Random(15)
    actions = ["wait", "survey", "mine", "repair", "scan", "research"]
    async with running_daemon(sim_args=("--populate", "8")) as d:
        engine = d.engine
        raws: list[bool] = []
        raw_of = engine.observer.raw_of

        def spy(*args: Any) -> Any:
            out = raw_of(*args)
            raws.append(out is not None)
            return out

        engine.observer.raw_of = spy  # type: ignore[method-assign]
        recorders = {
            "single readable": (Recorder("r1", "readable", False), ["1-1"]),
            "single reference": (Recorder("r2", "reference", False), ["1-2"]),
            "fleet readable": (Recorder("r3", "readable", True), ["1-3", "1-4", "1-5"]),
            "fleet reference": (Recorder("r4", "reference", True), ["1-6", "1-7"]),
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
        assert sum(raws) >= 60  # the readable observations came through the sim's bytes
        # single and fleet readable connections were sent the sim's slices
        sent = {orjson.loads(raw)["probe_id"] for raw in passed}
        assert {"1-1", "1-3", "1-4", "1-5"} <= sent


def test_raw_of_skips_probes_that_came_with_the_overlay() -> None:
    (line,) = sim_lines([{"cmd": "tick", "actions": {}, "id": 7, "reference": ["1-2"]}], probes=3)
    reply = orjson.loads(line)

    class Sim:
        last_line = (7, line)

    class Engine:
        sim = Sim()

    observer = Observer(Engine(), None)  # type: ignore[arg-type]
    obs_by_id, refs = Observer.index(reply["observations"], reply["tick"], ["1-2"])
    assert set(refs) == {"1-2"}
    raw = observer.raw_of(reply, reply["observations"], refs)
    assert raw is not None and set(raw) == {"1-1", "1-3"}
    assert orjson.loads(raw["1-1"]) | {"tick": reply["tick"]} == obs_by_id["1-1"]
    Sim.last_line = (8, line)  # another request's line: not this reply's
    assert observer.raw_of(reply, reply["observations"], refs) is None
