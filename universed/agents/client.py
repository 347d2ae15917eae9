"""Python SDK: typed models, an async WebSocket agent client, and a REST admin client.

Agent (one probe, or a whole fleet over one connection)::

    import trio
    from universed.client import AgentClient

    def decide(observation):
        return {"action": "repair"} if observation["hull"] < 0.5 else {"action": "survey"}

    trio.run(AgentClient("ws://127.0.0.1:8000/ws", probe_id="1-1").run, decide)

``decide`` gets each observation as the daemon sends it (a dict: agent-protocol.md fields plus
``tick``; `Observation.from_dict` gives a typed view) and returns an action (``{"action":
"mine", "resource": "iron"}`` or just ``"survey"``); it may be a coroutine function. A policy
object (``universed.Policy``: ``decide`` plus optional ``on_birth``/``on_death``) can be passed
to `AgentClient.run_policy`. Fleet mode (``lineage=True`` or ``probe_ids=[...]``) answers each
``observe_batch`` with one ``actions`` message and reports newborns and deaths to the policy.
The client reconnects with exponential backoff and registers again; a decision that raises or
returns garbage is logged and sent as ``wait``, so one bad observation never stops an agent.

Admin (REST)::

    async with AdminClient("http://127.0.0.1:8000") as admin:
        status = await admin.status()
        await admin.pause()
        await admin.tick(10)

Errors come back as `ApiError` (``status``, ``code``, ``message``, ``details``) from the
daemon's error envelope.
"""

from __future__ import annotations

import collections.abc
import inspect
import logging
import typing
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import attrs
import cattrs
import orjson
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from ..core.messages import ACTION_NAMES, apply_delta

