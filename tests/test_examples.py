"""Every example in examples/ runs against a real daemon; the agent-protocol.md ones verbatim."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from helpers import running_daemon

from universed.server.daemon import Daemon

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROTOCOL_DOC = ROOT.parent / "shared" / "seeds" / "agent-protocol.md"
DOC_URL = "ws://localhost:8000/ws"


def node_command() -> list[str] | None:
    """Node with a global WebSocket (22+, or 20/21 behind --experimental-websocket)."""
    node = shutil.which("node")
    if node is None:
        return None
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run(
            [node, *flags, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return [node, *flags]
    return None


NODE = node_command()
needs_node = pytest.mark.skipif(NODE is None, reason="no node with a global WebSocket here")


def doc_snippet(language: str, heading: str) -> str:
    text = PROTOCOL_DOC.read_text()
    match = re.search(rf"## {re.escape(heading)}\n\n```{language}\n(.*?)```", text, re.S)
    assert match, heading
    return match.group(1)


@pytest.mark.skipif(not PROTOCOL_DOC.is_file(), reason="agent-protocol.md not beside the repo")
@pytest.mark.parametrize(
    ("name", "language", "heading"),
    [
        ("agent_protocol_js_example.js", "js", "Example: Minimal Agent in JavaScript"),
        ("agent_protocol_py_example.py", "python", "Example: Agent in Python"),
    ],
)
def test_protocol_examples_are_verbatim(name: str, language: str, heading: str) -> None:
    assert (EXAMPLES / name).read_text() == doc_snippet(language, heading)


def pointed_at(name: str, port: int, tmp_path: Path) -> Path:
    """A copy of a verbatim example whose only change is the daemon's address."""
    text = (EXAMPLES / name).read_text()
    assert text.count(DOC_URL) == 1
    out = tmp_path / name
    out.write_text(text.replace(DOC_URL, f"ws://127.0.0.1:{port}/ws"))
    return out


async def answer_ticks(daemon: Daemon, ticks: int, probe: str = "1-1") -> list[str | None]:
    """Tick each time the agent's action is in; the actions' names, tick by tick."""
    names = []
    for _ in range(ticks):
        with trio.fail_after(20):
            while probe not in daemon.engine.window.actions:  # noqa: ASYNC110 (polls state of another process/task)
                await trio.sleep(0.005)
        names.append(daemon.engine.window.actions[probe].get("type"))
        await daemon.engine.manual_tick(1)
    return names


async def run_agent_process(argv: list[str], daemon: Daemon, ticks: int) -> list[str | None]:
    async with trio.open_nursery() as nursery:
        proc = await nursery.start(
            lambda task_status: trio.run_process(  # noqa: ASYNC105 (started by nursery.start)
                argv, check=False, capture_stdout=True, task_status=task_status
            )
        )
        try:
            return await answer_ticks(daemon, ticks)
        finally:
            proc.kill()


async def test_python_protocol_example_works(tmp_path: Path) -> None:
    async with running_daemon() as daemon:
        script = pointed_at("agent_protocol_py_example.py", daemon.port, tmp_path)
        names = await run_agent_process([sys.executable, str(script)], daemon, 3)
    assert names == ["survey"] * 3


@needs_node
async def test_javascript_protocol_example_works(tmp_path: Path) -> None:
    assert NODE is not None
    async with running_daemon() as daemon:
        script = pointed_at("agent_protocol_js_example.js", daemon.port, tmp_path)
        names = await run_agent_process([*NODE, str(script)], daemon, 3)
    assert names == ["survey"] * 3


async def run_to_exit(
    argv: list[str], daemon: Daemon, ticks: int
) -> tuple[int, str, list[str | None]]:
    async with trio.open_nursery() as nursery:
        done: dict[str, object] = {}

        async def run() -> None:
            done["proc"] = await trio.run_process(argv, check=False, capture_stdout=True)

        nursery.start_soon(run)
        names = await answer_ticks(daemon, ticks)
        with trio.fail_after(20):
            while "proc" not in done:  # noqa: ASYNC110 (polls state of another process/task)
                await trio.sleep(0.01)
    proc = done["proc"]
    assert isinstance(proc, subprocess.CompletedProcess)
    return proc.returncode, proc.stdout.decode(), names


async def test_minimal_python_agent() -> None:
    async with running_daemon() as daemon:
        url = f"ws://127.0.0.1:{daemon.port}/ws"
        argv = [sys.executable, str(EXAMPLES / "minimal_agent.py"), "--url", url, "--ticks", "4"]
        code, out, names = await run_to_exit(argv, daemon, 3)
    assert code == 0 and "answered 4 ticks" in out
    assert names[0] == "navigate_to_body"


@needs_node
async def test_minimal_javascript_agent() -> None:
    assert NODE is not None
    async with running_daemon() as daemon:
        argv = [*NODE, str(EXAMPLES / "minimal_agent.mjs"), f"http://127.0.0.1:{daemon.port}", "4"]
        code, out, names = await run_to_exit(argv, daemon, 3)
    assert code == 0, out
    assert "registered for 1-1" in out and names == ["survey"] * 3


async def test_dashboard_client_prints_tick_summaries() -> None:
    async with running_daemon() as daemon:
        url = f"ws://127.0.0.1:{daemon.port}/ws/dashboard"
        argv = [sys.executable, str(EXAMPLES / "dashboard_client.py"), "--url", url, "--ticks", "3"]
        async with trio.open_nursery() as nursery:
            done: dict[str, subprocess.CompletedProcess[bytes]] = {}

            async def run() -> None:
                done["proc"] = await trio.run_process(argv, check=False, capture_stdout=True)

            nursery.start_soon(run)
            with trio.fail_after(20):
                while daemon.gateway.dashboards < 1:  # noqa: ASYNC110 (polls state of another process/task)
                    await trio.sleep(0.01)
            await daemon.engine.inject({"type": "hazard", "severity": 0.1, "probe_id": "1-1"})
            for _ in range(3):
                await daemon.engine.manual_tick(1)
            with trio.fail_after(20):
                while "proc" not in done:  # noqa: ASYNC110 (polls state of another process/task)
                    await trio.sleep(0.01)
    lines = done["proc"].stdout.decode().splitlines()
    assert done["proc"].returncode == 0
    assert [line.split(" | ")[0] for line in lines] == ["tick 1", "tick 2", "tick 3"]
    assert "probes 1" in lines[0] and "1-1:hazard/solar_flare" in lines[0]
