"""Test helpers: a daemon on an ephemeral port, a tiny HTTP client, WebSocket agents."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from universed.agents.client import http_exchange
from universed.core.config import Config, load_config
from universed.core.simproc import SimSupervisor, find_sim_binary
from universed.server.daemon import Daemon

#: sim config keys that turn the random events off (tests that inject their own)
QUIET = {
    "event_freq_hazard": 0,
    "event_freq_discovery": 0,
    "event_freq_anomaly": 0,
    "event_freq_encounter": 0,
    "event_freq_crisis": 0,
    "event_freq_wonder": 0,
}


def make_config(**overrides: Any) -> Config:
    base: dict[str, Any] = {"port": 0, "mode": "paused", "agent_timeout_ms": 2000}
    # open admin REST and no REST rate limit, unless a test asks (tests/test_security_e2e.py)
    base.update(auth_admin="open", rest_requests_per_second=1e6, rest_request_burst=1000000)
    base.update(overrides)
    return load_config(base, environ={})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a daemon in a subprocess)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reap(proc: subprocess.Popen[bytes]) -> None:
    """A test's last word on its subprocess: killed if it still runs, its stderr pipe closed."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


@asynccontextmanager
async def running_daemon(**overrides: Any) -> AsyncIterator[Daemon]:
    plugins = overrides.pop("plugins", ())
    sim_args = overrides.pop("sim_args", ())
    mux = overrides.pop("mux", True)  # False: each agent connection reads in its own task
    daemon = Daemon(make_config(**overrides), plugins=plugins, sim_args=sim_args)
    if not mux:
        daemon.gateway.mux = None
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run)
        try:
            yield daemon
        finally:
            nursery.cancel_scope.cancel()


async def http(
    port: int, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> tuple[int, Any]:
    """One HTTP/1.1 request to 127.0.0.1:port; returns (status, decoded JSON or text)."""
    payload = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
    status, _, content = await http_exchange("127.0.0.1", port, method, path, payload)
    try:
        return status, orjson.loads(content)
    except orjson.JSONDecodeError:
        return status, content.decode()


@asynccontextmanager
async def agent(port: int, path: str = "/ws") -> AsyncIterator[WebSocketConnection]:
    async with open_websocket_url(f"ws://127.0.0.1:{port}{path}") as ws:
        yield ws


async def recv(ws: WebSocketConnection, limit: float = 5.0) -> dict[str, Any]:
    with trio.fail_after(limit):
        msg = await ws.get_message()
    obj: dict[str, Any] = orjson.loads(msg)
    return obj


async def send(ws: WebSocketConnection, obj: Any) -> None:
    await ws.send_message(orjson.dumps(obj).decode())


async def recv_type(ws: WebSocketConnection, kind: str, limit: float = 5.0) -> dict[str, Any]:
    """The next message of type ``kind`` (others are skipped)."""
    with trio.fail_after(limit):
        while True:
            msg = await recv(ws, limit)
            if msg.get("type") == kind:
                return msg


async def register(ws: WebSocketConnection, probe_id: str = "1-1") -> dict[str, Any]:
    await send(ws, {"type": "register", "probe_id": probe_id})
    return await recv_type(ws, "registered")


@asynccontextmanager
async def sim_child(*args: str, seed: int = 42) -> AsyncIterator[SimSupervisor]:
    """A supervised ``universe-sim --pipe`` child (``args``: extra sim arguments)."""
    sim = SimSupervisor(find_sim_binary(), seed=seed, timeout=30, extra_args=args)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()
