"""The admin commands: what the REST API and SIGHUP do to the universe besides ticking.

Inject an event, change the sim config, load or clear a scenario, take a snapshot, fork from
one, restore one, load a save file, reload the configuration. Each takes the engine's state lock,
so no command lands in the middle of a tick; the state-changing sim commands are journaled (a
recovery replays them at the same tick), and a command that replaces the whole state (restore,
load, fork) starts the journal over from a new checkpoint and sends the agents fresh observations.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .config import Config
from .journal import Entry
from .recovery import Recovery
from .simproc import SimError
from .state import EngineState
from .store import SqliteJournal, valid_tag
from .window import ActionWindow

__all__ = ["RELOADABLE", "AdminCommands"]

log = logging.getLogger(__name__)

#: Keys a reload applies; the others need a restart (they are logged and left alone).
RELOADABLE = frozenset(
    {
        "mode", "tick_rate", "agent_timeout_ms", "fallback_policy", "default_policy",
        "inherit_controller", "sim_timeout_ms", "checkpoint_every", "verify_every",
        "dashboard_max_observations", "log_level", "sim_config", "policies",
        "lineage_policies", "newborn_policy", "ledger_scope",
    }
)  # fmt: skip


class AdminCommands:
    """Owned by the `Engine` (``engine.commands``, each command also an `Engine` method)."""

    def __init__(self, engine: EngineState, recovery: Recovery) -> None:
        self._engine = engine
        self._recovery = recovery

    async def inject(self, event: Mapping[str, Any]) -> dict[str, Any]:
        engine = self._engine
        async with engine.state_lock:
            reply = await engine.sim.request({"cmd": "inject", "event": dict(event)})
            engine.journal.append(Entry("inject", engine.tick, dict(event)))
        return reply

    async def configure_sim(self, data: dict[str, Any], *, journal: bool = True) -> dict[str, Any]:
        engine = self._engine
        async with engine.state_lock:
            reply = await engine.sim.request({"cmd": "config", "data": data})
            if journal:
                engine.journal.append(Entry("config", engine.tick, data))
        return reply

    def _snapshot_file(self, tag: str) -> Path:
        journal = self._engine.journal
        if isinstance(journal, SqliteJournal):
            return journal.snapshot_path(tag)  # ValueError for a bad tag
        return self._engine.state_dir / "snapshots" / (tag.encode().hex() + ".usim")

    async def snapshot(self, tag: str) -> dict[str, Any]:
        """Snapshot in the sim's memory, and to a file (listed in the journal) so it survives
        sim and daemon restarts."""
        engine = self._engine
        path = self._snapshot_file(tag)
        async with engine.state_lock:
            reply = await engine.sim.request({"cmd": "snapshot", "tag": tag})
            saved = await engine.sim.request({"cmd": "save", "path": str(path)})
            if isinstance(engine.journal, SqliteJournal):
                engine.journal.record_snapshot(
                    tag, int(saved["tick"]), str(saved["hash"]), int(saved["bytes"])
                )
        return reply

    def snapshots(self) -> list[dict[str, Any]]:
        """The named snapshots kept on disk (oldest first)."""
        journal = self._engine.journal
        if isinstance(journal, SqliteJournal):
            return [s.to_json() for s in journal.snapshots()]
        return []

    async def fork(self, tag: str, seed: int) -> dict[str, Any]:
        """Replace the universe with snapshot ``tag``'s past and a new event seed."""
        path = self._snapshot_file(tag)
        if not path.is_file():
            raise SimError("unknown_tag", f"no snapshot {tag!r} on disk")
        reply = await self.load_save(str(path), seed)
        log.warning("forked from snapshot %r (tick %s) with seed %d", tag, reply["tick"], seed)
        return {"forked": tag, "tick": self._engine.tick, "seed": seed, "hash": reply["hash"]}

    async def restore(self, tag: str) -> dict[str, Any]:
        engine = self._engine
        async with engine.state_lock:
            try:
                reply = await engine.sim.request({"cmd": "restore", "tag": tag})
            except SimError as exc:
                if exc.code != "unknown_tag" or not valid_tag(tag):
                    raise
                path = self._snapshot_file(tag)  # after a restart only the file is left
                if not path.is_file():
                    raise
                await engine.sim.request({"cmd": "load", "path": str(path)})
                reply = {"ok": True, "restored": tag}
            await self._state_replaced()
            reply["tick"] = engine.tick
        return reply

    async def load_save(self, path: str, seed: int | None = None) -> dict[str, Any]:
        """Replace the whole state with a save file; with ``seed``, a fork (new event seed).

        Like a restore: a new checkpoint is the journal's base, agents get fresh observations.
        """
        engine = self._engine
        command: dict[str, Any] = {"cmd": "load", "path": path}
        if seed is not None:
            command["seed"] = seed
        async with engine.state_lock:
            reply = await engine.sim.request(command)
            engine.seed = int(reply.get("seed", engine.seed))
            await self._state_replaced()
            reply["tick"] = engine.tick
        return reply

    async def load_scenario(self, command: dict[str, Any]) -> dict[str, Any]:
        """Load (``{"scenario": {...}}``) or clear (``{"clear": true}``) the timed event script.

        Journaled like config changes: a recovery replays it at the same tick.
        """
        engine = self._engine
        async with engine.state_lock:
            reply = await engine.sim.request({"cmd": "scenario", **command})
            engine.journal.append(Entry("scenario", engine.tick, command))
        return reply

    async def _state_replaced(self) -> None:
        engine = self._engine
        engine.tick = await engine.probes.load()
        engine.observations = {}
        engine.references = {}
        engine.window = ActionWindow(engine.tick, set())
        await self._recovery.checkpoint(reset=True)
        # agents get fresh observations of the restored state
        for ctrl in list(engine.registry.remotes.values()):
            batch = []
            for pid in sorted(ctrl.probes):
                obs = await engine.observation_of(pid, ctrl.shape)
                if obs is not None and obs.get("status") != "destroyed":
                    batch.append(obs)
                    engine.window.expect(pid)
            if batch:
                ctrl.deliver(engine.tick, batch)

    # ------------------------------------------------------------------ reload (SIGHUP)

    async def reload(self, new: Config) -> tuple[list[str], list[str]]:
        """Apply the reloadable keys of ``new`` that differ from the running configuration.

        Returns (applied keys, keys that need a restart). Sim config changes are applied (and
        journaled) like ``POST /api/config``, only for keys whose configured value changed.

        Raises:
            ValueError: ``new`` names an unknown policy (nothing is applied).
        """
        engine = self._engine
        old = engine.config
        changed = [
            f.name for f in attrs.fields(Config) if getattr(old, f.name) != getattr(new, f.name)
        ]
        applied = {k: getattr(new, k) for k in changed if k in RELOADABLE}
        restart = [k for k in changed if k not in RELOADABLE]
        registry = engine.registry
        table = registry.policy_table
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
        engine.config = attrs.evolve(old, **applied)
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
            parents = engine.probes.parents
            registry.apply_lineages(list(parents), parents.get, old.lineage_policies)
        if "agent_timeout_ms" in applied:
            engine.agent_timeout = new.agent_timeout
        if "sim_timeout_ms" in applied:
            engine.sim.timeout = new.sim_timeout_ms / 1000.0
        if "log_level" in applied:
            logging.getLogger().setLevel(new.log_level.upper())
        if "mode" in applied or "tick_rate" in applied:
            engine.set_mode(new.mode if "mode" in applied else engine.mode, new.tick_rate)
        if "sim_config" in applied:
            diff = {k: v for k, v in new.sim_config.items() if old.sim_config.get(k) != v}
            if diff:
                await self.configure_sim(diff)
        return sorted(applied), restart
