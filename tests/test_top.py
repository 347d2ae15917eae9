"""``universed top``: the state folding and rendering as units, then the real thing under a
pseudo-terminal against a real daemon (including a daemon restart)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from test_browser import DaemonProcess, wait_until

from universed.cli.top import TopState, _http_base, _ws_url, main, render

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def tick_message(tick: int, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "tick",
        "tick": tick,
        "mode": "realtime",
        "tick_rate": 10.0,
        "ticks_per_second": 9.87,
        "observations": [
            {
                "probe_id": "1-1",
                "name": "Bob",
                "status": "mining",
                "hull": 0.42,
                "energy": 1.5e12,
                "fuel": 48000.0,
                "location": "landed",
                "system": "9-65536",
                "system_name": "Zenva-879",
            }
        ],
        "probe_count": 2,
        "born": ["1-2"],
        "destroyed": [],
        "events": [
            {
                "probe_id": "1-1",
                "type": "hazard",
                "subtype": "solar_flare",
                "severity": 0.4,
                "message": "solar_flare, severity 0.40: hull -0.188",
            }
        ],
        "agents": {"connected": 3},
    }
    msg.update(extra)
    return msg


def screen_text(state: TopState, width: int = 140, height: int = 40) -> str:
    console = Console(width=width, height=height, record=True, color_system=None)
    console.print(render(state, height))
    return console.export_text()


def test_apply_tick_and_render_show_header_table_and_feed() -> None:
    state = TopState(url="http://127.0.0.1:8000")
    state.apply_status(
        {"tick": 5, "mode": "paused", "sim": {"state": "running", "restarts": 2}, "total": 2}
    )
    state.apply_probes(
        {
            "probes": [
                {
                    "id": "1-1",
                    "name": "Bob",
                    "status": "active",
                    "hull": 1.0,
                    "system": "9-65536",
                    "location": "in_system",
                    "controller": "default:fallback",
                },
                {
                    "id": "1-2",
                    "name": "Homer-2",
                    "status": "active",
                    "hull": 1.0,
                    "system": "9-65536",
                    "location": "in_system",
                    "controller": None,
                },
            ],
            "total": 2,
        }
    )
    state.connection = "live"
    state.apply_tick(tick_message(1234))
    text = screen_text(state)
    assert "1,234" in text and "realtime" in text and "9.9 / 10" in text
    assert "running (2 restarts)" in text and "live" in text
    # the row mixes REST (controller) and the stream (status, hull, energy, fuel, system name)
    bob = next(line for line in text.splitlines() if "Bob" in line and "1-1" in line)
    for cell in ("mining", "42%", "1.50 TJ", "48.0 t", "landed", "Zenva-879", "default:fallback"):
        assert cell in bob, (cell, bob)
    assert "none" in next(line for line in text.splitlines() if "Homer-2" in line)
    # the feed: the stream's event and the birth (not reported twice)
    assert "solar_flare, severity 0.40: hull -0.188" in text
    assert sum(1 for e in state.events if e["type"] == "born") == 1
    assert state.agents == 3 and state.probe_count == 2


def test_born_reported_once_when_the_events_carry_it() -> None:
    state = TopState(url="u")
    state.apply_tick(
        tick_message(7, events=[{"probe_id": "1-2", "type": "born", "message": "born"}])
    )
    assert [e["type"] for e in state.events] == ["born"]


def test_time_going_backwards_drops_stale_observations() -> None:
    state = TopState(url="u")
    state.apply_tick(tick_message(100))
    assert "1-1" in state.live
    state.apply_tick(tick_message(10, observations=[]))
    assert state.tick == 10 and state.live == {}


def test_bad_messages_are_ignored() -> None:
    state = TopState(url="u")
    state.apply_tick({"type": "hello"})
    state.apply_tick(
        {"type": "tick", "tick": "x", "mode": 3, "events": "no", "observations": [1, None]}
    )
    state.apply_probes({"probes": "nope"})
    assert state.tick is None and state.mode is None and not state.events and not state.probes
    assert "waiting for the daemon" in screen_text(state)


def test_disconnected_header_says_so() -> None:
    state = TopState(url="u", sim_state="running", connection="down", retry_at=time.monotonic() + 3)
    text = screen_text(state)
    assert "reconnecting in" in text and "unreachable" in text


def test_urls() -> None:
    assert _http_base("127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert _http_base("ws://h:1/") == "http://h:1"
    assert _http_base("https://h/u/") == "https://h/u"
    assert _ws_url("http://h:1") == "ws://h:1/ws/dashboard?shape=readable"
    assert _ws_url("https://h/u") == "wss://h/u/ws/dashboard?shape=readable"


def test_bad_refresh_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--refresh", "0"]) == 2
    assert "--refresh" in capsys.readouterr().out


HEADER_VALUES = re.compile(r"│\s*([\d,]+)\s+(?:realtime|lockstep|paused)\s")


def ticks_seen(text: str) -> list[int]:
    return [int(m.group(1).replace(",", "")) for m in HEADER_VALUES.finditer(ANSI.sub("", text))]


@pytest.mark.e2e
def test_top_under_a_pty_follows_a_real_daemon_across_a_restart(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect", reason="pexpect is needed to drive a pseudo-terminal")
    daemon = DaemonProcess(tmp_path)
    daemon.start()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("UNIVERSED_", "COLUMNS", "LINES"))
    }
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "universed.cli.top", "--url", daemon.url, "--refresh", "10"],
        dimensions=(40, 140),
        env=env,
        encoding="utf-8",
        codec_errors="replace",
        timeout=30,
    )
    transcript: list[str] = []

    def read_for(seconds: float) -> str:
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                out.append(child.read_nonblocking(65536, timeout=0.2))
            except pexpect.TIMEOUT:
                continue
        text = "".join(out)
        transcript.append(text)
        return text

    try:
        child.expect("Bob")  # the probe table is filled from the REST API
        child.expect("live")  # the stream is connected
        ticks = ticks_seen(read_for(2.0))
        assert ticks and max(ticks) > min(ticks), ticks  # the tick advances on screen
        screen = ANSI.sub("", transcript[-1])
        assert "default:wait" in screen and "running" in screen and "1-1" in screen

        daemon.stop()
        child.expect("reconnecting in")
        child.expect("unreachable")
        daemon.start()
        restarted_at = daemon.get("/api/status?limit=1")["tick"]
        wait_until(
            lambda: any(t > restarted_at for t in ticks_seen(read_for(0.5))),
            30,
            "top to show ticks from the restarted daemon",
        )

        child.sendintr()  # Ctrl-C: a clean exit with status 0
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.signalstatus
    finally:
        if child.isalive():
            child.terminate(force=True)
        daemon.stop()
        (tmp_path / "top-transcript.txt").write_text("".join(transcript))
