"""REST endpoints of the living universe (issue 9, "Wire compatibility"), beside admin.py's.

The reference engine's REST names, answered by the daemon:

* ``POST /api/scan/{probe_id}`` — systems within the probe's sensor range (sim ``scan``).
* ``POST /api/save`` / ``POST /api/load`` ``{path}`` (``load`` also ``{seed}``: a fork) — whole
  state to and from a file. Paths are confined to the daemon's save directory
  (``<state_dir>/saves``): a relative path is taken inside it, an absolute one must lie inside it
  or inside one of the configured ``save_dirs``. A load goes through `Engine.load_save` (state
  lock, new checkpoint, agents re-observe). Replies carry the reference's ``saved``/``loaded``
  (the path as given), ``tick`` and ``probes`` (live probes).
* ``GET``/``POST /api/tick-rate`` — the daemon's realtime tick rate (the mode is unchanged);
  ``{"tick_rate": N}`` or the reference's ``{"tickRate": N}`` (an invalid ``tickRate`` is the
  reference's 400).
* ``GET``/``POST /api/scenario`` — the timed event script (sim ``scenario``). A ``path`` names a
  JSON file in ``<state_dir>/scenarios`` or the shipped ``sim/scenarios``; the daemon reads and
  validates it and sends it inline, so the journal (`Engine.load_scenario`) holds exactly what
  the sim got and a recovery replays it. Event types may be names or the reference's numbers.
* ``GET /api/lineage`` (``limit``, ``offset``) and ``GET /api/history/{probe_id}``.

Every reply has ``"ok": true`` first (errors: envelope.py's, with ``"ok": false``). Scan,
history and the scenario read answer in the reference's shape (numbers for event types, subtypes
and star classes; the engine's ``"shape": "reference"``) unless the query says
``?shape=readable`` (universed's names, today's replies).

app.py lists `UNIVERSE_ROUTES` in its ``ROUTES`` (so the OpenAPI document covers them) and calls
`register` from ``create_app`` with its route decorator; openapi.py merges `UNIVERSE_SCHEMAS`,
`UNIVERSE_REPLIES` and `UNIVERSE_SHAPED` into its tables. This module does not import app.py
(app.py imports it); the envelope and request helpers come from envelope.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs
import orjson
from cattrs.gen import make_dict_structure_fn
from quart import Response

from ...core import messages as m
from ...core.engine import Engine
from ...core.simproc import SimError
from .envelope import (
    ApiError,
    RouteDecorator,
    body_as,
    check_probe_id,
    json_response,
    paging,
    query_shape,
    strip_reply,
    structure,
)

__all__ = [
    "UNIVERSE_REPLIES",
    "UNIVERSE_ROUTES",
    "UNIVERSE_SCHEMAS",
    "UNIVERSE_SHAPED",
    "LoadRequest",
    "SaveRequest",
    "ScanRequest",
    "Scenario",
    "ScenarioEvent",
    "ScenarioRequest",
    "TickRateRequest",
    "confine",
    "register",
    "scenario_dirs",
]

MAX_PATH_BYTES = 1024
MAX_TICK_RATE = 100_000.0
MAX_SCENARIO_EVENTS = 100_000
MAX_SCENARIO_FILE = 16 * 1024 * 1024
EVENT_TYPES = ("hazard", "discovery", "threat", "anomaly", "encounter", "crisis", "wonder")
EventType = Literal["hazard", "discovery", "threat", "anomaly", "encounter", "crisis", "wonder"]


# --------------------------------------------------------------------------- request bodies


def _check_path(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not value or len(value.encode()) > MAX_PATH_BYTES or "\0" in value:
        raise m.FieldError(attribute.name, f"must be a file path of 1..{MAX_PATH_BYTES} bytes")


def _check_tick(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value < 2**62:
        raise m.FieldError(attribute.name, f"must be a tick in 0..2^62, got {value}")


@attrs.frozen
class ScanRequest:
    """``POST /api/scan/{probe_id}`` body (optional): at most ``limit`` systems, nearest first."""

    limit: int = attrs.field(default=50, validator=m._between(1, 500))


@attrs.frozen
class SaveRequest:
    path: str = attrs.field(validator=_check_path)


@attrs.frozen
class LoadRequest:
    """``seed`` (uint64) forks: the saved past with a new event seed."""

    path: str = attrs.field(validator=_check_path)
    seed: int | None = attrs.field(default=None)

    @seed.validator
    def _seed_ok(self, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None and not 0 <= value < 2**64:
            raise m.FieldError(attribute.name, f"must be an unsigned 64-bit integer, got {value}")


@attrs.frozen
class TickRateRequest:
    """``{"tick_rate": N}``; the handler also takes the reference's ``{"tickRate": N}``."""

    tick_rate: float = attrs.field(validator=m._between(0.0, MAX_TICK_RATE, low_open=True))


