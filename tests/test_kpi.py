"""KPIs: metrics computed by SQL against hand-computed values, periods, burndown, targets, /kpi."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert
from sqlmodel import Session

from commands.i18n import Catalog
from commands.kpi import kpi_reply, nothing_new
from commands.standup import participation
from commands.types import Tone, Visibility
from storage import kpi, repo
from storage.db import Database
from storage.kpi import Period, TargetError, burndown, compute, met, parse_target, period_bounds
from storage.models import (
    Milestone,
    Project,
    Retro,
    RetroNote,
    StandupConfig,
    StandupReport,
    Task,
)
from tests.chat import Chat
from tests.conftest import Clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC instant in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Seed:
    """Rows written straight into the database, with explicit timestamps."""

    def __init__(self, session: Session, *, channel: str, tz: str) -> None:
        self.session = session
        self.workspace = repo.ensure_workspace(
            session, platform="console", external_id="W1", name="acme"
        )
        self.binding, self.project, _ = repo.bind_channel(
            session, workspace=self.workspace, channel_id=channel, name=channel, timezone=tz,
            locale=None,
        )  # fmt: skip
        self.creator = self.member("Mei")
        self.tasks: dict[int, Task] = {}

    @property
    def project_id(self) -> int:
        assert self.project.id is not None
        return self.project.id

    def member(self, name: str) -> int:
        member = repo.ensure_member(
            self.session, workspace=self.workspace, platform_user_id=name.lower(), display_name=name
        )
        assert member.id is not None
        return member.id

    def task(
        self,
        number: int,
        kind: str,
        status: str,
        created: datetime,
        **times: Any,
    ) -> Task:
        task = Task(
            project_id=self.project_id,
            number=number,
            title=f"task {number}",
            kind=kind,
            status=status,
            creator_id=self.creator,
            created_at=created,
            updated_at=created,
            **times,
        )
        self.session.add(task)
        self.session.flush()
        self.tasks[number] = task
        return task

    def standup(self, channel: str | None = None) -> int:
        binding = self.binding
        if channel is not None:
            binding, _, _ = repo.bind_channel(
                self.session, workspace=self.workspace, channel_id=channel, name=channel,
                timezone="UTC", locale=None,
            )  # fmt: skip
            binding.project_id = self.project_id
        assert binding.id is not None
        config = StandupConfig(
            binding_id=binding.id, at=time(9, 30), cutoff=time(10, 30), timezone="UTC",
            created_at=at(11, 1),
        )  # fmt: skip
        self.session.add(config)
        self.session.flush()
        assert config.id is not None
        return config.id

    def report(self, config_id: int, member_id: int, day: date) -> None:
        created = datetime.combine(day, time(1), tzinfo=UTC)
        self.session.add(
            StandupReport(
                config_id=config_id, member_id=member_id, day=day, created_at=created,
                updated_at=created,
            )
        )  # fmt: skip

    def retro(self, *, closed: datetime | None, notes: list[tuple[str, int | None]]) -> None:
        retro = Retro(
            project_id=self.project_id,
            title="retro",
            status="closed" if closed else "open",
            facilitator_id=self.creator,
            created_at=at(11, 19, 8),
            closed_at=closed,
        )
        self.session.add(retro)
        self.session.flush()
        assert retro.id is not None
        for number, (kind, task_number) in enumerate(notes, start=1):
            task_id = self.tasks[task_number].id if task_number else None
            self.session.add(
                RetroNote(
                    retro_id=retro.id, number=number, kind=kind, text="note", task_id=task_id,
                    created_at=at(11, 19, 8),
                )
            )  # fmt: skip
        self.session.flush()


# -- the hand-computed fixture -------------------------------------------------------------
#
# Project "alpha", time zone Asia/Shanghai (CST = UTC+8). All times below are UTC.
# The week: S = 11-22 16:00 (Mon 11-23 00:00 CST) to NOW = 11-26 04:00 (Thu 12:00 CST).
#
#  #  kind  status   created    first      started    blocked    done       deleted  due
#  1  bug   done     11-20 10   11-20 11   11-23 01   -          11-23 03   -        11-23
#  2  bug   done     11-23 00   11-23 0130 11-23 02   -          11-24 18   -        11-24
#  3  bug   doing    11-21 00   11-23 00   11-23 00   -          -          -        -
#  4  bug   todo     11-25 00   -          -          -          -          -        -
#  5  bug   done     11-10 00   -          -          -          11-15 00   -        -
#  6  bug   done     11-23 05   11-23 06   -          -          11-24 00   11-24 01 -
#  7  task  done     11-22 00   11-22 17   11-22 18   -          11-25 06   -        11-25
#  8  task  done     11-24 00   11-24 12   -          -          11-24 12   -        11-30
#  9  task  blocked  11-01 00   11-02 00   -          11-25 04   -          -        11-20
# 10  risk  blocked  11-01 00   -          -          11-16 04   -          -        -
# 11  task  todo     11-24 00   -          -          -          -          -        11-26
# 12  task  review   11-20 00   -          -          -          -          -        11-25
# 13  task  done     10-20 00   -          -          -          11-05 00   -        11-01
# 14  task  todo     11-01 00   -          -          -          -          11-02 00 11-01
# 15  task  done     11-22 10   -          11-22 12   -          11-22 16   -        11-22
# 16  task  done     11-22 10   -          -          -          11-22 1559 -        -
# 17  bug   review   11-24 00   -          -          -          -          -        -
# 18  bug   done     11-16 00   11-16 02   -          -          11-18 00   -        -
#
# This week, by hand (#6 and #14 are deleted and never count):
# - throughput: done in [S, NOW): #1 #2 #7 #8 #15 (done exactly at S) = 5; #16 is a minute early.
# - bugfix: bugs done #1 #2 = 2; bugs open at NOW created before it #3 #4 #17 = 3 -> 2/5 = 0.4.
# - response: first responses in the week: #2 1.5 h, #3 48 h, #7 17 h, #8 12 h
#   -> average 78.5/4 = 19.625 h, median (12 + 17)/2 = 14.5 h.
# - ontime (local date of done_at <= due): #1 11-23 <= 11-23 yes; #2 11-25 02:00 CST > 11-24 no;
#   #7 11-25 yes; #8 11-24 <= 11-30 yes; #15 11-23 00:00 CST > 11-22 no -> 3/5 = 0.6
#   (by UTC dates it would be 5/5).
# - cycle: #1 2 h, #2 40 h, #7 60 h, #15 4 h (#8 never started) -> 106/4 = 26.5 h.
# - overdue: open with due before today (11-26 CST): #9, #12 (#11 is due today) = 2.
# - blocked: #9 for 24 h, #10 for 240 h -> 2, average 132 h.
# - participation (commands.standup.participation, as the standup summaries count): both
#   standups are UTC, mon-fri, cutoff 10:30, set up 11-01; NOW is 04:00 UTC on 11-26, before
#   the cutoff, so the days are 11-23, 24, 25. Config 1's team is who answered it in the 30
#   days up to each day: A, B and C (C's 11-20 answer) -> answered A B / A / A B = 5 of 9.
#   Config 2: D first answers on 11-24 -> nobody expected on 23, D on 24 (answered) and 25
#   (not) -> 1 of 2. -> 6/11 (the old "who answered at all this week" rule said 7/9).
# - retro_actions: closed retro: actions on #8 (done), #1 (done), #11 (open), #6 (deleted: not
#   counted), one without a task (not counted); the open retro's action on #7 is not counted
#   -> 2/3.
# The month (from 11-01 00:00 CST = 10-31 16:00): done #1 #2 #5 #7 #8 #13 #15 #16 #18 = 9;
#   bugs done #1 #2 #5 #18 = 4, open 3 -> 4/7.
# The week before (11-15 16:00 to S): done #18 and #16 = 2 (#15 at S belongs to the next week);
#   bugs done #18 = 1; open at its end: #3 (open now) and #1 (done only after it) -> 1/3.

NOW = at(11, 26, 4)
WEEK = Period(start=at(11, 22, 16), end=NOW, name="week")
EXPECTED_WEEK: dict[str, float | None] = {
    "bugfix": 0.4,
    "response_avg": 19.625,
    "response_median": 14.5,
    "ontime": 0.6,
    "throughput": 5,
    "cycle": 26.5,
    "overdue": 2,
    "blocked": 2,
    "blocked_age": 132.0,
    "retro_actions": 2 / 3,
}


def seed_alpha(session: Session) -> Seed:
    s = Seed(session, channel="alpha", tz="Asia/Shanghai")
    d = date
    s.task(1, "bug", "done", at(11, 20, 10), first_response_at=at(11, 20, 11),
           started_at=at(11, 23, 1), done_at=at(11, 23, 3), due=d(2026, 11, 23))  # fmt: skip
    s.task(2, "bug", "done", at(11, 23), first_response_at=at(11, 23, 1, 30),
           started_at=at(11, 23, 2), done_at=at(11, 24, 18), due=d(2026, 11, 24))  # fmt: skip
    s.task(3, "bug", "doing", at(11, 21), first_response_at=at(11, 23), started_at=at(11, 23))
    s.task(4, "bug", "todo", at(11, 25))
    s.task(5, "bug", "done", at(11, 10), done_at=at(11, 15))
    s.task(6, "bug", "done", at(11, 23, 5), first_response_at=at(11, 23, 6),
           done_at=at(11, 24), deleted_at=at(11, 24, 1))  # fmt: skip
    s.task(7, "task", "done", at(11, 22), first_response_at=at(11, 22, 17),
           started_at=at(11, 22, 18), done_at=at(11, 25, 6), due=d(2026, 11, 25))  # fmt: skip
    s.task(8, "task", "done", at(11, 24), first_response_at=at(11, 24, 12),
           done_at=at(11, 24, 12), due=d(2026, 11, 30))  # fmt: skip
    s.task(9, "task", "blocked", at(11, 1), first_response_at=at(11, 2),
           blocked_at=at(11, 25, 4), due=d(2026, 11, 20))  # fmt: skip
    s.task(10, "risk", "blocked", at(11, 1), blocked_at=at(11, 16, 4))
    s.task(11, "task", "todo", at(11, 24), due=d(2026, 11, 26))
    s.task(12, "task", "review", at(11, 20), due=d(2026, 11, 25))
    s.task(13, "task", "done", at(10, 20), done_at=at(11, 5), due=d(2026, 11, 1))
    s.task(14, "task", "todo", at(11, 1), deleted_at=at(11, 2), due=d(2026, 11, 1))
    s.task(15, "task", "done", at(11, 22, 10), started_at=at(11, 22, 12),
           done_at=at(11, 22, 16), due=d(2026, 11, 22))  # fmt: skip
    s.task(16, "task", "done", at(11, 22, 10), done_at=at(11, 22, 15, 59))
    s.task(17, "bug", "review", at(11, 24))
    s.task(18, "bug", "done", at(11, 16), first_response_at=at(11, 16, 2), done_at=at(11, 18))

    first = s.standup()
    a, b, c, member_d = (s.member(n) for n in ("A", "B", "C", "D"))
    for day in (23, 24, 25, 26):
        s.report(first, a, d(2026, 11, day))
    for day in (23, 25):
        s.report(first, b, d(2026, 11, day))
    s.report(first, c, d(2026, 11, 20))
    s.report(s.standup("alpha-feishu"), member_d, d(2026, 11, 24))

    s.retro(
        closed=at(11, 20),
        notes=[("action", 8), ("action", 1), ("action", 11), ("action", 6), ("action", None),
               ("well", None)],
    )  # fmt: skip
    s.retro(closed=None, notes=[("action", 7)])
    return s


def seed_other(session: Session) -> Seed:
    """Another project, busy in the same week: none of it may count for alpha."""
    s = Seed(session, channel="other", tz="UTC")
    s.task(1, "bug", "done", at(11, 23), first_response_at=at(11, 23, 1),
           started_at=at(11, 23, 1), done_at=at(11, 24), due=d(11, 20))  # fmt: skip
    s.task(2, "task", "blocked", at(11, 1), blocked_at=at(11, 25), due=d(11, 1))
    s.task(3, "bug", "todo", at(11, 2))
    config = s.standup()
    s.report(config, s.member("E"), date(2026, 11, 24))
    s.retro(closed=at(11, 20), notes=[("action", 3)])
    return s


def d(month: int, day: int) -> date:
    return date(2026, month, day)


@pytest.fixture
def alpha(db: Database) -> int:
    with db.transaction() as session:
        project_id = seed_alpha(session).project_id
        seed_other(session)
    return project_id


# -- compute -------------------------------------------------------------------------------


def test_week_metrics_match_the_hand_computed_values(db: Database, alpha: int) -> None:
    """Every metric of the week equals the value worked out by hand in the table above."""
    with db.transaction() as session:
        assert compute(session, project_id=alpha, period=WEEK, now=NOW) == EXPECTED_WEEK


def test_participation_counts_the_team_each_summary_counts(db: Database, alpha: int) -> None:
    """Answers given ÷ expected, where each work day of each standup expects its team (as
    "N of M answered" counts it), not only who answered at all (worked out above)."""
    with db.transaction() as session:
        first, last = WEEK.days(SHANGHAI)
        assert participation(session, project_id=alpha, first=first, last=last, now=NOW) == 6 / 11
        # 11-26 counts once its summary is out: A of A, B, C answered; D did not.
        later = at(11, 26, 11)
        assert participation(session, project_id=alpha, first=first, last=last, now=later) == (
            (6 + 1) / (11 + 3 + 1)
        )


def test_month_and_an_earlier_week(db: Database, alpha: int) -> None:
    """A longer period counts more; a past period counts bugs done after it as open at its end."""
    month = period_bounds("month", now=NOW, tz=SHANGHAI)
    before = Period(start=at(11, 15, 16), end=at(11, 22, 16), name="week")
    with db.transaction() as session:
        this_month = compute(session, project_id=alpha, period=month, now=NOW)
        last_week = compute(session, project_id=alpha, period=before, now=NOW)
    assert (this_month["throughput"], this_month["bugfix"]) == (9, 4 / 7)
    assert (last_week["throughput"], last_week["bugfix"]) == (2, 1 / 3)


def test_metrics_without_data_are_none(db: Database) -> None:
    """A project with nothing yet: counts are 0, rates and averages undefined (None)."""
    with db.transaction() as session:
        project_id = Seed(session, channel="empty", tz="UTC").project_id
        values = compute(session, project_id=project_id, period=WEEK, now=NOW)
    assert values == {
        name: (0 if kpi.METRICS[name].unit == "count" else None)
        for name in kpi.METRICS
        if name != "participation"  # commands.standup.participation measures it
    }


def test_ontime_uses_local_dates_across_daylight_saving(db: Database) -> None:
    """Done-on-time compares the Berlin date of done_at, with CEST before 10-25 and CET after."""
    # t1 done 10-24 22:30 UTC = 10-25 00:30 CEST, due 10-24: late (on time by UTC date)
    # t2 done 10-25 23:30 UTC = 10-26 00:30 CET,  due 10-25: late
    # t3 done 10-25 22:30 UTC = 10-25 23:30 CET,  due 10-25: on time (late if CEST were used)
    # t4 done 10-02 21:30 UTC = 10-02 23:30 CEST, due 10-02: on time          -> 2/4
    now = at(10, 28, 12)
    with db.transaction() as session:
        s = Seed(session, channel="berlin", tz="Europe/Berlin")
        for number, done, due in [
            (1, at(10, 24, 22, 30), d(10, 24)),
            (2, at(10, 25, 23, 30), d(10, 25)),
            (3, at(10, 25, 22, 30), d(10, 25)),
            (4, at(10, 2, 21, 30), d(10, 2)),
        ]:
            s.task(number, "task", "done", at(10, 1, 10), done_at=done, due=due)
        period = period_bounds("month", now=now, tz=BERLIN)
        assert period.start == at(9, 30, 22)
        assert compute(session, project_id=s.project_id, period=period, now=now)["ontime"] == 0.5
        # Burndown days follow the same local dates: 10-24 00:00 CEST to 10-27 00:00 CET.
        days = burndown(
            session, project_id=s.project_id, milestone_id=None, start=d(10, 24), end=d(10, 26),
            tz=BERLIN,
        )  # fmt: skip
    assert days == [(d(10, 24), 3, 4), (d(10, 25), 1, 4), (d(10, 26), 0, 4)]


def test_compute_runs_a_fixed_number_of_aggregate_queries(db: Database) -> None:
    """compute sends the same few SQL statements for 10 or 2,000 tasks: it never loads rows."""
    counts = []
    for size in (10, 2000):
        with db.transaction() as session:
            s = Seed(session, channel=f"big{size}", tz="Asia/Shanghai")
            rows = [
                {
                    "project_id": s.project_id,
                    "number": n,
                    "title": "t",
                    "kind": "bug" if n % 3 else "task",
                    "status": "done" if n % 2 else ("blocked" if n % 5 else "todo"),
                    "creator_id": s.creator,
                    "created_at": at(11, 20) + timedelta(minutes=n),
                    "updated_at": at(11, 20),
                    "first_response_at": at(11, 23) + timedelta(minutes=n),
                    "started_at": at(11, 23),
                    "blocked_at": at(11, 24),
                    "done_at": at(11, 24) + timedelta(minutes=n) if n % 2 else None,
                    "due": d(11, 24),
                }
                for n in range(1, size + 1)
            ]
            session.execute(insert(Task), rows)
            project_id = s.project_id
        statements: list[str] = []

        def count(*args: Any, into: list[str] = statements) -> None:
            into.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            with db.transaction() as session:
                values = compute(session, project_id=project_id, period=WEEK, now=NOW, tz=SHANGHAI)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert values["throughput"] == (size + 1) // 2
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert all("count(" in s.lower() or "avg(" in s.lower() or "LIMIT" in s for s in selects)
        counts.append(len(selects))
    assert counts[0] == counts[1] <= 6


# -- activity ----------------------------------------------------------------------------


def test_has_activity_sees_tasks_reports_and_notes(db: Database, alpha: int) -> None:
    """A week with work has activity; a window with only a retro note too; an empty one not."""
    notes_only = Period(start=at(11, 19), end=at(11, 19, 12), name="week")
    quiet = Period(start=at(11, 18, 12), end=at(11, 19), name="week")
    with db.transaction() as session:
        assert kpi.has_activity(session, project_id=alpha, period=WEEK)
        assert kpi.has_activity(session, project_id=alpha, period=notes_only)
        assert not kpi.has_activity(session, project_id=alpha, period=quiet)
        assert nothing_new(session, project_id=alpha, period=quiet)


# -- periods -------------------------------------------------------------------------------


def test_period_bounds_in_shanghai() -> None:
    """Weeks start Monday 00:00 and months the 1st 00:00 in Shanghai, which is 16:00 UTC before."""
    monday_early = at(11, 22, 20)  # Monday 11-23 04:00 CST, still Sunday in UTC
    assert period_bounds("week", now=monday_early, tz=SHANGHAI) == Period(
        at(11, 22, 16), monday_early, "week"
    )
    december_first = at(11, 30, 17)  # 12-01 01:00 CST
    assert period_bounds("month", now=december_first, tz=SHANGHAI).start == at(11, 30, 16)
    assert period_bounds("week", now=NOW, tz=SHANGHAI).days(SHANGHAI) == (d(11, 23), d(11, 26))


def test_sprint_bounds() -> None:
    """A sprint is the last 14 local days, or the current 14-day cycle from a start date."""
    assert period_bounds("sprint", now=NOW, tz=SHANGHAI).start == at(11, 12, 16)  # 11-13 CST
    started = period_bounds("sprint", now=NOW, tz=SHANGHAI, sprint_start=d(11, 2))
    assert started.start == at(11, 15, 16)  # 11-16 CST, the second sprint
    future = period_bounds("sprint", now=NOW, tz=SHANGHAI, sprint_start=d(12, 1))
    assert future.start == at(11, 16, 16)  # 11-17 CST, the sprint before the one planned
    with pytest.raises(ValueError):
        period_bounds("year", now=NOW, tz=SHANGHAI)


# -- burndown ------------------------------------------------------------------------------


def test_burndown_per_day_for_a_milestone_and_the_project(db: Database) -> None:
    """Remaining and total per local day, with tasks at the edges of Shanghai midnights."""
    # a: created 11-20, done 11-21 (both before the start)  b: created 11-20, open
    # c: created 11-22 16:00 = 11-23 00:00 CST, done 11-23 15:59 = 11-23 23:59 CST
    # d: created 11-23 16:00 = 11-24 00:00 CST, done 11-25 16:00 = 11-26 00:00 CST
    # e: created 11-24, deleted          f: created 11-22 15:59 = 11-22 23:59 CST, done 11-24 CST
    # g: not in the milestone, created 11-25 CST, open
    # milestone: before 3 created (a b f), 1 done (a)
    #   11-23 +c +c done -> 2 open of 4; 11-24 +d, f done -> 2 of 5; 11-25 2 of 5; 11-26 d done 1 of 5
    # project: the same plus g from 11-25 -> 3 of 6, then 2 of 6
    with db.transaction() as session:
        s = Seed(session, channel="burn", tz="Asia/Shanghai")
        milestone = Milestone(project_id=s.project_id, name="Beta", due=d(11, 30))
        session.add(milestone)
        session.flush()
        ms = {"milestone_id": milestone.id}
        s.task(1, "task", "done", at(11, 20), done_at=at(11, 21), **ms)
        s.task(2, "task", "todo", at(11, 20), **ms)
        s.task(3, "task", "done", at(11, 22, 16), done_at=at(11, 23, 15, 59), **ms)
        s.task(4, "task", "done", at(11, 23, 16), done_at=at(11, 25, 16), **ms)
        s.task(5, "task", "todo", at(11, 24, 3), deleted_at=at(11, 24, 4), **ms)
        s.task(6, "task", "done", at(11, 22, 15, 59), done_at=at(11, 24, 2), **ms)
        s.task(7, "task", "todo", at(11, 25))
        args: dict[str, Any] = {"start": d(11, 23), "end": d(11, 26), "tz": SHANGHAI}
        by_milestone = burndown(session, project_id=s.project_id, milestone_id=milestone.id, **args)
        by_project = burndown(session, project_id=s.project_id, milestone_id=None, **args)
    assert by_milestone == [
        (d(11, 23), 2, 4),
        (d(11, 24), 2, 5),
        (d(11, 25), 2, 5),
        (d(11, 26), 1, 5),
    ]
    assert by_project == [
        (d(11, 23), 2, 4),
        (d(11, 24), 2, 5),
        (d(11, 25), 3, 6),
        (d(11, 26), 2, 6),
    ]


# -- targets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("bugfix>=95%", ("bugfix", ">=", 0.95)),
        ("response<=2h", ("response_avg", "<=", 2.0)),
        ("cycle<=3d", ("cycle", "<=", 72.0)),
        ("throughput>=10", ("throughput", ">=", 10.0)),
        ("overdue<=0", ("overdue", "<=", 0.0)),
        ("response_median < 30m", ("response_median", "<", 0.5)),
        ("participation=80", ("participation", "=", 0.8)),
        ("Bugfix ≥ 90 %", ("bugfix", ">=", 0.9)),
        ("blocked_age>1.5d", ("blocked_age", ">", 36.0)),
    ],
)
def test_parse_target_accepts(text: str, parsed: tuple[str, str, float]) -> None:
    """Targets name a metric (or alias), a comparison and a value in the metric's unit."""
    assert parse_target(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("speed>=3", "unknown_metric"),
        (">=3", "unknown_metric"),
        ("bugfix 95%", "bad_op"),
        ("bugfix", "bad_op"),
        ("bugfix>=120%", "bad_value"),
        ("bugfix>=95h", "bad_value"),
        ("cycle<=3x", "bad_value"),
        ("throughput>=ten", "bad_value"),
        ("overdue<=-1", "bad_value"),
        ("response<=", "bad_value"),
    ],
)
def test_parse_target_refuses(text: str, reason: str) -> None:
    """Unknown metrics, missing comparisons and values in the wrong unit are refused."""
    with pytest.raises(TargetError) as err:
        parse_target(text)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("value", "op", "threshold", "result"),
    [
        (0.96, ">=", 0.95, True),
        (0.95, ">=", 0.95, True),
        (0.94, ">=", 0.95, False),
        (2.0, "<=", 2.0, True),
        (2.5, "<", 2.0, False),
        (1.0, ">", 1.0, False),
        (0.1 + 0.2, "=", 0.3, True),
        (None, ">=", 0.95, None),
    ],
)
def test_met(value: float | None, op: str, threshold: float, result: bool | None) -> None:
    """A value meets its target by the comparison; no value, no verdict."""
    assert met(value, op, threshold) is result


