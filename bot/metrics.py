"""teambot's metrics, served by `GET /metrics` in Prometheus' text format (version 0.0.4).

A few counters and histograms do not need a client library: the format is one
`# HELP` and one `# TYPE` line per metric, then one `name{label="value"} number`
line per series (a histogram: cumulative `_bucket{le="…"}` series, `_sum` and
`_count`). Every metric has its own lock: commands report from worker threads,
the clock and the adapters from the event loop.

`Metrics` holds teambot's own metrics and the observers the router, the clock
and the adapters report to; `Core` owns one and `/metrics` renders it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from commands.router import Handled
    from schedules.engine import Firing

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
               21600.0, 86400.0)  # fmt: skip

Labels = tuple[str, ...]


def number(value: float) -> str:
    """A sample value as Prometheus reads it (Go's ParseFloat: +Inf, NaN, 1e-05)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _series(name: str, names: Labels, values: Labels, extra: str = "") -> str:
    pairs = [f'{k}="{escape_label(v)}"' for k, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return f"{name}{{{','.join(pairs)}}}" if pairs else name


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_
        self.labels: Labels = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes the labels {self.labels}, got {tuple(labels)}")
        return tuple(str(labels[k]) for k in self.labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[Labels, float] = {} if self.labels else {(): 0.0}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            values = sorted(self._values.items())
        return [f"{_series(self.name, self.labels, k)} {number(v)}" for k, v in values]


class Gauge(Counter):
    kind = "gauge"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_, labels)
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("buckets must be increasing")
        self.buckets = tuple(float(b) for b in buckets)
        # Per series: the count in each bucket (not cumulative), then the sum.
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}
        if not self.labels:
            self._series[()] = self._empty()

    def _empty(self) -> tuple[list[int], list[float]]:
        return [0] * (len(self.buckets) + 1), [0.0]

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        slot = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        with self._lock:
            counts, total = self._series.setdefault(key, self._empty())
            counts[slot] += 1
            total[0] += value

    def lines(self) -> list[str]:
        with self._lock:
            series = sorted((k, (list(c), s[0])) for k, (c, s) in self._series.items())
        out = []
        for key, (counts, total) in series:
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = f'le="{number(bound)}"'
                out.append(f"{_series(self.name + '_bucket', self.labels, key, le)} {running}")
            out.append(f"{_series(self.name + '_sum', self.labels, key)} {number(total)}")
            out.append(f"{_series(self.name + '_count', self.labels, key)} {running}")
        return out


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def add(self, metric: Metric) -> None:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric

    def counter(self, name: str, help_: str, labels: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_, labels)
        self.add(metric)
        return metric

    def gauge(self, name: str, help_: str, labels: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help_, labels)
        self.add(metric)
        return metric

    def histogram(
        self, name: str, help_: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        metric = Histogram(name, help_, buckets, labels)
        self.add(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines += metric.header()
            lines += metric.lines()
        return "\n".join(lines) + "\n"


class Metrics:
    """teambot's metrics, and what the router, the clock and the adapters report to."""

    def __init__(self) -> None:
        self.registry = reg = Registry()
        self.commands = reg.counter(
            "teambot_commands_total",
            "Commands handled, by command id and outcome (ok, user_error, crash, duplicate).",
            ("command", "outcome"),
        )
        self.command_seconds = reg.histogram(
            "teambot_command_seconds",
            "Time to handle one command: parse, the database transaction, the reply.",
            COMMAND_BUCKETS,
        )
        self.dedupe_hits = reg.counter(
            "teambot_dedupe_hits_total",
            "Platform deliveries dropped because their event id was handled before.",
            ("platform",),
        )
        self.posts = reg.counter(
            "teambot_posts_total",
            "Messages sent through a platform API, by kind (reply, dm, mirror, scheduled) "
            "and outcome (ok, error).",
            ("platform", "kind", "outcome"),
        )
        self.rate_limit_waits = reg.counter(
            "teambot_rate_limit_waits_total",
            "Times a platform API answered 'rate limited' and teambot waited before retrying.",
            ("platform",),
        )
        self.rate_limit_seconds = reg.counter(
            "teambot_rate_limit_wait_seconds_total",
            "Seconds spent waiting out platform rate limits.",
            ("platform",),
        )
        self.scheduler_runs = reg.counter(
            "teambot_scheduler_runs_total",
            "Scheduled firings by outcome: posted, late (posted after its time), skipped "
            "(missed and no longer useful), lost (claimed by another process), failed.",
            ("outcome",),
        )
        self.scheduler_lag = reg.histogram(
            "teambot_scheduler_lag_seconds",
            "How long after its due time a scheduled firing was handled.",
            LAG_BUCKETS,
        )

    # -- observers -----------------------------------------------------------------

    def command_handled(self, handled: Handled) -> None:
        """The router's observer: one call per delivery it handled."""
        self.commands.inc(command=handled.command, outcome=handled.outcome)
        self.command_seconds.observe(handled.seconds)
        if handled.outcome == "duplicate":
            self.dedupe_hits.inc(platform=handled.platform)

    def firing(self, firing: Firing) -> None:
        """The clock's observer: one call per occurrence a round handled."""
        self.scheduler_runs.inc(outcome=firing.outcome)
        if firing.lag is not None:
            self.scheduler_lag.observe(max(firing.lag, 0.0))

    def post(self, *, platform: str, kind: str, outcome: str) -> None:
        self.posts.inc(platform=platform, kind=kind, outcome=outcome)

    @contextmanager
    def posting(self, *, platform: str, kind: str) -> Iterator[None]:
        """Counts the post made inside the block: `error` if the block raises, else `ok`."""
        try:
            yield
        except Exception:
            self.post(platform=platform, kind=kind, outcome="error")
            raise
        self.post(platform=platform, kind=kind, outcome="ok")

    def rate_limited(self, *, platform: str, seconds: float) -> None:
        self.rate_limit_waits.inc(platform=platform)
        self.rate_limit_seconds.inc(max(seconds, 0.0), platform=platform)

    def render(self) -> str:
        return self.registry.render()
