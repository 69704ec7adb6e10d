"""The clock's warnings: milestones coming due, and nudges about overdue tasks.

Milestone alerts go to every channel bound to the project, 7, 3 and 1 days
before the due date, on the day, and the day after when it is not reached:
progress, and the open tasks with their A. Overdue nudges (off unless a project
turns them on with `/digest nudges on`) go one to one, each work day, to the R
and A of every overdue open task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from commands.common import mentions_of
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
from commands.types import Mention, Post, Reply, Rich, Tone, Visibility
from storage import repo
from storage.enums import Role, TaskStatus
from storage.models import (
    ChannelBinding,
    Member,
    Milestone,
    Project,
    RaciAssignment,
    Task,
    Workspace,
)

SHOW_TASKS = 10
ALERT_TIME = time(9, 0)  # in the project's zone
MILESTONE_OFFSETS = (7, 3, 1, 0, -1)  # days before the due date; -1: overdue


def _channels(session: Session, project_id: int) -> list[tuple[str, str]]:
    rows = session.exec(
        select(Workspace.platform, ChannelBinding.channel_id)
        .join(Workspace, col(Workspace.id) == ChannelBinding.workspace_id)
        .where(ChannelBinding.project_id == project_id)
        .order_by(col(ChannelBinding.id))
    ).all()
    return [(str(p), str(c)) for p, c in rows]


def _open_tasks(session: Session, **where: int) -> list[Task]:
    query = select(Task).where(col(Task.deleted_at).is_(None), Task.status != TaskStatus.DONE.value)
    for name, value in where.items():
        query = query.where(getattr(Task, name) == value)
    return list(session.exec(query.order_by(col(Task.due), col(Task.number))).all())


def _roles(
    session: Session, task_ids: list[int], roles: tuple[str, ...]
) -> list[tuple[int, int, str]]:
    if not task_ids:
        return []
    rows = session.exec(
        select(RaciAssignment.task_id, RaciAssignment.member_id, RaciAssignment.role).where(
            col(RaciAssignment.task_id).in_(task_ids), col(RaciAssignment.role).in_(roles)
        )
    ).all()
    return [(int(t), int(m), str(r)) for t, m, r in rows]


def milestone_posts(
    session: Session,
    catalog: Catalog,
    *,
    milestone_id: int,
    offset: int,
    day: date,
    late: bool,
    default_locale: str,
) -> list[Post]:
    milestone = session.get(Milestone, milestone_id)
    if milestone is None or milestone.status != "open":
        return []
    project = session.get(Project, milestone.project_id)
    assert project is not None and milestone.id is not None
    loc = project.locale or default_locale
    done, total = repo.milestone_progress(session, milestone_ids=[milestone.id])[milestone.id]
    tasks = _open_tasks(session, milestone_id=milestone.id)
    shown = tasks[:SHOW_TASKS]
    owners = _roles(session, [t.id for t in shown if t.id], (Role.A.value,))
    people = mentions_of(session, {m for _, m, _ in owners})
    a_of: dict[int, list[Mention]] = {}
    for task_id, member_id, _ in owners:
        a_of.setdefault(task_id, []).append(people[member_id])
    items = tuple(
        catalog.text(
            loc,
            "alerts.task_item",
            key=f"{project.key_prefix}-{t.number}",
            title=t.title,
            status=t.status,
            a=a_of.get(t.id or 0, []),
        )
        for t in shown
    )
    footer: tuple[Rich, ...] = ()
    if len(tasks) > SHOW_TASKS:
        footer = (catalog.text(loc, "alerts.more", more=len(tasks) - SHOW_TASKS),)
    pct = round(100 * done / total) if total else 0
    reply = Reply(
        title=catalog.text(
            loc, "alerts.milestone_title", name=milestone.name, days=offset, due=milestone.due,
            late=late,
        ),
        lines=(catalog.text(loc, "alerts.progress", done=done, total=total, pct=pct),),
        items=items,
        footer=footer,
        visibility=Visibility.CHANNEL,
        tone=Tone.WARNING if offset <= 1 else Tone.INFO,
    )  # fmt: skip
    return [
        Post(platform=platform, reply=reply, channel_id=channel)
        for platform, channel in _channels(session, project.id or 0)
    ]


def nudge_posts(
    session: Session, catalog: Catalog, *, project_id: int, day: date, default_locale: str
) -> list[Post]:
    project = session.get(Project, project_id)
    if project is None or not project.overdue_nudges:
        return []
    overdue = [t for t in _open_tasks(session, project_id=project_id) if t.due and t.due < day]
    by_task = {t.id: t for t in overdue if t.id is not None}
    roles = _roles(session, list(by_task), (Role.R.value, Role.A.value))
    people = mentions_of(session, {m for _, m, _ in roles})
    members = {
        m.id: m for m in session.exec(select(Member).where(col(Member.id).in_(list(people)))).all()
    }
    per_person: dict[int, list[tuple[Task, str]]] = {}
    for task_id, member_id, role in sorted(roles):
        per_person.setdefault(member_id, []).append((by_task[task_id], role))
    out = []
    for member_id, tasks in per_person.items():
        person = people[member_id]
        member = members[member_id]
        loc = project.locale or (member.locale or "")[:2] or default_locale
        if loc not in ("en", "zh"):
            loc = default_locale
        reply = Reply(
            title=catalog.text(loc, "alerts.nudge_title", count=len(tasks), project=project.name),
            items=tuple(
                catalog.text(
                    loc,
                    "alerts.nudge_item",
                    key=f"{project.key_prefix}-{t.number}",
                    title=t.title,
                    due=t.due,
                    days=(day - t.due).days if t.due else 0,
                    role=role,
                )
                for t, role in tasks
            ),
            footer=(catalog.text(loc, "alerts.nudge_footer"),),
            tone=Tone.WARNING,
        )
        out.append(Post(platform=person.platform, reply=reply, user_id=person.platform_user_id))
    return out


# -- when the clock posts them ---------------------------------------------------------------


def _alert_wakes(session: Session, *, which: ColumnElement[bool]) -> dict[str, Wake]:
    """One job per project with channels at ALERT_TIME in its zone: milestone alerts and
    nudges share it (`alerts:<project>`), so a project with both wakes the clock once."""
    projects = session.exec(
        select(Project.id, Project.timezone).where(
            which, col(Project.id).in_(select(ChannelBinding.project_id))
        )
    ).all()
    return {f"alerts:{project_id}": Wake(ALERT_TIME, zone) for project_id, zone in projects}


def _milestone_occurrences(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    """Each open milestone 7, 3 and 1 days before its due date, on it and the day after,
    at ALERT_TIME in its project's zone, from when it was created."""
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
    out = []
    for milestone, zone in rows:
        if scope is not None and milestone.project_id not in scope.projects:
            continue
        assert milestone.id is not None
        tz = ZoneInfo(zone)
        wanted = {milestone.due - timedelta(days=offset): offset for offset in MILESTONE_OFFSETS}
        out += [
            Occurrence(
                "milestone",
                f"milestone:{milestone.id}:d{wanted[day]}",
                milestone.id,
                day,
                local(day, ALERT_TIME, tz),
                end_of_day(day, tz),
                part=f"d{wanted[day]}",
            )
            for day in local_days(start, end, tz)
            if day in wanted and local(day, ALERT_TIME, tz) >= milestone.created_at
        ]
    return out


