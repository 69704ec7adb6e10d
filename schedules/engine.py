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
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import update
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
SKIPS_LOGGED = 20  # a long outage of many channels logs a count, not a line each
CLAIM_CHUNK = 2000  # claims per transaction
BUILD_CHUNK = 500  # occurrences claimed and built before their posts start going out
ALERT_TIME = time(9, 0)
MILESTONE_OFFSETS = (7, 3, 1, 0, -1)  # days before the due date; -1: overdue
REMIND_BEFORE = timedelta(minutes=30)
REMINDER_USEFUL = timedelta(minutes=5)  # see _reminder_until

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


@dataclass(frozen=True)
class Firing:
    """One occurrence a round handled, for an observer (metrics)."""

    key: str  # the schedule
    outcome: str  # posted | late | skipped | lost | failed
    lag: float | None  # seconds from its due time to the round; None when lost to another


FiringObserver = Callable[[Firing], None]


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
    return _reminder(config.at, config.cutoff)


def _reminder(at: time, cutoff: time) -> time:
    """Half an hour before the cutoff, or halfway when the window is shorter."""
    start = datetime.combine(date(2000, 1, 1), at)
    end = datetime.combine(date(2000, 1, 1), cutoff)
    remind = max(end - REMIND_BEFORE, start + (end - start) / 2)
    return remind.time().replace(microsecond=0)


def _reminder_until(remind: datetime, cutoff: datetime) -> datetime:
    """A reminder is still worth sending while people keep at least half of the time it
    meant to give them (from its own time to the cutoff), and at most five minutes:
    30 minutes before a 10:30 cutoff it goes out until 10:25; in a 09:30-09:36 window,
    at 09:33, until 09:34:30. Never before its own time."""
    return cutoff - min(REMINDER_USEFUL, (cutoff - remind) / 2)


@dataclass(frozen=True)
class _Standup:
    """What decides a standup's times; many channels share one."""

    at: time
    cutoff: time
    timezone: str
    days: str
    calendar: str


@lru_cache(maxsize=4096)
def _standup_times(
    shape: _Standup, first: date, last: date
) -> tuple[tuple[str, date, datetime, datetime], ...]:
    """(part, day, due, useful until) of a standup's posts on the local days first..last."""
    tz = ZoneInfo(shape.timezone)
    days = parse_days(shape.days)
    reminder = _reminder(shape.at, shape.cutoff)
    out = []
    day = first
    while day <= last:
        if is_workday(day, days=days, calendar=shape.calendar):
            cutoff = local(day, shape.cutoff, tz)
            remind = local(day, reminder, tz)
            out += [
                ("prompt", day, local(day, shape.at, tz), cutoff),
                ("reminder", day, remind, _reminder_until(remind, cutoff)),
                ("summary", day, cutoff, end_of_day(day, tz)),
            ]
        day += timedelta(days=1)
    return tuple(out)


