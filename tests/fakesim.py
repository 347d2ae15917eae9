#!/usr/bin/env python3
"""A fake ``universe-sim --pipe`` (a fake, not a mock): speaks the pipe protocol for one probe.

Used as the child process in supervisor tests to produce failures the real engine never does:

* ``FAKESIM_HANG_AT=N``: the N-th tick never gets an answer (the process stays alive);
* ``FAKESIM_GARBAGE_AT=N``: the N-th tick is answered with a non-JSON line;
* ``FAKESIM_EXIT_AT=N``: the process exits when asked for the N-th tick.

The counters are per process, so a restarted child behaves normally unless the variable is
prefixed with ``FAKESIM_ALWAYS=1``.

It also serves a daemon (status, tick, probe, metrics, hash, save, load), honouring the tick's
``detail`` and ``reference`` like the engine (docs/pipe-protocol.md): only the listed probes
(``"all"`` or ids), at full detail, get the ``"reference"`` overlay of the conflicting keys
(``system`` object, ``recent_events``, ``trust``, ``relay_network``, ``research``,
``visible_structures``); compact observations leave the living-universe fields out. ``probe``
does not take ``reference`` (the engine's pipe interface only has it on ``tick``).
"""

import json
import os
import sys
import time
from typing import Any

SYSTEM = "7-1"


def observation(tick: int, detail: str, reference: bool) -> dict[str, Any]:
    """Probe 1-1's observation (the readable shape, plus the overlay if asked)."""
    obs: dict[str, Any] = {
        "type": "observe",
        "probe_id": "1-1",
        "name": "Bob",
        "status": "active",
        "hull": 1.0,
        "parent_id": None,
        "system": SYSTEM,
        "events": [],
    }
    if detail == "compact":
        return obs
    obs.update(
        recent_events=[{"tick": tick, "type": "hazard", "subtype": "solar_flare"}],
        trust={},
        relay_network={"relays": 0, "relays_in_range": 0, "relay_range_ly": 20.0},
        research=None,
        visible_structures=[],
    )
    if reference:
        obs["reference"] = {
            "system": {"name": "Falon", "star_count": 1, "planet_count": 0, "stars": []},
            "recent_events": [{"tick": tick, "type": 2, "subtype": 0}],
            "trust": [],
            "relay_network": [],
            "research": None,
            "visible_structures": [],
        }
    return obs


def wants(value: object, probe_id: str) -> bool:
    """Whether a tick's ``observe``/``reference`` value names ``probe_id``."""
    return value == "all" or (isinstance(value, list) and probe_id in value)


def main() -> None:
    tick = 0
    calls = 0
    seed = 42
    args = sys.argv[1:]
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    marker = os.environ.get("FAKESIM_MARKER")
    first_life = not (marker and os.path.exists(marker))
    if marker:
        open(marker, "a").close()
    hang = int(os.environ.get("FAKESIM_HANG_AT", "0")) if first_life else 0
    garbage = int(os.environ.get("FAKESIM_GARBAGE_AT", "0")) if first_life else 0
    die = int(os.environ.get("FAKESIM_EXIT_AT", "0")) if first_life else 0
    saved: dict[str, int] = {}
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req.get("cmd")
        out: dict[str, Any] = {"ok": True, "id": req.get("id")}
        if cmd == "status":
            row = {"id": "1-1", "parent_id": None, "status": "active"}
            out.update(tick=tick, seed=seed, total=1, alive=1, probes=[row])
        elif cmd == "tick":
            calls += 1
            if calls == hang:
                time.sleep(3600)
            if calls == die:
                sys.exit(3)
            if calls == garbage:
                sys.stdout.write("this is not json\n")
                sys.stdout.flush()
                continue
            tick += 1
            observed = []
            if wants(req.get("observe", "all"), "1-1"):
                detail = req.get("detail") or "full"
                observed.append(observation(tick, detail, wants(req.get("reference"), "1-1")))
            out.update(tick=tick, observations=observed, born=[], destroyed=[], rejected=[])
            if req.get("events"):
                out["events"] = []
        elif cmd == "probe":
            if req.get("probe_id") != "1-1":
                out = {
                    "ok": False,
                    "id": req.get("id"),
                    "error": {"code": "unknown_probe", "message": str(req.get("probe_id"))},
                }
            else:
                out.update(tick=tick, probe=observation(tick, "full", False))
        elif cmd == "metrics":
            out.update(tick=tick, metrics={"probes": 1})
        elif cmd == "hash":
            out.update(tick=tick, hash=f"{tick:016x}")
        elif cmd == "save":
            saved[req["path"]] = tick
            with open(req["path"], "w") as fh:
                fh.write(str(tick))
            out.update(path=req["path"], tick=tick, hash=f"{tick:016x}", bytes=1)
        elif cmd == "load":
            with open(req["path"]) as fh:
                tick = int(fh.read())
            out.update(path=req["path"], tick=tick, seed=seed, hash=f"{tick:016x}")
        elif cmd == "quit":
            out.update(bye=True)
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
            return
        else:
            out = {
                "ok": False,
                "id": req.get("id"),
                "error": {"code": "unknown_command", "message": cmd},
            }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
