"""REST admin routes: status, metrics, probes, systems, agents, state and config, the tick loop's
controls (tick, pause, resume, mode), inject, snapshots (snapshot, restore, list, fork).

Where the reference's replies have other fields, they are added beside universed's (``state`` of
pause/resume/state, ``probe`` of a probe, ``queued``, ``entries``, the metrics' totals); where
they conflict, the reference's shape is the default and ``?shape=readable`` asks for universed's.

Like universe.py and agents.py: app.py lists `ADMIN_ROUTES` in its ``ROUTES`` and calls
`register` from ``create_app`` with its ``route`` decorator; openapi.py documents the replies and
bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from quart import Response, request

from ...core import messages as m
from ...core.engine import Engine
from ...core.store import valid_tag
from .envelope import (
    ApiError,
    RouteDecorator,
    body_as,
    body_json,
    check_probe_id,
    json_response,
    paging,
    query_shape,
    strip_reply,
    structure,
)

__all__ = ["ADMIN_ROUTES", "ForkRequest", "register"]


def _seed(_inst: object, _attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value < 2**64:
        raise ValueError(f"seed must be an unsigned 64-bit integer, got {value}")


@attrs.frozen
class ForkRequest:
    """Start a new universe from snapshot ``tag``'s past with event seed ``seed``."""

    tag: str
    seed: int = attrs.field(validator=_seed)


#: (method, path, summary, body class) — app.py makes its ``Route`` entries from these.
ADMIN_ROUTES: list[tuple[str, str, str, type | None]] = [
    ("GET", "/api/status", "Tick, mode, sim and agents, and a page of probes", None),
    ("GET", "/api/metrics", "Sim metrics plus daemon rates", None),
    ("GET", "/api/probes", "Probes (paged: limit, offset; filter: status) with controllers", None),
    ("GET", "/api/probes/{probe_id}", "One probe in full detail, with its controller", None),
    ("GET", "/api/systems/{system_id}", "One star system and its bodies", None),
    ("GET", "/api/agents", "Connected agents, policies in use, probe assignments", None),
    ("GET", "/api/state", "Tick, state hash, mode, seed and sim config", None),
    ("GET", "/api/config", "Current sim config and daemon config", None),
    ("POST", "/api/config", "Change sim config keys", m.ConfigRequest),
    ("POST", "/api/tick", "Advance ticks by hand (paused mode only)", m.TickRequest),
    ("POST", "/api/pause", "Pause the tick loop", None),
    ("POST", "/api/resume", "Resume the previous running mode", None),
    ("POST", "/api/mode", "Set the mode (and tick rate)", m.ModeRequest),
    ("POST", "/api/inject", "Inject an event", m.InjectRequest),
    ("POST", "/api/snapshot", "Snapshot the state under a tag", m.TagRequest),
    ("POST", "/api/restore", "Restore a tagged snapshot", m.TagRequest),
    ("GET", "/api/snapshots", "Named snapshots kept in the state directory", None),
    ("POST", "/api/fork", "Replace the universe by a snapshot with a new seed", ForkRequest),
]


def check_tag(tag: str) -> None:
    if not valid_tag(tag):
        raise ApiError(
            422,
            "invalid",
            f"bad tag {tag!r}: 1..64 of A-Z a-z 0-9 _ . - (not starting with .)",
            {"path": "$.tag"},
        )