@attrs.frozen
class ScenarioEvent:
    at_tick: int = attrs.field(validator=_check_tick)
    type: EventType
    subtype: int | str | None = None
    severity: float = attrs.field(default=0.5, validator=m._between(0.0, 1.0))
    target: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(m._check_probe_id)
    )

    def to_sim(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at_tick": self.at_tick, "type": self.type}
        if self.subtype is not None:
            out["subtype"] = self.subtype
        out["severity"] = self.severity
        if self.target is not None:
            out["target"] = self.target
        return out


@attrs.frozen
class Scenario:
    """A timed event script (docs/universe.md "Scenarios and forks"); the shipped files' shape."""

    events: tuple[ScenarioEvent, ...] = attrs.field()
    name: str = attrs.field(default="")
    relative: bool = False
    description: str = ""  # documentation only, not sent to the sim

    @events.validator
    def _events_ok(self, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        if len(value) > MAX_SCENARIO_EVENTS:
            raise m.FieldError(attribute.name, f"at most {MAX_SCENARIO_EVENTS} events")

    @name.validator
    def _name_ok(self, attribute: attrs.Attribute[Any], value: str) -> None:
        if len(value.encode()) > 63:
            raise m.FieldError(attribute.name, "must be at most 63 bytes")

    def to_sim(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "relative": self.relative,
            "events": [event.to_sim() for event in self.events],
        }


@attrs.frozen
class ScenarioRequest:
    """Exactly one of ``scenario`` (inline), ``path`` (a scenario file) or ``clear: true``.

    A bare scenario object (``{"name", "events", ...}``, the file format) is accepted as
    ``scenario``.
    """

    scenario: Scenario | None = None
    path: str | None = attrs.field(default=None, validator=_check_path)
    clear: bool = False

    def __attrs_post_init__(self) -> None:
        given = (self.scenario is not None) + (self.path is not None) + self.clear
        if given != 1:
            raise m.FieldError("scenario", "give exactly one of scenario, path and clear: true")


def _structure_optional_int_or_str(value: Any, _t: type) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer, a name or null, got {value!r}")
    return value


m.converter.register_structure_hook(int | str | None, _structure_optional_int_or_str)
for _cls in (
    ScanRequest,
    SaveRequest,
    LoadRequest,
    TickRateRequest,
    ScenarioEvent,
    Scenario,
    ScenarioRequest,
):
    m.converter.register_structure_hook(
        _cls, make_dict_structure_fn(_cls, m.converter, _cattrs_forbid_extra_keys=True)
    )


# --------------------------------------------------------------------------- routes and schemas

#: (method, path, summary, body class) — app.py makes its ``Route`` entries from these.
UNIVERSE_ROUTES: list[tuple[str, str, str, type | None]] = [
    ("POST", "/api/scan/{probe_id}", "Systems within the probe's sensor range", ScanRequest),
    ("POST", "/api/save", "Save the whole state to a file in the save directory", SaveRequest),
    ("POST", "/api/load", "Load a save file (with seed: fork with a new event seed)", LoadRequest),
    ("GET", "/api/tick-rate", "The realtime tick rate", None),
    ("POST", "/api/tick-rate", "Set the realtime tick rate (mode unchanged)", TickRateRequest),
    ("GET", "/api/scenario", "The loaded scenario and its next event tick", None),
    ("POST", "/api/scenario", "Load (or clear) a timed event script", ScenarioRequest),
    ("GET", "/api/lineage", "The lineage tree (paged: limit, offset)", None),
    ("GET", "/api/history/{probe_id}", "A probe's latest significant events and memories", None),
]

_PATH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_BYTES}
#: an event type: its name, or its number on the reference wire (0 discovery ... 6 threat)
_EVENT_TYPE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"enum": list(EVENT_TYPES)},
        {"type": "integer", "enum": sorted(m.INJECT_TYPE_NUMBERS)},
    ]
}
_SCENARIO_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["at_tick", "type"],
    "properties": {
        "at_tick": {"type": "integer", "minimum": 0},
        "type": _EVENT_TYPE_SCHEMA,
        "subtype": {"type": ["integer", "string", "null"]},
        "severity": {"type": "number", "minimum": 0, "maximum": 1},
        "target": {"type": ["string", "null"], "pattern": m.PROBE_ID_RE.pattern},
    },
    "additionalProperties": False,
}
_SCENARIO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "name": {"type": "string", "maxLength": 63},
        "description": {"type": "string"},
        "relative": {"type": "boolean"},
        "events": {"type": "array", "items": _SCENARIO_EVENT_SCHEMA},
    },
    "additionalProperties": False,
}

