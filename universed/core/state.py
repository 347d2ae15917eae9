"""What the engine's parts see of the engine: its shared state, as a protocol.

The admin commands (`core/commands.py`) and the recovery (`core/recovery.py`) are objects the
`Engine` owns and that hold it; they read and replace the state the tick loop runs on (the tick,
the observations, the open window, ...) under its state lock. They know the engine only through
`EngineState`, so none of them imports `core/engine.py` (no import cycle).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Protocol

import trio

from .config import Config
from .journal import Journal
from .metrics import Metrics
from .probes import ProbeIndex
from .registry import Registry
from .simproc import SimSupervisor
from .window import ActionWindow

__all__ = ["EngineState"]


class EngineState(Protocol):
    """The `Engine` attributes and methods its parts use."""

    config: Config
    sim: SimSupervisor
    registry: Registry
    journal: Journal
    state_lock: trio.Lock
    state_dir: Path
    prometheus: Metrics
    probes: ProbeIndex
    mode: str
    tick_rate: float
    agent_timeout: float
    agents_connected: int
    tick: int
    seed: int
    observations: MutableMapping[str, dict[str, Any]]
    references: dict[str, dict[str, Any]]
    window: ActionWindow
    resumed: dict[str, Any] | None

    @property
    def probe_count(self) -> int: ...

    @property
    def ticks_per_second(self) -> float: ...

    def set_mode(self, mode: str, tick_rate: float | None = None) -> None: ...

    async def configure_sim(
        self, data: dict[str, Any], *, journal: bool = True
    ) -> dict[str, Any]: ...

    async def observation_of(
        self, probe_id: str, shape: str = "readable"
    ) -> dict[str, Any] | None: ...
