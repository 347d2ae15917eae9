"""Soak test: many WebSocket agents acting, misbehaving and leaving at random (``make soak``).

``python -m devtools.soak [--agents 1000] [--minutes 10]`` runs:

* a daemon in a subprocess (``serve``, lockstep mode, agent tokens, tight limits) whose sim is
  populated with one probe per agent;
* the agents in other subprocesses (``agents``): each owns one probe through its own token and
  answers every observation. At random (``--misbehave-per-s`` events per second, all agents
  together) one misbehaves: it vanishes without a close, sends garbage, registers someone else's
  probe, sends an oversized message, floods, goes silent (only the heartbeat can reap it), or
  sends a frame with a bad opcode; then it reconnects;
* the orchestrator samples the RSS of the daemon and the sim every ``--sample-s`` seconds.

Verdicts: **no tick lost** (every agent connection saw consecutive tick numbers from its
registration to its end, and the daemon's tick advanced), **RSS bounded** (the last quarter's
peak is within 20 % + 16 MiB of the second quarter's), **expected outcomes** (each misbehaviour
met its limit: error frame, close code, reaping) and **a clean log** (no ERROR, no traceback).
Exit status 0 only if all hold. The report is printed as text (with the RSS curve).

`RawWebSocket` is a minimal client that can also send broken frames; the fuzz tests use it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from universed.agents.client import http_exchange
from universed.server.wstransport import OP_BIN, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, unmask

__all__ = ["HandshakeRefused", "RawWebSocket", "main"]

ADMIN_TOKEN = "soak-admin-token-" + "0" * 16
MISBEHAVIOURS = ("vanish", "garbage", "steal", "oversize", "flood", "silent", "bad_opcode")


# ------------------------------------------------------------------------------ raw client


class HandshakeRefused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """A client frame (masked unless told otherwise)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + unmask(payload, key)


