"""``universed mcp`` driven by the MCP SDK's own client, over stdio and over HTTP (/mcp), against
a real daemon (issue 16). The daemon runs in realtime at 20 ticks/s: the MCP agent answers every
tick at once, so the universe never waits for the model."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
from helpers import free_port, running_daemon
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from universed.agents.client import http_exchange
from universed.core.messages import ACTION_NAMES
from universed.core.rules import ACTIONS, check_action, rules_doc

pytestmark = pytest.mark.e2e

FAST = {"mode": "realtime", "tick_rate": 20.0, "sim_args": ("--populate", "2")}
ALICE = "mcp-alice-token-0123456789"
TOKENS: dict[str, Any] = {
    "auth_agents": "token",
    "agent_tokens": {"alice": {"token": ALICE, "probes": ["1-1"]}},
}


@asynccontextmanager
async def stdio_session(port: int, *args: str) -> AsyncIterator[ClientSession]:
    exe = Path(sys.executable).parent / "universed"
    params = StdioServerParameters(
        command=str(exe),
        args=["mcp", "--url", f"ws://127.0.0.1:{port}/ws", *args],
        env={**os.environ, "UNIVERSED_TOKEN": ""},
    )
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 (opening /dev/null does not block)
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as s:
            with trio.fail_after(30):
                await s.initialize()
            yield s


@asynccontextmanager
async def http_session(port: int, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=client) as (r, w),
        ClientSession(r, w) as s,
    ):
        with trio.fail_after(30):
            await s.initialize()
        yield s


async def call(s: ClientSession, name: str, **args: Any) -> dict[str, Any]:
    with trio.fail_after(30):
        res = await s.call_tool(name, args)
    assert not res.is_error, res.content
    assert res.structured_content is not None
    return dict(res.structured_content)


async def call_error(s: ClientSession, name: str, **args: Any) -> str:
    with trio.fail_after(30):
        res = await s.call_tool(name, args)
    assert res.is_error, res.structured_content
    text = res.content[0]
    return str(getattr(text, "text", text))


async def until_connected(s: ClientSession, limit: float = 15) -> dict[str, Any]:
    with trio.fail_after(limit):
        while True:
            status = await call(s, "list_probes")
            connected = status["connection"]["state"] == "connected"
            if connected and status["probes"] and all(p["status"] for p in status["probes"]):
                return status
            await trio.sleep(0.05)


def test_the_action_catalog_is_the_engines() -> None:
    assert set(ACTIONS) == set(ACTION_NAMES)
    assert check_action({"action": "mine", "resource": "iron"}) == {
        "action": "mine",
        "resource": "iron",
    }
    assert check_action({"action": "send_message", "content": "hi"})["action"] == "send_message"
    for bad, path in [
        ({"action": "mine"}, "$.resource"),
        ({"action": "mine", "resource": "gold"}, "$.resource"),
        ({"action": "send_message", "content": "x" * 200}, "$.content"),
        ({"action": "trade", "target": "1-2", "resource": "iron", "amount": -1}, "$.amount"),
        ({"action": "teleport"}, "$.action"),
    ]:
        with pytest.raises(ValueError) as info:
            check_action(bad)
        assert getattr(info.value, "path", None) == path
    assert "## Actions" in rules_doc("universe")


async def test_stdio_tools_observe_act_wait_messages_and_resources() -> None:
    async with running_daemon(**FAST) as d, stdio_session(d.port, "--probe", "1-1") as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert {
            "universe_status", "list_probes", "claim_probes", "observe", "act", "wait_ticks",
            "read_messages", "send_message", "probe_history", "scan",
        } <= set(tools)  # fmt: skip
        schema = tools["act"].input_schema
        assert set(schema["required"]) == {"probe_id", "action"}
        assert set(schema["properties"]["action"]["enum"]) == set(ACTION_NAMES)
        await until_connected(s)

        status = await call(s, "universe_status")
        assert status["mode"] == "realtime" and status["connection"]["probes"] == ["1-1"]
        summary = await call(s, "observe", probe_id="1-1")
        full = await call(s, "observe", probe_id="1-1", full=True)
        assert summary["name"] == "Bob" and summary["bodies"] and "personality" not in summary
        assert "personality" in full and len(json.dumps(summary)) < len(json.dumps(full)) / 2

        # validated before sending: a tool error, nothing sent
        assert "resource" in await call_error(
            s, "act", probe_id="1-1", action="mine", params={"resource": "gold"}
        )
        assert "not one of mine" in await call_error(s, "observe", probe_id="1-2")
        # the engine's own rejection, reported with its reason
        rejected = await call(s, "act", probe_id="1-1", action="mine", params={"resource": "iron"})
        assert rejected["applied"] and rejected["ok"] is False
        assert rejected["reason"] == "no current body (navigate_to_body first)"
        # act and see the probe change: a standing survey raises the system's survey level
        before = (await call(s, "observe", probe_id="1-1"))["system_survey"]
        done = await call(s, "act", probe_id="1-1", action="survey", standing=True)
        assert done["ok"] is True and done["standing"] is True
        report = await call(s, "wait_ticks", ticks=4)
        assert report["to_tick"] >= report["from_tick"] + 4
        ticks = report["probes"]["1-1"]["ticks"]
        assert ticks and all(t["action"] == "survey" and t["ok"] for t in ticks)
        assert (await call(s, "observe", probe_id="1-1"))["system_survey"] > before
        history = await call(s, "probe_history", probe_id="1-1", limit=5)
        assert history["ticks"] and "ledger" in history
        assert any(e.get("type") == "rejected" for e in history["ledger"])

        scan = await call(s, "scan", probe_id="1-1")
        assert scan["ok"] and scan["systems"] and "distance_ly" in scan["systems"][0]

        # messages between two probes (both in the home system)
        claimed = await call(s, "claim_probes", probe_ids=["1-2"])
        assert claimed["probes"] == ["1-1", "1-2"]
        sent = await call(s, "send_message", probe_id="1-2", target="1-1", content="hello, Bob")
        assert sent["ok"] is True, sent
        with trio.fail_after(15):
            while True:
                inbox = (await call(s, "read_messages", probe_id="1-1"))["messages"]["1-1"]
                if inbox:
                    break
                await call(s, "wait_ticks", ticks=1)
        assert inbox[0]["from"] == "1-2" and inbox[0]["content"] == "hello, Bob"

        # resources: the rules and action reference the daemon ships; the live observation
        rules = (await s.read_resource("universed://rules")).contents[0]
        assert "# The universe" in getattr(rules, "text", "")
        actions = json.loads((await s.read_resource("universed://actions")).contents[0].text)
        assert {a["action"] for a in actions["actions"]} == set(ACTION_NAMES)
        assert "Rejection reasons" in actions["engine_reference"]
        obs = (await s.read_resource("universed://probes/1-1/observation")).contents[0]
        assert json.loads(obs.text)["probe_id"] == "1-1"
        prompt = await s.get_prompt("play_probe", {"probe_id": "1-2"})
        text = prompt.messages[0].content.text
        assert "probe 1-2" in text and "replication_cost" in text and "send_message" in text


async def test_a_daemon_that_goes_away_and_comes_back() -> None:
    port = free_port()
    async with trio.open_nursery() as nursery:
        stop = trio.Event()

        async def daemon_until(event: trio.Event, task_status: Any) -> None:
            async with running_daemon(port=port, **FAST):
                task_status.started()
                await event.wait()

        await nursery.start(daemon_until, stop)
        async with stdio_session(port, "--probe", "1-1") as s:
            await until_connected(s)
            stop.set()
            with trio.fail_after(15):
                while (await call(s, "universe_status"))["connection"]["state"] == "connected":  # noqa: ASYNC110
                    await trio.sleep(0.05)
            status = await call(s, "universe_status")
            assert "status_error" in status and "error" in status["connection"]
            assert "not connected" in await call_error(s, "act", probe_id="1-1", action="survey")
            # the last observation stays readable, marked stale
            assert "stale" in await call(s, "observe", probe_id="1-1")

            again = trio.Event()
            await nursery.start(daemon_until, again)
            await until_connected(s, limit=20)
            done = await call(s, "act", probe_id="1-1", action="survey")
            assert done["ok"] is True
            again.set()


# the SDK's HTTP client (httpx2) leaves a response stream to the garbage collector when a session
# ends; nothing of ours
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object:pytest.PytestUnraisableExceptionWarning"
)
async def test_http_mcp_behind_agent_tokens() -> None:
    async with running_daemon(**FAST, **TOKENS) as d:
        # a wrong token and no token: 401 before the MCP app
        for token in ("not-a-valid-token-at-all", None):
            status, _, body = await http_exchange(
                "127.0.0.1", d.port, "POST", "/mcp", b"{}", token=token
            )
            assert status == 401, body
        with pytest.raises(BaseException):  # noqa: B017 (the SDK raises an exception group)
            async with http_session(d.port, "wrong-token-0123456789"):
                pass

        async with http_session(d.port, ALICE) as s:
            tools = {t.name for t in (await s.list_tools()).tools}
            assert "act" in tools and "wait_ticks" in tools
            claimed = await call(s, "claim_probes", probe_ids=["1-1"])
            assert claimed["probes"] == ["1-1"]
            obs = await call(s, "observe", probe_id="1-1")
            assert obs["name"] == "Bob"
            done = await call(s, "act", probe_id="1-1", action="survey")
            assert done["ok"] is True
            # the token's grant holds: 1-2 is not alice's
            assert "forbidden" in await call_error(s, "claim_probes", probe_ids=["1-2"])
            report = await call(s, "wait_ticks", ticks=2)
            assert report["probes"]["1-1"]["ticks"]


async def test_stdio_with_a_wrong_token_says_so() -> None:
    async with (
        running_daemon(**FAST, **TOKENS) as d,
        stdio_session(d.port, "--token", "wrong-token-0123456789", "--probe", "1-1") as s,
    ):
        with trio.fail_after(15):
            while (await call(s, "universe_status"))["connection"]["state"] != "refused":  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert "refused the token (401)" in await call_error(
            s, "act", probe_id="1-1", action="wait"
        )
