"""REST admin API (Quart): ``/api/...``, JSON in and out, one error envelope.

Every JSON reply starts with the reference wire's ``"ok": true`` (the OpenAPI document, a
standard document, excepted). Errors: ``{"ok": false, "error": {"code": "...", "message": "...",
"details": {...}}}`` with 400 (bad_json, bad_request), 404 (not_found, unknown_probe,
unknown_system, unknown_tag), 405 (method_not_allowed), 409 (conflict), 422 (invalid, with
``details.path``), 500 (internal_error), 503 (sim_unavailable); the reference's ``error`` is a
string, universed's stays this object. Where the reference's replies have other fields, they are
added beside universed's (``state`` of pause/resume/state, ``probe`` of a probe, ``queued``,
``entries``, the metrics' totals); where they conflict, the reference's shape is the default and
``?shape=readable`` asks for universed's (api_universe.py). The OpenAPI document
(``/api/openapi.json``) is generated from `ROUTES`, the same table the routes are registered
from, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

import attrs
import orjson
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ... import __version__
from ...core import messages as m
from ...core.engine import Conflict, Engine
from ...core.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ...core.simproc import SimError, SimUnavailable
from ...core.store import valid_tag
from .agents import AGENT_ROUTES, AGENT_SCHEMAS
from .agents import register as register_agent_routes
from .universe import (
    UNIVERSE_REPLIES,
    UNIVERSE_ROUTES,
    UNIVERSE_SCHEMAS,
    UNIVERSE_SHAPED,
)
from .universe import register as register_universe

__all__ = ["ROUTES", "ApiError", "create_app", "openapi_document"]

log = logging.getLogger(__name__)

SIM_ERROR_STATUS = {
    "unknown_probe": 404,
    "unknown_system": 404,
    "unknown_tag": 404,
    "bad_config": 422,
    "bad_request": 400,
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def json_response(body: Mapping[str, Any], status: int = 200) -> Response:
    """A successful JSON reply: ``{"ok": true, ...body}``."""
    return Response(
        orjson.dumps({"ok": True, **body}), status=status, content_type="application/json"
    )


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """``{"ok": false, "error": {"code", "message", "details"?}}`` (auth.error_body's shape)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if details:
        err["details"] = details
    return Response(
        orjson.dumps({"ok": False, "error": err}), status=status, content_type="application/json"
    )


def _seed(_inst: object, _attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value < 2**64:
        raise ValueError(f"seed must be an unsigned 64-bit integer, got {value}")


@attrs.frozen
class ForkRequest:
    """Start a new universe from snapshot ``tag``'s past with event seed ``seed``."""

    tag: str
    seed: int = attrs.field(validator=_seed)


@attrs.frozen
class Route:
    method: str
    path: str  # OpenAPI style: /api/probes/{probe_id}
    summary: str
    body: type | None = None


ROUTES: list[Route] = [
    Route("GET", "/api/status", "Tick, mode, sim and agents, and a page of probes"),
    Route("GET", "/api/metrics", "Sim metrics plus daemon rates"),
    Route("GET", "/api/probes", "Probes (paged: limit, offset; filter: status) with controllers"),
    Route("GET", "/api/probes/{probe_id}", "One probe in full detail, with its controller"),
    Route("GET", "/api/systems/{system_id}", "One star system and its bodies"),
    Route("GET", "/api/agents", "Connected agents, policies in use, probe assignments"),
    Route("GET", "/api/state", "Tick, state hash, mode, seed and sim config"),
    Route("GET", "/api/config", "Current sim config and daemon config"),
    Route("POST", "/api/config", "Change sim config keys", m.ConfigRequest),
    Route("POST", "/api/tick", "Advance ticks by hand (paused mode only)", m.TickRequest),
    Route("POST", "/api/pause", "Pause the tick loop"),
    Route("POST", "/api/resume", "Resume the previous running mode"),
    Route("POST", "/api/mode", "Set the mode (and tick rate)", m.ModeRequest),
    Route("POST", "/api/inject", "Inject an event", m.InjectRequest),
    Route("POST", "/api/snapshot", "Snapshot the state under a tag", m.TagRequest),
    Route("POST", "/api/restore", "Restore a tagged snapshot", m.TagRequest),
    Route("GET", "/api/snapshots", "Named snapshots kept in the state directory"),
    Route("POST", "/api/fork", "Replace the universe by a snapshot with a new seed", ForkRequest),
    Route("GET", "/api/openapi.json", "This document"),
]
ROUTES += [Route(*spec) for spec in UNIVERSE_ROUTES]  # the living universe (issue 9)
ROUTES += [Route(*spec) for spec in AGENT_ROUTES]  # policies, assignments, ledger

TAG_PATTERN = "^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"  # snapshot tags are file names

_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_ARRAY = {"type": "array"}
#: the reference's engine state: tick loop running (the engine can tick), paused, tick, agents
_STATE = {
    "type": "object",
    "required": ["running", "paused", "tick", "agents"],
    "properties": {
        "running": {"type": "boolean"},
        "paused": {"type": "boolean"},
        "tick": _INT,
        "agents": _INT,
    },
}
_PROBE_ROW = {
    "type": "object",
    "required": ["id", "name", "status", "location", "generation"],
    "properties": {
        "id": _STR,
        "name": _STR,
        "status": _STR,
        "location": _STR,
        "generation": _INT,
        "system": {"type": ["string", "null"]},
        "body": {"type": ["string", "null"]},
        "parent_id": {"type": ["string", "null"]},
        "hull": _NUM,
    },
}
#: The documented part of each route's reply (required fields, their schemas); ``ok`` is added
#: to all. Routes not listed are documented as an object with ``ok``.
REPLIES: dict[tuple[str, str], tuple[list[str], dict[str, Any]]] = {
    ("GET", "/api/status"): (
        ["tick", "probes"],
        {"tick": _INT, "mode": _STR, "probes": {"type": "array", "items": _PROBE_ROW}},
    ),
    ("GET", "/api/metrics"): (
        [
            "tick",
            "probes_spawned",
            "avg_tech",
            "avg_trust",
            "systems_explored",
            "total_discoveries",
            "total_hazards_survived",
        ],
        {
            "tick": _INT,
            "probes_spawned": _INT,
            "avg_tech": _NUM,
            "avg_trust": _NUM,
            "systems_explored": _INT,
            "total_discoveries": {**_INT, "description": "the engine's discoveries"},
            "total_hazards_survived": {**_INT, "description": "the engine's hazards_survived"},
        },
    ),
    ("GET", "/api/probes"): (["probes"], {"probes": {"type": "array", "items": _PROBE_ROW}}),
    ("GET", "/api/probes/{probe_id}"): (
        ["probe", "probe_id", "tick"],
        {
            "probe": {**_PROBE_ROW, "description": "the probe's status row (the reference's)"},
            "probe_id": _STR,
            "tick": _INT,
        },
    ),
    ("GET", "/api/agents"): (["agents"], {"agents": _ARRAY}),
    ("GET", "/api/state"): (
        ["state", "tick", "hash", "mode"],
        {"state": _STATE, "tick": _INT, "hash": _STR, "mode": _STR},
    ),
    ("POST", "/api/config"): (
        ["entries", "config"],
        {"entries": {**_INT, "description": "keys set"}, "config": {"type": "object"}},
    ),
    ("POST", "/api/tick"): (["tick", "observations"], {"tick": _INT, "observations": _ARRAY}),
    ("POST", "/api/pause"): (["state", "mode", "tick"], {"state": _STATE, "mode": _STR}),
    ("POST", "/api/resume"): (["state", "mode", "tick"], {"state": _STATE, "mode": _STR}),
    ("POST", "/api/inject"): (
        ["queued", "applied", "tick"],
        {
            "queued": {**_INT, "description": "events accepted (one per request)"},
            "applied": {**_INT, "description": "live probes the event hit"},
            "tick": _INT,
        },
    ),
    ("POST", "/api/snapshot"): (["snapshot", "tick"], {"snapshot": _STR, "tick": _INT}),
    ("POST", "/api/restore"): (["restored", "tick"], {"restored": _STR, "tick": _INT}),
}
REPLIES.update(UNIVERSE_REPLIES)
#: Routes whose reply has a readable alternative (``?shape=readable``).
SHAPED = UNIVERSE_SHAPED | {("POST", "/api/tick")}

_BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "ConfigRequest": {
        "type": "object",
        "description": 'sim config keys -> numbers or numeric strings; or {"data": {...}}',
        "additionalProperties": {"type": ["number", "string", "object"]},
    },
    "TickRequest": {
        "type": "object",
        "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 100000}},
        "additionalProperties": False,
    },
    "ModeRequest": {
        "type": "object",
        "required": ["mode"],
        "properties": {
            "mode": {"enum": ["realtime", "lockstep", "paused"]},
            "tick_rate": {"type": "number", "exclusiveMinimum": 0},
        },
        "additionalProperties": False,
    },
    "InjectRequest": {
        "description": 'an event under "event", or the event itself as the body (the reference)',
        "oneOf": [
            {
                "type": "object",
                "required": ["event"],
                "properties": {
                    "event": {"$ref": "#/components/schemas/InjectEvent"},
                    "probe_id": {"type": "string"},
                },
                "additionalProperties": False,
            },
            {"$ref": "#/components/schemas/InjectEvent"},
        ],
    },
    "InjectEvent": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "description": "a name, or the reference's number (0 discovery, 1 anomaly, "
                "2 hazard, 3 encounter, 4 crisis, 5 wonder, 6 threat)",
                "oneOf": [
                    {"enum": list(m.INJECT_TYPES)},
                    {"type": "integer", "enum": sorted(m.INJECT_TYPE_NUMBERS)},
                ],
            },
            "subtype": {"type": ["integer", "string"]},
            "severity": {"type": "number", "minimum": 0, "maximum": 1},
            "probe_id": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "TagRequest": {
        "type": "object",
        "required": ["tag"],
        "properties": {"tag": {"type": "string", "pattern": TAG_PATTERN}},
        "additionalProperties": False,
    },
    "ForkRequest": {
        "type": "object",
        "required": ["tag", "seed"],
        "properties": {
            "tag": {"type": "string", "pattern": TAG_PATTERN},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        },
        "additionalProperties": False,
    },
}
_BODY_SCHEMAS.update(UNIVERSE_SCHEMAS)
_BODY_SCHEMAS.update(AGENT_SCHEMAS)


