"""Daemon benchmark (``make bench`` / ``python -m universed.bench``): lockstep ticks per second.

Every figure is also given as a ratio to the raw sim pipe rate measured in the same run (a bare
trio loop sending ``tick`` and reading the reply line, same probe count, no JSON parsing).

Scenarios: no agents; one in-process policy; 1, 100 and 1,000 WebSocket agents (one bench client
process on 127.0.0.1 holding all the connections in one epoll loop, answering every observation
at once; fleets: a trio client with one task per fleet connection). The
daemon runs in this process in lockstep mode. "Overhead" is the time the daemon spends per tick
in its tick step beyond the sim's own reply time (gathering actions, parsing the reply, routing
observations to agents, the dashboard, the journal): p50 and p99.

``python -m universed.bench --client N PORT`` is the agent side (run by the bench itself).
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import time
from typing import Any

import orjson
import trio

from universed.core.config import load_config
from universed.core.messages import split_tick_reply
from universed.core.simproc import READ_SIZE, find_sim_binary, open_sim
from universed.server.daemon import Daemon, tune_gc, tune_malloc
from universed.server.wstransport import OP_TEXT, frame_head

ACTION = b'{"action":"wait"}'
MASKED_ACTION = bytes((0x81, 0x80 | len(ACTION))) + b"\0\0\0\0" + ACTION  # zero mask
#: the agents' side of the bench, run as a child: ``BENCH_CLIENT + (N, PORT, ...)``
BENCH_CLIENT = (sys.executable, "-m", "universed.bench", "--client")


async def reply_line(stdout: trio.SocketStream) -> bytes:
    """The sim's next reply line (without its newline), read as the daemon reads it: one
    request in flight, so the reply ends the chunk; the chunks joined once."""
    chunks = []
    while True:
        chunk = await stdout.receive_some(READ_SIZE)
        if not chunk:
            raise RuntimeError("the sim closed its stdout")
        pos = chunk.find(b"\n")
        if pos >= 0:
            chunks.append(chunk[:pos])
            return b"".join(chunks)
        chunks.append(chunk)


async def stop_sim(proc: trio.Process, stdin: trio.SocketStream, stdout: trio.SocketStream) -> None:
    await stdin.send_all(b'{"cmd":"quit"}\n')
    await proc.wait()
    await stdin.aclose()
    await stdout.aclose()


async def raw_pipe_rate(probes: int, seconds: float, detail: str = "full") -> float:
    """Ticks/s of the bare sim pipe, observing every probe at ``detail`` (no daemon).

    The sim is started and read as the daemon's (`simproc.open_sim`): the same socket pair for
    its standard streams, each reply line found in the newest chunk and joined once."""
    args = [str(find_sim_binary()), "--pipe", "--populate", str(probes)]
    proc, stdin, stdout = await open_sim(args, stderr=subprocess.DEVNULL)
    line = b'{"cmd":"tick","actions":{},"detail":"%s"}\n' % detail.encode()
    count = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        await stdin.send_all(line)
        await reply_line(stdout)
        count += 1
    rate = count / (time.perf_counter() - t0)
    await stop_sim(proc, stdin, stdout)
    return rate


async def relay_floor_rate(probes: int, seconds: float, detail: str = "full") -> float:
    """Ticks/s of the least a Python host can do per agent: the same engine and the same bench
    client (one connection per probe), with a bare relay in between that does only what no
    host can skip, per tick: send ``tick``, read the reply, cut it by its observation lengths,
    write each observation to its connection (one ``writev``), read one message from each.
    No parsing, no checks, no window, no journal, no ledger. What the daemon adds to this is
    its own cost; what this adds to the raw pipe is the cost of the agents' sockets and client.
    """
    import socket

    args = [str(find_sim_binary()), "--pipe", "--populate", str(probes)]
    proc, stdin, stdout = await open_sim(args, stderr=subprocess.DEVNULL)
    await stdin.send_all(b'{"cmd":"config","data":{"hazard_damage_scale":0}}\n')  # as the daemon's
    await reply_line(stdout)
    listener = socket.create_server(("127.0.0.1", 0), backlog=probes + 16)
    port = listener.getsockname()[1]
    client = await trio.lowlevel.open_process(
        [*BENCH_CLIENT, str(probes), str(port), "--detail", detail],
        stdout=subprocess.PIPE,
    )
    fds: list[int] = []
    conns: list[socket.socket] = []
    try:
        for _ in range(probes):  # the client connects and registers in probe order
            conn = (await trio.to_thread.run_sync(listener.accept))[0]
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = b""
            while b"\r\n\r\n" not in head:
                head += await trio.to_thread.run_sync(conn.recv, 4096)
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
            )
            conn.setblocking(False)
            conns.append(conn)
            fds.append(conn.fileno())
        assert client.stdout is not None
        await client.stdout.receive_some(64)  # "ready": every registration was sent
        poller = select.epoll()
        for fd in fds:
            poller.register(fd, select.EPOLLIN)
        for fd in fds:  # the registrations
            await trio.lowlevel.wait_readable(fd)
            os.read(fd, 65536)
        line = b'{"cmd":"tick","actions":{},"detail":"%s","observation_lens":true}\n' % (
            detail.encode()
        )
        count = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await stdin.send_all(line)
            split = split_tick_reply(await reply_line(stdout))
            assert split is not None
            tail = b',"tick":%d}' % (count + 1)
            sent = 0
            for fd, piece in zip(fds, split[1], strict=False):  # every probe lives (no hazards)
                body = piece[:-1]
                os.writev(fd, (frame_head(OP_TEXT, len(body) + len(tail)), body, tail))
                sent += 1
            answered = 0  # the client answers each observation with one frame, in one send
            while answered < sent:
                await trio.lowlevel.wait_readable(poller.fileno())
                for fd, _ in poller.poll(0):
                    if not os.read(fd, 65536):
                        raise RuntimeError("the bench client closed a connection")
                    answered += 1
            count += 1
        return count / (time.perf_counter() - t0)
    finally:
        client.kill()
        await client.wait()
        for conn in conns:
            conn.close()
        listener.close()
        await stop_sim(proc, stdin, stdout)


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, every thread) of process ``pid`` so far; None where /proc
    cannot tell (not Linux, process gone)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


async def run_scenario(
    name: str,
    probes: int,
    agents: int,
    policy: bool,
    seconds: float,
    detail: str = "full",
    fleets: int = 0,
    delta: bool = False,
) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "port": 0,
        "mode": "lockstep",
        "agent_timeout_ms": 5000,
        "log_level": "warning",
        "fallback_policy": "wait",
        "sim_config": {"hazard_damage_scale": 0},
    }
    if policy:
        overrides["policies"] = {"1-1": "fallback"}
    if agents:
        overrides["mode"] = "paused"  # until every agent has registered
    config = load_config(overrides, environ={})
    daemon = Daemon(config, sim_args=("--populate", str(probes)))
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run)
        client = None
        if agents:
            client = await trio.lowlevel.open_process(
                [
                    *BENCH_CLIENT,
                    str(agents),
                    str(daemon.port),
                    "--detail",
                    detail,
                    "--fleets",
                    str(fleets),
                    *(["--delta"] if delta else []),
                ],
                stdout=subprocess.PIPE,
            )
            assert client.stdout is not None
            ready = await client.stdout.receive_some(64)
            assert ready.startswith(b"ready"), ready
            # the client is ready once its registrations are sent; the daemon registers them in
            # turn (at 100,000 probes, many seconds): measure ticks, not registration
            registry = daemon.engine.registry
            with trio.fail_after(300):
                while sum(len(r.probes) for r in registry.remotes.values()) < agents:  # noqa: ASYNC110
                    await trio.sleep(0.1)
            daemon.engine.set_mode("lockstep")
        await trio.sleep(0.5)  # warm up
        engine = daemon.engine
        engine.overhead_ns.clear()
        # where the time goes: CPU of the daemon (this process), the sim, the agents' client
        pids = {"daemon": os.getpid(), "sim": engine.sim.pid, "client": client and client.pid}
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        t0, tick0 = time.perf_counter(), engine.tick
        await trio.sleep(seconds)
        ticks = engine.tick - tick0
        elapsed = time.perf_counter() - t0
        cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        cpu_ms = {
            name: round((end - start) * 1000 / max(ticks, 1), 3)
            for name, start in cpu0.items()
            if start is not None and (end := cpu1[name]) is not None
        }
        overhead = list(engine.overhead_ns)
        if client is not None:
            client.kill()
            await client.wait()
            assert client.stdout is not None
            await client.stdout.aclose()
        nursery.cancel_scope.cancel()
    return {
        "name": name,
        "probes": probes,
        "ticks_per_second": ticks / elapsed,
        "overhead_p50_ms": percentile(overhead, 0.50),
        "overhead_p99_ms": percentile(overhead, 0.99),
        "overhead_mean_ms": statistics.fmean(overhead) / 1e6 if overhead else 0.0,
        "cpu_ms_per_tick": cpu_ms,
    }


# ----------------------------------------------------------------------------- bench client


def masked(payload: bytes) -> bytes:
    """One client text frame (zero mask) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def epoll_client(count: int, port: int, detail: str) -> None:
    """One connection per probe, served by a single ``epoll`` loop.

    The agent side of the bench must cost far less than the daemon side, or the figure measures
    the client: a trio task per connection costs about as much per message as the daemon does, so
    the 1,000-agent client is a plain readiness loop (Linux).
    """
    import select
    import socket

    sockets: dict[int, tuple[socket.socket, bytearray]] = {}
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: YmVuY2hiZW5jaGJlbmNoIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        reg = b'{"type":"register","probe_id":"1-%d","detail":"%s","shape":"readable"}' % (
            i + 1,
            detail.encode(),
        )
        sock.sendall(masked(reg))
        sock.setblocking(False)
        sockets[sock.fileno()] = (sock, bytearray(head.split(b"\r\n\r\n", 1)[1]))
    poller = select.epoll()
    for fd in sockets:
        poller.register(fd, select.EPOLLIN)
    sys.stdout.buffer.write(b"ready\n")
    sys.stdout.flush()
    while True:
        for fd, _ in poller.poll():
            sock, buf = sockets[fd]
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                return
            buf += data
            replies = scan_frames(buf)
            if replies:
                sock.sendall(MASKED_ACTION * replies)


