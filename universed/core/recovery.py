"""Checkpoints, the start (resume from the journal, or a new universe) and sim recovery.

The journal's side of the engine: `Recovery.checkpoint` saves the sim's state as the journal's
new base; `Recovery.start` resumes a daemon from the journal (the last committed tick) or starts
a universe, fresh or forked; `Recovery.recover` is the sim supervisor's callback that brings a
restarted sim child back to the engine's state (checkpoint + journal replay), and
`Recovery.recovered_reply` completes the tick the crash interrupted from that replay.

**Background checkpoints.** The tick loop's periodic checkpoint does not stop the world: it asks
the sim for a background save (the sim copies the state aside -- a memcpy of the per-probe
arrays, ~10 ms at 100,000 probes -- and a writer thread streams, fsyncs and renames the file
while the engine keeps ticking) and remembers the journal position of that moment. While it runs,
the tick loop's next calls poll the sim (``saves``, a pipe round trip per tick); once the sim
reports the file durable, the checkpoint row is recorded with that position, so the rows
appended meanwhile stay after it. Until then the previous checkpoint and every row since stay
the base, so a kill at any moment (of the sim, with its writer, or of the daemon) loses nothing:
recovery never names a file that is not complete. Every other checkpoint (start, reset,
SIGTERM, an admin's tick) is synchronous and first settles a background one still running.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import attrs
import trio

from .journal import Checkpoint, Entry
from .registry import PolicyController
from .simproc import Request, SimError, SimUnavailable
from .state import EngineState
from .store import SqliteJournal, replay
from .window import ActionWindow

__all__ = ["PendingSave", "Recovery"]

log = logging.getLogger(__name__)


@attrs.define
class PendingSave:
    """A background save the sim is writing: its job id, the tick saved, the file, the journal
    position of the moment it was taken and when it was started (``time.perf_counter``)."""

    job: int
    tick: int
    path: Path
    after_seq: int
    started: float


class Recovery:
    """Owned by the `Engine` (``engine.recovery``); holds it as an `EngineState`."""

    def __init__(self, engine: EngineState) -> None:
        self._engine = engine
        self.since_checkpoint = 0  # ticks since the last checkpoint (the tick loop counts)
        self._checkpoint_seq = 0
        self._recovered: dict[str, Any] | None = None  # reply of the last tick a recovery replayed
        self.serial = 0  # sim recoveries started
        self._recovered_serial = 0  # the serial of the last one that finished
        self._recovery_done = trio.Event()
        self.verified = True  # the last sim recovery reproduced every recorded hash
        self.pending: PendingSave | None = None  # the background save in flight
        self._loop_task: trio.lowlevel.Task | None = None  # the task that ran start() (ticks)
        self.background_saves = 0  # background checkpoints recorded
        self.background_failures = 0

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Resume from the journal if it has a checkpoint; else start a universe: fresh (the
        configured seed and sim config) or forked from ``fork_from``. Ends with a checkpoint."""
        engine = self._engine
        config = engine.config
        self._loop_task = trio.lowlevel.current_task()
        sweep = getattr(engine.journal, "sweep_orphans", None)
        if sweep is not None:  # files of saves that never got their row (a crash mid-save)
            for path in sweep():
                log.info("removed %s: no checkpoint row names it", path)
        for pid, name in config.policies.items():
            engine.registry.assign(pid, engine.registry.policy_controller(name))
        # lineage roots now (a resume's replay must know who decides), descendants once the
        # probe index is loaded
        engine.registry.apply_lineages(config.lineage_policies, engine.probes.parents.get)
        plan = getattr(engine.journal, "resume_plan", None)
        base, entries = plan() if plan is not None else (None, [])
        if base is not None:
            await self._resume(base.as_checkpoint(), entries)
            self._apply_lineages()
            await self.checkpoint(background=False)
            return
        if config.fork_from:
            path = self._fork_source(config.fork_from)
            loaded = await engine.sim.request(
                {"cmd": "load", "path": str(path), "seed": config.seed}
            )
            log.warning(
                "forked a new universe from %s (tick %s) with seed %d",
                path,
                loaded["tick"],
                config.seed,
            )
        engine.tick = await engine.probes.load()
        self._apply_lineages()
        if config.sim_config:
            await engine.configure_sim(dict(config.sim_config), journal=False)
        await self.checkpoint(reset=True)

    def _apply_lineages(self) -> None:
        """Once the probe index is loaded: assign every probe by lineage, and take back the
        assignments made before (roots) of probes that are not born yet (they get theirs at
        birth)."""
        engine = self._engine
        registry = engine.registry
        parents = engine.probes.parents
        registry.apply_lineages(list(parents), parents.get)
        for root, name in engine.config.lineage_policies.items():
            ctrl = registry.controller_of(root)
            if root not in parents and ctrl is not None and ctrl.name == name:
                registry.drop_probe(root, ctrl)

    def _fork_source(self, source: str) -> Path:
        """``fork_from``: a save file, or the tag of a snapshot in this state directory."""
        path = Path(source)
        if not path.is_file():
            by_tag = self._engine.state_dir / "snapshots" / f"{source}.sav"
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
        engine = self._engine
        t0 = time.perf_counter()
        # the last tick is replayed observing what it observed originally (recorded in its row),
        # unless no in-process policy decides anything (observations unused: skip their cost)
        registry = engine.registry
        deciding = not registry.default.is_wait or any(
            not (isinstance(ctrl, PolicyController) and ctrl.is_wait)
            for _pid, ctrl in registry.assignments()
        )
        result = await replay(engine.sim.request, base, entries, observe_last=deciding)
        if not result.ok:
            log.error(
                "resume: the replay does not reproduce %d recorded hashes (first: tick %d)",
                len(result.mismatches),
                result.mismatches[0][0],
            )
        engine.tick = await engine.probes.load()
        engine.observations = {}
        reply = result.last_reply
        if reply is not None:
            obs_by_id = {}
            for obs in reply["observations"]:
                obs["tick"] = engine.tick
                obs_by_id[obs["probe_id"]] = obs
            for pid in reply.get("destroyed") or ():
                obs_by_id.pop(pid, None)
            engine.observations = obs_by_id
        for pid, parent in engine.probes.parents.items():  # config assignments -> descendants
            if parent:
                registry.on_birth(pid, parent)
        engine.window = ActionWindow(engine.tick, set())
        engine.resumed = resumed = {
            "checkpoint_tick": base.tick,
            "rows": len(entries),
            "ticks_replayed": result.ticks,
            "tick": engine.tick,
            "hash": result.hash,
            "verified": result.ok,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        log.warning(
            "resumed at tick %d (hash %s): checkpoint of tick %d + %d journal rows in %.3fs, %s",
            engine.tick,
            result.hash,
            base.tick,
            len(entries),
            resumed["seconds"],
            "verified" if result.ok else "HASH MISMATCH",
        )

    # ------------------------------------------------------------------ checkpoints

    async def checkpoint(self, *, reset: bool = False, background: bool | None = None) -> None:
        """Save the sim's state; ``reset``: the engine's view starts over here (no observations
        carried across: a fresh start, a restore, a load or fork).

        ``background``: start a background save (or, if one is running, check on it) and return
        at once; the row is recorded when the file is durable (module docstring). ``None``
        (default): in the background when called from the tick loop (the task that ran
        `start`) for a periodic checkpoint, synchronously otherwise (a reset, the final
        checkpoint at SIGTERM, an admin's tick)."""
        if background is None:
            background = not reset and trio.lowlevel.current_task() is self._loop_task
        if background and not reset:
            await self._background()
            return
        await self.settle(keep=not reset)
        engine = self._engine
        t0 = time.perf_counter()
        path = self._next_path()
        reply = await engine.sim.request({"cmd": "save", "path": str(path)})
        cp = Checkpoint(int(reply["tick"]), path, str(reply["hash"]))
        engine.journal.checkpoint(cp, reset=reset)
        self.since_checkpoint = 0
        engine.prometheus.checkpoint_duration.observe(time.perf_counter() - t0)

    def _next_path(self) -> Path:
        engine = self._engine
        self._checkpoint_seq += 1
        journal = engine.journal
        if isinstance(journal, SqliteJournal):
            return journal.next_checkpoint_path(engine.tick)
        return engine.state_dir / f"checkpoint-{self._checkpoint_seq:08d}.usim"

    async def _background(self) -> None:
        """The tick loop's checkpoint: poll the running background save, or start one."""
        if self.pending is not None:
            await self._poll(wait=False)
            return
        engine = self._engine
        t0 = time.perf_counter()
        path = self._next_path()
        after_seq = engine.journal.last_seq
        reply = await engine.sim.request({"cmd": "save", "path": str(path), "background": True})
        engine.prometheus.checkpoint_duration.observe(time.perf_counter() - t0)
        if "job" not in reply:  # a sim without background saves wrote it synchronously
            cp = Checkpoint(int(reply["tick"]), path, str(reply["hash"]))
            engine.journal.checkpoint(cp, after_seq=after_seq)
            self.since_checkpoint = 0
            return
        self.pending = PendingSave(int(reply["job"]), int(reply["tick"]), path, after_seq, t0)
        # since_checkpoint stays at checkpoint_every: the tick loop calls back every tick (a poll)

    async def settle(self, *, keep: bool = True) -> None:
        """Wait for the background save in flight, if any; record it if it succeeded and
        ``keep`` (else, e.g. before a reset that supersedes it, delete its file)."""
        if self.pending is not None:
            await self._poll(wait=True, keep=keep)

    async def _poll(self, *, wait: bool, keep: bool = True) -> None:
        pending = self.pending
        assert pending is not None
        engine = self._engine
        try:
            reply = await engine.sim.request({"cmd": "saves", "wait": wait})
        except (SimError, SimUnavailable) as exc:
            # the sim went away (the job went with it; the previous base still stands) or
            # cannot report: a new background save is started at the next checkpoint call
            log.warning("background save of tick %d lost: %s", pending.tick, exc)
            if self.pending is pending:
                self.pending = None
            return
        if self.pending is not pending:  # a sim recovery dropped it meanwhile
            return
        done = next((s for s in reply["saves"] if int(s["job"]) == pending.job), None)
        if done is None:
            if pending.job in [int(j) for j in reply.get("pending", [])]:
                return  # still being written
            log.warning("background save of tick %d vanished (sim restarted?)", pending.tick)
            self.pending = None
            return
        self.pending = None
        if not done["ok"]:
            self.background_failures += 1
            self.since_checkpoint = 0  # try again in checkpoint_every ticks, not every tick
            log.error("background checkpoint of tick %d failed: %s", pending.tick, done["error"])
            return
        if not keep:
            with contextlib.suppress(OSError):
                pending.path.unlink()
            return
        cp = Checkpoint(pending.tick, pending.path, str(done["hash"]))
        engine.journal.checkpoint(cp, after_seq=pending.after_seq)
        self.background_saves += 1
        self.since_checkpoint = max(0, engine.tick - pending.tick)
        log.debug(
            "background checkpoint of tick %d recorded (%.3fs in the sim, %.3fs in all)",
            pending.tick,
            float(done.get("seconds", 0.0)),
            time.perf_counter() - pending.started,
        )

    # ------------------------------------------------------------------ sim recovery

    async def recover(self, request: Request) -> None:
        """Bring a fresh sim child to the state the engine had (the supervisor's callback).

        Loads the latest checkpoint, replays the journal and compares the recorded hashes.
        """
        self.serial += 1
        serial = self.serial
        if self.pending is not None:  # the writer died with its sim (never recorded)
            log.warning("background save of tick %d lost with the sim", self.pending.tick)
            self.pending = None
        checkpoint, entries = self._engine.journal.latest()
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
        self.verified = mismatches == 0

    async def recovered_reply(self, tick: int) -> dict[str, Any]:
        """The sim failed during tick ``tick``, whose row was committed: the next recovery (one
        that starts after this call) replays it, with observations; its reply stands in for the
        lost one. Never sends the tick again (that would apply it twice)."""
        after = self.serial
        while self._recovered_serial <= after:
            await self._recovery_done.wait()
        reply = self._recovered
        if reply is None or int(reply["tick"]) != tick:
            # cannot happen while every tick goes through the engine's step; refuse to guess
            raise RuntimeError(f"tick {tick} is journaled but the recovered sim did not reach it")
        log.info("tick %d completed by the recovery's replay of its journal row", tick)
        return reply
