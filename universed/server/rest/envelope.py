"""The REST envelope: ``ok`` replies, ``ApiError`` and the error handlers, request helpers.

Every JSON reply starts with the reference wire's ``"ok": true`` (`json_response`). Errors:
``{"ok": false, "error": {"code": "...", "message": "...", "details": {...}}}`` with 400
(bad_json, bad_request), 404 (not_found, unknown_probe, unknown_system, unknown_tag), 405
(method_not_allowed), 409 (conflict), 422 (invalid, with ``details.path``), 500
(internal_error), 503 (sim_unavailable); the reference's ``error`` is a string, universed's stays
this object. `install_error_handlers` maps the engine's and the sim's exceptions to it.

The request helpers (`body_json`, `body_as`, `paging`, `query_shape`, `check_probe_id`) read
Quart's current request and raise `ApiError`; every route module (admin.py, universe.py,
agents.py) uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ...core import messages as m
from ...core.engine import Conflict
from ...core.simproc import SimError, SimUnavailable

__all__ = [
    "SIM_ERROR_STATUS",
    "ApiError",
    "RouteDecorator",
    "body_as",
    "body_json",
    "check_probe_id",
    "error_response",
    "install_error_handlers",
    "json_response",
    "paging",
    "query_shape",
    "strip_reply",
    "structure",
]

T = TypeVar("T")
#: ``route(method, path)``: app.py's decorator the route modules register their handlers with
RouteDecorator = Callable[[str, str], Callable[[Any], Any]]

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


def strip_reply(reply: Mapping[str, Any]) -> dict[str, Any]:
    """A sim reply without its own ``ok`` and request ``id`` (the envelope adds ``ok``)."""
    return {k: v for k, v in reply.items() if k not in ("ok", "id")}


def install_error_handlers(app: QuartTrio) -> None:
    """Answer `ApiError`, the sim's and the engine's errors and HTTP errors with the envelope."""

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


# --------------------------------------------------------------------------- request helpers


def structure(obj: Any, cls: type[T]) -> T:
    """``obj`` as a ``cls`` (core/messages.py's converter), or a 422 naming the bad field."""
    try:
        return m.structure(obj, cls)
    except m.MessageError as exc:
        raise ApiError(422, exc.code, exc.message, {"path": exc.path}) from None


async def body_json(required: bool) -> Any:
    """The request's JSON body (``{}`` if empty and not ``required``), or a 400."""
    data = await request.get_data()
    if not data.strip():
        if required:
            raise ApiError(400, "bad_request", "a JSON body is required")
        return {}
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None


async def body_as(cls: type[T], required: bool = True) -> T:
    """The request's JSON body structured as a ``cls`` (400 or 422 if it is not one)."""
    return structure(await body_json(required), cls)


def paging() -> tuple[int, int]:
    """``(limit, offset)`` from the query string (defaults 1000 and 0), or a 400."""
    out = []
    for name, default, top in (("limit", 1000, 100_000), ("offset", 0, 2**62)):
        text = request.args.get(name)
        if text is None:
            out.append(default)
            continue
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, "bad_request", f"{name} must be an integer, got {text!r}") from None
        if not 0 <= value <= top:
            raise ApiError(400, "bad_request", f"{name} must be in 0..{top}")
        out.append(value)
    return out[0], out[1]


def query_shape() -> str:
    """The reply shape the query asks for: ``reference`` (default) or ``readable``; or a 400."""
    shape = request.args.get("shape", "reference")
    if shape not in m.SHAPES:
        raise ApiError(
            400,
            "bad_request",
            f"shape must be one of {', '.join(m.SHAPES)}, got {shape!r}",
            {"param": "shape"},
        )
    return shape


def check_probe_id(probe_id: str) -> None:
    """A 404 ``unknown_probe`` unless ``probe_id`` looks like a probe id (``1-1``)."""
    if not m.is_probe_id(probe_id):
        raise ApiError(404, "unknown_probe", f"no probe {probe_id!r} (ids look like 1-1)")
