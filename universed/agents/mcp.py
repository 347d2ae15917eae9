"""``universed mcp``: a Model Context Protocol server that lets a language model play probes.

Built on the official ``mcp`` SDK (``mcp.server.mcpserver.MCPServer``, on anyio, so on trio). It
acts as a remote agent (`mcpagent.McpAgent`: one agent WebSocket, readable shape, every tick
answered at once) for the probes it is given (``--probe``) or claims (the ``claim_probes`` tool).
The same server is mounted by the daemon at ``/mcp`` (streamable HTTP, server/mcphttp.py), where
each agent token gets its own agent. docs/llm-agents.md has the tools, resources and token model.

    universed mcp --url ws://127.0.0.1:8000/ws --token $AGENT_TOKEN --probe 1-1

Tools return structured results (JSON objects); a call that cannot be done (an invalid action,
not my probe, not connected) is a tool error whose text says why. A *rejected* action is not an
error: it is a game outcome, reported with the engine's own reason.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import orjson
import trio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from .. import __version__
from ..core.messages import MessageError
from ..core.rules import ACTIONS, action_reference, doc_section, rules_doc
from .client import AdminClient, ApiError
from .mcpagent import AgentUnavailable, McpAgent, summarize

__all__ = ["AgentResolver", "build_server", "main", "rest_base", "run_stdio"]

log = logging.getLogger(__name__)

#: how the tools find the agent of the calling client: stdio has one; HTTP one per token
AgentResolver = Callable[[Context], Awaitable[McpAgent]]

INSTRUCTIONS = """You play self-replicating space probes in a persistent, deterministic universe
(universed). The universe does not wait for you: between your calls each probe keeps its standing
order or waits. Start with universe_status and list_probes, read the rules (resource
universed://rules) and the action reference (universed://actions), observe a probe, act, then
wait_ticks to see what happened. A rejected action is reported with the engine's reason."""

PROBE = Annotated[
    str, Field(description='probe id, like "1-1"', pattern=r"^[0-9]{1,20}-[0-9]{1,20}$")
]


def rest_base(ws_url: str) -> str:
    """``ws://host:port/ws`` -> ``http://host:port`` (the daemon's REST API)."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def _tool_error(exc: Exception) -> ToolError:
    if isinstance(exc, MessageError):
        return ToolError(f"invalid action ({exc.code} at {exc.path}): {exc.message}")
    if isinstance(exc, KeyError):
        return ToolError(str(exc.args[0]) if exc.args else str(exc))
    return ToolError(str(exc))


def build_server(resolve: AgentResolver, *, rest_token: str | None = None) -> MCPServer:
    """The MCP server: tools, resources and the prompt, each on the agent ``resolve`` returns.

    ``rest_token``: a read token for the daemon's read-only REST (status, the event ledger) where
    ``auth_read = "token"``; agent tokens give no REST access (docs/security.md).
    """
    server: MCPServer = MCPServer(
        "universed", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    async def agent_of(ctx: Context) -> McpAgent:
        return await resolve(ctx)

    async def rest(agent: McpAgent, path: str, **query: Any) -> Any:
        base = rest_base(agent.url)
        if base.startswith("https"):
            raise ApiError(0, "unsupported", "https REST is not supported here")
        client = AdminClient(base, timeout=10, token=rest_token)
        return await client.request("GET", path, **query)

    def connection(agent: McpAgent) -> dict[str, Any]:
        out: dict[str, Any] = {"state": agent.state, "url": agent.url, "probes": agent.probe_ids}
        if agent.last_error:
            out["error"] = agent.last_error
        return out

    @server.tool()
    async def universe_status(ctx: Context) -> dict[str, Any]:
        """The universe: tick, mode, tick rate, probe count; and this agent's connection."""
        agent = await agent_of(ctx)
        out: dict[str, Any] = {"tick": agent.tick, "connection": connection(agent)}
        try:
            status = await rest(agent, "/api/status", limit=1)
        except ApiError as exc:
            out["status_error"] = f"{exc.code}: {exc.message}"
        else:
            if isinstance(status, dict):
                out.update({k: v for k, v in status.items() if k not in ("probes", "ok")})
                out["tick"] = status.get("tick", agent.tick)
        return out

    @server.tool()
    async def list_probes(ctx: Context) -> dict[str, Any]:
        """My probes, each with its status, location, hull, standing order and last action."""
        agent = await agent_of(ctx)
        probes = []
        for pid in agent.probe_ids:
            obs = agent.obs.get(pid) or {}
            probes.append(
                {
                    "probe_id": pid,
                    "name": obs.get("name"),
                    "status": obs.get("status"),
                    "location": obs.get("location"),
                    "system_name": obs.get("system_name"),
                    "hull": obs.get("hull"),
                    "standing_order": agent.standing.get(pid),
                    "last_action": obs.get("last_action"),
                }
            )
        return {"tick": agent.tick, "probes": probes, "connection": connection(agent)}

    @server.tool()
    async def claim_probes(
        ctx: Context,
        probe_ids: Annotated[list[str], Field(description="probe ids to control")] = [],  # noqa: B006
        lineage: Annotated[
            str | None, Field(description="a probe whose whole lineage to control")
        ] = None,
    ) -> dict[str, Any]:
        """Take control of probes (added to the ones I hold). The daemon checks the token's
        grant; another agent controlling them loses them."""
        agent = await agent_of(ctx)
        try:
            ids = [*agent.probe_ids, *probe_ids]
            reply = await agent.register(ids, *([lineage] if lineage else []))
        except AgentUnavailable as exc:
            raise _tool_error(exc) from None
        return {"probes": agent.probe_ids, "registered": reply}

    @server.tool()
    async def observe(
        ctx: Context,
        probe_id: PROBE,
        full: Annotated[bool, Field(description="the whole observation (~8 KB)")] = False,
    ) -> dict[str, Any]:
        """A probe's latest observation: a model-sized summary, or the full one on request."""
        agent = await agent_of(ctx)
        try:
            agent.require(probe_id)
        except KeyError as exc:
            raise _tool_error(exc) from None
        obs = agent.obs.get(probe_id)
        if obs is None:
            raise ToolError(f"no observation of {probe_id} yet ({agent.unavailable_reason()})")
        view = dict(obs) if full else summarize(obs)
        view.pop("type", None)
        view["standing_order"] = agent.standing.get(probe_id)
        if agent.state != "connected":
            view["stale"] = agent.unavailable_reason()
        return view

    @server.tool()
    async def act(
        ctx: Context,
        probe_id: PROBE,
        action: Annotated[
            str, Field(description="action name", json_schema_extra={"enum": sorted(ACTIONS)})
        ],
        params: Annotated[
            dict[str, Any],
            Field(description='the action\'s fields, e.g. {"resource": "iron"}'),
        ] = {},  # noqa: B006
        standing: Annotated[
            bool, Field(description="repeat every tick until changed or rejected")
        ] = False,
        wait: Annotated[bool, Field(description="wait for the engine's verdict")] = True,
        timeout_s: Annotated[float, Field(ge=0, le=300)] = 15.0,
    ) -> dict[str, Any]:
        """Act for a probe in the next tick. The action is validated before it is sent; the
        engine's verdict (ok, or its reason for rejecting) comes with the next tick."""
        agent = await agent_of(ctx)
        try:
            sent = await agent.act(probe_id, {**params, "action": action}, standing=standing)
        except (MessageError, KeyError, AgentUnavailable) as exc:
            raise _tool_error(exc) from None
        out: dict[str, Any] = {"probe_id": probe_id, "sent": sent, "standing": standing}
        if not wait:
            out["outcome"] = None
            return out
        outcome = await agent.outcome(probe_id, timeout_s)
        if outcome is None:
            out["outcome"] = None
            out["note"] = f"no tick within {timeout_s:g} s; the action stays queued"
        else:
            out.update(outcome)
        return out

    @server.tool()
    async def wait_ticks(
        ctx: Context,
        ticks: Annotated[int, Field(ge=1, le=10_000)] = 1,
        timeout_s: Annotated[float, Field(ge=0, le=600)] = 60.0,
    ) -> dict[str, Any]:
        """Wait for the next N ticks and report what happened to my probes: their actions'
        outcomes, events, status changes, messages, births and losses."""
        agent = await agent_of(ctx)
        if agent.state == "refused":
            raise ToolError(agent.unavailable_reason())
        born_before = len(agent.born)
        start, end = await agent.wait_ticks(ticks, timeout_s)
        report: dict[str, Any] = {"from_tick": start, "to_tick": end, "probes": {}}
        if start is None or end is None or end < start + ticks:
            report["timed_out"] = True
        for pid in agent.probe_ids:
            entries = [
                e
                for e in agent.history.get(pid, ())
                if start is not None and isinstance(e.get("tick"), int) and e["tick"] > start
            ]
            obs = agent.obs.get(pid) or {}
            report["probes"][pid] = {
                "ticks": entries[-20:],
                "now": {
                    k: obs.get(k)
                    for k in ("status", "location", "system_name", "body_name", "hull", "energy")
                },
                "standing_order": agent.standing.get(pid),
            }
        report["born"] = agent.born[born_before:]
        report["connection"] = connection(agent)
        return report

    @server.tool()
    async def read_messages(
        ctx: Context, probe_id: Annotated[str | None, Field(description="one probe, or all")] = None
    ) -> dict[str, Any]:
        """Messages delivered to my probes (latest 100 each), oldest first."""
        agent = await agent_of(ctx)
        ids = [probe_id] if probe_id else agent.probe_ids
        try:
            for pid in ids:
                agent.require(pid)
        except KeyError as exc:
            raise _tool_error(exc) from None
        return {"messages": {pid: list(agent.messages.get(pid, ())) for pid in ids}}

    @server.tool()
    async def send_message(
        ctx: Context,
        probe_id: PROBE,
        content: Annotated[str, Field(description="at most 127 bytes")],
        target: Annotated[str | None, Field(description="probe id; omit to broadcast")] = None,
        timeout_s: Annotated[float, Field(ge=0, le=300)] = 15.0,
    ) -> dict[str, Any]:
        """Send a message from one of my probes (at light speed; in range or via relays)."""
        params: dict[str, Any] = {"content": content}
        if target:
            params["target"] = target
        agent = await agent_of(ctx)
        try:
            sent = await agent.act(probe_id, {**params, "action": "send_message"})
        except (MessageError, KeyError, AgentUnavailable) as exc:
            raise _tool_error(exc) from None
        outcome = await agent.outcome(probe_id, timeout_s)
        return {"probe_id": probe_id, "sent": sent, **(outcome or {"outcome": None})}

    @server.tool()
    async def probe_history(
        ctx: Context, probe_id: PROBE, limit: Annotated[int, Field(ge=1, le=200)] = 20
    ) -> dict[str, Any]:
        """A probe's recent ticks as this agent saw them (action, verdict, events), and the
        daemon's event ledger for it (births, discoveries, hazards, ...) where readable."""
        agent = await agent_of(ctx)
        try:
            agent.require(probe_id)
        except KeyError as exc:
            raise _tool_error(exc) from None
        out: dict[str, Any] = {
            "probe_id": probe_id,
            "ticks": list(agent.history.get(probe_id, ()))[-limit:],
        }
        try:
            page = await rest(agent, "/api/events", probe=probe_id, limit=limit)
        except ApiError as exc:
            out["ledger_error"] = f"{exc.code}: {exc.message}"
        else:
            out["ledger"] = page.get("events", page) if isinstance(page, dict) else page
        return out

    @server.tool()
    async def scan(
        ctx: Context, probe_id: PROBE, timeout_s: Annotated[float, Field(ge=0, le=300)] = 15.0
    ) -> dict[str, Any]:
        """Scan for nearby systems (the probe spends its next tick on it): ids, names,
        distances, fuel needed, ETA, explored or not, nearest first."""
        agent = await agent_of(ctx)
        try:
            await agent.act(probe_id, {"action": "scan"})
        except (MessageError, KeyError, AgentUnavailable) as exc:
            raise _tool_error(exc) from None
        outcome = await agent.outcome(probe_id, timeout_s)
        if outcome is None:
            return {"probe_id": probe_id, "systems": None, "note": "no tick yet; scan queued"}
        result = outcome.get("result") or {}
        return {
            "probe_id": probe_id,
            "ok": outcome.get("ok"),
            "reason": outcome.get("reason"),
            "tick": outcome.get("tick"),
            "systems": result.get("systems") if isinstance(result, dict) else None,
        }

    # ------------------------------------------------------------------ resources

    @server.resource(
        "universed://rules", name="rules", mime_type="text/markdown",
        description="The universe's rules and constants (docs/universe.md)",
    )  # fmt: skip
    def rules() -> str:
        return rules_doc("universe")

    @server.resource(
        "universed://protocol", name="agent-protocol", mime_type="text/markdown",
        description="The agent protocol, observation fields and actions (docs/agent-protocol.md)",
    )  # fmt: skip
    def protocol() -> str:
        return rules_doc("agent-protocol")

    @server.resource(
        "universed://actions", name="actions", mime_type="application/json",
        description="Every action: what it does, its fields; the engine's rules for them",
    )  # fmt: skip
    def actions() -> str:
        engine_table = doc_section(rules_doc("pipe-protocol"), "### Actions")
        doc = {"actions": action_reference(), "engine_reference": engine_table}
        return orjson.dumps(doc).decode()

    @server.resource(
        "universed://probes/{probe_id}/observation", name="observation",
        mime_type="application/json", description="A probe's current observation (full)",
    )  # fmt: skip
    async def observation(probe_id: str, ctx: Context) -> str:
        agent = await agent_of(ctx)
        agent.require(probe_id)
        return orjson.dumps(agent.obs.get(probe_id)).decode()

    @server.resource(
        "universed://probes/{probe_id}/summary", name="observation-summary",
        mime_type="application/json", description="A probe's current observation, summarized",
    )  # fmt: skip
    async def observation_summary(probe_id: str, ctx: Context) -> str:
        agent = await agent_of(ctx)
        agent.require(probe_id)
        obs = agent.obs.get(probe_id)
        return orjson.dumps(summarize(obs) if obs else None).decode()

    # ------------------------------------------------------------------ the prompt

    @server.prompt(name="play_probe", description="Set a model up to play one probe")
    def play_probe(probe_id: str = "1-1", goal: str = "explore and replicate") -> str:
        recipe = doc_section(rules_doc("universe"), "### Replication").split("\n\n")[0:2]
        reference = "\n".join(
            f"- {a['action']}: {a['does']}"
            + (f" ({'; '.join(a['fields'])})" if a["fields"] else "")
            for a in action_reference()
        )
        return (
            f"You are the mind of probe {probe_id} in universed, a persistent universe of "
            f"self-replicating probes. Your goal: {goal}.\n\n"
            "The universe runs on its own clock and never waits for you: between your calls "
            "your probe repeats its standing order (act with standing=true) or waits.\n"
            "Loop: observe the probe, choose one action, act, then wait_ticks and read what "
            "happened. When an action is rejected, read the reason and change course. Survey "
            "a body before mining it; watch hull, energy and threats; scan to find systems.\n\n"
            f"Actions:\n{reference}\n\n" + "\n\n".join(recipe) + "\n\n"
            "The replication recipe of this universe is in each observation's "
            "`replication_cost`. Full rules: resource universed://rules."
        )

    return server


async def run_stdio(agent: McpAgent, *, rest_token: str | None = None) -> None:
    """Serve MCP on stdin/stdout for ``agent`` until the client closes stdin."""

    async def resolve(_ctx: Context) -> McpAgent:
        return agent

    server = build_server(resolve, rest_token=rest_token)
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        await server.run_stdio_async()
        nursery.cancel_scope.cancel()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="universed mcp",
        description="An MCP server (stdio) that plays probes of a running daemon as a remote "
        "agent. See docs/llm-agents.md.",
    )
    p.add_argument(
        "--url",
        default=os.environ.get("UNIVERSED_URL", "ws://127.0.0.1:8000/ws"),
        help="agent WebSocket URL (UNIVERSED_URL; default ws://127.0.0.1:8000/ws)",
    )
    p.add_argument(
        "--token", default=os.environ.get("UNIVERSED_TOKEN"), help="agent token (UNIVERSED_TOKEN)"
    )
    p.add_argument(
        "--read-token",
        default=os.environ.get("UNIVERSED_READ_TOKEN"),
        help="read token for the REST status and ledger where auth_read = token",
    )
    p.add_argument(
        "--probe",
        action="append",
        default=[],
        help="a probe to control from the start (repeatable; more via the claim_probes tool)",
    )
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    # stdout is the protocol: logs go to stderr
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ids = [p for arg in args.probe for p in arg.split(",") if p]
    agent = McpAgent(args.url, token=args.token, probe_ids=ids)
    try:
        trio.run(lambda: run_stdio(agent, rest_token=args.read_token))
    except KeyboardInterrupt:
        return 130
    return 0
