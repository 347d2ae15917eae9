"""The sim supervisor: runs ``universe-sim --pipe`` as a child and talks to it.

`SimSupervisor.run` keeps exactly one child alive for as long as it runs. Requests
(`SimSupervisor.request`) are serialized by a lock, carry an ``id`` that the reply must echo, and
must be answered within ``timeout`` seconds. A reply that is late, garbled or missing (the child
died) marks the child dead: it is killed and a new one is started, and the ``recover`` callback
(the engine's journal replay) runs on the new child before any other request is let through.
Callers of a request that hit the dead child get `SimUnavailable` and may retry once
`wait_ready` returns.

Shutdown: cancelling `run` sends ``quit`` to the child, waits briefly, then kills it; the child
never outlives the daemon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import trio

from .messages import OBSERVATION_PIECES, split_tick_reply

__all__ = ["SimError", "SimSupervisor", "SimUnavailable", "find_sim_binary", "open_sim"]

log = logging.getLogger(__name__)

Request = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Recover = Callable[[Request], Awaitable[None]]


class SimError(Exception):
    """The sim answered ``{"ok": false}``: a refused command, state unchanged."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SimUnavailable(Exception):
    """The sim is dead, restarting, or did not answer in time."""


def find_sim_binary(explicit: str = "") -> Path:
    """Locate the engine: ``explicit``, ``$UNIVERSED_SIM``, the packaged binary, ``sim/build``.

    Raises:
        FileNotFoundError: listing the places looked at.
    """
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    env = os.environ.get("UNIVERSED_SIM")
    if env:
        candidates.append(Path(env))
    packaged = resources.files("universed").joinpath("_bin", "universe-sim")
    candidates.append(Path(str(packaged)))
    candidates.append(Path(__file__).resolve().parents[2] / "sim" / "build" / "universe-sim")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "universe-sim not found; looked at " + ", ".join(str(p) for p in candidates)
    )


#: the socket buffer asked for each direction of the sim's streams (SO_SNDBUF; the kernel caps
#: it at net.core.wmem_max): a 100,000-probe tick request is 3 MB, a 1,000-probe full reply 8 MB
STREAM_BUFFER = 1 << 20
#: the most bytes one read of the sim's replies takes
READ_SIZE = 1 << 20


async def open_sim(
    args: Sequence[str], **options: Any
) -> tuple[trio.Process, trio.SocketStream, trio.SocketStream]:
    """Start the sim with ``args``; the process, the stream to its stdin, the stream from its
    stdout. ``options`` go to `trio.lowlevel.open_process` (stderr, start_new_session...).

    Its standard streams are Unix stream sockets, not pipes: a pipe's reader and writer share
    one mutex, and a reader woken by the first page of a large reply then spins on it while
    the sim copies the rest. Measured (docs/performance.md, issue 15, fourth pass): a bare reader
    of 100 full observations ran 555 ticks/s on a 1 MiB pipe, 1,120-1,260 on a socket pair,
    and the 1,000-agent daemon spent a fifth of its CPU spinning in ``pipe_read``."""
    ours_in, child_in = socket.socketpair()
    ours_out, child_out = socket.socketpair()
    try:
        for sock in (ours_in, child_out):  # each direction's writer
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_BUFFER)
        ours_in.shutdown(socket.SHUT_RD)
        ours_out.shutdown(socket.SHUT_WR)
        process = await trio.lowlevel.open_process(
            list(args), stdin=child_in.fileno(), stdout=child_out.fileno(), **options
        )
    except BaseException:
        ours_in.close()
        ours_out.close()
        raise
    finally:
        child_in.close()
        child_out.close()
    stdin = trio.SocketStream(trio.socket.from_stdlib_socket(ours_in))
    stdout = trio.SocketStream(trio.socket.from_stdlib_socket(ours_out))
    return process, stdin, stdout