# -- /kpi through the router -------------------------------------------------------------------


def _scenario(chat: Chat, clock: Clock) -> None:
    """Mon 11-23 09:00 UTC: three tasks; worked on through the week; Thu 11-26 12:00."""
    chat.say("mei", "task add Login fails @ana kind:bug due:2026-11-24")
    chat.say("mei", "task add Write SRS @li due:2026-11-23")
    chat.say("mei", "task add Plan beta")
    clock.advance(hours=1)
    chat.say("ana", "task start 1")  # first response after 1 h
    clock.advance(hours=2)
    chat.say("li", "task start 2")  # after 3 h
    clock.advance(hours=22)
    chat.say("ana", "task done 1")  # 11-24 10:00: on time, cycle 24 h
    clock.advance(hours=26)
    chat.say("li", "task done 2")  # 11-25 12:00: late, cycle 48 h
    chat.say("mei", "task block 3 waiting for budget")  # first response after 51 h
    clock.advance(hours=24)


def test_kpi_report_in_english_and_chinese(chat: Chat, clock: Clock) -> None:
    """/kpi shows each metric with its unit, target and ✅/❌, in English and in Chinese."""
    _scenario(chat, clock)
    report = chat.say("ana", "/kpi")
    assert report.visibility is Visibility.CHANNEL
    assert report.text() == "\n".join(
        [
            "KPIs this week: 2026-11-23 – 2026-11-26",
            "Bug-fix rate: 100% · target ≥ 95% ✅",
            "First response, average: 18.3 h · target ≤ 2 h ❌",
            "First response, median: 3 h · no target",
            "Done on time: 50% · no target",
            "Tasks done: 2 · no target",
            "Cycle time, average: 36 h · no target",
            "Overdue now: 0 · no target",
            "Blocked now: 1 · no target",
            "Blocked for, average: 24 h · no target",
            "Standup participation: no data · no target",
            "Retro actions done: no data · no target",
            "These are the default targets: set your own with /kpi target bugfix>=95%, "
            "response<=2h or cycle<=3d.",
        ]
    )
    chat.say("mei", "/kpi target cycle<=1d")
    chat.say("mei", "/kpi target throughput>=2")
    chat.say("mei", "/kpi target response off")
    chat.say("mei", "/teambot lang zh")
    assert chat.say("ana", "/指标").text() == "\n".join(
        [
            "本周 KPI：2026-11-23 – 2026-11-26",
            "缺陷修复率：100% · 目标 ≥ 95% ✅",
            "平均首次响应：18.3 小时 · 无目标",
            "首次响应中位数：3 小时 · 无目标",
            "按时完成率：50% · 无目标",
            "完成任务数：2 · 目标 ≥ 2 ✅",
            "平均周期：36 小时 · 目标 ≤ 24 小时 ❌",
            "当前逾期：0 · 无目标",
            "当前受阻：1 · 无目标",
            "平均受阻时长：24 小时 · 无目标",
            "站会参与率：无数据 · 无目标",
            "复盘行动完成率：无数据 · 无目标",
        ]
    )


