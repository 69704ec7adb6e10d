"""KPI metrics of a project over a period, computed by SQL aggregates.

Nothing here loads task rows into Python: every metric is a `count`, `avg` or
median computed by the database, and each query is bounded by the period's own
time column (e.g. `done_at` in [start, end)) or by the open statuses, so that it
reads only the rows the period needs through the indexes on
`(project_id, done_at)`, `(project_id, created_at)` and `(project_id, status)`.
The first-response metrics filter on `first_response_at`, which has no index
yet: they read the project's tasks until `(project_id, first_response_at)` exists.
The same queries run on SQLite and PostgreSQL; where the two differ (durations,
local dates, the median) the expression is chosen by the session's dialect.

The exact definitions are in README.md, "KPI definitions".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    and_,
    case,
    cast,
    delete,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.enums import TaskKind, TaskStatus
from storage.models import (
    ChannelBinding,
    KpiTarget,
    Project,
    Retro,
    RetroNote,
    StandupConfig,
    StandupReport,
    Task,
)
from storage.types import UTCDateTime

OPEN_STATUSES = tuple(s.value for s in TaskStatus if s is not TaskStatus.DONE)
SPRINT_DAYS = 14
# Durations come back in hours, rounded to this many decimals: SQLite's
# julianday arithmetic and PostgreSQL's exact intervals then agree.
HOUR_DECIMALS = 4

# -- periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) as aware UTC datetimes; `name` is the kind (week, month, sprint)."""

    start: datetime
    end: datetime
    name: str

    def days(self, tz: ZoneInfo) -> tuple[date, date]:
        """The first and last local date the period touches."""
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        return self.start.astimezone(tz).date(), max(last, self.start.astimezone(tz).date())


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """00:00 of a local date, as UTC."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def period_bounds(
    kind: str, *, now: datetime, tz: ZoneInfo, sprint_start: date | None = None
) -> Period:
    """The period of that kind that ends now.

    week: Monday 00:00 local; month: the 1st, 00:00 local; sprint: the start of
    the current 14-day sprint counted from `sprint_start`, or without one the
    last 14 local days (today and the 13 before it). All end at `now`.
    """
    today = now.astimezone(tz).date()
    if kind == "week":
        first = today - timedelta(days=today.weekday())
    elif kind == "month":
        first = today.replace(day=1)
    elif kind == "sprint":
        if sprint_start is None:
            first = today - timedelta(days=SPRINT_DAYS - 1)
        else:
            sprints = (today - sprint_start).days // SPRINT_DAYS
            first = sprint_start + timedelta(days=SPRINT_DAYS * sprints)
    else:
        raise ValueError(f"unknown period {kind!r}")
    return Period(start=local_midnight(first, tz), end=now.astimezone(UTC), name=kind)


# -- dialect-specific expressions ----------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _hours(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """later - earlier in hours, as a float expression."""
    if dialect == "postgresql":
        return extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _at(moment: datetime) -> ColumnElement[Any]:
    """A datetime parameter stored the way the columns store it."""
    return literal(moment, UTCDateTime())


def _utc_offsets(tz: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets (seconds) over [lo, hi]: (valid until, offset), the last open."""

    def offset(ts: int) -> int:
        delta = datetime.fromtimestamp(ts, UTC).astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    out: list[tuple[datetime | None, int]] = []
    t, end = int(lo.timestamp()), int(hi.timestamp())
    current = offset(t)
    while t < end:
        step = min(t + 3600, end)
        if offset(step) != current:
            a, b = t, step  # offset(a) is current, offset(b) is not: find the first new second
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == current else (a, mid)
            out.append((datetime.fromtimestamp(b, UTC), current))
            current = offset(b)
        t = step
    out.append((None, current))
    return out


