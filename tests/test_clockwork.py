"""The APScheduler facade: jobs built from the database with stable ids and their own time
zones, rebuilt on change, and an engine round at start for what was missed."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from commands.i18n import Catalog
from commands.types import Post
from schedules.clockwork import Clockwork
from schedules.engine import Engine, Retry, Undelivered
from storage.db import Database
from storage.models import ScheduleRun
from tests.chat import Chat
from tests.clock_support import Outbox, at
from tests.conftest import Clock

pytestmark = pytest.mark.anyio


async def test_jobs_follow_the_database_and_start_catches_up(
    chat: Chat, db: Database, catalog: Catalog, clock: Clock
) -> None:
    """Start at 09:35 Shanghai: the missed 09:30 prompt is posted (late); each standup has
    prompt, reminder and summary jobs at its local times, each digest one job on its
    weekday; turning a standup off removes its jobs at the next sync."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", "standup config time:09:30 tz:Asia/Shanghai cutoff:10:30")
    chat.say("mei", "digest weekly fri 17:00 tz:Europe/Berlin")
    outbox = Outbox()
    engine = Engine(db=db, catalog=catalog, send=outbox, clock=clock, name="t")
    clockwork = Clockwork(engine, resync=3600)
    at(clock, "2026-11-24T09:35:00+08:00")
    await clockwork.start()
    try:
        assert outbox.titles() == ["Standup time, 2026-11-24 (Tue) (posted late)"]
        assert sorted(clockwork.specs) == [
            "digest:1", "standup:1:prompt", "standup:1:reminder", "standup:1:summary",
        ]  # fmt: skip
        shanghai, berlin = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
        prompt = clockwork.next_run("standup:1:prompt").astimezone(shanghai)
        reminder = clockwork.next_run("standup:1:reminder").astimezone(shanghai)
        digest = clockwork.next_run("digest:1").astimezone(berlin)
        assert (prompt.hour, prompt.minute) == (9, 30)
        assert (reminder.hour, reminder.minute) == (10, 0)
        assert (digest.weekday(), digest.hour, digest.minute) == (4, 17, 0)
        chat.say("mei", "standup off")
        await clockwork.sync()
        assert sorted(clockwork.specs) == ["digest:1"]
        assert clockwork.next_run("standup:1:prompt") is None
    finally:
        await clockwork.stop()


async def test_shutdown_waits_for_a_round_in_progress_and_stops_the_clock(
    chat: Chat, db: Database, catalog: Catalog, clock: Clock
) -> None:
    """The app's shutdown (SIGTERM in `serve`) lets a round that is sending finish every
    post, then stops APScheduler: nothing half-sent, nothing firing afterwards."""
    from bot.core import Core
    from bot.serve import build_web_app

    at(clock, "2026-11-24T08:00:00+08:00")
    for n in range(5):
        chat.say("mei", "standup config time:09:30 tz:Asia/Shanghai cutoff:10:30", channel=f"c{n}")
    delivered: list[str] = []

    async def slow(post: Post) -> None:
        await asyncio.sleep(0.2)
        delivered.append(post.channel_id)

    engine = Engine(db=db, catalog=catalog, send=slow, clock=clock, name="t")
    clockwork = Clockwork(engine, resync=3600)
    web = build_web_app(core=Core(chat.router), clockwork=clockwork)
    async with web.router.lifespan_context(web):
        at(clock, "2026-11-24T09:30:00+08:00")
        round_ = asyncio.ensure_future(engine.run_due())
        await asyncio.sleep(0.05)  # the round is sending now
    assert sorted(delivered) == [f"c{n}" for n in range(5)]
    assert round_.done()
    assert not clockwork._scheduler.running


async def test_a_post_waiting_to_be_retried_holds_up_neither_start_nor_the_resync(
    chat: Chat, db: Database, catalog: Catalog, clock: Clock
) -> None:
    """The catch-up round at start tries each post once and returns while c0's post waits
    a minute for its next attempt; a re-sync meanwhile posts c2's standup; `health()` counts
    the post in flight; stopping gives it up and records it as failed."""
    at(clock, "2026-11-24T08:00:00+08:00")
    for n in range(2):
        chat.say("mei", "standup config time:09:30 tz:Asia/Shanghai cutoff:10:30", channel=f"c{n}")
    chat.say("mei", "standup config time:09:40 tz:Asia/Shanghai cutoff:10:30", channel="c2")
    outbox = Outbox()

    async def send(post: Post) -> None:
        if post.channel_id == "c0":
            raise Undelivered("HTTP 503", transient=True)
        await outbox(post)

    engine = Engine(db=db, catalog=catalog, send=send, clock=clock, name="t",
                    retry=Retry(first=60, longest=60))  # fmt: skip
    clockwork = Clockwork(engine, resync=3600)
    at(clock, "2026-11-24T09:35:00+08:00")
    await asyncio.wait_for(clockwork.start(), 10)
    try:
        assert [p.channel_id for p in outbox.take()] == ["c1"]
        health = clockwork.health()
        assert (health["running"], health["posts_in_flight"]) == (True, 1)
        at(clock, "2026-11-24T09:40:00+08:00")
        await asyncio.wait_for(clockwork.sync(), 10)
        assert [p.channel_id for p in outbox.take()] == ["c2"]
    finally:
        await asyncio.wait_for(clockwork.stop(), 10)
    assert clockwork.health()["posts_in_flight"] == 0
    with Session(db.engine) as session:
        rows = session.exec(select(ScheduleRun).where(ScheduleRun.status == "failed")).all()
        assert [r.schedule_key for r in rows] == ["standup:1:prompt"]
