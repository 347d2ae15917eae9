"""The greedy miner against the real engine: it mines, and repairs when damaged."""

from __future__ import annotations

import subprocess
from typing import Any

import orjson
from universed_policy_greedy_miner import GreedyMinerPolicy

from universed.plugins import load_policies, make_plugin_manager
from universed.simproc import find_sim_binary


def test_registered_through_the_entry_point() -> None:
    table = load_policies(make_plugin_manager(), {})
    assert isinstance(table["greedy-miner"], GreedyMinerPolicy)


def test_mines_the_richest_resource_and_repairs() -> None:
    proc = subprocess.Popen(
        [str(find_sim_binary()), "--pipe"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(obj: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(orjson.dumps(obj) + b"\n")
        proc.stdin.flush()
        reply: dict[str, Any] = orjson.loads(proc.stdout.readline())
        assert reply["ok"], reply
        return reply

    try:
        policy = GreedyMinerPolicy()
        obs = ask({"cmd": "tick"})["observations"][0]
        mined = 0
        for _ in range(150):
            action = policy.decide(obs)
            obs = ask({"cmd": "tick", "actions": {"1-1": action}})["observations"][0]
            last = obs["last_action"]
            if last["action"] == "mine" and last["ok"]:
                mined += 1
        assert mined > 50
        assert sum(obs["cargo"].values()) > 0
        assert obs["cargo"]["iron"] >= 10  # the first body is iron-rich lava
        for _ in range(2):
            ask({"cmd": "inject", "event": {"type": "hazard", "severity": 1.0, "probe_id": "1-1"}})
        obs = ask({"cmd": "tick"})["observations"][0]
        assert 0 < obs["hull"] < 0.5
        assert policy.decide(obs) == {"action": "repair"}
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.kill()
        proc.wait()
