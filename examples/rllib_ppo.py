"""Train PPO (RLlib, new API stack) on a universe for a few iterations on this machine: one shared
policy for every probe, probes born during an episode join it as new agents, destroyed ones
leave. Needs `pip install 'universed[train]'` (Ray + RLlib and a CPU build of torch); not needed
by `make test` (docs/research.md "RLlib PPO example").

    python examples/rllib_ppo.py --iterations 5

prints one line per training iteration (``--json``: one JSON object per line) with the mean
episode return (the sum of every agent's "growth" reward over an episode), the number of agents
an episode had (starting probes + children that joined) and the time the iteration took.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local instance: no token notice
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from universed.rl.ray import register

# A small, quick universe: replication needs no cargo and takes 10 ticks (instead of a 500 t
# recipe and 190 ticks), so births happen in every episode and the "growth" reward (1 per child)
# is learnable within a few iterations; hazards are frequent enough to destroy some probes.
ENV_CONFIG: dict[str, Any] = {
    "seed": 7,
    "probes": 2,
    "max_cycles": 50,
    "reward": "growth",
    "max_probes": 12,
    "engine_config": {
        "replication_cost_scale": 0.0,
        "replication_time_scale": 0.05,
        "event_freq_hazard": 0.01,
        "hazard_damage_scale": 4.0,
    },
}


class AgentCount(RLlibCallback):
    """Logs how many agents each episode had (its starting probes plus the children that joined)."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is not None:
            metrics_logger.log_value("agents_per_episode", len(episode.agent_ids))


def build(args: argparse.Namespace) -> Any:
    env = register()  # "universed": a multi-agent env, one agent per live probe
    config = (
        PPOConfig()
        .environment(env, env_config={**ENV_CONFIG, "seed": args.seed})
        .framework("torch")
        .env_runners(num_env_runners=args.env_runners, rollout_fragment_length="auto")
        .multi_agent(policies={"probe"}, policy_mapping_fn=lambda agent_id, *a, **k: "probe")
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .training(
            train_batch_size_per_learner=args.batch,
            minibatch_size=min(256, args.batch),
            num_epochs=2,
            lr=1e-3,
            gamma=0.95,
        )
        .callbacks(AgentCount)
        # each iteration's figures are over its own episodes
        .reporting(
            metrics_num_episodes_for_smoothing=max(1, args.batch // ENV_CONFIG["max_cycles"])
        )
    )
    return config.build_algo()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1000, help="env steps (ticks) per training batch")
    ap.add_argument("--env-runners", type=int, default=1, help="0: sample in this process")
    ap.add_argument("--seed", type=int, default=7, help="the universe seed of every episode")
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: local)")
    ap.add_argument("--json", action="store_true", help="one JSON object per iteration")
    args = ap.parse_args(argv)
    if args.address:
        ray.init(address=args.address, include_dashboard=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    rows: list[dict[str, Any]] = []
    try:
        start = time.perf_counter()
        algo = build(args)
        if not args.json:
            print(f"built in {time.perf_counter() - start:.1f} s", flush=True)
        for i in range(args.iterations):
            t0 = time.perf_counter()
            result = algo.train()
            runners = result.get("env_runners", {})
            row = {
                "iteration": i + 1,
                "seconds": round(time.perf_counter() - t0, 2),
                "episode_return_mean": round(float(runners.get("episode_return_mean", "nan")), 3),
                "agents_per_episode": round(float(runners.get("agents_per_episode", "nan")), 2),
                "episodes": int(runners.get("num_episodes", 0)),
                "env_steps": int(runners.get("num_env_steps_sampled", 0)),
                "agent_steps": int(
                    sum(v for v in runners.get("num_agent_steps_sampled", {}).values() if v == v)
                ),
            }
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"iteration {row['iteration']}: episode return mean "
                    f"{row['episode_return_mean']:.3f}, agents per episode "
                    f"{row['agents_per_episode']:.1f}, {row['episodes']} episodes, "
                    f"{row['agent_steps']} agent steps, {row['seconds']:.1f} s",
                    flush=True,
                )
        algo.stop()
    finally:
        ray.shutdown()
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
