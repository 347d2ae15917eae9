"""Benchmark: the explorer's civilization after N ticks, driving the sim's pipe directly.

    python -m universed_policy_explorer.bench [--seed 42] [--ticks 1000,10000] [--sim PATH]

The policy object is the one the daemon would run in-process (`ExplorerPolicy`); the loop is
the daemon's tick loop without the network: every live probe's observation goes to ``decide``,
the actions go to the sim's ``tick`` command, births and deaths go to the policy's hooks. At
each checkpoint it prints probes alive, probes built, probes lost and systems explored (the
sim's ``metrics``), plus wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from universed.simproc import find_sim_binary

from .policy import ExplorerPolicy

__all__ = ["PipeSim", "main", "run"]


class PipeSim:
    """A sim child spoken to synchronously through its pipe (one request, one reply)."""

    def __init__(self, binary: Path, seed: int) -> None:
        self.proc = subprocess.Popen(
            [str(binary), "--pipe", "--seed", str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in: IO[bytes] = self.proc.stdin
        self._out: IO[bytes] = self.proc.stdout

    def request(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self._in.write(orjson.dumps(obj) + b"\n")
        self._in.flush()
        reply: dict[str, Any] = orjson.loads(self._out.readline())
        if not reply.get("ok"):
            raise RuntimeError(f"sim refused {obj.get('cmd')}: {reply.get('error')}")
        return reply

    def close(self) -> None:
        try:
            self.request({"cmd": "quit"})
        except (BrokenPipeError, RuntimeError, orjson.JSONDecodeError):
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._in.close()
        self._out.close()


def run(
    policy: Any, sim: PipeSim, ticks: int, on_checkpoint: Any = None, every: Sequence[int] = ()
) -> dict[str, Any]:
    """Run ``ticks`` ticks with ``policy`` deciding for every live probe; return final metrics."""
    first = sim.request({"cmd": "tick"})
    observations = first["observations"]
    for tick in range(2, ticks + 1):
        actions: dict[str, Any] = {}
        for obs in observations:
            if obs.get("status") == "destroyed":
                continue
            obs["tick"] = tick - 1
            action = policy.decide(obs)
            if isinstance(action, str):
                action = {"action": action}
            if action.get("action", action.get("type")) != "wait":
                actions[obs["probe_id"]] = action
        reply = sim.request({"cmd": "tick", "actions": actions})
        observations = reply["observations"]
        born = reply.get("born") or []
        if born:
            parents = {o["probe_id"]: o.get("parent_id") for o in observations}
            for child in born:
                policy.on_birth(child, parents.get(child) or "")
        for dead in reply.get("destroyed") or []:
            policy.on_death(dead)
        if on_checkpoint is not None and tick in every:
            on_checkpoint(tick, sim.request({"cmd": "metrics"})["metrics"])
    metrics: dict[str, Any] = sim.request({"cmd": "metrics"})["metrics"]
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m universed_policy_explorer.bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ticks", default="1000,10000", help="checkpoints, comma-separated")
    parser.add_argument("--sim", default="", help="universe-sim binary (default: find it)")
    args = parser.parse_args(argv)
    checkpoints = sorted({int(t) for t in args.ticks.split(",") if t.strip()})
    sim = PipeSim(find_sim_binary(args.sim), args.seed)
    started = time.perf_counter()
    try:
        recipe = sim.request({"cmd": "probe", "probe_id": "1-1"})["probe"].get("replication_cost")
        policy = ExplorerPolicy(recipe=recipe) if recipe else ExplorerPolicy()
        print(f"explorer benchmark, seed {args.seed}, recipe {policy.recipe}")
        print(f"{'tick':>7} {'alive':>6} {'built':>6} {'lost':>5} {'systems':>8} {'wall s':>7}")

        def report(tick: int, m: Mapping[str, Any]) -> None:
            print(
                f"{tick:>7} {m['probes_alive']:>6} {m['probes_spawned']:>6} "
                f"{m['probes_destroyed']:>5} {m['systems_explored']:>8} "
                f"{time.perf_counter() - started:>7.1f}",
                flush=True,
            )

        run(policy, sim, checkpoints[-1], report, checkpoints)
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
