"""teambot's metrics, served by `GET /metrics` with `prometheus_client`.

Each `Metrics` owns a `CollectorRegistry` of its own (a process has one, built by
`Core`; tests build as many as they like), so nothing is registered at import time.
`teambot serve` runs one uvicorn worker per process: every replica serves its own
counts and Prometheus sums them across replicas, so the client's multi-process mode
(for several workers sharing one port) is not needed.

`Metrics` holds the metric families and the observers the router, the clock and the
adapters report to; the client's own locks make them safe from worker threads and
the event loop alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import generate_latest

from schedules.engine import ClockReading, Delivery, Firing

if TYPE_CHECKING:
    from commands.router import Handled
    from schedules.engine import ClockEvent

# The classic text format: what every Prometheus server and scraper reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
               21600.0, 86400.0)  # fmt: skip


class Metrics:
    """teambot's metrics, and what the router, the clock and the adapters report to."""

    def __init__(self) -> None:
        # `*_created` series (a timestamp per counter) only double what is scraped.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client: untyped
        self.registry = reg = CollectorRegistry(auto_describe=True)
        self.commands = Counter(
            "teambot_commands",
            "Commands handled, by command id and outcome (ok, user_error, crash, duplicate).",
            ("command", "outcome"),
            registry=reg,
        )
        self.command_seconds = Histogram(
            "teambot_command_seconds",
            "Time to handle one command: parse, the database transaction, the reply.",
            buckets=COMMAND_BUCKETS,
            registry=reg,
        )
        self.dedupe_hits = Counter(
            "teambot_dedupe_hits",
            "Platform deliveries dropped because their event id was handled before.",
            ("platform",),
            registry=reg,
        )
        self.posts = Counter(
            "teambot_posts",
            "Messages sent through a platform API, by kind (reply, dm, mirror, scheduled) "
            "and outcome (ok, error).",
            ("platform", "kind", "outcome"),
            registry=reg,
        )
        self.rate_limit_waits = Counter(
            "teambot_rate_limit_waits",
            "Times a platform API answered 'rate limited' and teambot waited before retrying.",
            ("platform",),
            registry=reg,
        )
        self.rate_limit_seconds = Counter(
            "teambot_rate_limit_wait_seconds",
            "Seconds spent waiting out platform rate limits.",
            ("platform",),
            registry=reg,
        )
        self.scheduler_runs = Counter(
            "teambot_scheduler_runs",
            "Scheduled firings by outcome: posted, late (posted after its time), partial (some "
            "posts failed), skipped (missed and no longer useful), lost (claimed by another "
            "process), failed (no post went out).",
            ("outcome",),
            registry=reg,
        )
        self.scheduled_posts = Counter(
            "teambot_scheduled_posts",
            "Scheduled posts at their end, by outcome: posted, or failed (refused, or still "
            "failing when no longer useful).",
            ("platform", "outcome"),
            registry=reg,
        )
        self.scheduled_retries = Counter(
            "teambot_scheduled_post_retries",
            "Scheduled posts tried again after a passing failure (5xx, time-out, rate limit).",
            ("platform",),
            registry=reg,
        )
        self.clock_skew = Gauge(
            "teambot_clock_skew_seconds",
            "This process's clock minus the database's, measured at the clock's last round.",
            registry=reg,
        )
        self.scheduler_lag = Histogram(
            "teambot_scheduler_lag_seconds",
            "How long after its due time a scheduled firing was handled.",
            buckets=LAG_BUCKETS,
            registry=reg,
        )
        self.health_failures = Counter(
            "teambot_health_check_failures",
            "/healthz answers that found a check failing, by check: database, or an extra "
            "check's name (what it found is in the answer's body and the log).",
            ("check",),
            registry=reg,
        )

    # -- observers -----------------------------------------------------------------

    def command_handled(self, handled: Handled) -> None:
        """The router's observer: one call per delivery it handled."""
        self.commands.labels(command=handled.command, outcome=handled.outcome).inc()
        self.command_seconds.observe(handled.seconds)
        if handled.outcome == "duplicate":
            self.dedupe_hits.labels(platform=handled.platform).inc()

    def firing(self, event: ClockEvent) -> None:
        """The clock's observer: one call per occurrence a round handled, per scheduled
        post retried or ended, and per reading of the database's clock."""
        if isinstance(event, Firing):
            self.scheduler_runs.labels(outcome=event.outcome).inc()
            if event.lag is not None:
                self.scheduler_lag.observe(max(event.lag, 0.0))
        elif isinstance(event, Delivery):
            if event.outcome == "retry":
                self.scheduled_retries.labels(platform=event.platform).inc()
            else:
                self.scheduled_posts.labels(platform=event.platform, outcome=event.outcome).inc()
        elif isinstance(event, ClockReading):
            self.clock_skew.set(event.skew)

    def post(self, *, platform: str, kind: str, outcome: str) -> None:
        self.posts.labels(platform=platform, kind=kind, outcome=outcome).inc()

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
        self.rate_limit_waits.labels(platform=platform).inc()
        self.rate_limit_seconds.labels(platform=platform).inc(max(seconds, 0.0))

    def health_failed(self, check: str) -> None:
        self.health_failures.labels(check=check).inc()

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when it has none yet), as /metrics shows it."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> bytes:
        return generate_latest(self.registry)
