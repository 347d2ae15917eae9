"""The rules as agents read them: the shipped docs, and each action's fields with a check.

Language-model agents (the MCP server, ``universed mcp``, and the LLM policy plugin) read the
universe's rules and the action reference from here rather than from text of their own, so what a
model is told cannot drift from the engine:

* `rules_doc` reads the docs the daemon ships (docs/universe.md, docs/agent-protocol.md,
  docs/pipe-protocol.md, docs/llm-agents.md): packaged as ``universed/_docs`` in the wheel
  (setup.py copies them), the checkout's docs/ in an editable install.
* `ACTIONS` describes each action of `messages.ACTION_NAMES` (the names the engine accepts; a
  test keeps the two equal): its fields and what they take. `check_action` validates an action
  object against it before it is sent, with the JSON path of a bad field; the engine still has
  the last word (its rejection reason comes back in the next observation's ``last_action``).
* `action_reference` is the compact reference built from `ACTIONS` and the engine's own table
  (pipe-protocol.md "Actions").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from .messages import ACTION_NAMES, MessageError, is_probe_id

__all__ = [
    "ACTIONS",
    "DOCS",
    "RESOURCES",
    "STRUCTURES",
    "TECHS",
    "ActionSpec",
    "Field",
    "action_reference",
    "check_action",
    "doc_section",
    "rules_doc",
]

#: The docs a model may read, by short name (the file is ``NAME.md``).
DOCS = ("universe", "agent-protocol", "pipe-protocol", "llm-agents")
RESOURCES = (
    "iron", "silicon", "rare_earth", "water", "hydrogen", "helium3", "carbon", "uranium", "exotic",
)  # fmt: skip
TECHS = (
    "propulsion", "sensors", "mining", "construction", "computing", "energy", "materials",
    "communication", "weapons", "biotech",
)  # fmt: skip
STRUCTURES = (
    "mining_station", "relay_satellite", "observatory", "habitat", "shipyard", "factory",
)  # fmt: skip
_ID_RE = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


@attrs.frozen
class Field:
    """One field of an action: its JSON type, whether it is required, allowed values."""

    name: str
    kind: str  # "string", "probe_id", "id" (a "hi-lo" id), "number", "boolean", "int_or_name"
    required: bool = True
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    max_bytes: int | None = None
    doc: str = ""


@attrs.frozen
class ActionSpec:
    name: str
    doc: str
    fields: tuple[Field, ...] = ()
    #: accepted while traveling, navigating or replicating (send_message, propose, vote, research)
    mental: bool = False


_TEXT = ("content", "message", "text")
ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        ActionSpec("wait", "do nothing this tick"),
        ActionSpec("survey", "survey the current body (or the system) toward the next level"),
        ActionSpec(
            "mine",
            "mine a resource of the current body (landed; or orbiting a belt; gas giants from "
            "orbit: hydrogen, helium3); needs body survey level 1",
            (Field("resource", "string", choices=RESOURCES),),
        ),
        ActionSpec("repair", "repair the hull (uses 10 kg iron)"),
        ActionSpec(
            "navigate_to_body",
            "move to a body of the current system (multi-tick)",
            (Field("target_body", "id", aliases=("target",), doc='body id "hi-lo"'),),
        ),
        ActionSpec("enter_orbit", "orbit the current body"),
        ActionSpec("land", "land on the body you orbit (not belts or giants)"),
        ActionSpec("launch", "from the surface back to orbit"),
        ActionSpec("scan", "list systems within sensor range (in the next last_action.result)"),
        ActionSpec(
            "travel_to_system",
            "travel to another system (multi-tick, uses fuel; not landed)",
            (Field("target_system_id", "id", aliases=("target", "system_id"), doc="system id"),),
        ),
        ActionSpec("replicate", "build a child probe (multi-tick; consumes the recipe's cargo)"),
        ActionSpec(
            "send_message",
            "send a message at light speed (omit target to broadcast)",
            (
                Field("target", "probe_id", required=False, doc="probe id, or omit: broadcast"),
                Field("content", "string", aliases=_TEXT[1:], max_bytes=127),
            ),
            mental=True,
        ),
        ActionSpec(
            "place_beacon",
            "leave a message in the current system",
            (Field("message", "string", aliases=("content", "text"), max_bytes=127),),
        ),
        ActionSpec(
            "build_structure",
            "start or join a structure here (iron and silicon from cargo)",
            (Field("structure_type", "int_or_name", choices=STRUCTURES, aliases=("structure",)),),
        ),
        ActionSpec(
            "trade",
            "give cargo to another probe (instant in the same system, else 100 ticks)",
            (
                Field("target", "probe_id"),
                Field("resource", "string", choices=RESOURCES),
                Field("amount", "number", doc="kg > 0"),
            ),
        ),
        ActionSpec("claim_system", "claim the current system"),
        ActionSpec("revoke_claim", "release your claim on the current system"),
        ActionSpec(
            "propose",
            "open a proposal for 100 ticks",
            (Field("text", "string", aliases=("content", "message"), max_bytes=127),),
            mental=True,
        ),
        ActionSpec(
            "vote",
            "vote on an open proposal",
            (
                Field("proposal", "int_or_name", aliases=("proposal_id",), doc="proposal id"),
                Field("favor", "boolean", aliases=("in_favor",)),
            ),
            mental=True,
        ),
        ActionSpec(
            "research",
            "research one tech level in the background",
            (Field("domain", "int_or_name", choices=TECHS, aliases=("tech",)),),
            mental=True,
        ),
        ActionSpec(
            "share_tech",
            "lift a probe in your system to your level of a tech",
            (
                Field("target", "probe_id"),
                Field("domain", "int_or_name", choices=TECHS, aliases=("tech",)),
            ),
        ),
    )
}


def _find(obj: Mapping[str, Any], field: Field) -> tuple[str, Any] | None:
    for key in (field.name, *field.aliases):
        if key in obj:
            return key, obj[key]
    return None


def _check_field(field: Field, key: str, value: Any) -> None:
    path = f"$.{key}"
    kind = field.kind
    if kind == "boolean":
        if not isinstance(value, bool):
            raise MessageError("invalid", f"{key} must be true or false, got {value!r}", path)
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise MessageError("invalid", f"{key} must be a number > 0, got {value!r}", path)
        return
    if kind == "int_or_name":
        if isinstance(value, int) and not isinstance(value, bool):
            if field.choices and not 0 <= value < len(field.choices):
                raise MessageError(
                    "invalid", f"{key} must be 0..{len(field.choices) - 1}, got {value}", path
                )
            return
        if isinstance(value, str) and (
            value in field.choices or (not field.choices and value.isdigit())
        ):
            return
        what = f"one of {', '.join(field.choices)}" if field.choices else "an integer"
        raise MessageError("invalid", f"{key} must be {what}, got {value!r}", path)
    if not isinstance(value, str):
        raise MessageError("invalid", f"{key} must be a string, got {value!r}", path)
    if kind == "probe_id" and not is_probe_id(value):
        raise MessageError("invalid", f"{key} must be a probe id like '1-2', got {value!r}", path)
    if kind == "id" and not _ID_RE.match(value):
        raise MessageError("invalid", f'{key} must be an id "hi-lo", got {value!r}', path)
    if field.choices and value not in field.choices:
        raise MessageError(
            "invalid", f"{key} must be one of {', '.join(field.choices)}, got {value!r}", path
        )
    if field.max_bytes is not None and len(value.encode()) > field.max_bytes:
        raise MessageError("invalid", f"{key} is longer than {field.max_bytes} bytes", path)


def check_action(action: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an action object (``{"action": "mine", "resource": "iron"}``) before sending it.

    Returns the action as it goes on the wire. The engine checks it against the probe's state
    (energy, location, ...); this checks what can be checked without it: the name, the required
    fields and their types and values. ``send_message`` without a target is a broadcast;
    ``travel_to_system`` also takes the reference engine's sector form unchanged.

    Raises:
        MessageError: ``unknown_action`` or ``invalid``, with the JSON path of the bad field.
    """
    name = action.get("action")
    if not isinstance(name, str):
        raise MessageError("invalid", 'missing action name ("action": "survey")', "$.action")
    spec = ACTIONS.get(name)
    if spec is None or name not in ACTION_NAMES:
        raise MessageError(
            "unknown_action",
            f"unknown action {name!r}; one of {', '.join(sorted(ACTION_NAMES))}",
            "$.action",
        )
    out = {k: v for k, v in action.items() if k not in ("type", "probe_id", "tick")}
    if name == "travel_to_system" and "sector_x" in action:
        return out  # the reference engine's form (system index + sector): the engine checks it
    if name == "navigate_to_body" and "target_body_hi" in action:
        return out  # the split integer form
    for field in spec.fields:
        found = _find(action, field)
        if found is None:
            if field.required:
                raise MessageError("invalid", f"{name} needs {field.name!r}", f"$.{field.name}")
            continue
        key, value = found
        if value is None and not field.required:
            continue
        _check_field(field, key, value)
    return out


