"""The clock's warnings: milestones coming due, and nudges about overdue tasks.

Milestone alerts go to every channel bound to the project, 7, 3 and 1 days
before the due date, on the day, and the day after when it is not reached:
progress, and the open tasks with their A. Overdue nudges (off unless a project
turns them on with `/digest nudges on`) go one to one, each work day, to the R
and A of every overdue open task.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from commands.common import mentions_of
from commands.i18n import Catalog
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