class RawWebSocket:
    """A bare client WebSocket over trio: sends anything, parses server frames, answers pings."""

    def __init__(self, stream: trio.SocketStream, rest: bytes, *, auto_pong: bool = True) -> None:
        self.stream = stream
        self._buf = bytearray(rest)
        self.auto_pong = auto_pong
        self.close_code: int | None = None
        self.closed = False

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str = "/ws",
        *,
        host: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        auto_pong: bool = True,
    ) -> RawWebSocket:
        """Open and upgrade.

        Raises:
            HandshakeRefused: the server answered something else than 101.
            OSError: connection refused.
        """
        stream = await trio.open_tcp_stream(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n"
        ).encode()
        try:
            await stream.send_all(head)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise HandshakeRefused(0, buf)
                buf += chunk
            reply, _, rest = buf.partition(b"\r\n\r\n")
            status = int(reply.split(b" ", 2)[1])
            if status != 101:
                match = re.search(rb"content-length: *(\d+)", reply.lower())
                want = int(match.group(1)) if match else 0
                while len(rest) < want:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    rest += chunk
                raise HandshakeRefused(status, rest)
        except BaseException:
            await stream.aclose()
            raise
        return cls(stream, rest, auto_pong=auto_pong)

    async def send(self, payload: bytes | str, opcode: int = OP_TEXT, *, fin: bool = True) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        await self.stream.send_all(client_frame(opcode, data, fin=fin))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    def _parse_one(self) -> tuple[int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        length = buf[1] & 0x7F
        head = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, head = struct.unpack("!H", buf[2:4])[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, head = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < head + length:
            return None
        opcode = buf[0] & 0x0F
        payload = bytes(buf[head : head + length])
        del buf[: head + length]
        return opcode, payload

    async def recv(self) -> tuple[int, bytes] | None:
        """The next data or close frame (pings are answered when ``auto_pong``); None at EOF."""
        while True:
            got = self._parse_one()
            if got is not None:
                opcode, payload = got
                if opcode == OP_PING:
                    if self.auto_pong:
                        with contextlib.suppress(
                            trio.BrokenResourceError, trio.ClosedResourceError
                        ):
                            await self.send(payload, OP_PONG)
                    continue
                if opcode == OP_PONG:
                    continue
                if opcode == OP_CLOSE:
                    self.closed = True
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.close_code = code
                return opcode, payload
            if self.closed:
                return None
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.closed = True
                return None
            self._buf += data

    async def recv_json(self) -> dict[str, Any] | None:
        """The next text message decoded (None when the connection ended)."""
        while True:
            got = await self.recv()
            if got is None or got[0] == OP_CLOSE:
                return None
            if got[0] in (OP_TEXT, OP_BIN):
                obj: dict[str, Any] = orjson.loads(got[1])
                return obj

    async def close(self, code: int = 1000) -> None:
        try:
            with trio.move_on_after(2):
                await self.send(struct.pack("!H", code), OP_CLOSE)
                while await self.recv() is not None and not self.closed:
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await self.stream.aclose()

    async def abort(self) -> None:
        """Vanish: close the socket without a WebSocket close."""
        await self.stream.aclose()


# ------------------------------------------------------------------------------ agents


class Stats:
    def __init__(self) -> None:
        self.sessions = 0
        self.observations = 0
        self.gaps: list[tuple[str, int, int]] = []
        self.misbehaved: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # "<kind>:<what happened>"
        self.refused_connects: Counter[str] = Counter()
        self.first_tick: int | None = None
        self.last_tick = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "observations": self.observations,
            "gaps": self.gaps[:50],
            "gap_count": len(self.gaps),
            "misbehaved": dict(self.misbehaved),
            "outcomes": dict(self.outcomes),
            "refused_connects": dict(self.refused_connects),
            "first_tick": self.first_tick,
            "last_tick": self.last_tick,
        }


@attrs.define(eq=False)
class SoakAgent:
    """One agent: connect, register its probe, act on every observation, misbehave at random."""

    port: int
    probe: str
    token: str
    others: Sequence[str]
    stats: Stats
    rng: random.Random
    mean_between: float = attrs.field(kw_only=True)
    max_message: int = attrs.field(kw_only=True)
    flood: int = attrs.field(kw_only=True)
    #: the last tick observed on the current connection
    last: int | None = attrs.field(default=None, init=False)
    gone: bool = attrs.field(default=False, init=False)  # its probe was destroyed: it stops

    def observed(self, tick: int) -> None:
        """Account one observation: a tick that is not the previous one + 1 is a lost tick."""
        stats = self.stats
        stats.observations += 1
        if stats.first_tick is None:
            stats.first_tick = tick
        stats.last_tick = max(stats.last_tick, tick)
        if self.last is not None and tick != self.last + 1:
            stats.gaps.append((self.probe, self.last, tick))
        self.last = tick

    def _next_misbehaviour(self) -> float:
        return trio.current_time() + self.rng.expovariate(1.0 / self.mean_between)

    async def run(self) -> None:
        await trio.sleep(self.rng.random() * 5)  # stagger the first connections
        while not self.gone:  # until the universe destroys the agent's probe
            try:
                await self.session()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                self.stats.outcomes["connection:broken"] += 1
            except HandshakeRefused as exc:
                self.stats.refused_connects[str(exc.status)] += 1
            await trio.sleep(0.2 + self.rng.random())

    async def session(self) -> None:
        stats = self.stats
        ws = await RawWebSocket.connect(self.port, f"/ws?token={self.token}")
        stats.sessions += 1
        try:
            await ws.send(
                orjson.dumps({"type": "register", "probe_id": self.probe, "shape": "readable"})
            )
            reply = await ws.recv_json()
            if reply is None or reply.get("type") != "registered":
                code = reply and reply.get("code")
                if code == "unknown_probe":  # destroyed while we were away: a game event
                    self.gone = True
                    stats.outcomes["probe_destroyed:at_register"] += 1
                    return
                stats.outcomes[f"register:{code}"] += 1
                return
            due = self._next_misbehaviour()
            self.last = None
            while True:
                msg = await ws.recv_json()
                if msg is None:
                    stats.outcomes[f"ended:{ws.close_code}"] += 1
                    return
                kind = msg.get("type")
                if kind == "error":
                    if msg.get("code") == "not_controlled":
                        # an action that crossed its probe's death (seen in long runs)
                        stats.outcomes["probe_destroyed:action_refused"] += 1
                        continue
                    stats.outcomes[f"unexpected_error:{msg.get('code')}"] += 1
                    continue
                if kind != "observe":
                    continue
                tick = int(msg["tick"])
                self.observed(tick)
                if msg.get("status") == "destroyed":
                    self.gone = True
                    stats.outcomes["probe_destroyed:observed"] += 1
                    return
                if trio.current_time() >= due:
                    if await self.misbehave(ws):
                        return  # the misbehaviour ended this connection
                    due = self._next_misbehaviour()
                await ws.send(b'{"action":"survey"}' if tick % 3 else b'{"action":"wait"}')
        finally:
            await ws.abort()

    async def misbehave(self, ws: RawWebSocket) -> bool:
        """Misbehave once; True if the connection is over."""
        kind = self.rng.choice(MISBEHAVIOURS)
        self.stats.misbehaved[kind] += 1
        out = self.stats.outcomes
        if kind == "vanish":
            await ws.abort()
            out["vanish:gone"] += 1
            return True
        if kind in ("garbage", "steal"):
            if kind == "garbage":
                junk = [b"{", b"[]", b'{"action":"teleport"}', os.urandom(20).hex().encode()]
                await ws.send(self.rng.choice(junk))
            else:
                victim = self.probe
                while victim == self.probe:
                    victim = self.rng.choice(self.others)
                await ws.send(
                    orjson.dumps({"type": "register", "probe_id": victim, "shape": "readable"})
                )
            with trio.move_on_after(10):
                while True:
                    msg = await ws.recv_json()
                    if msg is None:
                        out[f"{kind}:closed"] += 1
                        return True
                    if msg.get("type") == "error":
                        out[f"{kind}:error:{msg.get('code')}"] += 1
                        return False
                    # an observation may come first: answer it so the tick is not held up
                    if msg.get("type") == "observe":
                        self.observed(int(msg["tick"]))
                        await ws.send(b'{"action":"wait"}')
            out[f"{kind}:no_reply"] += 1
            return False
        if kind == "oversize":
            await ws.send(b"x" * (self.max_message + 1))
        elif kind == "flood":
            await ws.send_raw(client_frame(OP_TEXT, b'{"action":"wait"}') * self.flood)
        elif kind == "bad_opcode":
            await ws.send(b"??", opcode=0x3)
        elif kind == "silent":
            # read nothing, send nothing: only the heartbeat can tell this connection is dead
            with trio.move_on_after(120):
                await _wait_peer_closed(ws)
        codes: list[str] = []
        with trio.move_on_after(150):
            while True:
                got = await ws.recv()
                if got is None:
                    break
                if got[0] == OP_TEXT:
                    msg = orjson.loads(got[1])
                    if msg.get("type") == "error":
                        codes.append(str(msg.get("code")))
                elif got[0] == OP_CLOSE:
                    codes.append(f"close{ws.close_code}")
        out[f"{kind}:{'+'.join(dict.fromkeys(codes)) or 'eof'}"] += 1
        return True


async def _wait_peer_closed(ws: RawWebSocket) -> None:
    """Without reading the socket's data, wait until the peer closed it (EOF or RST)."""
    poller = select.poll()
    poller.register(ws.stream.socket.fileno(), select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    while True:  # a condition trio cannot wait on: poll it
        if poller.poll(0):
            return
        await trio.sleep(0.5)


async def run_agents(args: argparse.Namespace) -> None:
    spec = orjson.loads(await trio.Path(args.spec).read_bytes())
    probes: list[str] = spec["probes"]
    tokens: list[str] = spec["tokens"]
    mine = range(args.first, min(args.first + args.count, len(probes)))
    stats = Stats()
    rng = random.Random(args.seed)
    mean_between = len(probes) / args.misbehave_per_s
    with trio.move_on_after(args.seconds):
        async with trio.open_nursery() as nursery:
            for i in mine:
                agent = SoakAgent(
                    args.port,
                    probes[i],
                    tokens[i],
                    probes,
                    stats,
                    random.Random(rng.random()),
                    mean_between=mean_between,
                    max_message=spec["max_message"],
                    flood=spec["flood"],
                )
                nursery.start_soon(agent.run)
    await trio.Path(args.result).write_bytes(orjson.dumps(stats.to_json()))


# ------------------------------------------------------------------------------ daemon side


async def serve(args: argparse.Namespace) -> None:
    """The daemon subprocess: the soak config, a populated sim, the port on stdout."""
    from universed.core.config import load_config
    from universed.server.daemon import Daemon

    config = load_config({"port": 0}, config_path=args.config, environ={})
    daemon = Daemon(config, sim_args=("--populate", str(args.populate)))
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(daemon.run)
            print(f"SOAK-PORT {port} SIM-PID {daemon.sim.pid}", flush=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def soak_config(
    state_dir: Path, tokens: dict[str, tuple[str, str]], *, agent_timeout_ms: int, max_message: int
) -> str:
    """The daemon's TOML config: lockstep, agent tokens, tight limits."""
    top = {
        "mode": "lockstep",
        "agent_timeout_ms": agent_timeout_ms,
        "state_dir": str(state_dir),
        "checkpoint_every": 50,  # the in-memory journal between checkpoints is the big item
        "log_level": "info",
        "max_message_bytes": max_message,
        "admin_token": ADMIN_TOKEN,
        "auth_agents": "token",
        "max_connections": 4096,
        "max_connections_per_address": 2048,
        "ws_messages_per_second": 100.0,
        "ws_message_burst": 200,
        "ping_interval_ms": 2000,
        "ping_timeout_ms": 2000,
    }
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for name, (token, probe) in tokens.items():
        lines.append(f'[agent_tokens.{name}]\ntoken = "{token}"\nprobes = ["{probe}"]')
    return "\n".join(lines) + "\n"


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def http_json(port: int, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    status, _, body = await http_exchange("127.0.0.1", port, method, path, token=token)
    return status, orjson.loads(body) if body else None


START_MARK = "--- soak: starting the daemon ---"
STOP_MARK = "--- soak: stopping the daemon ---"


def scan_log(path: Path) -> tuple[Counter[str], list[str]]:
    """Of the last daemon run: counts by level, and the error lines (ERROR, CRITICAL,
    tracebacks) before it was told to stop."""
    levels: Counter[str] = Counter()
    bad: list[str] = []
    stopping = False
    lines = path.read_text(errors="replace").splitlines()
    if START_MARK in lines:
        lines = lines[len(lines) - lines[::-1].index(START_MARK) :]
    for line in lines:
        if line == STOP_MARK:
            stopping = True
            continue
        match = re.search(r" (DEBUG|INFO|WARNING|ERROR|CRITICAL) ", line)
        level = match.group(1) if match else ("traceback" if line.startswith("Traceback") else "")
        if not level:
            continue
        levels[("shutdown " if stopping else "") + level] += 1
        if level in ("ERROR", "CRITICAL", "traceback") and not stopping:
            bad.append(line)
    return levels, bad


Sample = tuple[float, int, float, int, int, int]  # time, tick, ticks/s, daemon KiB, sim KiB, agents


class Daemon:
    """The daemon subprocess (``python -m devtools.soak serve``)."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.log_path = work / "daemon.log"
        self.proc: trio.Process | None = None
        self.port = 0

    async def start(self, tokens: dict[str, tuple[str, str]], mode: str = "lockstep") -> None:
        args = self.args
        cfg = self.work / "soak.toml"
        text = soak_config(
            self.work / "state",
            tokens,
            agent_timeout_ms=args.agent_timeout_ms,
            max_message=args.max_message,
        ).replace('mode = "lockstep"', f"mode = {mode!r}".replace("'", '"'))
        await trio.Path(cfg).write_text(text)
        cmd = [sys.executable, "-m", "devtools.soak", "serve", "--config", str(cfg)]
        cmd += ["--populate", str(args.agents)]
        with open(self.log_path, "ab") as log:  # noqa: ASYNC230 (a file for the child's stderr)
            log.write(START_MARK.encode() + b"\n")
            log.flush()
            self.proc = await trio.lowlevel.open_process(
                cmd, stdout=subprocess.PIPE, stderr=log, env=_child_env()
            )
        assert self.proc.stdout is not None
        line = b""
        with trio.move_on_after(120):
            while not line.endswith(b"\n"):
                chunk = await self.proc.stdout.receive_some(4096)
                if not chunk:
                    break
                line += chunk
        match = re.match(rb"SOAK-PORT (\d+)", line)
        if not match:
            await self.stop()
            tail = (await trio.Path(self.log_path).read_text())[-3000:]
            raise SystemExit(f"soak: the daemon did not start; {self.log_path}:\n{tail}")
        self.port = int(match.group(1))

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with open(self.log_path, "a") as log:  # noqa: ASYNC230
            log.write(STOP_MARK + "\n")
        proc.send_signal(signal.SIGTERM)
        with trio.move_on_after(20):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def get(self, path: str) -> Any:
        status, body = await http_json(self.port, "GET", path, ADMIN_TOKEN)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        return body


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("UNIVERSED_")}


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    totals = Stats().to_json()
    totals["gaps"] = []
    for r in results:
        for key in ("sessions", "observations", "gap_count"):
            totals[key] += r[key]
        totals["gaps"] += r["gaps"]
        for key in ("misbehaved", "outcomes", "refused_connects"):
            for k, v in r[key].items():
                totals[key][k] = totals[key].get(k, 0) + v
    return totals


async def orchestrate(args: argparse.Namespace) -> int:
    agents = args.agents
    seconds = args.minutes * 60.0
    work = Path(tempfile.mkdtemp(prefix="universed-soak-"))
    (work / "state").mkdir()
    daemon = Daemon(work, args)
    names = [f"a{i}" for i in range(agents)]
    secrets_ = {name: f"soak-{name}-" + os.urandom(12).hex() for name in names}

    # 1. the probe ids of the populated universe (a first start, paused, without agent tokens)
    await daemon.start({}, mode="paused")
    try:
        listing = await daemon.get(f"/api/probes?limit={agents}")
    finally:
        await daemon.stop()
    probes = [row["id"] for row in listing["probes"]][:agents]
    if len(probes) < agents:
        print(f"soak: the populated sim has only {len(probes)} probes", file=sys.stderr)
        return 2
    shutil.rmtree(work / "state")  # the run starts from tick 0 again
    (work / "state").mkdir()

    # 2. the run
    await daemon.start({name: (secrets_[name], probes[i]) for i, name in enumerate(names)})
    spec = work / "agents.json"
    await trio.Path(spec).write_bytes(
        orjson.dumps(
            {
                "probes": probes,
                "tokens": [secrets_[name] for name in names],
                "max_message": args.max_message,
                "flood": 600,
            }
        )
    )
    per = -(-agents // args.processes)
    results = [work / f"agents-{k}.json" for k in range(args.processes)]
    samples: list[Sample] = []
    died = False
    try:
        async with trio.open_nursery() as nursery:
            for k in range(args.processes):
                cmd = [sys.executable, "-m", "devtools.soak", "agents"]
                cmd += [
                    "--port",
                    str(daemon.port),
                    "--spec",
                    str(spec),
                    "--seed",
                    str(args.seed + k),
                ]
                cmd += ["--first", str(k * per), "--count", str(per), "--seconds", str(seconds)]
                cmd += ["--misbehave-per-s", str(args.misbehave_per_s), "--result", str(results[k])]
                nursery.start_soon(partial(trio.run_process, cmd, env=_child_env(), check=False))
            died = await sample(daemon, args, seconds, samples)
        final = await daemon.get("/api/state")
        restarts = (await daemon.get("/api/status?limit=0"))["sim"]["restarts"]
    finally:
        await daemon.stop()
    loaded = [orjson.loads(await trio.Path(r).read_bytes()) for r in results if r.exists()]
    levels, bad = scan_log(daemon.log_path)
    totals = _merge(loaded)
    verdicts = judge(args, samples, totals, bad, restarts, len(loaded), died)
    print_report(args, samples, totals, levels, bad, final, restarts, daemon.log_path, verdicts)
    return 0 if all(verdicts.values()) else 1


async def sample(
    daemon: Daemon, args: argparse.Namespace, seconds: float, samples: list[Sample]
) -> bool:
    """Sample tick, rate and RSS until the run is over; True if the daemon died."""
    assert daemon.proc is not None
    t0 = trio.current_time()
    sim_pid = 0
    while trio.current_time() - t0 < seconds + 5:
        await trio.sleep(args.sample_s)
        if daemon.proc.returncode is not None:
            print("soak: the daemon died", file=sys.stderr)
            return True
        status = await daemon.get("/api/status?limit=0")
        sim_pid = status["sim"]["pid"] or sim_pid
        row: Sample = (
            trio.current_time() - t0,
            status["tick"],
            status["ticks_per_second"],
            rss_kib(daemon.proc.pid) or 0,
            rss_kib(sim_pid) or 0,
            status["agents"]["connected"],
        )
        samples.append(row)
        print(
            f"  t={row[0]:6.0f}s tick={row[1]:>7} tps={row[2]:7.1f} "
            f"daemon={row[3]} KiB sim={row[4]} KiB agents={row[5]}",
            flush=True,
        )
    return False


def _bounded(values: list[int]) -> bool:
    """The last quarter's peak is within 20 % + 16 MiB of the second quarter's."""
    values = [v for v in values if v]
    if len(values) < 8:
        return False
    q = len(values) // 4
    return max(values[-q:]) <= 1.2 * max(values[q : 2 * q]) + 16 * 1024


UNEXPECTED = re.compile(
    r"^(unexpected_error|register:|garbage:(no_reply|closed)|steal:(no_reply|closed|error:(?!forbidden))"
    r"|oversize:(?!.*close1009)|flood:(?!rate_limited)|bad_opcode:(?!.*close1002)"
    r"|silent:(?!.*close))"
)


def judge(
    args: argparse.Namespace,
    samples: list[Sample],
    totals: dict[str, Any],
    bad: list[str],
    restarts: int,
    workers_ok: int,
    died: bool,
) -> dict[str, bool]:
    ticks = samples[-1][1] - samples[0][1] if len(samples) >= 2 else 0
    unexpected = {k: v for k, v in totals["outcomes"].items() if UNEXPECTED.match(k)}
    totals["unexpected"] = unexpected
    return {
        "no tick lost": totals["gap_count"] == 0 and ticks > 0 and restarts == 0 and not died,
        "daemon RSS bounded": _bounded([s[3] for s in samples]),
        "sim RSS bounded": _bounded([s[4] for s in samples]),
        "expected outcomes": not unexpected and workers_ok == args.processes,
        "clean log": not bad,
    }


def print_report(
    args: argparse.Namespace,
    samples: list[Sample],
    totals: dict[str, Any],
    levels: Counter[str],
    bad: list[str],
    final: dict[str, Any],
    restarts: int,
    log_path: Path,
    verdicts: dict[str, bool],
) -> None:
    out = print
    out(
        f"\nsoak: {args.agents} agents, {args.minutes:g} min, lockstep, "
        f"misbehaviour {args.misbehave_per_s:g}/s, agent timeout {args.agent_timeout_ms} ms"
    )
    out("\n  time(s)    tick  ticks/s  daemon RSS(MiB)  sim RSS(MiB)  agents")
    step = max(1, len(samples) // 30)
    rows = samples[::step]
    if samples and rows[-1] is not samples[-1]:
        rows.append(samples[-1])
    for t, tick, tps, d, m, n in rows:
        out(f"  {t:7.0f} {tick:7d} {tps:8.1f} {d / 1024:16.1f} {m / 1024:13.1f} {n:7d}")
    ticks = samples[-1][1] - samples[0][1] if len(samples) >= 2 else 0
    out(
        f"\n  ticks: {ticks} during sampling, final tick {final.get('tick')}, "
        f"sim restarts {restarts}"
    )
    out(
        f"  agent connections: {totals['sessions']}, observations: {totals['observations']}, "
        f"tick gaps: {totals['gap_count']} {totals['gaps'][:5]}"
    )
    out(f"  misbehaviours: {dict(sorted(totals['misbehaved'].items()))}")
    out(f"  outcomes: {dict(sorted(totals['outcomes'].items()))}")
    if totals["refused_connects"]:
        out(f"  refused connects: {totals['refused_connects']}")
    if totals.get("unexpected"):
        out(f"  UNEXPECTED: {totals['unexpected']}")
    out(f"  daemon log ({log_path}): {dict(levels)}")
    for line in bad[:10]:
        out(f"    {line}")
    out("")
    for name, ok in verdicts.items():
        out(f"  {'PASS' if ok else 'FAIL'}  {name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.soak", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=1, help="agent processes")
    parser.add_argument("--misbehave-per-s", type=float, default=1.0)
    parser.add_argument("--agent-timeout-ms", type=int, default=500)
    parser.add_argument("--max-message", type=int, default=65536)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    sub = parser.add_subparsers(dest="role")
    s = sub.add_parser("serve")
    s.add_argument("--config", required=True)
    s.add_argument("--populate", type=int, default=1)
    a = sub.add_parser("agents")
    for name in ("--port", "--first", "--count", "--seed"):
        a.add_argument(name, type=int, required=True)
    a.add_argument("--spec", required=True)
    a.add_argument("--result", required=True)
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("--misbehave-per-s", type=float, default=1.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role == "serve":
        import logging

        logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        trio.run(serve, args)
        return 0
    if args.role == "agents":
        trio.run(run_agents, args)
        return 0
    return trio.run(orchestrate, args)


if __name__ == "__main__":
    sys.exit(main())
