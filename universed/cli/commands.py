"""The ``universed`` command: ``serve`` (the default), ``config``, and the subcommands of
`SUBCOMMANDS` (``agent run``, ``top``, ...), which parse their own arguments."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import trio

from ..core.config import Config, ConfigError, load_config
from ..core.simproc import SimError
from ..core.store import CorruptJournal

__all__ = ["main", "serve"]

log = logging.getLogger("universed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="universed",
        description="Run a persistent, deterministic universe of self-replicating probes.",
        epilog="more commands, each with its own --help: "
        + ", ".join(f"universed {name}" for name in SUBCOMMANDS),
    )
    sub = parser.add_subparsers(dest="command")
    for name, help_text in (
        ("serve", "run the daemon (default)"),
        ("config", "print the effective configuration as JSON and exit"),
    ):
        p = sub.add_parser(name, help=help_text)
        add_flags(p)
    add_flags(parser)
    return parser


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file (also UNIVERSED_CONFIG)")
    p.add_argument("--seed", type=int, help="universe seed (default 42)")
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8000; 0 = any)")
    p.add_argument("--tick-rate", type=float, help="ticks per second in realtime mode")
    p.add_argument("--agent-timeout", type=int, help="agent timeout in milliseconds")
    p.add_argument("--mode", choices=("realtime", "lockstep", "paused"))
    p.add_argument("--state-dir", help="where checkpoints and snapshot files go")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.add_argument(
        "--fork-from",
        metavar="SAVE",
        help="a new state directory starts from this save file or snapshot tag (--seed: the "
        "new event seed)",
    )


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "seed": args.seed,
        "host": args.host,
        "port": args.port,
        "tick_rate": args.tick_rate,
        "agent_timeout_ms": args.agent_timeout,
        "mode": args.mode,
        "state_dir": args.state_dir,
        "log_level": args.log_level,
        "fork_from": args.fork_from,
    }


#: How long SIGTERM waits for the final checkpoint (a tick in progress finishes first).
FINAL_CHECKPOINT_SECONDS = 20.0


async def serve(config: Config, reload: Callable[[], Config] | None = None) -> None:
    """Run the daemon until SIGTERM or SIGINT (final checkpoint, then stop everything, the sim
    child too). SIGHUP re-reads the configuration with ``reload`` and applies what it can."""
    from ..core.notify import Notifier, keepalive
    from ..server.daemon import Daemon, tune_gc, tune_malloc

    tune_malloc()
    notifier = Notifier()
    try:
        daemon = Daemon(config)
    except ValueError as exc:  # e.g. a policy name no installed plugin provides
        raise ConfigError(str(exc)) from None
    engine = daemon.engine
    engine.notifier = notifier
    signums = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    with trio.open_signal_receiver(*signums) as signals:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(daemon.run)
            tune_gc()
            notifier.ready(f"serving on {config.host}:{port}, tick {engine.tick}")
            nursery.start_soon(
                keepalive,
                notifier,
                lambda: engine.mode == "paused" or daemon.sim.state != "running",
            )
            async for signum in signals:
                if signum == signal.SIGHUP:
                    notifier.reloading("reloading the configuration")
                    await reload_config(engine, reload)
                    notifier.ready(engine.status_line())
                    continue
                log.info("received %s; shutting down", signal.Signals(signum).name)
                notifier.stopping(f"stopping at tick {engine.tick}")
                with trio.move_on_after(FINAL_CHECKPOINT_SECONDS):
                    await engine.final_checkpoint()
                log.info("final checkpoint at tick %d", engine.tick)
                nursery.cancel_scope.cancel()
                break
    notifier.close()


async def reload_config(engine: Any, reload: Callable[[], Config] | None) -> None:
    """SIGHUP: re-read the configuration; an invalid one is refused and the old one stays."""
    if reload is None:
        log.warning("SIGHUP: nothing to reload from")
        return
    try:
        new = reload()
        applied, restart = await engine.reload(new)
    except (ConfigError, ValueError) as exc:
        log.error("reload refused: %s; the running configuration stays in force", exc)
        return
    log.warning(
        "configuration reloaded: %s%s",
        ", ".join(applied) if applied else "no changes",
        f"; changed but needing a restart: {', '.join(restart)}" if restart else "",
    )


def _agent_main(argv: list[str]) -> int:
    from ..agents.agentrun import main as agent_main

    return agent_main(argv)


def _mcp_main(argv: list[str]) -> int:
    from ..agents.mcp import main as mcp_main

    return mcp_main(argv)


def _top_main(argv: list[str]) -> int:
    from .top import main as top_main

    return top_main(argv)


def _admin(name: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        from .admin import main as admin_main

        return admin_main([name, *argv])

    return run


def _install_service_main(argv: list[str]) -> int:
    from .service import install_main

    return install_main(argv)


#: subcommands with their own argument parsers: ``universed NAME ...`` -> ``main(rest)``
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "agent": _agent_main,
    "mcp": _mcp_main,
    "top": _top_main,
    **{name: _admin(name) for name in ("status", "snapshot", "replay", "verify", "check-config")},
    "install-service": _install_service_main,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    try:
        config = load_config(flags_of(args), config_path=args.config)
    except ConfigError as exc:
        print(f"universed: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        sys.stdout.write(orjson.dumps(config.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        trio.run(serve, config, lambda: load_config(flags_of(args), config_path=args.config))
    except (FileNotFoundError, SimError, CorruptJournal, ConfigError, BaseExceptionGroup) as exc:
        leaf: BaseException = exc
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, ConfigError):
            print(f"universed: configuration error: {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, FileNotFoundError):
            print(f"universed: {leaf}", file=sys.stderr)
        elif isinstance(leaf, SimError | CorruptJournal):
            print(f"universed: cannot start from the state directory: {leaf}", file=sys.stderr)
        else:
            raise
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
