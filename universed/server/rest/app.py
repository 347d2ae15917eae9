"""REST admin API (Quart): ``/api/...``, JSON in and out, one error envelope.

`create_app` builds the Quart app: envelope.py's error handlers, the handlers of `ROUTES`
(registered by admin.py, universe.py and agents.py through one ``route`` decorator), the OpenAPI
document, ``/metrics`` (Prometheus) and the dashboard page. `ROUTES` is the one route table: the
URL rules are made from it and the OpenAPI document (``/api/openapi.json``, openapi.py) is
generated from it, so the two cannot drift apart.

``ApiError`` is re-exported here from envelope.py (its old import path).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from quart import Response
from quart_trio import QuartTrio

from ... import __version__
from ...core.engine import Engine
from ...core.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .admin import ADMIN_ROUTES
from .admin import register as register_admin
from .agents import AGENT_ROUTES
from .agents import register as register_agents
from .envelope import ApiError, install_error_handlers, json_response
from .openapi import Route, build_document
from .universe import UNIVERSE_ROUTES
from .universe import register as register_universe

__all__ = ["ROUTES", "ApiError", "create_app", "openapi_document"]

ROUTES: list[Route] = [Route(*spec) for spec in ADMIN_ROUTES]
ROUTES.append(Route("GET", "/api/openapi.json", "This document"))
ROUTES += [Route(*spec) for spec in UNIVERSE_ROUTES]  # the living universe (issue 9)
ROUTES += [Route(*spec) for spec in AGENT_ROUTES]  # policies, assignments, ledger


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of `ROUTES`."""
    return build_document(ROUTES)


def create_app(engine: Engine, describe_agents: Callable[[], dict[str, Any]]) -> QuartTrio:
    """The Quart app for ``/api`` and the static dashboard page."""
    static = resources.files("universed").joinpath("static")
    app = QuartTrio(__name__, static_folder=str(static), static_url_path="/static")
    install_error_handlers(app)

    handlers: dict[tuple[str, str], Callable[..., Awaitable[Response]]] = {}

    def route(method: str, path: str) -> Callable[[Any], Any]:
        def deco(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
            handlers[(method, path)] = fn
            return fn

        return deco

    @route("GET", "/api/openapi.json")
    async def openapi() -> Response:
        # a standard document: no "ok" (an OpenAPI root admits only its fields and x-*)
        return Response(orjson.dumps(openapi_document()), content_type="application/json")

    register_admin(route, engine, describe_agents)
    register_universe(route, engine)
    register_agents(route, engine)

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
