"""Operator subcommands: ``status``, ``snapshot``, ``replay``, ``verify``, ``check-config``.

``status`` and ``snapshot`` talk to a running daemon over its REST API (``--url``, default
``http://127.0.0.1:8000``; mutating requests send the admin token from ``--token``,
``$UNIVERSED_ADMIN_TOKEN`` or ``<--state-dir>/admin.token``). ``replay`` and ``verify`` work
offline on a state directory: they start their own sim child, load a checkpoint and re-run the
journal (a progress bar on a terminal). ``check-config`` validates a configuration like the daemon
does at start, plus the policy names against the installed plugins.

Every command prints text for people, or one JSON object with ``--json``. Exit status: 0 fine,
1 failure (unreachable daemon, API error, replay mismatch), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import trio

__all__ = ["COMMANDS", "main"]

COMMANDS = ("status", "snapshot", "replay", "verify", "check-config")
DEFAULT_URL = "http://127.0.0.1:8000"


class Failure(Exception):
    """A command failed; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1, body: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body


# ------------------------------------------------------------------------------ REST


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    env = os.environ.get("UNIVERSED_ADMIN_TOKEN")
    if env:
        return env
    if args.state_dir:
        path = Path(args.state_dir) / "admin.token"
        try:
            return path.read_text().strip() or None
        except OSError:
            return None
    return None