def test_kpi_periods(chat: Chat, clock: Clock) -> None:
    """period:month and a bare period word choose the period; a wrong one is an error."""
    _scenario(chat, clock)
    assert chat.say("ana", "/kpi period:month").title.plain() == (
        "KPIs this month: 2026-11-01 – 2026-11-26"
    )
    assert chat.say("ana", "/kpi sprint").title.plain() == (
        "KPIs this sprint: 2026-11-13 – 2026-11-26"
    )
    error = chat.say("ana", "/kpi period:year")
    assert error.tone is Tone.ERROR
    assert error.title.plain() == "“year” is not a valid period: use month, sprint, week."
    assert chat.say("ana", "/kpi week extra").title.plain() == (
        "I don't understand “week extra” here."
    )


def test_kpi_targets_set_list_remove_and_refuse(chat: Chat) -> None:
    """Admins set, list and remove targets; bad input says what is wrong; others may only list."""
    chat.say("mei", "task add first")  # mei is the project's first admin
    assert [i.plain() for i in chat.say("ana", "/kpi target").items] == [
        "Bug-fix rate (bugfix): ≥ 95% (default)",
        "First response, average (response_avg): ≤ 2 h (default)",
    ]
    set_ = chat.say("mei", "/kpi target bugfix>=90%")
    assert (set_.title.plain(), set_.tone) == (
        "The target for Bug-fix rate is now ≥ 90%.",
        Tone.SUCCESS,
    )
    assert chat.say("mei", "/kpi target cycle <= 3d").title.plain() == (
        "The target for Cycle time, average is now ≤ 3 d."
    )
    assert chat.say("mei", "/kpi target response off").title.plain() == (
        "First response, average has no target now."
    )
    assert [i.plain() for i in chat.say("ana", "/kpi target").items] == [
        "Bug-fix rate (bugfix): ≥ 90%",
        "Cycle time, average (cycle): ≤ 3 d",
    ]
    assert chat.say("mei", "/kpi target cycle off").title.plain() == (
        "Cycle time, average has no target now."
    )
    errors = {
        "/kpi target speed>=3": "“speed” is not a KPI I know. Metrics: bugfix, response_avg, "
        "response_median, ontime, throughput, cycle, overdue, blocked, blocked_age, "
        "participation, retro_actions.",
        "/kpi target bugfix 95%": "“bugfix 95%” has no comparison: write the metric, then >=, "
        "<=, >, < or =, then the value, like bugfix>=95%.",
        "/kpi target cycle<=3x": "“3x” is not a target for cycle: give a duration, like 30m, 2h "
        "or 3d.",
        "/kpi target bugfix>=120": "“120” is not a target for bugfix: give a percentage from 0 "
        "to 100, like 95%.",
        "/kpi target cycle off": "cycle has no target, so there is nothing to remove.",
        "/kpi targte": "/kpi has no “targte”.",
    }
    for text, message in errors.items():
        reply = chat.say("mei", text)
        assert (reply.title.plain(), reply.tone) == (message, Tone.ERROR), text
    denied = chat.say("ana", "/kpi target bugfix>=50%")
    assert denied.title.plain() == "Only project admins can do that: @mei. Nothing was changed."
    assert chat.say("ana", "/kpi target").items[0].plain() == "Bug-fix rate (bugfix): ≥ 90%"


