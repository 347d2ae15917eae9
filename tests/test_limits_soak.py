"""Unit tests of the soak harness's own logic (devtools.soak): verdicts must be able to fail."""

from __future__ import annotations

from pathlib import Path

from devtools.soak import START_MARK, STOP_MARK, UNEXPECTED, _bounded, client_frame, scan_log
from universed.server.wstransport import FrameParser


def test_client_frames_parse_on_the_server_side() -> None:
    parser = FrameParser(1 << 20)
    data = client_frame(1, b'{"action":"survey"}') + client_frame(2, b"x" * 70000)
    data += client_frame(1, b"ab", fin=False) + client_frame(0, b"cd")
    assert parser.feed(data) == [(1, b'{"action":"survey"}'), (2, b"x" * 70000), (1, b"abcd")]


def test_scan_log_reads_the_last_run_until_the_stop(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    log.write_text(
        "\n".join(
            [
                START_MARK,
                "2026-01-01 00:00:00,000 ERROR x: from an earlier run",
                START_MARK,
                "2026-01-01 00:00:01,000 INFO x: serving",
                "2026-01-01 00:00:02,000 WARNING x: hmm",
                "Traceback (most recent call last):",
                STOP_MARK,
                "2026-01-01 00:00:03,000 ERROR x: at shutdown",
            ]
        )
    )
    levels, bad = scan_log(log)
    assert levels == {"INFO": 1, "WARNING": 1, "traceback": 1, "shutdown ERROR": 1}
    assert bad == ["Traceback (most recent call last):"]


def test_rss_bounded_verdict() -> None:
    flat = [100_000 + (i % 3) * 1000 for i in range(40)]
    assert _bounded(flat)
    leaking = [100_000 + i * 5_000 for i in range(40)]
    assert not _bounded(leaking)
    assert not _bounded([1, 2, 3])  # too few samples to tell


def test_unexpected_outcomes() -> None:
    expected = [
        "bad_opcode:close1002",
        "flood:rate_limited+close1008",
        "garbage:error:bad_json",
        "oversize:close1009",
        "silent:close1001",
        "steal:error:forbidden",
        "vanish:gone",
        "ended:1000",
        "connection:broken",
    ]
    unexpected = [
        "unexpected_error:replaced",
        "steal:error:unknown_probe",
        "steal:no_reply",
        "garbage:no_reply",
        "oversize:eof",
        "flood:eof",
        "bad_opcode:close1000",
        "silent:eof",
        "register:None",
    ]
    assert [k for k in expected if UNEXPECTED.match(k)] == []
    assert [k for k in unexpected if not UNEXPECTED.match(k)] == []