def _local_day(
    dialect: str, column: Any, *, tz: ZoneInfo, lo: datetime, hi: datetime
) -> ColumnElement[Any]:
    """The local date (in `tz`) of a UTC datetime column, exact for values in [lo, hi].

    PostgreSQL converts with the zone's name. SQLite knows no zones: the value
    is shifted by the zone's offset, with one CASE branch per offset change
    (daylight saving) inside [lo, hi].
    """
    if dialect == "postgresql":
        return cast(func.timezone(str(tz), column), Date)

    def shifted(seconds: int) -> ColumnElement[Any]:
        return func.date(column, f"{seconds:+d} seconds")

    offsets = _utc_offsets(tz, lo, hi)
    if len(offsets) == 1:
        return shifted(offsets[0][1])
    whens = [(column < _at(until), shifted(seconds)) for until, seconds in offsets[:-1] if until]
    return case(*whens, else_=shifted(offsets[-1][1]))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _hours_value(value: Any) -> float | None:
    return None if value is None else round(float(value), HOUR_DECIMALS)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# -- the metrics -------------------------------------------------------------------------


def compute(
    session: Session, *, project_id: int, period: Period, now: datetime, tz: ZoneInfo | None = None
) -> dict[str, float | None]:
    """Every metric of `METRICS` but `participation` for one project and period; None
    where undefined. Participation needs the standups' work days and teams, which the
    commands define: `commands.standup.participation` measures it.

    `tz` is the project's time zone (local dates of due dates, "today"); by default it
    is read from the project.
    """
    if tz is None:
        tz = _project_tz(session, project_id)
    dialect = _dialect(session)
    start, end = period.start, period.end
    alive = and_(col(Task.project_id) == project_id, col(Task.deleted_at).is_(None))
    is_bug = col(Task.kind) == TaskKind.BUG.value

    # Tasks done since the period started (index on project_id, done_at).
    done_at, started_at, due = col(Task.done_at), col(Task.started_at), col(Task.due)
    in_period = done_at < _at(end)
    local_done = _local_day(dialect, done_at, tz=tz, lo=start, hi=end)
    done_row = session.execute(
        select(
            func.count(case((in_period, 1))),
            func.count(case((and_(in_period, is_bug), 1))),
            func.count(case((and_(~in_period, is_bug, col(Task.created_at) < _at(end)), 1))),
            func.count(case((and_(in_period, due.is_not(None)), 1))),
            func.count(case((and_(in_period, due.is_not(None), local_done <= due), 1))),
            func.avg(
                case(
                    (and_(in_period, started_at.is_not(None)), _hours(dialect, done_at, started_at))
                )
            ),
        ).where(alive, done_at >= _at(start))
    ).one()
    throughput, bugs_done, bugs_done_after, with_due, on_time, cycle = done_row

    # Open tasks now (index on project_id, status).
    today = now.astimezone(tz).date()
    blocked_now = col(Task.status) == TaskStatus.BLOCKED.value
    open_row = session.execute(
        select(
            func.count(case((due < today, 1))),
            func.count(case((blocked_now, 1))),
            func.avg(case((blocked_now, _hours(dialect, _at(now), col(Task.blocked_at))))),
            func.count(case((and_(is_bug, col(Task.created_at) < _at(end)), 1))),
        ).where(alive, col(Task.status).in_(OPEN_STATUSES))
    ).one()
    overdue, blocked, blocked_age, bugs_open = open_row

    response = _response(session, dialect=dialect, alive=alive, period=period)
    bugs_open_at_end = int(bugs_open) + int(bugs_done_after)
    return {
        "bugfix": _ratio(int(bugs_done), int(bugs_done) + bugs_open_at_end),
        "response_avg": response[0],
        "response_median": response[1],
        "ontime": _ratio(int(on_time), int(with_due)),
        "throughput": int(throughput),
        "cycle": _hours_value(cycle),
        "overdue": int(overdue),
        "blocked": int(blocked),
        "blocked_age": _hours_value(blocked_age),
        "retro_actions": _retro_actions(session, project_id=project_id, end=end),
    }