#: OpenAPI component schemas of the request bodies above.
UNIVERSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScanRequest": {
        "type": "object",
        "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 500}},
        "additionalProperties": False,
    },
    "SaveRequest": {
        "type": "object",
        "required": ["path"],
        "properties": {"path": _PATH_SCHEMA},
        "additionalProperties": False,
    },
    "LoadRequest": {
        "type": "object",
        "required": ["path"],
        "properties": {
            "path": _PATH_SCHEMA,
            "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**64 - 1},
        },
        "additionalProperties": False,
    },
    "TickRateRequest": {
        "description": "universed's tick_rate or the reference's tickRate (invalid: 400)",
        "oneOf": [
            {
                "type": "object",
                "required": ["tick_rate"],
                "properties": {
                    "tick_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000}
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["tickRate"],
                "properties": {
                    "tickRate": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000}
                },
                "additionalProperties": False,
            },
        ],
    },
    "ScenarioRequest": {
        "description": (
            'one of {"scenario": {...}}, {"path": "supernova.json"}, {"clear": true}, '
            "or a bare scenario object"
        ),
        "oneOf": [
            {
                "type": "object",
                "required": ["scenario"],
                "properties": {"scenario": _SCENARIO_SCHEMA},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["path"],
                "properties": {"path": _PATH_SCHEMA},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["clear"],
                "properties": {"clear": {"const": True}},
                "additionalProperties": False,
            },
            _SCENARIO_SCHEMA,
        ],
    },
}


#: Routes whose reply has two shapes: the reference's (default) and ``?shape=readable``.
UNIVERSE_SHAPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/scan/{probe_id}"),
        ("GET", "/api/scenario"),
        ("GET", "/api/history/{probe_id}"),
    }
)

_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_SAVE_REPLY = {"tick": _INT, "probes": _INT, "path": _STR, "name": _STR, "hash": _STR}
#: The documented part of the replies (OpenAPI): required fields and their schemas; openapi.py
#: adds ``ok`` to each. The reference shape's numbers appear unless ``?shape=readable``.
UNIVERSE_REPLIES: dict[tuple[str, str], tuple[list[str], dict[str, Any]]] = {
    ("POST", "/api/scan/{probe_id}"): (
        ["probe_id", "systems"],
        {
            "probe_id": _STR,
            "systems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "system_id": _STR,
                        "name": _STR,
                        "star_class": {
                            "type": ["integer", "string"],
                            "description": "O 0 ... M 6 (a letter with ?shape=readable)",
                        },
                        "star_count": _INT,
                        "sector": {"type": "array", "items": _INT},
                        "distance_ly": _NUM,
                        "estimated_travel_ticks": _NUM,
                        "position": {"type": "array", "items": _NUM},
                    },
                },
            },
        },
    ),
    ("POST", "/api/save"): (
        ["saved", "tick", "probes"],
        {"saved": {**_STR, "description": "the path as given"}, "bytes": _INT, **_SAVE_REPLY},
    ),
    ("POST", "/api/load"): (
        ["loaded", "tick", "probes"],
        {"loaded": {**_STR, "description": "the path as given"}, "seed": _INT, **_SAVE_REPLY},
    ),
    ("GET", "/api/tick-rate"): (
        ["tickRate", "tick_rate", "mode", "tick"],
        {"tickRate": _NUM, "tick_rate": _NUM, "mode": _STR, "tick": _INT},
    ),
    ("POST", "/api/tick-rate"): (
        ["tickRate", "tick_rate", "mode", "tick"],
        {"tickRate": _NUM, "tick_rate": _NUM, "mode": _STR, "tick": _INT},
    ),
    ("GET", "/api/scenario"): (
        ["scenario", "tick"],
        {
            "events": {
                "description": "the scenario's events (reference shape only)",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "at_tick": _INT,
                        "type": _INT,
                        "subtype": _INT,
                        "severity": _NUM,
                        "fired": {"type": "boolean"},
                    },
                },
            },
            "scenario": {"type": "object"},
            "tick": _INT,
        },
    ),
    ("POST", "/api/scenario"): (["loaded"], {"loaded": _INT, "tick": _INT}),
    ("GET", "/api/lineage"): (["entries"], {"entries": {"type": "array"}, "total": _INT}),
    ("GET", "/api/history/{probe_id}"): (
        ["probe_id", "events"],
        {
            "probe_id": _STR,
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {
                            "type": ["integer", "string"],
                            "description": "the event type number (a name with ?shape=readable)",
                        },
                        "subtype": _INT,
                        "tick": _INT,
                        "severity": _NUM,
                        "description": _STR,
                    },
                },
            },
        },
    ),
}


