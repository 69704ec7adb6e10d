"""What the clock does, independent of how it is woken up.

`Engine.run_due(now)` looks at every schedule in the database, finds the
occurrences due by `now` (and those missed within `LOOKBACK`), and for each one
not yet handled:

1. claims it: inserts a `schedule_run` row keyed by (schedule, occurrence) in
   its own transaction. The unique key means exactly one process, of however
   many replicas and restarts, wins; the others skip it.
2. if it is no longer useful (past its `until`: the standup cutoff, the end of
   the digest's day) the claim is stored as `skipped` and logged, nothing is
   posted; otherwise the posts are built (by `commands`, in one transaction)
   and fanned out concurrently under a bound, marked late when posted more
   than `LATE_AFTER` after their time. The run ends as `posted` or `failed`.

A crash between the claim and the post loses that post rather than risk
posting it twice. Occurrences are per local day (`occurrence` is the local
date at midnight UTC), so changing a standup's time never posts it twice in
one day. Local times come from `zoneinfo`, so daylight-saving changes move the
UTC instant, never the wall-clock time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from commands import alerts, digest, standup
from commands.i18n import Catalog
from commands.types import Post
from schedules.calendar import is_workday, parse_days
from storage.db import Database
from storage.models import DigestConfig, Milestone, Project, ScheduleRun, StandupConfig
from storage.types import utcnow

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=26)
LATE_AFTER = timedelta(minutes=2)
FAN_OUT = 50
ALERT_TIME = time(9, 0)
MILESTONE_OFFSETS = (7, 3, 1, 0, -1)  # days before the due date; -1: overdue
REMIND_BEFORE = timedelta(minutes=30)
REMINDER_USEFUL = timedelta(minutes=5)  # a reminder with less time left is not sent

Send = Callable[[Post], Awaitable[None]]


@dataclass(frozen=True)
class Occurrence:
    key: str  # the schedule: "standup:12:prompt", "digest:3", "milestone:7:d3", "nudges:2"
    day: date  # the local day it belongs to
    at: datetime  # when it is due (UTC)
    until: datetime  # after this a late post is no longer useful (UTC)

    @property
    def occurrence(self) -> datetime:
        return datetime.combine(self.day, time(0), UTC)


@dataclass
class Outcome:
    """What one `run_due` did, for logs, metrics and tests."""

    posted: list[str] = field(default_factory=list)  # schedule keys
    late: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # claimed by someone else
    sent: int = 0
    failed: int = 0


def local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tz).astimezone(UTC)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return local(day + timedelta(days=1), time(0), tz) - timedelta(seconds=1)


def _days(start: datetime, end: datetime, tz: ZoneInfo) -> Iterable[date]:
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def reminder_time(config: StandupConfig) -> time:
    """Half an hour before the cutoff, or halfway when the window is shorter."""
    start = datetime.combine(date(2000, 1, 1), config.at)
    cutoff = datetime.combine(date(2000, 1, 1), config.cutoff)
    remind = max(cutoff - REMIND_BEFORE, start + (cutoff - start) / 2)
    return remind.time().replace(microsecond=0)


def standup_occurrences(config: StandupConfig, start: datetime, end: datetime) -> list[Occurrence]:
    tz = ZoneInfo(config.timezone)
    days = parse_days(config.days)
    out = []
    for day in _days(start, end, tz):
        if not is_workday(day, days=days, calendar=config.calendar):
            continue
        cutoff = local(day, config.cutoff, tz)
        base = f"standup:{config.id}"
        out += [
            Occurrence(f"{base}:prompt", day, local(day, config.at, tz), cutoff),
            Occurrence(
                f"{base}:reminder",
                day,
                local(day, reminder_time(config), tz),
                cutoff - REMINDER_USEFUL,
            ),
            Occurrence(f"{base}:summary", day, cutoff, end_of_day(day, tz)),
        ]
    # A schedule counts from when it was set: nothing is "missed" before that.
    return [o for o in out if o.at >= config.updated_at]


def digest_occurrences(config: DigestConfig, start: datetime, end: datetime) -> list[Occurrence]:
    tz = ZoneInfo(config.timezone)
    return [
        Occurrence(f"digest:{config.id}", day, local(day, config.at, tz), end_of_day(day, tz))
        for day in _days(start, end, tz)
        if (config.cadence == "daily" or day.weekday() == config.weekday)
        and local(day, config.at, tz) >= config.created_at
    ]


def milestone_occurrences(
    milestone: Milestone, tz: ZoneInfo, start: datetime, end: datetime
) -> list[Occurrence]:
    wanted = {milestone.due - timedelta(days=offset): offset for offset in MILESTONE_OFFSETS}
    return [
        Occurrence(
            f"milestone:{milestone.id}:d{wanted[day]}",
            day,
            local(day, ALERT_TIME, tz),
            end_of_day(day, tz),
        )
        for day in _days(start, end, tz)
        if day in wanted and local(day, ALERT_TIME, tz) >= milestone.created_at
    ]


def nudge_occurrences(project: Project, start: datetime, end: datetime) -> list[Occurrence]:
    tz = ZoneInfo(project.timezone)
    return [
        Occurrence(f"nudges:{project.id}", day, local(day, ALERT_TIME, tz), end_of_day(day, tz))
        for day in _days(start, end, tz)
        if day.weekday() < 5
    ]


def plan(session: Session, *, start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence of every schedule with its time in (start, end]."""
    out: list[Occurrence] = []
    for config in session.exec(select(StandupConfig).where(col(StandupConfig.enabled))):
        out += standup_occurrences(config, start, end)
    for dconfig in session.exec(select(DigestConfig).where(col(DigestConfig.enabled))):
        out += digest_occurrences(dconfig, start, end)
    window = (start.date() - timedelta(days=2), end.date() + timedelta(days=9))
    rows = session.exec(
        select(Milestone, Project.timezone)
        .join(Project, col(Project.id) == Milestone.project_id)
        .where(
            Milestone.status == "open",
            col(Milestone.due) >= window[0],
            col(Milestone.due) <= window[1],
        )
    ).all()
    for milestone, zone in rows:
        out += milestone_occurrences(milestone, ZoneInfo(zone), start, end)
    for project in session.exec(select(Project).where(col(Project.overdue_nudges))):
        out += nudge_occurrences(project, start, end)
    return sorted((o for o in out if start < o.at <= end), key=lambda o: (o.at, o.key))