def test_kpi_reply_for_a_digest_says_nothing_new_in_one_line(
    db: Database, catalog: Catalog
) -> None:
    """With one_line_if_idle, a quiet period is one line; with activity it is the full report."""
    with db.transaction() as session:
        s = Seed(session, channel="quiet", tz="UTC")
        project = session.get_one(Project, s.project_id)
        quiet = kpi_reply(
            session, catalog=catalog, project=project, locale="zh", period=WEEK, now=NOW,
            one_line_if_idle=True,
        )  # fmt: skip
        s.task(1, "task", "todo", at(11, 24))
        busy = kpi_reply(
            session, catalog=catalog, project=project, locale="en", period=WEEK, now=NOW,
            one_line_if_idle=True,
        )  # fmt: skip
    assert quiet.text() == (
        "本周没有新动态：没有新建、完成或受阻的任务，也没有站会汇报或复盘记录。"
    )
    assert len(busy.lines) == len(kpi.METRICS)


def _line(reply: Any, label: str) -> str:
    return next(line for line in reply.text().splitlines() if line.startswith(label))


@pytest.mark.parametrize("move", ["task start T-1", "task block T-1 vendor", "task reopen T-1"])
def test_a_reopened_task_is_not_done_anywhere(chat: Chat, clock: Clock, move: str) -> None:
    """Moving a done bug back (start, block via start, reopen) clears done_at: /kpi counts
    no task done and the bug as open, not fixed, and its I people are told."""
    chat.say("mei", "/task add Crash on save kind:bug")
    chat.say("mei", "/raci T-1 I @li")
    chat.say("mei", "/task done T-1")
    clock.advance(minutes=5)
    assert _line(chat.say("mei", "/kpi"), "Tasks done") == "Tasks done: 1 · no target"
    if move.startswith("task block"):
        chat.say("mei", "/task start T-1")
        reply = chat.say("mei", f"/{move}")
    else:
        reply = chat.say("mei", f"/{move}")
        assert [(n.platform_user_id, n.reason) for n in reply.notifications] == [("li", "i")]
        status = "in progress" if "start" in move else "to do"
        assert reply.notifications[0].reply.title.plain() == (
            f"@mei reopened T-1: Crash on save — now {status}, no longer done."
        )
    assert reply.tone is not Tone.ERROR
    assert chat.task(1).done_at is None
    kpis = chat.say("mei", "/kpi")
    assert _line(kpis, "Tasks done") == "Tasks done: 0 · no target"
    assert _line(kpis, "Bug-fix rate") == "Bug-fix rate: 0% · target ≥ 95% ❌"


