"""WebSocket fuzzing: random and mutated frames against /ws and /ws/dashboard (real daemon).

A well-behaved agent plays probe 1-1 in lockstep mode the whole time and must see every tick;
the fuzzers (with a token for 1-2 and 1-3 only, so their mutated messages do get parsed and
registered) send random bytes, broken handshakes, truncated frames, bad opcodes, huge lengths,
invalid UTF-8, random JSON and mutated valid messages. The daemon must stay up and answer REST.
Seeded (``FUZZ_SEED``), so a failure is reproducible.
"""

from __future__ import annotations

import json
import os
import random
import struct

import orjson
import pytest
import trio
from helpers import http, running_daemon

from devtools.soak import HandshakeRefused, RawWebSocket, client_frame

pytestmark = pytest.mark.e2e

ADMIN = "fuzz-admin-token-0123456789"
GOOD = "fuzz-good-agent-0123456789"
FUZZER = "fuzz-bad-agents-0123456789"
SEED = int(os.environ.get("FUZZ_SEED", "20261123"))
CASES = 240

VALID = [
    {"type": "register", "probe_id": "1-2"},
    {"type": "register", "probe_ids": ["1-2", "1-3"]},
    {"type": "register", "probe_id": "1-2", "lineage": True},
    {"type": "register", "probe_id": "1-3", "token": FUZZER},
    {"action": "survey"},
    {"action": "mine", "resource": "iron"},
    {"type": "action", "probe_id": "1-2", "action": "navigate_to_body", "body_id": "3-1"},
    {"type": "actions", "tick": 3, "actions": {"1-2": {"action": "scan"}, "1-3": "wait"}},
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:
            buf[pos:pos] = rng.choice(
                [b"\xff\xfe", b"\xc3(", b"\\u0000", b'"', b"{", b"]", b"1e999"]
            )
        else:
            buf[pos:pos] = buf[: rng.randint(0, len(buf))]
    return bytes(buf)


def random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 2**64 + 1, 1.5, -0.0, 1e308])
    if kind == 2:
        return rng.choice(["", "1-1", "register", "survey", "x" * 300, "\u2603", "1-2"])
    if kind == 3:
        return rng.randbytes(8).hex()
    if kind == 4:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "probe_id", "probe_ids", "action", "actions", "tick", "lineage", "token", "z"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def fuzz_case(rng: random.Random) -> tuple[str, str, bytes | None, list[bytes]]:
    """(kind, path, raw bytes instead of a handshake or None, frames to send after it)."""
    path = rng.choice(["/ws", "/ws", "/ws", "/ws/dashboard", f"/ws?token={FUZZER}"])
    kind = rng.choice(
        [
            "head",
            "bytes",
            "truncated",
            "opcode",
            "huge",
            "utf8",
            "json",
            "mutated",
            "fragments",
            "control",
            "unmasked",
        ]
    )
    valid = orjson.dumps(rng.choice(VALID))
    if kind == "head":
        head = rng.choice(
            [
                b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
                b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n"
                b"Sec-WebSocket-Version: 8\r\n\r\n",
                b"POST /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: eA==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(40),
                b"GET " + b"/ws" * 7000 + b" HTTP/1.1\r\n\r\n",
                mutate(rng, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"),
            ]
        )
        return kind, path, head, []
    if kind == "bytes":
        return kind, path, None, [rng.randbytes(rng.randint(1, 200))]
    if kind == "truncated":
        frame = client_frame(1, valid)
        return kind, path, None, [frame[: rng.randint(1, len(frame) - 1)]]
    if kind == "opcode":
        op = rng.choice([0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xF])
        return kind, path, None, [client_frame(op, valid)]
    if kind == "huge":
        n = rng.choice([2**63 - 1, 2**40, 10**9, (1 << 20) + 1])
        head = struct.pack("!BBQ", 0x81, 0xFF, n) + b"\x00\x00\x00\x00"
        return kind, path, None, [head + b"x" * rng.randint(0, 100)]
    if kind == "utf8":
        return kind, path, None, [client_frame(1, b'{"action":"\xff\xfe\xc3("}')]
    if kind == "json":
        frames = [
            client_frame(1, json.dumps(random_json(rng)).encode()) for _ in range(rng.randint(1, 5))
        ]
        return kind, path, None, frames
    if kind == "mutated":
        frames = [client_frame(rng.choice([1, 1, 2]), mutate(rng, valid)) for _ in range(3)]
        return kind, path, None, frames
    if kind == "fragments":
        cut = rng.randint(1, len(valid) - 1)
        first = client_frame(1, valid[:cut], fin=False)
        rest = client_frame(rng.choice([0, 0, 1]), valid[cut:])
        frames = [first, client_frame(9, b"p"), rest] if rng.random() < 0.5 else [first, rest]
        return kind, path, None, frames
    if kind == "control":
        frames = [
            rng.choice(
                [
                    client_frame(9, b"x" * 126),  # oversized control frame
                    client_frame(9, b"", fin=False),  # fragmented control frame
                    client_frame(8, b"\x03"),  # one-byte close payload
                    client_frame(8, struct.pack("!H", 999) + b"\xff"),
                    client_frame(10, rng.randbytes(10)),
                ]
            )
        ]
        return kind, path, None, frames
    return kind, path, None, [client_frame(1, valid, mask=False)]


async def run_case(port: int, case: tuple[str, str, bytes | None, list[bytes]]) -> None:
    _kind, path, raw, frames = case
    with trio.move_on_after(3):
        if raw is not None:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                try:
                    await stream.send_all(raw)
                    await stream.send_eof()
                    while await stream.receive_some(65536):
                        pass
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            return
        try:
            ws = await RawWebSocket.connect(port, path)
        except HandshakeRefused as exc:
            assert exc.status in (400, 401, 403, 429, 503), exc
            return
        try:
            for data in frames:
                await ws.send_raw(data)
            with trio.move_on_after(0.3):
                while await ws.recv() is not None:
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await ws.abort()


async def test_fuzzed_frames_leave_the_daemon_and_other_agents_alone() -> None:
    tokens = {
        "good": {"token": GOOD, "probes": ["1-1"]},
        "fuzzers": {"token": FUZZER, "probes": ["1-2", "1-3"]},
    }
    async with running_daemon(
        mode="lockstep",
        agent_timeout_ms=100,
        sim_args=("--populate", "3"),
        admin_token=ADMIN,
        auth_agents="token",
        agent_tokens=tokens,
        max_message_bytes=1 << 20,
        max_connections_per_address=4096,
    ) as d:
        ticks: list[int] = []
        fuzz_done = trio.Event()

        async def good_agent() -> None:
            ws = await RawWebSocket.connect(d.port, f"/ws?token={GOOD}")
            await ws.send(orjson.dumps({"type": "register", "probe_id": "1-1"}))
            reg = await ws.recv_json()
            assert reg == {"type": "registered", "probe_id": "1-1", "shape": "reference"}
            while not fuzz_done.is_set() or len(ticks) < 5:
                with trio.fail_after(10):
                    msg = await ws.recv_json()
                assert msg is not None, "the good agent was disconnected"
                assert msg["type"] == "observe", msg
                ticks.append(msg["tick"])
                await ws.send(b'{"action":"survey"}')
            await ws.close()

        async def fuzzers() -> None:
            rng = random.Random(SEED)
            cases = [fuzz_case(rng) for _ in range(CASES)]
            limit = trio.CapacityLimiter(12)

            async def one(case: tuple[str, str, bytes | None, list[bytes]]) -> None:
                async with limit:
                    await run_case(d.port, case)

            async with trio.open_nursery() as nursery:
                for case in cases:
                    nursery.start_soon(one, case)
            fuzz_done.set()

        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(good_agent)
                nursery.start_soon(fuzzers)
        assert len(ticks) >= 5
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), "a tick was lost"
        status, body = await http(d.port, "GET", "/api/status?limit=0")
        assert status == 200 and body["sim"]["restarts"] == 0
        assert body["agents"]["connected"] == 0
