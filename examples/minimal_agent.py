"""A minimal remote agent in Python (trio), using the universed SDK.

    python examples/minimal_agent.py [--url ws://127.0.0.1:8000/ws] [--probe 1-1] [--ticks N]

It repairs when damaged, surveys its body (or its system) until it knows what is there, lands,
and mines the most abundant resource; the SDK reconnects if the daemon restarts.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from functools import partial
from typing import Any

import trio
from universed.client import AgentClient


def decide(obs: Mapping[str, Any]) -> dict[str, Any]:
    cargo = obs.get("cargo") or {}
    if obs["hull"] < 0.5 and cargo.get("iron", 0) >= 10:
        return {"action": "repair"}
    if obs.get("activity"):
        return {"action": "wait"}  # busy traveling or replicating
    if obs.get("body") is None:
        # no body yet: go to the first body of the system (body index 1 in the id's low bits)
        hi, lo = obs["system"].split("-")
        return {"action": "navigate_to_body", "target_body": f"{hi}-{int(lo) | 1}"}
    survey = obs.get("survey") or {}
    if survey.get("level", 0) < 2 and obs["location"] != "landed":
        return {"action": "survey"}
    if obs["location"] == "in_system":
        return {"action": "enter_orbit"}
    if obs["location"] == "orbiting" and obs.get("body_type") not in (
        "gas_giant",
        "ice_giant",
        "asteroid_belt",
    ):
        return {"action": "land"}
    resources = survey.get("resources") or {}
    if not resources:
        return {"action": "survey"}
    richest = max(resources, key=lambda r: resources[r])
    return {"action": "mine", "resource": richest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    parser.add_argument("--probe", default="1-1")
    parser.add_argument("--ticks", type=int, default=None, help="stop after N ticks")
    args = parser.parse_args()
    client = AgentClient(args.url, probe_id=args.probe, max_ticks=args.ticks)
    trio.run(partial(client.run, decide))
    print(f"answered {client.ticks} ticks")


if __name__ == "__main__":
    main()
