"""Wire messages: structure, rejection paths, encodings."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from universed import messages as m
from universed.core import messages as core_messages


def test_register_single_and_fleet() -> None:
    reg = m.parse_agent_message(b'{"type":"register","probe_id":"1-1"}')
    assert isinstance(reg, m.Register) and not reg.fleet and reg.ids == ("1-1",)
    fleet = m.parse_agent_message(b'{"type":"register","probe_ids":["1-1","1-2"]}')
    assert isinstance(fleet, m.Register) and fleet.fleet and fleet.ids == ("1-1", "1-2")
    lineage = m.parse_agent_message(b'{"type":"register","probe_id":"1-1","lineage":true}')
    assert isinstance(lineage, m.Register) and lineage.fleet


def test_actions_in_every_accepted_form() -> None:
    a = m.parse_agent_message(b'{"action":"mine","resource":"iron"}')
    assert isinstance(a, m.Action)
    assert a.to_sim() == {"type": "mine", "resource": "iron"}
    b = m.parse_agent_message(b'{"type":"action","probe_id":"1-2","action":"survey"}')
    assert isinstance(b, m.Action) and b.probe_id == "1-2" and b.to_sim() == {"type": "survey"}
    batch = m.parse_agent_message(
        b'{"type":"actions","tick":3,"actions":{"1-1":{"action":"land"},"1-2":"wait"}}'
    )
    assert isinstance(batch, m.ActionsBatch) and batch.tick == 3
    assert batch.actions == {
        "1-1": {"type": "land"},
        "1-2": {"type": "wait"},
    }


@pytest.mark.parametrize(
    ("payload", "code", "path"),
    [
        (b"{", "bad_json", "$"),
        (b'"register"', "invalid", "$"),
        (b"{}", "invalid", "$"),
        (b'{"type":"hello"}', "unknown_type", "$.type"),
        (b'{"type":"register"}', "invalid", "$.probe_id"),
        (b'{"type":"register","probe_id":"1-1","probe_ids":["1-2"]}', "invalid", "$.probe_id"),
        (b'{"type":"register","probe_ids":[]}', "invalid", "$.probe_ids"),
        (b'{"type":"register","probe_ids":["1-1","2"]}', "invalid", "$.probe_ids[1]"),
        (b'{"type":"register","probe_id":"1-1","lineage":"yes"}', "invalid", "$.lineage"),
        (b'{"type":"register","probe_id":"1-1","x":1}', "invalid", "$"),
        (b'{"action":7}', "invalid", "$"),
        (b'{"action":"teleport"}', "unknown_action", "$.action"),
        (b'{"action":"wait","probe_id":"me"}', "invalid", "$.probe_id"),
        (b'{"type":"actions","actions":{"1-1":{"action":"x"}}}', "unknown_action", None),
        (b'{"type":"actions","tick":"now","actions":{}}', "invalid", "$.tick"),
        (b'{"type":"actions","actions":{"bob":{"action":"wait"}}}', "invalid", None),
        # a trailing newline is not part of an id ("$" of a regex would let it through)
        (b'{"type":"actions","actions":{"1-1":"wait","1-2\\n":"wait"}}', "invalid", None),
        (b'{"action":"wait","probe_id":"1-2\\n"}', "invalid", "$.probe_id"),
        (b'{"type":"register","probe_ids":["1-1\\n"]}', "invalid", "$.probe_ids[0]"),
        (
            b'{"type":"actions","actions":{"1-1":{"action":"wait","x":{"y":1}},"1-2":7}}',
            "invalid",
            None,
        ),
    ],
)
def test_bad_agent_messages(payload: bytes, code: str, path: str | None) -> None:
    with pytest.raises(m.MessageError) as info:
        m.parse_agent_message(payload)
    assert info.value.code == code
    if path is not None:
        assert info.value.path == path
    else:
        assert info.value.path.startswith("$.actions[")
    assert info.value.message


@pytest.mark.parametrize(
    ("body", "cls", "path"),
    [
        ({"event": {"type": "hazard", "severity": 1.5}}, m.InjectRequest, "$.event.severity"),
        ({"event": {"type": "hazard", "severity": "high"}}, m.InjectRequest, "$.event.severity"),
        ({"event": {"type": "hazard", "probe_id": "x"}}, m.InjectRequest, "$.event.probe_id"),
        ({"event": {"type": "rain"}}, m.InjectRequest, "$.event.type"),
        ({}, m.InjectRequest, "$.event"),
        ({"mode": "fast"}, m.ModeRequest, "$.mode"),
        ({"mode": "realtime", "tick_rate": -1}, m.ModeRequest, "$.tick_rate"),
        ({"count": 0}, m.TickRequest, "$.count"),
        ({"count": True}, m.TickRequest, "$.count"),
        ({"tag": ""}, m.TagRequest, "$.tag"),
        ({"tag": "a", "x": 1}, m.TagRequest, "$"),
    ],
)
def test_bad_rest_bodies(body: dict[str, Any], cls: type, path: str) -> None:
    with pytest.raises(m.MessageError) as info:
        m.structure(body, cls)
    assert info.value.path == path


def test_encodings() -> None:
    obs = {"type": "observe", "probe_id": "1-1", "hull": 1.0}
    assert orjson.loads(m.encode_observe(obs, 9)) == {**obs, "tick": 9}
    batch = orjson.loads(m.encode_observe_batch([obs], 9))
    assert batch == {"type": "observe_batch", "tick": 9, "observations": [obs]}
    reg = m.Register("register", probe_id="1-1")
    assert orjson.loads(m.encode_registered(reg, ["1-1"])) == {
        "type": "registered",
        "probe_id": "1-1",
        "shape": "reference",
    }
    readable = m.Register("register", probe_ids=("1-1", "1-2"), shape="readable")
    assert orjson.loads(m.encode_registered(readable, ["1-1", "1-2"])) == {
        "type": "registered",
        "probe_ids": ["1-1", "1-2"],
        "fleet": True,
        "shape": "readable",
    }


def test_register_shape() -> None:
    reg = m.parse_agent_message(b'{"type":"register","probe_id":"1-1"}')
    assert isinstance(reg, m.Register) and reg.shape == "reference"
    reg = m.parse_agent_message(b'{"type":"register","probe_id":"1-1","shape":"readable"}')
    assert isinstance(reg, m.Register) and reg.shape == "readable"
    for bad in (b'"bogus"', b"3", b"null"):
        with pytest.raises(m.MessageError) as info:
            m.parse_agent_message(b'{"type":"register","probe_id":"1-1","shape":' + bad + b"}")
        assert info.value.code == "invalid" and info.value.path == "$.shape"
        assert "reference" in info.value.message and "readable" in info.value.message
    err = orjson.loads(m.encode_error("invalid", "bad", "$.x"))
    assert err == {"type": "error", "code": "invalid", "message": "bad", "path": "$.x"}


def test_repeated_actions_are_parsed_once_and_the_cache_stays_bounded() -> None:
    from universed.core import messages as core

    core._ACTION_CACHE.clear()
    first = m.parse_agent_message(b'{"action":"mine","resource":"iron"}')
    again = m.parse_agent_message(b'{"action":"mine","resource":"iron"}')
    assert again is first and isinstance(first, m.Action)
    assert first.to_sim() == {"resource": "iron", "type": "mine"}
    assert first.to_sim() is not first.to_sim()  # each caller gets its own sim object
    # what is not a single action, and what fails, is parsed every time
    for payload in (b'{"type":"resync"}', b'{"type":"register","probe_id":"1-1"}'):
        assert m.parse_agent_message(payload) is not m.parse_agent_message(payload)
    for _ in range(2):
        with pytest.raises(m.MessageError) as info:
            m.parse_agent_message(b'{"action":"fly"}')
        assert info.value.code == "unknown_action"
    long = b'{"action":"travel_to_system","system_id":"' + b"x" * core.ACTION_CACHE_BYTES + b'"}'
    assert m.parse_agent_message(long) is not m.parse_agent_message(long)
    assert m.parse_agent_message('{"action":"wait"}') == m.Action("wait")  # str: not cached
    for i in range(core.ACTION_CACHE_SIZE + 10):
        m.parse_agent_message(b'{"action":"wait","probe_id":"1-%d"}' % (i + 1))
    assert len(core._ACTION_CACHE) <= core.ACTION_CACHE_SIZE


def _entry_by_entry(actions: dict[str, Any]) -> dict[str, Any] | str:
    """A batch's actions checked one at a time (the per-entry path), or the error's path."""
    try:
        return {pid: core_messages._sim_action(act, pid) for pid, act in actions.items()}
    except m.MessageError as exc:
        return exc.path


@pytest.mark.parametrize(
    "actions",
    [
        {},
        {"1-1": {"action": "wait"}, "1-2": {"action": "wait"}},
        {"1-1": {"action": "wait"}, "1-2": {"action": "survey"}, "1-3": {"action": "scan"}},
        {"1-1": {"action": "wait"}, "1-2": {"type": "survey"}},
        {"1-1": {"action": "wait"}, "1-2": "survey"},
        {"1-1": {"action": "mine", "resource": "iron"}, "1-2": {"action": "wait"}},
        {"1-1": {"action": "wait"}, "1-2": {"action": "teleport"}},
        {"1-1": {"action": "wait"}, "1-2": {"action": ["wait"]}},
        {"1-1": {"action": "wait"}, "1-2": {"action": 7}},
        {"1-1": {"action": ""}, "1-2": {"action": ""}},
        {"1-1": {"action": "wait"}, "1-2": 7},
        {"1-1": {"action": "wait"}, "1-2": [1]},
        {"1-1": {"action": "wait"}, "1-2": "w"},
        {"1-1": {"probe_id": "1-1"}},
    ],
)
def test_a_batch_parses_as_its_entries_one_by_one(actions: dict[str, Any]) -> None:
    """The batch path (`_bare_batch`: a few passes at C speed when every entry is a bare
    ``{"action": name}``) gives what checking each entry gives: the same actions, or the same
    error at the same path; whether the bare names were seen before or not."""
    want = _entry_by_entry(actions)
    payload = orjson.dumps({"type": "actions", "actions": actions})
    for _ in range(2):  # the second time, every valid name is a known bare one
        if isinstance(want, str):
            with pytest.raises(m.MessageError) as info:
                m.parse_agent_message(payload)
            assert info.value.path == want
        else:
            batch = m.parse_agent_message(payload)
            assert isinstance(batch, m.ActionsBatch)
            assert batch.actions == want and list(batch.actions) == list(want)


def test_a_batch_for_the_connections_own_probes_skips_the_id_pattern_only() -> None:
    """Given the connection's probes (``owned``), a batch naming only them is marked
    ``owned`` (the engine then checks nothing more) and parses to the same actions; a batch
    naming anything else gets every check, bad ids included, as without ``owned``."""
    mine = {"1-1", "1-2", "1-3"}
    batch = {"type": "actions", "actions": {"1-1": {"action": "wait"}, "1-3": "survey"}}
    payload = orjson.dumps(batch)
    owned = m.parse_agent_message(payload, mine)
    plain = m.parse_agent_message(payload)
    assert isinstance(owned, m.ActionsBatch) and isinstance(plain, m.ActionsBatch)
    assert owned.owned and not plain.owned
    assert owned.actions == plain.actions and owned == plain
    other = orjson.dumps({"type": "actions", "actions": {"1-1": "wait", "1-9": "wait"}})
    parsed = m.parse_agent_message(other, mine)
    assert isinstance(parsed, m.ActionsBatch) and not parsed.owned
    bad = orjson.dumps({"type": "actions", "actions": {"1-1": "wait", "1-x": "wait"}})
    for given in (mine, frozenset()):
        with pytest.raises(m.MessageError) as info:
            m.parse_agent_message(bad, given)
        assert info.value.code == "invalid" and info.value.path == "$.actions['1-x']"
