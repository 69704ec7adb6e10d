"""Queries and changes. Functions take the session first and keywords after;
none of them commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Date, bindparam, case, delete, exists, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, load_only, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.schema import Table
from sqlmodel import Session, col, select

from storage.enums import PRIORITY_ORDER, Role, TaskStatus
from storage.models import (
    ChannelBinding,
    KpiTarget,
    LinkCode,
    Member,
    Milestone,
    Person,
    ProcessedEvent,
    Project,
    ProjectAdmin,
    RaciAssignment,
    Retro,
    RetroNote,
    RetroVote,
    StandupAway,
    Task,
    TaskComment,
    TaskEvent,
    Workspace,
)
from storage.types import utcnow

_DONE = case((col(Task.status) == TaskStatus.DONE.value, 1), else_=0)
_PRIORITY_RANK = {priority.value: rank for priority, rank in PRIORITY_ORDER.items()}
# What a task list shows of a task (commands.common.task_view): its seven timestamps
# would double the cost of loading a page.
_LISTED: tuple[Any, ...] = tuple(
    col(attribute)
    for attribute in (
        Task.id,
        Task.project_id,
        Task.number,
        Task.title,
        Task.kind,
        Task.status,
        Task.priority,
        Task.due,
        Task.milestone_id,
        Task.blocked_reason,
    )
)

# Statements on the path of every command are built once (`@cache`) with bound
# parameters: building one costs SQLAlchemy more than running it. Reads that need
# no ORM objects select plain columns from the tables, which skips the ORM's
# loading; `_read` flushes first, as the ORM's own queries do.


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _read(session: Session, statement: Any, params: dict[str, Any]) -> Any:
    session.flush()  # what this transaction added or changed is visible to plain statements
    return session.execute(statement, params)


# -- workspaces, channels, members ------------------------------------------


def _get_or_insert(session: Session, model: Any, lookup: dict[str, Any], **values: Any) -> Any:
    """Find a row by `lookup`, or insert it; a concurrent insert of the same row wins."""
    query = select(model).filter_by(**lookup)
    row = session.exec(query).first()
    if row is not None:
        return row
    savepoint = session.begin_nested()
    try:
        row = model(**lookup, **values)
        session.add(row)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        return session.exec(query).one()
    savepoint.commit()
    return row


@dataclass(frozen=True)
class Known:
    """A channel and member seen before, as `find_context` loads them in one query."""

    workspace: Workspace
    binding: ChannelBinding
    project: Project
    member: Member | None  # None: the first command of this member in the workspace
    is_admin: bool  # the member is an admin of the project
    shared: bool  # the project has other channels (its channel replies are mirrored)


@cache
def _context_query() -> Any:
    """Built once: constructing a statement costs more than running it (bound values vary)."""
    other = aliased(ChannelBinding)
    is_admin = exists().where(
        col(ProjectAdmin.project_id) == col(ChannelBinding.project_id),
        col(ProjectAdmin.member_id) == col(Member.id),
    )
    shared = exists().where(
        col(other.project_id) == col(ChannelBinding.project_id),
        col(other.id) != col(ChannelBinding.id),
    )
    return (
        sa_select(Workspace, ChannelBinding, Project, Member, is_admin, shared)
        .join(
            ChannelBinding,
            (col(ChannelBinding.workspace_id) == col(Workspace.id))
            & (col(ChannelBinding.channel_id) == bindparam("channel_id")),
        )
        .join(Project, col(Project.id) == col(ChannelBinding.project_id))
        .outerjoin(
            Member,
            (col(Member.workspace_id) == col(Workspace.id))
            & (col(Member.platform_user_id) == bindparam("user_id")),
        )
        .where(
            col(Workspace.platform) == bindparam("platform"),
            col(Workspace.external_id) == bindparam("external_id"),
        )
    )


def find_context(
    session: Session, *, platform: str, external_id: str, channel_id: str, user_id: str
) -> Known | None:
    """Workspace, bound channel, its project and the member, with their admin flag, in one
    round trip; None when the workspace or the channel's binding does not exist yet."""
    params = {
        "platform": platform,
        "external_id": external_id,
        "channel_id": channel_id,
        "user_id": user_id,
    }
    row = session.execute(_context_query(), params).first()
    if row is None:
        return None
    workspace, binding, project, member, is_admin, shared = row
    return Known(workspace, binding, project, member, bool(is_admin), bool(shared))