class _Child:
    """One running sim process and its line-oriented streams (`open_sim`)."""

    def __init__(
        self, process: trio.Process, stdin: trio.SocketStream, stdout: trio.SocketStream
    ) -> None:
        self.process = process
        self.stdin = stdin
        self.stdout = stdout
        # the descriptor for direct writes (valid while not ``dead``: aclose kills first)
        self.stdin_fd: int | None = stdin.socket.fileno()
        self.rest = b""  # bytes read after the last line's newline
        self.dead = False
        self.overdue = False

    async def read_line(self) -> bytes:
        """The next line (without its newline). The chunks are joined once, at the end."""
        rest = self.rest
        pos = rest.find(b"\n")
        if pos >= 0:
            self.rest = rest[pos + 1 :]
            return rest[:pos]
        chunks = [rest] if rest else []
        while True:
            chunk = await self.stdout.receive_some(READ_SIZE)
            if not chunk:
                raise trio.BrokenResourceError("sim closed its stdout")
            pos = chunk.find(b"\n")
            if pos >= 0:
                self.rest = chunk[pos + 1 :]  # usually b"": the reply ends the chunk
                if not chunks:
                    return chunk[:pos]
                chunks.append(chunk[:pos])
                return b"".join(chunks)
            chunks.append(chunk)

    async def aclose(self) -> None:
        """Kill (if needed), reap, and close the streams."""
        self.kill()
        with trio.CancelScope(shield=True):
            for pipe in (self.stdin, self.stdout):
                await pipe.aclose()
            await self.process.wait()

    def kill(self) -> None:
        self.dead = True
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class SimSupervisor:
    """Owns the sim child; see the module docstring.

    Args:
        binary: path of ``universe-sim``.
        seed: universe seed for a fresh child.
        timeout: seconds a reply may take before the child is declared dead.
        recover: called with a raw request function on every new child after the first, before
            other requests are served (the engine restores its latest state there).
    """

    def __init__(
        self,
        binary: Path,
        *,
        seed: int,
        timeout: float = 10.0,
        recover: Recover | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        self.seed = seed
        self.timeout = timeout
        self.recover = recover
        self.extra_args = extra_args
        self.restarts = 0
        self.state = "starting"
        self._child: _Child | None = None
        self._lock = trio.Lock()
        self._next_id = 0
        self.last_line: tuple[int, bytes] = (0, b"")  # (request id, reply line) of the latest reply
        self._ready = trio.Event()
        self._died = trio.Event()
        self._inflight_since: float | None = None

    @property
    def pid(self) -> int | None:
        return self._child.process.pid if self._child is not None else None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the child, report ready once it answered ``status``, restart it when it dies.

        Cancellation: the child is asked to quit (then killed) before this returns.
        """
        try:
            async with trio.open_nursery() as outer:
                outer.start_soon(self._watchdog)
                first = True
                while True:
                    async with self._lock:
                        await self._spawn(first)
                    if first:
                        task_status.started()
                        first = False
                    assert self._child is not None
                    child = self._child
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._watch_exit, child)
                        await self._died.wait()
                        nursery.cancel_scope.cancel()
                    self._died = trio.Event()
                    await child.aclose()
                    log.warning("sim died (pid %s); restarting", child.process.pid)
        finally:
            with trio.CancelScope(shield=True):
                await self._stop()

    async def _watch_exit(self, child: _Child) -> None:
        await child.process.wait()
        child.dead = True
        self._died.set()

    async def _watchdog(self) -> None:
        """Kill the child when a reply is more than ``timeout`` late."""
        while True:
            await trio.sleep(self.timeout / 4)
            since = self._inflight_since
            child = self._child
            if child is None or child.dead:
                continue
            if since is not None and trio.current_time() - since > self.timeout:
                log.error("the sim did not answer in %.1fs; killing it", self.timeout)
                child.overdue = True
                child.kill()

    async def _spawn(self, first: bool) -> None:
        """Start a child (retrying with backoff) and recover state; called with the lock held."""
        self.state = "starting" if first else "restarting"
        self._ready = trio.Event() if self._ready.is_set() else self._ready
        delay = 0.05
        while True:
            try:
                process, stdin, stdout = await open_sim(
                    [str(self.binary), "--pipe", "--seed", str(self.seed), *self.extra_args],
                    start_new_session=True,  # a terminal's Ctrl-C goes to us, not to the child
                )
                self._child = _Child(process, stdin, stdout)
                await self._raw({"cmd": "status", "limit": 0})
                if not first:
                    self.restarts += 1
                    if self.recover is not None:
                        await self.recover(self._raw)
                break
            except (SimUnavailable, SimError, OSError) as exc:
                if first and isinstance(exc, OSError):
                    raise
                log.error("sim start failed: %s; retrying in %.2fs", exc, delay)
                if self._child is not None:
                    await self._child.aclose()
                await trio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.state = "running"
        self._ready.set()
        log.info("sim running (pid %s, restarts %d)", self.pid, self.restarts)

    async def wait_ready(self) -> None:
        """Return once a live, recovered child is serving requests."""
        await self._ready.wait()

    async def request(
        self,
        cmd: dict[str, Any],
        *,
        sent: Callable[[], object] | None = None,
        split: bool = False,
    ) -> dict[str, Any]:
        """Send one command and return the reply (``ok`` is true).

        ``split`` (a ``tick``): the observations are not parsed; the reply's ``observations``
        is empty and ``observation_pieces`` lists their bytes as the sim wrote them
        (`messages.split_tick_reply`); if the line is not laid out for that, it is parsed whole.

        ``sent`` (optional) is called exactly once, synchronously, as soon as the command is
        on its way to the child (or known not to reach it), before this coroutine waits for
        anything: the engine commits its write-ahead journal row there, so the commit overlaps
        the sim's work and is done before any other task (a recovery included) can run. If it
        raises, the child, which may have applied the command, is declared dead (and recovered
        from the journal) and the exception propagates.

        Raises:
            SimError: the sim refused the command (state unchanged).
            SimUnavailable: no live child, or it failed to answer in time (a restart follows).
        Cancellation: cancelling mid-request leaves the pipe out of step, so the child is
            treated as dead and restarted (its state is recovered from the journal).
        """
        # the lock is almost never contended: take it without a trip through the scheduler
        # (trio's Lock checkpoints on acquire); _raw still checkpoints while it waits
        lock = self._lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            return await self._raw(cmd, sent, split)
        finally:
            lock.release()

    async def _raw(
        self, cmd: dict[str, Any], sent: Callable[[], object] | None = None, split: bool = False
    ) -> dict[str, Any]:
        child = self._child
        if child is None or child.dead:
            if sent is not None:
                sent()
            raise SimUnavailable("the sim is not running")
        self._next_id += 1
        rid = self._next_id
        cmd = dict(cmd)
        cmd["id"] = rid
        completed = False
        # No per-request cancel scope (it costs ~50 us per tick): the watchdog task kills a
        # child whose reply is overdue, which ends the read below with BrokenResourceError.
        self._inflight_since = trio.current_time()
        try:
            rest = self._write_now(child, orjson.dumps(cmd) + b"\n")
            if sent is not None:
                sent()
            if rest is None:
                raise trio.BrokenResourceError("the sim's stdin is closed")
            if rest:
                await child.stdin.send_all(rest)
            line = await child.read_line()
            completed = True
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            if child.overdue:
                raise SimUnavailable(
                    f"the sim did not answer {cmd['cmd']!r} in {self.timeout}s"
                ) from None
            raise SimUnavailable(f"the sim died: {exc}") from None
        except trio.Cancelled:
            # the pipe is now out of step: the child must go, but this is no failure of its own
            child.dead = True
            raise
        finally:
            self._inflight_since = None
            if not completed:
                self._declare_dead(child)
        parts = split_tick_reply(line) if split else None
        try:
            if parts is not None:
                reply, pieces = parts
                reply[OBSERVATION_PIECES] = pieces
            else:
                reply = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._declare_dead(child)
            raise SimUnavailable(f"the sim sent garbage: {line[:200]!r}") from None
        # the raw line of the latest reply (the engine slices the tick's observations out of
        # it to send them as the sim wrote them: `messages.split_observations`)
        self.last_line = (rid, line)
        if not isinstance(reply, dict) or reply.get("id") != rid:
            self._declare_dead(child)
            raise SimUnavailable(f"the sim answered out of step: {line[:200]!r}")
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise SimError(str(err.get("code", "error")), str(err.get("message", "")))
        return reply

    @staticmethod
    def _write_now(child: _Child, data: bytes) -> bytes | None:
        """Write what the pipe takes now (the whole line, usually: no scheduler round trip);
        the rest, to be sent through trio; None if the child's stdin is gone (EPIPE)."""
        if child.stdin_fd is None:
            return data
        try:
            written = os.write(child.stdin_fd, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return None
        return data[written:]

    def _declare_dead(self, child: _Child) -> None:
        if not child.dead:
            log.error("sim (pid %s) declared dead", child.process.pid)
        elif self.state == "stopped":
            return
        child.kill()
        self.state = "restarting"
        self._ready = trio.Event()
        self._died.set()

    async def _stop(self) -> None:
        child = self._child
        self.state = "stopped"
        if child is None:
            return
        try:
            await self._stop_child(child)
        finally:
            await child.aclose()

    async def _stop_child(self, child: _Child) -> None:
        if child.process.returncode is not None:
            return
        if not child.dead:
            with trio.move_on_after(0.5):
                try:
                    await child.stdin.send_all(b'{"cmd":"quit"}\n')
                    await child.process.wait()
                    return
                except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                    pass
        child.kill()
        with trio.move_on_after(1.0):
            await child.process.wait()
        if child.process.returncode is None:
            os.kill(child.process.pid, signal.SIGKILL)
