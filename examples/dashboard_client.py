"""A dashboard client: prints one line per tick from the daemon's dashboard stream.

    python examples/dashboard_client.py [--url ws://127.0.0.1:8000/ws/dashboard] [--ticks N]

Each line: tick, mode, ticks per second, live probes, connected agents, and the tick's births,
deaths and events (hazards and discoveries are spelled out).
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
import trio
from trio_websocket import open_websocket_url


def summary(msg: dict[str, Any]) -> str:
    events = msg.get("events") or []
    notable = [
        f"{e.get('probe_id')}:{e.get('type')}/{e.get('subtype')}"
        for e in events
        if e.get("type") in ("hazard", "discovery")
    ]
    parts = [
        f"tick {msg.get('tick')}",
        f"{msg.get('mode')}",
        f"{msg.get('ticks_per_second', 0):.1f} t/s",
        f"probes {msg.get('probe_count')}",
        f"agents {(msg.get('agents') or {}).get('connected', 0)}",
    ]
    if msg.get("born"):
        parts.append(f"born {','.join(msg['born'])}")
    if msg.get("destroyed"):
        parts.append(f"destroyed {','.join(msg['destroyed'])}")
    if events:
        parts.append(f"events {len(events)}")
    if notable:
        parts.append(" ".join(notable[:5]))
    return " | ".join(parts)


async def watch(url: str, ticks: int | None) -> int:
    seen = 0
    async with open_websocket_url(url, max_message_size=64 << 20) as ws:
        while ticks is None or seen < ticks:
            msg = orjson.loads(await ws.get_message())
            if msg.get("type") != "tick":
                continue
            print(summary(msg), flush=True)
            seen += 1
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/dashboard")
    parser.add_argument("--ticks", type=int, default=None, help="stop after N ticks")
    args = parser.parse_args()
    trio.run(watch, args.url, args.ticks)


if __name__ == "__main__":
    main()