def ensure_workspace(session: Session, *, platform: str, external_id: str, name: str) -> Workspace:
    ws: Workspace = _get_or_insert(
        session, Workspace, {"platform": platform, "external_id": external_id}, name=name
    )
    return ws


def find_binding(session: Session, *, workspace_id: int, channel_id: str) -> ChannelBinding | None:
    return session.exec(
        select(ChannelBinding).where(
            ChannelBinding.workspace_id == workspace_id, ChannelBinding.channel_id == channel_id
        )
    ).first()


def bind_channel(
    session: Session,
    *,
    workspace: Workspace,
    channel_id: str,
    name: str,
    timezone: str,
    locale: str | None,
) -> tuple[ChannelBinding, Project, bool]:
    """The channel's binding and project, creating both on first use.

    Returns whether the project is new. The project is named after the channel;
    if that name is taken in the workspace, the channel id is appended.
    """
    assert workspace.id is not None
    binding = find_binding(session, workspace_id=workspace.id, channel_id=channel_id)
    if binding is not None:
        return binding, session.get_one(Project, binding.project_id), False
    project_name = name or channel_id
    taken = session.exec(
        select(Project.id).where(Project.workspace_id == workspace.id, Project.name == project_name)
    ).first()
    if taken is not None:
        project_name = f"{project_name} ({channel_id})"
    project = Project(
        workspace_id=workspace.id, name=project_name, timezone=timezone, locale=locale
    )
    session.add(project)
    session.flush()
    assert project.id is not None
    binding = _get_or_insert(
        session,
        ChannelBinding,
        {"workspace_id": workspace.id, "channel_id": channel_id},
        project_id=project.id,
        name=name,
    )
    if binding.project_id != project.id:  # another request bound the channel first
        session.delete(project)
        session.flush()
        return binding, session.get_one(Project, binding.project_id), False
    return binding, project, True


def ensure_member(
    session: Session,
    *,
    workspace: Workspace,
    platform_user_id: str,
    display_name: str,
    timezone: str | None = None,
    locale: str | None = None,
) -> Member:
    """The member, created on first sight; a newer non-empty name or profile wins."""
    member: Member = _get_or_insert(
        session,
        Member,
        {"workspace_id": workspace.id, "platform_user_id": platform_user_id},
        display_name=display_name or platform_user_id,
        timezone=timezone,
        locale=locale,
    )
    refresh_member(member, display_name=display_name, timezone=timezone, locale=locale)
    return member


def refresh_member(
    member: Member, *, display_name: str, timezone: str | None, locale: str | None
) -> None:
    """A newer non-empty name or profile wins (written when the transaction flushes)."""
    if display_name and member.display_name != display_name:
        member.display_name = display_name
    if timezone and member.timezone != timezone:
        member.timezone = timezone
    if locale and member.locale != locale:
        member.locale = locale


def find_member_by_name(session: Session, *, workspace_id: int, name: str) -> Member | None:
    return session.exec(
        select(Member)
        .where(Member.workspace_id == workspace_id)
        .where(func.lower(Member.display_name) == name.lower())
        .order_by(col(Member.id))
    ).first()


# -- admins ------------------------------------------------------------------


def admin_ids(session: Session, *, project_id: int) -> set[int]:
    rows = session.exec(
        select(ProjectAdmin.member_id).where(ProjectAdmin.project_id == project_id)
    ).all()
    return set(rows)


def add_admin(session: Session, *, project_id: int, member_id: int) -> bool:
    if session.get(ProjectAdmin, (project_id, member_id)) is not None:
        return False
    session.add(ProjectAdmin(project_id=project_id, member_id=member_id))
    session.flush()
    return True


