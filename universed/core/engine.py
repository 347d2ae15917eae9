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

This module is the tick loop; the engine owns its other jobs as parts, each holding the engine
(seen as a `core/state.py` `EngineState`): `core/window.py` (the `ActionWindow`, the delivery
that opens it), `core/probes.py` (the `ProbeIndex`: parents, births, ``children_of``),
`core/observe.py` (the `Observer`: what a tick observes, the dashboard message), `core/recovery.py`
(`Recovery`: checkpoints, start or resume, sim recovery) and `core/commands.py` (`AdminCommands`:
inject, sim config, scenario, snapshot, fork, restore, load, reload). The `Engine` keeps their
public names (``engine.snapshot(...)``, ``engine.parents``, ...) as thin delegations.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections import deque
from collections.abc import Collection, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import trio

from .commands import AdminCommands
from .config import Config
from .journal import Entry, Journal
from .ledger import Ledger
from .messages import DELTA_GROUP_PIECES
from .metrics import Metrics
from .notify import Notifier
from .observe import Observer, TickSink
from .probes import ProbeIndex
from .recovery import Recovery
from .registry import PolicyController, Registry, RemoteController
from .simproc import Request, SimError, SimSupervisor, SimUnavailable
from .store import SqliteJournal
from .window import ActionWindow, deliver

__all__ = ["ActionWindow", "Conflict", "Engine", "TickSink"]

log = logging.getLogger(__name__)
MODES = ("realtime", "lockstep", "paused")


class Conflict(Exception):
    """The request does not fit the engine's current state (e.g. a manual tick while running)."""