__all__ = [
    "Activity",
    "AdminClient",
    "AgentClient",
    "AgentError",
    "ApiError",
    "Event",
    "LastAction",
    "Observation",
    "ProbeRow",
    "ScanHit",
    "Survey",
    "Travel",
    "action_of",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- models


@attrs.frozen
class LastAction:
    action: str
    ok: bool
    reason: str | None = None
    result: Mapping[str, Any] | None = None


@attrs.frozen
class Event:
    type: str
    subtype: str | int | None = None
    severity: float | None = None
    value: float | None = None
    tick: int | None = None
    injected: bool = False
    message: str | None = None
    resource: str | None = None
    tech: str | int | None = None


@attrs.frozen
class Survey:
    level: int
    progress: float = 0.0
    resources: Mapping[str, float] = attrs.field(factory=dict)
    remaining_kg: Mapping[str, float] | None = None


@attrs.frozen
class Travel:
    kind: str
    target: str | None = None
    eta_ticks: float | None = None
    progress: float | None = None


@attrs.frozen
class Activity:
    kind: str
    progress: float | None = None
    ticks_remaining: float | None = None


@attrs.frozen
class ScanHit:
    """One system of a scan's result (``last_action.result["systems"]``)."""

    id: str
    name: str
    star_class: str
    distance_ly: float
    fuel_needed: float
    eta_ticks: float
    explored: bool


@attrs.frozen
class Observation:
    """One probe's observation (docs/agent-protocol.md, docs/pipe-protocol.md "Observation").

    Fields the SDK does not know yet are kept in ``extra``; ``raw`` is the message as received.
    """

    probe_id: str
    status: str
    hull: float
    energy: float
    fuel: float
    location: str
    name: str = ""
    generation: int = 0
    tech: tuple[int, ...] = ()
    tick: int | None = None
    parent_id: str | None = None
    system: str | None = None
    system_name: str | None = None
    system_survey: int = 0
    body: str | None = None
    body_name: str | None = None
    body_type: str | None = None
    cargo: Mapping[str, float] = attrs.field(factory=dict)
    survey: Survey | None = None
    travel: Travel | None = None
    activity: Activity | None = None
    last_action: LastAction | None = None
    events: tuple[Event, ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        """Structure a received observation; unknown keys go to ``extra``.

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        known = {f.name for f in attrs.fields(cls)} - {"extra", "raw"}
        body = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k != "type"}
        try:
            obs = _lenient.structure(body, cls)
        except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an observation: {exc!r}") from None
        return attrs.evolve(obs, extra=extra, raw=data)

    @property
    def scan(self) -> list[ScanHit]:
        """The systems of this tick's scan (empty unless the last action was a scan)."""
        last = self.last_action
        if last is None or last.action != "scan" or not last.ok or not last.result:
            return []
        return [_lenient.structure(hit, ScanHit) for hit in last.result.get("systems") or ()]


@attrs.frozen
class ProbeRow:
    """A row of ``GET /api/probes`` / ``/api/status``."""

    id: str
    status: str
    name: str = ""
    location: str | None = None
    system: str | None = None
    body: str | None = None
    generation: int = 0
    parent_id: str | None = None
    hull: float = 1.0
    controller: str | None = None


def _drop_extra_structure(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
    names = {f.name for f in attrs.fields(cls)}

    def structure(value: Any, _t: type[Any]) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {cls.__name__}, got {value!r}")
        kwargs = {}
        for field in attrs.fields(cls):
            if field.name in value and field.name in names:
                kwargs[field.name] = _lenient.structure(value[field.name], field.type)
        return cls(**kwargs)

    return structure


_lenient = cattrs.Converter()
for _cls in (LastAction, Event, Survey, Travel, Activity, ScanHit, ProbeRow):
    _lenient.register_structure_hook(_cls, _drop_extra_structure(_cls))


def _is_mapping_type(t: Any) -> bool:
    origin: Any = typing.get_origin(t)
    return origin is collections.abc.Mapping


_lenient.register_structure_hook_func(_is_mapping_type, lambda v, _t: _mapping(v))
_lenient.register_structure_hook_func(
    lambda t: t == (str | int | None) or t == (str | int), lambda v, _t: v
)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {value!r}")
    return dict(value)


def action_of(result: object) -> dict[str, Any]:
    """A decision as an agent-protocol action object; ``wait`` for anything that is not one."""
    if isinstance(result, str):
        return {"action": result} if result in ACTION_NAMES else {"action": "wait"}
    if isinstance(result, Mapping):
        name = result.get("action", result.get("type"))
        if isinstance(name, str) and name in ACTION_NAMES:
            out = {k: v for k, v in result.items() if k not in ("type", "probe_id", "tick")}
            out["action"] = name
            return out
    return {"action": "wait"}


# --------------------------------------------------------------------------- agent client

Decide = Callable[[Mapping[str, Any]], Any]


class AgentError(Exception):
    """The daemon refused the registration (``code`` e.g. ``unknown_probe``); not retried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AgentClient:
    """An agent connection to ``/ws``; see the module docstring.

    Args:
        url: ``ws://HOST:PORT/ws``.
        probe_id: the probe to drive (single-probe mode), or the root of a lineage.
        probe_ids: explicit fleet (one ``observe_batch`` per tick for all of them).
        lineage: fleet of ``probe_id`` and all its descendants, newborns included.
        reconnect: reconnect (with backoff) when the connection drops or cannot be opened.
        backoff: first and largest delay between reconnection attempts, in seconds.
        max_ticks: stop after answering this many ticks (None = run until cancelled).
        token: an agent (or admin) token, sent as ``Authorization: Bearer`` on the handshake
            (docs/security.md); None where the daemon leaves agents open.
        delta: ask for delta observations (docs/agent-protocol.md "Delta observations"): after
            one whole observation the daemon sends only the changed fields; the client applies
            them, so ``decide`` still sees whole observations (treat them as read-only: unchanged
            values are shared with the next tick's), and asks for a resync on a gap.
    """

    def __init__(
        self,
        url: str,
        *,
        probe_id: str | None = None,
        probe_ids: Sequence[str] | None = None,
        lineage: bool = False,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.2, 10.0),
        max_ticks: int | None = None,
        token: str | None = None,
        delta: bool = False,
    ) -> None:
        if (probe_id is None) == (probe_ids is None):
            raise ValueError("give exactly one of probe_id and probe_ids")
        if lineage and probe_id is None:
            raise ValueError("lineage needs probe_id (the root)")
        self.url = url
        self.probe_id = probe_id
        self.probe_ids = list(probe_ids) if probe_ids is not None else None
        self.lineage = lineage
        self.reconnect = reconnect
        self.backoff = backoff
        self.max_ticks = max_ticks
        self.token = token
        self.fleet = lineage or probe_ids is not None
        self.ticks = 0  # ticks answered
        self.connections = 0  # successful registrations
        self.errors: list[dict[str, Any]] = []  # error frames received (latest 100)
        self.known: set[str] = set()  # probes seen alive (fleet mode)
        self.on_birth: Callable[[str, str], None] | None = None
        self.on_death: Callable[[str], None] | None = None
        self.on_decision: Callable[[Mapping[str, Any], dict[str, Any]], None] | None = None
        self.delta = delta
        self.deltas_applied = 0  # delta observations applied (delta mode)
        self.resyncs = 0  # resyncs asked for (delta mode)
        self._seq: int | None = None  # the latest sequence number (delta mode)
        self._latest: dict[str, dict[str, Any]] = {}  # the latest whole observation per probe

    def register_message(self) -> dict[str, Any]:
        # universed's own (readable) observation shape: names, ids as strings (the SDK's types)
        msg: dict[str, Any]
        if self.probe_ids is not None:
            msg = {"type": "register", "probe_ids": self.probe_ids, "shape": "readable"}
        else:
            msg = {"type": "register", "probe_id": self.probe_id}
            if self.lineage:
                msg["lineage"] = True
            msg["shape"] = "readable"
        if self.delta:
            msg["delta"] = True
            self._seq = None  # a new registration starts over with whole observations
            self._latest.clear()
        return msg

    def _undelta(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """Delta mode: ``msg`` with whole observations (an ``observe`` or ``observe_batch``);
        None if it cannot be applied (a gap in the sequence or a probe without a base): the
        caller asks for a resync and skips it."""
        kind = msg.get("type")
        seq = msg.get("seq")
        if not isinstance(seq, int):
            return msg  # not a delta connection's message (no sequence)
        gap = self._seq is not None and seq != self._seq + 1
        tick = msg.get("tick")
        latest = self._latest
        if kind == "observe":
            self._seq = seq
            del msg["seq"]
            latest[str(msg.get("probe_id"))] = msg
            return dict(msg)  # a copy for the policy: the kept one is the next delta's base
        if kind == "observe_batch":
            self._seq = seq
            out = []
            for obs in msg.get("observations") or ():
                obs.setdefault("tick", tick)
                latest[str(obs.get("probe_id"))] = obs
                out.append(dict(obs))
            return {"type": "observe_batch", "tick": tick, "seq": seq, "observations": out}
        if gap:
            return None
        if kind == "observe_delta":
            base = latest.get(str(msg.get("probe_id")))
            if base is None:
                return None
            obs = apply_delta(base, msg, tick)
            latest[str(obs.get("probe_id"))] = obs
            self._seq = seq
            self.deltas_applied += 1
            return dict(obs)
        if kind == "observe_batch_delta":
            out = []
            for obs in msg.get("observations") or ():
                obs.setdefault("tick", tick)
                out.append(obs)
            for delta in msg.get("deltas") or ():
                base = latest.get(str(delta.get("probe_id")))
                if base is None:
                    return None
                out.append(apply_delta(base, delta, tick))
            for obs in out:
                latest[str(obs.get("probe_id"))] = obs
            self._seq = seq
            self.deltas_applied += len(msg.get("deltas") or ())
            copies = [dict(obs) for obs in out]
            return {"type": "observe_batch", "tick": tick, "seq": seq, "observations": copies}
        return msg

    async def run_policy(
        self, policy: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Drive the probes with a ``universed.Policy`` (its birth/death hooks included).

        If the policy has ``async def adecide(observation)`` it is used instead of ``decide``.
        """
        self.on_birth = _optional_hook(policy, "on_birth")
        self.on_death = _optional_hook(policy, "on_death")
        # a policy may offer an async twin of decide for remote use (e.g. one that calls a model)
        decide = _optional_hook(policy, "adecide") or policy.decide
        await self.run(decide, task_status=task_status)

    async def run(
        self, decide: Decide, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, register and answer observations until ``max_ticks`` or cancellation.

        ``task_status.started()`` is called after the first successful registration.

        Raises:
            AgentError: the daemon refused the registration (e.g. unknown probe).
            OSError, HandshakeError, ConnectionClosed: when ``reconnect`` is False.

        Cancellation: closes the connection; the daemon's fallback policy takes the probes over.
        """
        delay = self.backoff[0]
        started = False
        while True:
            ws: Any = None
            try:
                headers = (
                    [(b"authorization", f"Bearer {self.token}".encode())] if self.token else None
                )
                async with open_websocket_url(
                    self.url, max_message_size=64 << 20, connect_timeout=10, extra_headers=headers
                ) as ws:
                    await ws.send_message(orjson.dumps(self.register_message()).decode())
                    await self._await_registered(ws)
                    self.connections += 1
                    delay = self.backoff[0]
                    if not started:
                        started = True
                        task_status.started()
                    if await self._serve(ws, decide):
                        return
            except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
                if not self.reconnect:
                    raise
                log.warning(
                    "agent connection to %s lost (%r); retrying in %.1fs", self.url, exc, delay
                )
            finally:
                await _close_transport(ws)
            await trio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _await_registered(self, ws: Any) -> None:
        with trio.fail_after(30):
            while True:
                msg = orjson.loads(await ws.get_message())
                kind = msg.get("type")
                if kind == "registered":
                    return
                if kind == "error":
                    raise AgentError(str(msg.get("code")), str(msg.get("message")))

    async def _serve(self, ws: Any, decide: Decide) -> bool:
        """Answer observations; True once ``max_ticks`` ticks were answered."""
        while True:
            raw = await ws.get_message()
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.warning("ignoring a frame that is not JSON: %.80r", raw)
                continue
            if self.delta and isinstance(msg, dict):
                whole = self._undelta(msg)
                if whole is None:
                    self.resyncs += 1
                    self._seq = None
                    await ws.send_message('{"type":"resync"}')
                    continue
                msg = whole
            kind = msg.get("type")
            if kind == "observe":
                action = await self._decide(decide, msg)
                if self.probe_id is not None and not self.fleet:
                    out = dict(action)
                else:
                    out = dict(action, type="action", probe_id=msg.get("probe_id"))
                await ws.send_message(orjson.dumps(out).decode())
            elif kind == "observe_batch":
                actions = {}
                for obs in msg.get("observations") or ():
                    pid = obs.get("probe_id")
                    self._track(obs)
                    if obs.get("status") == "destroyed":
                        continue
                    obs.setdefault("tick", msg.get("tick"))
                    actions[pid] = await self._decide(decide, obs)
                reply = {"type": "actions", "tick": msg.get("tick"), "actions": actions}
                await ws.send_message(orjson.dumps(reply).decode())
            elif kind == "error":
                self.errors = [*self.errors[-99:], msg]
                log.warning("daemon error frame: %s %s", msg.get("code"), msg.get("message"))
                continue
            else:
                continue
            self.ticks += 1
            if self.max_ticks is not None and self.ticks >= self.max_ticks:
                return True

    def _track(self, obs: Mapping[str, Any]) -> None:
        pid = str(obs.get("probe_id"))
        if obs.get("status") == "destroyed":
            if pid in self.known:
                self.known.discard(pid)
                if self.on_death is not None:
                    _guarded(self.on_death, pid)
            return
        if pid not in self.known:
            self.known.add(pid)
            parent = obs.get("parent_id")
            if self.connections and self.ticks and parent and self.on_birth is not None:
                _guarded(self.on_birth, pid, str(parent))

    async def _decide(self, decide: Decide, obs: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result = decide(obs)
            if inspect.isawaitable(result):
                result = await result
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.warning("decide raised for probe %s: %r; sending wait", obs.get("probe_id"), exc)
            result = None
        action = action_of(result)
        if (
            action["action"] == "wait"
            and result not in ("wait", None)
            and not (
                isinstance(result, Mapping) and result.get("action", result.get("type")) == "wait"
            )
        ):
            log.warning("decide returned %.120r, not an action; sending wait", result)
        if self.on_decision is not None:
            self.on_decision(obs, action)
        return action


async def _close_transport(ws: Any) -> None:
    """Close the TCP stream under a finished connection.

    trio-websocket leaves it to the garbage collector when the server closed the connection
    first (a ResourceWarning); closing a closed trio stream again is a no-op.
    """
    stream = getattr(ws, "_stream", None)
    if stream is not None:
        with trio.CancelScope(shield=True):
            await stream.aclose()


def _optional_hook(policy: Any, name: str) -> Any:
    fn = getattr(policy, name, None)
    return fn if callable(fn) else None


def _guarded(fn: Callable[..., Any], *args: str) -> None:
    try:
        fn(*args)
    except Exception as exc:
        log.warning("%s%r raised %r", getattr(fn, "__name__", "hook"), args, exc)


# --------------------------------------------------------------------------- REST client


class ApiError(Exception):
    """A REST error envelope (or a transport failure, ``status`` 0)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class AdminClient:
    """The daemon's REST admin API (``/api``); one short HTTP/1.1 connection per call.

    Args:
        base_url: ``http://HOST:PORT``.
        timeout: seconds per request.
        token: the admin token (mutating requests need it; docs/security.md) or a read token.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = 30.0,
        token: str | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"expected http://HOST:PORT, got {base_url!r}")
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.timeout = timeout
        self.token = token

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One request; returns the decoded JSON body.

        Raises:
            ApiError: the daemon answered with an error envelope, or could not be reached.
        """
        params = {k: v for k, v in query.items() if v is not None}
        if params:
            path += "?" + urllib.parse.urlencode(params)
        payload = orjson.dumps(body) if body is not None else b""
        try:
            with trio.fail_after(self.timeout):
                status, _, content = await http_exchange(
                    self.host, self.port, method, path, payload, token=self.token
                )
        except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
            raise ApiError(0, "unreachable", f"{method} {path}: {exc!r}") from None
        try:
            data = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            data = content.decode("utf-8", "replace")
        if status >= 400:
            err = data.get("error") if isinstance(data, dict) else None
            if isinstance(err, dict):
                raise ApiError(
                    status, str(err.get("code")), str(err.get("message")), err.get("details")
                )
            raise ApiError(status, "http_error", str(data)[:200])
        return data

    # -- reading
    async def status(self, limit: int | None = None, offset: int | None = None) -> Any:
        return await self.request("GET", "/api/status", limit=limit, offset=offset)

    async def metrics(self) -> Any:
        return await self.request("GET", "/api/metrics")

    async def probes(
        self, limit: int | None = None, offset: int | None = None, status: str | None = None
    ) -> list[ProbeRow]:
        page = await self.request("GET", "/api/probes", limit=limit, offset=offset, status=status)
        return [_lenient.structure(row, ProbeRow) for row in page["probes"]]

    async def probe(self, probe_id: str) -> Any:
        return await self.request("GET", f"/api/probes/{probe_id}")

    async def system(self, system_id: str) -> Any:
        return await self.request("GET", f"/api/systems/{system_id}")

    async def agents(self) -> Any:
        return await self.request("GET", "/api/agents")

    async def state(self) -> Any:
        return await self.request("GET", "/api/state")

    async def config(self) -> Any:
        return await self.request("GET", "/api/config")

    async def policies(self) -> Any:
        return await self.request("GET", "/api/policies")

    async def policy_stats(self, name: str) -> Any:
        return await self.request("GET", f"/api/policies/{name}/stats")

    async def events(
        self,
        since: int | None = None,
        probe: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Any:
        """One page of the ledger; follow ``next_cursor`` for the next page."""
        return await self.request(
            "GET", "/api/events", since=since, probe=probe, type=type, limit=limit, cursor=cursor
        )

    # -- changing
    async def pause(self) -> Any:
        return await self.request("POST", "/api/pause")

    async def resume(self) -> Any:
        return await self.request("POST", "/api/resume")

    async def tick(self, count: int = 1) -> Any:
        """Advance ``count`` ticks (paused mode); observations in the readable shape."""
        return await self.request("POST", "/api/tick", {"count": count}, shape="readable")

    async def set_mode(self, mode: str, tick_rate: float | None = None) -> Any:
        body: dict[str, Any] = {"mode": mode}
        if tick_rate is not None:
            body["tick_rate"] = tick_rate
        return await self.request("POST", "/api/mode", body)

    async def inject(self, event: Mapping[str, Any]) -> Any:
        return await self.request("POST", "/api/inject", {"event": dict(event)})

    async def snapshot(self, tag: str) -> Any:
        return await self.request("POST", "/api/snapshot", {"tag": tag})

    async def restore(self, tag: str) -> Any:
        return await self.request("POST", "/api/restore", {"tag": tag})

    async def set_config(self, values: Mapping[str, Any]) -> Any:
        return await self.request("POST", "/api/config", dict(values))

    async def set_controller(self, probe_id: str, controller: str) -> Any:
        """Give ``probe_id`` to a policy by name (``POST /api/probes/{id}/controller``)."""
        return await self.request(
            "POST", f"/api/probes/{probe_id}/controller", {"controller": controller}
        )


async def http_exchange(
    host: str,
    port: int,
    method: str,
    path: str,
    payload: bytes = b"",
    *,
    token: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a new connection (``Connection: close``): the status, the
    headers (lower-case names) and the content, de-chunked. `AdminClient` uses it; so do the
    developer tools and the tests, which want to see error replies as they are.

    Raises:
        ApiError: ``bad_response``, the reply has no HTTP head or status line.
        OSError, trio.BrokenResourceError: the connection failed.
    """
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Connection: close\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + "\r\n"
    ).encode()
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(head + payload)
        chunks = []
        while chunk := await stream.receive_some(65536):
            chunks.append(chunk)
    return _parse_response(b"".join(chunks))


def _parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, sep, content = data.partition(b"\r\n\r\n")
    if not sep:
        raise ApiError(0, "bad_response", f"no HTTP response head in {data[:80]!r}")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError):
        raise ApiError(0, "bad_response", f"bad status line {head[:80]!r}") from None
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        content = _dechunk(content)
    return status, headers, content


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)
