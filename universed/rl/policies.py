"""Bundled vectorized policies for sweeps and benchmarks: features in, (actions, params) out.

A policy is ``policy(obs, rng) -> (actions int32 (n,), params float32 (n, PARAMS))`` over the
feature rows of every probe slot (dead slots may get any action; the engine rejects it).
``random``: uniform ids of the physical actions (0-12, action encoding 1) and parameters.
``grow``: a rule policy that goes from body to body until one is rich in what the replication
recipe still lacks, orbits, lands, surveys to the top level, mines, replicates when the cargo
holds a recipe, and (children) now and then travels to an unexplored neighbour.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .vec import FEATURE_NAMES, N_ACTIONS_V1, PARAMS

__all__ = ["POLICIES", "Policy", "grow", "random_policy"]

Policy = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
F = {name: i for i, name in enumerate(FEATURE_NAMES)}
# the replication recipe in the cargo features' unit (kg / 1e4), docs/universe.md
RECIPE = np.array([20, 12, 1.5, 4, 8, 1, 3, 0.45, 0.05], np.float32)
# the richest body type's mean abundance of each resource (docs/universe.md, "Abundances"): a
# body is worth mining for a resource when its abundance is at least GOOD times that; the bulk
# of the recipe (iron, silicon, hydrogen) is worth looking further for
TYPE_MAX = np.array([0.70, 0.60, 0.12, 0.90, 0.95, 0.30, 0.25, 0.06, 0.010], np.float32)
GOOD = np.array([0.75, 0.75, 0.5, 0.5, 0.6, 0.4, 0.4, 0.4, 0.4], np.float32)
GAS = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0], bool)  # what a giant yields from orbit
GAS_GIANT, ICE_GIANT, ASTEROID_BELT = 4, 5, 8  # body types
LANDED, ORBITING, IN_SYSTEM = 3, 2, 1  # locations
MINE, LAUNCH = 2, 7  # engine action kinds (the last_action feature)
EXPLORE = 0.02  # chance that a child leaving a body leaves the system for an unexplored one


def random_policy(obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(obs)
    actions = rng.integers(0, N_ACTIONS_V1, n, dtype=np.int32)
    params = np.zeros((n, PARAMS), np.float32)
    params[:, 0] = rng.integers(0, 9, n)
    return actions, params


def grow(obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gather the replication recipe in the current system, replicate, now and then explore.

    A feature row shows only the current body, so the policy judges the body it is at: a body is
    worth working where a resource the recipe still lacks can be mined from there (landed: any;
    orbiting a belt: any; orbiting a giant: hydrogen and helium3) at an abundance of at least
    ``GOOD`` (0.4 to 0.75, per resource) times the richest body type's. There the probe orbits
    (and lands if it can), surveys to level 4 (mining yield x2.5 over level 1) and mines the
    richest such resource; at any other body, or when mining fails (a deposit exhausted), it
    moves to another random body of the system. Children moving on sometimes leave for an
    unexplored neighbour system instead. Stateless: the same rows and rng give the same actions.
    """
    n = len(obs)
    act = np.zeros(n, np.int32)
    par = np.zeros((n, PARAMS), np.float32)
    loc = obs[:, F["location"]]
    landed, orbiting, in_sys = loc == LANDED, loc == ORBITING, loc == IN_SYSTEM
    idle = (obs[:, F["alive"]] > 0) & (obs[:, F["activity"]] == 0)
    body = obs[:, F["body"]]
    btype = obs[:, F["body_type"]]
    landable = obs[:, F["landable"]] > 0
    n_bodies = np.maximum(obs[:, F["n_bodies"]], 1)
    cargo = obs[:, F["cargo_iron"] : F["cargo_iron"] + 9]
    last, last_ok = obs[:, F["last_action"]], obs[:, F["last_ok"]] > 0
    giant = (btype == GAS_GIANT) | (btype == ICE_GIANT)
    # what each lacking resource of this body is worth (1 = as rich as the richest body type)
    worth = np.where(cargo < RECIPE, obs[:, F["abundance_iron"] : F["abundance_iron"] + 9], 0.0)
    worth /= TYPE_MAX
    # minable from this body at all (landed, or from orbit), and from where the probe is now
    could = np.where(giant[:, None], GAS[None, :], True)
    here = could & (landed | (orbiting & ~landable))[:, None]
    body_good = (body >= 0) & (np.where(could, worth - GOOD, -1.0).max(1) >= 0)
    body_good &= ~((last == MINE) & ~last_ok)  # a deposit ran out: move on
    score = np.where(here & (worth >= GOOD), worth, 0.0)
    best = score.argmax(1)

    # repair before the hull gets dangerous (10 kg of iron a go)
    hurt = idle & (obs[:, F["hull"]] < 0.6) & (cargo[:, 0] >= 0.001)
    act[hurt] = 3
    # replicate as soon as a recipe is aboard (anywhere in a system)
    rep = idle & ~hurt & (obs[:, F["replicate_ready"]] >= 1)
    act[rep] = 10
    todo = idle & ~hurt & ~rep
    # at a good body: orbit, land if it can be landed on, survey to the top, mine
    act[todo & in_sys & body_good] = 5
    act[todo & orbiting & landable & body_good] = 6
    work = todo & body_good & here.any(1) & (landed | (orbiting & ~landable))
    survey = work & (obs[:, F["body_survey"]] < 4)
    act[survey] = 1
    mine = work & ~survey
    act[mine] = 2
    par[mine, 0] = best[mine]
    # no body, or nothing worth it here: launch from the surface, then move to another body
    act[todo & landed & ~body_good] = 7
    leave = todo & ~landed & (~body_good | (orbiting & (last == LAUNCH) & last_ok))
    leave &= in_sys | orbiting
    pick = np.floor(rng.random(n) * n_bodies)
    other = (body + 1 + np.floor(rng.random(n) * np.maximum(n_bodies - 1, 1))) % n_bodies
    act[leave] = 4
    par[leave, 0] = np.where(body >= 0, other, pick)[leave]
    # children moving on sometimes leave the system for an unexplored neighbour instead
    unexplored = obs[:, F["neighbor0_explored"] : F["neighbor0_explored"] + 4] == 0
    go = leave & (obs[:, F["generation"]] > 0) & unexplored.any(1) & (rng.random(n) < EXPLORE)
    act[go] = 9
    par[go, 0] = unexplored[go].argmax(1)
    return act, par


POLICIES: dict[str, Policy] = {"random": random_policy, "grow": grow}
