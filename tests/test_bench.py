"""`python -m universed.bench --json`: the benchmark runs end to end and prints what issue 15 asks
(one JSON object per scenario with at least scenario, probes, ticks_per_s, raw_pipe_ticks_per_s,
ratio, overhead_p99_ms). Figures are not checked here: speed lives in `make bench`."""

from __future__ import annotations

import subprocess
import sys

import orjson

BENCH = (sys.executable, "-m", "universed.bench", "--json")
REQUIRED = {"scenario", "probes", "ticks_per_s", "raw_pipe_ticks_per_s", "ratio", "overhead_p99_ms"}


def test_bench_json_rows() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "universed.bench", "--json", "--seconds", "0.5", "--only", "1 ws"],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    rows = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    assert [r["scenario"] for r in rows] == ["1 ws agent"]
    row = rows[0]
    assert set(row) >= REQUIRED
    assert row["probes"] == 1
    assert row["ticks_per_s"] > 0 and row["raw_pipe_ticks_per_s"] > 0
    assert abs(row["ratio"] - row["ticks_per_s"] / row["raw_pipe_ticks_per_s"]) < 1e-3


def test_bench_relay_floor_row() -> None:
    """A scenario of one connection per agent also measures the bare relay (`relay_floor_rate`):
    same engine, same client, only the unavoidable syscalls in between."""
    out = subprocess.run(
        [*BENCH, "--seconds", "0.5", "--only", "100 ws agents, compact"],
        capture_output=True,
        timeout=180,
        check=True,
    ).stdout
    (row,) = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    assert row["probes"] == 100 and row["relay_floor_ticks_per_s"] > 0
    assert (
        abs(row["relay_floor_ratio"] - row["relay_floor_ticks_per_s"] / row["raw_pipe_ticks_per_s"])
        < 1e-3
    )
