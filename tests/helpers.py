"""Test helpers: a daemon on an ephemeral port, a tiny HTTP client, WebSocket agents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from universed.core.config import Config, load_config
from universed.server.daemon import Daemon


def make_config(**overrides: Any) -> Config:
    base: dict[str, Any] = {"port": 0, "mode": "paused", "agent_timeout_ms": 2000}
    # open admin REST and no REST rate limit, unless a test asks (tests/test_security_e2e.py)
    base.update(auth_admin="open", rest_requests_per_second=1e6, rest_request_burst=1000000)
    base.update(overrides)
    return load_config(base, environ={})


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
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(head + payload)
        data = b""
        while True:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
    head_bytes, _, content = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    headers = head_bytes.decode().lower()
    if "transfer-encoding: chunked" in headers:
        content = dechunk(content)
    try:
        return status, orjson.loads(content)
    except orjson.JSONDecodeError:
        return status, content.decode()


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


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
