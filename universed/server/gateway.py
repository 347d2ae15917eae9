"""The front door: one TCP port for agents, dashboards, REST and the web page.

Every connection's HTTP request head is read here. WebSocket upgrades for ``/ws`` (agents) and
``/ws/dashboard`` go to our thin transport (wstransport.py): that is the hot path, and the
measured reason this module exists (docs/performance.md, "Daemon"). Every other connection is
handed, with the bytes already read replayed, to hypercorn's trio per-connection server running
the Quart app (REST ``/api``, the static page ``/``), or, for ``/mcp``, the MCP server's
streamable HTTP app (mcphttp.py, started on the first such request).

Agent protocol: docs/agent-protocol.md. On Linux every agent connection is read by one task
(readmux.py: an epoll set, one trio wakeup for many messages); actions are handled as they are
read, registrations in the connection's own task. Observations are written directly to the
socket when it is writable; a writer task per connection flushes what could not be.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from ..core import messages as m
from ..core.engine import Engine
from ..core.registry import Registry, RemoteController
from . import readmux
from .auth import AgentGrant, Auth, Denied, bearer_token, error_body, split_register_token
from .dashboard import SHAPES, DashboardHub
from .limits import ConnectionLimiter, Heartbeat, LimitExceeded, Limits, TokenBucket
from .readmux import ReadMux
from .wstransport import WebSocket, accept_key

__all__ = ["AgentSession", "Gateway"]

log = logging.getLogger(__name__)
MAX_HEAD = 16384
HEAD_TIMEOUT = 10.0
_conn_ids = itertools.count(1)
HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class ReplayStream(trio.abc.HalfCloseableStream):
    """A socket stream whose first reads return bytes we already consumed."""

    def __init__(self, stream: trio.SocketStream, head: bytes) -> None:
        self._stream = stream
        self._head = head
        self.socket = stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    # Quart cancels the task that finishes a response, and hypercorn closes the connection from
    # that task: shield the close so a "Connection: close" response really ends the connection.
    async def send_eof(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.send_eof()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.aclose()


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, path and lower-cased headers of an HTTP/1.1 request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header line")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


class AgentSession(RemoteController):
    """One agent WebSocket connection; it controls the probes it registered."""

    def __init__(self, gateway: Gateway, ws: WebSocket, remote_addr: str) -> None:
        super().__init__(f"agent@{remote_addr}", inherits=False)
        self.gateway = gateway
        self.engine = gateway.engine
        self.registry = gateway.registry
        self.ws = ws
        self.remote_addr = remote_addr
        self.lineage = False
        self.single: str | None = None  # the probe of a single-probe connection
        # agent tokens (auth.py): the connection's grant; None = open mode (anything goes)
        self.grant: AgentGrant | None = None
        self.needs_token = False  # token mode and no token yet: register must carry one
        # delta observations (register "delta": true): the last observation sent per probe, and
        # the connection's message sequence number (docs/agent-protocol.md "Delta observations")
        self.delta = False
        self.seq = 0
        self.base: dict[str, Mapping[str, Any]] = {}

    def deliver(self, tick: int, observations: Sequence[Mapping[str, Any]]) -> None:
        if self.delta:
            self._deliver_delta(tick, observations, full=True)
            return
        if self.fleet:
            self.ws.send(m.encode_observe_batch(observations, tick))
        else:
            for obs in observations:
                self.ws.send(m.encode_observe(obs, tick))

    @property
    def plain(self) -> bool:  # type: ignore[override]  # a class attribute in the base
        return not self.delta and not self.fleet

    def deliver_piece(self, piece: m.Piece, tail: bytes) -> None:
        self.ws.send_parts((memoryview(piece)[:-1], tail))

    def deliver_group(self, tick: int, group: bytes, whole: bool) -> None:
        """The fleet's delta group as the sim wrote it, framed as one message: an
        ``observe_batch`` (whole: the first after a registration or resync) or an
        ``observe_batch_delta``; the group's keys follow the envelope's as they are."""
        self.seq += 1
        kind = b"observe_batch" if whole else b"observe_batch_delta"
        head = b'{"type":"%b","tick":%d,"seq":%d,' % (kind, tick, self.seq)
        self.ws.send_parts((head, memoryview(group)[1:]))  # the group is not copied

    def deliver_wire(
        self, tick: int, observations: Sequence[Mapping[str, Any]], wires: Sequence[bytes]
    ) -> None:
        if self.delta:
            self._deliver_delta(tick, observations, full=False)
            return
        send = self.ws.send
        if self.fleet:
            send(m.encode_observe_batch_wire(wires, tick))
        else:
            for wire in wires:
                send(wire)

    def _deliver_delta(
        self, tick: int, observations: Sequence[Mapping[str, Any]], *, full: bool
    ) -> None:
        """Observations to a delta connection: whole for a probe it has no base for (or when
        ``full``), else only the top-level fields that changed since the last one sent."""
        base = self.base
        send = self.ws.send
        if full:
            base.clear()
        wholes: list[Mapping[str, Any]] = []
        deltas: list[dict[str, Any]] = []
        for obs in observations:
            pid = obs["probe_id"]
            prev = base.get(pid)
            if obs.get("status") == "destroyed":
                base.pop(pid, None)
            else:
                base[pid] = obs
            if self.fleet:
                if prev is None:
                    wholes.append(obs)
                else:
                    changed, removed = m.diff_observation(prev, obs)
                    deltas.append({"probe_id": pid, "changed": changed, "removed": removed})
                continue
            self.seq += 1
            if prev is None:
                out = dict(obs)
                out["type"] = "observe"
                out["tick"] = tick
                out["seq"] = self.seq
                send(m.encode(out))
            else:
                changed, removed = m.diff_observation(prev, obs)
                send(m.encode_observe_delta(pid, tick, self.seq, changed, removed))
        if not self.fleet:
            return
        self.seq += 1
        if full:
            send(
                m.encode(
                    {"type": "observe_batch", "tick": tick, "seq": self.seq, "observations": wholes}
                )
            )
            return
        message = {
            "type": "observe_batch_delta",
            "tick": tick,
            "seq": self.seq,
            "observations": wholes,
            "deltas": deltas,
        }
        send(m.encode(message))

    def resync(self) -> None:
        """``{"type":"resync"}``: the current observations of the connection's probes, whole
        (the tick's observation, or none yet: then the next tick's comes whole). A fleet whose
        deltas the sim computes gets them whole with the next tick."""
        if self.engine_delta:
            self.whole_next = True
            return
        engine = self.engine
        refs = engine.references if self.shape == "reference" else {}
        current = []
        for pid in sorted(self.probes):
            obs = refs.get(pid) or engine.observations.get(pid)
            if obs is not None and obs.get("status") != "destroyed":
                current.append(obs)
        self.base.clear()
        if current:
            self._deliver_delta(engine.tick, current, full=True)

    def released(self, probe_id: str) -> None:
        self.ws.send(
            m.encode_error(
                "replaced", f"probe {probe_id} is now controlled by another agent", "$.probe_id"
            )
        )
        if self.single == probe_id:
            self.single = None

    def error(self, code: str, message: str, path: str | None = None) -> None:
        self.ws.send(m.encode_error(code, message, path))

    def parent_of(self, probe_id: str) -> str | None:
        obs = self.engine.observations.get(probe_id)
        parent = obs.get("parent_id") if obs else None
        return parent if isinstance(parent, str) else None

    def on_birth(self, probe_id: str, parent_id: str) -> None:
        # a token holder inherits only newborns its grant covers (lineages); others fall back
        if self.grant is not None and not self.grant.allows(probe_id, self.parent_of):
            self.registry.drop_probe(probe_id, self)

    def _take_token(self, token: str) -> bool:
        auth = self.gateway.auth
        assert auth is not None
        grant = auth.agent_grant(token)
        if isinstance(grant, Denied):
            self.error(grant.code, grant.message, "$.token")
            return False
        self.grant = grant
        self.needs_token = False
        return True

    async def handle(self, data: bytes) -> None:
        reg = self.handle_now(data)
        if reg is not None:
            await self.register(reg)

    def handle_now(self, data: bytes) -> m.Register | None:
        """Handle one message without blocking; a registration is returned for `register`."""
        try:
            msg = m.parse_agent_message(data, self.probes)
        except m.MessageError as exc:
            # a register carrying its token fails on the unknown field: take the token out,
            # then parse again (not a scan of every message, 250 KB for a large fleet's actions)
            token = None
            if self.gateway.auth is not None:
                data, token = split_register_token(data)
            if token is None:
                self.error(exc.code, exc.message, exc.path)
                return None
            if not self._take_token(token):
                return None
            try:
                msg = m.parse_agent_message(data, self.probes)
            except m.MessageError as again:
                self.error(again.code, again.message, again.path)
                return None
        if isinstance(msg, m.Action):
            pid = msg.probe_id or self.single
            if pid is None:
                if len(self.probes) == 1:
                    pid = next(iter(self.probes))
                else:
                    self.error(
                        "not_registered" if not self.probes else "probe_id_required",
                        "register first" if not self.probes else "name the probe: probe_id",
                        "$.probe_id",
                    )
                    return None
            if not self.engine.submit(self, pid, msg.sim, self.ws.last_seen):
                self.error(
                    "not_controlled", f"this connection does not control {pid}", "$.probe_id"
                )
        elif isinstance(msg, m.Resync):
            if not self.delta:
                self.error("invalid", "resync is for delta connections (register delta: true)")
                return None
            self.resync()
        elif isinstance(msg, m.ActionsBatch):
            if msg.tick is not None and msg.tick != self.engine.window.tick:
                self.error(
                    "stale_tick",
                    f"actions for tick {msg.tick}, but the open tick is {self.engine.window.tick}",
                    "$.tick",
                )
                return None
            for pid in self.engine.submit_batch(self, msg.actions, owned=msg.owned):
                self.error(
                    "not_controlled",
                    f"this connection does not control {pid}",
                    f"$.actions[{pid!r}]",
                )
        else:
            return msg
        return None

    async def register(self, reg: m.Register) -> None:
        # under the engine's state lock: no tick runs between the observation we send and the
        # window that waits for the answer to it
        async with self.engine.state_lock:
            await self._register(reg)

    async def _register(self, reg: m.Register) -> None:
        ids = list(reg.ids)
        auth = self.gateway.auth
        if auth is not None and self.needs_token:
            self.error(
                "unauthorized",
                "this universe needs an agent token: ?token= or Authorization: Bearer on the "
                'upgrade, or "token" in the register message',
                "$.token",
            )
            return
        if auth is not None:
            refused = auth.may_register(self.grant, ids, self.parent_of)
            if refused is not None and self.grant is not None and self.grant.lineages:
                for pid in ids:  # a lineage grant needs the family tree: fetch it
                    await self.engine.observation_of(pid)
                refused = auth.may_register(self.grant, ids, self.parent_of)
            if refused is not None:
                index = ids.index(refused) if refused in ids else 0
                path = "$.probe_id" if reg.probe_ids is None else f"$.probe_ids[{index}]"
                self.error("forbidden", f"this token does not control probe {refused}", path)
                return
        shape = reg.shape
        observations = []
        # a readable delta fleet: the sim computes its deltas, and its first observations come
        # whole with the next tick; here each probe is only checked to be alive (no observation
        # read per probe: 100,000 probes register at once)
        engine_delta = reg.delta and reg.fleet and shape == "readable"
        alive = self.engine.parents
        for index, pid in enumerate(ids):
            if engine_delta and pid in alive:
                continue
            obs = None if engine_delta else await self.engine.observation_of(pid, shape)
            if obs is None or obs.get("status") == "destroyed":
                path = "$.probe_id" if reg.probe_ids is None else f"$.probe_ids[{index}]"
                what = "unknown" if obs is None else "destroyed"
                if engine_delta:
                    what = "unknown or destroyed"
                self.error("unknown_probe", f"probe {pid} is {what}", path)
                return
            observations.append(obs)
        if reg.lineage:
            ids = self.gateway.descendants(ids[0])
            if self.grant is not None:
                ids = [p for p in ids if self.grant.allows(p, self.parent_of)]
            observations = []
            for pid in ids:
                obs = await self.engine.observation_of(pid, shape)
                if obs:
                    observations.append(obs)
        # re-registering replaces this connection's previous probes
        for old in list(self.probes):
            if old not in ids:
                self.registry.drop_probe(old, self)
        self.fleet = reg.fleet
        self.lineage = reg.lineage
        self.detail = reg.detail
        self.shape = shape
        self.delta = reg.delta
        # a readable delta fleet: the sim computes its deltas (`deliver_group`)
        self.engine_delta = reg.delta and reg.fleet and shape == "readable"
        self.base.clear()
        self.inherits = reg.lineage or (reg.fleet and self.registry.inherit)
        self.single = None if reg.fleet else ids[0]
        self.connected_at_tick = self.engine.tick
        for pid in ids:
            self.registry.assign(pid, self)
        self.ws.send(m.encode_registered(reg, ids))
        self.whole_next = True
        live = [o for o in observations if o.get("status") != "destroyed"]
        if self.engine_delta:
            return  # its whole observations come with the next tick (`deliver_group`)
        if live:
            for o in live:
                self.engine.expect(o["probe_id"])
            self.deliver(self.engine.tick, live)


class Gateway:
    """Listens on one port; see the module docstring.

    Args:
        engine, registry, hub: the daemon's parts.
        app: the ASGI app (Quart) serving everything that is not a WebSocket upgrade.
        host, port: where to listen (port 0 = any free port; see ``self.port`` once started).
        max_message: largest WebSocket message accepted from a client.
        auth: who may do what (auth.py); None = everything open (embedding, unit tests).
        limits: connection, rate and heartbeat limits (limits.py).
        use_mux: read agent connections from one epoll task (readmux.py) where available.
    """

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        hub: DashboardHub,
        app: Any,
        *,
        host: str,
        port: int,
        max_message: int = 1 << 20,
        auth: Auth | None = None,
        limits: Limits | None = None,
        use_mux: bool = True,
    ) -> None:
        self.auth = auth
        self.limits = limits if limits is not None else Limits()
        self.connections = ConnectionLimiter(
            self.limits.max_connections, self.limits.max_connections_per_address
        )
        self.reaped = 0  # connections closed by the heartbeat
        self.rate_limited = 0  # connections closed for exceeding the message rate
        self.engine = engine
        self.registry = registry
        self.hub = hub
        self.app = app
        self.host = host
        self.port = port
        self.max_message = max_message
        self.agent_sessions: set[AgentSession] = set()
        # every agent connection read by one task (readmux.py); None = a task per connection
        self.mux: ReadMux | None = ReadMux() if use_mux and readmux.available() else None
        self.dashboards = 0
        self._hyper = HyperConfig()
        self._hyper.accesslog = None
        self._hyper.errorlog = logging.getLogger("hypercorn.error")
        self._hyper.graceful_timeout = 0.5
        self._app_wrapper = wrap_app(app, self._hyper.wsgi_max_body_size, None)
        self._lifespan_state: dict[str, Any] = {}
        self._context = WorkerContext(None)
        self._mcp: Any = None  # the /mcp hub (mcphttp.py), made on the first request
        self._mcp_lock = trio.Lock()
        self._outer: trio.Nursery | None = None

    def descendants(self, root: str) -> list[str]:
        """``root`` and its live descendants, from the engine's probe index."""
        children = self.engine.children_of()
        out, todo = [], [root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, ()))
        return sorted(out, key=lambda p: tuple(int(x) for x in p.split("-")))

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``task_status.started(port)`` once the port is bound."""
        lifespan = Lifespan(self._app_wrapper, self._hyper, self._lifespan_state)
        async with trio.open_nursery() as outer:
            self._outer = outer
            await outer.start(lifespan.handle_lifespan)
            await lifespan.wait_for_startup()
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
            self.port = listeners[0].socket.getsockname()[1]
            if self.mux is not None:
                outer.start_soon(self.mux.run)
            async with trio.open_nursery() as handlers:
                task_status.started(self.port)
                try:
                    await trio.serve_listeners(self._handle, listeners, handler_nursery=handlers)
                finally:
                    handlers.cancel_scope.cancel()
                    outer.cancel_scope.cancel()

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            peer = stream.socket.getpeername()
        except OSError:
            await stream.aclose()
            return
        host = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        addr = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            slot = self.connections.acquire(host)
        except LimitExceeded as exc:
            status = 503 if exc.scope == "total" else 429
            await self._http_error(stream, status, exc.message, "too_many_connections", 1)
            return
        try:
            with slot:
                await self._handle_connection(stream, addr)
        except Exception:
            # one connection's failure must never take the listener (and the daemon) down
            log.exception("connection from %s failed", addr)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _handle_connection(self, stream: trio.SocketStream, addr: str) -> None:
        try:
            head, rest = await self._read_head(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, ValueError):
            await stream.aclose()
            return
        try:
            method, path, headers = parse_head(head)
        except ValueError:
            await self._http_error(stream, 400, "bad request")
            return
        route = path.split("?", 1)[0]
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if upgrade and route in ("/ws", "/ws/dashboard"):
            key = headers.get("sec-websocket-key")
            if method != "GET" or not key or headers.get("sec-websocket-version") != "13":
                await self._http_error(stream, 400, "bad WebSocket handshake")
                return
            query = path.partition("?")[2]
            shape = "reference"
            if route == "/ws/dashboard":
                shapes = parse_qs(query).get("shape") or ["reference"]
                shape = shapes[-1]
                if shape not in SHAPES:
                    await self._http_error(
                        stream,
                        400,
                        f"shape must be one of {', '.join(SHAPES)}, got {shape!r}",
                        "invalid",
                    )
                    return
            grant: AgentGrant | Denied | None = None
            if self.auth is not None:
                if route == "/ws":
                    token = bearer_token(headers, query)
                    grant = self.auth.agent_grant(token)
                    if isinstance(grant, Denied) and token is not None:
                        await self._http_error(stream, grant.status, grant.message, grant.code)
                        return
                else:
                    denied = self.auth.check_request("GET", route, headers, query)
                    if denied is not None:
                        await self._http_error(stream, denied.status, denied.message, denied.code)
                        return
            await stream.send_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_key(key).encode()
                + b"\r\n\r\n"
            )
            lim = self.limits
            ws = WebSocket(
                stream,
                max_message=self.max_message,
                max_pending=lim.ws_send_queue,
                max_fragments=lim.ws_max_fragments,
                rate=TokenBucket(lim.ws_messages_per_second, lim.ws_message_burst),
            )
            if route == "/ws":
                await self._serve_agent(ws, addr, rest, grant)
            else:
                await self._serve_dashboard(ws, rest, shape)
            return
        app = self._app_wrapper
        if route == "/mcp" or route.startswith("/mcp/"):
            # MCP over streamable HTTP; the hub checks each request's agent token (mcphttp.py)
            app = (await self._mcp_hub()).app
        server = TCPServer(
            app,
            self._hyper,
            self._context,
            ConnectionState(self._lifespan_state.copy()),
            ReplayStream(stream, head + rest),  # type: ignore[arg-type]
        )
        await server.run()

    async def _mcp_hub(self) -> Any:
        """The ``/mcp`` app (server/mcphttp.py), started on the first request: the MCP SDK is
        imported only when someone asks for it."""
        async with self._mcp_lock:
            if self._mcp is None:
                from .mcphttp import McpHttp

                host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
                netloc = f"[{host}]" if ":" in host else host
                hub = McpHttp(
                    f"ws://{netloc}:{self.port}/ws",
                    host=self.host,
                    max_body=self._hyper.wsgi_max_body_size,
                    auth=self.auth,
                )
                assert self._outer is not None
                await self._outer.start(hub.run)
                self._mcp = hub
        return self._mcp

    async def _read_head(self, stream: trio.SocketStream) -> tuple[bytes, bytes]:
        buf = b""
        with trio.fail_after(HEAD_TIMEOUT):
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise trio.BrokenResourceError("closed before the request head")
                buf += chunk
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    return buf[: end + 4], buf[end + 4 :]
                if len(buf) > MAX_HEAD:
                    raise ValueError("request head too large")

    async def _http_error(
        self,
        stream: trio.SocketStream,
        status: int,
        text: str,
        code: str = "bad_request",
        retry_after: int | None = None,
    ) -> None:
        body = error_body(code, text)
        reason = HTTP_REASONS.get(status, "Error")
        extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
        if status == 401:
            extra += 'WWW-Authenticate: Bearer realm="universed"\r\n'
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode()
                + body
            )
            # lingering close: closing with unread request bytes would reset the connection
            # before the client reads the answer
            await stream.send_eof()
            with trio.move_on_after(1.0):
                for _ in range(16):
                    if not await stream.receive_some(65536):
                        break
        await stream.aclose()

    async def _heartbeat(self, ws: WebSocket, done: Callable[[], None]) -> None:
        beat = Heartbeat(ws, self.limits.ping_interval, self.limits.ping_timeout)
        try:
            await beat.run()
        finally:  # the reader may see the closed stream and cancel us first
            if beat.reaped:
                self.reaped += 1
                log.info("heartbeat: closed a WebSocket that did not answer a ping")
        done()

    def _over_rate(self, ws: WebSocket, session: AgentSession | None) -> bool:
        if not ws.rate_limited:
            return False
        self.rate_limited += 1
        rate = self.limits.ws_messages_per_second
        if session is not None:
            session.error("rate_limited", f"more than {rate:g} messages per second; closing")
        return True

    async def _serve_agent(
        self, ws: WebSocket, addr: str, rest: bytes, grant: AgentGrant | Denied | None = None
    ) -> None:
        session = AgentSession(self, ws, addr)
        if isinstance(grant, Denied):
            session.needs_token = True  # token mode, none on the upgrade: register must bring one
        else:
            session.grant = grant
        self.agent_sessions.add(session)
        self.engine.agents_connected = len(self.agent_sessions)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ws.writer)
                nursery.start_soon(self._heartbeat, ws, nursery.cancel_scope.cancel)
                if self.mux is not None:
                    await self._read_agent_muxed(ws, session, rest)
                else:
                    await self._read_agent(ws, session, rest)
                if self._over_rate(ws, session):
                    with trio.CancelScope(shield=True):
                        await ws.close(1008, "rate limit")
                nursery.cancel_scope.cancel()
        finally:
            self.agent_sessions.discard(session)
            self.engine.agents_connected = len(self.agent_sessions)
            probes = list(session.probes)
            self.registry.drop(session)
            self.engine.forget(probes)
            if not ws.closed or ws.stream.socket.fileno() >= 0:
                with trio.CancelScope(shield=True):
                    await ws.close(1000, "")

    async def _read_agent(self, ws: WebSocket, session: AgentSession, rest: bytes) -> None:
        """Read and handle messages in this task until the connection ends (no epoll)."""
        ws.prime(rest)
        while True:
            batch = await ws.messages()
            for _opcode, payload in batch:
                await session.handle(payload)
            if not batch or ws.ended is not None:
                return

    async def _read_agent_muxed(self, ws: WebSocket, session: AgentSession, rest: bytes) -> None:
        """Let the gateway's `ReadMux` read this connection; handle here what must await.

        Actions are handled in the mux's ``on_data`` as they arrive. A registration (it awaits
        the sim and the engine's state lock), and every message after it until it is done, is
        queued for this task, so messages are still handled in the order they were sent.
        """
        assert self.mux is not None
        mux = self.mux
        fd = ws.stream.socket.fileno()
        queue: deque[bytes | m.Register] = deque()
        busy = False
        wake = trio.Event()

        def on_data(data: bytes, now: float) -> bool:
            try:
                for _opcode, payload in ws.take(data, now):
                    if queue or busy:
                        queue.append(payload)
                        continue
                    reg = session.handle_now(payload)
                    if reg is not None:
                        queue.append(reg)
            except Exception:
                log.exception("agent %s: failed to handle a message", session.id)
                ws.ended = "eof"
            if queue or ws.ended is not None:
                wake.set()
            return ws.ended is None

        if on_data(rest, trio.current_time()) if rest else True:
            mux.add(fd, on_data)
        try:
            while True:
                await wake.wait()
                wake = trio.Event()
                busy = True
                while queue:
                    item = queue.popleft()
                    if isinstance(item, m.Register):
                        await session.register(item)
                    else:
                        await session.handle(item)
                busy = False
                if ws.ended is not None:
                    break
        finally:
            mux.remove(fd, on_data)
        if ws.ended != "rate":
            await ws.finish()

    async def _serve_dashboard(self, ws: WebSocket, rest: bytes, shape: str = "reference") -> None:
        sub = self.hub.subscribe(shape)
        self.dashboards += 1
        try:
            ws.prime(rest)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._drain_client, ws, nursery.cancel_scope.cancel)
                nursery.start_soon(self._heartbeat, ws, nursery.cancel_scope.cancel)
                while not ws.closed:
                    message = await sub.next()
                    ws.send(message)
                    await ws.flushed()
        finally:
            self.dashboards -= 1
            self.hub.unsubscribe(sub)
            with trio.CancelScope(shield=True):
                await ws.close(1000, "")

    async def _drain_client(self, ws: WebSocket, done: Callable[[], None]) -> None:
        """Dashboard clients only listen: read (and ignore) until they close."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.writer)
            while await ws.messages():
                pass
            if self._over_rate(ws, None):
                with trio.CancelScope(shield=True):
                    await ws.close(1008, "rate limit")
            nursery.cancel_scope.cancel()
        done()