@dataclass(frozen=True)
class _Run:
    occurrence: Occurrence
    run_id: int
    late: bool
    posts: list[Post]


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Engine:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        send: Send,
        default_locale: str = "en",
        clock: Callable[[], datetime] = utcnow,
        fan_out: int = FAN_OUT,
        name: str | None = None,
        charts: bool = True,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.send = send
        self.default_locale = default_locale
        self.clock = clock
        self.fan_out = fan_out
        self.name = name or instance_name()
        self.charts = charts
        self._lock = asyncio.Lock()

    def busy(self) -> asyncio.Lock:
        """Held while a round runs: `async with engine.busy()` waits for it."""
        return self._lock

    # -- the whole round -------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> Outcome:
        """Handle everything due by `now` that nobody has handled yet: claim each
        occurrence, build its posts, then send all posts of the round together."""
        now = now or self.clock()
        outcome = Outcome()
        async with self._lock:  # one round at a time in this process
            due = await asyncio.to_thread(self._unhandled, now)
            if due:
                runs = await asyncio.to_thread(self._claim_and_build, due, now, outcome)
                await self._send_all(runs, outcome)
        return outcome

    def _unhandled(self, now: datetime) -> list[Occurrence]:
        with self.db.transaction() as session:
            due = plan(session, start=now - LOOKBACK, end=now)
            if not due:
                return []
            keys = {o.key for o in due}
            done = set(
                session.exec(
                    select(ScheduleRun.schedule_key, ScheduleRun.occurrence).where(
                        col(ScheduleRun.schedule_key).in_(keys),
                        col(ScheduleRun.occurrence) >= min(o.occurrence for o in due),
                    )
                ).all()
            )
        return [o for o in due if (o.key, o.occurrence) not in done]

    def _claim_and_build(
        self, due: list[Occurrence], now: datetime, outcome: Outcome
    ) -> list[_Run]:
        runs = []
        for occurrence in due:
            useful = now <= occurrence.until
            late = now - occurrence.at > LATE_AFTER
            run_id = self._claim(occurrence, "claimed" if useful else "skipped", late, now)
            if run_id is None:
                outcome.lost.append(occurrence.key)
                continue
            if not useful:
                log.warning(
                    "skipped a missed firing: %s for %s was due %s, useful until %s",
                    occurrence.key,
                    occurrence.day,
                    occurrence.at.isoformat(),
                    occurrence.until.isoformat(),
                )
                outcome.skipped.append(occurrence.key)
                continue
            try:
                posts = self._build(occurrence, now, late)
            except Exception:
                log.exception("building %s for %s failed", occurrence.key, occurrence.day)
                self._finish({run_id: "failed"})
                outcome.failed += 1
                continue
            runs.append(_Run(occurrence, run_id, late, posts))
        return runs

    async def _send_all(self, runs: list[_Run], outcome: Outcome) -> None:
        gate = asyncio.Semaphore(self.fan_out)
        sent = {run.run_id: 0 for run in runs}
        failed = {run.run_id: 0 for run in runs}

        async def one(run: _Run, post: Post) -> None:
            async with gate:
                try:
                    await self.send(post)
                except Exception:
                    failed[run.run_id] += 1
                    log.exception("post failed: %s (%s)", post.target, run.occurrence.key)
                else:
                    sent[run.run_id] += 1

        await asyncio.gather(*(one(run, post) for run in runs for post in run.posts))
        statuses = {}
        for run in runs:
            outcome.sent += sent[run.run_id]
            outcome.failed += failed[run.run_id]
            (outcome.late if run.late else outcome.posted).append(run.occurrence.key)
            if run.late:
                log.info("posted late: %s for %s", run.occurrence.key, run.occurrence.day)
            gone = failed[run.run_id] and not sent[run.run_id]
            statuses[run.run_id] = "failed" if gone else "posted"
        await asyncio.to_thread(self._finish, statuses)

    def _claim(self, occurrence: Occurrence, status: str, late: bool, now: datetime) -> int | None:
        try:
            with self.db.transaction() as session:
                run = ScheduleRun(
                    schedule_key=occurrence.key,
                    occurrence=occurrence.occurrence,
                    claimed_by=self.name,
                    claimed_at=now,
                    status=status,
                    late=late,
                    finished_at=now if status == "skipped" else None,
                )
                session.add(run)
                session.flush()
                return run.id
        except IntegrityError:
            return None

    def _finish(self, statuses: dict[int, str]) -> None:
        with self.db.transaction() as session:
            for run_id, status in statuses.items():
                run = session.get(ScheduleRun, run_id)
                if run is not None:
                    run.status = status
                    run.finished_at = self.clock()
                    session.add(run)

    def _build(self, occurrence: Occurrence, now: datetime, late: bool) -> list[Post]:
        kind, ref, *rest = occurrence.key.split(":")
        day = occurrence.day
        with self.db.transaction() as session:
            if kind == "standup":
                place = standup.place_of(
                    session, config_id=int(ref), default_locale=self.default_locale
                )
                if place is None:
                    return []
                if rest == ["prompt"]:
                    return [standup.prompt_post(self.catalog, place, day=day, late=late)]
                if rest == ["reminder"]:
                    return standup.reminder_posts(
                        session, self.catalog, place, day=day, now=now, late=late
                    )
                return [
                    standup.summary_post(session, self.catalog, place, day=day, now=now, late=late)
                ]
            if kind == "digest":
                return digest.digest_posts(
                    session,
                    self.catalog,
                    config_id=int(ref),
                    now=now,
                    late=late,
                    default_locale=self.default_locale,
                    chart=self.charts,
                )
            if kind == "milestone":
                return alerts.milestone_posts(
                    session,
                    self.catalog,
                    milestone_id=int(ref),
                    offset=int(rest[0][1:]),
                    day=day,
                    late=late,
                    default_locale=self.default_locale,
                )
            if kind == "nudges":
                return alerts.nudge_posts(
                    session,
                    self.catalog,
                    project_id=int(ref),
                    day=day,
                    default_locale=self.default_locale,
                )
        raise ValueError(f"unknown schedule {occurrence.key}")
