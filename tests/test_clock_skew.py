"""Replicas agree on time: what is due is decided by the database's clock, read once per
round, so a replica whose own clock is ten minutes fast neither skips nor posts early; the
distance between the clocks is measured each round, shown by `Clockwork.health()` and the
`teambot_clock_skew_seconds` gauge. These tests run on real time (the database's clock
cannot be set), with a standup placed around the current minute."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.metrics import Metrics
from bot.scheduling import build_clockwork
from commands.i18n import Catalog
from commands.router import Router
from commands.table import build_registry
from schedules.engine import Engine
from storage.db import Database
from storage.models import ScheduleRun
from storage.types import utcnow
from tests.chat import Chat
from tests.clock_support import Outbox
from tests.conftest import Clock

pytestmark = pytest.mark.anyio

FAST = timedelta(minutes=10)


def noon_zone(moment: datetime) -> ZoneInfo:
    """A fixed-offset zone where `moment` is around noon: the standup's window, a few
    minutes either side of now, stays inside one local day."""
    offset = (12 - moment.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    # The POSIX names count the other way: Etc/GMT-5 is five hours ahead of UTC.
    return ZoneInfo(f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}")


def skewed(by: timedelta) -> Callable[[], datetime]:
    return lambda: utcnow() + by


def replica(
    db_url: str, catalog: Catalog, outbox: Outbox, name: str,
    clock: Callable[[], datetime] = utcnow,
) -> Engine:  # fmt: skip
    """A replica: its own connection pool, its own clock, the database's time."""
    return Engine(db=Database(db_url), catalog=catalog, send=outbox, clock=clock,
                  time_source="database", name=name)  # fmt: skip


async def test_a_replica_ten_minutes_fast_neither_skips_nor_posts_early(
    chat: Chat, clock: Clock, db_url: str, db: Database, catalog: Catalog
) -> None:
    """A standup whose prompt is due this minute and whose cutoff is six minutes away: the
    replica ten minutes fast posts the prompt on time (not late) and claims nothing else —
    no reminder or prompt skipped, no summary before the cutoff; the other replica finds it
    all done. Each measures its clock against the database's."""
    now = utcnow()
    zone = noon_zone(now)
    prompt = now.astimezone(zone).replace(second=0, microsecond=0)
    cutoff = prompt + timedelta(minutes=6)
    clock.now = now - timedelta(hours=1)  # the standup was set an hour ago
    answer = chat.say(
        "mei", f"standup config time:{prompt:%H:%M} tz:{zone.key} cutoff:{cutoff:%H:%M} "
        "days:daily calendar:none",
    )  # fmt: skip
    assert answer.tone.value == "success"
    outbox = Outbox()
    fast = replica(db_url, catalog, outbox, "fast", clock=skewed(FAST))
    right = replica(db_url, catalog, outbox, "right")
    try:
        first = await fast.run_due()
        second = await right.run_due()
    finally:
        fast.db.dispose()
        right.db.dispose()
    assert outbox.titles() == [f"Standup time, {prompt:%Y-%m-%d (%a)}"]
    assert (first.posted, first.skipped, second.posted, second.skipped) == (
        ["standup:1:prompt"], [], [], [],
    )  # fmt: skip
    with Session(db.engine) as session:
        rows = session.exec(select(ScheduleRun)).all()
        assert [(r.schedule_key, r.status, r.late, r.claimed_by) for r in rows] == [
            ("standup:1:prompt", "posted", False, "fast")
        ]
    assert fast.skew is not None and right.skew is not None
    assert abs(fast.skew - FAST.total_seconds()) < 5
    assert abs(right.skew) < 5


async def test_the_skew_is_measured_each_round_shown_and_counted(
    db: Database, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """A clock 42 s behind the database's: the round measures about -42 s, logs one warning,
    sets the gauge, and `health()` reports it as off (more than 30 s); the clock that decides
    what is due is the database's."""
    metrics = Metrics()
    engine = Engine(db=db, catalog=catalog, send=Outbox(), clock=skewed(timedelta(seconds=-42)),
                    time_source="database", observer=metrics.firing)  # fmt: skip
    assert engine.health()["skew_seconds"] is None
    with caplog.at_level(logging.WARNING, logger="schedules.engine"):
        await engine.run_due()
        await engine.run_due()
    assert engine.skew is not None and abs(engine.skew + 42) < 5
    assert abs(metrics.value("teambot_clock_skew_seconds") + 42) < 5
    assert abs((engine.now() - utcnow()).total_seconds()) < 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "schedules.engine"]
    assert len(warnings) == 1 and "off the database's" in warnings[0]
    health = engine.health()
    assert health["time_source"] == "database"
    assert health["skew_ok"] is False
    assert abs(health["skew_seconds"] + 42) < 5
    assert health["posts_in_flight"] == 0
    assert health["last_round_at"] is not None


async def test_serve_decides_by_the_database_and_tests_by_their_own_clock(
    db: Database, catalog: Catalog, clock: Clock
) -> None:
    """`build_clockwork` takes the database's clock for a router on the real clock (serve,
    the console) and the router's own for an injected one; `health()` shows which, and that
    the clock is not running before `start()`."""

    def router(on: Callable[[], datetime]) -> Router:
        return Router(db=db, catalog=catalog, registry=build_registry(), clock=on)

    served = build_clockwork(router(utcnow), Outbox())
    tested = build_clockwork(router(clock), Outbox())
    assert served.engine.time_source == "database"
    assert tested.engine.time_source == "local"
    await served.engine.run_due()
    await tested.engine.run_due()
    assert served.health()["running"] is False
    assert served.health()["skew_ok"] is True
    assert abs(served.health()["skew_seconds"]) < 5
    assert tested.health()["skew_seconds"] is None
    assert tested.engine.last_round == clock.now
