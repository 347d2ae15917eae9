"""Security end to end (docs/security.md): tokens, limits, reaping, oversized messages.

Real daemon, real sim, 127.0.0.1 ephemeral ports; raw WebSocket clients (devtools.soak) so a
test can send what a well-behaved library never would.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from helpers import http, running_daemon

from devtools.soak import HandshakeRefused, RawWebSocket, client_frame
from universed.agents.client import http_exchange
from universed.cli import main as cli_main
from universed.core.config import ConfigError, load_config
from universed.server.auth import ADMIN_TOKEN_FILE
from universed.server.wstransport import OP_CLOSE

pytestmark = pytest.mark.e2e

ADMIN = "e2e-admin-token-0123456789"
READ = "e2e-read-token-0123456789"
ALICE = "e2e-alice-token-0123456789"
FAMILY = "e2e-family-token-0123456789"
SECURE: dict[str, Any] = {
    "admin_token": ADMIN,
    "auth_admin": "token",
    "read_token": READ,
    "auth_agents": "token",
    "agent_tokens": {
        "alice": {"token": ALICE, "probes": ["1-1"]},
        "family": {"token": FAMILY, "lineages": ["1-2"]},
    },
}


async def request(
    port: int, method: str, path: str, token: str | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; (status, lower-case headers, JSON body)."""
    with trio.fail_after(10):
        status, headers, content = await http_exchange(
            "127.0.0.1", port, method, path, body, token=token
        )
    return status, headers, orjson.loads(content) if content else None


async def recv_json(ws: RawWebSocket) -> dict[str, Any] | None:
    with trio.fail_after(5):
        return await ws.recv_json()


async def recv_type(ws: RawWebSocket, kind: str) -> dict[str, Any]:
    with trio.fail_after(5):
        while True:
            msg = await ws.recv_json()
            assert msg is not None, f"closed while waiting for {kind} ({ws.close_code})"
            if msg.get("type") == kind:
                return msg


async def wait_closed(ws: RawWebSocket) -> list[dict[str, Any]]:
    """Read until the server closes; the text messages received on the way."""
    seen = []
    try:
        with trio.fail_after(5):
            while (got := await ws.recv()) is not None:
                if got[0] == OP_CLOSE:
                    break
                seen.append(orjson.loads(got[1]))
    finally:
        await ws.abort()
    return seen


# ----------------------------------------------------------------------------- admin token


async def test_mutating_rest_needs_the_admin_token() -> None:
    async with running_daemon(**SECURE) as d:
        status, headers, body = await request(d.port, "POST", "/api/pause")
        assert status == 401 and body["error"]["code"] == "unauthorized"
        assert headers["www-authenticate"].startswith("Bearer")
        status, _, body = await request(d.port, "POST", "/api/pause", "wrong-token-xxxxxxxx")
        assert (status, body["error"]["code"]) == (401, "invalid_token")
        status, _, body = await request(d.port, "POST", "/api/pause", READ)
        assert (status, body["error"]["code"]) == (403, "forbidden")
        status, _, body = await request(d.port, "POST", "/api/pause", ALICE)
        assert status == 403
        status, _, body = await request(d.port, "POST", "/api/pause", ADMIN)
        assert status == 200 and body["mode"] == "paused"
        status, _, body = await request(d.port, "POST", f"/api/tick?token={ADMIN}")
        assert status == 200 and body["tick"] == 1
        # reads are open by default
        status, _, body = await request(d.port, "GET", "/api/status?limit=0")
        assert status == 200 and body["tick"] == 1


async def test_reads_and_dashboard_can_be_token_protected() -> None:
    async with running_daemon(**SECURE, auth_read="token") as d:
        for path in ("/api/status", "/api/openapi.json", "/"):
            status, _, body = await request(d.port, "GET", path)
            assert status == 401 and body["error"]["code"] == "unauthorized", path
        status, _, _ = await request(d.port, "GET", "/api/status?limit=0", READ)
        assert status == 200
        status, _, _ = await request(d.port, "GET", "/api/status?limit=0", ADMIN)
        assert status == 200
        status, _, _ = await request(d.port, "GET", "/api/status?limit=0", ALICE)
        assert status == 403
        with pytest.raises(HandshakeRefused) as refused:
            await RawWebSocket.connect(d.port, "/ws/dashboard")
        assert refused.value.status == 401
        assert orjson.loads(refused.value.body)["error"]["code"] == "unauthorized"
        ws = await RawWebSocket.connect(d.port, f"/ws/dashboard?token={READ}")
        await request(d.port, "POST", "/api/tick", ADMIN)
        assert (await recv_type(ws, "tick"))["tick"] == 1
        await ws.close()


