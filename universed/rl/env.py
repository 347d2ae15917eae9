"""A PettingZoo ParallelEnv over VecUniverse: agents are the live probes.

Agent names are probe ids (``"1-1"`` is Bob). A child born in a step joins ``agents`` and appears in
that step's returned dicts (its first observation, reward 0); a destroyed probe gets
``terminated=True`` and leaves ``agents``. After ``max_cycles`` steps every live agent is
truncated. A child born and destroyed in the same step, or born in the step that ends the
episode, never becomes an agent. The population is open-ended, so ``possible_agents`` is every
agent the episode has had so far (it grows with births); ``max_probes`` (the engine's cap on live
probes) bounds it. ``max_agents`` (optional) fixes the set of agent ids to ``"1-1"`` ..
``"1-{max_agents}"``: the step whose births would go beyond it ends the episode (truncation), as
RLlib needs every agent id up front.

Spaces: observation ``Box(-inf, inf, (64,), float32)``, the feature row of docs/research.md;
action ``MultiDiscrete([13, 24])``: an action id of the physical actions (ids 0-12, action
encoding 1) and its one integer parameter (resource, body index, neighbour slot, tech domain or
structure type; ignored by the others). The social actions of encoding 2 (ids 13-20) take probe
slots, tokens and amounts that one small parameter cannot carry: use ``VecUniverse`` for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

try:
    from gymnasium import spaces
    from pettingzoo import ParallelEnv  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        "universed.rl.parallel_env needs pettingzoo: pip install 'universed[rl]'"
    ) from exc

from .rewards import DEFAULT_REWARD, weights_of
from .vec import FEATURES, N_ACTIONS_V1, PARAMS, VecUniverse

__all__ = ["ACTION_PARAM_MAX", "UniverseParallelEnv", "parallel_env"]

ACTION_PARAM_MAX = 24  # body indices 0..23 are the widest parameter


class UniverseParallelEnv(ParallelEnv):  # type: ignore[misc]
    metadata = {"name": "universed_v1", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        seed: int = 42,
        probes: int = 1,
        max_cycles: int = 1000,
        reward: str | Callable[[np.ndarray, np.ndarray], Any] | Any = DEFAULT_REWARD,
        max_probes: int = 1000,
        engine_config: Mapping[str, float] | None = None,
        render_mode: str | None = None,
        max_agents: int | None = None,
    ) -> None:
        if isinstance(probes, bool) or not isinstance(probes, int):
            raise TypeError(f"probes must be an integer, got {type(probes).__name__}")
        if probes < 1:
            raise ValueError(f"probes must be >= 1 (Bob plus clones), got {probes}")
        if not isinstance(max_cycles, int) or max_cycles < 1:
            raise ValueError(f"max_cycles must be a positive integer, got {max_cycles!r}")
        if not isinstance(max_probes, int) or max_probes < 1:
            raise ValueError(f"max_probes must be a positive integer, got {max_probes!r}")
        if render_mode is not None:
            raise ValueError(f"no render modes; got render_mode={render_mode!r}")
        if max_agents is not None and (
            isinstance(max_agents, bool) or not isinstance(max_agents, int) or max_agents < probes
        ):
            raise ValueError(
                f"max_agents must be an integer >= probes ({probes}), got {max_agents!r}"
            )
        self._reward_fn: Callable[[np.ndarray, np.ndarray], Any] | None = None
        if callable(reward):
            self._reward_fn = reward
            self._weights = np.zeros(0, np.float32)
        else:
            self._weights = weights_of(reward)
        self.seed = seed
        self.probes = probes
        self.max_cycles = max_cycles
        self.max_agents = max_agents
        self.engine_config = {"max_probes": float(max_probes), **dict(engine_config or {})}
        self.render_mode = render_mode
        self._obs_space = spaces.Box(-np.inf, np.inf, (FEATURES,), np.float32)
        self._act_space = spaces.MultiDiscrete([N_ACTIONS_V1, ACTION_PARAM_MAX])
        self._names: list[str] = []
        self.universe: VecUniverse | None = None
        self._new_universe()  # validates the engine config now, not at the first reset
        self.agents: list[str] = []
        self._slots = np.zeros(0, np.int64)
        self._steps = 0
        self._joined: list[str] = []  # every agent of this episode, in joining order

    # ------------------------------------------------------------------ spaces
    @property
    def possible_agents(self) -> list[str]:
        """Every agent this episode has had so far (the population is open-ended)."""
        if self.universe is None:
            return self._name_list(self.probes)
        return list(self._joined)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return self._act_space

    # ------------------------------------------------------------------ episode
    def _new_universe(self) -> None:
        if self.universe is not None:
            self.universe.close()
        self.universe = VecUniverse(
            int(self.seed),
            self.probes,
            self.engine_config,
            self._weights if self._reward_fn is None else None,
        )

    def _name_list(self, n: int) -> list[str]:
        names = self._names
        if len(names) < n:
            names.extend(f"1-{i + 1}" for i in range(len(names), n))
        return names[:n]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self.seed = seed
        self._new_universe()
        assert self.universe is not None
        obs = self.universe.observe()
        self._slots = np.flatnonzero(obs[:, 0] > 0)
        names = self._name_list(self.universe.n_probes)
        self.agents = [names[s] for s in self._slots.tolist()]
        self._joined = list(self.agents)
        self._steps = 0
        rows = obs[self._slots].copy()
        return dict(zip(self.agents, rows, strict=True)), {a: {} for a in self.agents}

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        u = self.universe
        if u is None:
            raise RuntimeError("call reset() first")
        n0 = u.n_probes
        acts = np.zeros(n0, np.int32)
        params = np.zeros((n0, PARAMS), np.float32)
        if actions:
            try:
                slots = np.fromiter((int(a[2:]) - 1 for a in actions), np.int64, len(actions))
            except (ValueError, TypeError):
                slots = np.full(1, -1)
            live = np.zeros(n0, bool)
            live[self._slots] = True
            if slots.min() < 0 or slots.max() >= n0 or not live[slots].all():
                bad = [a for a in actions if a not in set(self.agents)]
                raise ValueError(f"actions for agents that are not live: {bad[:5]}")
            vals = np.asarray(list(actions.values()))
            if vals.ndim == 1 and vals.dtype.kind in "iu":  # bare action ids
                vals = np.stack([vals, np.zeros_like(vals)], 1)
            if vals.ndim != 2 or vals.shape[1] != 2 or vals.dtype.kind not in "iu":
                raise ValueError(
                    "each action must be [action id, parameter] (MultiDiscrete([13, 24])); got "
                    f"an array of shape {vals.shape} and dtype {vals.dtype}"
                )
            if (vals[:, 0] < 0).any() or (vals[:, 0] >= N_ACTIONS_V1).any():
                raise ValueError(f"action ids must be in 0..{N_ACTIONS_V1 - 1}")
            acts[slots] = vals[:, 0]
            params[slots, 0] = vals[:, 1]
        res = u.step(acts, params)
        self._steps += 1
        truncate = self._steps >= self.max_cycles or (
            self.max_agents is not None and u.n_probes > self.max_agents
        )
        # a child joins as an agent in the step it is born, unless it never lives to act: born
        # and destroyed in the same step, or born in the step that ends the episode
        born = res.born.astype(np.int64)
        born = born[:0] if truncate else born[~res.terminated[born]]
        report = np.concatenate([self._slots, born])
        names = self._name_list(u.n_probes)
        self._joined.extend(names[s] for s in born.tolist())
        ids = [names[s] for s in report.tolist()]
        rows = res.obs[report]  # a copy (fancy indexing): the rows stay valid
        if self._reward_fn is not None:
            rew = np.asarray(self._reward_fn(res.components[report], rows), np.float64).reshape(
                len(report)
            )
        else:
            rew = res.rewards[report].astype(np.float64)
        term = res.terminated[report]
        obs = dict(zip(ids, rows, strict=True))
        rewards = dict(zip(ids, rew.tolist(), strict=True))
        terminated = dict(zip(ids, term.tolist(), strict=True))
        truncated = dict.fromkeys(ids, truncate)
        infos: dict[str, dict[str, Any]] = {a: {} for a in ids}
        keep = np.zeros(0, np.int64) if truncate else report[~term]
        self._slots = keep
        self.agents = [names[s] for s in keep.tolist()]
        return obs, rewards, terminated, truncated, infos

    def render(self) -> None:
        return None

    def close(self) -> None:
        if self.universe is not None:
            self.universe.close()
            self.universe = None

    def state(self) -> np.ndarray:
        """The feature rows of every probe slot (dead ones included), (n_probes, 64)."""
        assert self.universe is not None
        return self.universe.observe().copy()


def parallel_env(**config: Any) -> UniverseParallelEnv:
    """``parallel_env(seed=42, probes=1, max_cycles=1000, reward="growth", max_probes=1000,
    engine_config=None, max_agents=None)``: see docs/research.md."""
    return UniverseParallelEnv(**config)
