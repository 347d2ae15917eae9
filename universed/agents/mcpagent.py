"""A remote agent driven by calls, not by a loop: what the MCP server (``universed mcp``) plays.

`McpAgent` holds one agent WebSocket connection to the daemon (fleet mode, readable shape) for
the probes it was given or claimed, and answers every tick **at once**, so the daemon never waits
for a model: a probe plays its pending one-shot action (``act``), else its standing order
(``act(..., standing=True)``, repeated while the engine accepts it), else ``wait``. A one-shot
action does not cancel the standing order (the probe resumes it); a standing ``wait`` does. The
model's calls (observe, act, wait for ticks, messages, history) read and change that state
between ticks.

A one-shot action is sent as soon as it is given (it lands in the tick being collected) and again
with the next tick's answer until an observation shows it was applied (``last_action``), so an
action that arrives while a tick runs is not lost. Its outcome, the engine's own ``ok`` and
``reason``, is what ``act`` reports.

The connection reconnects with backoff when the daemon goes away and registers the same probes
again when it comes back; a refused token (HTTP 401/403 on the upgrade) stops it for good.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, open_websocket_url

from ..core.messages import is_probe_id
from ..core.rules import check_action

__all__ = ["AgentUnavailable", "McpAgent", "summarize"]

log = logging.getLogger(__name__)

#: per-probe records kept for `history` and `messages`
HISTORY = 200
MESSAGES = 100
#: ticks a one-shot action is re-sent before it is reported as not applied
PENDING_TRIES = 3


class AgentUnavailable(Exception):
    """The agent cannot act now: not connected (yet), or the daemon refused its token."""


def _pid_key(pid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in pid.split("-"))


def _compact_event(event: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("tick", "type", "subtype", "severity", "message", "resource", "value")
    return {k: event[k] for k in keep if event.get(k) not in (None, "")}


def summarize(obs: Mapping[str, Any]) -> dict[str, Any]:
    """A model-sized view of a readable observation (~1 KB instead of ~8 KB).

    Leaves out personality, memories, per-planet physics and empty lists; keeps what a decision
    needs: state, cargo that is not empty, the system's bodies with their ids and survey levels,
    the last action's outcome, this tick's events, messages, nearby probes, threats.
    """
    keys = (
        "probe_id", "name", "tick", "status", "hull", "energy", "fuel", "location", "system",
        "system_name", "system_survey", "body", "body_name", "body_type", "survey", "travel",
        "activity", "research", "generation", "cargo_capacity", "sensor_range_ly",
    )  # fmt: skip
    out: dict[str, Any] = {k: obs[k] for k in keys if obs.get(k) is not None}
    cargo = obs.get("cargo") or {}
    out["cargo"] = {k: v for k, v in cargo.items() if v}
    last = obs.get("last_action")
    if isinstance(last, Mapping):
        out["last_action"] = {k: v for k, v in last.items() if v is not None}
    levels = {b.get("body"): b.get("level") for b in obs.get("bodies_survey") or ()}
    info = obs.get("system_info")
    if isinstance(info, Mapping):
        out["bodies"] = [
            {
                "id": p.get("id"),
                "name": p.get("name"),
                "type": p.get("type"),
                "survey_level": levels.get(p.get("id"), 0),
                **({"resources": p["resources"]} if p.get("resources") else {}),
            }
            for p in info.get("planets") or ()
        ]
    for key in ("events", "recent_events"):
        if obs.get(key):
            out[key] = [_compact_event(e) for e in obs[key][-5:]]
    for key in ("inbox", "threats", "proposals", "pending_trades", "visible_beacons"):
        if obs.get(key):
            out[key] = obs[key]
    if obs.get("nearby_probes"):
        out["nearby_probes"] = [
            {k: p.get(k) for k in ("probe_id", "name", "status")} for p in obs["nearby_probes"]
        ]
    if obs.get("replication_cost"):
        out["replication_cost"] = obs["replication_cost"]
    return out


class McpAgent:
    """See the module docstring.

    Args:
        url: the agent WebSocket, ``ws://HOST:PORT/ws``.
        token: an agent (or admin) token, or None where the daemon leaves agents open.
        probe_ids: the probes to register at once (more can be claimed later).
        backoff: first and largest delay between reconnection attempts, in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        probe_ids: Iterable[str] = (),
        backoff: tuple[float, float] = (0.2, 2.0),
    ) -> None:
        self.url = url
        self.token = token
        self.backoff = backoff
        self.probe_ids: list[str] = sorted(set(probe_ids), key=_pid_key)
        self.lineages: set[str] = set()
        self.state = "connecting"  # connected | disconnected | refused
        self.last_error: str | None = None
        self.tick: int | None = None
        self.connections = 0
        self.obs: dict[str, dict[str, Any]] = {}
        self.standing: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, list[Any]] = {}  # probe -> [action, tries]
        self.outcomes: dict[str, dict[str, Any]] = {}  # probe -> latest outcome of an act
        self.history: dict[str, collections.deque[dict[str, Any]]] = {}
        self.messages: dict[str, collections.deque[dict[str, Any]]] = {}
        self.born: list[dict[str, Any]] = []
        self._ws: Any = None
        self._changed = trio.Event()  # set (and replaced) at every batch and state change
        self._replies: trio.MemorySendChannel[dict[str, Any]] | None = None
        self._register_lock = trio.Lock()

    # ------------------------------------------------------------------ connection

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def changed(self, deadline: float) -> bool:
        """Wait for the next batch or state change until ``deadline``; False on timeout."""
        event = self._changed
        with trio.move_on_at(deadline):
            await event.wait()
            return True
        return False

    def register_message(self, probe_ids: Iterable[str], lineage: str | None = None) -> bytes:
        msg: dict[str, Any]
        if lineage is not None:
            msg = {"type": "register", "probe_id": lineage, "lineage": True}
        else:
            msg = {"type": "register", "probe_ids": list(probe_ids)}
        msg["shape"] = "readable"
        return orjson.dumps(msg)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, register and answer ticks until cancelled (reconnecting; see the module
        docstring). ``task_status.started()`` at once: tools report the connection's state."""
        task_status.started()
        async with trio.open_nursery() as nursery:
            await self._connect_loop(nursery)

    async def _connect_loop(self, nursery: trio.Nursery) -> None:
        delay = self.backoff[0]
        while True:
            try:
                headers = (
                    [(b"authorization", f"Bearer {self.token}".encode())] if self.token else None
                )
                async with open_websocket_url(
                    self.url, max_message_size=64 << 20, connect_timeout=10, extra_headers=headers
                ) as ws:
                    self._ws = ws
                    self.state = "connected"
                    self.last_error = None
                    self.connections += 1
                    delay = self.backoff[0]
                    self._notify()
                    nursery.start_soon(self._reregister)
                    await self._read(ws)
            except ConnectionRejected as exc:
                if exc.status_code in (401, 403):
                    body = (exc.body or b"").decode("utf-8", "replace")
                    self.state = "refused"
                    self.last_error = f"the daemon refused the token ({exc.status_code}): {body}"
                    log.error("%s", self.last_error)
                    self._ws = None
                    self._notify()
                    return
                self._lost(repr(exc))
            except (OSError, HandshakeError, ConnectionClosed, trio.BrokenResourceError) as exc:
                self._lost(repr(exc))
            finally:
                self._ws = None
            await trio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    def _lost(self, why: str) -> None:
        if self.state != "disconnected":
            log.warning("connection to %s lost (%s); reconnecting", self.url, why)
        self.state = "disconnected"
        self.last_error = f"not connected to the daemon at {self.url}: {why}"
        self._notify()

    async def _reregister(self) -> None:
        """After a (re)connection: register the probes held before."""
        if self.probe_ids or self.lineages:
            try:
                await self.register(self.probe_ids, *sorted(self.lineages))
            except AgentUnavailable as exc:
                log.warning("registering again failed: %s", exc)

    async def _read(self, ws: Any) -> None:
        while True:
            raw = await ws.get_message()
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            kind = msg.get("type")
            if kind == "observe_batch":
                await self._on_batch(ws, msg.get("tick"), msg.get("observations") or [])
            elif kind == "observe":
                await self._on_batch(ws, msg.get("tick"), [msg])
            elif kind in ("registered", "error"):
                if kind == "error" and msg.get("code") == "replaced":
                    self.last_error = f"another connection took over: {msg.get('message')}"
                    replaced = set(self.probe_ids) - set(msg.get("probe_ids") or ())
                    self.probe_ids = [p for p in self.probe_ids if p not in replaced]
                    self._notify()
                if self._replies is not None:
                    self._replies.send_nowait(msg)

    async def register(self, probe_ids: Iterable[str], *lineages: str) -> dict[str, Any]:
        """Register ``probe_ids`` (replacing this connection's probes) and the lineages; the
        daemon's ``registered`` reply. Raises `AgentUnavailable` (not connected, refused)."""
        ids = sorted(set(probe_ids), key=_pid_key)
        async with self._register_lock:
            reply: dict[str, Any] = {}
            registered: set[str] = set()
            messages = [self.register_message(ids)] if ids or not lineages else []
            messages += [self.register_message((), lineage=root) for root in lineages]
            for message in messages:
                reply = await self._exchange(message)
                if reply.get("type") == "error":
                    raise AgentUnavailable(
                        f"{reply.get('code')}: {reply.get('message')}"
                        + (f" (at {reply['path']})" if reply.get("path") else "")
                    )
                got = reply.get("probe_ids") or [reply.get("probe_id")]
                registered |= {str(p) for p in got if p}
            self.probe_ids = sorted(registered | set(ids), key=_pid_key)
            self.lineages |= set(lineages)
            self._notify()
            return reply

    async def _exchange(self, message: bytes) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise AgentUnavailable(self.unavailable_reason())
        send, receive = trio.open_memory_channel[dict[str, Any]](8)
        self._replies = send
        try:
            await ws.send_message(message.decode())
            with trio.fail_after(15):
                return await receive.receive()
        except (ConnectionClosed, trio.BrokenResourceError, trio.TooSlowError) as exc:
            raise AgentUnavailable(f"the daemon did not answer the registration: {exc!r}") from None
        finally:
            self._replies = None

    def unavailable_reason(self) -> str:
        if self.state == "refused":
            return self.last_error or "the daemon refused the token"
        return self.last_error or f"not connected to the daemon at {self.url} (yet)"

    # ------------------------------------------------------------------ ticks

    async def _on_batch(
        self, ws: Any, tick: int | None, observations: list[dict[str, Any]]
    ) -> None:
        if isinstance(tick, int):
            self.tick = tick
        actions: dict[str, Any] = {}
        for obs in observations:
            pid = str(obs.get("probe_id"))
            obs.setdefault("tick", tick)
            self._record(pid, obs)
            if obs.get("status") == "destroyed":
                self.standing.pop(pid, None)
                self.pending.pop(pid, None)
                continue
            actions[pid] = self.next_action(pid)
        self._notify()
        if actions:
            reply: dict[str, Any] = {"type": "actions", "actions": actions}
            if isinstance(tick, int):
                reply["tick"] = tick
            await ws.send_message(orjson.dumps(reply).decode())

    def next_action(self, pid: str) -> dict[str, Any]:
        """What ``pid`` plays in the coming tick: pending, else standing, else wait."""
        pending = self.pending.get(pid)
        if pending is not None:
            pending[1] += 1
            return dict(pending[0])
        return dict(self.standing.get(pid) or {"action": "wait"})

    def _record(self, pid: str, obs: dict[str, Any]) -> None:
        previous = self.obs.get(pid)
        if pid not in self.obs and obs.get("parent_id") and self.connections and self.tick:
            self.born.append(
                {"probe_id": pid, "parent_id": obs.get("parent_id"), "tick": self.tick}
            )
            if pid not in self.probe_ids:
                self.probe_ids = sorted({*self.probe_ids, pid}, key=_pid_key)
        self.obs[pid] = obs
        last = obs.get("last_action") if isinstance(obs.get("last_action"), Mapping) else None
        same_tick = previous is not None and previous.get("tick") == obs.get("tick")
        if not same_tick:
            entry: dict[str, Any] = {
                "tick": obs.get("tick"),
                "status": obs.get("status"),
                "location": obs.get("location"),
                "system": obs.get("system"),
                "body": obs.get("body"),
                "hull": obs.get("hull"),
            }
            if last is not None:
                entry["action"] = last.get("action")
                entry["ok"] = last.get("ok")
                if last.get("reason"):
                    entry["reason"] = last.get("reason")
            if obs.get("events"):
                entry["events"] = [_compact_event(e) for e in obs["events"]]
            self.history.setdefault(pid, collections.deque(maxlen=HISTORY)).append(entry)
        box = self.messages.setdefault(pid, collections.deque(maxlen=MESSAGES))
        for message in obs.get("inbox") or ():
            if message not in box:
                box.append(message)
        if last is None or same_tick:
            return
        pending = self.pending.get(pid)
        if pending is not None:
            if last.get("action") == pending[0]["action"] and pending[1] > 0:
                self.pending.pop(pid)
                self.outcomes[pid] = self._outcome(pid, pending[0], last, obs)
            elif pending[1] >= PENDING_TRIES:
                self.pending.pop(pid)
                self.outcomes[pid] = {
                    "probe_id": pid,
                    "action": pending[0],
                    "applied": False,
                    "ok": False,
                    "reason": "not applied: the probe played "
                    f"{last.get('action')!r} instead ({PENDING_TRIES} ticks)",
                    "tick": obs.get("tick"),
                }
        standing = self.standing.get(pid)
        if (
            standing is not None
            and last.get("action") == standing["action"]
            and last.get("ok") is False
        ):
            self.standing.pop(pid)  # a refused standing order ends: the probe waits
            self.outcomes.setdefault(pid, {})["standing_order_ended"] = last.get("reason")

    @staticmethod
    def _outcome(
        pid: str, action: Mapping[str, Any], last: Mapping[str, Any], obs: Mapping[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "probe_id": pid,
            "action": dict(action),
            "applied": True,
            "ok": bool(last.get("ok")),
            "reason": last.get("reason"),
            "tick": obs.get("tick"),
        }
        if last.get("result") is not None:
            out["result"] = last.get("result")
        return out

    # ------------------------------------------------------------------ the model's calls

    def require(self, probe_id: str) -> None:
        """Raises `AgentUnavailable` / KeyError unless ``probe_id`` is one of mine, connected."""
        if not is_probe_id(probe_id):
            raise KeyError(f"not a probe id: {probe_id!r} (like '1-1')")
        if probe_id not in self.probe_ids:
            mine = ", ".join(self.probe_ids) or "none"
            raise KeyError(f"probe {probe_id} is not one of mine ({mine}); claim it first")

    async def act(
        self, probe_id: str, action: Mapping[str, Any], *, standing: bool = False
    ) -> dict[str, Any]:
        """Validate and send ``action`` for ``probe_id`` (see the module docstring); returns
        what was sent. Raises MessageError (invalid), KeyError, `AgentUnavailable`."""
        self.require(probe_id)
        wire = check_action(action)
        ws = self._ws
        if ws is None or self.state != "connected":
            raise AgentUnavailable(self.unavailable_reason())
        self.outcomes.pop(probe_id, None)
        if standing:  # a standing wait cancels the standing order; a one-shot leaves it be
            if wire["action"] == "wait":
                self.standing.pop(probe_id, None)
            else:
                self.standing[probe_id] = wire
        self.pending[probe_id] = [wire, 0]
        message = dict(wire, type="action", probe_id=probe_id)
        try:
            await ws.send_message(orjson.dumps(message).decode())
        except (ConnectionClosed, trio.BrokenResourceError) as exc:
            raise AgentUnavailable(f"the connection dropped: {exc!r}") from None
        self.pending[probe_id][1] = 1
        return wire

    async def outcome(self, probe_id: str, seconds: float) -> dict[str, Any] | None:
        """The outcome of the latest ``act`` for ``probe_id``, waiting up to ``seconds``."""
        deadline = trio.current_time() + seconds
        while probe_id in self.pending:
            if not await self.changed(deadline):
                return None
        return self.outcomes.get(probe_id)

    async def wait_ticks(self, count: int, seconds: float) -> tuple[int | None, int | None]:
        """Wait until ``count`` ticks have passed (or ``seconds``); (start, end) ticks."""
        start = self.tick
        deadline = trio.current_time() + seconds
        while self.tick is None or start is None or self.tick < start + count:
            if start is None and self.tick is not None:
                start = self.tick
                continue
            if not await self.changed(deadline):
                break
        return start, self.tick