def _response(
    session: Session, *, dialect: str, alive: ColumnElement[bool], period: Period
) -> tuple[float | None, float | None]:
    """(average, median) hours from creation to first response, of responses in the period."""
    first = col(Task.first_response_at)
    hours = _hours(dialect, first, col(Task.created_at))
    where = and_(alive, first >= _at(period.start), first < _at(period.end))
    if dialect == "postgresql":
        median = func.percentile_cont(0.5).within_group(hours)
        count, avg, mid = session.execute(
            select(func.count(), func.avg(hours), median).where(where)
        ).one()
        return _hours_value(avg), _hours_value(mid)
    count, avg = session.execute(select(func.count(), func.avg(hours)).where(where)).one()
    if not count:
        return None, None
    # The middle one or two values, sorted by the database; at most two rows come back.
    middle = (
        session.execute(
            select(hours.label("h"))
            .where(where)
            .order_by("h")
            .limit(2 - count % 2)
            .offset((count - 1) // 2)
        )
        .scalars()
        .all()
    )
    return _hours_value(avg), _hours_value(sum(float(h) for h in middle) / len(middle))


def _retro_actions(session: Session, *, project_id: int, end: datetime) -> float | None:
    done = and_(col(Task.done_at).is_not(None), col(Task.done_at) < _at(end))
    total, finished = session.execute(
        select(func.count(), func.count(case((done, 1))))
        .select_from(RetroNote)
        .join(Retro, col(Retro.id) == col(RetroNote.retro_id))
        .join(Task, col(Task.id) == col(RetroNote.task_id))
        .where(
            col(Retro.project_id) == project_id,
            col(Retro.closed_at) < _at(end),
            col(RetroNote.kind) == "action",
            col(Task.deleted_at).is_(None),
        )
    ).one()
    return _ratio(int(finished), int(total))


def _project_tz(session: Session, project_id: int) -> ZoneInfo:
    project = session.get_one(Project, project_id)
    return ZoneInfo(project.timezone)


def has_activity(session: Session, *, project_id: int, period: Period) -> bool:
    """Whether anything happened in the period: a task created, done or blocked
    (and still blocked), a standup report, or a retro note. One query."""
    lo, hi = _at(period.start), _at(period.end)
    alive = and_(col(Task.project_id) == project_id, col(Task.deleted_at).is_(None))

    def between(column: Any) -> ColumnElement[bool]:
        return and_(column >= lo, column < hi)

    tasks = [
        select(col(Task.id)).where(alive, between(col(Task.created_at))),
        select(col(Task.id)).where(alive, between(col(Task.done_at))),
        select(col(Task.id)).where(
            alive, col(Task.status) == TaskStatus.BLOCKED.value, between(col(Task.blocked_at))
        ),
    ]
    report = (
        select(col(StandupReport.id))
        .join(StandupConfig, col(StandupConfig.id) == col(StandupReport.config_id))
        .join(ChannelBinding, col(ChannelBinding.id) == col(StandupConfig.binding_id))
        .where(col(ChannelBinding.project_id) == project_id, between(col(StandupReport.created_at)))
    )
    note = (
        select(col(RetroNote.id))
        .join(Retro, col(Retro.id) == col(RetroNote.retro_id))
        .where(col(Retro.project_id) == project_id, between(col(RetroNote.created_at)))
    )
    found = session.execute(select(or_(*(q.exists() for q in [*tasks, report, note])))).scalar()
    return bool(found)


def burndown(
    session: Session,
    *,
    project_id: int,
    milestone_id: int | None,
    start: date,
    end: date,
    tz: ZoneInfo,
) -> list[tuple[date, int, int]]:
    """(day, open tasks at the end of the day, tasks in scope at the end of the day)
    for each local day from start to end, both included.

    Scope: the milestone's tasks, or all the project's tasks. A task is in
    scope from its creation and done from its `done_at`; deleted tasks never
    count. Three aggregate queries; the running sum is done here.
    """
    if end < start:
        raise ValueError("burndown ends before it starts")
    dialect = _dialect(session)
    lo, hi = local_midnight(start, tz), local_midnight(end + timedelta(days=1), tz)
    # A milestone implies its project: filtering on the project too would let SQLite
    # (without statistics) walk the whole project by a project index (bench/README.md).
    scope = [
        col(Task.milestone_id) == milestone_id
        if milestone_id is not None
        else col(Task.project_id) == project_id,
        col(Task.deleted_at).is_(None),
    ]
    created_at, done_at = col(Task.created_at), col(Task.done_at)

    # Everything in scope before the first day: two counts, each a range of one partial
    # index (live tasks by created_at, by done_at), never a pass over every row.
    before = session.execute(
        select(
            select(func.count()).where(*scope, created_at < _at(lo)).scalar_subquery(),
            select(func.count()).where(*scope, done_at < _at(lo)).scalar_subquery(),
        )
    ).one()
    per_day: list[dict[date, int]] = []
    for column in (created_at, done_at):
        day = _local_day(dialect, column, tz=tz, lo=lo, hi=hi).label("day")
        rows = session.execute(
            select(day, func.count())
            .where(*scope, column >= _at(lo), column < _at(hi))
            .group_by(day)
        ).all()
        per_day.append({_as_date(d): int(n) for d, n in rows})

    out: list[tuple[date, int, int]] = []
    total, done = int(before[0]), int(before[1])
    day_ = start
    while day_ <= end:
        total += per_day[0].get(day_, 0)
        done += per_day[1].get(day_, 0)
        out.append((day_, total - done, total))
        day_ += timedelta(days=1)
    return out


# -- targets ------------------------------------------------------------------------------


class Metric(NamedTuple):
    unit: str  # "percent" (a fraction 0..1), "hours" or "count"
    better: str  # "higher" or "lower"
    default: float | None  # the target without one set, compared with >= or <= by `better`


METRICS: dict[str, Metric] = {
    "bugfix": Metric("percent", "higher", 0.95),
    "response_avg": Metric("hours", "lower", 2.0),
    "response_median": Metric("hours", "lower", None),
    "ontime": Metric("percent", "higher", None),
    "throughput": Metric("count", "higher", None),
    "cycle": Metric("hours", "lower", None),
    "overdue": Metric("count", "lower", None),
    "blocked": Metric("count", "lower", None),
    "blocked_age": Metric("hours", "lower", None),
    "participation": Metric("percent", "higher", None),
    "retro_actions": Metric("percent", "higher", None),
}
ALIASES = {
    "response": "response_avg",
    "median": "response_median",
    "bugs": "bugfix",
    "on_time": "ontime",
    "done": "throughput",
    "cycle_time": "cycle",
    "standup": "participation",
    "actions": "retro_actions",
}
OPS = (">=", "<=", ">", "<", "=")
_OP_ALIASES = {"≥": ">=", "≤": "<=", "==": "=", "=>": ">=", "=<": "<="}
NO_TARGET = "-"  # op of a stored row that switches a default target off

_TARGET = re.compile(r"^([A-Za-z_]+)\s*(.*)$", re.S)
_OP = re.compile(r"^(>=|<=|=>|=<|==|≥|≤|>|<|=)\s*(.*)$", re.S)
_NUMBER = r"(\d+(?:\.\d+)?)"
_PERCENT = re.compile(rf"^{_NUMBER}\s*%?$")
_DURATION = re.compile(rf"^{_NUMBER}\s*([a-z\u4e00-\u9fff]*)$")
_COUNT = re.compile(rf"^{_NUMBER}$")
_MINUTES_PER = {  # minutes in one of each duration unit; no unit means hours
    "": 60,
    "h": 60,
    "hr": 60,
    "hrs": 60,
    "hour": 60,
    "hours": 60,
    "小时": 60,
    "m": 1,
    "min": 1,
    "mins": 1,
    "minute": 1,
    "minutes": 1,
    "分钟": 1,
    "d": 1440,
    "day": 1440,
    "days": 1440,
    "天": 1440,
}


class TargetError(ValueError):
    """A target that cannot be parsed: `reason` is unknown_metric, bad_op or bad_value."""

    def __init__(self, reason: str, *, metric: str, value: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.metric = metric
        self.value = value


def metric_named(word: str) -> str:
    """The metric a word names (its name or an alias); TargetError if none."""
    name = word.strip().lower()
    name = ALIASES.get(name, name)
    if name not in METRICS:
        raise TargetError("unknown_metric", metric=word.strip())
    return name


def parse_target(text: str) -> tuple[str, str, float]:
    """`bugfix>=95%` -> ("bugfix", ">=", 0.95); `cycle<=3d` -> ("cycle", "<=", 72.0).

    Percent metrics take a percentage (`95%` or `95`, 0..100) and keep a
    fraction; duration metrics take m, h (the default) or d and keep hours;
    counts take a number.
    """
    match = _TARGET.match(text.strip())
    if match is None:
        raise TargetError("unknown_metric", metric=text.strip())
    metric = metric_named(match.group(1))
    op_match = _OP.match(match.group(2).strip())
    if op_match is None:
        raise TargetError("bad_op", metric=metric, value=text.strip())
    op = _OP_ALIASES.get(op_match.group(1), op_match.group(1))
    raw = op_match.group(2).strip()
    unit = METRICS[metric].unit
    value: float | None = None
    if unit == "percent" and (m := _PERCENT.match(raw)):
        value = float(m.group(1)) / 100 if float(m.group(1)) <= 100 else None
    elif unit == "hours" and (m := _DURATION.match(raw.lower())):
        per = _MINUTES_PER.get(m.group(2))
        value = float(m.group(1)) * per / 60 if per is not None else None
    elif unit == "count" and (m := _COUNT.match(raw)):
        value = float(m.group(1))
    if value is None:
        raise TargetError("bad_value", metric=metric, value=raw)
    return metric, op, value


_EPSILON = 1e-9


def met(value: float | None, op: str, threshold: float) -> bool | None:
    """Whether a value meets its target; None when there is no value."""
    if value is None:
        return None
    if op == ">=":
        return value >= threshold - _EPSILON
    if op == "<=":
        return value <= threshold + _EPSILON
    if op == ">":
        return value > threshold + _EPSILON
    if op == "<":
        return value < threshold - _EPSILON
    if op == "=":
        return abs(value - threshold) <= _EPSILON
    raise ValueError(f"unknown comparison {op!r}")


class Target(NamedTuple):
    op: str
    threshold: float
    default: bool


def targets(session: Session, *, project_id: int) -> dict[str, Target]:
    """The project's targets in effect, by metric: those set, else the defaults."""
    rows = session.execute(
        select(col(KpiTarget.metric), col(KpiTarget.op), col(KpiTarget.threshold)).where(
            col(KpiTarget.project_id) == project_id
        )
    ).all()
    stored = {metric: (op, threshold) for metric, op, threshold in rows}
    out: dict[str, Target] = {}
    for name, metric in METRICS.items():
        if name in stored:
            op, threshold = stored[name]
            if op != NO_TARGET:
                out[name] = Target(op, float(threshold), False)
        elif metric.default is not None:
            out[name] = Target(">=" if metric.better == "higher" else "<=", metric.default, True)
    return out


def set_target(
    session: Session, *, project_id: int, metric: str, op: str, threshold: float, now: datetime
) -> None:
    """Set or replace the project's target for a metric (op NO_TARGET: no target)."""
    row = session.execute(
        select(KpiTarget).where(
            col(KpiTarget.project_id) == project_id, col(KpiTarget.metric) == metric
        )
    ).scalar_one_or_none()
    if row is None:
        session.add(
            KpiTarget(
                project_id=project_id, metric=metric, op=op, threshold=threshold, created_at=now
            )
        )
    else:
        row.op, row.threshold, row.created_at = op, threshold, now
    session.flush()


def clear_target(session: Session, *, project_id: int, metric: str, now: datetime) -> bool:
    """Leave the metric without a target; False when it had none."""
    if metric not in targets(session, project_id=project_id):
        return False
    if METRICS[metric].default is not None:
        set_target(
            session, project_id=project_id, metric=metric, op=NO_TARGET, threshold=0.0, now=now
        )
    else:
        session.execute(
            delete(KpiTarget).where(
                col(KpiTarget.project_id) == project_id, col(KpiTarget.metric) == metric
            )
        )
    return True