def standup_occurrences(
    config_id: int, shape: _Standup, updated_at: datetime, start: datetime, end: datetime
) -> list[Occurrence]:
    tz = ZoneInfo(shape.timezone)
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    # A schedule counts from when it was set: nothing is "missed" before that.
    return [
        Occurrence(f"standup:{config_id}:{part}", day, at, until)
        for part, day, at, until in _standup_times(shape, first, last)
        if start < at <= end and at >= updated_at
    ]


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
    standups = session.execute(
        sa_select(
            col(StandupConfig.id),
            col(StandupConfig.at),
            col(StandupConfig.cutoff),
            col(StandupConfig.timezone),
            col(StandupConfig.days),
            col(StandupConfig.calendar),
            col(StandupConfig.updated_at),
        ).where(col(StandupConfig.enabled))
    ).all()
    for config_id, at, cutoff, zone, days, calendar, updated_at in standups:
        shape = _Standup(at, cutoff, zone, days, calendar)
        out += standup_occurrences(config_id or 0, shape, updated_at, start, end)
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
        observer: FiringObserver | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.send = send
        self.default_locale = default_locale
        self.clock = clock
        self.fan_out = fan_out
        self.name = name or instance_name()
        self.charts = charts
        self.observer = observer  # told the outcome of every occurrence handled
        self._lock = asyncio.Lock()

    def busy(self) -> asyncio.Lock:
        """Held while a round runs: `async with engine.busy()` waits for it."""
        return self._lock

    # -- the whole round -------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> Outcome:
        """Handle everything due by `now` that nobody has handled yet. Occurrences are
        claimed and built in chunks in a worker thread while the posts of the chunks
        already built are being sent: building never waits for sending, nor the reverse."""
        now = now or self.clock()
        outcome = Outcome()
        async with self._lock:  # one round at a time in this process
            due = await asyncio.to_thread(self._unhandled, now)
            if due:
                await self._pipeline(due, now, outcome)
                if len(outcome.skipped) > SKIPS_LOGGED:
                    log.warning(
                        "skipped %d missed firings in all (the first %d are logged above)",
                        len(outcome.skipped),
                        SKIPS_LOGGED,
                    )
        return outcome

    async def _pipeline(self, due: list[Occurrence], now: datetime, outcome: Outcome) -> None:
        loop = asyncio.get_running_loop()
        built: asyncio.Queue[list[_Run] | None] = asyncio.Queue()

        def produce() -> None:
            try:
                for start in range(0, len(due), BUILD_CHUNK):
                    runs = self._claim_and_build(due[start : start + BUILD_CHUNK], now, outcome)
                    loop.call_soon_threadsafe(built.put_nowait, runs)
            finally:
                loop.call_soon_threadsafe(built.put_nowait, None)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        gate = asyncio.Semaphore(self.fan_out)
        runs: list[_Run] = []
        sending: list[asyncio.Future[None]] = []
        sent: dict[int, int] = {}
        failed: dict[int, int] = {}

        async def one(run: _Run, post: Post) -> None:
            async with gate:
                try:
                    await self.send(post)
                except Exception:
                    failed[run.run_id] += 1
                    log.exception("post failed: %s (%s)", post.target, run.occurrence.key)
                else:
                    sent[run.run_id] += 1

        while (chunk := await built.get()) is not None:
            for run in chunk:
                runs.append(run)
                sent[run.run_id] = failed[run.run_id] = 0
                sending += [asyncio.ensure_future(one(run, post)) for post in run.posts]
        await producer
        await asyncio.gather(*sending)
        statuses = {}
        for run in runs:
            outcome.sent += sent[run.run_id]
            outcome.failed += failed[run.run_id]
            (outcome.late if run.late else outcome.posted).append(run.occurrence.key)
            if run.late:
                log.info("posted late: %s for %s", run.occurrence.key, run.occurrence.day)
            gone = failed[run.run_id] and not sent[run.run_id]
            statuses[run.run_id] = "failed" if gone else "posted"
            result = "failed" if gone else "late" if run.late else "posted"
            self._observe(run.occurrence, result, now)
        await asyncio.to_thread(self._finish, statuses)

    def _observe(self, occurrence: Occurrence, outcome: str, now: datetime | None) -> None:
        if self.observer is None:
            return
        lag = None if now is None else (now - occurrence.at).total_seconds()
        try:
            self.observer(Firing(occurrence.key, outcome, lag))
        except Exception:
            log.exception("the clock's observer failed")

    def _unhandled(self, now: datetime) -> list[Occurrence]:
        with self.db.transaction() as session:
            due = plan(session, start=now - LOOKBACK, end=now)
            if not due:
                return []
            days = [o.occurrence for o in due]
            done = set(
                session.exec(
                    select(ScheduleRun.schedule_key, ScheduleRun.occurrence).where(
                        col(ScheduleRun.occurrence) >= min(days),
                        col(ScheduleRun.occurrence) <= max(days),
                    )
                ).all()
            )
        todo = [o for o in due if (o.key, o.occurrence) not in done]
        # What is still useful goes first, so its posts start at once; the claims that
        # only record skipped firings follow.
        return sorted(todo, key=lambda o: (now > o.until, o.at, o.key))

    def _claim_and_build(
        self, due: list[Occurrence], now: datetime, outcome: Outcome
    ) -> list[_Run]:
        won = self._claim_all(due, now)
        runs = []
        prompts: list[tuple[Occurrence, int, bool]] = []
        for occurrence in due:
            run_id = won.get((occurrence.key, occurrence.occurrence))
            if run_id is None:
                outcome.lost.append(occurrence.key)
                self._observe(occurrence, "lost", None)
                continue
            late = now - occurrence.at > LATE_AFTER
            if now > occurrence.until:
                outcome.skipped.append(occurrence.key)
                self._observe(occurrence, "skipped", now)
                if len(outcome.skipped) <= SKIPS_LOGGED:
                    log.warning(
                        "skipped a missed firing: %s for %s was due %s, useful until %s",
                        occurrence.key,
                        occurrence.day,
                        occurrence.at.isoformat(),
                        occurrence.until.isoformat(),
                    )
                continue
            if occurrence.key.endswith(":prompt"):
                prompts.append((occurrence, run_id, late))
                continue
            try:
                posts = self._build(occurrence, now, late)
            except Exception:
                log.exception("building %s for %s failed", occurrence.key, occurrence.day)
                self._finish({run_id: "failed"})
                outcome.failed += 1
                self._observe(occurrence, "failed", now)
                continue
            runs.append(_Run(occurrence, run_id, late, posts))
        return self._prompts(prompts) + runs

    def _claim_all(self, due: list[Occurrence], now: datetime) -> dict[tuple[str, datetime], int]:
        """Insert the claims, many per statement; the unique key lets exactly one process
        win each. Returns the run ids this process won. Those no longer useful are
        claimed as `skipped`, so no one posts them later either."""
        rows = [
            {
                "schedule_key": o.key,
                "occurrence": o.occurrence,
                "claimed_by": self.name,
                "claimed_at": now,
                "status": "claimed" if now <= o.until else "skipped",
                "late": now - o.at > LATE_AFTER,
                "finished_at": None if now <= o.until else now,
            }
            for o in due
        ]
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = self.db.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = ScheduleRun.__table__  # type: ignore[attr-defined]
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["schedule_key", "occurrence"])
            .returning(table.c.id, table.c.schedule_key, table.c.occurrence)
        )
        won: dict[tuple[str, datetime], int] = {}
        for start in range(0, len(rows), CLAIM_CHUNK):
            with self.db.transaction() as session:
                result = session.connection().execute(statement, rows[start : start + CLAIM_CHUNK])
                for run_id, key, occurrence in result:
                    won[(key, occurrence)] = run_id
        return won

    def _prompts(self, claimed: list[tuple[Occurrence, int, bool]]) -> list[_Run]:
        """Standup prompts, built together: one query for every channel's place, and one
        rendering per wording (the same prompt goes to every channel of a locale)."""
        if not claimed:
            return []
        ids = [int(o.key.split(":")[1]) for o, _, _ in claimed]
        with self.db.transaction() as session:
            places = standup.places_of(session, config_ids=ids, default_locale=self.default_locale)
        memo: dict[tuple[str, date, time, bool], Post] = {}
        runs = []
        for (occurrence, run_id, late), config_id in zip(claimed, ids, strict=True):
            place = places.get(config_id)
            posts = []
            if place is not None:
                wording = (place.locale, occurrence.day, place.config.cutoff, late)
                if wording not in memo:
                    memo[wording] = standup.prompt_post(
                        self.catalog, place, day=occurrence.day, late=late
                    )
                posts = [
                    Post(
                        platform=place.platform,
                        reply=memo[wording].reply,
                        channel_id=place.binding.channel_id,
                    )
                ]
            runs.append(_Run(occurrence, run_id, late, posts))
        return runs

    def _finish(self, statuses: dict[int, str]) -> None:
        by_status: dict[str, list[int]] = {}
        for run_id, status in statuses.items():
            by_status.setdefault(status, []).append(run_id)
        finished = self.clock()
        with self.db.transaction() as session:
            for status, ids in by_status.items():
                for start in range(0, len(ids), CLAIM_CHUNK):
                    session.execute(
                        update(ScheduleRun)
                        .where(col(ScheduleRun.id).in_(ids[start : start + CLAIM_CHUNK]))
                        .values(status=status, finished_at=finished)
                    )

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
