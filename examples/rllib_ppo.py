"""Train PPO (RLlib) on a universe for a few iterations on this machine: one shared policy for
every probe. Needs `pip install 'universed[rllib-example]'` (Ray + RLlib and torch); not run by
`make test` (docs/research.md "RLlib PPO example").

    python examples/rllib_ppo.py --iterations 3
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from universed.rl.ray import register


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: local)")
    args = ap.parse_args()
    ray.init(address=args.address, include_dashboard=False)
    env = register()  # "universed": a multi-agent env, one agent per live probe
    config = (
        PPOConfig()
        .environment(
            env,
            env_config={
                "seed": 7,
                "probes": 8,
                "max_cycles": 200,
                "reward": "growth",
                "max_probes": 64,
                # a livelier universe than the default, so a few iterations see births
                "engine_config": {"replication_cost_scale": 0.01, "replication_time_scale": 0.1},
            },
        )
        .framework("torch")
        .env_runners(num_env_runners=1)
        .multi_agent(policies={"probe"}, policy_mapping_fn=lambda agent_id, *a, **k: "probe")
        .training(train_batch_size_per_learner=2000, minibatch_size=256, num_epochs=2)
    )
    algo = config.build_algo()
    for i in range(args.iterations):
        result = algo.train()
        runners = result.get("env_runners", {})
        print(
            f"iteration {i + 1}: episode return mean "
            f"{runners.get('episode_return_mean', float('nan')):.3f}, "
            f"agent steps {runners.get('num_agent_steps_sampled_lifetime', 0)}"
        )
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
