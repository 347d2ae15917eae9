"""Every wire message of the daemon, in one place.

Inbound messages (agent WebSocket frames, REST bodies) are frozen attrs classes structured by one
cattrs converter with ``forbid_extra_keys``; a message that does not fit raises `MessageError`
carrying the JSON path of the first bad field (``$.probe_ids[1]``), which the gateway turns into an
``{"type":"error"}`` frame and the REST layer into a 422 envelope.

Outbound messages are encoded by the ``encode_*`` functions below straight to bytes with orjson:
observations are the sim's own observation objects (see docs/pipe-protocol.md), passed through
with the tick number added, so the daemon never re-types or drops a field the engine adds.

The single-probe action message (``{"action":"survey"}``) is the hottest message of the daemon;
`parse_agent_message` structures it by hand into an `Action` (same checks, no converter walk).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal, TypeVar, cast, get_args

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn

__all__ = [
    "ACTION_NAMES",
    "DELTA_GROUP_PIECES",
    "INJECT_TYPES",
    "INJECT_TYPE_NUMBERS",
    "OBSERVATION_PIECES",
    "SHAPES",
    "Action",
    "ActionsBatch",
    "ConfigRequest",
    "FieldError",
    "InjectEvent",
    "InjectRequest",
    "MessageError",
    "ModeRequest",
    "Register",
    "Resync",
    "Shape",
    "TagRequest",
    "TickRequest",
    "apply_delta",
    "diff_observation",
    "encode",
    "encode_error",
    "encode_observe",
    "encode_observe_batch",
    "encode_observe_batch_wire",
    "encode_observe_delta",
    "encode_registered",
    "is_probe_id",
    "observe_wire",
    "parse_agent_message",
    "probe_id_of",
    "split_observations",
    "split_tick_reply",
    "structure",
]

#: Action names the engine knows (docs/pipe-protocol.md "Actions").
ACTION_NAMES = frozenset(
    {
        "wait",
        "survey",
        "mine",
        "repair",
        "navigate_to_body",
        "enter_orbit",
        "land",
        "launch",
        "scan",
        "travel_to_system",
        "replicate",
        # the living universe (issue 9; the reference engine's names)
        "send_message",
        "place_beacon",
        "build_structure",
        "trade",
        "claim_system",
        "revoke_claim",
        "propose",
        "vote",
        "research",
        "share_tech",
    }
)
#: Event types of the sim's ``inject`` command (docs/pipe-protocol.md "inject").
InjectType = Literal["hazard", "discovery", "threat", "anomaly", "encounter", "crisis", "wonder"]
INJECT_TYPES: tuple[str, ...] = get_args(InjectType)
#: The reference wire's event type numbers of the injectable types (the agreed numbering: 0
#: discovery, 1 anomaly, 2 hazard, 3 encounter, 4 crisis, 5 wonder, 6 threat); a REST body may
#: give the number instead of the name, the daemon sends (and journals) the name.
INJECT_TYPE_NUMBERS: dict[int, str] = {
    0: "discovery",
    1: "anomaly",
    2: "hazard",
    3: "encounter",
    4: "crisis",
    5: "wonder",
    6: "threat",
}
PROBE_ID_RE = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


def is_probe_id(value: str) -> bool:
    """Whether ``value`` is a probe id ("hi-lo"), all of it: `PROBE_ID_RE` keeps ``$`` for the
    JSON schemas that quote it, and a regex ``$`` also matches before a trailing newline."""
    return PROBE_ID_RE.fullmatch(value) is not None


#: many probe ids at once, one per line (a fleet's ``actions``): one regex pass, not one per id
_PROBE_ID_LINES_RE = re.compile(r"(?:[0-9]{1,20}-[0-9]{1,20}\n)*")
Mode = Literal["realtime", "lockstep", "paused"]
#: Observation shapes (docs/agent-protocol.md "Observation shapes").
Shape = Literal["reference", "readable"]
SHAPES: tuple[str, ...] = get_args(Shape)
T = TypeVar("T")


class MessageError(ValueError):
    """A message that does not fit its schema.

    Attributes:
        code: stable machine-readable code (``bad_json``, ``invalid``, ``unknown_type``...).
        path: JSON path of the offending field, ``$`` for the whole message.
    """

    def __init__(self, code: str, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


class FieldError(ValueError):
    """Raised by validators: names the field so the error path can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _between(lo: float, hi: float, *, low_open: bool = False) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is None:
            return
        if value < lo or value > hi or (low_open and value == lo):
            bound = f"({lo}, {hi}]" if low_open else f"[{lo}, {hi}]"
            raise FieldError(attribute.name, f"must be in {bound}, got {value!r}")

    return check