def openapi_document() -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        key = (route.method, route.path)
        reply: dict[str, Any] = {"type": "object"}
        if route.path != "/api/openapi.json":  # the one reply without ok: a standard document
            required, props = REPLIES.get(key, ([], {}))
            reply["required"] = ["ok", *required]
            reply["properties"] = {"ok": {"const": True}, **props}
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.method.lower()
            + route.path.replace("/", "_").replace("{", "").replace("}", "").replace(".", "_"),
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": reply}},
                },
                "default": {
                    "description": "error",
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
        if route.method != "GET":
            # docs/security.md: mutating requests need the admin token (unless auth_admin = open);
            # reads are open unless auth_read = token
            op["security"] = [{"bearer": []}]
        params = [p.strip("{}") for p in route.path.split("/") if p.startswith("{")]
        parameters: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
        if key in SHAPED:
            parameters.append(
                {
                    "name": "shape",
                    "in": "query",
                    "required": False,
                    "description": "reference (default): the reference wire's numbers; "
                    "readable: universed's names (docs/server.md)",
                    "schema": {"enum": ["reference", "readable"], "default": "reference"},
                }
            )
        if parameters:
            op["parameters"] = parameters
        if route.body is not None:
            op["requestBody"] = {
                "required": route.body is not m.ConfigRequest,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}
                    }
                },
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "universed admin API", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the admin token (or ?token=); see docs/security.md",
                }
            },
            "schemas": {
                **_BODY_SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["ok", "error"],
                    "properties": {
                        "ok": {"const": False},
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                            },
                        },
                    },
                },
            },
        },
    }


