"""The tick engine: gathers actions, advances the sim, routes observations.

Modes (switchable at run time with `Engine.set_mode`):

* ``realtime``: a tick every ``1/tick_rate`` s, scheduled on absolute times (drift-corrected; if
  the loop falls more than a period behind, the schedule restarts from now instead of bursting).
  A tick also waits for the remote agents' actions, at most ``agent_timeout`` after their
  observations were sent.
* ``lockstep``: a tick as soon as every remotely controlled probe has an action, or when the
  timeout fires: as fast as the agents allow (without remote agents, as fast as the sim goes).
* ``paused``: no ticks except `Engine.manual_tick` (``POST /api/tick``).

One tick: the open `ActionWindow` is closed; in-process policies decide for their probes, probes
without an action get the fallback policy's; the sim ticks; observations are delivered to the
controllers (never blocking: remote deliveries are queued per connection); a new window opens;
the dashboard hub gets one message. A slow agent only costs its own probe a ``wait``.

All state-changing sim commands (tick, inject, config, scenario, restore, load) go through the
engine, which logs them in the journal for lossless recovery after a sim crash (`Engine.recover`).
"""

from __future__ import annotations

import itertools
import logging
import math
import tempfile
import time
from collections import deque
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs
import orjson
import trio

from .config import Config
from .journal import Checkpoint, Entry, Journal
from .ledger import Ledger
from .metrics import Metrics
from .notify import Notifier
from .registry import PolicyController, Registry, RemoteController
from .simproc import Request, SimError, SimSupervisor, SimUnavailable
from .store import SqliteJournal, replay, valid_tag

__all__ = ["ActionWindow", "Conflict", "Engine"]

log = logging.getLogger(__name__)
MODES = ("realtime", "lockstep", "paused")
METRICS_EVERY = 10  # ticks between the sim metrics refreshes in dashboard messages


class TickSink(Protocol):
    """Where the per-tick dashboard message goes (the server's `DashboardHub`, injected)."""

    @property
    def subscribers(self) -> Collection[object]:
        """Who listens; empty: the engine skips building the message."""
        ...

    def listening(self, shape: str) -> bool:
        """Whether anyone listens in ``shape`` ("reference" or "readable")."""
        ...

    def publish(self, message: bytes, shape: str | None = None) -> None:
        """Offer ``message`` to the listeners of ``shape`` (None: to everyone)."""
        ...


class Conflict(Exception):
    """The request does not fit the engine's current state (e.g. a manual tick while running)."""


class ActionWindow:
    """Actions for the coming tick; ``expected`` holds remote probes still to answer."""

    def __init__(self, tick: int, expected: set[str]) -> None:
        self.tick = tick
        self.expected = expected
        self.actions: dict[str, dict[str, Any]] = {}
        self.opened_at = trio.current_time()
        self.all_in = trio.Event()
        self.closed = False  # set once the tick's actions went to the sim
        if not expected:
            self.all_in.set()

    def submit(self, probe_id: str, action: dict[str, Any]) -> None:
        if self.closed:
            return  # too late for this tick; the agent answers the next observation
        self.actions[probe_id] = action
        expected = self.expected
        if probe_id in expected:
            expected.discard(probe_id)
            if not expected:
                self.all_in.set()

    def expect(self, probe_id: str) -> None:
        if probe_id not in self.actions:
            self.expected.add(probe_id)
            self.all_in = trio.Event() if self.all_in.is_set() else self.all_in

    def forget(self, probe_ids: set[str] | list[str]) -> None:
        for pid in probe_ids:
            self.expected.discard(pid)
        if not self.expected:
            self.all_in.set()


