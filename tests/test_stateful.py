"""Stateful property tests: random interleavings of operations against a real daemon.

A hypothesis ``RuleBasedStateMachine`` drives one daemon (paused, with a state directory, so the
journal is on) through ticks, mode changes, inject, config, snapshot/restore, save/load, agents
joining, acting and dropping, and SIGKILLs of the sim child. The daemon runs in its own thread
(``trio.run``); the machine calls into it with ``trio.from_thread``. Invariants:

* no response is a 5xx;
* the tick moves by exactly the ticks asked for, and only a restore or a load moves it otherwise
  (a sim kill is invisible: same tick, same hash);
* after a restore (or a load) the state hash equals the hash at its snapshot (or save);
* at the end of every run, replaying the journal from its oldest checkpoint in a private sim
  reproduces the live tick and hash (``replay_journal``, what ``universed verify`` runs).

Profiles: the short one runs in ``make test`` (a few examples, < 60 s); ``UNIVERSED_STATEFUL=long``
(``make soak``) runs thousands of steps. ``UNIVERSED_STATEFUL_EXAMPLES`` / ``_STEPS`` override.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from helpers import agent, http, register, running_daemon, send
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

pytestmark = pytest.mark.e2e

LONG = os.environ.get("UNIVERSED_STATEFUL", "") == "long"
# The journal-replay check at teardown (UNIVERSED_STATEFUL_REPLAY=0 switches it off).
REPLAY = os.environ.get("UNIVERSED_STATEFUL_REPLAY", "1") == "1"
EXAMPLES = int(os.environ.get("UNIVERSED_STATEFUL_EXAMPLES", "60" if LONG else "8"))
STEPS = int(os.environ.get("UNIVERSED_STATEFUL_STEPS", "80" if LONG else "30"))
PROBES = ("1-1", "1-2", "1-3")
ACTIONS = ("survey", "wait", "scan", "repair", "enter_orbit", "launch", "replicate")


class DaemonThread:
    """One daemon in a thread of its own; ``call`` runs a coroutine function in its trio loop."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self.ready.wait(60) or self.error:
            raise RuntimeError(f"daemon did not start: {self.error!r}")

    def _main(self) -> None:
        try:
            trio.run(self._amain)
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self.ready.set()

    async def _amain(self) -> None:
        async with running_daemon(
            state_dir=str(self.state_dir), sim_args=("--populate", "3")
        ) as daemon:
            self.daemon = daemon
            self.token = trio.lowlevel.current_trio_token()
            self.stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.ready.set()
                await self.stop.wait()
                nursery.cancel_scope.cancel()

    def call(self, fn: Any, *args: Any, limit: float = 30.0) -> Any:
        async def bounded() -> Any:
            with trio.fail_after(limit):  # a hang becomes a failure, not a stuck suite
                return await fn(*args)

        return trio.from_thread.run(bounded, trio_token=self.token)

    def close(self) -> None:
        trio.from_thread.run_sync(self.stop.set, trio_token=self.token)
        self.thread.join(30)


