"""The clock against failing platforms, through the real Slack and Feishu adapters and the
fake platform APIs: each post has its own time-out and never holds up another channel;
passing failures (5xx, no answer) are retried with the same idempotency key while the post
is still useful; a post that finally fails is recorded, logged once and counted, never
turned into an apology."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.hub import Hub
from bot.metrics import Metrics
from bot.scheduling import hub_sender
from commands.types import Post
from schedules.engine import Engine, Retry
from storage.db import Database
from storage.models import ScheduleRun
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.fake_trouble import Answer, Page
from tests.feishu_support import FeishuHarness, feishu_settings, message_event
from tests.feishu_support import running as feishu_running
from tests.slack_support import Harness, running, settings_for

pytestmark = pytest.mark.anyio

QUICK = Retry(first=0.05, longest=0.2)  # the production time-out, short waits between tries
CONFIG = "config time:09:30 tz:UTC cutoff:10:30"
BUSY = Page(503, "<html><body>Service Unavailable</body></html>")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    for user, name in (("W111", "mei"), ("W222", "ana"), ("W333", "li")):
        server.add_user(user, name)
    yield server
    server.trouble.release()
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        yield harness


def engine_for(adapter: Any, clock: Clock, *, retry: Retry = QUICK, send: Any = None) -> Engine:
    hub = Hub()
    hub.register(adapter)
    router = adapter.core.router
    return Engine(
        db=router.db, catalog=router.catalog, send=send or hub_sender(hub), clock=clock,
        retry=retry, observer=adapter.core.metrics.firing,
    )  # fmt: skip


def statuses(db: Database) -> dict[str, str]:
    with Session(db.engine) as session:
        return {r.schedule_key: r.status for r in session.exec(select(ScheduleRun)).all()}


def answered(fake: FakeSlack) -> Counter[str]:
    """chat.postMessage calls the fake took, by channel."""
    return Counter(
        c.args["channel"] for c in fake.calls if c.method == "chat.postMessage" and c.status == 200
    )


def statuses_to(fake: FakeSlack, channel: str) -> list[int]:
    return [
        c.status for c in fake.calls
        if c.method == "chat.postMessage" and c.args.get("channel") == channel
    ]  # fmt: skip


async def test_a_hanging_post_holds_up_no_other_channel(
    slack: Harness, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """C100's chat.postMessage gets no answer: its attempt ends at the post's time-out and is
    tried again, while the other channels of its round, and a later round's, are posted;
    once Slack answers, C100 is posted once."""
    for n in range(4):
        await slack.slash("/standup", CONFIG, channel=f"C10{n}", channel_name=f"early-{n}")
        await slack.slash("/standup", "config time:09:31 tz:UTC cutoff:10:30",
                          channel=f"C20{n}", channel_name=f"later-{n}")  # fmt: skip
    fake.trouble.hang("C100", 120)
    engine = engine_for(slack.slack, clock, retry=Retry(timeout=2.0, first=0.05, longest=0.2))
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    first = await engine.start_round()
    await asyncio.wait_for(first.attempted(), 10)  # C100's first attempt timed out
    assert first.outcome.retries >= 1
    clock.now = datetime(2026, 11, 24, 9, 31, tzinfo=UTC)
    later = await asyncio.wait_for(engine.run_due(), 10)
    assert (later.sent, later.failed) == (4, 0)
    assert answered(fake) == Counter({f"C{n}": 1 for n in (101, 102, 103, 200, 201, 202, 203)})
    assert engine.in_flight == 1  # C100, waiting for an answer or its next attempt
    fake.trouble.release()
    outcome = await asyncio.wait_for(first.finished(), 10)
    assert (outcome.sent, outcome.failed) == (4, 0)
    assert answered(fake)["C100"] == 1
    assert len(fake.trouble.abandoned) == outcome.retries  # every attempt cut short was dropped
    assert set(statuses(db).values()) == {"posted"}


async def test_slack_500_and_503_are_retried_and_the_post_made_once(
    slack: Harness, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """Slack answers 500 (JSON) and then 503 (an HTML page) to the standup prompt: it is tried
    again after each, posted once, and the retries are counted."""
    await slack.slash("/standup", CONFIG, channel="C111")
    fake.trouble.fail("C111", Answer(500, {"ok": False, "error": "internal_error"}), BUSY)
    engine = engine_for(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    outcome = await engine.run_due()
    assert statuses_to(fake, "C111") == [500, 503, 200]
    assert (outcome.sent, outcome.failed, outcome.retries) == (1, 0, 2)
    assert statuses(db) == {"standup:1:prompt": "posted"}
    metrics: Metrics = slack.slack.core.metrics
    assert metrics.value("teambot_scheduled_posts_total", platform="slack", outcome="posted") == 1
    assert metrics.value("teambot_scheduled_post_retries_total", platform="slack") == 2
    assert metrics.value("teambot_scheduler_runs_total", outcome="posted") == 1


async def test_a_digest_whose_chart_upload_is_slow_is_posted_once(
    slack: Harness, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """The digest's message is out but its chart's upload hangs past the attempt's time-out:
    the post counts as made (no second message), and the chart still arrives."""
    await slack.slash("/task", "add Something to chart", channel="C111")
    await slack.slash("/digest", "daily 09:30", channel="C111")
    fake.hang("files.getUploadURLExternal", 1.5)
    engine = engine_for(slack.slack, clock, retry=Retry(timeout=1.0, first=0.05, longest=0.2))
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    outcome = await asyncio.wait_for(engine.run_due(), 10)
    assert (outcome.sent, outcome.failed, outcome.retries) == (1, 0, 0)
    assert statuses_to(fake, "C111") == [200]
    await slack.slack.background.drain()
    assert [f["channel"] for f in fake.files] == ["C111"]


async def test_a_refused_post_is_recorded_logged_once_and_counted(
    slack: Harness, fake: FakeSlack, clock: Clock, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The 10:00 reminder goes to ana and li one to one; Slack refuses ana's for good
    (channel_not_found): not retried, li's still sent, the run recorded as partial, one
    error line naming the target and the schedule, and the failure counted."""
    await slack.slash("/standup", CONFIG, channel="C111")
    await slack.slash("/task", "add Ship the installer <@W222|ana>", channel="C111")
    await slack.slash("/raci", "T-1 A <@W333|li>", channel="C111")
    engine = engine_for(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    await engine.run_due()
    fake.calls.clear()  # the DMs to the new R and A
    fake.trouble.fail("W222", Answer(200, {"ok": False, "error": "channel_not_found"}))
    clock.now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="schedules.engine"):
        outcome = await engine.run_due()
    assert statuses_to(fake, "W222") == [200]  # refused once (ok: false, with HTTP 200)
    assert statuses_to(fake, "W333") == [200]
    assert (outcome.sent, outcome.failed, outcome.retries) == (1, 1, 0)
    assert outcome.partial == ["standup:1:reminder"]
    assert statuses(db)["standup:1:reminder"] == "partial"
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in failures] == [
        "post failed: slack:@W222 (standup:1:reminder for 2026-11-24) after 1 attempt(s): "
        "chat.postMessage: channel_not_found (HTTP 200)"
    ]
    metrics: Metrics = slack.slack.core.metrics
    assert metrics.value("teambot_scheduled_posts_total", platform="slack", outcome="failed") == 1
    assert metrics.value("teambot_scheduled_posts_total", platform="slack", outcome="posted") == 2
    assert metrics.value("teambot_scheduler_runs_total", outcome="partial") == 1


