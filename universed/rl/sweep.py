"""python -m universed.rl.sweep --universes K --ticks T [--address ADDR] [--policy NAME] --json

Runs K universes (seeds 1..K, or --seeds 5,9,12) as Ray actors (universed.rl.ray.UniverseActor) on
a local Ray instance (--workers CPUs, default all) or an existing cluster (--address, e.g.
``ray://head:10001`` or ``auto``), each for T ticks with a bundled policy (random, grow), and
prints per-universe figures (population, systems explored, state hash) and the sweep's rate. The
same seed and policy give the same hash on any worker.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any


def sweep(
    seeds: list[int],
    ticks: int,
    policy: str = "random",
    probes: int = 1,
    address: str | None = None,
    workers: int | None = None,
    config: dict[str, float] | None = None,
) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    from .policies import POLICIES
    from .ray import run_universe

    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; bundled: {', '.join(sorted(POLICIES))}")
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        started_here = True
    try:
        start = time.perf_counter()
        refs = [run_universe.remote(s, ticks, probes, policy, config) for s in seeds]
        results = ray.get(refs)
        wall = time.perf_counter() - start
        cpus = int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    finally:
        if started_here:
            ray.shutdown()
    steps = sum(r["agent_steps"] for r in results)
    return {
        "universes": results,
        "ticks": ticks,
        "policy": policy,
        "workers": cpus,
        "wall_s": round(wall, 3),
        "universe_ticks_per_s": round(len(seeds) * ticks / wall, 1),
        "agent_steps_per_s": round(steps / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m universed.rl.sweep", description="Ray sweep")
    ap.add_argument("--universes", type=int, default=4, help="K universes, seeds 1..K")
    ap.add_argument("--seeds", default="", help="comma-separated seeds (instead of 1..K)")
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=1, help="probes at start (Bob plus clones)")
    ap.add_argument("--policy", default="random", help="bundled policy: random, grow")
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: local)")
    ap.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray instance")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    else:
        if args.universes < 1:
            ap.error("--universes must be >= 1")
        seeds = list(range(1, args.universes + 1))
    if args.ticks < 0:
        ap.error("--ticks must be >= 0")
    try:
        out = sweep(seeds, args.ticks, args.policy, args.probes, args.address, args.workers)
    except ValueError as exc:
        ap.error(str(exc))
    if args.json:
        print(json.dumps(out))
    else:
        for r in out["universes"]:
            print(
                f"seed {r['seed']:>6}  tick {r['tick']:>7}  population {r['population']:>7}  "
                f"explored {r['systems_explored']:>5}  hash {r['hash']}"
            )
        print(
            f"{len(seeds)} universes x {args.ticks} ticks on {out['workers']} CPUs in "
            f"{out['wall_s']} s: {out['agent_steps_per_s']:.0f} agent-steps/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