def _check_probe_id(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not is_probe_id(value):
        raise FieldError(attribute.name, f"must be a probe id like '1-1', got {value!r}")


def _check_probe_ids(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    assert isinstance(value, tuple)
    if not value:
        raise FieldError(attribute.name, "must not be empty")
    for index, item in enumerate(value):
        if not is_probe_id(item):
            raise FieldError(
                f"{attribute.name}[{index}]", f"must be a probe id like '1-1', got {item!r}"
            )


# --------------------------------------------------------------------------- agent -> server


@attrs.frozen
class Register:
    """``{"type":"register","probe_id":"1-1"}``; fleet: ``probe_ids`` or ``lineage``."""

    type: Literal["register"]
    probe_id: str | None = attrs.field(default=None)
    probe_ids: tuple[str, ...] | None = attrs.field(default=None, validator=_check_probe_ids)
    lineage: bool = False
    #: extension: "compact" observations leave out the living-universe fields (~600 B vs ~6 KB)
    detail: Literal["full", "compact"] = "full"
    #: the observation shape: the reference server's (default) or universed's own ("readable")
    shape: Shape = "reference"
    #: extension: after one full observation, send only the changed top-level fields
    #: (``observe_delta`` / ``observe_batch_delta``, with a sequence number; see `Resync`)
    delta: bool = False

    @probe_id.validator
    def _probe_id_ok(self, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None:
            _check_probe_id(self, attribute, value)

    def __attrs_post_init__(self) -> None:
        if (self.probe_id is None) == (self.probe_ids is None):
            raise FieldError("probe_id", "give exactly one of probe_id and probe_ids")
        if self.lineage and self.probe_id is None:
            raise FieldError("lineage", "lineage needs probe_id")

    @property
    def fleet(self) -> bool:
        return self.probe_ids is not None or self.lineage

    @property
    def ids(self) -> tuple[str, ...]:
        return self.probe_ids if self.probe_ids is not None else (self.probe_id or "",)


@attrs.frozen
class Resync:
    """``{"type":"resync"}``: a delta connection asks for its probes' full observations again."""


@attrs.frozen
class Action:
    """One probe's action: its name and the action's own fields (sent to the sim as given).

    ``probe_id`` is set when the client named the probe (``{"type":"action","probe_id":..}``).
    """

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    probe_id: str | None = None
    #: `to_sim`, made once: shared by every submit of this (frozen, often cached) action, so
    #: read-only, as the bare actions of a batch are
    sim: Mapping[str, Any] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "sim", self.to_sim())

    def to_sim(self) -> dict[str, Any]:
        """The action object of the sim's ``tick`` command (a new dict)."""
        out = dict(self.params)
        out["type"] = self.name
        return out


@attrs.frozen
class ActionsBatch:
    """Fleet answer: ``{"type":"actions","tick":42,"actions":{"1-1":{"action":"mine",...}}}``.

    ``actions`` maps each probe id to its action in the sim's form (`Action.to_sim`), checked
    as `Action` is: a fleet of 100,000 probes answers in one message every tick, so no object
    is built per action (an action with no fields of its own is one shared, read-only dict).
    """

    actions: Mapping[str, Mapping[str, Any]]
    tick: int | None = None
    #: every probe id of ``actions`` is in the ``owned`` set the parser was given (so each is a
    #: valid id, and the connection's: `Engine.submit_batch` need not look again)
    owned: bool = attrs.field(default=False, eq=False, repr=False)


#: the sim form of each action without fields of its own (``{"action":"wait"}``), shared
_BARE_ACTIONS: dict[str, Mapping[str, Any]] = {}


def _sim_action(act: object, pid: str) -> Mapping[str, Any]:
    """One entry of an ``actions`` batch in the sim's form (the checks of `_parse_action`)."""
    if isinstance(act, str):
        act = {"action": act}
    if not isinstance(act, dict):
        raise MessageError("invalid", "an action must be an object", f"$.actions[{pid!r}]")
    if len(act) == 1:
        name = act.get("action")
        if name is None:
            name = act.get("type")
        if isinstance(name, str):
            bare = _BARE_ACTIONS.get(name)
            if bare is not None:
                return bare
            if name in ACTION_NAMES:
                _BARE_ACTIONS[name] = bare = {"type": name}
                return bare
    return _parse_action(act, f"$.actions[{pid!r}]").to_sim()


_ACTION_OF = operator.itemgetter("action")


def _bare_batch(actions: dict[str, Any]) -> dict[str, Mapping[str, Any]] | None:
    """An ``actions`` batch whose every entry is ``{"action": name}`` with a known bare name
    (`_BARE_ACTIONS`), in the sim's form, found by a few passes at C speed (no Python code per
    entry); None if any entry is anything else (the caller then checks each entry)."""
    if not actions:
        return {}
    values = actions.values()
    try:
        if set(map(len, values)) != {1}:
            return None
        names = list(map(_ACTION_OF, values))  # KeyError, TypeError: not {"action": ...}
        distinct = set(names)  # TypeError: an unhashable name
    except (KeyError, TypeError):
        return None
    bare_of = _BARE_ACTIONS.get
    if len(distinct) == 1:  # a fleet's usual answer: every probe does the same
        bare = bare_of(distinct.pop())
        return None if bare is None else dict.fromkeys(actions, bare)
    bares = list(map(bare_of, names))
    if None in bares:
        return None
    return dict(zip(actions, cast("list[Mapping[str, Any]]", bares), strict=True))


def _parse_action(obj: Mapping[str, Any], path: str) -> Action:
    name = obj.get("action")
    if name is None:
        name = obj.get("type")
        if name == "action":
            name = None
    if not isinstance(name, str):
        raise MessageError("invalid", 'missing action name ("action": "survey")', path)
    if name not in ACTION_NAMES:
        raise MessageError(
            "unknown_action",
            f"unknown action {name!r}; one of {', '.join(sorted(ACTION_NAMES))}",
            f"{path}.action",
        )
    params = {k: v for k, v in obj.items() if k not in ("action", "type", "probe_id", "tick")}
    pid = obj.get("probe_id")
    if pid is not None and (not isinstance(pid, str) or not is_probe_id(pid)):
        raise MessageError(
            "invalid", f"probe_id must be a probe id, got {pid!r}", f"{path}.probe_id"
        )
    return Action(name, params, pid)


#: single actions recently parsed, by their exact bytes: an agent sends the same few messages
#: tick after tick (``{"action":"wait"}``, ``{"action":"mine","resource":"iron"}``), and an
#: `Action` is frozen, so one parse serves every repeat (bounded: emptied when full)
_ACTION_CACHE: dict[bytes, Action] = {}
ACTION_CACHE_SIZE = 4096
ACTION_CACHE_BYTES = 256  # longer messages are parsed every time


def parse_agent_message(
    data: bytes | str, owned: AbstractSet[str] = frozenset()
) -> Register | Action | ActionsBatch | Resync:
    """Decode one agent frame. ``owned``: the probes of the connection it came on; a fleet's
    ``actions`` all for them need no other check of their ids (a set test at C speed, where
    the id pattern costs ~1 ms per 10,000 ids) and say so (`ActionsBatch.owned`).

    Raises:
        MessageError: with the code and JSON path of what was wrong.
    """
    cacheable = type(data) is bytes and len(data) <= ACTION_CACHE_BYTES
    if cacheable:
        hit = _ACTION_CACHE.get(data)  # type: ignore[arg-type]  # bytes, just checked
        if hit is not None:
            return hit
    msg = _parse_agent_message(data, owned)
    if cacheable and type(msg) is Action:
        if len(_ACTION_CACHE) >= ACTION_CACHE_SIZE:
            _ACTION_CACHE.clear()
        _ACTION_CACHE[data] = msg  # type: ignore[index]
    return msg


def _parse_agent_message(
    data: bytes | str, owned: AbstractSet[str]
) -> Register | Action | ActionsBatch | Resync:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MessageError("bad_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MessageError("invalid", "a message must be a JSON object")
    kind = obj.get("type")
    if "action" in obj or kind == "action":
        return _parse_action(obj, "$")
    if kind == "register":
        return structure(obj, Register)
    if kind == "resync":
        return Resync()
    if kind == "actions":
        actions = obj.get("actions")
        if not isinstance(actions, dict):
            raise MessageError(
                "invalid", "actions must be an object of probe id -> action", "$.actions"
            )
        tick = obj.get("tick")
        if tick is not None and (not isinstance(tick, int) or isinstance(tick, bool)):
            raise MessageError("invalid", "tick must be an integer", "$.tick")
        parsed: dict[str, Mapping[str, Any]] = {}
        mine = bool(owned) and actions.keys() <= owned
        if not mine and not _PROBE_ID_LINES_RE.fullmatch(
            "\n".join(actions) + "\n" if actions else ""
        ):
            for pid in actions:
                if not is_probe_id(pid):
                    raise MessageError("invalid", f"bad probe id {pid!r}", f"$.actions[{pid!r}]")
        fast = _bare_batch(actions)
        if fast is not None:
            return ActionsBatch(fast, tick, mine)
        bare_of = _BARE_ACTIONS.get
        for pid, act in actions.items():
            # the common answer, {"action": "wait"}: one shared dict per name, no other checks
            if type(act) is dict and len(act) == 1:
                name = act.get("action") or act.get("type")
                bare = bare_of(name) if type(name) is str else None
                if bare is not None:
                    parsed[pid] = bare
                    continue
            parsed[pid] = _sim_action(act, pid)
        return ActionsBatch(parsed, tick, mine)
    if kind is None:
        raise MessageError(
            "invalid", 'missing "type" (register, action, actions, resync) or "action"'
        )
    raise MessageError(
        "unknown_type",
        f"unknown message type {kind!r}; expected register, action, actions or resync",
        "$.type",
    )


# --------------------------------------------------------------------------- REST bodies


@attrs.frozen
class TickRequest:
    count: int = attrs.field(default=1, validator=_between(1, 100_000))


@attrs.frozen
class ModeRequest:
    mode: Mode
    tick_rate: float | None = attrs.field(
        default=None, validator=_between(0.0, 100_000.0, low_open=True)
    )


@attrs.frozen
class InjectEvent:
    type: InjectType
    subtype: int | str = 0
    severity: float = attrs.field(default=0.5, validator=_between(0.0, 1.0))
    probe_id: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_probe_id)
    )


@attrs.frozen
class InjectRequest:
    event: InjectEvent
    probe_id: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_probe_id)
    )