async def agent_task(
    port: int,
    probe: str,
    inbox: trio.MemoryReceiveChannel[str],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A WebSocket agent controlling ``probe``: sends the actions it is given until dropped."""
    async with agent(port) as ws:
        await register(ws, probe)
        task_status.started()
        async for action in inbox:
            await send(ws, {"action": action})
    # leaving the block closes the connection: the agent dropped


class DaemonMachine(RuleBasedStateMachine):
    snapshots = Bundle("snapshots")
    saves = Bundle("saves")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(os.environ["STATEFUL_TMP"]) / f"run{time.monotonic_ns()}"
        self.d = DaemonThread(self.tmp / "state")
        self.port = self.d.daemon.port
        self.agents: dict[str, trio.MemorySendChannel[str]] = {}
        self.n = 0
        self.steps = 0

    # ------------------------------------------------------------------ plumbing
    def req(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, reply = self.d.call(http, self.port, method, path, body)
        self.steps += 1
        RULES[f"{method} {path}"] = RULES.get(f"{method} {path}", 0) + 1
        assert status < 500, (method, path, body, status, reply)
        return status, reply

    def state(self) -> tuple[int, str]:
        status, s = self.req("GET", "/api/state")
        assert status == 200, s
        return s["tick"], s["hash"]

    @initialize()
    def start(self) -> None:
        self.cur, self.hash = self.state()

    # ------------------------------------------------------------------ rules
    @rule(count=st.integers(1, 4))
    def tick(self, count: int) -> None:
        status, r = self.req("POST", "/api/tick", {"count": count})
        assert status == 200, r
        tick, _ = self.state()
        assert tick == self.cur + count, (self.cur, count, tick)
        self.cur = tick

    @rule(mode=st.sampled_from(["paused", "realtime", "turbo", "step", "bogus"]))
    def mode(self, mode: str) -> None:
        _status, _r = self.req("POST", "/api/mode", {"mode": mode})
        # whatever the mode, set it back to paused at once, so the tick stays ours to count
        self.req("POST", "/api/mode", {"mode": "paused"})
        self.req("POST", "/api/pause")
        tick, _ = self.state()
        assert tick >= self.cur  # it may have run a few ticks meanwhile, never backwards
        self.cur = tick

    @rule(
        kind=st.sampled_from(["hazard", "discovery", "anomaly", "nonsense"]),
        probe=st.sampled_from((*PROBES, "9-9")),
        severity=st.floats(0, 1.5),
    )
    def inject(self, kind: str, probe: str, severity: float) -> None:
        before = self.state()
        status, _r = self.req(
            "POST",
            "/api/inject",
            {"event": {"type": kind, "severity": severity}, "probe_id": probe},
        )
        if status != 200:
            assert self.state() == before  # a refused inject changes nothing

    @rule(
        key=st.sampled_from(
            ["event_freq_hazard", "mining_rate_scale", "max_probes", "no_such_key"]
        ),
        value=st.one_of(st.floats(-1, 2e9, allow_nan=False), st.just("1.5"), st.just("x")),
    )
    def config(self, key: str, value: Any) -> None:
        before = self.state()
        status, _r = self.req("POST", "/api/config", {key: value})
        if status != 200:
            assert self.state() == before  # a refused config changes nothing

    @rule(target=snapshots)
    def snapshot(self) -> tuple[str, int, str]:
        self.n += 1
        tag = f"s{self.n}"
        status, r = self.req("POST", "/api/snapshot", {"tag": tag})
        assert status == 200, r
        tick, h = self.state()
        assert tick == self.cur == r["tick"]
        return (tag, tick, h)

    @rule(snap=snapshots)
    def restore(self, snap: tuple[str, int, str]) -> None:
        tag, tick, h = snap
        status, r = self.req("POST", "/api/restore", {"tag": tag})
        if status == 200:
            assert self.state() == (tick, h), ("restore", snap)
            self.cur, self.hash = tick, h
        else:  # evicted (32 in-memory snapshots at most): nothing changed
            assert status in (404, 409), r
            assert self.state()[0] == self.cur

    @rule(target=saves)
    def save(self) -> tuple[str, int, str]:
        self.n += 1
        name = f"f{self.n}.usim"
        status, r = self.req("POST", "/api/save", {"path": name})
        assert status == 200, r
        tick, h = self.state()
        return (name, tick, h)

    @rule(saved=saves)
    def load(self, saved: tuple[str, int, str]) -> None:
        name, tick, h = saved
        status, r = self.req("POST", "/api/load", {"path": name})
        assert status == 200, r
        assert self.state() == (tick, h), ("load", saved)
        self.cur = tick

    @precondition(lambda self: len(self.agents) < 3)
    @rule(probe=st.sampled_from(PROBES))
    def join(self, probe: str) -> None:
        if probe in self.agents:
            return
        send_ch, recv_ch = trio.open_memory_channel[str](16)
        try:
            self.d.call(self.d.nursery.start, agent_task, self.port, probe, recv_ch)
        except Exception:
            return
        self.agents[probe] = send_ch
        RULES["agent join"] = RULES.get("agent join", 0) + 1

    @precondition(lambda self: bool(self.agents))
    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        probe = data.draw(st.sampled_from(sorted(self.agents)))
        action = data.draw(st.sampled_from(ACTIONS))
        self.d.call(self.agents[probe].send, action)
        RULES["agent act"] = RULES.get("agent act", 0) + 1

    @precondition(lambda self: bool(self.agents))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        probe = data.draw(st.sampled_from(sorted(self.agents)))
        self.d.call(self.agents.pop(probe).aclose)

    @rule()
    def kill_sim(self) -> None:
        before = self.state()
        pid = self.d.daemon.sim.pid
        if pid:
            os.kill(pid, signal.SIGKILL)
            RULES["sim kill"] = RULES.get("sim kill", 0) + 1
        deadline = time.monotonic() + 30
        while self.d.daemon.sim.pid in (None, pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.state() == before, "a sim kill lost or changed state"

    # ------------------------------------------------------------------ invariants
    @invariant()
    def tick_only_moves_by_our_hand(self) -> None:
        if hasattr(self, "cur"):
            assert self.state()[0] == self.cur

    def teardown(self) -> None:
        try:
            if hasattr(self, "cur") and REPLAY:
                live = self.state()
                for ch in list(self.agents.values()):
                    self.d.call(ch.aclose)
                result = self.d.call(replay_from_start, self.tmp / "state")
                assert result.ok and (result.tick, result.hash) == live, (result, live)
        finally:
            self.d.close()
            STEPS_RUN.append(self.steps)


async def replay_from_start(state_dir: Path) -> Any:
    """``universed verify`` in-process: the journal from its oldest checkpoint in a private sim."""
    from universed.core.simproc import SimSupervisor, find_sim_binary
    from universed.core.store import SqliteJournal, replay_journal

    journal = SqliteJournal(state_dir, readonly=True)
    sim = SimSupervisor(find_sim_binary(""), seed=0, timeout=120.0)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run)
            try:
                return await replay_journal(sim.request, journal)
            finally:
                nursery.cancel_scope.cancel()
    finally:
        journal.close()


STEPS_RUN: list[int] = []
RULES: dict[str, int] = {}

DaemonMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=not LONG,  # make test: the same runs every time; the long profile explores
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if LONG else []),
)


def test_daemon_state_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATEFUL_TMP", str(tmp_path))
    t0 = time.monotonic()
    DaemonMachine.TestCase("runTest").runTest()
    print(
        f"\nstateful: {len(STEPS_RUN)} runs, {sum(STEPS_RUN)} requests, "
        f"{time.monotonic() - t0:.1f}s; {dict(sorted(RULES.items()))}"
    )
    assert RULES.get("POST /api/restore") and RULES.get("POST /api/load"), RULES
