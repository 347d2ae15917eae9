"""Checkpoints, the start (resume from the journal, or a new universe) and sim recovery.

The journal's side of the engine: `Recovery.checkpoint` saves the sim's state as the journal's
new base; `Recovery.start` resumes a daemon from the journal (the last committed tick) or starts
a universe, fresh or forked; `Recovery.recover` is the sim supervisor's callback that brings a
restarted sim child back to the engine's state (checkpoint + journal replay), and
`Recovery.recovered_reply` completes the tick the crash interrupted from that replay.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import trio

from .journal import Checkpoint, Entry
from .registry import PolicyController
from .simproc import Request
from .state import EngineState
from .store import SqliteJournal, replay
from .window import ActionWindow

__all__ = ["Recovery"]

log = logging.getLogger(__name__)


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

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Resume from the journal if it has a checkpoint; else start a universe: fresh (the
        configured seed and sim config) or forked from ``fork_from``. Ends with a checkpoint."""
        engine = self._engine
        config = engine.config
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
            await self.checkpoint()
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

    async def checkpoint(self, *, reset: bool = False) -> None:
        """Save the sim's state; ``reset``: the engine's view starts over here (no
        observations carried across: a fresh start, a restore, a load or fork)."""
        engine = self._engine
        t0 = time.perf_counter()
        self._checkpoint_seq += 1
        journal = engine.journal
        if isinstance(journal, SqliteJournal):
            path = journal.next_checkpoint_path(engine.tick)
        else:
            path = engine.state_dir / f"checkpoint-{self._checkpoint_seq:08d}.usim"
        reply = await engine.sim.request({"cmd": "save", "path": str(path)})
        cp = Checkpoint(int(reply["tick"]), path, str(reply["hash"]))
        journal.checkpoint(cp, reset=reset)
        self.since_checkpoint = 0
        engine.prometheus.checkpoint_duration.observe(time.perf_counter() - t0)

    # ------------------------------------------------------------------ sim recovery

    async def recover(self, request: Request) -> None:
        """Bring a fresh sim child to the state the engine had (the supervisor's callback).

        Loads the latest checkpoint, replays the journal and compares the recorded hashes.
        """
        self.serial += 1
        serial = self.serial
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
