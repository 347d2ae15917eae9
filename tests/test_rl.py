"""universed.rl: VecUniverse against the pipe engine, the PettingZoo env, bad configuration, Ray.

The determinism test records a random action sequence (every action id, malformed parameters
included) on one VecUniverse, replays the arrays on a second one and, in lockstep, the equivalent
pipe action objects on `universe-sim --pipe`: all three must reach the same state hash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy", reason="universed.rl needs the rl extra")
pytest.importorskip("pettingzoo", reason="universed.rl needs the rl extra")

from universed.core.messages import ACTION_NAMES  # noqa: E402
from universed.core.simproc import find_sim_binary  # noqa: E402
from universed.rl import (  # noqa: E402
    ACTIONS,
    FEATURE_NAMES,
    FEATURES,
    N_ACTIONS,
    N_ACTIONS_V1,
    PARAMS,
    VecUniverse,
    parallel_env,
)
from universed.rl.policies import grow, random_policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
F = {name: i for i, name in enumerate(FEATURE_NAMES)}

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
    with pytest.raises(ValueError, match=r"action id 21 of slot 2 is not in 0\.\.20"):
        u.step(np.array([0, 1, 21, 0]))
    with pytest.raises(ValueError, match="action id -1 of slot 0"):
        u.step(np.array([-1, 0, 0, 0]))
    assert u.tick == 0  # nothing happened
    env = parallel_env()
    env.reset()
    with pytest.raises(ValueError, match="not live"):
        env.step({"1-7": [1, 0]})
    with pytest.raises(ValueError, match=r"\[action id, parameter\]"):
        env.step({"1-1": [1, 0, 3]})
    with pytest.raises(ValueError, match=r"action ids must be in 0\.\.12"):
        env.step({"1-1": [13, 0]})  # the env's space is the physical actions (encoding 1)
    with pytest.raises(ValueError, match="max_agents must be an integer >= probes"):
        parallel_env(probes=3, max_agents=2)


def test_parallel_api_test_with_births_and_deaths() -> None:
    from pettingzoo.test import parallel_api_test

    env = parallel_env(seed=3, probes=2, engine_config=LIVELY, max_probes=40)
    # the API test draws its actions unseeded and resets the env when an episode ends, so
    # births are counted over the whole run, not read off the last episode
    agents_seen: set[str] = set()
    step = env.step

    def counting_step(actions: Any) -> Any:
        out = step(actions)
        agents_seen.update(env.agents)
        return out

    env.step = counting_step  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=300)
    assert len(agents_seen) > 2  # children joined as agents


def test_children_join_and_destroyed_probes_terminate() -> None:
    env = parallel_env(seed=3, probes=2, engine_config=LIVELY, max_probes=40, max_cycles=400)
    obs, _ = env.reset()
    assert sorted(obs) == env.agents == ["1-1", "1-2"]
    rng = np.random.default_rng(1)
    joined, terminated = set(), set()
    while env.agents:
        before = set(env.agents)
        acts = {a: np.array([rng.integers(0, N_ACTIONS_V1), rng.integers(0, 6)]) for a in before}
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


def test_grow_policy_replicates_from_the_default_start() -> None:
    # the real engine at its default config (a 500 t recipe, 190 ticks of building): Bob alone
    for seed in (42, 1):
        u = VecUniverse(seed, 1)
        rng = np.random.default_rng(seed)
        obs = u.observe()
        first_birth = None
        for _ in range(2500):
            res = u.step(*grow(obs, rng), rewards=False)
            obs = res.obs
            if first_birth is None and len(res.born):
                first_birth = u.tick
                assert res.obs[res.born[0], F["generation"]] == 1
        assert first_birth is not None and first_birth < 2000, (seed, first_birth)
        assert u.alive >= 2 and u.n_probes == u.alive  # births, nobody lost
        assert obs[0, F["children"]] >= 1  # Bob is a parent


# Action encoding 2: every social action id, the pipe action object it stands for (written out by
# hand here, not taken from describe), and what it did, seen through the pipe's `probe` command
# (the two engines are in the same state: their hashes are compared after every tick).
MALFORMED = "malformed action"
NO_PROBE = "target probe unknown, destroyed or self"
VOTE_NO = {"type": "vote", "favor": False}
# the engine's action kinds (sim/src/world.h enum action_kind): the last_action feature
ENGINE_KINDS = (
    "wait", "survey", "mine", "repair", "navigate_to_body", "enter_orbit", "land", "launch",
    "scan", "travel_to_system", "replicate", "send_message", "place_beacon", "build_structure",
    "trade", "claim_system", "revoke_claim", "propose", "vote", "research", "share_tech",
)  # fmt: skip


def _social_script(tech_domain: int) -> list[tuple[int, int, list[float], Any, bool | str]]:
    """(slot, action id, params, pipe action object, True or the reason it is rejected)."""
    trade = {"type": "trade", "target": "1-2", "resource": "iron", "amount": 50.5}
    share = {"type": "share_tech", "target": "1-2", "domain": tech_domain}
    return [
        (0, 16, [], {"type": "claim_system"}, True),
        (1, 16, [], {"type": "claim_system"}, "system claimed by another probe"),
        (0, 17, [], {"type": "revoke_claim"}, True),
        (1, 16, [], {"type": "claim_system"}, True),
        (0, 14, [42], {"type": "place_beacon", "message": "42"}, True),
        (0, 18, [7], {"type": "propose", "text": "7"}, True),
        (1, 19, [0, 1], {"type": "vote", "proposal": 1, "favor": True}, True),  # 0: the latest
        (1, 19, [1, 0], {**VOTE_NO, "proposal": 1}, "already voted on this proposal"),
        (2, 19, [1, 0], {**VOTE_NO, "proposal": 1}, True),
        (2, 19, [1, 2], {"type": "vote"}, MALFORMED),  # favor 2
        (0, 13, [1, 99], {"type": "send_message", "target": "1-2", "content": "99"}, True),
        (2, 13, [-1, 5], {"type": "send_message", "target": "broadcast", "content": "5"}, True),
        (0, 13, [-2, 5], {"type": "send_message"}, MALFORMED),  # a target below -1
        (0, 15, [1, 0, 50.5], trade, True),
        (0, 15, [1, 0, 0], {"type": "trade"}, MALFORMED),  # amount 0
        (0, 15, [1, 0, np.nan], {"type": "trade"}, MALFORMED),
        (0, 15, [1, 9, 5], {"type": "trade"}, MALFORMED),  # resource 9
        # slot 9 is in range, but there is no such probe: the engine's rules reject it
        (0, 15, [9, 0, 5], {**trade, "target": "1-10", "amount": 5}, NO_PROBE),
        (0, 20, [1, tech_domain], share, True),
        (0, 20, [1, tech_domain], share, "target already at or above that tech level"),
        (0, 20, [1, 10], {"type": "share_tech"}, MALFORMED),  # domain 10
        (0, 0, [], None, True),  # wait: the messages arrive
        (0, 0, [], None, True),
    ]


def test_social_actions_of_encoding_2_reach_the_engine_as_through_the_pipe(
    tmp_path: Path,
) -> None:
    assert VecUniverse.ACTION_ENCODING_VERSION == 2 and N_ACTIONS == 21
    assert set(ACTIONS) == ACTION_NAMES  # every action the engine accepts has an id
    assert ACTIONS[:13] == (  # encoding 1's ids keep their meaning
        "wait", "survey", "mine", "repair", "navigate_to_body", "enter_orbit", "land",
        "launch", "scan", "travel_to_system", "replicate", "research", "build_structure",
    )  # fmt: skip
    assert ACTIONS[13:] == (
        "send_message", "place_beacon", "trade", "claim_system", "revoke_claim", "propose",
        "vote", "share_tech",
    )  # fmt: skip
    pipe = Pipe(5, 3)
    try:
        # 1-1 finds a derelict (iron to trade) and gains a tech level (something to share)
        for sub in ("derelict", "tech_insight"):
            ev = {"type": "discovery", "subtype": sub, "probe_id": "1-1"}
            pipe({"cmd": "inject", "event": ev})
        a = pipe({"cmd": "probe", "probe_id": "1-1"})["probe"]
        b = pipe({"cmd": "probe", "probe_id": "1-2"})["probe"]
        domain = next(d for d in range(10) if a["tech"][d] > b["tech"][d])
        iron0 = a["cargo"]["iron"]
        path = tmp_path / "start.sav"
        pipe({"cmd": "save", "path": str(path)})
        u = VecUniverse(5, 1)
        u.load(path)
        assert u.hash() == pipe({"cmd": "hash"})["hash"]
        for slot, action, p, obj, verdict in _social_script(domain):
            params = np.zeros((u.n_probes, PARAMS), np.float32)
            params[slot, : len(p)] = p
            assert u.describe(slot, action, params[slot]) == obj, (action, p)
            actions = np.zeros(u.n_probes, np.int32)
            actions[slot] = action
            res = u.step(actions, params)
            acts = {f"1-{slot + 1}": obj} if obj is not None else {}
            reply = pipe({"cmd": "tick", "actions": acts, "observe": "none"})
            assert reply["tick"] == u.tick
            assert u.hash() == pipe({"cmd": "hash"})["hash"], (action, p)
            if not action:
                continue
            last = pipe({"cmd": "probe", "probe_id": f"1-{slot + 1}"})["probe"]["last_action"]
            # a malformed action is a wait, rejected; the others reach the engine's rules
            name = "wait" if verdict == MALFORMED else ACTIONS[action]
            assert last["action"] == name and last["ok"] is (verdict is True), (obj, last)
            assert last["reason"] == (None if verdict is True else verdict), (obj, last)
            # the feature row shows the engine's action kind and its verdict
            assert res.obs[slot, F["last_action"]] == ENGINE_KINDS.index(name)
            assert res.obs[slot, F["last_ok"]] == (verdict is True)
        # the effects, in the pipe's observations (the same state as ours: same hash)
        p1, p2, p3 = (pipe({"cmd": "probe", "probe_id": f"1-{i}"})["probe"] for i in (1, 2, 3))
        assert [c["claimant"] for c in p1["claims"]] == ["1-2"]
        assert [bc["message"] for bc in p1["visible_beacons"]] == ["42"]
        [prop] = p1["proposals"]
        assert (prop["id"], prop["text"], prop["votes_for"], prop["votes_against"]) == (
            1,
            "7",
            1,
            1,
        )
        assert {(m["from"], m["content"], m["broadcast"]) for m in p2["inbox"]} == {
            ("1-1", "99", False),
            ("1-3", "5", True),
        }
        assert [m["content"] for m in p1["inbox"]] == ["5"]
        assert p2["cargo"]["iron"] == 50.5 and p1["cargo"]["iron"] == iron0 - 50.5
        assert p2["tech"][domain] == a["tech"][domain]
        assert "1-2" in p1["trust"]  # the trade and the shared tech built trust
        obs = u.observe()
        assert obs[1, F["cargo_iron"]] == np.float32(50.5e-4)
        assert obs[1, F["tech_propulsion"] + domain] == a["tech"][domain]
        assert p3["last_action"]["action"] == "wait"
    finally:
        pipe.close()


def test_rllib_env_keeps_agent_ids_within_the_declared_set() -> None:
    pytest.importorskip("ray.rllib", reason="RLlib is the ray extra")
    from universed.rl.ray import make_rllib_env

    env = make_rllib_env(
        {"seed": 3, "probes": 2, "engine_config": LIVELY, "max_probes": 10, "max_agents": 12}
    )
    assert env.possible_agents == [f"1-{i}" for i in range(1, 13)]
    rng = np.random.default_rng(2)
    obs, _ = env.reset()
    seen, done = set(obs), False
    for _ in range(1000):
        acts = {a: env.action_space.sample() for a in obs if a in env.agents}
        acts.update({a: np.array([10, 0]) for a in acts if rng.random() < 0.5})  # replicate
        obs, _, term, trunc, _ = env.step(acts)
        seen |= set(obs)
        assert set(obs) <= set(env.possible_agents) and set(env.agents) <= set(obs)
        if term["__all__"] or trunc["__all__"]:
            done = True
            break
    # births went beyond 12 probe slots: the episode ended there, every reported id declared
    assert done and trunc["__all__"] and len(seen) > 2
    assert env.par.universe is not None and env.par.universe.n_probes > 12


PPO_ONE_ITERATION = ["--iterations", "1", "--batch", "250", "--json"]


@pytest.mark.skipif(os.environ.get("UNIVERSED_SKIP_RAY") == "1", reason="UNIVERSED_SKIP_RAY=1")
def test_rllib_ppo_example_trains_an_iteration() -> None:
    pytest.importorskip("ray.rllib", reason="RLlib is the ray extra")
    pytest.importorskip("torch", reason="the PPO example needs torch (the train extra)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rllib_ppo.py"), *PPO_ONE_ITERATION],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    [row] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert row["iteration"] == 1 and row["env_steps"] >= 250 and row["episodes"] >= 1
    # children joined the episodes as agents and the growth reward paid for them
    assert row["agents_per_episode"] > 2 and row["episode_return_mean"] > 0
    assert row["agent_steps"] > row["env_steps"]
