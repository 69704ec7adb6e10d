"""The tables of the whole domain (DESIGN.md, "Domain").

Every datetime column is an aware UTC datetime (`UTCDateTime`); dates without a
time (due dates, standup days) are plain `date`. Enumerations are stored as
short strings; their allowed values live in `storage.enums`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class Workspace(SQLModel, table=True):
    """One Slack team, one Feishu tenant, or the local console."""

    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _created()


class Project(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str = Field(max_length=200)
    key_prefix: str = Field(default="T", max_length=8)
    locale: str | None = Field(default=None, max_length=8)
    timezone: str = Field(default="UTC", max_length=64)
    next_task_number: int = Field(default=1)
    overdue_nudges: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    created_at: datetime = _created()


class ChannelBinding(SQLModel, table=True):
    """A chat channel bound to a project."""

    __tablename__ = "channel_binding"
    __table_args__ = (UniqueConstraint("workspace_id", "channel_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    project_id: int = Field(foreign_key="project.id", index=True)
    channel_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _created()


class Person(SQLModel, table=True):
    """Members on different platforms linked as one human."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _created()


class Member(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "platform_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    platform_user_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    created_at: datetime = _created()


class ProjectAdmin(SQLModel, table=True):
    __tablename__ = "project_admin"

    project_id: int = Field(foreign_key="project.id", primary_key=True)
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    created_at: datetime = _created()


class LinkCode(SQLModel, table=True):
    """A one-time code that links a channel to a project, or a member to a person.

    `kind` is "channel" (with the project it joins, issued by an admin) or
    "person" (issued by the member to be linked). Used codes are kept.
    """

    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    kind: str = Field(max_length=8)
    project_id: int | None = Field(default=None, foreign_key="project.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _when()


class Milestone(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    name: str = Field(max_length=200)
    due: date
    status: str = Field(default="open", max_length=16)
    created_at: datetime = _created()
    done_at: datetime | None = _when()


class Task(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        Index("ix_task_project_status", "project_id", "status"),
        Index("ix_task_project_done_at", "project_id", "done_at"),
        Index("ix_task_project_created_at", "project_id", "created_at"),
        Index("ix_task_project_first_response", "project_id", "first_response_at"),
        # Live tasks only (the KPIs never count deleted ones): index-only counts and ranges
        # for the digest at a million tasks (bench/README.md, "KPI digest").
        Index(
            "ix_task_project_alive_created",
            "project_id",
            "created_at",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_task_project_alive_done",
            "project_id",
            "done_at",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_task_project_alive_status",
            "project_id",
            "status",
            "kind",
            "due",
            "created_at",
            "blocked_at",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    number: int
    title: str = Field(max_length=500)
    kind: str = Field(default="task", max_length=8)
    status: str = Field(default="todo", max_length=8)
    priority: str = Field(default="med", max_length=8)
    due: date | None = None
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    creator_id: int = Field(foreign_key="member.id")
    blocked_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    started_at: datetime | None = _when()
    first_response_at: datetime | None = _when()
    blocked_at: datetime | None = _when()
    done_at: datetime | None = _when()
    deleted_at: datetime | None = _when()


class TaskEvent(SQLModel, table=True):
    """Audit trail: who changed what on a task, and when."""

    __tablename__ = "task_event"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="member.id")
    kind: str = Field(max_length=16)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = _created()


class TaskComment(SQLModel, table=True):
    __tablename__ = "task_comment"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    author_id: int = Field(foreign_key="member.id")
    text: str = Field(max_length=4000)
    created_at: datetime = _created()


class RaciAssignment(SQLModel, table=True):
    """One person in one RACI role on one task.

    At most one A per task is enforced by the database itself (a partial
    unique index), not only by the code that sets it.
    """

    __tablename__ = "raci_assignment"
    __table_args__ = (
        UniqueConstraint("task_id", "member_id", "role"),
        Index(
            "uq_raci_one_accountable",
            "task_id",
            unique=True,
            sqlite_where=text("role = 'A'"),
            postgresql_where=text("role = 'A'"),
        ),
        Index("ix_raci_member_role", "member_id", "role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    role: str = Field(max_length=1)
    created_at: datetime = _created()


class StandupConfig(SQLModel, table=True):
    __tablename__ = "standup_config"

    id: int | None = Field(default=None, primary_key=True)
    binding_id: int = Field(foreign_key="channel_binding.id", unique=True)
    at: time
    cutoff: time
    timezone: str = Field(max_length=64)
    days: str = Field(default="mon-fri", max_length=32)
    calendar: str = Field(default="none", max_length=8)
    # "channel": prompt in the channel; "dm": each member asked one to one, one question at
    # a time, at `at` in their own zone. `post` (dm): "each" finished report goes to the
    # channel at once, or only in the "summary".
    mode: str = Field(
        default="channel", max_length=8, sa_column_kwargs={"server_default": "channel"}
    )
    post: str = Field(default="each", max_length=8, sa_column_kwargs={"server_default": "each"})
    # A team's own questions, in order: [{"text": "…", "blocker": bool}]; None: the
    # default three (commands/standup_questions.py).
    questions: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    enabled: bool = True
    created_at: datetime = _created()
    updated_at: datetime = _created()


class StandupReport(SQLModel, table=True):
    __tablename__ = "standup_report"
    __table_args__ = (UniqueConstraint("config_id", "member_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    config_id: int = Field(foreign_key="standup_config.id")
    member_id: int = Field(foreign_key="member.id")
    day: date
    yesterday: str = Field(default="", max_length=4000)
    today: str = Field(default="", max_length=4000)
    blockers: str = Field(default="", max_length=4000)
    # The answers to a team's own questions, in their order ("" when not given); the
    # blocker question's answer is also in `blockers`. None: the default questions.
    answers: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class StandupDm(SQLModel, table=True):
    """A DM-mode standup being asked of one member on one day: the question `step` is
    pending (0-based; `step` past the last question: finished), the answers so far."""

    __tablename__ = "standup_dm"
    __table_args__ = (UniqueConstraint("config_id", "member_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    config_id: int = Field(foreign_key="standup_config.id")
    member_id: int = Field(foreign_key="member.id", index=True)
    day: date
    step: int = 0
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    until: datetime = Field(sa_type=UTCDateTime, nullable=False)  # the cutoff, in UTC
    snoozed_until: datetime | None = _when()  # "later": asked again then
    snoozes: int = 0
    finished_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class StandupSnooze(SQLModel, table=True):
    """ "Later": ask `member` again by DM at `due` (UTC), on `day` of a standup."""

    __tablename__ = "standup_snooze"
    __table_args__ = (UniqueConstraint("config_id", "member_id", "day", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    config_id: int = Field(foreign_key="standup_config.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    day: date
    number: int  # 1, 2, …: the member's snoozes of that day, in order
    due: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = _created()


class StandupAway(SQLModel, table=True):
    """A member on leave from `start` to `end` (both included): not counted missing."""

    __tablename__ = "standup_away"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    start: date
    end: date
    created_at: datetime = _created()


class StandupRoster(SQLModel, table=True):
    """A standup's team as its platform lists it: the channel's members (bots and
    deactivated people left out), fetched at `refreshed_at`. No row: never fetched (the
    console, or a platform that has not answered yet)."""

    __tablename__ = "standup_roster"

    config_id: int = Field(foreign_key="standup_config.id", primary_key=True)
    platform: str = Field(max_length=16)
    refreshed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class StandupRosterMember(SQLModel, table=True):
    """One person of a standup's roster: on the platform's list (`listed`), and what the
    team chose with `/standup members add|remove` (`choice`: "added", "removed" or ""),
    which outlives every refresh of the list."""

    __tablename__ = "standup_roster_member"

    config_id: int = Field(foreign_key="standup_config.id", primary_key=True)
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    listed: bool = False
    choice: str = Field(default="", max_length=8)
    updated_at: datetime = _created()


class DigestConfig(SQLModel, table=True):
    __tablename__ = "digest_config"

    id: int | None = Field(default=None, primary_key=True)
    binding_id: int = Field(foreign_key="channel_binding.id", unique=True)
    cadence: str = Field(max_length=8)
    weekday: int | None = None
    at: time
    timezone: str = Field(max_length=64)
    enabled: bool = True
    created_at: datetime = _created()


class Retro(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    title: str = Field(default="", max_length=200)
    status: str = Field(default="open", max_length=8)
    anonymous: bool = False
    facilitator_id: int = Field(foreign_key="member.id")
    # While open: reflect (notes private), vote (revealed: group and vote), discuss.
    phase: str = Field(
        default="reflect", max_length=8, sa_column_kwargs={"server_default": "reflect"}
    )
    # Which kinds of note people write (commands/retro.py TEMPLATES).
    template: str = Field(default="ww", max_length=8, sa_column_kwargs={"server_default": "ww"})
    created_at: datetime = _created()
    closed_at: datetime | None = _when()


class RetroNote(SQLModel, table=True):
    __tablename__ = "retro_note"
    __table_args__ = (UniqueConstraint("retro_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    retro_id: int = Field(foreign_key="retro.id")
    number: int
    kind: str = Field(max_length=8)
    text: str = Field(max_length=2000)
    author_id: int | None = Field(default=None, foreign_key="member.id")
    owner_id: int | None = Field(default=None, foreign_key="member.id")
    task_id: int | None = Field(default=None, foreign_key="task.id")
    # An action's due date, given to its task at close.
    due: date | None = None
    # A note grouped under another: the number of the group's first note; that note
    # carries the group's title.
    grouped_into: int | None = None
    group_title: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class RetroVote(SQLModel, table=True):
    __tablename__ = "retro_vote"
    __table_args__ = (UniqueConstraint("note_id", "voter_id"),)

    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(foreign_key="retro_note.id", index=True)
    voter_id: int = Field(foreign_key="member.id")
    created_at: datetime = _created()


class KpiTarget(SQLModel, table=True):
    __tablename__ = "kpi_target"
    __table_args__ = (UniqueConstraint("project_id", "metric"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    metric: str = Field(max_length=32)
    op: str = Field(max_length=2)
    threshold: float
    created_at: datetime = _created()


class ScheduleRun(SQLModel, table=True):
    """A claim on one occurrence of one schedule: inserted before posting."""

    __tablename__ = "schedule_run"
    __table_args__ = (
        UniqueConstraint("schedule_key", "occurrence"),
        Index("ix_schedule_run_occurrence", "occurrence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule_key: str = Field(max_length=128)
    occurrence: datetime = Field(sa_type=UTCDateTime, nullable=False)
    claimed_by: str = Field(default="", max_length=128)
    claimed_at: datetime = _created()
    status: str = Field(default="claimed", max_length=16)
    late: bool = False
    finished_at: datetime | None = _when()


class ProcessedEvent(SQLModel, table=True):
    """Platform event ids already handled, so a redelivery does nothing."""

    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    event_id: str = Field(max_length=128)
    received_at: datetime = _created()


class HealthProbe(SQLModel, table=True):
    """Inserted and deleted again in one transaction by /healthz's write probe: always empty."""

    __tablename__ = "health_probe"

    token: str = Field(primary_key=True, max_length=32)