def create_app(engine: Engine, describe_agents: Callable[[], dict[str, Any]]) -> QuartTrio:
    """The Quart app for ``/api`` and the static dashboard page."""
    static = resources.files("universed").joinpath("static")
    app = QuartTrio(__name__, static_folder=str(static), static_url_path="/static")
    sim = engine.sim

    async def body_json(required: bool) -> Any:
        data = await request.get_data()
        if not data.strip():
            if required:
                raise ApiError(400, "bad_request", "a JSON body is required")
            return {}
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None

    async def body_as(cls: type[Any], required: bool = True) -> Any:
        obj = await body_json(required)
        try:
            return m.structure(obj, cls)
        except m.MessageError as exc:
            raise ApiError(422, exc.code, exc.message, {"path": exc.path}) from None

    def paging() -> tuple[int, int]:
        out = []
        for name, default, top in (("limit", 1000, 100_000), ("offset", 0, 2**62)):
            text = request.args.get(name)
            if text is None:
                out.append(default)
                continue
            try:
                value = int(text)
            except ValueError:
                raise ApiError(
                    400, "bad_request", f"{name} must be an integer, got {text!r}"
                ) from None
            if not 0 <= value <= top:
                raise ApiError(400, "bad_request", f"{name} must be in 0..{top}")
            out.append(value)
        return out[0], out[1]

    async def probes_page(limit: int, offset: int) -> dict[str, Any]:
        return await sim.request({"cmd": "status", "limit": limit, "offset": offset})

    def sim_state() -> dict[str, Any]:
        return {"state": sim.state, "pid": sim.pid, "restarts": sim.restarts}

    def engine_state(tick: int | None = None) -> dict[str, Any]:
        """The reference's ``state``: ``running`` = the tick loop can tick (the sim is up),
        ``paused`` = paused mode, ``agents`` = connected agent sockets."""
        return {
            "running": sim.state == "running",
            "paused": engine.mode == "paused",
            "tick": engine.tick if tick is None else tick,
            "agents": engine.agents_connected,
        }

    @app.errorhandler(ApiError)
    async def on_api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(SimError)
    async def on_sim_error(exc: SimError) -> Response:
        return error_response(SIM_ERROR_STATUS.get(exc.code, 400), exc.code, exc.message)

    @app.errorhandler(SimUnavailable)
    async def on_sim_unavailable(exc: SimUnavailable) -> Response:
        return error_response(503, "sim_unavailable", str(exc))

    @app.errorhandler(Conflict)
    async def on_conflict(exc: Conflict) -> Response:
        return error_response(409, "conflict", str(exc))

    @app.errorhandler(HTTPException)
    async def on_http(exc: HTTPException) -> Response:
        # also what Quart turns an unhandled exception into (500, after logging it)
        status = exc.code or 500
        code = {
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            500: "internal_error",
        }.get(status, "bad_request" if status < 500 else "internal_error")
        msg = {
            404: f"no such resource: {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            500: f"internal error answering {request.method} {request.path} (see the daemon log)",
        }.get(status, exc.description or "error")
        return error_response(status, code, msg)

    handlers: dict[tuple[str, str], Callable[..., Awaitable[Response]]] = {}

    def route(method: str, path: str) -> Callable[[Any], Any]:
        def deco(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
            handlers[(method, path)] = fn
            return fn

        return deco

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
                "sim": sim_state(),
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
        if not m.PROBE_ID_RE.match(probe_id):
            raise ApiError(404, "unknown_probe", f"no probe {probe_id!r} (ids look like 1-1)")
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
        if not m.PROBE_ID_RE.match(system_id):
            raise ApiError(404, "unknown_system", f"no system {system_id!r}")
        reply = await sim.request({"cmd": "system", "system_id": system_id})
        return json_response(reply["system"])

    @route("GET", "/api/agents")
    async def agents() -> Response:
        out = describe_agents()
        return json_response(out)

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
        # ?shape=readable: universed's own observations (default: the reference shape)
        shape = request.args.get("shape", "reference")
        if shape not in m.SHAPES:
            raise ApiError(
                400,
                "bad_request",
                f"shape must be one of {', '.join(m.SHAPES)}, got {shape!r}",
                {"path": "?shape"},
            )
        req = await body_as(m.TickRequest, required=False)
        return json_response({"ok": True, **await engine.manual_tick(req.count, shape)})

    @route("POST", "/api/pause")
    async def pause() -> Response:
        engine.set_mode("paused")
        async with engine.state_lock:  # a tick under way ends first: report the tick after it
            pass
        return json_response({"state": engine_state(), "mode": engine.mode, "tick": engine.tick})

    @route("POST", "/api/resume")
    async def resume() -> Response:
        engine.set_mode(engine.running_mode)
        return json_response({"state": engine_state(), "mode": engine.mode, "tick": engine.tick})

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
            try:
                req = m.InjectRequest(m.structure(obj, m.InjectEvent))
            except m.MessageError as exc:
                raise ApiError(422, exc.code, exc.message, {"path": exc.path}) from None
        else:
            try:
                req = m.structure(obj, m.InjectRequest)
            except m.MessageError as exc:
                raise ApiError(422, exc.code, exc.message, {"path": exc.path}) from None
        event = {k: v for k, v in attrs.asdict(req.event).items() if v is not None}
        if req.probe_id is not None and "probe_id" not in event:
            event["probe_id"] = req.probe_id
        reply = await engine.inject(event)
        reply.pop("ok", None)
        reply.pop("id", None)
        return json_response({"queued": 1, **reply})

    def check_tag(tag: str) -> None:
        if not valid_tag(tag):
            raise ApiError(
                422,
                "invalid",
                f"bad tag {tag!r}: 1..64 of A-Z a-z 0-9 _ . - (not starting with .)",
                {"path": "$.tag"},
            )

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

    @route("GET", "/api/openapi.json")
    async def openapi() -> Response:
        # a standard document: no "ok" (an OpenAPI root admits only its fields and x-*)
        return Response(orjson.dumps(openapi_document()), content_type="application/json")

    register_universe(route, engine, body_as=body_as, paging=paging, error=ApiError)
    register_agent_routes(route, engine, body_as=body_as, error=ApiError)

    for r in ROUTES:
        fn = handlers[(r.method, r.path)]
        rule = r.path.replace("{", "<").replace("}", ">")
        app.add_url_rule(rule, f"{r.method} {r.path}", fn, methods=[r.method])

    @app.route("/metrics")
    async def prometheus() -> Response:
        return Response(engine.prometheus.render(), content_type=METRICS_CONTENT_TYPE)

    @app.route("/")
    async def index() -> Any:
        page = static.joinpath("index.html")
        if page.is_file():
            return Response(page.read_bytes(), content_type="text/html; charset=utf-8")
        return json_response({"universed": __version__, "api": "/api/openapi.json"})

    return app