def _field_text(field: Field) -> str:
    kind = {"id": '"hi-lo" id', "probe_id": "probe id", "int_or_name": "name or number"}.get(
        field.kind, field.kind
    )
    text = f"{field.name}: {'|'.join(field.choices) if field.choices else kind}"
    if field.max_bytes:
        text += f" (<= {field.max_bytes} bytes)"
    if not field.required:
        text += " (optional)"
    return text


def action_reference() -> list[dict[str, Any]]:
    """Every action: name, what it does, its fields (for a model's tool description)."""
    return [
        {
            "action": spec.name,
            "does": spec.doc,
            "fields": [_field_text(f) for f in spec.fields],
            **({"mental": True} if spec.mental else {}),
        }
        for spec in ACTIONS.values()
    ]


def _docs_dir() -> Path | None:
    packaged = Path(str(resources.files("universed").joinpath("_docs")))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "docs"
    return checkout if checkout.is_dir() else None


@functools.cache
def rules_doc(name: str) -> str:
    """The text of a shipped doc (``universe``, ``agent-protocol``, ...; see `DOCS`).

    Raises:
        KeyError: not one of `DOCS`, or the doc is not installed.
    """
    if name not in DOCS:
        raise KeyError(f"unknown doc {name!r}; one of {', '.join(DOCS)}")
    where = _docs_dir()
    path = where / f"{name}.md" if where is not None else None
    if path is None or not path.is_file():
        raise KeyError(f"doc {name!r} is not installed")
    return path.read_text(encoding="utf-8")


def doc_section(text: str, heading: str) -> str:
    """The section of a markdown text under ``heading`` (e.g. ``"### Replication"``), up to
    the next heading of the same or a higher level; "" if there is none."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.strip() == heading:
            out = [line]
            for nxt in lines[start + 1 :]:
                hashes = len(nxt) - len(nxt.lstrip("#"))
                if 0 < hashes <= level and nxt[hashes : hashes + 1] == " ":
                    break
                out.append(nxt)
            return "\n".join(out).strip()
    return ""