def _milestone_wakes(session: Session) -> dict[str, Wake]:
    alerted = select(Milestone.project_id).where(Milestone.status == "open")
    return _alert_wakes(session, which=col(Project.id).in_(alerted))


def _milestone_posts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    return [
        milestone_posts(
            session,
            building.catalog,
            milestone_id=d.occurrence.ref,
            offset=int(d.occurrence.part[1:]),
            day=d.occurrence.day,
            late=d.late,
            default_locale=building.default_locale,
        )
        for d in due
    ]


def _nudge_occurrences(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    """Monday to Friday at ALERT_TIME in the zone of each project with nudges on."""
    out = []
    for project in session.exec(select(Project).where(col(Project.overdue_nudges))):
        if scope is not None and project.id not in scope.projects:
            continue
        assert project.id is not None
        tz = ZoneInfo(project.timezone)
        out += [
            Occurrence(
                "nudges",
                f"nudges:{project.id}",
                project.id,
                day,
                local(day, ALERT_TIME, tz),
                end_of_day(day, tz),
            )
            for day in local_days(start, end, tz)
            if day.weekday() < 5
        ]
    return out


def _nudge_wakes(session: Session) -> dict[str, Wake]:
    return _alert_wakes(session, which=col(Project.overdue_nudges).is_(True))


def _nudge_posts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    return [
        nudge_posts(
            session,
            building.catalog,
            project_id=d.occurrence.ref,
            day=d.occurrence.day,
            default_locale=building.default_locale,
        )
        for d in due
    ]


MILESTONE_KIND = ScheduleKind(
    name="milestone",
    occurrences=_milestone_occurrences,
    wakes=_milestone_wakes,
    posts=_milestone_posts,
)
NUDGES_KIND = ScheduleKind(
    name="nudges", occurrences=_nudge_occurrences, wakes=_nudge_wakes, posts=_nudge_posts
)
