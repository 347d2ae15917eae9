"""``universed agent run PACKAGE:POLICY --url ws://HOST:PORT/ws [--probe ID | --fleet]``.

Runs an in-process policy remotely: the same policy object, unchanged, answers the daemon's
observations over the agent WebSocket (`universed.client.AgentClient`: reconnects with backoff,
fleet mode). ``PACKAGE:POLICY`` names the policy:

* ``universed_policy_explorer:explorer``: module ``universed_policy_explorer``; ``explorer`` is
  an attribute (a policy object, or a class/factory called without arguments) or, failing that,
  a name in the module's ``universed_policies()`` hook result;
* ``explorer`` alone: a policy name from any installed ``universed`` plugin (entry points);
* ``mypkg.agents:Miner``: any importable module and attribute.

Modes: ``--probe 1-1`` (default) drives one probe; ``--fleet`` drives ``--root`` (default 1-1)
and all its descendants over one connection (newborns included); ``--probes 1-2,1-5`` an
explicit fleet. ``--ticks N`` stops after N answered ticks; ``--record FILE`` writes one JSON line
per decision (``{"tick","probe_id","observation","action"}``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

import orjson
import trio
from trio_websocket import ConnectionClosed, HandshakeError

from .client import AgentClient, AgentError

__all__ = ["PolicyLoadError", "load_policy", "main"]

log = logging.getLogger("universed.agent")


class PolicyLoadError(LookupError):
    """The ``PACKAGE:POLICY`` spec names nothing usable; the message says what was tried."""


def _as_policy(obj: Any, spec: str) -> Any:
    if callable(getattr(obj, "decide", None)) and not isinstance(obj, type):
        return obj
    if callable(obj):
        made = obj()
        if callable(getattr(made, "decide", None)):
            return made
    raise PolicyLoadError(f"{spec}: {obj!r} is not a policy (no decide())")


def _from_hook(module: Any, name: str) -> Any:
    hook = getattr(module, "universed_policies", None)
    if not callable(hook):
        return None
    table = hook() or {}
    return table.get(name) if isinstance(table, Mapping) else None


def load_policy(spec: str) -> Any:
    """The policy object named by ``spec`` (see the module docstring).

    Raises:
        PolicyLoadError: nothing by that name, or not a policy.
    """
    package, sep, name = spec.partition(":")
    if not sep:
        from .plugins import load_policies, make_plugin_manager

        table = load_policies(make_plugin_manager(), {})
        if spec not in table:
            raise PolicyLoadError(
                f"no installed policy named {spec!r}; installed: {', '.join(sorted(table))}"
            )
        return table[spec]
    if not package or not name:
        raise PolicyLoadError(f"{spec!r}: expected PACKAGE:POLICY")
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        module = _entry_point_module(package)
        if module is None:
            raise PolicyLoadError(f"{spec}: cannot import {package!r} ({exc})") from None
    obj = getattr(module, name, None)
    if obj is not None:
        return _as_policy(obj, spec)
    hooked = _from_hook(module, name)
    if hooked is not None:
        return hooked
    raise PolicyLoadError(f"{spec}: {package} has no attribute or policy named {name!r}")


def _entry_point_module(name: str) -> Any:
    from importlib.metadata import entry_points

    for ep in entry_points(group="universed"):
        if ep.name == name:
            return ep.load()
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="universed agent run",
        description="Run a policy as a remote agent over the agent WebSocket.",
    )
    parser.add_argument("policy", help="PACKAGE:POLICY, or an installed policy name")
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="agent WebSocket URL")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--probe", help="drive this one probe (default 1-1)")
    mode.add_argument("--fleet", action="store_true", help="drive --root and all descendants")
    mode.add_argument("--probes", help="explicit fleet: comma-separated probe ids")
    parser.add_argument("--root", default="1-1", help="root of the --fleet lineage (default 1-1)")
    parser.add_argument(
        "--token", default=os.environ.get("UNIVERSED_TOKEN"), help="agent token (UNIVERSED_TOKEN)"
    )
    parser.add_argument(
        "--assign",
        action="append",
        default=[],
        metavar="PROBE:MISSION",
        help="pin a probe to a mission of a fleet commander (universed.fleet); repeatable",
    )
    parser.add_argument("--ticks", type=int, help="stop after answering this many ticks")
    parser.add_argument("--record", help="write each decision as a JSON line to this file")
    parser.add_argument(
        "--no-reconnect", action="store_true", help="exit when the connection drops"
    )
    parser.add_argument(
        "--delta",
        action="store_true",
        help="delta observations: only the changed fields travel; the policy sees whole ones",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def apply_pins(policy: Any, specs: Sequence[str]) -> None:
    """``--assign PROBE:MISSION``: pin probes to missions of a fleet commander.

    Raises:
        ValueError: a malformed spec, an unknown mission, or a policy without missions.
    """
    if not specs:
        return
    pin = getattr(policy, "pin", None)
    if not callable(pin):
        raise ValueError("--assign needs a fleet commander (universed.fleet.FleetCommander)")
    for spec in specs:
        probe, sep, mission = spec.partition(":")
        if not sep or not probe or not mission:
            raise ValueError(f"--assign {spec!r}: expected PROBE:MISSION, e.g. 1-1:explore")
        pin(probe, mission)


def make_client(args: argparse.Namespace) -> AgentClient:
    common: dict[str, Any] = {
        "reconnect": not args.no_reconnect,
        "max_ticks": args.ticks,
        "token": args.token,
        "delta": args.delta,
    }
    if args.fleet:
        return AgentClient(args.url, probe_id=args.root, lineage=True, **common)
    if args.probes:
        ids = [p.strip() for p in args.probes.split(",") if p.strip()]
        return AgentClient(args.url, probe_ids=ids, **common)
    return AgentClient(args.url, probe_id=args.probe or "1-1", **common)


async def run(policy: Any, client: AgentClient, record: IO[bytes] | None = None) -> None:
    """Drive ``client`` with ``policy`` until it stops, or SIGINT/SIGTERM."""
    if record is not None:

        def write(obs: Mapping[str, Any], action: dict[str, Any]) -> None:
            line = {
                "tick": obs.get("tick"),
                "probe_id": obs.get("probe_id"),
                "observation": obs,
                "action": action,
            }
            record.write(orjson.dumps(line) + b"\n")

        client.on_decision = write
    failures: list[Exception] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def drive() -> None:
                try:
                    await client.run_policy(policy)
                except (AgentError, OSError, HandshakeError, ConnectionClosed) as exc:
                    failures.append(exc)
                nursery.cancel_scope.cancel()

            nursery.start_soon(drive)
            async for signum in signals:
                log.info("received %s; disconnecting", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
    if failures:
        raise failures[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``universed agent run``; ``argv`` may start with ``run``."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["run"]:
        args_in = args_in[1:]
    args = build_parser().parse_args(args_in)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        policy = load_policy(args.policy)
        client = make_client(args)
        apply_pins(policy, args.assign)
    except (PolicyLoadError, ValueError) as exc:
        print(f"universed agent: {exc}", file=sys.stderr)
        return 2
    record = open(args.record, "ab") if args.record else None  # noqa: SIM115
    try:
        trio.run(run, policy, client, record)
    except AgentError as exc:
        print(f"universed agent: the daemon refused: {exc}", file=sys.stderr)
        return 1
    except (OSError, HandshakeError, ConnectionClosed) as exc:
        why = exc.__cause__ if isinstance(exc, HandshakeError) and exc.__cause__ else exc
        print(f"universed agent: cannot connect to {args.url}: {why}", file=sys.stderr)
        return 1
    finally:
        if record is not None:
            record.close()
    name = getattr(policy, "name", args.policy)
    log.info("policy %s answered %d ticks", name, client.ticks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
