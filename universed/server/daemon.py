"""Composition: config -> plugins -> sim supervisor -> engine -> gateway (+ REST app).

`Daemon.run` runs every part in one trio nursery and reports ready (``task_status.started``)
with the bound port once the sim answered and the port is listening. SIGTERM/SIGINT handling
lives in cli/commands.py (`serve`), which cancels this nursery; the sim child is stopped on the
way out.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from typing import Any

import trio

from ..agents.plugins import load_policies, make_plugin_manager
from ..core.config import Config
from ..core.engine import Engine
from ..core.journal import Journal
from ..core.ledger import Ledger
from ..core.registry import Registry
from ..core.simproc import SimSupervisor, find_sim_binary
from .auth import Auth, install_rest_guard, resolve_admin_token
from .dashboard import DashboardHub
from .gateway import Gateway
from .limits import KeyedRateLimiter, Limits
from .rest.app import create_app

__all__ = ["Daemon", "tune_gc", "tune_malloc"]

log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the tick path (call once the daemon is serving).

    Each tick parses the sim's reply into tens of thousands of dicts that live until the next
    tick. With CPython's default thresholds they survive into the oldest generation and set off
    a full collection every few ticks, each scanning the whole heap: measured at 1,000 agents,
    parsing a 600 KB reply took 21 ms instead of 3.3 ms. Almost all of that garbage is freed by
    reference counting; cycles (tracebacks, closed connections) are rare and small. So: freeze
    what startup allocated (it is never garbage) and collect the young generation per 100,000
    allocations instead of 700. Process-wide, hence here and not in `Daemon`.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: big buffers come from the heap, not from mmap (glibc's ceiling for this parameter: 32 MiB)
MMAP_THRESHOLD = 32 << 20
#: free memory the heap keeps rather than hand back to the kernel
TRIM_THRESHOLD = 256 << 20


def tune_malloc() -> bool:
    """Keep the per-tick buffers off the kernel's page-fault path (glibc; call once, at start).

    A tick's reply is read in chunks of up to 1 MiB (each read allocates that much, then
    shrinks it) and joined (8 MB at 1,000 full observations); every such buffer lives for one
    tick. With glibc's defaults a 1 MiB request is above the mmap threshold (which rises only
    to the size of what was freed: the shrunk chunks), so every read is a fresh ``mmap`` whose
    pages fault in and are zeroed, and the heap's free top is given back and faulted in again;
    how much of it happens depends on the heap's history, so the same bench varied up to 2x
    between runs. Big buffers from the heap, and no trim below 256 MiB of free memory:
    measured at 1,000 full agents, the daemon's kernel time 12-13 -> 8-9 ms a tick and 31-34
    -> 36-40 ticks/s; the bare pipe reader at 100 full observations, 50-174 -> 0 page faults a
    tick (tests/test_tuning.py). The price: the process keeps its peak heap. False where
    there is no glibc ``mallopt``.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_ok and trim_ok)


class Daemon:
    """All parts of a running universed.

    Args:
        config: validated configuration.
        plugins: extra plugin objects to register (tests, embedding).
        journal: durability seam (default: in memory).
        sim_args: extra sim command-line arguments (benchmarks: ``--populate N``).
    """

    def __init__(
        self,
        config: Config,
        *,
        plugins: tuple[object, ...] = (),
        journal: Journal | None = None,
        sim_args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.pm = make_plugin_manager(plugins)
        self.policies = load_policies(self.pm, config.to_json())
        self.registry = Registry(
            self.policies,
            fallback=config.fallback_policy,
            default=config.default_policy,
            inherit=config.inherit_controller,
            newborn=config.newborn_policy,
            lineages=config.lineage_policies,
        )
        self.hub = DashboardHub(config.dashboard_queue)
        self.sim = SimSupervisor(
            find_sim_binary(config.sim_path),
            seed=config.seed,
            timeout=config.sim_timeout_ms / 1000.0,
            extra_args=sim_args,
        )
        self.engine = Engine(config, self.sim, self.registry, self.hub, journal)
        self.engine.ledger = Ledger(self.engine.state_dir / "ledger.sqlite")
        self.sim.recover = self.engine.recover
        self.app = create_app(self.engine, self.describe_agents)
        self.admin_token = resolve_admin_token(
            config.admin_token,
            self.engine.state_dir,
            host=config.host,
            durable_state_dir=bool(config.state_dir),
        )
        self.auth = Auth(
            self.admin_token.value,
            admin=config.auth_admin,
            read=config.auth_read,
            read_token=config.read_token,
            agents=config.auth_agents,
            agent_tokens=config.agent_tokens,
            host=config.host,
        )
        self.limits = Limits(
            max_connections=config.max_connections,
            max_connections_per_address=config.max_connections_per_address,
            ws_messages_per_second=config.ws_messages_per_second,
            ws_message_burst=config.ws_message_burst,
            rest_requests_per_second=config.rest_requests_per_second,
            rest_request_burst=config.rest_request_burst,
            ping_interval=config.ping_interval_ms / 1000.0,
            ping_timeout=config.ping_timeout_ms / 1000.0,
            max_rest_body=config.max_rest_body_bytes,
            ws_send_queue=config.ws_send_queue,
            ws_max_fragments=config.ws_max_fragments,
        )
        install_rest_guard(
            self.app,
            self.auth,
            KeyedRateLimiter(config.rest_requests_per_second, config.rest_request_burst),
            max_body=config.max_rest_body_bytes,
        )
        self.gateway = Gateway(
            self.engine,
            self.registry,
            self.hub,
            self.app,
            host=config.host,
            port=config.port,
            max_message=config.max_message_bytes,
            auth=self.auth,
            limits=self.limits,
        )
        self.port = config.port

    def describe_agents(self) -> dict[str, Any]:
        out = self.registry.describe()
        registered = {a["id"] for a in out["agents"]}
        for session in self.gateway.agent_sessions:
            if session.id not in registered:
                out["agents"].append(session.describe())
        out["connected"] = len(self.gateway.agent_sessions)
        out["dashboards"] = self.gateway.dashboards
        out["policies"] = sorted(self.policies)
        return out

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; ``started(port)`` once serving."""
        try:
            await self._run(task_status)
        finally:
            if self.engine.ledger is not None:
                self.engine.ledger.close()
            self.engine.close()

    async def _run(self, task_status: trio.TaskStatus[int]) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.sim.run)
            await nursery.start(self.engine.run)
            self.port = await nursery.start(self.gateway.run)
            log.info(
                "universed serving on http://%s:%d (seed %d, %s mode, sim pid %s)",
                self.config.host,
                self.port,
                self.config.seed,
                self.engine.mode,
                self.sim.pid,
            )
            token = self.admin_token
            log.info(
                "admin token: %s%s; agents: %s",
                token.source,
                f" ({token.path})" if token.path else "",
                "open (anyone may register any probe)" if self.auth.agents_open else "tokens",
            )
            task_status.started(self.port)