def scan_frames(buf: bytearray) -> int:
    """Drop the complete server frames at the start of ``buf``; how many were observations."""
    pos = 0
    replies = 0
    while len(buf) - pos >= 2:
        n = buf[pos + 1] & 0x7F
        head = 2
        if n == 126:
            if len(buf) - pos < 4:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            head = 4
        elif n == 127:
            if len(buf) - pos < 10:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = 10
        if len(buf) - pos < head + n:
            break
        if buf[pos + head : pos + head + 16].startswith(b'{"type":"observe'):
            replies += 1
        pos += head + n
    del buf[:pos]
    return replies


async def fleet_client(
    count: int, port: int, detail: str, fleets: int, delta: bool = False
) -> None:
    per = count // fleets
    conns = []
    for f in range(fleets):
        ids = [f"1-{f * per + i + 1}" for i in range(per)]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: YmVuY2hiZW5jaGJlbmNoIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(4096)
        reg: dict[str, Any] = {
            "type": "register",
            "probe_ids": ids,
            "detail": detail,
            "shape": "readable",
        }
        if delta:
            reg["delta"] = True
        await stream.send_all(masked(orjson.dumps(reg)))
        reply = {"type": "actions", "actions": {pid: {"action": "wait"} for pid in ids}}
        conns.append((stream, head.split(b"\r\n\r\n", 1)[1], masked(orjson.dumps(reply))))
    sys.stdout.buffer.write(b"ready\n")
    sys.stdout.flush()
    async with trio.open_nursery() as nursery:
        for stream, rest, reply_frame in conns:
            nursery.start_soon(answer, stream, rest, reply_frame)


