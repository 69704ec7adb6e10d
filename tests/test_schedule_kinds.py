"""A kind of schedule is one entry: given to the engine, it is planned, claimed exactly
once, posted, and wakes the clockwork, with nothing else to change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from commands.i18n import Catalog
from commands.schedule import (
    Building,
    Due,
    Occurrence,
    ScheduleKind,
    Scope,
    Wake,
    end_of_day,
    local,
    local_days,
)
from commands.schedule_kinds import KINDS
from commands.types import Post, Reply, Rich
from schedules.clockwork import Clockwork, job_specs
from schedules.engine import Engine
from storage.db import Database
from storage.models import ScheduleRun
from tests.clock_support import Outbox, at
from tests.conftest import Clock

pytestmark = pytest.mark.anyio

NOON = time(12, 0)
ZONE = ZoneInfo("UTC")
SINCE = date(2026, 11, 24)


def _noon(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    return [
        Occurrence("noon", "noon:1", 1, day, local(day, NOON, ZONE), end_of_day(day, ZONE))
        for day in local_days(start, end, ZONE)
        if day >= SINCE  # a schedule counts from when it was set
    ]


def _noon_wakes(session: Session) -> dict[str, Wake]:
    return {"noon:1": Wake(NOON, "UTC")}


def _noon_posts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    return [
        [
            Post(
                platform="console",
                reply=Reply(title=Rich.lit(f"noon {d.occurrence.day} late={d.late}")),
                channel_id=f"C{d.occurrence.ref}",
            )
        ]
        for d in due
    ]


def _broken_posts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    raise RuntimeError("a bug in a kind")


NOON_KIND = ScheduleKind(name="noon", occurrences=_noon, wakes=_noon_wakes, posts=_noon_posts)


def statuses(db: Database) -> list[tuple[str, str]]:
    with db.transaction() as session:
        rows = session.exec(select(ScheduleRun).order_by(col(ScheduleRun.id))).all()
        return [(r.schedule_key, r.status) for r in rows]


async def test_a_new_kind_is_planned_claimed_once_posted_and_wakes_the_clock(
    db: Database, catalog: Catalog, clock: Clock
) -> None:
    """A kind given to the engine posts at its time, once across two engines (same claim
    keys), late when the round is late, and its wake time becomes a cron job."""
    kinds = (*KINDS, NOON_KIND)
    outbox = Outbox()
    first = Engine(db=db, catalog=catalog, send=outbox, clock=clock, name="a", kinds=kinds)
    second = Engine(db=db, catalog=catalog, send=outbox, clock=clock, name="b", kinds=kinds)
    at(clock, "2026-11-24T12:00:30+00:00")
    assert (await first.run_due()).posted == ["noon:1"]
    assert (await second.run_due()).lost == []  # already handled: not even planned again
    at(clock, "2026-11-25T12:10:00+00:00")
    assert (await second.run_due()).late == ["noon:1"]
    assert outbox.titles() == ["noon 2026-11-24 late=False", "noon 2026-11-25 late=True"]
    assert [p.channel_id for p in outbox.posts] == ["C1", "C1"]
    assert statuses(db) == [("noon:1", "posted"), ("noon:1", "posted")]
    with db.transaction() as session:
        assert job_specs(session, kinds)["noon:1"] == Wake(NOON, "UTC")
    clockwork = Clockwork(first, resync=3600)
    await clockwork.start()
    try:
        assert "noon:1" in clockwork.specs
        wakes_at = clockwork.next_run("noon:1").astimezone(UTC)
        assert (wakes_at.hour, wakes_at.minute) == (12, 0)
    finally:
        await clockwork.stop()


@pytest.mark.parametrize("batched", [False, True])
async def test_a_kind_that_fails_to_build_fails_alone(
    db: Database, catalog: Catalog, clock: Clock, batched: bool
) -> None:
    """A kind whose posts cannot be built (one at a time or as a batch) records its run as
    failed, and another kind due in the same round still posts."""
    broken = ScheduleKind(
        name="broken",
        occurrences=lambda session, *, start, end, scope: [
            Occurrence("broken", "broken:1", 1, o.day, o.at, o.until)
            for o in _noon(session, start=start, end=end, scope=scope)
        ],
        wakes=lambda session: {},
        posts=_broken_posts,
        batched=batched,
    )
    outbox = Outbox()
    engine = Engine(
        db=db, catalog=catalog, send=outbox, clock=clock, kinds=(broken, NOON_KIND), name="t"
    )
    at(clock, "2026-11-24T12:00:30+00:00")
    outcome = await engine.run_due()
    assert (outcome.posted, outcome.failed) == (["noon:1"], 1)
    assert sorted(statuses(db)) == [("broken:1", "failed"), ("noon:1", "posted")]


def test_kind_names_are_unique(db: Database, catalog: Catalog) -> None:
    """Every kind is listed once, and an engine refuses two kinds of one name."""
    assert len({kind.name for kind in KINDS}) == len(KINDS)
    with pytest.raises(ValueError, match="two schedule kinds of one name"):
        Engine(db=db, catalog=catalog, send=Outbox(), kinds=(NOON_KIND, NOON_KIND))


def test_a_window_has_the_local_days_of_its_zone() -> None:
    """The local days of a window are those of its ends in the zone, both included: two
    UTC days may be one local day."""
    start = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    days = list(local_days(start, start + timedelta(hours=2), ZoneInfo("Asia/Shanghai")))
    assert [str(d) for d in days] == ["2026-11-24"]  # 07:00 and 09:00 in Shanghai
