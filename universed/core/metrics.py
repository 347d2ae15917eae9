"""``/metrics``: the Prometheus text exposition format (version 0.0.4), written by hand.

The engine feeds the instruments once per tick (a few additions and one ``bisect`` per
histogram), agent latency once per received action; gauges that mirror live values (agents
connected, probes alive, tick, sim restarts) are read through callbacks only when ``/metrics``
is scraped. No dependency beyond the standard library.

Exposed (all prefixed ``universed_``):

==================================  =========  ===============================================
``tick_duration_seconds``           histogram  one tick by ``phase``: ``collect`` (gather
                                               actions, journal row), ``sim`` (the sim's
                                               tick), ``broadcast`` (deliver observations,
                                               dashboard)
``agent_latency_seconds``           histogram  observation sent -> the agent's action received
``checkpoint_duration_seconds``     histogram  one checkpoint (sim ``save`` + journal row)
``ticks_total``                     counter    ticks run since the daemon started
``sim_restarts_total``              counter    sim children restarted (crash, hang, garbage)
``journal_rows_total``              counter    journal rows committed
``agents_connected``                gauge      remote agents connected
``probes_alive``                    gauge      live probes
``tick``                            gauge      the current tick
``ticks_per_second``                gauge      recent tick rate
==================================  =========  ===============================================
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "Metrics", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; fine below a millisecond (a tick of a small universe) up to the agent timeouts.
TICK_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Histogram:
    """A cumulative histogram, optionally split by one label."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        buckets: Sequence[float] = TICK_BUCKETS,
        *,
        label: str | None = None,
        values: Iterable[str] = (),
    ) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("buckets must be sorted and non-empty")
        self.name = name
        self.help = help
        self.bounds = tuple(float(b) for b in buckets)
        self.label = label
        self._series: dict[str, list[float]] = {}  # label value -> [counts..., +Inf, sum]
        for v in values:
            self._child(v)

    def _child(self, value: str) -> list[float]:
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = [0.0] * (len(self.bounds) + 2)
        return series

    def observe(self, seconds: float, label: str = "") -> None:
        series = self._series.get(label) or self._child(label)
        series[bisect_left(self.bounds, seconds)] += 1
        series[-1] += seconds

    def count(self, label: str = "") -> int:
        series = self._series.get(label)
        return 0 if series is None else int(sum(series[:-1]))

    def samples(self) -> Iterable[str]:
        for value, series in self._series.items():
            base = [(self.label, value)] if self.label else []
            running = 0.0
            for bound, n in zip((*self.bounds, math.inf), series[:-1], strict=True):
                running += n
                yield f"{self.name}_bucket{_labels([*base, ('le', _fmt(bound))])} {_fmt(running)}"
            yield f"{self.name}_sum{_labels(base)} {_fmt(series[-1])}"
            yield f"{self.name}_count{_labels(base)} {_fmt(running)}"


class Counter:
    """A monotonically increasing count: incremented, or read from ``source`` at scrape time."""

    kind = "counter"

    def __init__(self, name: str, help: str, source: Callable[[], float] | None = None) -> None:
        self.name = name
        self.help = help
        self.value = 0.0
        self.source = source

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_fmt(self.source() if self.source else self.value)}"


class Gauge:
    """A value read from ``source`` at scrape time (or set)."""

    kind = "gauge"

    def __init__(self, name: str, help: str, source: Callable[[], float] | None = None) -> None:
        self.name = name
        self.help = help
        self.value = 0.0
        self.source = source

    def set(self, value: float) -> None:
        self.value = value

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_fmt(self.source() if self.source else self.value)}"


Instrument = Histogram | Counter | Gauge


def render(instruments: Iterable[Instrument]) -> str:
    """The exposition text: ``# HELP``, ``# TYPE`` and the samples of each instrument."""
    lines: list[str] = []
    for inst in instruments:
        lines.append(f"# HELP {inst.name} {inst.help}")
        lines.append(f"# TYPE {inst.name} {inst.kind}")
        lines.extend(inst.samples())
    return "\n".join(lines) + "\n"


class Metrics:
    """The daemon's instruments; the sources are wired by whoever owns the values.

    Args:
        agents_connected, probes_alive, tick, ticks_per_second, sim_restarts: read at scrape.
    """

    PHASES = ("collect", "sim", "broadcast")

    def __init__(
        self,
        *,
        agents_connected: Callable[[], float] = lambda: 0,
        probes_alive: Callable[[], float] = lambda: 0,
        tick: Callable[[], float] = lambda: 0,
        ticks_per_second: Callable[[], float] = lambda: 0,
        sim_restarts: Callable[[], float] = lambda: 0,
        journal_rows: Callable[[], float] | None = None,
    ) -> None:
        p = "universed_"
        self.tick_duration = Histogram(
            p + "tick_duration_seconds",
            "Duration of one tick by phase (collect actions, sim, broadcast).",
            label="phase",
            values=self.PHASES,
        )
        self.agent_latency = Histogram(
            p + "agent_latency_seconds",
            "Time from an observation sent to a remote agent to its action received.",
        )
        self.checkpoint_duration = Histogram(
            p + "checkpoint_duration_seconds", "Duration of one checkpoint (sim save + journal)."
        )
        self.ticks = Counter(p + "ticks_total", "Ticks run since the daemon started.")
        self.journal_rows = Counter(
            p + "journal_rows_total", "Journal rows committed since start.", journal_rows
        )
        self.instruments: list[Instrument] = [
            self.tick_duration,
            self.agent_latency,
            self.checkpoint_duration,
            self.ticks,
            Counter(p + "sim_restarts_total", "Sim child restarts (crash, hang)", sim_restarts),
            self.journal_rows,
            Gauge(p + "agents_connected", "Remote agents connected.", agents_connected),
            Gauge(p + "probes_alive", "Live probes.", probes_alive),
            Gauge(p + "tick", "The current tick.", tick),
            Gauge(p + "ticks_per_second", "Recent ticks per second.", ticks_per_second),
        ]

    def observe_tick(self, collect: float, sim: float, broadcast: float) -> None:
        """One tick's phases, in seconds (called once per tick by the engine)."""
        h = self.tick_duration
        h.observe(collect, "collect")
        h.observe(sim, "sim")
        h.observe(broadcast, "broadcast")
        self.ticks.value += 1

    def render(self) -> str:
        return render(self.instruments)