async def test_generated_admin_token_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running_daemon(state_dir=str(state), auth_admin="token") as d:
        path = state / ADMIN_TOKEN_FILE
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        token = path.read_text().strip()
        assert len(token) >= 32
        assert (await request(d.port, "POST", "/api/pause"))[0] == 401
        assert (await request(d.port, "POST", "/api/pause", token))[0] == 200
    # the next start reads the same token back
    async with running_daemon(state_dir=str(state), auth_admin="token") as d:
        assert d.admin_token.source == "file" and d.admin_token.value == token


def test_non_loopback_without_a_token_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on '0.0.0.0'"):
        load_config({"host": "0.0.0.0"}, environ={})
    with pytest.raises(ConfigError, match="only allowed on a loopback"):
        load_config({"host": "0.0.0.0", "admin_token": ADMIN, "auth_admin": "open"}, environ={})
    assert load_config({"host": "0.0.0.0"}, environ={"UNIVERSED_ADMIN_TOKEN": ADMIN}).host
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refusing to listen on '0.0.0.0'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- agent tokens


async def test_agent_tokens_grant_named_probes_and_lineages() -> None:
    async with running_daemon(**SECURE, sim_args=("--populate", "3")) as d:
        # no token: the upgrade succeeds, registering does not
        anon = await RawWebSocket.connect(d.port, "/ws")
        await anon.send(b'{"type":"register","probe_id":"1-1"}')
        err = await recv_json(anon)
        assert err is not None and (err["type"], err["code"]) == ("error", "unauthorized")
        # a bad token is refused at the upgrade
        with pytest.raises(HandshakeRefused) as refused:
            await RawWebSocket.connect(d.port, "/ws?token=not-a-valid-token-at-all")
        assert refused.value.status == 401
        # the token in the register message works too
        await anon.send(orjson.dumps({"type": "register", "probe_id": "1-1", "token": ALICE}))
        assert await recv_json(anon) == {
            "type": "registered",
            "probe_id": "1-1",
            "shape": "reference",
        }
        # a token with a bad register: the register's own error, not one about the token
        other = await RawWebSocket.connect(d.port, "/ws")
        await other.send(orjson.dumps({"type": "register", "probe_id": "x", "token": ALICE}))
        err = await recv_json(other)
        assert err is not None and (err["code"], err["path"]) == ("invalid", "$.probe_id")
        await other.close()
        # another agent's probe: an error frame, and the connection stays usable
        alice = await RawWebSocket.connect(
            d.port, "/ws", headers={"Authorization": f"Bearer {ALICE}"}
        )
        await alice.send(b'{"type":"register","probe_id":"1-2"}')
        err = await recv_json(alice)
        assert err is not None and err["code"] == "forbidden" and err["path"] == "$.probe_id"
        fleet = await RawWebSocket.connect(d.port, f"/ws?token={FAMILY}")
        await fleet.send(b'{"type":"register","probe_ids":["1-2","1-1"]}')
        err = await recv_json(fleet)
        assert err is not None and err["code"] == "forbidden" and err["path"] == "$.probe_ids[1]"
        await fleet.send(b'{"type":"register","probe_id":"1-2","lineage":true}')
        reg = await recv_json(fleet)
        assert reg is not None and reg["type"] == "registered" and reg["probe_ids"] == ["1-2"]
        # 1-1 is still anon's (now alice-granted) connection's, not stolen
        _, _, agents = await request(d.port, "GET", "/api/agents")
        assert agents["assignments"]["1-1"].startswith("remote:")
        assert agents["assignments"]["1-2"] != agents["assignments"]["1-1"]
        # the admin token may register anything (replacing the holder)
        admin = await RawWebSocket.connect(d.port, f"/ws?token={ADMIN}")
        await admin.send(b'{"type":"register","probe_id":"1-3"}')
        assert await recv_json(admin) == {
            "type": "registered",
            "probe_id": "1-3",
            "shape": "reference",
        }
        for ws in (anon, alice, fleet, admin):
            await ws.close()


async def test_agents_open_on_loopback_by_default() -> None:
    async with running_daemon() as d:
        ws = await RawWebSocket.connect(d.port, "/ws")
        await ws.send(b'{"type":"register","probe_id":"1-1"}')
        assert await recv_json(ws) == {
            "type": "registered",
            "probe_id": "1-1",
            "shape": "reference",
        }
        await ws.close()


# ----------------------------------------------------------------------------- limits


async def test_oversized_message_closes_1009() -> None:
    async with running_daemon(max_message_bytes=1024) as d:
        ws = await RawWebSocket.connect(d.port, "/ws")
        await ws.send(b"x" * 1025)
        await wait_closed(ws)
        assert ws.close_code == 1009
        # a huge declared length is refused before any payload arrives
        ws = await RawWebSocket.connect(d.port, "/ws")
        await ws.send_raw(struct.pack("!BBQ", 0x81, 0xFF, 2**62) + b"mask")
        await wait_closed(ws)
        assert ws.close_code == 1009
        # too many fragments of one message
        ws = await RawWebSocket.connect(d.port, "/ws")
        data = client_frame(1, b"", fin=False) + client_frame(0, b"", fin=False) * 1100
        await ws.send_raw(data)
        await wait_closed(ws)
        assert ws.close_code == 1009
        assert (await http(d.port, "GET", "/api/status?limit=0"))[0] == 200