def _encode_actions(actions: dict[str, Any]) -> bytes:
    """A tick's actions as JSON. An action JSON cannot carry (a policy plugin returned a value
    orjson refuses: a set, an object) is dropped with a warning, and the probe waits: one bad
    plugin result must not stop the universe."""
    try:
        return orjson.dumps(actions)
    except TypeError:  # orjson.JSONEncodeError
        for pid, action in list(actions.items()):
            try:
                orjson.dumps(action)
            except TypeError as exc:
                log.warning("action for %s cannot be sent (%s): %.200r; it waits", pid, exc, action)
                del actions[pid]
        return orjson.dumps(actions)


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
        self.observations: MutableMapping[str, dict[str, Any]] = {}
        # the reference-shaped observations of the last tick, for the probes a reference
        # consumer sees (the sim's overlay merged in once per probe, shared by every consumer)
        self.references: dict[str, dict[str, Any]] = {}
        self.probes = ProbeIndex(sim)  # live probe -> parent
        self.ledger: Ledger | None = None  # what happened, for /api/events (set by the daemon)
        self.window = ActionWindow(0, set())
        self.agents_connected = 0  # maintained by the gateway
        self.state_lock = trio.Lock()
        self._wait_scope: trio.CancelScope | None = None
        self._tick_times: deque[float] = deque(maxlen=64)
        self.overhead_ns: deque[int] = deque(maxlen=4096)  # per-tick daemon time (bench)
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
        self.resumed: dict[str, Any] | None = None  # how the last start resumed (None: fresh)
        self.prometheus = Metrics(
            agents_connected=lambda: self.agents_connected,
            probes_alive=lambda: self.probe_count,
            tick=lambda: self.tick,
            ticks_per_second=lambda: self.ticks_per_second,
            sim_restarts=lambda: self.sim.restarts,
            journal_rows=lambda: float(getattr(self.journal, "appends", 0)),
        )
        # the parts, each holding the engine (as a core/state.py EngineState)
        self.recovery = Recovery(self)  # checkpoints, start or resume, sim recovery
        self.commands = AdminCommands(self, self.recovery)  # snapshot, restore, reload, ...
        self.observer = Observer(self, hub)  # what a tick observes, the dashboard message

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the journal; remove the temporary state directory, if the engine made one."""
        closer = getattr(self.journal, "close", None)
        if closer is not None:
            closer()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def final_checkpoint(self) -> None:
        """Stop ticking and write a checkpoint (SIGTERM); keeps the state lock, so no tick
        runs after it. Skipped if the sim is not available."""
        await self.state_lock.acquire()
        if self.sim.state == "running":
            try:
                await self.recovery.checkpoint()
            except (SimError, SimUnavailable) as exc:
                log.error("final checkpoint failed: %s", exc)

    async def start(self) -> None:
        """Resume from the journal, or start a universe: `Recovery.start`."""
        await self.recovery.start()

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

    def _gather_actions(self) -> dict[str, Mapping[str, Any]]:
        actions = self.window.actions
        registry = self.registry
        default = registry.default
        observations = self.observations
        for pid in observations:
            if pid in actions:
                continue
            ctrl = registry.controller_of(pid)
            if ctrl is None:
                ctrl = default
            elif not isinstance(ctrl, PolicyController):
                ctrl = registry.fallback  # remote agent slow or silent
            if ctrl.is_wait:
                continue  # its observation stays unparsed
            obs = observations[pid]
            if obs.get("status") == "destroyed":
                continue
            action = ctrl.decide(obs)
            if action is not None:
                actions[pid] = action
        return actions

    async def _step(self, *, observe_all: bool = False, reference_all: bool = False) -> None:
        t0 = time.perf_counter_ns()
        actions = self._gather_actions()
        self.window.closed = True
        observe, detail, reference = self.observer.observe_request()
        if observe_all:
            observe, detail = "all", "full"
        if reference_all:
            reference = "all"
        # write-ahead: the row commits as the request leaves (the supervisor's ``sent``), before
        # anything can see the tick's result or run in between (a recovery included); once it
        # is committed the tick happened (a restart or a sim recovery replays it)
        # the actions are encoded once: the sim's request and the journal's row embed the bytes
        encoded = _encode_actions(actions)
        entry = Entry("tick", self.tick + 1, actions, [observe, detail], encoded=encoded)
        sim_t0 = time.perf_counter_ns()
        request: dict[str, Any] = {
            "cmd": "tick",
            "actions": orjson.Fragment(encoded),
            "observe": observe,
            "detail": detail,
            # each observation's length, so the reply is cut without a scan (split_tick_reply)
            "observation_lens": True,
        }
        if reference is not None:
            request["reference"] = reference  # the overlay, for the probes reference eyes see
        delta, delta_groups = self.observer.delta_request()
        if delta_groups:
            request["delta"] = delta_groups  # the fleets whose deltas the sim computes
        ledger = self.ledger
        all_events = ledger is not None and self.config.ledger_scope == "all"
        if ledger is not None or self.hub.subscribers:
            request["events"] = True  # every probe's events, observed or not (ledger, feed)
            if ledger is not None and ledger.record_mining:
                request["mined"] = True  # every probe's mining (the ledger's figures)
        try:
            reply = await self.sim.request(
                request, sent=lambda: self.journal.append(entry), split=True
            )
        except SimUnavailable:
            reply = await self.recovery.recovered_reply(self.tick + 1)
        sim_t1 = time.perf_counter_ns()
        tick = int(reply["tick"])
        self.tick = tick
        observed, refs = self.observer.index(reply, tick, reference)
        registry = self.registry
        born = reply.get("born") or []
        destroyed = reply.get("destroyed") or []
        probes = self.probes
        parents = probes.parents
        if born:
            await probes.index_births(born, observed)
        for child in born:
            registry.on_birth(child, parents.get(child), parents.get)
        if ledger is not None:
            events = reply.get("events") or []
            mined = reply.get("mined") or []
            if not all_events:  # scope "controlled": the rows of probes somebody decides for
                decided: Collection[str] = observed
                if delta:  # a delta fleet's probes are not observed: they came as its group
                    decided = set(observed).union(*(listed for _, listed in delta))
                events = [ev for ev in events if ev.get("probe_id") in decided]
                mined = [row for row in mined if row.get("probe_id") in decided]
            ledger.record_tick(
                tick,
                born,
                destroyed,
                reply.get("rejected") or [],
                registry.controller_name,
                events,
                mined,
                parents.get,
            )
        # open the next window, hand the observations to the remote controllers
        groups = reply.get(DELTA_GROUP_PIECES) if delta else None
        self.window = deliver(
            tick, registry.remotes.values(), observed, refs, destroyed, delta, groups
        )
        for pid in destroyed:
            registry.on_death(pid)
            observed.discard(pid)
            refs.pop(pid, None)
            parents.pop(pid, None)
        self.observations = observed
        self.references = refs
        probes.count = len(parents)
        now = time.monotonic()
        self._tick_times.append(now)
        if self.hub.subscribers:
            await self.observer.publish(tick, reply, observed, refs)
        t_pub = time.perf_counter_ns()
        self.prometheus.observe_tick(
            (sim_t0 - t0) / 1e9, (sim_t1 - sim_t0) / 1e9, (t_pub - sim_t1) / 1e9
        )
        self.notifier.tick(now)
        if now >= self._next_status:
            self._next_status = now + 2.0
            self.notifier.status(self.status_line())
        recovery = self.recovery
        recovery.since_checkpoint += 1
        if tick % self.config.verify_every == 0:
            hashed = await self.sim.request({"cmd": "hash"})
            self.journal.append(Entry("hash", tick, {"hash": hashed["hash"]}))
        if recovery.since_checkpoint >= self.config.checkpoint_every:
            await recovery.checkpoint()
        if self.ledger is not None and self.ledger.behind:
            # bounded memory, nothing dropped: the universe runs at the ledger writer's pace
            await self.ledger.await_room()
        t1 = time.perf_counter_ns()
        self.overhead_ns.append((t1 - t0) - (sim_t1 - sim_t0))

    def status_line(self) -> str:
        return (
            f"tick {self.tick}, {self.mode}, {self.ticks_per_second:.1f} ticks/s, "
            f"agents {self.agents_connected}, probes {self.probe_count}"
        )

    # ------------------------------------------------------------------ agents

    def submit(
        self,
        ctrl: RemoteController,
        probe_id: str,
        action: Mapping[str, Any],
        now: float | None = None,
    ) -> bool:
        """An agent's action for the open window; False if ``ctrl`` does not control the probe.
        ``now``: trio's clock when the action arrived, if the caller has it."""
        if self.registry.controller_of(probe_id) is not ctrl:
            return False
        window = self.window
        if not window.closed:
            if now is None:
                now = trio.current_time()
            # (a message queued behind a registration arrived before this window opened)
            self.prometheus.agent_latency.observe(max(0.0, now - window.opened_at))
        window.submit(probe_id, action, ctrl)
        return True

    def submit_batch(
        self,
        ctrl: RemoteController,
        actions: Mapping[str, Mapping[str, Any]],
        *,
        owned: bool = False,
    ) -> list[str]:
        """A fleet's actions for the open window (one latency sample for the batch); returns
        the probes ``ctrl`` does not control (their actions are dropped). ``owned``: the
        caller checked that ``ctrl`` controls every one (`messages.ActionsBatch.owned`)."""
        if owned or actions.keys() <= ctrl.probes:  # the usual case, checked at C speed
            refused = []
        else:
            of = self.registry.controller_of
            refused = [pid for pid in actions if of(pid) is not ctrl]
        window = self.window
        if not window.closed and len(refused) < len(actions):
            self.prometheus.agent_latency.observe(trio.current_time() - window.opened_at)
        if refused:
            drop = set(refused)
            actions = {pid: a for pid, a in actions.items() if pid not in drop}
        window.submit_many(actions, ctrl)
        return refused

    async def observation_of(self, probe_id: str, shape: str = "readable") -> dict[str, Any] | None:
        """The probe's latest observation in ``shape``: `Observer.observation_of`."""
        return await self.observer.observation_of(probe_id, shape)

    def expect(self, probe_id: str) -> None:
        """A newly registered agent got the current observation: wait for its action too."""
        self.window.expect(probe_id)

    def forget(self, probe_ids: set[str] | list[str]) -> None:
        """The agent of these probes left: stop waiting for it."""
        self.window.forget(probe_ids)

    # ------------------------------------------------------------------ the parts' public surface

    @property
    def parents(self) -> dict[str, str | None]:
        """Live probe -> parent (in id order): the probe index's."""
        return self.probes.parents

    @property
    def probe_count(self) -> int:
        """Live probes as of the last tick."""
        return self.probes.count

    def children_of(self) -> dict[str, list[str]]:
        return self.probes.children_of()

    @property
    def recoveries_verified(self) -> bool:
        """Whether the last sim recovery reproduced every recorded hash (True before any)."""
        return self.recovery.verified

    async def recover(self, request: Request) -> None:
        """The sim supervisor's callback: `Recovery.recover`."""
        await self.recovery.recover(request)

    # the admin commands (core/commands.py)

    async def inject(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return await self.commands.inject(event)

    async def configure_sim(self, data: dict[str, Any], *, journal: bool = True) -> dict[str, Any]:
        return await self.commands.configure_sim(data, journal=journal)

    async def snapshot(self, tag: str) -> dict[str, Any]:
        return await self.commands.snapshot(tag)

    def snapshots(self) -> list[dict[str, Any]]:
        return self.commands.snapshots()

    async def fork(self, tag: str, seed: int) -> dict[str, Any]:
        return await self.commands.fork(tag, seed)

    async def restore(self, tag: str) -> dict[str, Any]:
        return await self.commands.restore(tag)

    async def load_save(self, path: str, seed: int | None = None) -> dict[str, Any]:
        return await self.commands.load_save(path, seed)

    async def load_scenario(self, command: dict[str, Any]) -> dict[str, Any]:
        return await self.commands.load_scenario(command)

    async def reload(self, new: Config) -> tuple[list[str], list[str]]:
        return await self.commands.reload(new)
