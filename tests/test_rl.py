"""universed.rl: VecUniverse against the pipe engine, the PettingZoo env, bad configuration, Ray.

The determinism test records a random action sequence (every action id, malformed parameters
included) on one VecUniverse, replays the arrays on a second one and, in lockstep, the equivalent
pipe action objects on `universe-sim --pipe`: all three must reach the same state hash.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy", reason="universed.rl needs the rl extra")
pytest.importorskip("pettingzoo", reason="universed.rl needs the rl extra")

from universed.core.simproc import find_sim_binary  # noqa: E402
from universed.rl import FEATURES, N_ACTIONS, PARAMS, VecUniverse, parallel_env  # noqa: E402
from universed.rl.policies import grow, random_policy  # noqa: E402

# fast births and frequent deadly hazards: agents join and terminate within a few hundred ticks
LIVELY = {
    "replication_cost_scale": 0.0,
    "replication_time_scale": 0.05,
    "event_freq_hazard": 0.02,
    "hazard_damage_scale": 30.0,
    "travel_speed_scale": 50.0,
}


class Pipe:
    def __init__(self, seed: int, populate: int) -> None:
        self.proc = subprocess.Popen(
            [str(find_sim_binary()), "--pipe", "--seed", str(seed), "--populate", str(populate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def __call__(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        self.proc.stdin.flush()
        reply: dict[str, Any] = json.loads(self.proc.stdout.readline())
        assert reply["ok"], reply
        return reply

    def close(self) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()  # EOF: the engine exits
        self.proc.wait(10)
        self.proc.stdout.close()


def test_same_hash_as_the_pipe_on_a_recorded_action_sequence(tmp_path: Path) -> None:
    seed, populate, ticks = 11, 3, 300
    rng = np.random.default_rng(5)
    recorder = VecUniverse(seed, populate, {**LIVELY, "max_probes": 60})
    recorded = []
    for _ in range(ticks):
        n = recorder.n_probes
        actions = rng.integers(0, N_ACTIONS, n, dtype=np.int32)
        params = rng.integers(-1, 7, (n, PARAMS)).astype(np.float32)
        params[rng.random((n, PARAMS)) < 0.02] = np.nan  # malformed
        recorder.step(actions, params)
        recorded.append((actions, params))
    assert recorder.n_probes > populate and recorder.alive < recorder.n_probes  # births, deaths

    replay = VecUniverse(seed, populate, {**LIVELY, "max_probes": 60})
    pipe = Pipe(seed, populate)
    try:
        pipe({"cmd": "config", "data": {**LIVELY, "max_probes": 60}})
        for t, (actions, params) in enumerate(recorded):
            acts = {}
            for slot in np.flatnonzero(actions).tolist():
                acts[f"1-{slot + 1}"] = replay.describe(slot, int(actions[slot]), params[slot])
            reply = pipe({"cmd": "tick", "actions": acts, "observe": "none"})
            res = replay.step(actions, params)
            assert [f"1-{s + 1}" for s in res.born] == reply["born"]
            assert [f"1-{s + 1}" for s in res.died] == reply["destroyed"]
            if t % 100 == 99:
                assert pipe({"cmd": "hash"})["hash"] == replay.hash()
        assert replay.hash() == recorder.hash() == pipe({"cmd": "hash"})["hash"]
        # save/load and snapshot/restore round-trip the state; the pipe loads our save file
        path = tmp_path / "u.sav"
        replay.save(path)
        assert pipe({"cmd": "load", "path": str(path)})["hash"] == replay.hash()
    finally:
        pipe.close()
    snap = replay.snapshot()
    h = replay.hash()
    replay.step()
    assert replay.hash() != h
    replay.restore(snap)
    assert replay.hash() == h
    replay.step()
    replay.load(path)
    assert replay.hash() == h
    with pytest.raises(ValueError, match="snapshot unusable"):
        replay.restore(snap[:-3])


def test_vectorized_step_arrays() -> None:
    u = VecUniverse(1, 500)
    rng = np.random.default_rng(0)
    obs = u.observe()
    assert obs.shape == (500, FEATURES) and obs.dtype == np.float32 and (obs[:, 0] == 1).all()
    for _ in range(20):
        res = u.step(*random_policy(obs, rng))
        obs = res.obs
    assert res.rewards.shape == (500,) and res.terminated.dtype == bool
    a, p = grow(obs, rng)
    assert a.shape == (500,) and p.shape == (500, PARAMS)


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown reward preset 'fame'.*growth"):
        parallel_env(reward="fame")
    with pytest.raises(ValueError, match="probes must be >= 1"):
        parallel_env(probes=-3)
    with pytest.raises(ValueError, match="probes must be >= 1"):
        VecUniverse(1, -1)
    with pytest.raises(ValueError, match="unknown config key 'warp'"):
        parallel_env(engine_config={"warp": 9})
    with pytest.raises(ValueError, match="max_probes"):
        VecUniverse(1, 1, {"max_probes": 0})
    u = VecUniverse(1, 4)
    with pytest.raises(ValueError, match=r"actions must have shape \(4,\).*\(3,\)"):
        u.step(np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"params must have shape \(4, 4\)"):
        u.step(np.zeros(4, np.int32), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="must be integers"):
        u.step(np.zeros(4))
    with pytest.raises(ValueError, match="action id 13 of slot 2"):
        u.step(np.array([0, 1, 13, 0]))
    assert u.tick == 0  # nothing happened
    env = parallel_env()
    env.reset()
    with pytest.raises(ValueError, match="not live"):
        env.step({"1-7": [1, 0]})
    with pytest.raises(ValueError, match=r"\[action id, parameter\]"):
        env.step({"1-1": [1, 0, 3]})


def test_parallel_api_test_with_births_and_deaths() -> None:
    from pettingzoo.test import parallel_api_test

    env = parallel_env(seed=3, probes=2, engine_config=LIVELY, max_probes=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=300)
    assert env.universe is not None and env.universe.n_probes > 2


def test_children_join_and_destroyed_probes_terminate() -> None:
    env = parallel_env(seed=3, probes=2, engine_config=LIVELY, max_probes=40, max_cycles=400)
    obs, _ = env.reset()
    assert sorted(obs) == env.agents == ["1-1", "1-2"]
    rng = np.random.default_rng(1)
    joined, terminated = set(), set()
    while env.agents:
        before = set(env.agents)
        acts = {a: np.array([rng.integers(0, N_ACTIONS), rng.integers(0, 6)]) for a in before}
        obs, rew, term, trunc, _ = env.step(acts)
        new = set(obs) - before
        joined |= new
        assert all(obs[a][0] == 1 for a in new) and all(rew[a] == 0 for a in new)
        dead = {a for a, t in term.items() if t}
        terminated |= dead
        assert not dead & set(env.agents)
        if not any(trunc.values()):
            assert new - dead <= set(env.agents)
        assert set(env.agents) <= set(env.possible_agents)
    assert joined and terminated
    # the default reward ("growth") paid the parents and charged the destroyed
    assert env.universe is not None


def test_reward_presets_and_callable() -> None:
    for preset in ("growth", "exploration", "mining", "survival"):
        parallel_env(reward=preset).reset()
    env = parallel_env(reward=lambda comp, obs: comp[:, 7] * 2.0, probes=3)
    env.reset()
    _, rew, *_ = env.step({a: [0, 0] for a in env.agents})
    assert rew == {"1-1": 2.0, "1-2": 2.0, "1-3": 2.0}


@pytest.mark.skipif(os.environ.get("UNIVERSED_SKIP_RAY") == "1", reason="UNIVERSED_SKIP_RAY=1")
def test_sweep_on_a_local_ray_instance() -> None:
    ray = pytest.importorskip("ray", reason="Ray is the ray extra")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from universed.rl.sweep import sweep

    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Ray could not start a local instance here: {exc}")
    try:
        out = sweep([1, 2], 200, "random", probes=50)
        from universed.rl.ray import UniverseActor, register

        actor = UniverseActor.remote(1, 50, "random")  # type: ignore[attr-defined]
        again = ray.get(actor.run.remote(200))
        ray.kill(actor)
        assert register() == "universed"
    finally:
        ray.shutdown()
    first = out["universes"][0]
    assert [u["seed"] for u in out["universes"]] == [1, 2]
    assert first["tick"] == 200 and first["population"] >= 1 and len(first["hash"]) == 16
    assert again["hash"] == first["hash"]  # the same seed gives the same hash on any worker
    local = VecUniverse(1, 50)
    r = np.random.default_rng(1)
    obs = local.observe()
    for _ in range(200):
        obs = local.step(*random_policy(obs, r), rewards=False).obs
    assert local.hash() == first["hash"]
