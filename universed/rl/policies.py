"""Bundled vectorized policies for sweeps and benchmarks: features in, (actions, params) out.

A policy is ``policy(obs, rng) -> (actions int32 (n,), params float32 (n, PARAMS))`` over the
feature rows of every probe slot (dead slots may get any action; the engine rejects it).
``random``: uniform action ids and parameters. ``grow``: a rule policy that goes to a body,
orbits, lands, surveys, mines what the replication recipe still lacks, replicates when the cargo
holds a recipe, and now and then travels to an unexplored neighbour.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .vec import FEATURE_NAMES, N_ACTIONS, PARAMS

__all__ = ["POLICIES", "Policy", "grow", "random_policy"]

Policy = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
F = {name: i for i, name in enumerate(FEATURE_NAMES)}
# the replication recipe in the cargo features' unit (kg / 1e4), docs/universe.md
RECIPE = np.array([20, 12, 1.5, 4, 8, 1, 3, 0.45, 0.05], np.float32)


def random_policy(obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(obs)
    actions = rng.integers(0, N_ACTIONS, n, dtype=np.int32)
    params = np.zeros((n, PARAMS), np.float32)
    params[:, 0] = rng.integers(0, 9, n)
    return actions, params


def grow(obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(obs)
    act = np.zeros(n, np.int32)
    par = np.zeros((n, PARAMS), np.float32)
    loc = obs[:, F["location"]]
    idle = (obs[:, F["alive"]] > 0) & (obs[:, F["activity"]] == 0)
    body = obs[:, F["body"]]
    cargo = obs[:, F["cargo_iron"] : F["cargo_iron"] + 9]
    abundance = obs[:, F["abundance_iron"] : F["abundance_iron"] + 9]
    ready = obs[:, F["replicate_ready"]] >= 1
    landed, orbiting, in_sys = loc == 3, loc == 2, loc == 1
    # replicate when the recipe is aboard (from orbit or the body; launch first when landed)
    rep = idle & ready
    act[rep & ~landed] = 10
    act[rep & landed] = 7
    todo = idle & ~ready
    # no body: go to a random one
    nob = todo & in_sys & (body < 0)
    act[nob] = 4
    par[nob, 0] = np.floor(rng.random(int(nob.sum())) * np.maximum(obs[nob, F["n_bodies"]], 1))
    act[todo & in_sys & (body >= 0)] = 5  # at a body: orbit
    orb = todo & orbiting
    act[orb & (obs[:, F["landable"]] > 0)] = 6
    # on (or around a non-landable) body: survey, then mine what the recipe lacks
    work = todo & (landed | (orbiting & (obs[:, F["landable"]] == 0)))
    survey = work & (obs[:, F["body_survey"]] < 1)
    act[survey] = 1
    mine = work & ~survey
    want = np.where(cargo < RECIPE, abundance, 0.0)
    res = want.argmax(1)
    has = want.max(1) > 0
    act[mine & has] = 2
    par[mine & has, 0] = res[mine & has]
    # nothing worth mining, or the last action failed: leave (launch from the surface) or move on
    stuck = mine & (~has | (obs[:, F["last_ok"]] == 0))
    act[stuck & landed] = 7
    leave = stuck & ~landed
    explore = leave & (rng.random(n) < 0.02)
    unexplored = obs[:, F["neighbor0_explored"] : F["neighbor0_explored"] + 4] == 0
    act[leave] = 4
    n_bodies = np.maximum(obs[leave, F["n_bodies"]], 1)
    par[leave, 0] = np.floor(rng.random(int(leave.sum())) * n_bodies)
    go = explore & unexplored.any(1)
    act[go] = 9
    par[go, 0] = unexplored[go].argmax(1)
    return act, par


POLICIES: dict[str, Policy] = {"random": random_policy, "grow": grow}
