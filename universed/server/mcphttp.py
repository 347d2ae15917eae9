"""``/mcp``: the MCP server of ``universed mcp`` as streamable HTTP on the daemon's own port.

The gateway hands ``/mcp`` connections to hypercorn running this hub's app: every request's
agent token is checked first (``Authorization: Bearer`` or ``?token=``, as for ``/ws``:
`Auth.agent_grant`; a missing token where agents need one, or a wrong token, is answered 401
before the MCP app sees it), then the SDK's streamable HTTP app (Starlette on anyio, so on trio)
serves it.

Each agent token gets one `McpAgent`, which connects to this daemon's own ``/ws`` over loopback
with that token, so the daemon applies the token's grant exactly as for any remote agent. Where
agents are open (no token), each MCP session gets its own agent. Agents unused for
``IDLE_SECONDS`` are closed (their probes fall back to the default policy).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from hypercorn.utils import wrap_app
from mcp.server.mcpserver import Context

from ..agents.mcp import build_server
from ..agents.mcpagent import McpAgent
from .auth import Auth, Denied, bearer_token, error_body

__all__ = ["IDLE_SECONDS", "McpHttp"]

log = logging.getLogger(__name__)

IDLE_SECONDS = 1800.0
MAX_AGENTS = 256


class McpHttp:
    """The ``/mcp`` app and its agents (see the module docstring).

    Args:
        ws_url: this daemon's agent WebSocket as seen from itself (``ws://127.0.0.1:PORT/ws``).
        host: the listen address (DNS-rebinding protection is on for a loopback address).
        max_body: the largest request body hypercorn accepts.
    """

    def __init__(self, ws_url: str, *, host: str, max_body: int, auth: Auth | None = None) -> None:
        self.ws_url = ws_url
        self.auth = auth
        self.server = build_server(self.resolve)
        self.asgi = self.server.streamable_http_app(streamable_http_path="/mcp", host=host)
        self.app: Any = wrap_app(self.guard, max_body, None)
        self.agents: dict[str, tuple[McpAgent, trio.CancelScope]] = {}
        self.used: dict[str, float] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            async with self.server.session_manager.run():
                nursery.start_soon(self._reap)
                task_status.started()
                await trio.sleep_forever()

    async def guard(self, scope: Any, receive: Any, send: Any) -> None:
        """The agent-token check of every request (as the ``/ws`` upgrade's), then the app."""
        if scope.get("type") == "http" and self.auth is not None:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            query = scope.get("query_string", b"").decode("latin-1")
            grant = self.auth.agent_grant(bearer_token(headers, query))
            if isinstance(grant, Denied):
                body = error_body(grant.code, grant.message)
                extra = [(b"www-authenticate", b'Bearer realm="universed"')]
                await send(
                    {
                        "type": "http.response.start",
                        "status": grant.status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *(extra if grant.status == 401 else []),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.asgi(scope, receive, send)

    async def resolve(self, ctx: Context) -> McpAgent:
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        request = getattr(ctx.request_context, "request", None)
        query = str(getattr(getattr(request, "url", None), "query", "") or "")
        token = bearer_token(headers, query)
        key = f"token:{token}" if token else f"session:{headers.get('mcp-session-id', '')}"
        self.used[key] = trio.current_time()
        found = self.agents.get(key)
        if found is not None:
            return found[0]
        if len(self.agents) >= MAX_AGENTS:
            oldest = min(self.agents, key=lambda k: self.used.get(k, 0.0))
            self._close(oldest)
        agent = McpAgent(self.ws_url, token=token)
        scope = trio.CancelScope()
        self.agents[key] = (agent, scope)
        assert self._nursery is not None
        self._nursery.start_soon(self._run_agent, agent, scope)
        # give it the moment to connect, so the first call sees a live connection
        with trio.move_on_after(5):
            while agent.state == "connecting":
                await agent.changed(trio.current_time() + 5)
        return agent

    async def _run_agent(self, agent: McpAgent, scope: trio.CancelScope) -> None:
        with scope:
            await agent.run()

    def _close(self, key: str) -> None:
        found = self.agents.pop(key, None)
        self.used.pop(key, None)
        if found is not None:
            found[1].cancel()

    async def _reap(self) -> None:
        while True:
            await trio.sleep(60)
            now = trio.current_time()
            for key in [k for k, t in self.used.items() if now - t > IDLE_SECONDS]:
                log.info("closing an MCP agent idle for %.0f s", now - self.used[key])
                self._close(key)
