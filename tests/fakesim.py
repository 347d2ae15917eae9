#!/usr/bin/env python3
"""A fake ``universe-sim --pipe`` (a fake, not a mock): speaks the pipe protocol for one probe.

Used as the child process in supervisor tests to produce failures the real engine never does:

* ``FAKESIM_HANG_AT=N``: the N-th tick never gets an answer (the process stays alive);
* ``FAKESIM_GARBAGE_AT=N``: the N-th tick is answered with a non-JSON line;
* ``FAKESIM_EXIT_AT=N``: the process exits when asked for the N-th tick.

The counters are per process, so a restarted child behaves normally unless the variable is
prefixed with ``FAKESIM_ALWAYS=1``.
"""

import json
import os
import sys
import time


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
        out: dict = {"ok": True, "id": req.get("id")}
        if cmd == "status":
            out.update(tick=tick, seed=seed, total=1, alive=1, probes=[])
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
            obs = {
                "type": "observe",
                "probe_id": "1-1",
                "name": "Bob",
                "status": "active",
                "hull": 1.0,
                "parent_id": None,
                "events": [],
            }
            out.update(tick=tick, observations=[obs], born=[], destroyed=[], rejected=[])
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