def _check_tag(_inst: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    if not 1 <= len(value.encode()) <= 127:
        raise FieldError("tag", "must be 1..127 bytes")


@attrs.frozen
class TagRequest:
    tag: str = attrs.field(validator=_check_tag)


@attrs.frozen
class ConfigRequest:
    """Sim config keys and values (numbers or numeric strings); the sim validates names/ranges."""

    data: Mapping[str, float | int | str]


# --------------------------------------------------------------------------- converter

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _structure_strict_float(value: Any, _t: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _structure_strict_int(value: Any, _t: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _structure_strict_str(value: Any, _t: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _structure_strict_bool(value: Any, _t: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _structure_int_or_str(value: Any, _t: type) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer or a name, got {value!r}")
    return value


def _structure_config_value(value: Any, _t: type) -> float | int | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number or a numeric string, got {value!r}")
    return value


converter.register_structure_hook(float, _structure_strict_float)
converter.register_structure_hook(int, _structure_strict_int)
converter.register_structure_hook(str, _structure_strict_str)
converter.register_structure_hook(bool, _structure_strict_bool)
converter.register_structure_hook(int | str, _structure_int_or_str)
converter.register_structure_hook(float | int | str, _structure_config_value)


def _structure_inject_type(value: Any, _t: Any) -> str:
    """An injectable event type: its name or its reference number (`INJECT_TYPE_NUMBERS`)."""
    if isinstance(value, str) and value in INJECT_TYPES:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in INJECT_TYPE_NUMBERS:
        return INJECT_TYPE_NUMBERS[value]
    numbers = ", ".join(f"{n} {name}" for n, name in INJECT_TYPE_NUMBERS.items())
    raise ValueError(
        f"expected an event type name ({', '.join(INJECT_TYPES)}) or number ({numbers}), "
        f"got {value!r}"
    )


# Literal types compare (and hash) by their set of values: this also covers api_universe's
# scenario event type, the same seven names.
converter.register_structure_hook_func(lambda t: t == InjectType, _structure_inject_type)
for _cls in (Register, TickRequest, ModeRequest, InjectEvent, InjectRequest, TagRequest):
    converter.register_structure_hook(
        _cls, make_dict_structure_fn(_cls, converter, _cattrs_forbid_extra_keys=True)
    )


def _leaf(exc: BaseException, path: str) -> tuple[str, str]:
    """First leaf error of a cattrs validation error tree, as (message, "$.path")."""
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            index = getattr(note, "index", None)
            if name is not None:
                return _leaf(sub, f"{path}.{name}")
            if index is not None:
                return _leaf(sub, f"{path}[{index!r}]")
            return _leaf(sub, path)
        for sub in without_notes:
            return _leaf(sub, path)
    if isinstance(exc, FieldError):
        return str(exc), f"{path}.{exc.field}"
    if isinstance(exc, KeyError):
        return "required field missing", path
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s): {', '.join(sorted(exc.extra_fields))}", path
    text = str(exc) or type(exc).__name__
    if "not in literal" in text:
        text = text.replace("typing.Literal", "").strip()
    return text, path


def structure(obj: Any, cls: type[T]) -> T:
    """Structure ``obj`` into ``cls``; raise `MessageError` with the JSON path on failure."""
    if not isinstance(obj, dict):
        raise MessageError("invalid", "the body must be a JSON object")
    try:
        return converter.structure(obj, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        text, path = _leaf(exc, "$")
        raise MessageError("invalid", text, path) from None


# --------------------------------------------------------------------------- server -> agent


def encode(obj: Any) -> bytes:
    return orjson.dumps(obj)


def encode_registered(reg: Register, ids: list[str]) -> bytes:
    out: dict[str, Any]
    if reg.fleet:
        out = {"type": "registered", "probe_ids": ids, "fleet": True, "shape": reg.shape}
    else:
        out = {"type": "registered", "probe_id": ids[0], "shape": reg.shape}
    if reg.delta:
        out["delta"] = True
    return orjson.dumps(out)


_ABSENT = object()
#: keys a delta never carries: the message's own (``tick`` is the envelope's)
_ENVELOPE = frozenset({"type", "tick", "probe_id"})


def diff_observation(
    base: Mapping[str, Any], obs: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The top-level fields of ``obs`` that differ from ``base`` (new or changed values) and
    the keys ``base`` has that ``obs`` lacks; ``type``, ``tick`` and ``probe_id`` excluded."""
    get = base.get
    changed = {k: v for k, v in obs.items() if k not in _ENVELOPE and get(k, _ABSENT) != v}
    removed = [k for k in base if k not in obs and k not in _ENVELOPE]
    return changed, removed


def apply_delta(
    base: Mapping[str, Any], delta: Mapping[str, Any], tick: int | None
) -> dict[str, Any]:
    """A whole observation from the previous one and a delta (``changed``, ``removed``); the
    client side of `diff_observation`."""
    out = dict(base)
    out.update(delta.get("changed") or {})
    for key in delta.get("removed") or ():
        out.pop(key, None)
    if tick is not None:
        out["tick"] = tick
    return out


def encode_observe_delta(
    probe_id: str, tick: int, seq: int, changed: Mapping[str, Any], removed: Sequence[str]
) -> bytes:
    return orjson.dumps(
        {
            "type": "observe_delta",
            "probe_id": probe_id,
            "tick": tick,
            "seq": seq,
            "changed": changed,
            "removed": removed,
        }
    )


def encode_observe(observation: Mapping[str, Any], tick: int) -> bytes:
    """One observation as sent to a single-probe agent: the sim's fields plus ``tick``."""
    if observation.get("tick") == tick and observation.get("type") == "observe":
        return orjson.dumps(observation)  # the engine's observations already are (hot path)
    out = dict(observation)
    out["type"] = "observe"
    out["tick"] = tick
    return orjson.dumps(out)


def encode_observe_batch(observations: Sequence[Mapping[str, Any]], tick: int) -> bytes:
    return orjson.dumps({"type": "observe_batch", "tick": tick, "observations": observations})


#: how every observation object of the sim begins (docs/pipe-protocol.md): the sim escapes the
#: quotes inside strings, so these bytes can only start an object whose first key is "type"
OBSERVE_START = b'{"type":"observe","probe_id":"'
#: the key of a split tick reply (`split_tick_reply`) that lists its observations' bytes
OBSERVATION_PIECES = "observation_pieces"
#: the key of a split tick reply that lists its delta groups' bytes (`split_tick_reply`)
DELTA_GROUP_PIECES = "delta_group_pieces"
#: an observation as the daemon keeps it: bytes, or a view of the tick reply's line
Piece = bytes | memoryview
_OBSERVATION_LENS_KEY = b',"observation_lens":['
_DELTA_LENS_KEY = b',"delta_lens":['
_DELTA_GROUPS_KEY = b',"delta_groups":['
_GROUP_START = b'{"observations":['
_OBSERVATIONS_KEY = b'"observations":['
_BORN_KEY = b'],"born":['


def _observation_slices(line: bytes, first: int, end: int) -> list[bytes] | None:
    """The observations between ``first`` and ``end`` of a reply line (the inside of its
    ``observations`` array), each as the sim wrote it; None if they are not laid out that way."""
    if first == end:
        return []
    find = line.find
    if find(OBSERVE_START, first, first + 30) != first:
        return None
    starts = [first]
    pos = find(OBSERVE_START, first + 30, end)
    while pos >= 0:
        if line[pos - 2 : pos] != b"},":
            return None  # one object must end right before the next begins
        starts.append(pos)
        pos = find(OBSERVE_START, pos + 30, end)
    if line[end - 1 : end] != b"}":
        return None
    ends = [s - 1 for s in starts[1:]]
    ends.append(end)
    return [line[a:b] for a, b in zip(starts, ends, strict=True)]


def _observations_span(line: bytes) -> tuple[int, int] | None:
    """Where the inside of a tick reply's ``observations`` array begins and ends."""
    first = line.find(_OBSERVATIONS_KEY)
    if first < 0:
        return None
    first += len(_OBSERVATIONS_KEY)
    # ``],"born":[`` with its quotes bare is a key after an array: never inside a string (the sim
    # escapes quotes), and no observation has a "born" key
    end = line.find(_BORN_KEY, first)
    if end < 0:
        return None
    return first, end


def split_observations(line: bytes, count: int) -> list[bytes] | None:
    """Each observation of a sim ``tick`` reply line as the sim wrote it (pass-through).

    ``count`` is the number of observations the parsed reply has; the slices are found without
    parsing: each observation starts with `OBSERVE_START`, and the array ends before
    ``"born"``. None if the line is not laid out that way (a sim that writes it otherwise): the
    caller then encodes the parsed observations as before.
    """
    if count == 0:
        return []
    span = _observations_span(line)
    if span is None:
        return None
    pieces = _observation_slices(line, *span)
    if pieces is None or len(pieces) != count:
        return None
    return pieces


def split_tick_reply(line: bytes) -> tuple[dict[str, Any], Sequence[Piece]] | None:
    """A sim ``tick`` reply line read without parsing its observations: the reply with an empty
    ``observations`` list (everything else parsed: tick, born, destroyed, rejected, events), and
    each observation's bytes as the sim wrote them. The daemon parses an observation only when
    something reads it (`core.observations.Observations`).

    A reply to a tick that asked for ``observation_lens`` (the daemon's always do) is cut by
    those lengths: each observation is a memoryview of ``line``, nothing is scanned or copied.
    Otherwise each observation is found by where it starts (`split_observations`).

    A reply with delta groups (the tick's ``delta``) has them, unparsed too, as a list of bytes
    under `DELTA_GROUP_PIECES` (each ``{"observations":[...],...}`` as the sim wrote it, cut by
    the reply's ``delta_lens``), instead of ``delta_groups``.

    None if the line is not laid out that way: the caller then parses it whole.
    """
    first = line.find(_OBSERVATIONS_KEY)
    if first < 0:
        return None
    first += len(_OBSERVATIONS_KEY)
    pieces: Sequence[Piece] | None = None
    size = len(line) - 1 if line.endswith(b"\n") else len(line)  # the reply without a newline
    # the reply's last key, when the tick asked for it (the array of lengths ends the line)
    stop = line.rfind(_OBSERVATION_LENS_KEY, 0, size) if line.endswith(b"]}", 0, size) else -1
    if stop > first:
        pieces = _cut_observations(line, first, stop, size)
        if pieces is None:
            return None
        end = first + sum(len(p) for p in pieces) + max(0, len(pieces) - 1)
        if not line.startswith(_BORN_KEY, end):
            return None
        closing = b"}"  # the header is parsed up to ``stop``: close the object there
    else:
        # ``],"born":[`` with its quotes bare is a key after an array: never inside a string
        # (the sim escapes quotes), and no observation has a "born" key
        end = line.find(_BORN_KEY, first)
        if end < 0:
            return None
        pieces = _observation_slices(line, first, end)
        if pieces is None:
            return None
        stop, closing = size, b""
    # the delta groups come last (but for ``observation_lens``), after "delta_lens"
    lens_at = line.find(_DELTA_LENS_KEY, end, stop)
    try:
        if lens_at >= 0:
            reply = orjson.loads(line[:first] + line[end:lens_at] + b"}")
            groups_at = line.find(_DELTA_GROUPS_KEY, lens_at, stop)
            lens_end = line.find(b"]", lens_at, stop)
            if groups_at < 0 or lens_end + 1 != groups_at:
                return None
            lens = orjson.loads(line[lens_at + len(_DELTA_LENS_KEY) - 1 : lens_end + 1])
            groups = _delta_groups(line, groups_at + len(_DELTA_GROUPS_KEY), lens, stop, size)
            if groups is None:
                return None
            reply[DELTA_GROUP_PIECES] = groups
        else:
            reply = orjson.loads(line[:first] + line[end:stop] + closing)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(reply, dict) or reply.get("observations") != []:
        return None
    return reply, pieces


def _cut_observations(line: bytes, first: int, lens_at: int, size: int) -> list[Piece] | None:
    """The observations starting at ``first``, cut by the ``observation_lens`` list at
    ``lens_at`` (the reply's last key, ending at ``size``); None if the lengths do not cut
    objects."""
    try:
        lens = orjson.loads(line[lens_at + len(_OBSERVATION_LENS_KEY) - 1 : size - 1])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(lens, list):
        return None
    view = memoryview(line)
    pieces: list[Piece] = []
    pos = first
    last = len(lens) - 1
    for i, n in enumerate(lens):
        if not isinstance(n, int) or n < 2:
            return None
        after = pos + n
        # an object, then a comma before the next one (the array's end is checked by the caller)
        if line[pos] != 0x7B or line[after - 1] != 0x7D or (i < last and line[after] != 0x2C):
            return None
        pieces.append(view[pos:after])
        pos = after + 1
    return pieces


def _delta_groups(line: bytes, pos: int, lens: object, stop: int, size: int) -> list[bytes] | None:
    """The delta groups starting at ``pos`` of ``line``, cut by their lengths; the array ends
    the reply (at ``size``) or ``observation_lens`` follows it (at ``stop``)."""
    if not isinstance(lens, list):
        return None
    groups = []
    for i, n in enumerate(lens):
        if not isinstance(n, int) or n < 2:
            return None
        if i:
            if line[pos : pos + 1] != b",":
                return None
            pos += 1
        group = line[pos : pos + n]
        if not group.startswith(_GROUP_START) or not group.endswith(b"}"):
            return None
        groups.append(group)
        pos += n
    # the array ends the reply, or comes right before its ``observation_lens``
    if line[pos:stop] != (b"]}" if stop == size else b"]"):
        return None
    return groups


def probe_id_of(piece: Piece) -> str:
    """The probe id of an observation's bytes (`split_tick_reply`): ids never hold quotes."""
    if isinstance(piece, memoryview):
        head = bytes(piece[30:94])
        end = head.find(b'"')
        if end < 0:
            head = bytes(piece)
            end = head.index(b'"', 30)
        return head[:end].decode()
    return piece[30 : piece.index(b'"', 30)].decode()


def observe_tail(tick: int) -> bytes:
    """What replaces a sim observation's closing brace in its ``observe`` message."""
    return b',"tick":%d}' % tick


def observe_wire(raw: Piece, tick: int) -> bytes:
    """A single-probe ``observe`` message from a sim observation's bytes (`split_observations`):
    the same JSON value as `encode_observe` of the parsed observation with ``tick`` added
    (the bytes before its closing brace, then `observe_tail`)."""
    return b"".join((memoryview(raw)[:-1], observe_tail(tick)))  # one copy


def encode_observe_batch_wire(wires: Sequence[bytes], tick: int) -> bytes:
    """`encode_observe_batch` from observations already encoded (each with its ``tick``)."""
    return b'{"type":"observe_batch","tick":%d,"observations":[%b]}' % (tick, b",".join(wires))


def encode_error(code: str, message: str, path: str | None = None) -> bytes:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if path is not None:
        out["path"] = path
    return orjson.dumps(out)
