"""The OpenAPI document (``/api/openapi.json``), generated from the route table.

app.py's ``ROUTES`` (`Route` entries: admin.py's, universe.py's and agents.py's, the same table the
handlers are registered from) goes through `build_document`, so the document and the routes
cannot drift apart. Here: the documented part of each reply (`REPLIES`, with universe.py's), the
routes with a ``?shape=`` alternative (`SHAPED`) and the request bodies' component schemas
(`BODY_SCHEMAS`, with universe.py's and agents.py's). Every reply documents ``"ok": true``
except this document's own (a standard document admits only its fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ... import __version__
from ...core import messages as m
from .agents import AGENT_SCHEMAS
from .universe import UNIVERSE_REPLIES, UNIVERSE_SCHEMAS, UNIVERSE_SHAPED

__all__ = ["BODY_SCHEMAS", "REPLIES", "SHAPED", "TAG_PATTERN", "Route", "build_document"]


@attrs.frozen
class Route:
    method: str
    path: str  # OpenAPI style: /api/probes/{probe_id}
    summary: str
    body: type | None = None


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

BODY_SCHEMAS: dict[str, dict[str, Any]] = {
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
BODY_SCHEMAS.update(UNIVERSE_SCHEMAS)
BODY_SCHEMAS.update(AGENT_SCHEMAS)


def _op_id(method: str, path: str) -> str:
    return method.lower() + path.replace("/", "_").replace("{", "").replace("}", "").replace(
        ".", "_"
    )


_FIRST_PROBE = {"probe_id": "$response.body#/probes/0/id"}
# OpenAPI links: what a client does next with a reply (schemathesis' stateful phase follows them)
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("GET", "/api/status"): {
        "ProbeDetail": {
            "operationId": _op_id("GET", "/api/probes/{probe_id}"),
            "parameters": _FIRST_PROBE,
        },
        "ProbeHistory": {
            "operationId": _op_id("GET", "/api/history/{probe_id}"),
            "parameters": _FIRST_PROBE,
        },
        "ProbeScan": {
            "operationId": _op_id("POST", "/api/scan/{probe_id}"),
            "parameters": _FIRST_PROBE,
        },
    },
    ("POST", "/api/snapshot"): {
        "Restore": {
            "operationId": _op_id("POST", "/api/restore"),
            "requestBody": {"tag": "$response.body#/snapshot"},
        },
    },
    ("POST", "/api/save"): {
        "Load": {
            "operationId": _op_id("POST", "/api/load"),
            "requestBody": {"path": "$response.body#/saved"},
        },
    },
}


def build_document(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (app.py passes its ``ROUTES``)."""
    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        key = (route.method, route.path)
        reply: dict[str, Any] = {"type": "object"}
        if route.path != "/api/openapi.json":  # the one reply without ok: a standard document
            required, props = REPLIES.get(key, ([], {}))
            reply["required"] = ["ok", *required]
            reply["properties"] = {"ok": {"const": True}, **props}
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": _op_id(route.method, route.path),
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
        if key in LINKS:
            op["responses"]["200"]["links"] = LINKS[key]
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
                **BODY_SCHEMAS,
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
