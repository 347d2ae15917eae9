"""``universed top``: a terminal dashboard for a running daemon.

It shows what the web page's header shows (tick, mode, ticks/s, probes, agents, sim state, the
stream's connection state), a probe table and the event feed, redrawn a few times a second with
``rich.live.Live``. Data comes from the daemon's public surface only: the ``/ws/dashboard`` stream
(ticks, events, observations) and the REST API (``/api/status`` for the sim's state,
``/api/probes`` for the table). It reconnects by itself, with backoff, when the daemon restarts.

The pieces are separate so they can be tested without a terminal: `TopState.apply_tick` folds one
dashboard message into the state, `render` turns a state into a rich renderable, `run_top` does
the I/O.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import trio
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

__all__ = ["TopState", "main", "render", "run_top"]

EVENT_STYLES = {
    "discovery": "green",
    "hazard": "red",
    "born": "bright_blue",
    "destroyed": "bold red",
}
STATUS_STYLES = {
    "active": "green",
    "mining": "yellow",
    "building": "cyan",
    "traveling": "blue",
    "replicating": "magenta",
    "dormant": "bright_black",
    "damaged": "dark_orange",
    "destroyed": "red",
}
MAX_EVENTS = 200
MAX_LIVE = 20_000  # observations kept for the table's energy/fuel columns


@attrs.define
class TopState:
    """Everything the screen shows; mutated by the stream and REST pollers."""

    url: str
    tick: int | None = None
    mode: str | None = None
    tick_rate: float | None = None
    ticks_per_second: float | None = None
    probe_count: int | None = None
    agents: int | None = None
    sim_state: str | None = None
    sim_restarts: int = 0
    connection: str = "connecting"
    retry_at: float = 0.0
    last_error: str = ""
    probes: list[dict[str, Any]] = attrs.field(factory=list)
    probes_total: int = 0
    live: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    events: deque[dict[str, Any]] = attrs.field(factory=lambda: deque(maxlen=MAX_EVENTS))

    def apply_tick(self, msg: Mapping[str, Any]) -> None:
        """Fold one ``/ws/dashboard`` message into the state (non-tick messages are ignored)."""
        if msg.get("type") != "tick":
            return
        tick = msg.get("tick")
        if isinstance(tick, int):
            if self.tick is not None and tick < self.tick:
                self.live.clear()  # a restore or a restart from an older checkpoint
            self.tick = tick
        self.mode = _str_or(msg.get("mode"), self.mode)
        self.tick_rate = _num_or(msg.get("tick_rate"), self.tick_rate)
        self.ticks_per_second = _num_or(msg.get("ticks_per_second"), self.ticks_per_second)
        count = msg.get("probe_count")
        if isinstance(count, int):
            self.probe_count = count
        agents = msg.get("agents")
        if isinstance(agents, Mapping) and isinstance(agents.get("connected"), int):
            self.agents = agents["connected"]
        seen: set[tuple[str, str]] = set()
        for ev in _dicts(msg.get("events")):
            self.events.append({"tick": self.tick, **ev})
            seen.add((str(ev.get("type")), str(ev.get("probe_id"))))
        for kind in ("born", "destroyed"):
            for pid in msg.get(kind) or ():
                if (kind, str(pid)) not in seen:
                    self.events.append({"tick": self.tick, "type": kind, "probe_id": pid})
        for obs in _dicts(msg.get("observations")):
            pid = obs.get("probe_id")
            if isinstance(pid, str):
                self.live[pid] = obs
        if len(self.live) > MAX_LIVE:
            for pid in list(self.live)[: len(self.live) - MAX_LIVE]:
                del self.live[pid]

    def apply_status(self, status: Mapping[str, Any]) -> None:
        """Fold a ``GET /api/status`` reply into the state."""
        sim = status.get("sim")
        if isinstance(sim, Mapping):
            self.sim_state = _str_or(sim.get("state"), self.sim_state)
            restarts = sim.get("restarts")
            self.sim_restarts = restarts if isinstance(restarts, int) else self.sim_restarts
        if self.tick is None and isinstance(status.get("tick"), int):
            self.tick = status["tick"]
        self.mode = _str_or(status.get("mode"), self.mode)
        self.tick_rate = _num_or(status.get("tick_rate"), self.tick_rate)
        agents = status.get("agents")
        if isinstance(agents, Mapping) and isinstance(agents.get("connected"), int):
            self.agents = agents["connected"]
        if self.probe_count is None and isinstance(status.get("total"), int):
            self.probe_count = status["total"]

    def apply_probes(self, page: Mapping[str, Any]) -> None:
        """Fold a ``GET /api/probes`` reply (the first page) into the table."""
        self.probes = list(_dicts(page.get("probes")))
        total = page.get("total")
        self.probes_total = total if isinstance(total, int) else len(self.probes)


def _str_or(value: object, default: str | None) -> str | None:
    return value if isinstance(value, str) else default


def _num_or(value: object, default: float | None) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def _dicts(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _fmt_int(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def _fmt_energy(j: object) -> str:
    if not isinstance(j, int | float):
        return "—"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(j) >= factor:
            return f"{j / factor:.2f} {prefix}J"
    return f"{j:.0f} J"


def _fmt_mass(kg: object) -> str:
    if not isinstance(kg, int | float):
        return "—"
    return f"{kg / 1000:.1f} t" if abs(kg) >= 1000 else f"{kg:.0f} kg"


def _fmt_hull(h: object) -> Text:
    if not isinstance(h, int | float):
        return Text("—")
    style = "red" if h < 0.25 else "dark_orange" if h < 0.5 else "green"
    return Text(f"{h * 100:.0f}%", style=style)


def _controller(row: Mapping[str, Any]) -> str:
    ctl = row.get("controller")
    if isinstance(ctl, str):
        return ctl
    if isinstance(ctl, Mapping):
        return str(ctl.get("name") or ctl.get("kind") or "")
    return ""


def _header(state: TopState) -> Table:
    grid = Table.grid(padding=(0, 3))
    labels = ["tick", "mode", "ticks/s", "probes", "agents", "sim", "stream"]
    for _ in labels:
        grid.add_column()
    tps = "—" if state.ticks_per_second is None else f"{state.ticks_per_second:.1f}"
    if state.mode == "realtime" and state.tick_rate:
        tps += f" / {state.tick_rate:g}"
    mode_style = {"paused": "yellow", "realtime": "green", "lockstep": "cyan"}.get(state.mode or "")
    sim = state.sim_state or "—"
    if state.connection != "live" and state.sim_state is not None:
        sim = "unreachable"
    if state.sim_restarts:
        sim += f" ({state.sim_restarts} restarts)"
    if state.connection == "down":
        left = max(0, math.ceil(state.retry_at - time.monotonic()))
        conn = Text(f"reconnecting in {left}s", style="red")
    else:
        conn = Text(state.connection, style="green" if state.connection == "live" else "yellow")
    grid.add_row(*(Text(label, style="bright_black") for label in labels))
    grid.add_row(
        Text(_fmt_int(state.tick), style="bold"),
        Text(state.mode or "—", style=mode_style or ""),
        Text(tps),
        Text(_fmt_int(state.probe_count)),
        Text(_fmt_int(state.agents)),
        Text(sim, style="green" if sim == "running" else "red"),
        conn,
    )
    return grid


def _probe_table(state: TopState, rows: int) -> Table:
    title = f"probes ({state.probes_total:,})" if state.probes_total else "probes"
    table = Table(title=title, title_justify="left", expand=True, pad_edge=False, box=None)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("hull", justify="right", no_wrap=True)
    table.add_column("energy", justify="right", no_wrap=True)
    table.add_column("fuel", justify="right", no_wrap=True)
    table.add_column("location", no_wrap=True)
    table.add_column("system", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("controller", no_wrap=True, overflow="ellipsis", max_width=20)
    for row in state.probes[:rows]:
        pid = str(row.get("id", ""))
        live = state.live.get(pid, {})
        status = str(live.get("status") or row.get("status") or "—")
        system = live.get("system_name") or row.get("system_name") or row.get("system") or "—"
        table.add_row(
            pid,
            str(row.get("name", "")),
            Text(status, style=STATUS_STYLES.get(status, "")),
            _fmt_hull(live.get("hull", row.get("hull"))),
            _fmt_energy(row.get("energy", live.get("energy"))),
            _fmt_mass(row.get("fuel", live.get("fuel"))),
            str(live.get("location") or row.get("location") or "—"),
            str(system),
            _controller(row) or "none",
        )
    if not state.probes:
        table.add_row("…", "waiting for the daemon", "", "", "", "", "", "", "")
    return table


def _describe(ev: Mapping[str, Any]) -> str:
    msg = ev.get("message")
    if isinstance(msg, str) and msg:
        return msg
    sev = ev.get("severity")
    suffix = f", severity {sev:.2f}" if isinstance(sev, int | float) else ""
    return f"{ev.get('subtype') or ev.get('type')}{suffix}"


def _feed(state: TopState, rows: int) -> Table:
    table = Table(title="events", title_justify="left", expand=True, box=None, pad_edge=False)
    table.add_column("tick", justify="right", style="bright_black", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("probe", style="cyan", no_wrap=True)
    table.add_column("what", overflow="ellipsis", no_wrap=True, ratio=1)
    shown = 0
    for ev in reversed(state.events):
        if shown >= rows:
            break
        kind = str(ev.get("type", ""))
        table.add_row(
            _fmt_int(ev.get("tick") if isinstance(ev.get("tick"), int) else None),
            Text(kind, style=EVENT_STYLES.get(kind, "")),
            str(ev.get("probe_id") or ""),
            _describe(ev),
        )
        shown += 1
    if not shown:
        table.add_row("", "", "", Text("no events yet", style="bright_black"))
    return table


def render(state: TopState, height: int = 40) -> RenderableType:
    """The whole screen for a terminal of `height` lines."""
    body = max(height - 7, 6)  # header panel (4) + titles and column headers
    feed_rows = max(3, body // 3)
    probe_rows = max(3, body - feed_rows - 4)
    header = Panel(
        _header(state),
        title=f"[bold]universed[/] top · {state.url}",
        title_align="left",
        border_style="blue",
    )
    return Group(header, _probe_table(state, probe_rows), Text(""), _feed(state, feed_rows))


# --------------------------------------------------------------------------- I/O


def _http_base(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _ws_url(base: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    # universed's own (readable) shape: the observations top shows carry names
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws/dashboard", "shape=readable", ""))


def _get_json(url: str, token: str | None, timeout: float) -> Any:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


async def _poll_rest(state: TopState, base: str, token: str | None, rows: int) -> None:
    """Refresh the sim state every 2 s and the probe table every second."""
    last_status = -math.inf
    while True:
        try:
            if time.monotonic() - last_status >= 2.0:
                status = await trio.to_thread.run_sync(
                    _get_json, f"{base}/api/status?limit=1", token, 5.0, abandon_on_cancel=True
                )
                state.apply_status(status)
                last_status = time.monotonic()
            page = await trio.to_thread.run_sync(
                _get_json,
                f"{base}/api/probes?limit={rows}&offset=0",
                token,
                5.0,
                abandon_on_cancel=True,
            )
            state.apply_probes(page)
            state.last_error = ""
        except (OSError, ValueError) as exc:  # URLError/HTTPError are OSErrors; bad JSON ValueError
            state.last_error = str(exc)
        await trio.sleep(1.0)


async def _follow_stream(state: TopState, ws_url: str) -> None:
    """Read the dashboard stream forever, reconnecting with exponential backoff."""
    attempt = 0
    while True:
        state.connection = "connecting"
        try:
            async with open_websocket_url(ws_url) as ws:
                state.connection = "live"
                attempt = 0
                while True:
                    raw = await ws.get_message()
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(msg, dict):
                        state.apply_tick(msg)
        except (OSError, HandshakeError, ConnectionClosed) as exc:
            state.last_error = str(exc) or type(exc).__name__
        delay = min(8.0, 0.4 * 2**attempt)
        attempt += 1
        state.connection = "down"
        state.retry_at = time.monotonic() + delay
        await trio.sleep(delay)


async def run_top(
    url: str,
    *,
    token: str | None = None,
    refresh_per_second: float = 4.0,
    console: Console | None = None,
) -> None:
    """Show the dashboard for the daemon at `url` until cancelled (Ctrl-C).

    Args:
        url: the daemon's base URL (``http://127.0.0.1:8000``; ``ws://`` and a bare
            ``host:port`` work too).
        token: an admin token sent as ``Authorization: Bearer`` (read-only calls need none
            unless the daemon is configured so).
        refresh_per_second: screen redraws per second.
        console: where to draw (the terminal by default).

    Cancellation: cancelling stops the stream and pollers; the Live display restores the
    terminal on the way out.
    """
    base = _http_base(url)
    console = console or Console()
    state = TopState(url=base)
    rows = max(10, console.size.height)
    with Live(
        render(state, console.size.height),
        console=console,
        screen=False,
        auto_refresh=False,
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as live:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_follow_stream, state, _ws_url(base))
            nursery.start_soon(_poll_rest, state, base, token, rows)
            while True:
                live.update(render(state, console.size.height), refresh=True)
                await trio.sleep(1.0 / refresh_per_second)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="universed top", description="A live terminal dashboard for a running daemon."
    )
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="the daemon's base URL (default: %(default)s)",
    )
    parser.add_argument("--token", default=None, help="admin token (or UNIVERSED_TOKEN)")
    parser.add_argument(
        "--refresh", type=float, default=4.0, help="redraws per second (default: %(default)s)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``universed top``; returns the process exit status."""
    import os

    args = build_parser().parse_args(argv)
    if not args.refresh > 0:
        print("universed top: --refresh must be > 0")
        return 2
    token = args.token or os.environ.get("UNIVERSED_TOKEN") or None
    # Ctrl-C is the way out: trio raises KeyboardInterrupt, possibly grouped by the nursery.
    try:
        trio.run(lambda: run_top(args.url, token=token, refresh_per_second=args.refresh))
    except* KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