def test_migration_0008_clears_done_at_of_tasks_that_are_not_done(chat: Chat) -> None:
    """Rows written before the fix (done, then started: done_at kept) lose their done_at on
    upgrade; done tasks keep theirs."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    chat.say("mei", "/task add Reopened")
    chat.say("mei", "/task add Finished")
    chat.say("mei", "/task done T-2")
    done_at = chat.task(2).done_at
    command.downgrade(alembic_config(chat.db), "0007")
    with chat.db.engine.begin() as conn:
        conn.execute(text("UPDATE task SET done_at = :at WHERE number = 1"), {"at": done_at})
    command.upgrade(alembic_config(chat.db), "0008")
    assert chat.task(1).done_at is None
    assert chat.task(2).done_at == done_at


def test_every_metric_has_a_label_in_every_language() -> None:
    """Each metric is named beside its entry in English and Chinese; none is blank, none is
    left over, and a metric without a label is an error, never an empty name."""
    from commands.i18n import LOCALES
    from commands.kpi import LABELS, label
    from storage.kpi import METRICS

    assert set(LABELS) == set(METRICS)
    for metric in METRICS:
        assert set(LABELS[metric]) == set(LOCALES)
        for locale in LOCALES:
            assert label(locale, metric).plain().strip()
    assert len({LABELS[m]["en"] for m in METRICS}) == len(METRICS)
    with pytest.raises(KeyError):
        label("en", "no_such_metric")


def test_participation_agrees_with_the_standup_summary(chat: Chat, clock: Clock) -> None:
    """Five people own open tasks, two answer: the summary says 2 of 5, and so does /kpi
    (40 %), where it used to say 100 % (only those who answered were expected)."""
    chat.say("mei", "/standup config time:09:30 cutoff:10:30")
    for name in ("ana", "ben", "cai", "dan"):
        chat.say("mei", f"/task add Work of {name} @{name}")
    chat.say("mei", "/task add Mine @mei")
    clock.advance(minutes=35)  # 09:35, the prompt is out
    chat.say("mei", "/standup y: plan t: build")
    chat.say("ana", "/standup y: tests t: more tests")
    clock.advance(hours=1)  # 10:35, past the cutoff: the day counts
    status = chat.say("mei", "/standup status").text()
    assert "Answered (2): @mei, @ana" in status and "Missing (3): @ben, @cai, @dan" in status
    kpis = chat.say("mei", "/kpi")
    assert _line(kpis, "Standup participation") == "Standup participation: 40% · no target"
