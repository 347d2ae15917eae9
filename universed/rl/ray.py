"""Many universes on Ray: RLlib registration and ``UniverseActor`` (needs ``universed[ray]``).

``register()`` registers the env name ``"universed"`` for RLlib (multi-agent: one agent per live
probe, children join, destroyed probes terminate; the config dict is ``parallel_env``'s keyword
arguments). ``UniverseActor`` is one universe as a Ray actor: ``run(ticks)`` steps it with a bundled
policy and returns its figures; the same seed and policy give the same hash on any worker.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

try:
    import ray
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("universed.rl.ray needs Ray: pip install 'universed[ray]'") from exc

from .policies import POLICIES
from .vec import VecUniverse

__all__ = [
    "ENV_NAME",
    "UniverseActor",
    "UniverseRunner",
    "make_rllib_env",
    "register",
    "run_universe",
]

ENV_NAME = "universed"


class UniverseRunner:
    """One universe and a bundled policy (plain class; ``UniverseActor`` is its Ray actor)."""

    def __init__(
        self,
        seed: int,
        probes: int = 1,
        policy: str = "random",
        config: dict[str, float] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; bundled: {', '.join(sorted(POLICIES))}")
        self.seed = seed
        self.policy_name = policy
        self.policy = POLICIES[policy]
        self.universe = VecUniverse(seed, probes, config)
        # the policy's randomness is a function of the seed only: same hash on any worker
        self.rng = np.random.default_rng(seed)
        self.agent_steps = 0

    def run(self, ticks: int) -> dict[str, Any]:
        u = self.universe
        obs = u.observe()
        start = time.perf_counter()
        for _ in range(ticks):
            actions, params = self.policy(obs, self.rng)
            self.agent_steps += u.alive
            obs = u.step(actions, params, rewards=False).obs
        return self.figures(time.perf_counter() - start)

    def figures(self, seconds: float = 0.0) -> dict[str, Any]:
        u = self.universe
        return {
            "seed": self.seed,
            "policy": self.policy_name,
            "tick": u.tick,
            "population": u.alive,
            "probes_ever": u.n_probes,
            "systems_explored": u.explored,
            "hash": u.hash(),
            "seconds": round(seconds, 4),
            "agent_steps": self.agent_steps,
        }

    def snapshot(self) -> bytes:
        return self.universe.snapshot()

    def hash(self) -> str:
        return self.universe.hash()


# a long-lived universe (holds one CPU while it lives: kill it when done)
UniverseActor = ray.remote(num_cpus=1)(UniverseRunner)


@ray.remote(num_cpus=1)
def run_universe(
    seed: int, ticks: int, probes: int = 1, policy: str = "random", config: Any = None
) -> dict[str, Any]:
    """One universe from creation to figures as a Ray task (the sweep's unit: frees its CPU)."""
    return UniverseRunner(seed, probes, policy, config).run(ticks)


def make_rllib_env(config: dict[str, Any] | None = None) -> Any:
    """An RLlib MultiAgentEnv over ``parallel_env(**config)`` (RLlib's EnvContext is a dict).

    RLlib (new API stack) wants every agent id up front, while probe slots are never reused: the
    agent ids are ``"1-1"`` .. ``"1-{max_agents}"`` and the step whose births would go beyond
    them ends the episode (truncation; ``max_agents`` defaults to 4 x max(probes, max_probes)).
    """
    from ray.rllib.env.multi_agent_env import MultiAgentEnv

    from .env import UniverseParallelEnv

    class UniverseMultiAgentEnv(MultiAgentEnv):
        """Agents are probe ids; every agent shares one observation and one action space."""

        def __init__(self, cfg: dict[str, Any]) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            cfg = dict(cfg)
            if cfg.get("max_agents") is None:
                cap = max(int(cfg.get("max_probes", 1000)), int(cfg.get("probes", 1)))
                cfg["max_agents"] = 4 * cap
            self.par = UniverseParallelEnv(**cfg)
            self.observation_space = self.par.observation_space("1-1")
            self.action_space = self.par.action_space("1-1")
            assert self.par.max_agents is not None
            self.possible_agents = [f"1-{i + 1}" for i in range(self.par.max_agents)]
            self.agents = []
            self.observation_spaces = dict.fromkeys(self.possible_agents, self.observation_space)
            self.action_spaces = dict.fromkeys(self.possible_agents, self.action_space)

        def get_observation_space(self, agent_id: Any) -> Any:
            return self.observation_space

        def get_action_space(self, agent_id: Any) -> Any:
            return self.action_space

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
            obs, infos = self.par.reset(seed=seed, options=options)
            self.agents = list(self.par.agents)
            return obs, infos

        def step(self, action_dict: dict[Any, Any]) -> Any:
            obs, rew, term, trunc, infos = self.par.step(action_dict)
            self.agents = list(self.par.agents)
            truncated = any(trunc.values())
            term["__all__"] = not self.par.agents and not truncated  # everybody destroyed
            trunc["__all__"] = truncated
            return obs, rew, term, trunc, infos

    return UniverseMultiAgentEnv(dict(config or {}))


def register(name: str = ENV_NAME) -> str:
    """Register the multi-agent env with RLlib (``config.environment(name, env_config={...})``)."""
    from ray.tune.registry import register_env

    register_env(name, make_rllib_env)
    return name
