"""python -m universed.rl.bench [--json] [--seconds S]: agent-steps/s of universed.rl on one core.

One JSON object per line: the vectorized path (VecUniverse + the random policy: actions drawn,
stepped, features and rewards filled) at 1,000 and 100,000 probes, and the parallel_env dict API
at 1,000 probes; each with ``engine_updates_per_s``, the bare engine rate in the same run (the same
universe stepped with every probe waiting, no features, no rewards).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from .policies import random_policy
from .vec import VecUniverse


def _timed(fn: Any, seconds: float) -> tuple[int, float]:
    n, start = 0, time.perf_counter()
    while True:
        n += fn()
        el = time.perf_counter() - start
        if el >= seconds:
            return n, el


def bare_rate(u: VecUniverse, seconds: float) -> float:
    def one() -> int:
        u.step(None, observe=False, rewards=False)
        return u.n_probes

    n, el = _timed(one, seconds)
    return n / el


def bench_vec(probes: int, seconds: float) -> dict[str, Any]:
    u = VecUniverse(1, probes)
    rng = np.random.default_rng(0)
    state = {"obs": u.observe()}

    def one() -> int:
        alive = u.alive
        state["obs"] = u.step(*random_policy(state["obs"], rng)).obs
        return alive

    n, el = _timed(one, seconds)
    return {
        "bench": "vec_random",
        "probes": probes,
        "ticks": u.tick,
        "agent_steps_per_s": round(n / el),
        "engine_updates_per_s": round(bare_rate(u, seconds)),
    }


def bench_dict(probes: int, seconds: float) -> dict[str, Any]:
    from .env import parallel_env

    env = parallel_env(probes=probes, max_cycles=10**9, max_probes=10 * probes)
    env.reset()
    rng = np.random.default_rng(0)
    high = np.array([13, 24])

    def one() -> int:
        agents = env.agents
        env.step(dict(zip(agents, rng.integers(0, high, (len(agents), 2)), strict=True)))
        return len(agents)

    n, el = _timed(one, seconds)
    assert env.universe is not None
    return {
        "bench": "parallel_env_dict",
        "probes": probes,
        "ticks": env.universe.tick,
        "agent_steps_per_s": round(n / el),
        "engine_updates_per_s": round(bare_rate(env.universe, seconds)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m universed.rl.bench")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = ap.parse_args(argv)
    for row in (
        bench_vec(1_000, args.seconds),
        bench_vec(100_000, args.seconds),
        bench_dict(1_000, args.seconds),
    ):
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{row['bench']:<18} {row['probes']:>7} probes: {row['agent_steps_per_s']:>11,} "
                f"agent-steps/s (bare engine {row['engine_updates_per_s']:,}/s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
