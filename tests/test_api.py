"""REST specifics: the OpenAPI document matches the registered routes."""

from __future__ import annotations

from typing import Any

import orjson
import trio
from helpers import QUIET, agent, http, register, running_daemon

from universed.server.rest.app import ROUTES


async def test_openapi_matches_routes() -> None:
    async with running_daemon(mode="paused") as d:
        status, doc = await http(d.port, "GET", "/api/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.1")
        documented = {
            (method.upper(), path) for path, ops in doc["paths"].items() for method in ops
        }
        registered = set()
        for rule in d.app.url_map.iter_rules():
            if not rule.rule.startswith("/api/"):
                continue
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in rule.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    registered.add((method, path))
        assert documented == registered
        assert {(r.method, r.path) for r in ROUTES} == registered
        for path, ops in doc["paths"].items():
            for op in ops.values():
                if "requestBody" in op:
                    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.split("/")[-1] in doc["components"]["schemas"], path
        # every documented GET without path parameters answers 200 with JSON
        for method, path in sorted(documented):
            if method == "GET" and "{" not in path:
                status, body = await http(d.port, method, path)
                assert status == 200 and isinstance(body, dict), path


async def test_pause_resume_mode_and_tick_count() -> None:
    async with running_daemon(mode="paused") as d:
        status, body = await http(d.port, "POST", "/api/tick", {"count": 3})
        assert status == 200 and body["tick"] == 3 and len(body["observations"]) == 1
        status, body = await http(d.port, "POST", "/api/resume")
        assert body["mode"] == "realtime"
        status, body = await http(d.port, "POST", "/api/pause")
        tick = d.engine.tick
        state = {"running": True, "paused": True, "tick": tick, "agents": 0}
        assert body == {"ok": True, "state": state, "mode": "paused", "tick": tick}
        status, body = await http(d.port, "POST", "/api/mode", {"mode": "lockstep"})
        assert status == 200 and body["mode"] == "lockstep"
        status, body = await http(d.port, "POST", "/api/pause")
        status, body = await http(d.port, "POST", "/api/resume")
        assert body["mode"] == "lockstep"
        status, _page = await http(d.port, "GET", "/")
        assert status == 200


# ------------------------------------------------------------------ the reference's reply shapes


async def test_every_reply_has_ok_and_errors_keep_the_envelope() -> None:
    async with running_daemon(mode="paused") as d:
        port = d.port
        for path in (
            "/api/status",
            "/api/metrics",
            "/api/probes",
            "/api/probes/1-1",
            "/api/agents",
            "/api/state",
            "/api/config",
            "/api/snapshots",
            "/api/tick-rate",
            "/api/scenario",
            "/api/lineage",
            "/api/history/1-1",
            "/api/policies",
            "/api/events",
        ):
            status, body = await http(port, "GET", path)
            assert status == 200 and next(iter(body)) == "ok" and body["ok"] is True, path
        # the OpenAPI document is a standard document: no "ok" at its root
        _, doc = await http(port, "GET", "/api/openapi.json")
        assert "ok" not in doc
        status, body = await http(port, "POST", "/api/tick")
        assert status == 200 and body["ok"] is True

        async def refused(method: str, path: str, want: int, code: str, **kw: Any) -> None:
            status, body = await http(port, method, path, **kw)
            assert status == want, (path, body)
            assert body["ok"] is False and body["error"]["code"] == code, body
            assert isinstance(body["error"]["message"], str)

        await refused("GET", "/api/probes/9-9", 404, "unknown_probe")
        await refused("GET", "/api/nowhere", 404, "not_found")
        await refused("DELETE", "/api/status", 405, "method_not_allowed")
        await refused("POST", "/api/inject", 400, "bad_json", raw=b"{nope")
        await refused("POST", "/api/inject", 422, "invalid", body={"event": {"type": "party"}})
        await refused("POST", "/api/restore", 404, "unknown_tag", body={"tag": "nope"})
        await refused("POST", "/api/config", 422, "bad_config", body={"warp_factor": 9})
        await http(port, "POST", "/api/resume")
        await refused("POST", "/api/tick", 409, "conflict")
        await http(port, "POST", "/api/pause")
        await refused("GET", "/api/history/1-1?shape=fancy", 400, "bad_request")

        # a bug in a handler is a 500 in the same envelope (Quart logs the traceback)
        def broken() -> Any:
            raise RuntimeError("boom")

        d.engine.snapshots = broken  # type: ignore[method-assign]
        await refused("GET", "/api/snapshots", 500, "internal_error")


async def test_refusals_before_the_handlers_carry_ok_false() -> None:
    admin = "rest-helper-admin-token-0123456789"
    async with running_daemon(mode="paused", auth_admin="token", admin_token=admin) as d:
        status, body = await http(d.port, "POST", "/api/pause")
        assert status == 401
        assert body["ok"] is False and body["error"]["code"] == "unauthorized"
        status, body = await http(d.port, "POST", "/api/pause?token=wrong-token-xxxxxxxxxx")
        assert status == 401 and body["ok"] is False
        status, body = await http(d.port, "POST", f"/api/pause?token={admin}")
        assert status == 200 and body["ok"] is True
        # the front door's own refusals (here a bad WebSocket handshake) use the same envelope
        stream = await trio.open_tcp_stream("127.0.0.1", d.port)
        async with stream:
            await stream.send_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
        head, _, content = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")
        assert orjson.loads(content) == {
            "ok": False,
            "error": {"code": "bad_request", "message": "bad WebSocket handshake"},
        }
    async with running_daemon(
        mode="paused", rest_requests_per_second=0.001, rest_request_burst=1
    ) as d:
        await http(d.port, "GET", "/api/status?limit=0")
        status, body = await http(d.port, "GET", "/api/status?limit=0")
        assert status == 429
        assert body["ok"] is False and body["error"]["code"] == "rate_limited"


