"""REST routes of the agent authors' kit: policies, assignments and the ledger.

- ``GET  /api/policies``: the installed in-process policies, with the probes each drives now;
- ``GET  /api/policies/{name}/stats``: a policy's totals from the ledger (events by type, kg
  mined by resource, probes seen) plus its current probes and error count, and ``state``: what
  the policy's own ``describe()`` reports, if it has one (a fleet commander: its missions);
- ``POST /api/probes/{probe_id}/controller`` ``{"controller": "explorer"}``: hand a probe to an
  in-process policy at run time (SpaceTraders' ``--assign SHIP:mission``). The registry keeps
  one controller per probe: a remote agent that held it gets a ``replaced`` error frame;
- ``GET  /api/events?since=&probe=&type=&limit=&cursor=``: the ledger, paged by cursor.

Handlers are added through app.py's ``route`` decorator, like universe.py's, so the OpenAPI
document lists them from the same table.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import attrs
import orjson
import trio
from quart import Response, request

from ...core.ledger import LedgerQueryError, parse_query
from .envelope import ApiError, RouteDecorator, body_as, check_probe_id, json_response

if TYPE_CHECKING:
    from ...core.engine import Engine

__all__ = ["AGENT_ROUTES", "AGENT_SCHEMAS", "ControllerRequest", "register"]


@attrs.frozen
class ControllerRequest:
    """``{"controller": "<policy name>"}``."""

    controller: str


AGENT_ROUTES: list[tuple[str, str, str, type | None]] = [
    ("GET", "/api/policies", "Installed in-process policies and the probes they drive", None),
    ("GET", "/api/policies/{name}/stats", "One policy's ledger totals and current probes", None),
    (
        "POST",
        "/api/probes/{probe_id}/controller",
        "Assign a probe to an in-process policy",
        ControllerRequest,
    ),
    ("GET", "/api/events", "The ledger: births, deaths, discoveries, hazards, mining...", None),
]

AGENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "ControllerRequest": {
        "type": "object",
        "required": ["controller"],
        "properties": {"controller": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    },
}


def register(route: RouteDecorator, engine: Engine) -> None:
    """Add the handlers of `AGENT_ROUTES` through app.py's ``route`` decorator."""
    registry = engine.registry

    def ledger_or_503() -> Any:
        if engine.ledger is None:
            raise ApiError(503, "ledger_unavailable", "this daemon runs without a ledger")
        return engine.ledger

    @route("GET", "/api/policies")
    async def policies() -> Response:
        out = []
        for name in sorted(registry.policy_table):
            ctrl = registry.policy_controller(name)
            out.append(
                {
                    "name": name,
                    "probes": len(ctrl.probes),
                    "errors": ctrl.errors,
                    "default": registry.default is ctrl,
                    "fallback": registry.fallback is ctrl,
                    "detail": ctrl.detail,
                }
            )
        return json_response({"policies": out})

    @route("GET", "/api/policies/{name}/stats")
    async def policy_stats(name: str) -> Response:
        if name not in registry.policy_table:
            raise ApiError(404, "unknown_policy", f"no policy {name!r}")
        ledger = ledger_or_503()
        stats = await trio.to_thread.run_sync(ledger.policy_stats, name)
        ctrl = registry.policy_controller(name)
        stats["probes_now"] = len(ctrl.probes)
        stats["errors"] = ctrl.errors
        describe = getattr(registry.policy_table[name], "describe", None)
        if callable(describe):  # a policy's own report, e.g. a fleet commander's missions
            try:
                # encoded once, here, where a failure can still be reported
                stats["state"] = orjson.Fragment(orjson.dumps(describe(), default=str))
            except Exception as exc:  # a plugin's bug must not turn a read into a 500
                stats["state_error"] = repr(exc)[:200]
        return json_response(stats)

    @route("POST", "/api/probes/{probe_id}/controller")
    async def assign(probe_id: str) -> Response:
        req = await body_as(ControllerRequest)
        if req.controller not in registry.policy_table:
            known = ", ".join(sorted(registry.policy_table))
            raise ApiError(
                422,
                "unknown_policy",
                f"no policy {req.controller!r}; installed: {known}",
                {"path": "$.controller"},
            )
        check_probe_id(probe_id)
        obs = await engine.observation_of(probe_id)
        if obs is None or obs.get("status") == "destroyed":
            what = "unknown" if obs is None else "destroyed"
            raise ApiError(404, "unknown_probe", f"probe {probe_id} is {what}")
        registry.assign(probe_id, registry.policy_controller(req.controller))
        return json_response({"probe_id": probe_id, "controller": req.controller})

    @route("GET", "/api/events")
    async def events() -> Response:
        ledger = ledger_or_503()
        try:
            query = parse_query(request.args)
        except LedgerQueryError as exc:
            raise ApiError(400, "bad_request", str(exc), {"param": exc.param}) from None
        page = await trio.to_thread.run_sync(functools.partial(ledger.query, **query))
        return json_response(page)
