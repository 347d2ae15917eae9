"""Prometheus text exposition: instruments and the daemon's metric set."""

from __future__ import annotations

import re

import pytest
import trio

from universed.core.metrics import Counter, Gauge, Histogram, Metrics, render

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]+="(?:[^"\\]|\\.)*",?)*\})? \S+$')


def parse(text: str) -> dict[str, float]:
    out = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) \w+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_histogram_is_cumulative_with_sum_and_count() -> None:
    h = Histogram("x_seconds", "help", (0.1, 1.0), label="phase", values=("a",))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v, "a")
    h.observe(0.2, "b")
    s = parse(render([h]))
    assert s['x_seconds_bucket{phase="a",le="0.1"}'] == 2  # le is inclusive
    assert s['x_seconds_bucket{phase="a",le="1"}'] == 3
    assert s['x_seconds_bucket{phase="a",le="+Inf"}'] == 4
    assert s['x_seconds_count{phase="a"}'] == 4
    assert s['x_seconds_sum{phase="a"}'] == pytest.approx(3.65)
    assert s['x_seconds_count{phase="b"}'] == 1 and h.count("a") == 4
    with pytest.raises(ValueError):
        Histogram("y", "h", (1.0, 0.5))


def test_counters_gauges_and_escaping() -> None:
    c = Counter("c_total", "a counter")
    c.inc()
    c.inc(2)
    g = Gauge("g", "a gauge", lambda: 1.5)
    h = Histogram("h", "h", (1.0,), label="l")
    h.observe(0.5, 'q"uo\\te\n')
    text = render([c, g, h])
    s = parse(text)
    assert s["c_total"] == 3 and s["g"] == 1.5
    assert 'h_count{l="q\\"uo\\\\te\\n"} 1' in text
    assert "# TYPE c_total counter" in text and "# TYPE g gauge" in text


def test_daemon_metric_set() -> None:
    state = {"agents": 3, "probes": 12, "tick": 99, "restarts": 2}
    m = Metrics(
        agents_connected=lambda: state["agents"],
        probes_alive=lambda: state["probes"],
        tick=lambda: state["tick"],
        sim_restarts=lambda: state["restarts"],
    )
    m.observe_tick(0.0002, 0.004, 0.0001)
    m.agent_latency.observe(0.02)
    s = parse(m.render())
    for phase in Metrics.PHASES:
        assert s[f'universed_tick_duration_seconds_count{{phase="{phase}"}}'] == 1
    assert s['universed_tick_duration_seconds_bucket{phase="sim",le="0.0025"}'] == 0
    assert s['universed_tick_duration_seconds_bucket{phase="sim",le="0.005"}'] == 1
    assert s["universed_agent_latency_seconds_count"] == 1
    assert s["universed_agents_connected"] == 3
    assert s["universed_probes_alive"] == 12
    assert s["universed_tick"] == 99
    assert s["universed_sim_restarts_total"] == 2
    assert s["universed_ticks_total"] == 1
    state["tick"] = 100  # gauges are read at scrape time
    assert parse(m.render())["universed_tick"] == 100


async def test_metrics_endpoint_of_a_running_daemon() -> None:
    from helpers import agent, http, recv_type, register, running_daemon, send

    async with running_daemon() as d:
        await d.engine.manual_tick(5)
        async with agent(d.port) as ws:
            await register(ws)
            await recv_type(ws, "observe")
            await send(ws, {"action": "survey"})
            with trio.fail_after(5):
                while "1-1" not in d.engine.window.actions:  # noqa: ASYNC110 (polls the daemon)
                    await trio.sleep(0.005)
            await d.engine.manual_tick(1)
            status, text = await http(d.port, "GET", "/metrics")
    assert status == 200 and isinstance(text, str)
    s = parse(text)
    assert s['universed_tick_duration_seconds_count{phase="sim"}'] == 6
    assert s['universed_tick_duration_seconds_count{phase="collect"}'] == 6
    assert s["universed_ticks_total"] == 6
    assert s["universed_tick"] == 6 and s["universed_probes_alive"] == 1
    assert s["universed_agents_connected"] == 1
    assert s["universed_agent_latency_seconds_count"] == 1
    assert s["universed_journal_rows_total"] >= 6  # one row per tick, committed first
    assert s["universed_checkpoint_duration_seconds_count"] >= 1  # the start
    assert s["universed_sim_restarts_total"] == 0
