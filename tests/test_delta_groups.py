"""The sim's delta groups (docs/pipe-protocol.md "Delta groups"), straight over the pipe.

Each tick asks for every observation and for the same probes as delta groups; applying a
group's deltas to the previous observations must give this tick's observations exactly, over a
long run with random actions (a death included), across a restore and a detail change
(both start whole again), and the groups must be cut by the daemon's splitter as the sim wrote
them.
"""

from __future__ import annotations

import random
import subprocess
from typing import Any

import orjson

from universed.core import messages as m
from universed.core.simproc import find_sim_binary

ACTIONS = ["wait", "survey", "mine", "scan", "repair", "research", "replicate", "wait"]


class Pipe:
    def __init__(self, probes: int) -> None:
        self.proc = subprocess.Popen(
            [str(find_sim_binary()), "--pipe", "--populate", str(probes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def line(self, obj: dict[str, Any]) -> bytes:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(orjson.dumps(obj) + b"\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def close(self) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


def test_deltas_applied_give_every_observation_of_a_long_random_run() -> None:
    rng = random.Random(17)
    pipe = Pipe(6)
    base: dict[str, dict[str, Any]] = {}
    wholes = deltas = 0
    try:
        for n in range(1, 301):
            alive = sorted(base) or [f"1-{i}" for i in range(1, 7)]
            actions = {}
            for pid in alive:
                name = rng.choice(ACTIONS)
                actions[pid] = {"action": name, "resource": "iron"}
            detail = "compact" if n < 150 or n > 200 else "full"
            if n == 100:  # a death
                for _ in range(3):
                    hazard = {"type": "hazard", "severity": 1.0, "probe_id": "1-6"}
                    assert orjson.loads(pipe.line({"cmd": "inject", "event": hazard}))["ok"]
            if n == 120:
                assert orjson.loads(pipe.line({"cmd": "snapshot", "tag": "t"}))["ok"]
            if n == 140:  # a restore ends every base: whole observations next
                assert orjson.loads(pipe.line({"cmd": "restore", "tag": "t"}))["ok"]
            groups = [{"probes": alive[::2]}, {"probes": alive[1::2], "whole": n % 50 == 0}]
            line = pipe.line(
                {
                    "cmd": "tick",
                    "actions": actions,
                    "observe": "all",
                    "detail": detail,
                    "delta": groups,
                }
            )
            whole_reply = orjson.loads(line)
            assert whole_reply["ok"], whole_reply
            tick = whole_reply["tick"]
            truth = {o["probe_id"]: {**o, "tick": tick} for o in whole_reply["observations"]}
            parts = m.split_tick_reply(line)
            assert parts is not None
            reply, _pieces = parts
            cut = reply[m.DELTA_GROUP_PIECES]
            assert [orjson.loads(g) for g in cut] == whole_reply["delta_groups"]
            must_be_whole = n in (1, 140, 150, 201)  # first, restore, detail changes
            got: dict[str, dict[str, Any]] = {}
            for spec, group in zip(groups, whole_reply["delta_groups"], strict=True):
                if spec.get("whole"):
                    assert set(group) == {"observations"}
                for obs in group["observations"]:
                    got[obs["probe_id"]] = obs
                    wholes += 1
                if must_be_whole:
                    assert group.get("deltas", []) == []
                for delta in group.get("deltas", []):
                    pid = delta["probe_id"]
                    got[pid] = m.apply_delta(base[pid], delta, tick)
                    deltas += 1
            listed = {pid for spec in groups for pid in spec["probes"] if pid in truth}
            assert got == {pid: truth[pid] for pid in listed}, n
            base = {pid: obs for pid, obs in truth.items() if obs["status"] != "destroyed"}
        assert deltas > 10 * wholes  # mostly deltas
        assert len(base) == 5 and "1-6" not in base
    finally:
        pipe.close()


def test_bad_delta_requests_are_refused_and_change_nothing() -> None:
    pipe = Pipe(2)
    try:
        before = orjson.loads(pipe.line({"cmd": "hash"}))["hash"]
        for bad, message in [
            ({}, "field 'delta' must be a list of groups, got object"),
            ([1], "delta group 0 must be an object, got number"),
            ([{"probes": "1-1"}], "delta group 0: field 'probes' must be a list of probe ids"),
            ([{"probes": [1]}], "delta group 0: 'probes' must list probe id strings, found number"),
            ([{"probes": [], "whole": 1}], "delta group 0: field 'whole' must be true or false"),
            ([{"probes": []}, {"probes": [], "x": 1}], "delta group 1: unknown field 'x'"),
        ]:
            reply = orjson.loads(pipe.line({"cmd": "tick", "delta": bad}))
            assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
            assert reply["error"]["message"].startswith(message), reply
        assert orjson.loads(pipe.line({"cmd": "hash"}))["hash"] == before
        # unknown ids are skipped like in "observe"
        reply = orjson.loads(pipe.line({"cmd": "tick", "delta": [{"probes": ["9-9", "x", "1-2"]}]}))
        (group,) = reply["delta_groups"]
        assert [o["probe_id"] for o in group["observations"]] == ["1-2"]
    finally:
        pipe.close()