async def answer(stream: trio.SocketStream, rest: bytes, reply: bytes = MASKED_ACTION) -> None:
    """Read server frames; answer each observation (or batch) frame with ``reply``."""
    buf = bytearray(rest)
    while True:
        replies = scan_frames(buf)
        if replies:
            await stream.send_all(reply * replies)
        data = await stream.receive_some(1 << 16)
        if not data:
            return
        buf += data


# ----------------------------------------------------------------------------- main


async def bench_main(
    seconds: float, quick: bool, only: str | None = None, as_json: bool = False
) -> None:
    scenarios: list[tuple[str, int, int, bool, str, int, bool]] = [
        ("no agents", 1, 0, False, "full", 0, False),
        ("1 in-process policy", 1, 0, True, "full", 0, False),
        ("1 ws agent", 1, 1, False, "full", 0, False),
        ("100 ws agents", 100, 100, False, "full", 0, False),
        ("100 ws agents, compact", 100, 100, False, "compact", 0, False),
        ("1,000 ws agents", 1000, 1000, False, "full", 0, False),
        ("1,000 ws agents, compact", 1000, 1000, False, "compact", 0, False),
        ("1,000 probes, 10 fleets", 1000, 1000, False, "compact", 10, False),
        ("1,000 probes, 10 fleets, full", 1000, 1000, False, "full", 10, False),
        ("1,000 probes, 10 fleets, full, delta", 1000, 1000, False, "full", 10, True),
        ("100,000 probes, 10 fleets, delta", 100_000, 100_000, False, "compact", 10, True),
    ]
    if quick:
        scenarios = scenarios[:3]
    if only:
        scenarios = [s for s in scenarios if only in s[0]]
    tune_malloc()  # as `universed serve` does at start
    tune_gc()  # as `universed serve` does once serving
    raw: dict[tuple[int, str], float] = {}
    if not as_json:
        print(f"universed daemon bench: lockstep, {seconds:.0f} s per scenario, pid {os.getpid()}")
        print(
            f"{'scenario':<37}{'probes':>8}{'ticks/s':>10}{'raw pipe':>10}{'ratio':>7}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'relay':>10}"
        )
    floor: dict[tuple[int, str], float] = {}
    for name, probes, agents, policy, detail, fleets, delta in scenarios:
        key = (probes, detail)
        if key not in raw:
            raw[key] = await raw_pipe_rate(probes, min(seconds, 2.0), detail)
        if agents > 1 and not fleets and key not in floor:
            floor[key] = await relay_floor_rate(probes, min(seconds, 3.0), detail)
        result = await run_scenario(name, probes, agents, policy, seconds, detail, fleets, delta)
        rate = result["ticks_per_second"]
        if as_json:
            row = {
                "scenario": name,
                "probes": probes,
                "ticks_per_s": round(rate, 3),
                "raw_pipe_ticks_per_s": round(raw[key], 3),
                "ratio": round(rate / raw[key], 4),
                "overhead_p50_ms": round(result["overhead_p50_ms"], 3),
                "overhead_p99_ms": round(result["overhead_p99_ms"], 3),
                "detail": detail,
                "fleets": fleets,
                "delta": delta,
                # CPU ms per tick of each process (Linux): where a lockstep tick's time goes
                "cpu_ms_per_tick": result["cpu_ms_per_tick"],
            }
            if key in floor and agents > 1 and not fleets:
                # the bare relay (`relay_floor_rate`): the most a Python host could do here
                row["relay_floor_ticks_per_s"] = round(floor[key], 3)
                row["relay_floor_ratio"] = round(floor[key] / raw[key], 4)
            print(orjson.dumps(row).decode(), flush=True)
            continue
        relay = f"{floor[key]:>10.0f}" if key in floor and agents > 1 and not fleets else ""
        print(
            f"{name:<37}{probes:>8}{rate:>10.0f}{raw[key]:>10.0f}{rate / raw[key]:>7.2f}"
            f"{result['overhead_p50_ms']:>9.3f}{result['overhead_p99_ms']:>9.3f}{relay}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m universed.bench")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="only the small scenarios")
    parser.add_argument("--client", nargs=2, type=int, metavar=("N", "PORT"))
    parser.add_argument("--detail", choices=("full", "compact"), default="full")
    parser.add_argument("--fleets", type=int, default=0)
    parser.add_argument("--only", metavar="TEXT", help="only the scenarios whose name has TEXT")
    parser.add_argument("--delta", action="store_true", help="(client) delta observations")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    args = parser.parse_args(argv)
    if args.client:
        if args.fleets:
            trio.run(
                fleet_client, args.client[0], args.client[1], args.detail, args.fleets, args.delta
            )
        else:
            epoll_client(args.client[0], args.client[1], args.detail)
        return
    trio.run(bench_main, args.seconds, args.quick, args.only, args.json)


if __name__ == "__main__":
    main()