def api(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One REST call; the decoded JSON, or `Failure` with the daemon's error message."""
    url = args.url.rstrip("/") + path
    data = orjson.dumps(body) if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    token = _token(args)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            return orjson.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
        try:
            err = orjson.loads(raw)["error"]
            message = f"{method} {path}: {exc.code} {err['code']}: {err['message']}"
        except (orjson.JSONDecodeError, KeyError, TypeError):
            err = {"code": "http_error", "message": raw[:200].decode("utf-8", "replace")}
            message = f"{method} {path}: HTTP {exc.code}"
        raise Failure(message, body={"error": err, "status": exc.code}) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Failure(
            f"cannot reach universed at {args.url}: {reason}",
            body={"error": {"code": "unreachable", "message": str(reason)}},
        ) from None


def cmd_status(args: argparse.Namespace) -> Any:
    st = api(args, "GET", "/api/status?limit=0")
    sim = st.get("sim") or {}
    lines = [
        f"universed at {args.url}: tick {st['tick']}, {st['mode']} mode, "
        f"{st['tick_rate']:g} ticks/s set, {st.get('ticks_per_second', 0):g} measured",
        f"seed {st.get('seed')}; probes: {st.get('alive')} alive of {st.get('total')}; "
        f"agents connected: {(st.get('agents') or {}).get('connected', 0)}",
        f"sim: {sim.get('state')} (pid {sim.get('pid')}, {sim.get('restarts', 0)} restarts)",
    ]
    return st, "\n".join(lines)


def _fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def cmd_snapshot(args: argparse.Namespace) -> Any:
    if args.action == "list":
        out = api(args, "GET", "/api/snapshots")
        rows = out.get("snapshots", [])
        if not rows:
            return out, "no snapshots"
        width = max(len(r["tag"]) for r in rows)
        lines = [f"{'tag':<{width}}  {'tick':>10}  {'created':<19}  {'bytes':>10}  hash"]
        for r in rows:
            lines.append(
                f"{r['tag']:<{width}}  {r['tick']:>10}  {_fmt_time(r['created'])}  "
                f"{r['bytes']:>10}  {r['hash']}"
            )
        return out, "\n".join(lines)
    if not args.tag:
        raise Failure(f"snapshot {args.action} needs a TAG", code=2)
    if args.action == "create":
        out = api(args, "POST", "/api/snapshot", {"tag": args.tag})
        return out, f"snapshot {out['snapshot']!r} taken at tick {out['tick']}"
    out = api(args, "POST", "/api/restore", {"tag": args.tag})
    return out, f"restored {out['restored']!r}: the universe is at tick {out['tick']}"


# ------------------------------------------------------------------------------ offline replay


def _progress(args: argparse.Namespace, total: int, label: str) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress(
        f"[bold]{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=args.json or not console.is_terminal or args.quiet,
        transient=True,
    )


async def _run_replay(args: argparse.Namespace, verify: bool) -> dict[str, Any]:
    from ..core.simproc import SimError, SimSupervisor, SimUnavailable, find_sim_binary
    from ..core.store import CorruptJournal, SqliteJournal, replay_journal

    if not args.state_dir:
        raise Failure("--state-dir is required", code=2)
    try:
        journal = SqliteJournal(args.state_dir, readonly=True)
    except CorruptJournal as exc:
        raise Failure(str(exc)) from None
    try:
        cps = journal.checkpoints()
        if not cps:
            raise Failure(f"{journal.path}: no checkpoint recorded yet")
        start = cps[0]
        if args.start == "latest":
            start = cps[-1]
        elif args.start != "oldest":
            try:
                wanted = int(args.start)
            except ValueError:
                raise Failure(
                    f"--from: expected oldest, latest or a checkpoint tick, got {args.start!r}",
                    code=2,
                ) from None
            match = [c for c in cps if c.tick == wanted]
            if not match:
                ticks = ", ".join(str(c.tick) for c in cps)
                raise Failure(f"--from: no checkpoint at tick {wanted} (there are: {ticks})", 2)
            start = match[-1]
        total = journal.count_entries(start.after_seq)
        try:
            binary = find_sim_binary(args.sim or "")
        except FileNotFoundError as exc:
            raise Failure(str(exc)) from None
        sim = SimSupervisor(binary, seed=0, timeout=120.0)
        t0 = time.perf_counter()
        with _progress(args, total, "verify" if verify else "replay") as bar:
            task = bar.add_task("rows", total=total)

            def advance(n: int) -> None:
                bar.advance(task, n)

            async with trio.open_nursery() as nursery:
                await nursery.start(sim.run)
                try:
                    result = await replay_journal(
                        sim.request, journal, start=start, to_tick=args.to_tick, progress=advance
                    )
                    if args.save:
                        await sim.request({"cmd": "save", "path": args.save})
                except (SimError, SimUnavailable) as exc:
                    raise Failure(f"the sim failed during the replay: {exc}") from None
                finally:
                    nursery.cancel_scope.cancel()
        elapsed = time.perf_counter() - t0
    finally:
        journal.close()
    return {
        "ok": result.ok,
        "state_dir": str(args.state_dir),
        "from_tick": start.tick,
        "tick": result.tick,
        "hash": result.hash,
        "ticks_replayed": result.ticks,
        "rows": total,
        "hashes_checked": result.checked,
        "refused_rows": result.refused,
        "mismatches": [{"tick": t, "expected": w, "got": g} for t, w, g in result.mismatches],
        "seconds": round(elapsed, 3),
        "saved": args.save,
    }


def cmd_replay(args: argparse.Namespace, verify: bool = False) -> Any:
    if args.save:
        args.save = os.path.abspath(args.save)  # the sim resolves paths from its own cwd
    out = trio.run(_run_replay, args, verify)
    rate = out["ticks_replayed"] / out["seconds"] if out["seconds"] > 0 else 0.0
    text = (
        f"replayed {out['ticks_replayed']} ticks ({out['rows']} rows) from the checkpoint at tick "
        f"{out['from_tick']} in {out['seconds']:.2f}s ({rate:.0f} ticks/s): tick {out['tick']}, "
        f"hash {out['hash']}; {out['hashes_checked']} recorded hashes checked"
    )
    if out["saved"]:
        text += f"\nsaved the final state to {out['saved']}"
    if out["mismatches"]:
        lines = [
            f"  tick {m['tick']}: expected {m['expected']}, got {m['got']}"
            for m in out["mismatches"][:20]
        ]
        text += f"\nMISMATCH: {len(out['mismatches'])} recorded hashes differ:\n" + "\n".join(lines)
        raise Failure(text, body=out)
    if verify:
        text += "\nverified: the replay reproduces every recorded hash"
    return out, text


def cmd_check_config(args: argparse.Namespace) -> Any:
    from ..core.config import ConfigError, load_config

    flags = {"seed": args.seed, "port": args.port, "state_dir": args.config_state_dir}
    try:
        config = load_config(flags, config_path=args.config)
    except ConfigError as exc:
        raise Failure(
            f"configuration error: {exc}", code=2, body={"ok": False, "error": str(exc)}
        ) from None
    from ..agents.plugins import load_policies, make_plugin_manager

    policies = load_policies(make_plugin_manager(), config.to_json())
    problems = []
    for key in ("fallback_policy", "default_policy", "newborn_policy"):
        name = getattr(config, key)
        if name and name not in policies:
            problems.append(f"{key}: unknown policy {name!r}")
    for table in ("policies", "lineage_policies"):
        for probe, name in getattr(config, table).items():
            if name not in policies:
                problems.append(f"{table}.{probe}: unknown policy {name!r}")
    if problems:
        known = ", ".join(sorted(policies))
        message = "; ".join(problems) + f" (installed policies: {known})"
        source = args.config or os.environ.get("UNIVERSED_CONFIG") or "defaults"
        raise Failure(
            f"configuration error: {source}: {message}",
            code=2,
            body={"ok": False, "error": f"{source}: {message}"},
        )
    source = args.config or os.environ.get("UNIVERSED_CONFIG") or "the embedded defaults"
    return {"ok": True, "config": config.to_json()}, f"{source}: OK"


# ------------------------------------------------------------------------------ parser


def add_client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        default=os.environ.get("UNIVERSED_URL", DEFAULT_URL),
        help=f"the daemon (default $UNIVERSED_URL or {DEFAULT_URL})",
    )
    p.add_argument(
        "--token", help="admin token (default $UNIVERSED_ADMIN_TOKEN, then <state-dir>/admin.token)"
    )
    p.add_argument("--state-dir", help="read the admin token from here")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_replay_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", required=True, help="the daemon's state directory")
    p.add_argument(
        "--from",
        dest="start",
        default="oldest",
        help="start checkpoint: oldest (default), latest, or its tick",
    )
    p.add_argument("--to-tick", type=int, help="stop after this tick")
    p.add_argument("--save", help="save the final state to this file (a sim save file)")
    p.add_argument("--sim", help="the universe-sim binary (default: as the daemon finds it)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="universed", description="universed operator tools")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="tick, mode, sim and agents of a running daemon")
    add_client_flags(p)
    p = sub.add_parser("snapshot", help="list, create or restore named snapshots")
    p.add_argument("action", choices=("list", "create", "restore"))
    p.add_argument("tag", nargs="?", help="snapshot tag (create, restore)")
    add_client_flags(p)
    p = sub.add_parser("replay", help="re-run a state directory's journal in a private sim")
    add_replay_flags(p)
    p = sub.add_parser(
        "verify", help="replay the journal and compare every recorded hash (determinism proof)"
    )
    add_replay_flags(p)
    p = sub.add_parser("check-config", help="validate a configuration (exit 2 if invalid)")
    p.add_argument("--config", help="TOML config file (default $UNIVERSED_CONFIG)")
    p.add_argument("--seed", type=int)
    p.add_argument("--port", type=int)
    p.add_argument("--state-dir", dest="config_state_dir")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


HANDLERS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "status": cmd_status,
    "snapshot": cmd_snapshot,
    "replay": cmd_replay,
    "verify": lambda a: cmd_replay(a, verify=True),
    "check-config": cmd_check_config,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand (``argv`` starts with its name); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        body, text = HANDLERS[args.command](args)
    except Failure as exc:
        if getattr(args, "json", False):
            out = exc.body if exc.body is not None else {"ok": False, "error": str(exc)}
            sys.stdout.write(orjson.dumps(out).decode() + "\n")
        print(f"universed {args.command}: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
