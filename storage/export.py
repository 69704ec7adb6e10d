"""A project's data as plain tables: what `teambot export` writes and `/teambot export` counts.

Values keep their types (dates, aware UTC datetimes, lists of names); the writers
in `bot/export.py` turn them into CSV cells or JSON. People are shown by name (the
platform user id when a member has no name). Deleted tasks are left out; an
anonymous retro's notes have no author (none is stored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.enums import TaskStatus
from storage.kpi import METRICS, NO_TARGET
from storage.models import (
    ChannelBinding,
    KpiTarget,
    Member,
    Milestone,
    Project,
    RaciAssignment,
    Retro,
    RetroNote,
    RetroVote,
    StandupConfig,
    StandupReport,
    Task,
    Workspace,
)

Cell = str | int | float | bool | date | datetime | list[str] | None
ROLES = ("R", "A", "C", "I")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]

    def dicts(self) -> list[dict[str, Cell]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    platform: str
    workspace: str
    timezone: str
    locale: str | None
    key_prefix: str
    channels: list[str]
    created_at: datetime

    def table(self) -> Table:
        return Table(
            "project",
            ("name", "platform", "workspace", "channels", "timezone", "locale", "key_prefix",
             "created_at"),
            [(self.name, self.platform, self.workspace, self.channels, self.timezone,
              self.locale, self.key_prefix, self.created_at)],
        )  # fmt: skip


def projects(
    session: Session, *, name: str | None = None, project_id: int | None = None
) -> list[ProjectInfo]:
    """Every project (or those called `name`, or the one with `project_id`), oldest first."""
    query = (
        select(Project, Workspace)
        .join(Workspace, col(Workspace.id) == Project.workspace_id)
        .order_by(col(Project.id))
    )
    if name is not None:
        query = query.where(col(Project.name) == name)
    if project_id is not None:
        query = query.where(col(Project.id) == project_id)
    rows = session.exec(query).all()
    channels: dict[int, list[str]] = {}
    ids = [p.id for p, _ in rows]
    for project_id, channel_name, channel_id, platform in session.exec(
        select(
            ChannelBinding.project_id,
            ChannelBinding.name,
            ChannelBinding.channel_id,
            Workspace.platform,
        )
        .join(Workspace, col(Workspace.id) == ChannelBinding.workspace_id)
        .where(col(ChannelBinding.project_id).in_(ids))
        .order_by(col(ChannelBinding.id))
    ).all():
        channels.setdefault(project_id, []).append(f"{platform}:{channel_name or channel_id}")
    out = []
    for project, workspace in rows:
        assert project.id is not None
        out.append(
            ProjectInfo(
                id=project.id,
                name=project.name,
                platform=workspace.platform,
                workspace=workspace.name or workspace.external_id,
                timezone=project.timezone,
                locale=project.locale,
                key_prefix=project.key_prefix,
                channels=channels.get(project.id, []),
                created_at=project.created_at,
            )
        )
    return out


def project_info(session: Session, *, project_id: int) -> ProjectInfo:
    [info] = projects(session, project_id=project_id)
    return info


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.exec(
        select(Member.id, Member.display_name, Member.platform_user_id).where(
            col(Member.id).in_(wanted)
        )
    ).all()
    return {member_id: name or user_id for member_id, name, user_id in rows if member_id}


def tables(session: Session, *, project: ProjectInfo) -> list[Table]:
    """The project's tables, in the order they are written."""
    pid = project.id
    prefix = project.key_prefix
    all_tasks = session.exec(select(Task).where(Task.project_id == pid)).all()
    keys = {t.id: f"{prefix}-{t.number}" for t in all_tasks}
    numbers = {t.id: t.number for t in all_tasks}
    tasks = sorted((t for t in all_tasks if t.deleted_at is None), key=lambda t: t.number)
    live = {t.id for t in tasks}
    milestones = session.exec(
        select(Milestone).where(Milestone.project_id == pid).order_by(col(Milestone.due))
    ).all()
    milestone_names = {m.id: m.name for m in milestones}
    roles = [
        r
        for r in session.exec(
            select(RaciAssignment).where(col(RaciAssignment.task_id).in_(list(keys)))
        ).all()
        if r.task_id in live
    ]
    reports = session.exec(
        select(StandupReport, ChannelBinding)
        .join(StandupConfig, col(StandupConfig.id) == StandupReport.config_id)
        .join(ChannelBinding, col(ChannelBinding.id) == StandupConfig.binding_id)
        .where(ChannelBinding.project_id == pid)
    ).all()
    retros = session.exec(
        select(Retro).where(Retro.project_id == pid).order_by(col(Retro.id))
    ).all()
    ordinal = {r.id: n for n, r in enumerate(retros, start=1)}
    notes = session.exec(
        select(RetroNote)
        .where(col(RetroNote.retro_id).in_(list(ordinal)))
        .order_by(col(RetroNote.id))
    ).all()
    votes = dict(
        session.exec(
            select(RetroVote.note_id, func.count())
            .where(col(RetroVote.note_id).in_([n.id for n in notes]))
            .group_by(col(RetroVote.note_id))
        ).all()
    )
    targets = session.exec(
        select(KpiTarget).where(KpiTarget.project_id == pid).order_by(col(KpiTarget.metric))
    ).all()
    names = _names(
        session,
        [
            *(t.creator_id for t in tasks),
            *(r.member_id for r in roles),
            *(report.member_id for report, _ in reports),
            *(r.facilitator_id for r in retros),
            *(n.author_id for n in notes),
            *(n.owner_id for n in notes),
        ],
    )

    def people(member_ids: Iterable[int]) -> list[str]:
        return sorted(names.get(m, "") for m in member_ids)

    roles.sort(key=lambda r: (numbers[r.task_id], ROLES.index(r.role), names.get(r.member_id, "")))
    reports = sorted(
        reports,
        key=lambda row: (
            row[0].day,
            row[1].name or row[1].channel_id,
            names.get(row[0].member_id, ""),
        ),
    )

    by_task: dict[int, dict[str, list[int]]] = {}
    for r in roles:
        by_task.setdefault(r.task_id, {}).setdefault(r.role, []).append(r.member_id)
    anonymous = {r.id for r in retros if r.anonymous}
    progress: dict[int | None, list[int]] = {}
    for t in tasks:
        counted = progress.setdefault(t.milestone_id, [0, 0])
        counted[0] += 1
        counted[1] += t.status == TaskStatus.DONE

    return [
        project.table(),
        Table(
            "tasks",
            ("key", "title", "kind", "status", "priority", "due", "milestone", "creator",
             "R", "A", "C", "I", "blocked_reason", "created_at", "started_at",
             "first_response_at", "blocked_at", "done_at"),
            [
                (keys[t.id], t.title, t.kind, t.status, t.priority, t.due,
                 milestone_names.get(t.milestone_id), names.get(t.creator_id),
                 *(people(by_task.get(t.id or 0, {}).get(role, [])) for role in ROLES),
                 t.blocked_reason, t.created_at, t.started_at, t.first_response_at,
                 t.blocked_at, t.done_at)
                for t in tasks
            ],
        ),
        Table(
            "milestones",
            ("name", "due", "status", "tasks", "done", "created_at", "done_at"),
            [
                (m.name, m.due, m.status, *progress.get(m.id, [0, 0]), m.created_at, m.done_at)
                for m in milestones
            ],
        ),
        Table(
            "raci",
            ("task", "role", "member"),
            [(keys[r.task_id], r.role, names.get(r.member_id, "")) for r in roles],
        ),
        Table(
            "standups",
            ("day", "channel", "member", "yesterday", "today", "blockers", "answers",
             "created_at", "updated_at"),
            [
                (report.day, binding.name or binding.channel_id, names.get(report.member_id),
                 report.yesterday, report.today, report.blockers,
                 # The answers to a team's own questions, in their order, as a JSON list.
                 json.dumps(report.answers, ensure_ascii=False) if report.answers else "",
                 report.created_at, report.updated_at)
                for report, binding in reports
            ],
        ),
        Table(
            "retros",
            ("retro", "title", "status", "anonymous", "facilitator", "created_at", "closed_at"),
            [
                (ordinal[r.id], r.title, r.status, r.anonymous, names.get(r.facilitator_id),
                 r.created_at, r.closed_at)
                for r in retros
            ],
        ),
        Table(
            "retro_notes",
            ("retro", "number", "kind", "text", "author", "owner", "votes", "task",
             "created_at"),
            [
                (ordinal[n.retro_id], n.number, n.kind, n.text,
                 None if n.retro_id in anonymous else names.get(n.author_id or 0),
                 names.get(n.owner_id or 0), votes.get(n.id or 0, 0), keys.get(n.task_id),
                 n.created_at)
                for n in sorted(notes, key=lambda n: (ordinal[n.retro_id], n.number))
            ],
        ),
        Table(
            "kpi_targets",
            ("metric", "op", "threshold", "unit", "created_at"),
            [_target_row(t) for t in targets],
        ),
    ]  # fmt: skip


def _target_row(target: KpiTarget) -> tuple[Cell, ...]:
    """As `/kpi target` takes it: percentages 0-100, durations in hours; `off` for a
    default switched off."""
    unit = METRICS[target.metric].unit if target.metric in METRICS else ""
    if target.op == NO_TARGET:
        return (target.metric, "off", None, unit, target.created_at)
    threshold = target.threshold * 100 if unit == "percent" else target.threshold
    return (target.metric, target.op, round(threshold, 6), unit, target.created_at)


def counts(session: Session, *, project: ProjectInfo) -> dict[str, int]:
    """Rows per table of an export (the project table left out)."""
    return {t.name: len(t.rows) for t in tables(session, project=project)[1:]}