# --------------------------------------------------------------------------- helpers


def confine(base: Path, text: str) -> Path | None:
    """``text`` as a file path inside ``base`` (relative paths are taken in ``base``).

    Returns None if it resolves (symlinks and ``..`` followed) outside ``base`` or to ``base``.
    """
    root = base.resolve()
    candidate = Path(text)
    full = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if full == root or not full.is_relative_to(root):
        return None
    return full


def scenario_dirs(engine: Engine) -> list[Path]:
    """Where scenario files are looked up: the state directory's, then the shipped examples."""
    dirs = [engine.state_dir / "scenarios"]
    binary = getattr(engine.sim, "binary", None)
    if binary is not None:
        dirs.append(Path(binary).resolve().parent.parent / "scenarios")
    dirs.append(Path(__file__).resolve().parents[3] / "sim" / "scenarios")
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in out:
            out.append(d.resolve())
    return out


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False on any OS error (e.g. a name longer than NAME_MAX)."""
    try:
        return path.is_file()
    except OSError:
        return False


def register(route: RouteDecorator, engine: Engine) -> None:
    """Add the handlers of `UNIVERSE_ROUTES` through app.py's ``route`` decorator.

    Args:
        route: ``route(method, path)`` decorator of ``create_app``.
        engine: the engine (state changes go through it).
    """
    sim = engine.sim
    saves = engine.state_dir / "saves"
    saves.mkdir(parents=True, exist_ok=True)

    def save_path(text: str) -> tuple[Path, Path]:
        """``text`` confined to the save directory or, if absolute, to one of ``save_dirs``:
        (the resolved file, the resolved directory it lies in)."""
        path = confine(saves, text)
        if path is not None:
            return path, saves.resolve()
        extra = [Path(d) for d in engine.config.save_dirs]
        if Path(text).is_absolute():
            for base in extra:
                path = confine(base, text)
                if path is not None:
                    return path, base.resolve()
        where = f"the save directory {saves}"
        if extra:
            where += " or (absolute paths) in save_dirs: " + ", ".join(str(d) for d in extra)
        raise ApiError(
            422, "invalid", f"the path must name a file inside {where}", {"path": "$.path"}
        )

    def shape_command(command: dict[str, Any]) -> dict[str, Any]:
        if query_shape() == "reference":
            command["shape"] = "reference"
        return command

    def file_error(exc: SimError) -> Exception:
        if exc.code in ("io_error", "bad_file"):
            return ApiError(422, exc.code, exc.message, {"path": "$.path"})
        return exc

    @route("POST", "/api/scan/{probe_id}")
    async def scan(probe_id: str) -> Response:
        check_probe_id(probe_id)
        req = await body_as(ScanRequest, required=False)
        command = {"cmd": "scan", "probe_id": probe_id, "limit": req.limit}
        reply = await sim.request(shape_command(command))
        return json_response(strip_reply(reply))

    @route("POST", "/api/save")
    async def save() -> Response:
        req = await body_as(SaveRequest)
        path, base = save_path(req.path)
        try:
            async with engine.state_lock:
                reply = await sim.request({"cmd": "save", "path": str(path)})
                probes = engine.probe_count
        except SimError as exc:
            raise file_error(exc) from None
        out = {"saved": req.path, **strip_reply(reply), "probes": probes}
        out["name"] = str(path.relative_to(base))
        return json_response(out)

    @route("POST", "/api/load")
    async def load() -> Response:
        req = await body_as(LoadRequest)
        path, base = save_path(req.path)
        if not _is_file(path):
            raise ApiError(404, "not_found", f"no save file {req.path!r} in {base}")
        try:
            reply = await engine.load_save(str(path), req.seed)
        except SimError as exc:
            raise file_error(exc) from None
        out = {"loaded": req.path, **strip_reply(reply), "probes": engine.probe_count}
        out["name"] = str(path.relative_to(base))
        return json_response(out)

    def tick_rate_body() -> dict[str, Any]:
        return {
            "tickRate": engine.tick_rate,
            "tick_rate": engine.tick_rate,
            "mode": engine.mode,
            "ticks_per_second": round(engine.ticks_per_second, 3),
            "tick": engine.tick,
        }

    @route("GET", "/api/tick-rate")
    async def get_tick_rate() -> Response:
        return json_response(tick_rate_body())

    @route("POST", "/api/tick-rate")
    async def post_tick_rate() -> Response:
        obj = await body_as(dict)
        if "tickRate" in obj:  # the reference's form; its refusal is a 400 "invalid tickRate"
            if len(obj) > 1:
                others = ", ".join(sorted(k for k in obj if k != "tickRate"))
                raise ApiError(
                    422,
                    "invalid",
                    f"tickRate comes alone; unknown field(s): {others}",
                    {"path": "$"},
                )
            rate = obj["tickRate"]
            if (
                isinstance(rate, bool)
                or not isinstance(rate, int | float)
                or not 0 < rate <= MAX_TICK_RATE
            ):
                raise ApiError(
                    400,
                    "bad_request",
                    f"invalid tickRate: expected a number of ticks per second in "
                    f"(0, {MAX_TICK_RATE:g}], got {rate!r}",
                    {"path": "$.tickRate"},
                )
            tick_rate = float(rate)
        else:
            tick_rate = structure(obj, TickRateRequest).tick_rate
        engine.set_mode(engine.mode, tick_rate)
        return json_response(tick_rate_body())

    @route("GET", "/api/scenario")
    async def get_scenario() -> Response:
        command = shape_command({"cmd": "scenario"})
        reply = await sim.request(command)
        out = strip_reply(reply)
        if "shape" in command:  # the reference lists the events at the top level
            out = {"events": (out.get("scenario") or {}).get("events", []), **out}
        out["tick"] = engine.tick
        return json_response(out)

    def scenario_file(text: str) -> Scenario:
        dirs = scenario_dirs(engine)
        for base in dirs:
            for name in (text, text + ".json"):
                path = confine(base, name)
                if path is not None and _is_file(path):
                    return read_scenario(path)
        raise ApiError(
            404,
            "not_found",
            f"no scenario file {text!r} in {', '.join(str(d) for d in dirs) or 'no directory'}",
            {"path": "$.path"},
        )

    def read_scenario(path: Path) -> Scenario:
        try:
            if path.stat().st_size > MAX_SCENARIO_FILE:
                raise ApiError(422, "bad_file", f"{path} is larger than 16 MiB", {"path": "$.path"})
            obj = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                422, "bad_file", f"{path}: not valid JSON: {exc}", {"path": "$.path"}
            ) from None
        except OSError as exc:
            raise ApiError(422, "io_error", f"{path}: {exc.strerror}", {"path": "$.path"}) from None
        try:
            return m.structure(obj, Scenario)
        except m.MessageError as exc:
            raise ApiError(
                422, "bad_file", f"{path}: {exc.path}: {exc.message}", {"path": "$.path"}
            ) from None

    @route("POST", "/api/scenario")
    async def post_scenario() -> Response:
        obj = await body_as(dict)
        if isinstance(obj, dict) and "events" in obj and "scenario" not in obj:
            obj = {"scenario": obj}
        req = structure(obj, ScenarioRequest)
        command: dict[str, Any]
        if req.clear:
            command = {"clear": True}
        else:
            scenario = req.scenario if req.scenario is not None else scenario_file(req.path or "")
            command = {"scenario": scenario.to_sim()}
        try:
            reply = await engine.load_scenario(command)
        except SimError as exc:
            if exc.code != "bad_request":
                raise
            raise ApiError(422, "invalid", exc.message, {"path": "$.scenario"}) from None
        out = {"loaded": 0, **strip_reply(reply)}  # the reference's count (0 for a clear)
        out["tick"] = engine.tick
        return json_response(out)

    @route("GET", "/api/lineage")
    async def lineage() -> Response:
        limit, offset = paging()
        reply = await sim.request({"cmd": "lineage", "limit": limit, "offset": offset})
        out = strip_reply(reply)
        out.update(limit=limit, offset=offset)
        return json_response(out)

    @route("GET", "/api/history/{probe_id}")
    async def history(probe_id: str) -> Response:
        check_probe_id(probe_id)
        reply = await sim.request(shape_command({"cmd": "history", "probe_id": probe_id}))
        return json_response(strip_reply(reply))
