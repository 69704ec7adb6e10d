"""What a kind of schedule is to the clock: one entry per kind, listed once.

A `ScheduleKind` says three things, next to the domain it belongs to (the standup's in
commands/standup_posts.py, the digest's in commands/digest.py, milestone alerts and
overdue nudges in commands/alerts.py), and `commands/schedule_kinds.py` lists them all:

- `occurrences`: its occurrences with their time in a window, each with the local day it
  belongs to and the moment after which a late post is no longer useful;
- `wakes`: when the clock should wake up for it (a wall-clock time in a zone, maybe one
  weekday), by a job id stable for as long as the schedule keeps its times;
- `posts`: what to post for occurrences that are due.

The engine (schedules/engine.py) only plans with the kinds, claims each occurrence exactly
once and fans the posts out; the clockwork (schedules/clockwork.py) only asks them when to
wake. An occurrence's `key` (`standup:12:prompt`, `digest:3`, `milestone:7:d3`,
`nudges:2`), with its day, is what the database's claims are keyed by: a kind must never
change the key of an existing schedule, or claims already stored stop deduplicating.

Both ask every kind within `one_reading(session)`: kinds that plan from the same rows (the
standup's prompt, DM prompt, reminder and summary) read them once a round through
`shared`, as one query did before the kinds were separate entries.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.i18n import Catalog
from commands.types import Post


@dataclass(frozen=True)
class Occurrence:
    kind: str  # the name of its ScheduleKind
    key: str  # the schedule, as claims store it: "standup:12:prompt", "digest:3", ...
    ref: int  # the row the schedule belongs to: a standup's or digest's config, ...
    day: date  # the local day it belongs to
    at: datetime  # when it is due (UTC)
    until: datetime  # after this a late post is no longer useful (UTC)
    part: str = ""  # what else the kind needs to build it ("d3": three days before)

    @property
    def occurrence(self) -> datetime:
        return datetime.combine(self.day, time(0), UTC)


@dataclass(frozen=True)
class Due:
    """An occurrence being built: `late` when it is posted after its time."""

    occurrence: Occurrence
    late: bool


@dataclass(frozen=True)
class Wake:
    """When a schedule wakes the clock: a wall-clock time in a zone, maybe one weekday."""

    at: time
    timezone: str
    weekday: int | None = None


@dataclass(frozen=True)
class Scope:
    """What one clock serves when it does not serve every project: these channel
    bindings' standups and digests, these projects' milestones and nudges (a console
    serves the channels it is in, so two consoles on one database keep to their own)."""

    bindings: frozenset[int]
    projects: frozenset[int]


@dataclass(frozen=True)
class Building:
    """What a kind's post builder is given besides the session and what is due."""

    catalog: Catalog
    now: datetime
    default_locale: str
    charts: bool


class Plans(Protocol):
    def __call__(
        self, session: Session, *, start: datetime, end: datetime, scope: Scope | None
    ) -> Iterable[Occurrence]: ...


class Wakes(Protocol):
    def __call__(self, session: Session) -> dict[str, Wake]: ...


class Builds(Protocol):
    def __call__(
        self, session: Session, building: Building, due: Sequence[Due]
    ) -> list[list[Post]]: ...


@dataclass(frozen=True, kw_only=True)
class ScheduleKind:
    """One kind of schedule. `posts` returns the posts of each occurrence in `due`, in
    order. With `batched`, the engine hands it every due occurrence of the kind in a chunk
    at once (one query for all, one rendering per wording: a standup prompt to thousands
    of channels); otherwise one at a time, each in its own transaction, so one that fails
    to build fails alone."""

    name: str
    occurrences: Plans
    wakes: Wakes
    posts: Builds
    batched: bool = False


T = TypeVar("T")
_READING = "teambot.schedule.reading"  # the key of a reading's memo in Session.info


@contextmanager
def one_reading(session: Session) -> Iterator[None]:
    """While every kind plans one round, or says when to wake, in `session`: what several
    kinds read (every enabled standup's times, say: four standup kinds plan from them) is
    read once and kept, through `shared`, until the block ends. Nested readings share the
    outer one's memo."""
    if _READING in session.info:
        yield
        return
    session.info[_READING] = {}
    try:
        yield
    finally:
        session.info.pop(_READING, None)


def shared(session: Session, key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, once per `key` within a reading (`one_reading`); outside one, every time."""
    memo: dict[Hashable, Any] | None = session.info.get(_READING)
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return cast(T, memo[key])


def local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local day."""
    return datetime.combine(day, at, tz).astimezone(UTC)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return local(day + timedelta(days=1), time(0), tz) - timedelta(seconds=1)


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> Iterable[date]:
    """The local days from `start`'s to `end`'s."""
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        yield day
        day += timedelta(days=1)