def register(
    route: RouteDecorator, engine: Engine, describe_agents: Callable[[], dict[str, Any]]
) -> None:
    """Add the handlers of `ADMIN_ROUTES` through app.py's ``route`` decorator."""
    sim = engine.sim

    async def probes_page(limit: int, offset: int) -> dict[str, Any]:
        return await sim.request({"cmd": "status", "limit": limit, "offset": offset})

    def engine_state(tick: int | None = None) -> dict[str, Any]:
        """The reference's ``state``: ``running`` = the tick loop can tick (the sim is up),
        ``paused`` = paused mode, ``agents`` = connected agent sockets."""
        return {
            "running": sim.state == "running",
            "paused": engine.mode == "paused",
            "tick": engine.tick if tick is None else tick,
            "agents": engine.agents_connected,
        }

    @route("GET", "/api/status")
    async def status() -> Response:
        limit, offset = paging()
        page = await probes_page(limit, offset)
        return json_response(
            {
                "tick": engine.tick,
                "mode": engine.mode,
                "tick_rate": engine.tick_rate,
                "agent_timeout_ms": round(engine.agent_timeout * 1000),
                "seed": page.get("seed", engine.seed),
                "ticks_per_second": round(engine.ticks_per_second, 3),
                "sim": {"state": sim.state, "pid": sim.pid, "restarts": sim.restarts},
                "agents": {"connected": engine.agents_connected},
                "alive": page.get("alive"),
                "total": page["total"],
                "limit": limit,
                "offset": offset,
                "probes": page["probes"],
            }
        )

    @route("GET", "/api/metrics")
    async def metrics() -> Response:
        reply = await sim.request({"cmd": "metrics"})
        out = dict(reply["metrics"])
        # the reference's names of two totals
        out["total_discoveries"] = out.get("discoveries", 0)
        out["total_hazards_survived"] = out.get("hazards_survived", 0)
        out.update(
            tick=engine.tick,
            ticks_per_second=round(engine.ticks_per_second, 3),
            agents_connected=engine.agents_connected,
            sim_restarts=sim.restarts,
        )
        return json_response(out)

    @route("GET", "/api/probes")
    async def probes() -> Response:
        limit, offset = paging()
        status_filter = request.args.get("status")
        page = await probes_page(limit, offset)
        rows = page["probes"]
        if status_filter:
            rows = [r for r in rows if r.get("status") == status_filter]
        for row in rows:
            row["controller"] = engine.registry.controller_name(row["id"])
        return json_response(
            {"probes": rows, "total": page["total"], "limit": limit, "offset": offset}
        )

    @route("GET", "/api/probes/{probe_id}")
    async def probe(probe_id: str) -> Response:
        check_probe_id(probe_id)
        reply = await sim.request({"cmd": "probe", "probe_id": probe_id})
        detail = reply["probe"]
        # the reference's reply: the probe's status row (GET /api/status's), under "probe"
        row = {"id": detail.get("probe_id", probe_id)}
        for key in ("name", "status", "location", "system", "body", "generation", "parent_id"):
            row[key] = detail.get(key)
        row["hull"] = detail.get("hull")
        out = {"probe": row, **detail}
        out["tick"] = reply.get("tick", engine.tick)
        out["controller"] = engine.registry.controller_name(probe_id)
        return json_response(out)

    @route("GET", "/api/systems/{system_id}")
    async def system(system_id: str) -> Response:
        if not m.is_probe_id(system_id):
            raise ApiError(404, "unknown_system", f"no system {system_id!r}")
        reply = await sim.request({"cmd": "system", "system_id": system_id})
        return json_response(reply["system"])

    @route("GET", "/api/agents")
    async def agents() -> Response:
        return json_response(describe_agents())

    @route("GET", "/api/state")
    async def state() -> Response:
        hashed = await sim.request({"cmd": "hash"})
        cfg = await sim.request({"cmd": "config"})
        return json_response(
            {
                "state": engine_state(hashed["tick"]),
                "tick": hashed["tick"],
                "hash": hashed["hash"],
                "mode": engine.mode,
                "seed": engine.seed,
                "config": cfg["config"],
            }
        )

    @route("GET", "/api/config")
    async def get_config() -> Response:
        cfg = await sim.request({"cmd": "config"})
        daemon = engine.config.to_json()
        daemon.update(mode=engine.mode, tick_rate=engine.tick_rate)
        return json_response({"sim": cfg["config"], "daemon": daemon})

    @route("POST", "/api/config")
    async def post_config() -> Response:
        obj = await body_json(True)
        if isinstance(obj, dict) and set(obj) == {"data"}:
            obj = obj["data"]
        if not isinstance(obj, dict) or not obj:
            raise ApiError(422, "invalid", "give sim config keys and values", {"path": "$"})
        for key, value in obj.items():
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ApiError(
                    422,
                    "invalid",
                    f"expected a number or numeric string, got {value!r}",
                    {"path": f"$.{key}"},
                )
        reply = await engine.configure_sim(obj)
        return json_response({"entries": len(obj), "config": reply["config"]})

    @route("POST", "/api/tick")
    async def tick() -> Response:
        shape = query_shape()  # ?shape=readable: universed's own observations
        req = await body_as(m.TickRequest, required=False)
        return json_response(await engine.manual_tick(req.count, shape))

    def mode_reply() -> dict[str, Any]:
        return {"state": engine_state(), "mode": engine.mode, "tick": engine.tick}

    @route("POST", "/api/pause")
    async def pause() -> Response:
        engine.set_mode("paused")
        async with engine.state_lock:  # a tick under way ends first: report the tick after it
            pass
        return json_response(mode_reply())

    @route("POST", "/api/resume")
    async def resume() -> Response:
        engine.set_mode(engine.running_mode)
        return json_response(mode_reply())

    @route("POST", "/api/mode")
    async def mode() -> Response:
        req = await body_as(m.ModeRequest)
        engine.set_mode(req.mode, req.tick_rate)
        return json_response(
            {"mode": engine.mode, "tick_rate": engine.tick_rate, "tick": engine.tick}
        )

    @route("POST", "/api/inject")
    async def inject() -> Response:
        obj = await body_json(True)
        if isinstance(obj, dict) and "event" not in obj and "type" in obj:
            # the reference's clients send the event itself as the body
            req = m.InjectRequest(structure(obj, m.InjectEvent))
        else:
            req = structure(obj, m.InjectRequest)
        event = {k: v for k, v in attrs.asdict(req.event).items() if v is not None}
        if req.probe_id is not None and "probe_id" not in event:
            event["probe_id"] = req.probe_id
        reply = await engine.inject(event)
        return json_response({"queued": 1, **strip_reply(reply)})

    @route("POST", "/api/snapshot")
    async def snapshot() -> Response:
        req = await body_as(m.TagRequest)
        check_tag(req.tag)
        reply = await engine.snapshot(req.tag)
        out = {"snapshot": reply["snapshot"], "tick": reply["tick"]}
        if "evicted" in reply:
            out["evicted"] = reply["evicted"]
        return json_response(out)

    @route("POST", "/api/restore")
    async def restore() -> Response:
        req = await body_as(m.TagRequest)
        reply = await engine.restore(req.tag)
        return json_response({"restored": req.tag, "tick": reply["tick"]})

    @route("GET", "/api/snapshots")
    async def snapshots() -> Response:
        return json_response({"snapshots": engine.snapshots()})

    @route("POST", "/api/fork")
    async def fork() -> Response:
        req = await body_as(ForkRequest)
        check_tag(req.tag)
        return json_response(await engine.fork(req.tag, req.seed))
