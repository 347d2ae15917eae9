"""The SDK: typed models from real observations, the REST admin client against a daemon."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import trio
from helpers import running_daemon
from trio_websocket import serve_websocket

from universed.client import AdminClient, AgentClient, ApiError, Observation, ProbeRow, action_of


async def test_admin_client_reads_and_changes_the_daemon() -> None:
    async with running_daemon() as daemon, AdminClient(f"http://127.0.0.1:{daemon.port}") as admin:
        status = await admin.status()
        assert status["mode"] == "paused" and status["probes"][0]["id"] == "1-1"
        ticked = await admin.tick(3)
        assert ticked["tick"] == 3
        obs = Observation.from_dict(ticked["observations"][0])
        assert obs.probe_id == "1-1" and obs.tick == 3 and obs.name == "Bob"
        assert obs.last_action is not None and obs.last_action.action == "wait"
        assert set(obs.cargo) >= {"iron", "hydrogen"} and len(obs.tech) == 10
        rows = await admin.probes()
        assert isinstance(rows[0], ProbeRow) and rows[0].id == "1-1" and rows[0].controller
        detail = await admin.probe("1-1")
        system = await admin.system(detail["system"])
        assert system["bodies"]
        injected = await admin.inject({"type": "hazard", "severity": 0.2, "probe_id": "1-1"})
        assert injected["applied"] == 1
        await admin.snapshot("t")
        await admin.tick(2)
        assert (await admin.restore("t"))["tick"] == 3
        assert (await admin.agents())["connected"] == 0
        assert (await admin.state())["tick"] == 3
        with pytest.raises(ApiError) as info:
            await admin.probe("1-999")
        assert (info.value.status, info.value.code) == (404, "unknown_probe")
        with pytest.raises(ApiError) as info:
            await admin.tick(0)
        assert info.value.status == 422 and info.value.details == {"path": "$.count"}


async def test_admin_client_unreachable_is_an_api_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ApiError) as info:
        await AdminClient(f"http://127.0.0.1:{port}", timeout=5).status()
    assert info.value.status == 0 and info.value.code == "unreachable"


def test_admin_client_wants_http_urls() -> None:
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        AdminClient("ws://127.0.0.1:1/ws")


async def test_observation_scan_and_extra_fields() -> None:
    async with running_daemon() as daemon:
        got: list[Observation] = []
        client = AgentClient(f"ws://127.0.0.1:{daemon.port}/ws", probe_id="1-1", max_ticks=2)

        def decide(obs: dict[str, object]) -> str:
            got.append(Observation.from_dict(obs))
            return "scan"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run, decide)
            with trio.fail_after(10):
                while "1-1" not in daemon.engine.window.actions:  # noqa: ASYNC110 (polls state of another process/task)
                    await trio.sleep(0.001)
            await daemon.engine.manual_tick(1)
    assert len(got) == 2
    hits = got[1].scan
    assert hits and hits[0].distance_ly > 0 and not hits[0].explored
    assert got[0].scan == []


def test_observation_rejects_what_is_not_one() -> None:
    with pytest.raises(ValueError, match="not an observation"):
        Observation.from_dict({"probe_id": "1-1"})
    obs = Observation.from_dict(
        {
            "probe_id": "1-1",
            "status": "active",
            "hull": 1.0,
            "energy": 1.0,
            "fuel": 0.0,
            "location": "in_system",
            "mood": "curious",
        }
    )
    assert obs.extra == {"mood": "curious"}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("survey", {"action": "survey"}),
        ({"type": "mine", "resource": "iron"}, {"action": "mine", "resource": "iron"}),
        ({"action": "land", "probe_id": "1-1"}, {"action": "land"}),
        ("teleport", {"action": "wait"}),
        ({"action": 3}, {"action": "wait"}),
        (None, {"action": "wait"}),
        (42, {"action": "wait"}),
    ],
)
def test_action_of(result: object, expected: dict[str, object]) -> None:
    assert action_of(result) == expected


def test_agent_client_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        AgentClient("ws://x/ws")
    with pytest.raises(ValueError):
        AgentClient("ws://x/ws", probe_id="1-1", probe_ids=["1-2"])
    with pytest.raises(ValueError):
        AgentClient("ws://x/ws", probe_ids=["1-1"], lineage=True)
    fleet = AgentClient("ws://x/ws", probe_ids=["1-1", "1-2"])
    assert fleet.register_message() == {
        "type": "register",
        "probe_ids": ["1-1", "1-2"],
        "shape": "readable",
    }
    lineage = AgentClient("ws://x/ws", probe_id="1-1", lineage=True)
    assert lineage.register_message() == {
        "type": "register",
        "probe_id": "1-1",
        "lineage": True,
        "shape": "readable",
    }


async def test_tokens_are_sent_as_bearer_headers() -> None:
    seen: list[bytes] = []

    async def http_server(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        seen.append(data)
        body = b'{"ok": true}'
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await stream.aclose()

    async def ws_server(request: Any) -> None:
        seen.append(dict(request.headers).get(b"authorization", b""))
        ws = await request.accept()
        await ws.send_message('{"type": "registered", "probe_id": "1-1"}')
        await ws.send_message('{"type": "observe", "probe_id": "1-1", "tick": 1}')
        await ws.get_message()
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, http_server, 0)
        port = listeners[0].socket.getsockname()[1]
        admin = AdminClient(f"http://127.0.0.1:{port}", token="s3cret")
        assert await admin.pause() == {"ok": True}
        ws_listener = await nursery.start(serve_websocket, ws_server, "127.0.0.1", 0, None)
        ws_port = ws_listener.port
        client = AgentClient(
            f"ws://127.0.0.1:{ws_port}/ws", probe_id="1-1", token="ag3nt", max_ticks=1
        )
        await client.run(lambda obs: "wait")
        nursery.cancel_scope.cancel()
    assert b"\r\nAuthorization: Bearer s3cret\r\n" in seen[0]
    assert seen[1] == b"Bearer ag3nt"
