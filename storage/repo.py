"""Queries and changes. Functions take the session first and keywords after;
none of them commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.enums import Role, TaskStatus
from storage.models import (
    ChannelBinding,
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
    Task,
    TaskComment,
    TaskEvent,
    Workspace,
)

_DONE = case((col(Task.status) == TaskStatus.DONE.value, 1), else_=0)

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
    if display_name and member.display_name != display_name:
        member.display_name = display_name
    if timezone and member.timezone != timezone:
        member.timezone = timezone
    if locale and member.locale != locale:
        member.locale = locale
    return member


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
    result = session.execute(
        update(Project)
        .where(col(Project.id) == project_id)
        .values(next_task_number=Project.next_task_number + 1)
        .returning(col(Project.next_task_number))
    )
    return int(result.scalar_one()) - 1


def find_task(session: Session, *, project_id: int, number: int) -> Task | None:
    return session.exec(
        select(Task).where(
            Task.project_id == project_id,
            Task.number == number,
            col(Task.deleted_at).is_(None),
        )
    ).first()


def record_event(
    session: Session, *, task: Task, actor_id: int | None, kind: str, at: datetime, **data: Any
) -> None:
    assert task.id is not None
    session.add(TaskEvent(task_id=task.id, actor_id=actor_id, kind=kind, data=data, at=at))


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
    query = select(Task).where(Task.project_id == project_id, col(Task.deleted_at).is_(None))
    if statuses:
        query = query.where(col(Task.status).in_(statuses))
    if exclude_status:
        query = query.where(Task.status != exclude_status)
    if due_before is not None:
        query = query.where(col(Task.due).is_not(None), col(Task.due) < due_before)
    if milestone_id is not None:
        query = query.where(Task.milestone_id == milestone_id)
    if member_id is not None:
        mine = select(RaciAssignment.task_id).where(
            col(RaciAssignment.member_id).in_(_same_person(member_id)),
            col(RaciAssignment.role).in_([Role.R.value, Role.A.value]),
        )
        query = query.where(col(Task.id).in_(mine))
    query = query.order_by(col(Task.number))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


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
    rows = session.exec(
        select(RaciAssignment)
        .where(col(RaciAssignment.task_id).in_(ids))
        .order_by(col(RaciAssignment.id))
    ).all()
    for row in rows:
        out[row.task_id][row.role].append(row.member_id)
    return out


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


def project_work(session: Session, *, project_id: int) -> tuple[int, int]:
    """(tasks, milestones) of a project; deleted tasks count, their rows are kept."""
    tasks = select(func.count()).select_from(Task).where(Task.project_id == project_id)
    milestones = (
        select(func.count()).select_from(Milestone).where(Milestone.project_id == project_id)
    )
    row = session.execute(select(tasks.scalar_subquery(), milestones.scalar_subquery())).one()
    return int(row[0]), int(row[1])


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
    """Record a platform event id; False if it was handled before."""
    savepoint = session.begin_nested()
    try:
        session.add(ProcessedEvent(platform=platform, event_id=event_id))
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True
