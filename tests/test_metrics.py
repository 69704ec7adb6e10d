"""GET /metrics: Prometheus text from the real app after real commands, posts and firings.

The body is parsed by the small parser below (samples by name and labels, HELP and
TYPE per family), so the tests pin counts and the histogram's invariants rather than
substrings.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.scheduling import build_clockwork, hub_sender
from commands.context import Ctx
from commands.i18n import Catalog
from commands.registry import Args, CommandSpec, Group
from commands.registry import Registry as CommandRegistry
from commands.router import Router
from commands.types import Reply
from storage.db import Database
from tests.chat import Chat
from tests.clock_support import at
from tests.conftest import Clock
from tests.fake_feishu import Failure as FeishuFailure
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import Failure, FakeSlack
from tests.feishu_support import feishu_settings, message_event
from tests.feishu_support import running as running_feishu
from tests.slack_support import Harness, fixture_json, running, settings_for

pytestmark = pytest.mark.anyio

FAMILIES = {
    "teambot_commands_total": "counter",
    "teambot_command_seconds": "histogram",
    "teambot_dedupe_hits_total": "counter",
    "teambot_posts_total": "counter",
    "teambot_rate_limit_waits_total": "counter",
    "teambot_rate_limit_wait_seconds_total": "counter",
    "teambot_scheduler_runs_total": "counter",
    "teambot_scheduler_lag_seconds": "histogram",
    "teambot_health_check_failures_total": "counter",
    "teambot_scheduled_posts_total": "counter",
    "teambot_scheduled_post_retries_total": "counter",
    "teambot_clock_skew_seconds": "gauge",
}


# -- the exposition, read with prometheus_client's own parser ------------------------------------


@dataclass
class Exposition:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def series(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}

    def buckets(self, name: str) -> list[tuple[float, float]]:
        out = [
            (float(dict(labels)["le"]), v) for labels, v in self.series(name + "_bucket").items()
        ]
        return sorted(out)

    def bucket(self, name: str, le: float) -> float:
        return dict(self.buckets(name))[le]


def parse(body: str) -> Exposition:
    """The text format as Prometheus reads it; every sample once, under a typed family."""
    assert body.endswith("\n")
    parsed = Exposition()
    for family in text_string_to_metric_families(body):
        # The parser names counter families without `_total`; HELP and TYPE carry it.
        name = family.name + "_total" if family.type == "counter" else family.name
        assert name not in parsed.types, f"family twice: {name}"
        parsed.types[name] = family.type
        parsed.help[name] = family.documentation
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in parsed.samples, f"sample twice: {sample}"
            parsed.samples[key] = float(sample.value)
    return parsed


def assert_histogram(parsed: Exposition, name: str) -> None:
    """Buckets cumulative and increasing in `le`, +Inf equal to _count."""
    buckets = parsed.buckets(name)
    assert buckets[-1][0] == float("inf")
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == parsed.value(name + "_count")


# -- through the real app --------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    server.add_user("W333", "zoe")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        yield harness


def mention(text: str, event_id: str) -> dict[str, Any]:
    payload = fixture_json("slack_app_mention.json")
    payload["event"].update({"text": text, "user": "W111"})
    payload["event_id"] = event_id
    return payload


async def scrape(slack: Harness) -> Exposition:
    response = await slack.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


async def test_metrics_are_well_formed_before_anything_happened(slack: Harness) -> None:
    """Every family has one HELP and its TYPE; the empty histogram has all zero buckets."""
    parsed = await scrape(slack)
    assert parsed.types == FAMILIES
    assert parsed.value("teambot_command_seconds_count") == 0
    assert [le for le, _ in parsed.buckets("teambot_command_seconds")] == [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf")
    ]  # fmt: skip
    assert parsed.series("teambot_commands_total") == {}


async def test_commands_errors_and_duplicates_are_counted(slack: Harness) -> None:
    """ok, user errors (a known and an unknown command) and a redelivered event, with the
    command histogram's count equal to the commands counted and its buckets cumulative."""
    await slack.slash("/task", "add First")
    await slack.slash("/task", "show T-99")
    await slack.slash("/teambot", "tsak list")
    await slack.event(mention("<@UBOT> task list", "Ev1"))
    await slack.event(mention("<@UBOT> task list", "Ev1"))  # Slack's retry of the same event
    parsed = await scrape(slack)
    commands = {
        tuple(sorted(labels)): value
        for labels, value in parsed.series("teambot_commands_total").items()
    }
    assert commands == {
        (("command", "task.add"), ("outcome", "ok")): 1,
        (("command", "task.show"), ("outcome", "user_error")): 1,
        (("command", "unknown"), ("outcome", "user_error")): 1,
        (("command", "task.list"), ("outcome", "ok")): 1,
        (("command", "task.list"), ("outcome", "duplicate")): 1,
    }
    assert parsed.value("teambot_command_seconds_count") == sum(commands.values()) == 5
    assert parsed.value("teambot_command_seconds_sum") > 0
    assert_histogram(parsed, "teambot_command_seconds")
    assert parsed.series("teambot_dedupe_hits_total") == {frozenset({("platform", "slack")}): 1}
    # The mention's list went out once, as an ephemeral message; slash commands answer in the ack.
    assert parsed.series("teambot_posts_total") == {
        frozenset({("platform", "slack"), ("kind", "reply"), ("outcome", "ok")}): 1
    }


