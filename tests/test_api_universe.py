"""The living universe's REST layer: request types, path confinement, OpenAPI, error envelopes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import http, running_daemon

from universed import messages as m
from universed.server.rest.app import ROUTES, openapi_document
from universed.server.rest.universe import (
    UNIVERSE_ROUTES,
    LoadRequest,
    Scenario,
    ScenarioRequest,
    TickRateRequest,
    confine,
)

SHIPPED = Path(__file__).resolve().parent.parent / "sim" / "scenarios"


# --------------------------------------------------------------------------- pure


def test_confine_keeps_paths_inside_the_base(tmp_path: Path) -> None:
    base = tmp_path / "saves"
    base.mkdir()
    assert confine(base, "a.usim") == base.resolve() / "a.usim"
    assert confine(base, "sub/b.usim") == base.resolve() / "sub" / "b.usim"
    assert confine(base, str(base / "c.usim")) == base.resolve() / "c.usim"
    assert confine(base, "x/../d.usim") == base.resolve() / "d.usim"
    for outside in ("../a.usim", "/etc/passwd", str(tmp_path / "e.usim"), ".", "", "sub/../.."):
        assert confine(base, outside) is None, outside
    # a symlink inside that points outside does not get out either
    os.symlink(tmp_path, base / "link")
    assert confine(base, "link/f.usim") is None


def test_scenario_requests_are_typed_with_json_paths() -> None:
    ok = m.structure(
        {
            "scenario": {
                "name": "x",
                "relative": True,
                "events": [
                    {"at_tick": 3, "type": "threat", "subtype": "radiation", "severity": 0.2},
                    {"at_tick": 4, "type": "crisis", "target": "1-2"},
                ],
            }
        },
        ScenarioRequest,
    )
    assert ok.scenario is not None and ok.scenario.to_sim() == {
        "name": "x",
        "relative": True,
        "events": [
            {"at_tick": 3, "type": "threat", "subtype": "radiation", "severity": 0.2},
            {"at_tick": 4, "type": "crisis", "severity": 0.5, "target": "1-2"},
        ],
    }
    assert m.structure({"clear": True}, ScenarioRequest).clear
    assert m.structure({"path": "supernova"}, ScenarioRequest).path == "supernova"
    bad: list[tuple[dict[str, Any], str]] = [
        ({}, "$.scenario"),
        ({"clear": True, "path": "x"}, "$.scenario"),
        ({"clear": False}, "$.scenario"),
        ({"scenario": {"events": [{"at_tick": 1, "type": "party"}]}}, "$.scenario.events[0].type"),
        (
            {"scenario": {"events": [{"at_tick": 1, "type": "wonder", "severity": 2}]}},
            "$.scenario.events[0].severity",
        ),
        (
            {"scenario": {"events": [{"at_tick": -1, "type": "wonder"}]}},
            "$.scenario.events[0].at_tick",
        ),
        (
            {"scenario": {"events": [{"at_tick": 1, "type": "wonder", "target": "bob"}]}},
            "$.scenario.events[0].target",
        ),
        (
            {"scenario": {"events": [{"at_tick": 1, "type": "wonder", "subtype": True}]}},
            "$.scenario.events[0].subtype",
        ),
        ({"scenario": {"events": [], "name": "n" * 64}}, "$.scenario.name"),
        ({"scenario": {"events": [], "extra": 1}}, "$.scenario"),
        ({"path": ""}, "$.path"),
    ]
    for body, path in bad:
        with pytest.raises(m.MessageError) as info:
            m.structure(body, ScenarioRequest)
        assert info.value.path == path, (body, info.value.message)


def test_load_and_tick_rate_requests() -> None:
    assert m.structure({"path": "a", "seed": 2**64 - 1}, LoadRequest).seed == 2**64 - 1
    assert m.structure({"path": "a"}, LoadRequest).seed is None
    for seed in (-1, 2**64, 1.5, "7", True):
        with pytest.raises(m.MessageError) as info:
            m.structure({"path": "a", "seed": seed}, LoadRequest)
        assert info.value.path == "$.seed"
    with pytest.raises(m.MessageError) as info:
        m.structure({"path": "a\0b"}, LoadRequest)
    assert info.value.path == "$.path"
    assert m.structure({"tick_rate": 2}, TickRateRequest).tick_rate == 2.0
    for rate in (0, -1, 1e9, "fast"):
        with pytest.raises(m.MessageError):
            m.structure({"tick_rate": rate}, TickRateRequest)


def test_shipped_scenarios_fit_the_schema() -> None:
    files = sorted(SHIPPED.glob("*.json"))
    assert {f.stem for f in files} >= {"first_contact", "resource_race", "supernova"}
    for path in files:
        scenario = m.structure(orjson.loads(path.read_bytes()), Scenario)
        assert scenario.events and scenario.relative


def test_every_universe_route_is_documented() -> None:
    doc = openapi_document()
    routes = {(r.method, r.path) for r in ROUTES}
    schemas = doc["components"]["schemas"]
    for method, path, _summary, body in UNIVERSE_ROUTES:
        assert (method, path) in routes
        op = doc["paths"][path][method.lower()]
        if body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{body.__name__}" and body.__name__ in schemas
        if "{" in path:
            assert op["parameters"][0]["name"] == "probe_id"


def test_action_names_include_the_living_universe() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "pipe-protocol.md").read_text()
    table = text.split("### Actions", 1)[1].split("`survey {level}`", 1)[0]
    documented = {
        line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")
    } - {"action", "---"}
    assert documented == set(m.ACTION_NAMES)
    msg = m.parse_agent_message(b'{"action":"vote","proposal":3,"favor":true}')
    assert isinstance(msg, m.Action) and msg.to_sim() == {
        "type": "vote",
        "proposal": 3,
        "favor": True,
    }


# --------------------------------------------------------------------------- through a daemon


async def test_rest_errors_use_the_envelope(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running_daemon(mode="paused", state_dir=str(state)) as d:
        port = d.port

        async def expect(method: str, path: str, body: Any, status: int, code: str) -> Any:
            got, reply = await http(port, method, path, body)
            assert got == status, (path, body, reply)
            assert reply["error"]["code"] == code, reply
            return reply["error"]

        # documented in the OpenAPI document served by the daemon
        _, doc = await http(port, "GET", "/api/openapi.json")
        for _method, path, _summary, _body in UNIVERSE_ROUTES:
            assert path in doc["paths"]

        await expect("POST", "/api/scan/1-9", None, 404, "unknown_probe")
        await expect("POST", "/api/scan/bob", None, 404, "unknown_probe")
        err = await expect("POST", "/api/scan/1-1", {"limit": 0}, 422, "invalid")
        assert err["details"]["path"] == "$.limit"
        await expect("GET", "/api/history/1-9", None, 404, "unknown_probe")
        await expect("GET", "/api/lineage?limit=x", None, 400, "bad_request")

        await expect("POST", "/api/save", None, 400, "bad_request")
        err = await expect("POST", "/api/save", {"path": "/tmp/x.usim"}, 422, "invalid")
        assert err["details"]["path"] == "$.path"
        await expect("POST", "/api/save", {"path": "nodir/x.usim"}, 422, "io_error")
        await expect("POST", "/api/save", {"path": "n" * 300}, 422, "io_error")
        await expect("POST", "/api/load", {"path": "n" * 300}, 404, "not_found")
        saves = state / "saves"
        (saves / "junk.usim").write_bytes(b"UNIVSIM\0 certainly not a save")
        await expect("POST", "/api/load", {"path": "junk.usim"}, 422, "bad_file")
        status, saved = await http(port, "POST", "/api/save", {"path": "ok.usim"})
        assert status == 200 and (saves / "ok.usim").is_file()
        assert saved["path"] == str((saves / "ok.usim").resolve())

        await expect("POST", "/api/scenario", {"path": "no-such-script"}, 404, "not_found")
        await expect("POST", "/api/scenario", {"path": "../../../etc/passwd"}, 404, "not_found")
        (state / "scenarios").mkdir()
        (state / "scenarios" / "broken.json").write_text('{"events": [{"at_tick": 1}]}')
        err = await expect("POST", "/api/scenario", {"path": "broken"}, 422, "bad_file")
        assert "$.events[0].type" in err["message"]
        (state / "scenarios" / "mine.json").write_text(
            '{"name": "mine", "events": [{"at_tick": 1, "type": "wonder"}]}'
        )
        status, body = await http(port, "POST", "/api/scenario", {"path": "mine.json"})
        assert status == 200 and body["scenario"]["name"] == "mine"
        # the sim refuses an event that is not in the future (tick 0 is now)
        past = {"events": [{"at_tick": 0, "type": "wonder"}]}
        err = await expect("POST", "/api/scenario", past, 422, "invalid")
        assert err["details"]["path"] == "$.scenario"
        unknown = {"events": [{"at_tick": 5, "type": "wonder", "target": "1-77"}]}
        await expect("POST", "/api/scenario", unknown, 404, "unknown_probe")
        status, got = await http(port, "GET", "/api/scenario")
        assert got["scenario"]["name"] == "mine"  # refused requests changed nothing
        await expect("POST", "/api/tick-rate", {"tick_rate": "fast"}, 422, "invalid")
        await expect("POST", "/api/tick-rate", {"rate": 5}, 422, "invalid")


# --------------------------------------------------------------------------- the reference's forms


async def test_tick_rate_in_both_spellings() -> None:
    async with running_daemon(mode="paused") as d:
        status, body = await http(d.port, "GET", "/api/tick-rate")
        assert status == 200 and body["ok"] is True and body["tickRate"] == body["tick_rate"]
        status, body = await http(d.port, "POST", "/api/tick-rate", {"tickRate": 20})
        assert status == 200 and body["ok"] is True and body["tickRate"] == 20
        assert body["tick_rate"] == 20 and body["mode"] == "paused" and d.engine.tick_rate == 20
        status, body = await http(d.port, "POST", "/api/tick-rate", {"tick_rate": 5})
        assert status == 200 and body["tickRate"] == 5
        # the reference's refusal: 400 "invalid tickRate" (universed's envelope, ok: false)
        for bad in (-1, 0, "fast", None, True, 1e9, [3]):
            status, body = await http(d.port, "POST", "/api/tick-rate", {"tickRate": bad})
            assert status == 400 and body["ok"] is False, bad
            assert body["error"]["code"] == "bad_request"
            assert body["error"]["message"].startswith("invalid tickRate")
            assert body["error"]["details"]["path"] == "$.tickRate"
        status, body = await http(d.port, "POST", "/api/tick-rate", {"tickRate": 3, "x": 1})
        assert status == 422 and "x" in body["error"]["message"]
        assert d.engine.tick_rate == 5  # nothing refused changed anything


async def test_save_and_load_replies_and_save_dirs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    extra = tmp_path / "extra"
    extra.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    async with running_daemon(mode="paused", state_dir=str(state), save_dirs=[str(extra)]) as d:
        port = d.port
        await http(port, "POST", "/api/tick", {"count": 3})
        status, body = await http(port, "POST", "/api/save", {"path": "compat.db"})
        assert status == 200, body
        assert (body["ok"], body["saved"], body["tick"], body["probes"]) == (
            True,
            "compat.db",
            3,
            1,
        )
        assert body["name"] == "compat.db" and (state / "saves" / "compat.db").is_file()
        await http(port, "POST", "/api/tick", {"count": 2})
        status, body = await http(port, "POST", "/api/load", {"path": "compat.db"})
        assert status == 200, body
        assert (body["loaded"], body["tick"], body["probes"]) == ("compat.db", 3, 1)

        # an absolute path inside a configured save directory
        target = str(extra / "sub" / "..") + "/abs.usim"
        status, body = await http(port, "POST", "/api/save", {"path": target})
        assert status == 200 and body["saved"] == target, body
        assert (extra / "abs.usim").is_file() and body["name"] == "abs.usim"
        status, body = await http(port, "POST", "/api/load", {"path": str(extra / "abs.usim")})
        assert status == 200 and body["loaded"] == str(extra / "abs.usim")
        status, body = await http(port, "POST", "/api/load", {"path": str(extra / "no.usim")})
        assert status == 404 and body["error"]["code"] == "not_found"
        # ...but nothing outside: not elsewhere, not by .., not through a symlink
        os.symlink(outside, extra / "link")
        for path in (
            str(outside / "x.usim"),
            str(extra / ".." / "outside" / "x.usim"),
            str(extra / "link" / "x.usim"),
            str(extra),
            "../escape.usim",
        ):
            for route in ("/api/save", "/api/load"):
                status, body = await http(port, "POST", route, {"path": path})
                assert status == 422 and body["ok"] is False, (route, path, body)
                assert body["error"]["details"]["path"] == "$.path"
                assert str(extra) in body["error"]["message"]
        assert list(outside.iterdir()) == []
    # without save_dirs an absolute path outside the state directory stays refused
    async with running_daemon(mode="paused", state_dir=str(state)) as d:
        status, body = await http(d.port, "POST", "/api/save", {"path": str(extra / "b.usim")})
        assert status == 422 and "save_dirs" not in body["error"]["message"]


async def test_scenario_scan_and_history_shapes() -> None:
    async with running_daemon(mode="paused") as d:
        port = d.port
        scenario = {
            "events": [
                {"at_tick": 100, "type": 2, "subtype": 0, "severity": 0.5},
                {"at_tick": 200, "type": 4, "subtype": 1, "severity": 0.9},
            ]
        }
        status, body = await http(port, "POST", "/api/scenario", scenario)
        assert status == 200 and body["ok"] is True and body["loaded"] == 2, body
        status, body = await http(port, "GET", "/api/scenario")
        assert status == 200 and body["ok"] is True
        assert [
            {k: e[k] for k in ("at_tick", "type", "subtype", "severity", "fired")}
            for e in body["events"]
        ] == [
            {"at_tick": 100, "type": 2, "subtype": 0, "severity": 0.5, "fired": False},
            {"at_tick": 200, "type": 4, "subtype": 1, "severity": 0.9, "fired": False},
        ]
        status, body = await http(port, "GET", "/api/scenario?shape=readable")
        assert "events" not in body  # today's reply
        assert [e["type"] for e in body["scenario"]["events"]] == ["hazard", "crisis"]
        bad = {"events": [{"at_tick": 300, "type": 9}]}
        status, body = await http(port, "POST", "/api/scenario", bad)
        assert status == 422 and body["error"]["details"]["path"] == "$.scenario.events[0].type"
        status, body = await http(port, "POST", "/api/scenario", {"clear": True})
        assert status == 200 and body["loaded"] == 0
        status, body = await http(port, "GET", "/api/scenario")
        assert body["events"] == []

        status, body = await http(port, "POST", "/api/scan/1-1")
        assert status == 200 and body["ok"] is True and body["systems"]
        for system in body["systems"]:
            assert isinstance(system["star_class"], int) and 0 <= system["star_class"] <= 6
            assert isinstance(system["system_id"], str) and len(system["sector"]) == 3
            assert isinstance(system["star_count"], int)
            assert system["estimated_travel_ticks"] > 0
        status, readable = await http(port, "POST", "/api/scan/1-1?shape=readable")
        assert status == 200 and readable["systems"][0]["star_class"] in "OBAFGKM"
        assert readable["systems"][0]["system_id"] == body["systems"][0]["system_id"]
        status, body = await http(port, "POST", "/api/scan/1-1?shape=numbers")
        assert status == 400 and body["error"]["details"]["param"] == "shape"


def test_the_openapi_document_describes_ok_shape_and_the_new_fields() -> None:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["properties"]["ok"] == {"const": False}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            reply = op["responses"]["200"]["content"]["application/json"]["schema"]
            if path == "/api/openapi.json":
                assert "ok" not in reply.get("properties", {})
                continue
            assert reply["properties"]["ok"] == {"const": True} and "ok" in reply["required"]
            shaped = any(p["name"] == "shape" for p in op.get("parameters", ()))
            assert shaped == (
                (method.upper(), path)
                in {
                    ("POST", "/api/scan/{probe_id}"),
                    ("GET", "/api/scenario"),
                    ("GET", "/api/history/{probe_id}"),
                    ("POST", "/api/tick"),  # the observations' shape (docs/agent-protocol.md)
                }
            ), (method, path)
    paths = doc["paths"]
    for path, method, field in (
        ("/api/pause", "post", "state"),
        ("/api/state", "get", "state"),
        ("/api/probes/{probe_id}", "get", "probe"),
        ("/api/save", "post", "saved"),
        ("/api/load", "post", "loaded"),
        ("/api/inject", "post", "queued"),
        ("/api/config", "post", "entries"),
        ("/api/tick-rate", "post", "tickRate"),
        ("/api/metrics", "get", "total_hazards_survived"),
        ("/api/scan/{probe_id}", "post", "systems"),
    ):
        reply = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert field in reply["required"], (path, field)
    inject = schemas["InjectRequest"]["oneOf"]
    assert {"$ref": "#/components/schemas/InjectEvent"} in inject
    assert {"tickRate"} in [set(o["required"]) for o in schemas["TickRateRequest"]["oneOf"]]