async def test_a_post_failing_until_it_is_no_longer_useful_is_given_up(
    slack: Harness, fake: FakeSlack, clock: Clock, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack answers 503 for ever and each attempt takes twenty minutes of the clock: the
    prompt (useful until the 10:30 cutoff) is tried at 09:50, 10:10 and 10:30, then given up
    and recorded as failed, with one error line."""
    await slack.slash("/standup", CONFIG, channel="C111")
    fake.trouble.fail("C111", *[BUSY] * 5)
    hub = Hub()
    hub.register(slack.slack)
    inner = hub_sender(hub)

    async def slow(post: Post) -> None:
        clock.advance(minutes=20)
        await inner(post)

    engine = engine_for(slack.slack, clock, send=slow)
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    with caplog.at_level(logging.ERROR, logger="schedules.engine"):
        outcome = await engine.run_due()
    assert statuses_to(fake, "C111") == [503, 503, 503]
    assert (outcome.sent, outcome.failed, outcome.retries) == (0, 1, 2)
    assert statuses(db) == {"standup:1:prompt": "failed"}
    [line] = [r.getMessage() for r in caplog.records if r.name == "schedules.engine"]
    assert line.startswith("post failed: slack:C111 (standup:1:prompt for 2026-11-24) after 3 ")
    assert line.endswith("HTTP 503, not JSON; no longer useful after 2026-11-24T10:30:00+00:00")


async def test_stopping_gives_up_a_post_waiting_to_be_retried(
    slack: Harness, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """A post waiting a minute for its next attempt does not hold up the shutdown: it is
    given up at once and recorded as failed; the other channel's post went out."""
    await slack.slash("/standup", CONFIG, channel="C111")
    await slack.slash("/standup", CONFIG, channel="C222")
    fake.trouble.fail("C111", BUSY)
    engine = engine_for(slack.slack, clock, retry=Retry(first=60, longest=60))
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    round_ = await engine.start_round()
    await asyncio.wait_for(round_.attempted(), 10)
    await asyncio.wait_for(engine.stop(), 10)
    outcome = await round_.finished()
    assert (outcome.sent, outcome.failed, outcome.retries) == (1, 1, 1)
    assert statuses_to(fake, "C111") == [503]
    assert sorted(statuses(db).values()) == ["failed", "posted"]


# -- Feishu ---------------------------------------------------------------------------------


@pytest.fixture
def feishu_fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美"})
    yield server
    server.trouble.release()
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, feishu_fake: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    async with feishu_running(feishu_settings(db_url, feishu_fake), feishu_fake,
                              clock=clock) as harness:  # fmt: skip
        yield harness


async def test_feishu_502_is_retried_with_one_uuid_and_never_apologised(
    feishu: FeishuHarness, feishu_fake: FakeFeishu, clock: Clock, db: Database
) -> None:
    """Feishu's gateway answers 502 (an HTML page), then "server busy" (230020): the clock
    retries the 502, the adapter waits out the rate limit, and the prompt card is created on
    the third attempt, every attempt carrying the same uuid; no apology reaches the group
    and the run is recorded as posted."""
    await feishu.callback(message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:10:30"))
    feishu_fake.trouble.fail(
        "oc_group1", Page(502), Answer(200, {"code": 230020, "msg": "server busy"})
    )
    engine = engine_for(feishu.feishu, clock)
    before = len(feishu_fake.sent())
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    outcome = await engine.run_due()
    [card] = feishu_fake.sent()[before:]
    assert card["msg_type"] == "interactive"
    assert card["content"]["header"]["title"]["content"] == "Standup time, 2026-11-24 (Tue)"
    attempts = [c.body["uuid"] for c in feishu_fake.failed] + [card["uuid"]]
    assert len(attempts) == 3 and len(set(attempts)) == 1 and len(attempts[0]) == 40
    assert (outcome.sent, outcome.failed, outcome.retries) == (1, 0, 1)
    assert statuses(db) == {"standup:1:prompt": "posted"}
    metrics: Metrics = feishu.feishu.core.metrics
    assert metrics.value("teambot_scheduled_post_retries_total", platform="feishu") == 1
    assert metrics.value("teambot_rate_limit_waits_total", platform="feishu") == 1


async def test_feishu_refusing_a_scheduled_post_gets_no_apology(
    feishu: FeishuHarness, feishu_fake: FakeFeishu, clock: Clock, db: Database
) -> None:
    """The bot was removed from the group (230002): the prompt is not retried, nothing else
    (no apology) is sent to the group, and the run is recorded as failed."""
    await feishu.callback(message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:10:30"))
    feishu_fake.trouble.fail(
        "oc_group1", Answer(400, {"code": 230002, "msg": "Bot/User can NOT be out of the chat."})
    )
    engine = engine_for(feishu.feishu, clock)
    before = len(feishu_fake.sent())
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    outcome = await engine.run_due()
    assert feishu_fake.sent()[before:] == []
    assert len(feishu_fake.failed) == 1
    assert (outcome.sent, outcome.failed, outcome.retries) == (0, 1, 0)
    assert statuses(db) == {"standup:1:prompt": "failed"}