async def test_message_rate_limit_error_frame_then_close() -> None:
    async with running_daemon(ws_messages_per_second=5.0, ws_message_burst=10) as d:
        ws = await RawWebSocket.connect(d.port, "/ws")
        await ws.send_raw(client_frame(1, b'{"action":"wait"}') * 30)
        seen = await wait_closed(ws)
        assert ws.close_code == 1008
        assert seen[-1]["code"] == "rate_limited"
        assert sum(1 for m in seen if m.get("code") == "not_registered") == 10
        assert d.gateway.rate_limited == 1
        # pings count too
        ws = await RawWebSocket.connect(d.port, "/ws")
        await ws.send_raw(client_frame(9, b"p") * 30)
        await wait_closed(ws)
        assert ws.close_code == 1008


async def test_rest_rate_limit_429_with_retry_after() -> None:
    async with running_daemon(rest_requests_per_second=1.0, rest_request_burst=3) as d:
        statuses = [(await request(d.port, "GET", "/api/status?limit=0"))[0] for _ in range(3)]
        assert statuses == [200, 200, 200]
        status, headers, body = await request(d.port, "GET", "/api/status?limit=0")
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert int(headers["retry-after"]) >= 1
        assert body["error"]["details"]["retry_after"] == int(headers["retry-after"])


async def test_rest_body_size_limit() -> None:
    async with running_daemon(max_rest_body_bytes=1000) as d:
        status, _, body = await request(d.port, "POST", "/api/config", body=b" " * 2000)
        assert status == 413 and "error" in body


async def test_connection_limits_per_address_and_total() -> None:
    async with running_daemon(max_connections_per_address=3) as d:
        held = [await RawWebSocket.connect(d.port, "/ws") for _ in range(3)]
        with pytest.raises(HandshakeRefused) as refused:
            await RawWebSocket.connect(d.port, "/ws")
        assert refused.value.status == 429
        assert orjson.loads(refused.value.body)["error"]["code"] == "too_many_connections"
        assert (await request(d.port, "GET", "/api/status"))[0] == 429
        await held.pop().close()
        with trio.fail_after(5):
            while d.gateway.connections.total >= 3:  # noqa: ASYNC110 (polling a counter)
                await trio.sleep(0.01)
        assert (await request(d.port, "GET", "/api/status?limit=0"))[0] == 200
        for ws in held:
            await ws.close()
    async with running_daemon(max_connections=2) as d:
        held = [await RawWebSocket.connect(d.port, "/ws") for _ in range(2)]
        with pytest.raises(HandshakeRefused) as refused:
            await RawWebSocket.connect(d.port, "/ws/dashboard")
        assert refused.value.status == 503
        for ws in held:
            await ws.close()


async def test_heartbeat_reaps_a_half_open_connection() -> None:
    async with running_daemon(
        mode="lockstep", ping_interval_ms=200, ping_timeout_ms=200, agent_timeout_ms=100
    ) as d:
        # answers pings (RawWebSocket.recv does) but says nothing: stays
        alive = await RawWebSocket.connect(d.port, "/ws/dashboard")
        # never reads, so never answers a ping: the peer of a half-open connection
        silent = await RawWebSocket.connect(d.port, "/ws", auto_pong=False)
        await silent.send(b'{"type":"register","probe_id":"1-1"}')
        with trio.fail_after(10):
            while d.gateway.reaped < 1:
                with trio.move_on_after(0.05):
                    await alive.recv()
        assert d.gateway.reaped == 1
        with trio.fail_after(5):
            while d.engine.agents_connected:  # noqa: ASYNC110 (polling a counter)
                await trio.sleep(0.01)
        # the reaped agent's probe is released; the dashboard connection lives on
        _, _, agents = await request(d.port, "GET", "/api/agents")
        assert "1-1" not in agents["assignments"]
        assert d.gateway.dashboards == 1
        tick = (await recv_type(alive, "tick"))["tick"]
        assert (await recv_type(alive, "tick"))["tick"] > tick
        await alive.close()
        await silent.abort()


async def test_junk_pipelined_with_the_upgrade_keeps_the_daemon_up() -> None:
    async with running_daemon() as d:
        for junk in (b"\x00\x00garbage", client_frame(3, b"x"), client_frame(1, b"{", mask=False)):
            stream = await trio.open_tcp_stream("127.0.0.1", d.port)
            await stream.send_all(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                + junk
            )
            with trio.fail_after(5):
                while await stream.receive_some(65536):
                    pass
            await stream.aclose()
        assert (await http(d.port, "GET", "/api/status?limit=0"))[0] == 200
