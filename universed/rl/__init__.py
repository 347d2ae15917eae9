"""universed.rl: the engine for research at scale (docs/research.md).

``VecUniverse`` steps every probe of one universe in-process with numpy arrays;
``parallel_env(**config)`` is a PettingZoo ParallelEnv over it; ``universed.rl.ray`` runs many
universes on Ray (RLlib registration, ``UniverseActor``, ``python -m universed.rl.sweep``).
Needs the ``rl`` extra (numpy, gymnasium, pettingzoo); Ray is the ``ray`` extra. The daemon never
imports this package.
"""

from __future__ import annotations

from typing import Any

from .vec import (
    ACTION_ENCODING_VERSION,
    ACTIONS,
    FEATURE_NAMES,
    FEATURES,
    N_ACTIONS,
    N_ACTIONS_V1,
    PARAMS,
    REWARD_NAMES,
    REWARDS,
    VERSION,
    StepResult,
    VecUniverse,
    find_library,
)

__all__ = [
    "ACTIONS",
    "ACTION_ENCODING_VERSION",
    "FEATURES",
    "FEATURE_NAMES",
    "N_ACTIONS",
    "N_ACTIONS_V1",
    "PARAMS",
    "REWARDS",
    "REWARD_NAMES",
    "VERSION",
    "StepResult",
    "VecUniverse",
    "find_library",
    "parallel_env",
]


def parallel_env(**config: Any) -> Any:
    """A PettingZoo ParallelEnv (universed.rl.env.UniverseParallelEnv); needs pettingzoo."""
    from .env import parallel_env as make

    return make(**config)