def remove_admin(session: Session, *, project_id: int, member_id: int) -> bool:
    row = session.get(ProjectAdmin, (project_id, member_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# -- tasks ---------------------------------------------------------------------


def allocate_task_number(session: Session, *, project_id: int) -> int:
    """Take the project's next task number atomically (safe across replicas)."""
    taken = int(session.execute(_allocate_query(), {"project_id": project_id}).scalar_one()) - 1
    # A plain UPDATE leaves the loaded project as it was: tell it, without marking it dirty.
    loaded = session.identity_map.get(session.identity_key(Project, project_id))
    if loaded is not None:
        set_committed_value(loaded, "next_task_number", taken + 1)
    return taken


@cache
def _allocate_query() -> Any:
    project = _table(Project)
    return (
        update(project)
        .where(project.c.id == bindparam("project_id"))
        .values(next_task_number=project.c.next_task_number + 1)
        .returning(project.c.next_task_number)
    )


def insert_task(session: Session, *, task: Task) -> None:
    """Insert a new task with one plain INSERT … RETURNING and keep the object as a loaded,
    persistent one (it has every column's value): flushing it through the unit of work
    costs about twice as much, and a command inserts one task."""
    session.flush()  # what the task refers to (a member, a milestone) is in the database
    values = {column.key: getattr(task, column.key) for column in _table(Task).columns}
    del values["id"]
    task.id = session.execute(_task_insert(), values).scalar_one()
    make_transient_to_detached(task)
    session.add(task)


@cache
def _task_insert() -> Any:
    table = _table(Task)
    return insert(table).returning(table.c.id)


def find_task(session: Session, *, project_id: int, number: int, lock: bool = False) -> Task | None:
    """A live task by number; `lock` holds its row until the transaction ends, so commands
    changing one task queue and each sees what the one before it committed (PostgreSQL;
    SQLite runs one writer at a time anyway)."""
    params = {"project_id": project_id, "number": number}
    task: Task | None = session.exec(_find_task_query(lock), params=params).first()
    return task


@cache
def _find_task_query(lock: bool) -> Any:
    query = select(Task).where(
        col(Task.project_id) == bindparam("project_id"),
        col(Task.number) == bindparam("number"),
        col(Task.deleted_at).is_(None),
    )
    if not lock:
        return query
    # The locked row's values win over a copy the session may hold already.
    return query.with_for_update(of=Task).execution_options(populate_existing=True)


def find_deleted_task(
    session: Session, *, project_id: int, number: int, lock: bool = False
) -> Task | None:
    """A deleted task by number (its row is kept), to restore it."""
    query = select(Task).where(
        col(Task.project_id) == project_id,
        col(Task.number) == number,
        col(Task.deleted_at).is_not(None),
    )
    if lock:
        query = query.with_for_update(of=Task).execution_options(populate_existing=True)
    return session.exec(query).first()


def record_event(
    session: Session, *, task: Task, actor_id: int | None, kind: str, at: datetime, **data: Any
) -> None:
    """Audit a change of a task. A plain INSERT, run at once: the unit of work would cost
    several times more for a row nothing reads back in the same command."""
    assert task.id is not None
    row = {"task_id": task.id, "actor_id": actor_id, "kind": kind, "data": data, "at": at}
    session.execute(_event_insert(), row)


@cache
def _event_insert() -> Any:
    return insert(_table(TaskEvent))


def status_setter(session: Session, *, task_id: int, status: str) -> int | None:
    """Who moved the task to `status` last (its latest status change, if it was that one)."""
    row = session.exec(
        select(TaskEvent.actor_id, TaskEvent.data)
        .where(TaskEvent.task_id == task_id, TaskEvent.kind == "status")
        .order_by(col(TaskEvent.id).desc())
        .limit(1)
    ).first()
    if row is None or not isinstance(row[1], dict) or row[1].get("new") != status:
        return None
    return row[0]


def status_before(session: Session, *, task_id: int, status: str) -> str | None:
    """The status the task had before its latest status change, if that change moved it
    to `status` (a block keeps the old status in its event: unblocking returns to it)."""
    row = session.exec(
        select(TaskEvent.data)
        .where(TaskEvent.task_id == task_id, TaskEvent.kind == "status")
        .order_by(col(TaskEvent.id).desc())
        .limit(1)
    ).first()
    if not isinstance(row, dict) or row.get("new") != status:
        return None
    old = row.get("old")
    return old if isinstance(old, str) else None


def list_tasks(
    session: Session,
    *,
    project_id: int,
    statuses: Sequence[str] | None = None,
    exclude_status: str | None = None,
    due_before: date | None = None,
    member_id: int | None = None,
    milestone_id: int | None = None,
    limit: int | None = None,
) -> list[Task]:
    query = select(Task).where(
        *_task_filters(
            project_id=project_id,
            statuses=list(statuses) if statuses else None,
            exclude_status=exclude_status or None,
            due_before=due_before,
            member_id=member_id,
            milestone_id=milestone_id,
        )
    )
    query = query.order_by(col(Task.number))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def task_page(
    session: Session,
    *,
    project_id: int,
    today: date,
    limit: int,
    offset: int = 0,
    statuses: Sequence[str] | None = None,
    exclude_status: str | None = None,
    due_before: date | None = None,
    member_id: int | None = None,
    milestone_id: int | None = None,
) -> tuple[list[Task], int]:
    """`limit` matching tasks in list order from `offset` on, and how many match in all.

    List order: overdue first, then open, then done; within each by due date
    (none last), priority (high first) and number. Sorting and counting in SQL
    loads `limit` rows, not the project's every task, and only what a list shows
    of them (`_LISTED`; any other attribute loads when it is first read).
    """
    filters = {
        "statuses": list(statuses) if statuses else None,
        "exclude_status": exclude_status or None,
        "due_before": due_before,
        "member_id": member_id,
        "milestone_id": milestone_id,
    }
    given = {name: value for name, value in filters.items() if value is not None}
    query = _page_query(frozenset(given))
    params = {"project_id": project_id, "today": today, "limit": limit, "offset": offset, **given}
    rows = session.exec(query, params=params).all()
    if not rows and offset:  # past the last page: still say how many there are
        total = session.exec(query, params={**params, "offset": 0, "limit": 1}).first()
        return [], int(total[1]) if total else 0
    return [task for task, _ in rows], int(rows[0][1]) if rows else 0


@cache
def _page_query(filters: frozenset[str]) -> Any:
    """`task_page`'s statement for one combination of filters, values bound at run time."""

    def param(name: str) -> Any:
        return bindparam(name, expanding=name == "statuses") if name in filters else None

    where = _task_filters(
        project_id=bindparam("project_id"),
        statuses=param("statuses"),
        exclude_status=param("exclude_status"),
        due_before=param("due_before"),
        member_id=param("member_id"),
        milestone_id=param("milestone_id"),
    )
    overdue = col(Task.due).is_not(None) & (col(Task.due) < bindparam("today", type_=Date))
    bucket = case((col(Task.status) == TaskStatus.DONE.value, 2), (overdue, 0), else_=1)
    priority = case(_PRIORITY_RANK, value=col(Task.priority), else_=1)
    # A scalar subquery, not `count() OVER ()`: the window makes SQLite materialise every
    # row before sorting (measured 0.33 ms against 0.16 ms for 250 tasks).
    total = select(func.count()).select_from(Task).where(*where).scalar_subquery()
    return (
        select(Task, total)
        .options(load_only(*_LISTED))
        .where(*where)
        .order_by(bucket, col(Task.due).is_(None), col(Task.due), priority, col(Task.number))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def _task_filters(
    *,
    project_id: Any,
    statuses: Any,
    exclude_status: Any,
    due_before: Any,
    member_id: Any,
    milestone_id: Any,
) -> list[Any]:
    """The conditions of a task listing; each value is a Python value or a bound parameter
    (None: no such condition)."""
    where: list[Any] = [col(Task.project_id) == project_id, col(Task.deleted_at).is_(None)]
    if statuses is not None:
        where.append(col(Task.status).in_(statuses))
    if exclude_status is not None:
        where.append(col(Task.status) != exclude_status)
    if due_before is not None:
        where += [col(Task.due).is_not(None), col(Task.due) < due_before]
    if milestone_id is not None:
        where.append(col(Task.milestone_id) == milestone_id)
    if member_id is not None:
        mine = select(RaciAssignment.task_id).where(
            col(RaciAssignment.member_id).in_(_same_person(member_id)),
            col(RaciAssignment.role).in_([Role.R.value, Role.A.value]),
        )
        where.append(col(Task.id).in_(mine))
    return where


def _same_person(member_id: int) -> Any:
    """The member and every member linked with them as one person, as a subquery."""
    person = select(Member.person_id).where(Member.id == member_id).scalar_subquery()
    return select(Member.id).where((col(Member.id) == member_id) | (Member.person_id == person))


def add_comment(
    session: Session, *, task: Task, author_id: int, text: str, at: datetime
) -> TaskComment:
    assert task.id is not None
    comment = TaskComment(task_id=task.id, author_id=author_id, text=text, created_at=at)
    session.add(comment)
    return comment


def recent_comments(session: Session, *, task_id: int, limit: int) -> list[TaskComment]:
    rows = session.exec(
        select(TaskComment)
        .where(TaskComment.task_id == task_id)
        .order_by(col(TaskComment.id).desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def comment_count(session: Session, *, task_id: int) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(TaskComment).where(TaskComment.task_id == task_id)
        ).scalar_one()
    )


# -- RACI ----------------------------------------------------------------------


def raci_of(session: Session, *, task_ids: Iterable[int]) -> dict[int, dict[str, list[int]]]:
    """task id -> role -> member ids (in the order they were given the role)."""
    ids = list(task_ids)
    out: dict[int, dict[str, list[int]]] = {tid: {r.value: [] for r in Role} for tid in ids}
    if not ids:
        return out
    for task_id, role, member_id in _read(session, _raci_query(), {"ids": ids}):
        out[task_id][role].append(member_id)
    return out


@cache
def _raci_query() -> Any:
    raci = _table(RaciAssignment)
    return (
        sa_select(raci.c.task_id, raci.c.role, raci.c.member_id)
        .where(raci.c.task_id.in_(bindparam("ids", expanding=True)))
        .order_by(raci.c.id)
    )


def member_mentions(
    session: Session, *, member_ids: Iterable[int]
) -> list[tuple[int, str, str, str]]:
    """(member id, display name, platform, platform user id) of each member."""
    ids = list(member_ids)
    if not ids:
        return []
    rows = _read(session, _mentions_query(), {"ids": ids})
    return [(int(i), str(name), str(platform), str(user)) for i, name, platform, user in rows]


@cache
def _mentions_query() -> Any:
    member, workspace = _table(Member), _table(Workspace)
    return (
        sa_select(
            member.c.id, member.c.display_name, workspace.c.platform, member.c.platform_user_id
        )
        .join(workspace, workspace.c.id == member.c.workspace_id)
        .where(member.c.id.in_(bindparam("ids", expanding=True)))
    )


def set_role(session: Session, *, task_id: int, role: str, member_ids: Sequence[int]) -> None:
    """Replace the members holding `role` on the task with `member_ids`."""
    current = session.exec(
        select(RaciAssignment).where(RaciAssignment.task_id == task_id, RaciAssignment.role == role)
    ).all()
    keep = set(member_ids)
    for row in current:
        if row.member_id not in keep:
            session.delete(row)
    session.flush()
    have = {row.member_id for row in current}
    for member_id in member_ids:
        if member_id not in have:
            session.add(RaciAssignment(task_id=task_id, member_id=member_id, role=role))
    session.flush()


def assign_new(session: Session, *, task_id: int, role: str, member_ids: Sequence[int]) -> None:
    """Give a role to members on a task created in this transaction: it has no roles
    to replace, so nothing is read (`set_role` for a task that may have some)."""
    for member_id in dict.fromkeys(member_ids):
        session.add(RaciAssignment(task_id=task_id, member_id=member_id, role=role))


def add_to_role(
    session: Session, *, task_id: int, role: str, member_ids: Sequence[int]
) -> list[int]:
    """Add members to a role; returns those that were not there yet."""
    have = set(
        session.exec(
            select(RaciAssignment.member_id).where(
                RaciAssignment.task_id == task_id, RaciAssignment.role == role
            )
        ).all()
    )
    added = [m for m in dict.fromkeys(member_ids) if m not in have]
    for member_id in added:
        session.add(RaciAssignment(task_id=task_id, member_id=member_id, role=role))
    session.flush()
    return added


# -- milestones ------------------------------------------------------------------


def find_milestone(session: Session, *, project_id: int, name: str) -> Milestone | None:
    return session.exec(
        select(Milestone).where(
            Milestone.project_id == project_id, func.lower(Milestone.name) == name.lower()
        )
    ).first()


def list_milestones(session: Session, *, project_id: int) -> list[Milestone]:
    return list(
        session.exec(
            select(Milestone)
            .where(Milestone.project_id == project_id)
            .order_by(col(Milestone.due), col(Milestone.id))
        ).all()
    )


def milestone_progress(
    session: Session, *, milestone_ids: Iterable[int]
) -> dict[int, tuple[int, int]]:
    """milestone id -> (done, total) tasks, in one aggregate query."""
    ids = list(milestone_ids)
    out = {mid: (0, 0) for mid in ids}
    if not ids:
        return out
    done_flag = func.sum(_DONE)
    rows = session.execute(
        select(Task.milestone_id, func.count(), done_flag)
        .where(col(Task.milestone_id).in_(ids), col(Task.deleted_at).is_(None))
        .group_by(col(Task.milestone_id))
    ).all()
    for milestone_id, total, done in rows:
        out[int(milestone_id)] = (int(done or 0), int(total))
    return out


# -- links across channels and platforms --------------------------------------------


def add_link_code(
    session: Session,
    *,
    code: str,
    kind: str,
    project_id: int | None,
    member_id: int,
    created_at: datetime,
    expires_at: datetime,
) -> LinkCode | None:
    """Store a new one-time code; None when that code exists already (draw another)."""
    savepoint = session.begin_nested()
    try:
        row = LinkCode(
            code=code,
            kind=kind,
            project_id=project_id,
            member_id=member_id,
            created_at=created_at,
            expires_at=expires_at,
        )
        session.add(row)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return row


def find_link_code(session: Session, *, code: str) -> LinkCode | None:
    return session.exec(select(LinkCode).where(LinkCode.code == code)).first()


def use_link_code(session: Session, *, code_id: int, at: datetime) -> bool:
    """Mark a code used; False if it was used already (by a concurrent request, too)."""
    result = session.execute(
        update(LinkCode)
        .where(col(LinkCode.id) == code_id, col(LinkCode.used_at).is_(None))
        .values(used_at=at)
        .returning(col(LinkCode.id))
    )
    return result.first() is not None


def project_work(session: Session, *, project_id: int) -> tuple[int, int, int]:
    """(tasks, milestones, other records: retros, KPI targets, leave) of a project; deleted
    tasks count, their rows are kept. Admins and link codes are not work."""

    def count(model: Any) -> Any:
        return (
            select(func.count())
            .select_from(model)
            .where(model.project_id == project_id)
            .scalar_subquery()
        )

    row = session.execute(
        sa_select(count(Task), count(Milestone), count(Retro), count(KpiTarget), count(StandupAway))
    ).one()
    return int(row[0]), int(row[1]), int(row[2]) + int(row[3]) + int(row[4])


def lock_binding(session: Session, *, binding: ChannelBinding) -> ChannelBinding:
    """Hold the channel's binding row until the transaction ends and read its project
    afresh: two links of one channel at once queue, the second sees the first's result."""
    locked: ChannelBinding = session.exec(
        select(ChannelBinding)
        .where(col(ChannelBinding.id) == binding.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


def other_channels(
    session: Session, *, project_id: int, binding_id: int
) -> list[tuple[str, str, str]]:
    """(platform, workspace external id, channel id) of the project's other channels."""
    rows = session.execute(
        select(Workspace.platform, Workspace.external_id, ChannelBinding.channel_id)
        .join(Workspace, col(Workspace.id) == ChannelBinding.workspace_id)
        .where(ChannelBinding.project_id == project_id, col(ChannelBinding.id) != binding_id)
        .order_by(col(ChannelBinding.id))
    ).all()
    return [(str(p), str(w), str(c)) for p, w, c in rows]


def binding_count(session: Session, *, project_id: int) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(ChannelBinding)
            .where(ChannelBinding.project_id == project_id)
        ).scalar_one()
    )


def rebind_channel(session: Session, *, binding: ChannelBinding, project_id: int) -> None:
    binding.project_id = project_id
    session.add(binding)
    session.flush()


def delete_project(session: Session, *, project_id: int) -> None:
    """Remove a project that holds no work and no channel, with its admins and link codes."""
    session.execute(delete(ProjectAdmin).where(col(ProjectAdmin.project_id) == project_id))
    session.execute(delete(LinkCode).where(col(LinkCode.project_id) == project_id))
    session.execute(delete(Project).where(col(Project.id) == project_id))
    session.flush()


def link_members(session: Session, *, member_ids: Sequence[int], at: datetime) -> int:
    """Make the members one person and return its id.

    The oldest person any of them has is kept; members of their other persons
    move to it (those persons are removed); with none, a new person is made.
    """
    members = session.exec(select(Member).where(col(Member.id).in_(member_ids))).all()
    persons = sorted({m.person_id for m in members if m.person_id is not None})
    if persons:
        keep, merged = persons[0], persons[1:]
    else:
        person = Person(created_at=at)
        session.add(person)
        session.flush()
        assert person.id is not None
        keep, merged = person.id, []
    if merged:
        session.execute(
            update(Member).where(col(Member.person_id).in_(merged)).values(person_id=keep)
        )
        session.execute(delete(Person).where(col(Person.id).in_(merged)))
    for member in members:
        member.person_id = keep
        session.add(member)
    session.flush()
    return keep


# -- retrospectives ----------------------------------------------------------------


def lock_project(session: Session, *, project_id: int) -> None:
    """Hold the project's row until the transaction ends, so checks-then-inserts of one
    project queue (PostgreSQL; SQLite runs one writer at a time anyway)."""
    session.exec(select(Project.id).where(col(Project.id) == project_id).with_for_update()).one()


def task_from_report(session: Session, *, project_id: int, report_id: int) -> int | None:
    """The number of the task a standup report's blocker was made into, if it was."""
    made = (
        select(Task.number)
        .join(TaskEvent, col(TaskEvent.task_id) == col(Task.id))
        .where(
            col(Task.project_id) == project_id,
            col(TaskEvent.kind) == "created",
            TaskEvent.data["report"].as_integer() == report_id,
        )
        .limit(1)
    )
    found = session.exec(made).first()
    return int(found) if found is not None else None


def find_retro(
    session: Session, *, project_id: int, status: str, lock: bool = False
) -> Retro | None:
    """The project's latest retro in `status`; `lock` holds its row (notes and votes queue)."""
    query = (
        select(Retro)
        .where(Retro.project_id == project_id, Retro.status == status)
        .order_by(col(Retro.id).desc())
    )
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def retro_notes(session: Session, *, retro_id: int) -> list[RetroNote]:
    return list(
        session.exec(
            select(RetroNote).where(RetroNote.retro_id == retro_id).order_by(col(RetroNote.number))
        ).all()
    )


def next_note_number(session: Session, *, retro_id: int) -> int:
    last = session.execute(
        select(func.max(RetroNote.number)).where(RetroNote.retro_id == retro_id)
    ).scalar_one()
    return int(last or 0) + 1


def find_note(session: Session, *, retro_id: int, number: int) -> RetroNote | None:
    return session.exec(
        select(RetroNote).where(RetroNote.retro_id == retro_id, RetroNote.number == number)
    ).first()


def retro_vote_counts(session: Session, *, retro_id: int) -> dict[int, int]:
    """note id -> votes, for the notes of one retro that have any."""
    rows = session.execute(
        select(RetroVote.note_id, func.count())
        .join(RetroNote, col(RetroNote.id) == RetroVote.note_id)
        .where(RetroNote.retro_id == retro_id)
        .group_by(col(RetroVote.note_id))
    ).all()
    return {int(note_id): int(count) for note_id, count in rows}


def retro_votes_of(session: Session, *, retro_id: int, member_id: int) -> set[int]:
    """Ids of the notes of a retro that the member (or the same person elsewhere) voted for."""
    rows = session.exec(
        select(RetroVote.note_id)
        .join(RetroNote, col(RetroNote.id) == RetroVote.note_id)
        .where(
            RetroNote.retro_id == retro_id,
            col(RetroVote.voter_id).in_(_same_person(member_id)),
        )
    ).all()
    return set(rows)


def add_retro_vote(session: Session, *, note_id: int, voter_id: int, at: datetime) -> bool:
    """Record a vote; False if this member voted for the note already."""
    savepoint = session.begin_nested()
    try:
        session.add(RetroVote(note_id=note_id, voter_id=voter_id, created_at=at))
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def delete_note(session: Session, *, note: RetroNote) -> None:
    """A note and the votes on it; notes grouped under it stand alone again."""
    session.execute(delete(RetroVote).where(col(RetroVote.note_id) == note.id))
    session.execute(
        update(RetroNote)
        .where(col(RetroNote.retro_id) == note.retro_id, col(RetroNote.grouped_into) == note.number)
        .values(grouped_into=None)
    )
    session.delete(note)
    session.flush()


def move_votes(session: Session, *, from_id: int, to_id: int) -> None:
    """The votes on one note become votes on another (grouping); a voter who voted for
    both keeps one vote, and the other is theirs to give again."""
    both = select(RetroVote.voter_id).where(col(RetroVote.note_id) == to_id)
    session.execute(
        delete(RetroVote).where(
            col(RetroVote.note_id) == from_id, col(RetroVote.voter_id).in_(both)
        )
    )
    session.execute(
        update(RetroVote).where(col(RetroVote.note_id) == from_id).values(note_id=to_id)
    )


def remove_retro_vote(session: Session, *, note_id: int, member_id: int) -> bool:
    """Take back the member's (or the same person's) vote for a note; False if none."""
    found = session.execute(
        delete(RetroVote).where(
            col(RetroVote.note_id) == note_id,
            col(RetroVote.voter_id).in_(_same_person(member_id)),
        )
    )
    return bool(getattr(found, "rowcount", 0))


def last_closed_retro(session: Session, *, project_id: int) -> Retro | None:
    return session.exec(
        select(Retro)
        .where(Retro.project_id == project_id, Retro.status == "closed")
        .order_by(col(Retro.closed_at).desc(), col(Retro.id).desc())
    ).first()


def retro_action_tasks(session: Session, *, retro_id: int) -> list[tuple[RetroNote, Task]]:
    """The action notes of a retro that became tasks (still there), with their tasks."""
    rows = session.exec(
        select(RetroNote, Task)
        .join(Task, col(Task.id) == RetroNote.task_id)
        .where(RetroNote.retro_id == retro_id, col(Task.deleted_at).is_(None))
        .order_by(col(RetroNote.number))
    ).all()
    return [(note, task) for note, task in rows]


def same_person(session: Session, *, member_id: int, other_id: int) -> bool:
    """Whether two members are one person (the same member, or linked)."""
    found = session.exec(
        select(Member.id).where(
            col(Member.id) == other_id, col(Member.id).in_(_same_person(member_id))
        )
    ).first()
    return found is not None


# -- processed events --------------------------------------------------------------


def claim_event(session: Session, *, platform: str, event_id: str) -> bool:
    """Record a platform event id; False if it was handled before. One statement that
    inserts nothing on a repeat (every command claims its event: a savepoint and the unit
    of work cost three round trips and ~0.2 ms more)."""
    bind = session.connection()
    row = {"platform": platform, "event_id": event_id, "received_at": utcnow()}
    return bind.execute(_claim_insert(bind.dialect.name), row).first() is not None


@cache
def _claim_insert(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    table = _table(ProcessedEvent)
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert_(table)
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
        .returning(table.c.id)
    )
