"""REST specifics: the OpenAPI document matches the registered routes."""

from __future__ import annotations

from helpers import http, running_daemon

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
        assert body == {"mode": "paused", "tick": d.engine.tick}
        status, body = await http(d.port, "POST", "/api/mode", {"mode": "lockstep"})
        assert status == 200 and body["mode"] == "lockstep"
        status, body = await http(d.port, "POST", "/api/pause")
        status, body = await http(d.port, "POST", "/api/resume")
        assert body["mode"] == "lockstep"
        status, _page = await http(d.port, "GET", "/")
        assert status == 200