async def test_pause_resume_and_state_carry_the_reference_state() -> None:
    async with running_daemon(mode="paused") as d:
        await http(d.port, "POST", "/api/tick", {"count": 2})
        _, paused = await http(d.port, "POST", "/api/pause")
        assert paused["state"] == {"running": True, "paused": True, "tick": 2, "agents": 0}
        _, state = await http(d.port, "GET", "/api/state")
        assert state["state"] == {"running": True, "paused": True, "tick": 2, "agents": 0}
        assert state["hash"] and state["mode"] == "paused"  # universed's fields stay
        async with agent(d.port) as ws:
            await register(ws)
            _, state = await http(d.port, "GET", "/api/state")
            assert state["state"]["agents"] == 1
            _, resumed = await http(d.port, "POST", "/api/resume")
            assert resumed["state"]["paused"] is False and resumed["state"]["running"] is True
            assert resumed["mode"] == "realtime"
            _, paused = await http(d.port, "POST", "/api/pause")
            assert paused["state"]["paused"] is True


async def test_probe_metrics_config_and_inject_in_the_reference_forms() -> None:
    async with running_daemon(mode="paused", sim_config=QUIET) as d:
        port = d.port
        _, one = await http(port, "GET", "/api/probes/1-1")
        _, status = await http(port, "GET", "/api/status")
        assert one["probe"] == status["probes"][0]
        assert set(one["probe"]) >= {"id", "name", "status", "location", "generation"}
        assert one["probe_id"] == "1-1" and "cargo" in one  # the full detail stays beside it
        _, readable = await http(port, "GET", "/api/probes/1-1?shape=readable")
        assert readable["system_info"] == one["system_info"]

        _, metrics = await http(port, "GET", "/api/metrics")
        for key in ("probes_spawned", "avg_tech", "avg_trust", "systems_explored", "tick"):
            assert key in metrics, key
        assert metrics["total_discoveries"] == metrics["discoveries"] == 0
        assert metrics["total_hazards_survived"] == metrics["hazards_survived"] == 0

        # config values may be numeric strings; "entries" counts the keys set
        status_code, body = await http(port, "POST", "/api/config", {"event_freq_discovery": "0.5"})
        assert status_code == 200 and body["entries"] == 1
        assert body["config"]["event_freq_discovery"] == 0.5
        status_code, body = await http(
            port, "POST", "/api/config", {"data": {"mining_rate_scale": 2, "energy_scale": "1.5"}}
        )
        assert status_code == 200 and body["entries"] == 2
        status_code, body = await http(port, "POST", "/api/config", {"event_freq_discovery": "x"})
        assert status_code == 422 and body["ok"] is False
        status_code, body = await http(port, "POST", "/api/config", {"event_freq_discovery": [1]})
        assert status_code == 422 and body["error"]["details"]["path"] == "$.event_freq_discovery"
        await http(port, "POST", "/api/config", {"event_freq_discovery": 0})

        # the event as the body (the reference's clients), a number for its type
        status_code, body = await http(
            port, "POST", "/api/inject", {"type": "hazard", "subtype": 0, "severity": 0.9}
        )
        assert status_code == 200 and body["queued"] == 1 and body["applied"] == 1
        status_code, body = await http(
            port, "POST", "/api/inject", {"type": 2, "subtype": 1, "severity": 0.1}
        )
        assert status_code == 200 and body["queued"] == 1
        # ... or under "event" (the server plan's form), probe_id beside it
        status_code, body = await http(
            port, "POST", "/api/inject", {"event": {"type": 0, "subtype": 0}, "probe_id": "1-1"}
        )
        assert status_code == 200 and body["queued"] == 1
        _, tick = await http(port, "POST", "/api/tick")
        assert tick["observations"][0]["hull"] < 1
        _, history = await http(port, "GET", "/api/history/1-1?shape=readable")
        assert [e["type"] for e in history["events"]][-3:] == ["hazard", "hazard", "discovery"]
        _, history = await http(port, "GET", "/api/history/1-1")
        assert [(e["type"], e["subtype"]) for e in history["events"]][-3:] == [
            (2, 0),
            (2, 1),
            (0, 0),
        ]
        for event in history["events"]:
            assert set(event) >= {"type", "subtype", "tick", "severity", "description"}
        # refused: clear 422s with the JSON path, whichever form
        for bad, path in (
            ({"type": 7}, "$.type"),
            ({"type": True}, "$.type"),
            ({"event": {"type": -1}}, "$.event.type"),
            ({"type": "hazard", "severity": 2}, "$.severity"),
            ({"type": 2, "bogus": 1}, "$"),
        ):
            status_code, body = await http(port, "POST", "/api/inject", bad)
            assert status_code == 422 and body["ok"] is False, bad
            assert body["error"]["details"]["path"] == path, (bad, body)
            if bad.get("type") == 7:
                assert "0 discovery, 1 anomaly, 2 hazard" in body["error"]["message"]