class Engine:
    """See the module docstring.

    Args:
        config: the daemon configuration.
        sim: the sim supervisor (its ``recover`` should be `Engine.recover`).
        registry: probe -> controller.
        hub: the dashboard fan-out (a `TickSink`: the server's DashboardHub).
        journal: where inputs and checkpoints are recorded (default in memory).
    """

    def __init__(
        self,
        config: Config,
        sim: SimSupervisor,
        registry: Registry,
        hub: TickSink,
        journal: Journal | None = None,
    ) -> None:
        self.config = config
        self.sim = sim
        self.registry = registry
        self.hub = hub
        self.mode: str = config.mode
        self.running_mode: str = config.mode if config.mode != "paused" else "realtime"
        self.tick_rate = config.tick_rate
        self.agent_timeout = config.agent_timeout
        self.tick = 0
        self.seed = config.seed
        self.observations: dict[str, dict[str, Any]] = {}
        # the reference-shaped observations of the last tick, for the probes a reference
        # consumer sees (the sim's overlay merged in once per probe, shared by every consumer)
        self.references: dict[str, dict[str, Any]] = {}
        self.parents: dict[str, str | None] = {}  # live probe -> parent (id order)
        self.ledger: Ledger | None = None  # what happened, for /api/events (set by the daemon)
        self.total_created = 0  # probes ever created, destroyed included
        self.window = ActionWindow(0, set())
        self.probe_count = 0
        self.agents_connected = 0  # maintained by the gateway
        self.state_lock = trio.Lock()
        self._wait_scope: trio.CancelScope | None = None
        self._tick_times: deque[float] = deque(maxlen=64)
        self.overhead_ns: deque[int] = deque(maxlen=4096)  # per-tick daemon time (bench)
        self._since_checkpoint = 0
        self._checkpoint_seq = 0
        self._metrics: dict[str, Any] = {}
        if config.state_dir:
            self.state_dir = Path(config.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._tmp: tempfile.TemporaryDirectory[str] | None = None
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="universed-")
            self.state_dir = Path(self._tmp.name)
        (self.state_dir / "snapshots").mkdir(exist_ok=True)
        self.journal: Journal = (
            journal
            if journal is not None
            else SqliteJournal(
                self.state_dir, keep=config.checkpoint_keep, synchronous=config.journal_sync
            )
        )
        self.notifier = Notifier(environ={})  # a no-op; `universed serve` installs the real one
        self._next_status = 0.0
        self._recovered: dict[str, Any] | None = None  # reply of the last tick a recovery replayed
        self._recovery_serial = 0  # sim recoveries started
        self._recovered_serial = 0  # the serial of the last one that finished
        self._recovery_done = trio.Event()
        self.resumed: dict[str, Any] | None = None  # how the last start resumed (None: fresh)
        self.prometheus = Metrics(
            agents_connected=lambda: self.agents_connected,
            probes_alive=lambda: self.probe_count,
            tick=lambda: self.tick,
            ticks_per_second=lambda: self.ticks_per_second,
            sim_restarts=lambda: self.sim.restarts,
            journal_rows=lambda: float(getattr(self.journal, "appends", 0)),
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the journal; remove the temporary state directory, if the engine made one."""
        closer = getattr(self.journal, "close", None)
        if closer is not None:
            closer()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def start(self) -> None:
        """Resume from the journal if it has a checkpoint; else start a universe: fresh (the
        configured seed and sim config) or forked from ``fork_from``. Ends with a checkpoint."""
        for pid, name in self.config.policies.items():
            self.registry.assign(pid, self.registry.policy_controller(name))
        # lineage roots now (a resume's replay must know who decides), descendants once the
        # probe index is loaded
        self.registry.apply_lineages(self.config.lineage_policies, self.parents.get)
        plan = getattr(self.journal, "resume_plan", None)
        base, entries = plan() if plan is not None else (None, [])
        if base is not None:
            await self._resume(base.as_checkpoint(), entries)
            self._apply_lineages()
            await self._checkpoint()
            return
        if self.config.fork_from:
            path = self._fork_source(self.config.fork_from)
            loaded = await self.sim.request(
                {"cmd": "load", "path": str(path), "seed": self.config.seed}
            )
            log.warning(
                "forked a new universe from %s (tick %s) with seed %d",
                path,
                loaded["tick"],
                self.config.seed,
            )
        await self._load_probe_index()
        self._apply_lineages()
        if self.config.sim_config:
            await self.configure_sim(dict(self.config.sim_config), journal=False)
        await self._checkpoint(reset=True)

    def _apply_lineages(self) -> None:
        """Once the probe index is loaded: assign every probe by lineage, and take back the
        assignments made before (roots) of probes that are not born yet (they get theirs at
        birth)."""
        registry = self.registry
        registry.apply_lineages(list(self.parents), self.parents.get)
        for root, name in self.config.lineage_policies.items():
            ctrl = registry.controller_of(root)
            if root not in self.parents and ctrl is not None and ctrl.name == name:
                registry.drop_probe(root, ctrl)

    def _fork_source(self, source: str) -> Path:
        """``fork_from``: a save file, or the tag of a snapshot in this state directory."""
        path = Path(source)
        if not path.is_file():
            by_tag = self.state_dir / "snapshots" / f"{source}.sav"
            if not by_tag.is_file():
                raise FileNotFoundError(
                    f"fork_from {source!r}: no such save file, and no snapshot of that tag in "
                    f"{by_tag.parent}"
                )
            path = by_tag
        return path.resolve()

    async def _resume(self, base: Checkpoint, entries: list[Entry]) -> None:
        """Load ``base``, replay the journal after it: the universe is at the last committed
        tick, with that tick's observations (policies continue exactly as they would have)."""
        t0 = time.perf_counter()
        # the last tick is replayed observing what it observed originally (recorded in its row),
        # unless no in-process policy decides anything (observations unused: skip their cost)
        registry = self.registry
        deciding = not registry.default.is_wait or any(
            not (isinstance(ctrl, PolicyController) and ctrl.is_wait)
            for _pid, ctrl in registry.assignments()
        )
        result = await replay(self.sim.request, base, entries, observe_last=deciding)
        if not result.ok:
            log.error(
                "resume: the replay does not reproduce %d recorded hashes (first: tick %d)",
                len(result.mismatches),
                result.mismatches[0][0],
            )
        await self._load_probe_index()
        self.observations = {}
        reply = result.last_reply
        if reply is not None:
            obs_by_id = {}
            for obs in reply["observations"]:
                obs["tick"] = self.tick
                obs_by_id[obs["probe_id"]] = obs
            for pid in reply.get("destroyed") or ():
                obs_by_id.pop(pid, None)
            self.observations = obs_by_id
        for pid, parent in self.parents.items():  # config assignments -> their descendants
            if parent:
                self.registry.on_birth(pid, parent)
        self.window = ActionWindow(self.tick, set())
        self.resumed = {
            "checkpoint_tick": base.tick,
            "rows": len(entries),
            "ticks_replayed": result.ticks,
            "tick": self.tick,
            "hash": result.hash,
            "verified": result.ok,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        log.warning(
            "resumed at tick %d (hash %s): checkpoint of tick %d + %d journal rows in %.3fs, %s",
            self.tick,
            result.hash,
            base.tick,
            len(entries),
            self.resumed["seconds"],
            "verified" if result.ok else "HASH MISMATCH",
        )

    async def final_checkpoint(self) -> None:
        """Stop ticking and write a checkpoint (SIGTERM); keeps the state lock, so no tick
        runs after it. Skipped if the sim is not available."""
        await self.state_lock.acquire()
        if self.sim.state == "running":
            try:
                await self._checkpoint()
            except (SimError, SimUnavailable) as exc:
                log.error("final checkpoint failed: %s", exc)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Initialize, report ready, then tick according to the mode until cancelled."""
        await self.start()
        task_status.started()
        next_at = trio.current_time()
        while True:
            mode = self.mode
            if mode == "paused":
                await self._interruptible(None, wait_event=None)
                next_at = trio.current_time()
                continue
            window = self.window
            deadline = window.opened_at + self.agent_timeout
            if not window.all_in.is_set() and not await self._interruptible(
                deadline, wait_event=window.all_in
            ):
                continue  # mode changed: re-evaluate
            if mode == "realtime":
                period = 1.0 / self.tick_rate
                now = trio.current_time()
                if next_at < now - period:
                    next_at = now
                if next_at > now and not await self._interruptible(next_at, wait_event=None):
                    continue
                next_at += period
            try:
                async with self.state_lock:
                    window = self.window
                    if (
                        self.mode != "paused"
                        and not window.all_in.is_set()
                        and trio.current_time() < window.opened_at + self.agent_timeout
                    ):
                        continue  # an agent registered meanwhile: wait for its action too
                    await self._step()
            except SimUnavailable as exc:
                log.warning("tick failed: %s; waiting for the sim to recover", exc)
                await self.sim.wait_ready()
            except SimError as exc:
                log.error("the sim refused a tick: %s", exc)
                await trio.sleep(0.1)
            if mode == "lockstep":
                await trio.lowlevel.checkpoint()

    async def _interruptible(
        self, deadline: float | None, *, wait_event: trio.Event | None
    ) -> bool:
        """Wait for ``wait_event`` or ``deadline``; False if a mode change interrupted the wait."""
        with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
            self._wait_scope = scope
            if wait_event is not None:
                await wait_event.wait()
            else:
                await trio.sleep_forever()
        self._wait_scope = None
        return not (scope.cancelled_caught and scope.deadline == -math.inf)

    def _interrupt(self) -> None:
        if self._wait_scope is not None:
            self._wait_scope.deadline = -math.inf

    def set_mode(self, mode: str, tick_rate: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if tick_rate is not None:
            self.tick_rate = tick_rate
        if mode != "paused":
            self.running_mode = mode
        self.mode = mode
        self._interrupt()

    @property
    def ticks_per_second(self) -> float:
        times = self._tick_times
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        if time.monotonic() - times[-1] > 2.0:
            return 0.0
        return (len(times) - 1) / span if span > 0 else 0.0

    # ------------------------------------------------------------------ one tick

    async def manual_tick(self, count: int = 1, shape: str = "reference") -> dict[str, Any]:
        """Advance ``count`` ticks now (only while paused).

        First waits, as a realtime tick does, for the actions of the remote agents that hold an
        observation (the open window's expected probes), at most ``agent_timeout`` after it
        opened; the others get the fallback's. So an agent that sends its action and then asks
        for the tick never races its own action. The reply carries every live probe's
        observation of the last tick, in ``shape`` ("reference" or "readable").
        """
        if self.mode != "paused":
            raise Conflict(f"manual ticks need paused mode; the engine is in {self.mode} mode")
        await self._await_actions()
        async with self.state_lock:
            if self.mode != "paused":
                raise Conflict(f"manual ticks need paused mode; the engine is in {self.mode} mode")
            for n in range(count):
                # the last manual tick observes every probe: its reply carries them all
                last = n == count - 1
                await self._step(observe_all=last, reference_all=last and shape == "reference")
            observations = self.observations
            if shape == "reference":
                refs = self.references
                listed = [refs.get(pid, obs) for pid, obs in observations.items()]
            else:
                listed = list(observations.values())
        return {"tick": self.tick, "observations": listed}

    async def _await_actions(self) -> None:
        """Wait until the open window has every expected action, or its agent timeout."""
        while True:
            window = self.window
            event = window.all_in
            if event.is_set() or window.closed:
                return
            with trio.move_on_at(window.opened_at + self.agent_timeout) as scope:
                await event.wait()
            if scope.cancelled_caught:
                return

    def _gather_actions(self) -> dict[str, dict[str, Any]]:
        actions = self.window.actions
        registry = self.registry
        default = registry.default
        for pid, obs in self.observations.items():
            if pid in actions:
                continue
            ctrl = registry.controller_of(pid)
            if ctrl is None:
                ctrl = default
            elif not isinstance(ctrl, PolicyController):
                ctrl = registry.fallback  # remote agent slow or silent
            if ctrl.is_wait or obs.get("status") == "destroyed":
                continue
            action = ctrl.decide(obs)
            if action is not None:
                actions[pid] = action
        return actions

    async def _step(self, *, observe_all: bool = False, reference_all: bool = False) -> None:
        t0 = time.perf_counter_ns()
        actions = self._gather_actions()
        self.window.closed = True
        observe, detail, reference = self._observe_request()
        if observe_all:
            observe, detail = "all", "full"
        if reference_all:
            reference = "all"
        # write-ahead: the row commits as the request leaves (the supervisor's ``sent``), before
        # anything can see the tick's result or run in between (a recovery included); once it
        # is committed the tick happened (a restart or a sim recovery replays it)
        entry = Entry("tick", self.tick + 1, actions, [observe, detail])
        sim_t0 = time.perf_counter_ns()
        request: dict[str, Any] = {
            "cmd": "tick",
            "actions": actions,
            "observe": observe,
            "detail": detail,
        }
        if reference is not None:
            request["reference"] = reference  # the overlay, for the probes reference eyes see
        all_events = self.ledger is not None and self.config.ledger_scope == "all"
        if all_events or self.hub.subscribers:
            request["events"] = True  # every probe's events, observed or not (ledger, feed)
        try:
            reply = await self.sim.request(request, sent=lambda: self.journal.append(entry))
        except SimUnavailable:
            reply = await self._recovered_reply(self.tick + 1, self._recovery_serial)
        sim_t1 = time.perf_counter_ns()
        tick = int(reply["tick"])
        self.tick = tick
        observations = reply["observations"]
        obs_by_id: dict[str, dict[str, Any]] = {}
        refs: dict[str, dict[str, Any]] = {}
        if reference is None:
            for obs in observations:
                obs["tick"] = tick
                obs_by_id[obs["probe_id"]] = obs
        else:
            for obs in observations:
                obs["tick"] = tick
                pid = obs["probe_id"]
                obs_by_id[pid] = obs
                overlay = obs.pop("reference", None)  # everything internal reads the readable
                if overlay is not None:
                    refs[pid] = {**obs, **overlay}  # once per probe, shared by every consumer
        registry = self.registry
        born = reply.get("born") or []
        destroyed = reply.get("destroyed") or []
        if born:
            await self._index_births(born, obs_by_id)
        for child in born:
            registry.on_birth(child, self.parents.get(child), self.parents.get)
        if self.ledger is not None:
            self.ledger.record_tick(
                tick,
                observations,
                born,
                destroyed,
                reply.get("rejected") or [],
                registry.controller_name,
                reply.get("events") if all_events else None,
            )
        self._deliver(tick, obs_by_id, refs, destroyed)
        for pid in destroyed:
            registry.on_death(pid)
            obs_by_id.pop(pid, None)
            refs.pop(pid, None)
            self.parents.pop(pid, None)
        self.observations = obs_by_id
        self.references = refs
        self.probe_count = len(self.parents)
        now = time.monotonic()
        self._tick_times.append(now)
        if self.hub.subscribers:
            if tick % METRICS_EVERY == 0 or not self._metrics:
                self._metrics = (await self.sim.request({"cmd": "metrics"}))["metrics"]
            self._publish(reply, observations, refs)
        t_pub = time.perf_counter_ns()
        self.prometheus.observe_tick(
            (sim_t0 - t0) / 1e9, (sim_t1 - sim_t0) / 1e9, (t_pub - sim_t1) / 1e9
        )
        self.notifier.tick(now)
        if now >= self._next_status:
            self._next_status = now + 2.0
            self.notifier.status(self.status_line())
        self._since_checkpoint += 1
        if tick % self.config.verify_every == 0:
            hashed = await self.sim.request({"cmd": "hash"})
            self.journal.append(Entry("hash", tick, {"hash": hashed["hash"]}))
        if self._since_checkpoint >= self.config.checkpoint_every:
            await self._checkpoint()
        if self.ledger is not None and self.ledger.behind:
            # bounded memory, nothing dropped: the universe runs at the ledger writer's pace
            await self.ledger.await_room()
        t1 = time.perf_counter_ns()
        self.overhead_ns.append((t1 - t0) - (sim_t1 - sim_t0))

    async def _recovered_reply(self, tick: int, after: int) -> dict[str, Any]:
        """The sim failed during tick ``tick``, whose row was committed: the next recovery (one
        that starts after recovery number ``after``) replays it, with observations; its reply
        stands in for the lost one. Never sends the tick again (that would apply it twice)."""
        while self._recovered_serial <= after:
            await self._recovery_done.wait()
        reply = self._recovered
        if reply is None or int(reply["tick"]) != tick:
            # cannot happen while every tick goes through _step; refuse to guess
            raise RuntimeError(f"tick {tick} is journaled but the recovered sim did not reach it")
        log.info("tick %d completed by the recovery's replay of its journal row", tick)
        return reply

    def status_line(self) -> str:
        return (
            f"tick {self.tick}, {self.mode}, {self.ticks_per_second:.1f} ticks/s, "
            f"agents {self.agents_connected}, probes {self.probe_count}"
        )

    def _deliver(
        self,
        tick: int,
        obs_by_id: dict[str, dict[str, Any]],
        refs: dict[str, dict[str, Any]],
        destroyed: list[str],
    ) -> None:
        """Open the next window and hand observations to the remote controllers (in each one's
        shape; a probe the sim gave no overlay, e.g. at compact detail, goes as it is)."""
        expected: set[str] = set()
        dead = set(destroyed)
        for ctrl in list(self.registry.remotes.values()):
            if refs and ctrl.shape == "reference":
                batch = [refs.get(pid) or obs_by_id[pid] for pid in ctrl.probes if pid in obs_by_id]
            else:
                batch = [obs_by_id[pid] for pid in ctrl.probes if pid in obs_by_id]
            if not batch:
                continue
            for obs in batch:
                if obs["probe_id"] not in dead:
                    expected.add(obs["probe_id"])
            ctrl.deliver(tick, batch)
        self.window = ActionWindow(tick, expected)

    def _publish(
        self,
        reply: dict[str, Any],
        observations: list[dict[str, Any]],
        refs: dict[str, dict[str, Any]],
    ) -> None:
        """One message per shape that has listeners, each encoded once."""
        cap = self.config.dashboard_max_observations
        every = reply.get("events")  # all probes' events, when the tick asked for them
        pairs = (
            ((ev.get("probe_id"), ev) for ev in every)
            if every is not None
            else ((obs["probe_id"], ev) for obs in observations for ev in obs.get("events") or ())
        )
        events = [
            {
                "probe_id": pid,
                "type": ev.get("type"),
                "subtype": ev.get("subtype"),
                "severity": ev.get("severity"),
                "message": ev.get("message"),
            }
            for pid, ev in itertools.islice(pairs, cap)
        ]
        message = {
            "type": "tick",
            "tick": reply["tick"],
            "observations": observations[:cap],
            "agents": {"connected": self.agents_connected},
            "mode": self.mode,
            "tick_rate": self.tick_rate,
            "ticks_per_second": round(self.ticks_per_second, 3),
            "probe_count": self.probe_count,
            "born": reply.get("born") or [],
            "destroyed": reply.get("destroyed") or [],
            "rejected": reply.get("rejected") or [],
            "events": events,
            "metrics": self._metrics,
        }
        hub = self.hub
        if hub.listening("readable"):
            hub.publish(orjson.dumps(message), "readable")
        if hub.listening("reference"):
            if refs:
                sample = message["observations"]
                message["observations"] = [refs.get(o["probe_id"], o) for o in sample]
            hub.publish(orjson.dumps(message), "reference")

    # ------------------------------------------------------------------ agents

    def submit(self, ctrl: RemoteController, probe_id: str, action: dict[str, Any]) -> bool:
        """An agent's action for the open window; False if ``ctrl`` does not control the probe."""
        if self.registry.controller_of(probe_id) is not ctrl:
            return False
        window = self.window
        if not window.closed:
            self.prometheus.agent_latency.observe(trio.current_time() - window.opened_at)
        window.submit(probe_id, action)
        return True

    async def observation_of(self, probe_id: str, shape: str = "readable") -> dict[str, Any] | None:
        """The probe's latest observation in ``shape`` (asks the sim if no tick has produced
        one yet, or not in the reference shape)."""
        if shape == "reference":
            ref = self.references.get(probe_id)
            if ref is not None:
                return ref
        obs = self.observations.get(probe_id)
        if obs is not None and shape != "reference":
            return obs
        command: dict[str, Any] = {"cmd": "probe", "probe_id": probe_id}
        if shape == "reference":
            command["reference"] = True
        try:
            reply = await self.sim.request(command)
        except SimError:
            return None
        probe = dict(reply["probe"])
        overlay = probe.pop("reference", None)
        probe["tick"] = self.tick
        if probe.get("status") == "destroyed":
            return probe
        if obs is None:
            self.observations[probe_id] = obs = probe
        if shape != "reference":
            return obs
        if not isinstance(overlay, dict):
            return obs  # no overlay (a sim without it): the readable form
        ref = {**obs, **overlay}
        self.references[probe_id] = ref
        return ref

    def expect(self, probe_id: str) -> None:
        """A newly registered agent got the current observation: wait for its action too."""
        self.window.expect(probe_id)

    def forget(self, probe_ids: set[str] | list[str]) -> None:
        """The agent of these probes left: stop waiting for it."""
        self.window.forget(probe_ids)

    # ------------------------------------------------------------------ admin commands

    async def inject(self, event: Mapping[str, Any]) -> dict[str, Any]:
        async with self.state_lock:
            reply = await self.sim.request({"cmd": "inject", "event": dict(event)})
            self.journal.append(Entry("inject", self.tick, dict(event)))
        return reply

    async def configure_sim(self, data: dict[str, Any], *, journal: bool = True) -> dict[str, Any]:
        async with self.state_lock:
            reply = await self.sim.request({"cmd": "config", "data": data})
            if journal:
                self.journal.append(Entry("config", self.tick, data))
        return reply

    def _snapshot_file(self, tag: str) -> Path:
        if isinstance(self.journal, SqliteJournal):
            return self.journal.snapshot_path(tag)  # ValueError for a bad tag
        return self.state_dir / "snapshots" / (tag.encode().hex() + ".usim")

    async def snapshot(self, tag: str) -> dict[str, Any]:
        """Snapshot in the sim's memory, and to a file (listed in the journal) so it survives
        sim and daemon restarts."""
        path = self._snapshot_file(tag)
        async with self.state_lock:
            reply = await self.sim.request({"cmd": "snapshot", "tag": tag})
            saved = await self.sim.request({"cmd": "save", "path": str(path)})
            if isinstance(self.journal, SqliteJournal):
                self.journal.record_snapshot(
                    tag, int(saved["tick"]), str(saved["hash"]), int(saved["bytes"])
                )
        return reply

    def snapshots(self) -> list[dict[str, Any]]:
        """The named snapshots kept on disk (oldest first)."""
        if isinstance(self.journal, SqliteJournal):
            return [s.to_json() for s in self.journal.snapshots()]
        return []

    async def fork(self, tag: str, seed: int) -> dict[str, Any]:
        """Replace the universe with snapshot ``tag``'s past and a new event seed."""
        path = self._snapshot_file(tag)
        if not path.is_file():
            raise SimError("unknown_tag", f"no snapshot {tag!r} on disk")
        reply = await self.load_save(str(path), seed)
        log.warning("forked from snapshot %r (tick %s) with seed %d", tag, reply["tick"], seed)
        return {"forked": tag, "tick": self.tick, "seed": seed, "hash": reply["hash"]}

    async def restore(self, tag: str) -> dict[str, Any]:
        async with self.state_lock:
            try:
                reply = await self.sim.request({"cmd": "restore", "tag": tag})
            except SimError as exc:
                if exc.code != "unknown_tag" or not valid_tag(tag):
                    raise
                path = self._snapshot_file(tag)  # after a restart only the file is left
                if not path.is_file():
                    raise
                await self.sim.request({"cmd": "load", "path": str(path)})
                reply = {"ok": True, "restored": tag}
            await self._after_state_replaced()
            reply["tick"] = self.tick
        return reply

    async def load_save(self, path: str, seed: int | None = None) -> dict[str, Any]:
        """Replace the whole state with a save file; with ``seed``, a fork (new event seed).

        Like a restore: a new checkpoint is the journal's base, agents get fresh observations.
        """
        command: dict[str, Any] = {"cmd": "load", "path": path}
        if seed is not None:
            command["seed"] = seed
        async with self.state_lock:
            reply = await self.sim.request(command)
            self.seed = int(reply.get("seed", self.seed))
            await self._after_state_replaced()
            reply["tick"] = self.tick
        return reply

    async def load_scenario(self, command: dict[str, Any]) -> dict[str, Any]:
        """Load (``{"scenario": {...}}``) or clear (``{"clear": true}``) the timed event script.

        Journaled like config changes: a recovery replays it at the same tick.
        """
        async with self.state_lock:
            reply = await self.sim.request({"cmd": "scenario", **command})
            self.journal.append(Entry("scenario", self.tick, command))
        return reply

    async def _load_probe_index(self) -> None:
        """Read tick and every live probe's parent from the sim (start, restore, load)."""
        status = await self.sim.request({"cmd": "status"})
        self.tick = int(status["tick"])
        self.parents = {
            row["id"]: row.get("parent_id")
            for row in status.get("probes") or ()
            if row.get("status") != "destroyed"
        }
        self.total_created = int(status.get("total", len(self.parents)))
        self.probe_count = len(self.parents)

    async def _index_births(self, born: list[str], observed: dict[str, dict[str, Any]]) -> None:
        """Learn the parents of this tick's newborns.

        Observed newborns carry ``parent_id``; for the others one ``status`` page is read: the
        sim issues probe ids in order, so this tick's newborns are the last rows of its list.
        """
        first = self.total_created
        self.total_created += len(born)
        missing = []
        for pid in born:
            obs = observed.get(pid)
            if obs is not None:
                self.parents[pid] = obs.get("parent_id")
            else:
                missing.append(pid)
        if missing:
            reply = await self.sim.request({"cmd": "status", "offset": first, "limit": len(born)})
            rows = {row["id"]: row.get("parent_id") for row in reply.get("probes") or ()}
            for pid in missing:
                self.parents[pid] = rows.get(pid)

    def children_of(self) -> dict[str, list[str]]:
        """Live probe -> its live children (for lineage registration)."""
        children: dict[str, list[str]] = {}
        for pid, parent in self.parents.items():
            if parent:
                children.setdefault(parent, []).append(pid)
        return children

    def _observe_request(self) -> tuple[list[str] | str, str, list[str] | str | None]:
        """Which probes the coming tick must observe, at which detail, and which of them in the
        reference shape too (the sim's ``reference`` overlay; None: none).

        Only probes somebody decides for are observed (remote agents, non-wait policies), plus a
        sample of the first ``dashboard_max_observations`` probes while a dashboard listens: a
        host with 100k probes and a few agents pays for a few observations, not 100k. Full
        detail (the living-universe fields, ~6 KB each) only when some consumer wants it. The
        overlay only for what a reference consumer sees: the probes of reference agents, and
        the sample while a reference dashboard listens (at full detail, the overlay's).
        """
        registry = self.registry
        hub = self.hub
        ref_dash = hub.listening("reference")
        refs: set[str] = set()
        for remote in registry.remotes.values():
            if remote.shape == "reference":
                refs.update(remote.probes)
        sample: list[str] = []
        if hub.subscribers:
            sample = list(itertools.islice(self.parents, self.config.dashboard_max_observations))
            if ref_dash:
                refs.update(sample)
        if not registry.default.is_wait:
            detail = "full" if ref_dash else registry.default.detail
            return "all", detail, self._listed(refs)
        wanted = set(sample)
        detail = "full" if ref_dash else "compact"
        for pid, ctrl in registry.assignments():
            if isinstance(ctrl, PolicyController) and ctrl.is_wait:
                continue
            wanted.add(pid)
            if ctrl.detail == "full":
                detail = "full"
        if len(wanted) >= len(self.parents):
            return "all", detail, self._listed(refs)
        return sorted(wanted), detail, self._listed(refs)

    def _listed(self, probes: set[str]) -> list[str] | str | None:
        """A probe set as the tick's ``reference`` value."""
        if not probes:
            return None
        if len(probes) >= len(self.parents):
            return "all"
        return sorted(probes)

    async def _after_state_replaced(self) -> None:
        await self._load_probe_index()
        self.observations = {}
        self.references = {}
        self.window = ActionWindow(self.tick, set())
        await self._checkpoint(reset=True)
        # agents get fresh observations of the restored state
        for ctrl in list(self.registry.remotes.values()):
            batch = []
            for pid in sorted(ctrl.probes):
                obs = await self.observation_of(pid, ctrl.shape)
                if obs is not None and obs.get("status") != "destroyed":
                    batch.append(obs)
                    self.window.expect(pid)
            if batch:
                ctrl.deliver(self.tick, batch)

    async def _checkpoint(self, *, reset: bool = False) -> None:
        """Save the sim's state; ``reset``: the engine's view starts over here (no
        observations carried across: a fresh start, a restore, a load or fork)."""
        t0 = time.perf_counter()
        self._checkpoint_seq += 1
        if isinstance(self.journal, SqliteJournal):
            path = self.journal.next_checkpoint_path(self.tick)
        else:
            path = self.state_dir / f"checkpoint-{self._checkpoint_seq:08d}.usim"
        reply = await self.sim.request({"cmd": "save", "path": str(path)})
        cp = Checkpoint(int(reply["tick"]), path, str(reply["hash"]))
        self.journal.checkpoint(cp, reset=reset)
        self._since_checkpoint = 0
        self.prometheus.checkpoint_duration.observe(time.perf_counter() - t0)

    # ------------------------------------------------------------------ reload (SIGHUP)

    #: Keys a reload applies; the others need a restart (they are logged and left alone).
    RELOADABLE = frozenset(
        {
            "mode", "tick_rate", "agent_timeout_ms", "fallback_policy", "default_policy",
            "inherit_controller", "sim_timeout_ms", "checkpoint_every", "verify_every",
            "dashboard_max_observations", "log_level", "sim_config", "policies",
            "lineage_policies", "newborn_policy", "ledger_scope",
        }
    )  # fmt: skip

    async def reload(self, new: Config) -> tuple[list[str], list[str]]:
        """Apply the reloadable keys of ``new`` that differ from the running configuration.

        Returns (applied keys, keys that need a restart). Sim config changes are applied (and
        journaled) like ``POST /api/config``, only for keys whose configured value changed.

        Raises:
            ValueError: ``new`` names an unknown policy (nothing is applied).
        """
        old = self.config
        changed = [
            f.name for f in attrs.fields(Config) if getattr(old, f.name) != getattr(new, f.name)
        ]
        applied = {k: getattr(new, k) for k in changed if k in self.RELOADABLE}
        restart = [k for k in changed if k not in self.RELOADABLE]
        table = self.registry.policy_table
        names = [
            new.fallback_policy,
            new.default_policy,
            new.newborn_policy,
            *new.policies.values(),
            *new.lineage_policies.values(),
        ]
        unknown = sorted({n for n in names if n and n not in table})
        if unknown:
            raise ValueError(
                f"unknown policy {', '.join(map(repr, unknown))}; known: {', '.join(sorted(table))}"
            )
        self.config = attrs.evolve(old, **applied)
        registry = self.registry
        if "inherit_controller" in applied:
            registry.inherit = new.inherit_controller
            for name in table:
                registry.policy_controller(name).inherits = new.inherit_controller
        if "fallback_policy" in applied:
            registry.fallback = registry.policy_controller(new.fallback_policy)
        if "fallback_policy" in applied or "default_policy" in applied:
            default = new.default_policy
            registry.default = registry.policy_controller(default) if default else registry.fallback
        if "policies" in applied:
            for pid, name in old.policies.items():
                ctrl = registry.controller_of(pid)
                if pid not in new.policies and ctrl is not None and ctrl.name == name:
                    registry.drop_probe(pid, ctrl)
            for pid, name in new.policies.items():
                if old.policies.get(pid) != name:
                    registry.assign(pid, registry.policy_controller(name))
        if "newborn_policy" in applied:
            registry.newborn = new.newborn_policy
        if "lineage_policies" in applied:
            registry.lineages = dict(new.lineage_policies)  # unborn roots: applied at birth
            registry.apply_lineages(list(self.parents), self.parents.get, old.lineage_policies)
        if "agent_timeout_ms" in applied:
            self.agent_timeout = new.agent_timeout
        if "sim_timeout_ms" in applied:
            self.sim.timeout = new.sim_timeout_ms / 1000.0
        if "log_level" in applied:
            logging.getLogger().setLevel(new.log_level.upper())
        if "mode" in applied or "tick_rate" in applied:
            self.set_mode(new.mode if "mode" in applied else self.mode, new.tick_rate)
        if "sim_config" in applied:
            diff = {k: v for k, v in new.sim_config.items() if old.sim_config.get(k) != v}
            if diff:
                await self.configure_sim(diff)
        return sorted(applied), restart

    # ------------------------------------------------------------------ recovery

    async def recover(self, request: Request) -> None:
        """Bring a fresh sim child to the state the engine had (the supervisor's callback).

        Loads the latest checkpoint, replays the journal and compares the recorded hashes.
        """
        self._recovery_serial += 1
        serial = self._recovery_serial
        checkpoint, entries = self.journal.latest()
        result = await replay(request, checkpoint, entries)
        self._recovered = result.last_reply
        self._recovered_serial = serial
        self._recovery_done.set()
        self._recovery_done = trio.Event()
        mismatches = len(result.mismatches)
        for tick, want, got in result.mismatches[:5]:
            log.error("replay diverged at tick %d: recorded %s, replayed %s", tick, want, got)
        log.warning(
            "sim recovered: checkpoint tick %s + %d journal entries -> tick %s (hash %s, %s)",
            checkpoint.tick if checkpoint else None,
            len(entries),
            result.tick,
            result.hash,
            "verified" if mismatches == 0 else f"{mismatches} mismatches",
        )
        self.recoveries_verified = mismatches == 0

    recoveries_verified = True
