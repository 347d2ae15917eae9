"""Reward presets: weights over the engine's reward components (docs/research.md "Rewards").

A step's reward for a probe is ``components @ weights``; the components (vec.REWARD_NAMES) are
counted by the engine in the step: children completed, the system explored by this probe's survey,
tonnes of cargo gained, survey levels reached, discoveries, hull lost, destroyed, alive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .vec import REWARD_NAMES, REWARDS

__all__ = ["DEFAULT_REWARD", "PRESETS", "RewardFn", "weights_of"]

#                     replicated explored mined_t surveys discoveries damage destroyed alive
PRESETS: dict[str, tuple[float, ...]] = {
    "growth": (1.0, 0.1, 0.01, 0.01, 0.0, -0.5, -1.0, 0.0),
    "exploration": (0.0, 1.0, 0.0, 0.05, 0.1, -0.5, -1.0, 0.0),
    "mining": (0.0, 0.0, 0.1, 0.01, 0.0, -0.5, -1.0, 0.0),
    "survival": (0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.01),
}
DEFAULT_REWARD = "growth"
assert all(len(w) == REWARDS for w in PRESETS.values()) and len(REWARD_NAMES) == REWARDS

# reward(components (n, REWARDS), obs (n, FEATURES)) -> (n,) rewards, for the slots given
RewardFn = Callable[[np.ndarray, np.ndarray], Any]


def weights_of(reward: str | Any) -> np.ndarray:
    """The weight vector of a preset name or of an explicit sequence of REWARDS numbers."""
    if isinstance(reward, str):
        if reward not in PRESETS:
            raise ValueError(
                f"unknown reward preset {reward!r}; presets: {', '.join(sorted(PRESETS))} "
                "(or pass a callable, or a sequence of "
                f"{REWARDS} weights over {', '.join(REWARD_NAMES)})"
            )
        return np.asarray(PRESETS[reward], np.float32)
    w = np.asarray(reward, np.float32)
    if w.shape != (REWARDS,):
        raise ValueError(f"reward weights must be {REWARDS} numbers, got shape {w.shape}")
    return w