async def test_dms_failures_and_rate_limit_waits_are_counted(slack: Harness) -> None:
    """A DM waited out one 429 (counted with the seconds waited); a refused reply is an error."""
    slack.fake.fail_next("chat.postMessage", Failure(429, {"ok": False, "error": "ratelimited"},
                                                     {"Retry-After": "0"}))  # fmt: skip
    await slack.slash("/task", "add For zoe <@W333|zoe>")
    slack.fake.fail_next(
        "chat.postMessage", Failure(200, {"ok": False, "error": "channel_not_found"})
    )
    await slack.event(mention("<@UBOT> task add Lost reply", "Ev2"))
    parsed = await scrape(slack)
    assert parsed.value("teambot_posts_total", platform="slack", kind="dm", outcome="ok") == 1
    assert parsed.value("teambot_posts_total", platform="slack", kind="reply", outcome="error") == 1
    assert parsed.value("teambot_rate_limit_waits_total", platform="slack") == 1
    waited = parsed.value("teambot_rate_limit_wait_seconds_total", platform="slack")
    assert 0 < waited < 2  # Retry-After: 0, plus slack-sdk's random second at most


async def test_scheduled_firings_count_outcomes_and_lag(
    slack: Harness, clock: Clock, db: Database
) -> None:
    """A standup on time (lag 0), a reminder skipped after its use (40 min late) and a summary
    posted late (10 min): runs by outcome, the lag histogram, the scheduled posts."""
    await slack.slash("/standup", "config time:09:30 cutoff:10:30 tz:UTC")
    adapter = slack.slack
    metrics = adapter.core.metrics
    clockwork = build_clockwork(
        adapter.core.router, hub_sender(adapter.hub), observer=metrics.firing
    )
    await clockwork.engine.run_due(at(clock, "2026-11-23T09:30:00+00:00"))
    await clockwork.engine.run_due(at(clock, "2026-11-23T10:40:00+00:00"))
    parsed = await scrape(slack)
    assert parsed.series("teambot_scheduler_runs_total") == {
        frozenset({("outcome", "posted")}): 1,
        frozenset({("outcome", "skipped")}): 1,
        frozenset({("outcome", "late")}): 1,
    }
    assert parsed.value("teambot_scheduler_lag_seconds_count") == 3
    assert parsed.value("teambot_scheduler_lag_seconds_sum") == 0 + 40 * 60 + 10 * 60
    assert parsed.bucket("teambot_scheduler_lag_seconds", 0.5) == 1
    assert parsed.bucket("teambot_scheduler_lag_seconds", 900) == 2
    assert_histogram(parsed, "teambot_scheduler_lag_seconds")
    assert (
        parsed.value("teambot_posts_total", platform="slack", kind="scheduled", outcome="ok") == 2
    )


async def test_feishu_rate_limit_wait_is_counted(db_url: str, clock: Clock) -> None:
    """Feishu's 99991400 with x-ogw-ratelimit-reset: 1 counts one wait of one second."""
    fake = FakeFeishu().start()
    try:
        async with running_feishu(feishu_settings(db_url, fake), fake, clock=clock) as feishu:
            fake.fail_next("/open-apis/im/v1/messages", FeishuFailure(
                429, {"code": 99991400, "msg": "request trigger frequency limit"},
                {"x-ogw-ratelimit-reset": "1"},
            ))  # fmt: skip
            await feishu.callback(message_event("task add 慢一点"))
            parsed = parse((await feishu.client.get("/metrics")).text)
    finally:
        fake.stop()
    assert parsed.value("teambot_rate_limit_waits_total", platform="feishu") == 1
    assert parsed.value("teambot_rate_limit_wait_seconds_total", platform="feishu") == 1
    assert parsed.value("teambot_posts_total", platform="feishu", kind="reply", outcome="ok") == 1
    assert parsed.value("teambot_commands_total", command="task.add", outcome="ok") == 1


def test_a_crash_is_counted_as_crash(db: Database, catalog: Catalog, clock: Clock) -> None:
    """A handler that raises is counted under its command with outcome crash."""

    def explode(ctx: Ctx, args: Args) -> Reply:
        raise RuntimeError("boom")

    registry = CommandRegistry.build(
        [Group("boom")],
        [
            CommandSpec(
                group="boom",
                name="now",
                handler=explode,
                usage="/boom now",
                examples=("/boom now",),
            )
        ],
    )
    metrics = Metrics()
    router = Router(
        db=db, catalog=catalog, registry=registry, clock=clock, observer=metrics.command_handled
    )
    Chat(router).say("mei", "boom now")
    parsed = parse(metrics.render().decode())
    assert parsed.value("teambot_commands_total", command="boom.now", outcome="crash") == 1
    assert parsed.value("teambot_command_seconds_count") == 1


# -- from many threads -----------------------------------------------------------------------


def test_counting_from_many_threads_loses_nothing() -> None:
    """Eight threads, 5,000 posts counted each: every one in /metrics."""
    metrics = Metrics()

    def work() -> None:
        for _ in range(5000):
            metrics.post(platform="slack", kind="dm", outcome="ok")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parsed = parse(metrics.render().decode())
    assert parsed.value("teambot_posts_total", platform="slack", kind="dm", outcome="ok") == 40000
