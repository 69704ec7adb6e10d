"""The standup's queries: its configuration, reports, leave and team.

What counts as the team, as missing or as a work day is decided in commands/standup.py;
these functions only read and lock rows. None of them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.enums import TaskStatus
from storage.models import (
    ChannelBinding,
    Member,
    Project,
    RaciAssignment,
    StandupAway,
    StandupConfig,
    StandupDm,
    StandupReport,
    StandupRoster,
    StandupRosterMember,
    StandupSnooze,
    Task,
    Workspace,
)

CHUNK = 500  # ids per IN (...)


def config_of_binding(
    session: Session, *, binding_id: int, lock: bool = False
) -> StandupConfig | None:
    """The channel's standup, on or off; `lock` holds its row until the transaction ends
    (and reads it afresh)."""
    query = select(StandupConfig).where(StandupConfig.binding_id == binding_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def first_config_of_project(session: Session, *, project_id: int) -> StandupConfig | None:
    """The project's oldest standup, on or off."""
    return session.exec(
        select(StandupConfig)
        .join(ChannelBinding, col(ChannelBinding.id) == StandupConfig.binding_id)
        .where(ChannelBinding.project_id == project_id)
        .order_by(col(StandupConfig.id))
    ).first()


def enabled_configs_of_project(session: Session, *, project_id: int) -> list[StandupConfig]:
    return list(
        session.exec(
            select(StandupConfig)
            .join(ChannelBinding, col(ChannelBinding.id) == col(StandupConfig.binding_id))
            .where(ChannelBinding.project_id == project_id, col(StandupConfig.enabled))
        ).all()
    )


def enabled_times(
    session: Session,
) -> list[tuple[int, time, time, str, str, str, datetime, int, str]]:
    """(id, at, cutoff, timezone, days, calendar, updated_at, binding id, mode) of every
    enabled standup: what decides its times, without loading whole rows (the clock plans
    every standup each round)."""
    rows = session.execute(
        sa_select(
            col(StandupConfig.id),
            col(StandupConfig.at),
            col(StandupConfig.cutoff),
            col(StandupConfig.timezone),
            col(StandupConfig.days),
            col(StandupConfig.calendar),
            col(StandupConfig.updated_at),
            col(StandupConfig.binding_id),
            col(StandupConfig.mode),
        ).where(col(StandupConfig.enabled))
    ).all()
    return [
        (config_id or 0, at, cutoff, zone, days, calendar, updated_at, binding, mode)
        for config_id, at, cutoff, zone, days, calendar, updated_at, binding, mode in rows
    ]


def places(
    session: Session, *, config_ids: Sequence[int]
) -> list[tuple[StandupConfig, ChannelBinding, Project, str]]:
    """Each standup among `config_ids` (on or off) with its channel, project and platform."""
    out: list[tuple[StandupConfig, ChannelBinding, Project, str]] = []
    for start in range(0, len(config_ids), CHUNK):
        rows = session.exec(
            select(StandupConfig, ChannelBinding, Project, Workspace.platform)
            .join(ChannelBinding, col(ChannelBinding.id) == StandupConfig.binding_id)
            .join(Project, col(Project.id) == ChannelBinding.project_id)
            .join(Workspace, col(Workspace.id) == ChannelBinding.workspace_id)
            .where(col(StandupConfig.id).in_(config_ids[start : start + CHUNK]))
        ).all()
        out += [
            (config, binding, project, str(platform)) for config, binding, project, platform in rows
        ]
    return out


# -- reports ---------------------------------------------------------------------------


def report_of(
    session: Session, *, config_id: int, member_id: int, day: date
) -> StandupReport | None:
    return session.exec(
        select(StandupReport).where(
            StandupReport.config_id == config_id,
            StandupReport.member_id == member_id,
            StandupReport.day == day,
        )
    ).first()


def reports_of_day(session: Session, *, config_id: int, day: date) -> list[StandupReport]:
    """The day's reports, in the order they were first given."""
    return list(
        session.exec(
            select(StandupReport)
            .where(StandupReport.config_id == config_id, StandupReport.day == day)
            .order_by(col(StandupReport.created_at))
        ).all()
    )


def answered_on(session: Session, *, config_id: int, day: date) -> set[int]:
    return set(
        session.exec(
            select(StandupReport.member_id).where(
                StandupReport.config_id == config_id, StandupReport.day == day
            )
        ).all()
    )


def report_in_project(session: Session, *, report_id: int, project_id: int) -> StandupReport | None:
    """The report, when it was given to a standup of the project."""
    return session.exec(
        select(StandupReport)
        .join(StandupConfig, col(StandupConfig.id) == StandupReport.config_id)
        .join(ChannelBinding, col(ChannelBinding.id) == StandupConfig.binding_id)
        .where(StandupReport.id == report_id, ChannelBinding.project_id == project_id)
    ).first()


# -- the team ------------------------------------------------------------------------------


def team(
    session: Session,
    *,
    config_id: int,
    workspace_id: int,
    project_id: int,
    answered_from: date,
    answered_to: date,
    owner_roles: Sequence[str],
) -> list[int]:
    """Members of the workspace who answered the standup on a day in answered_from ..
    answered_to, or hold one of `owner_roles` on an open task of the project; by name."""
    recent = select(StandupReport.member_id).where(
        StandupReport.config_id == config_id,
        col(StandupReport.day) >= answered_from,
        col(StandupReport.day) <= answered_to,
    )
    owners = (
        select(RaciAssignment.member_id)
        .join(Task, col(Task.id) == RaciAssignment.task_id)
        .where(
            Task.project_id == project_id,
            col(Task.deleted_at).is_(None),
            Task.status != TaskStatus.DONE.value,
            col(RaciAssignment.role).in_(list(owner_roles)),
        )
    )
    ids = session.exec(
        select(Member.id)
        .where(
            Member.workspace_id == workspace_id,
            col(Member.id).in_(recent.union(owners).scalar_subquery()),
        )
        .order_by(col(Member.display_name), col(Member.id))
    ).all()
    return [m for m in ids if m is not None]


def by_name(session: Session, *, member_ids: Sequence[int]) -> list[int]:
    """These members, ordered by name (then id)."""
    out: list[tuple[str, int]] = []
    ids = list(dict.fromkeys(member_ids))
    for start in range(0, len(ids), CHUNK):
        rows = session.exec(
            select(Member.display_name, Member.id).where(
                col(Member.id).in_(ids[start : start + CHUNK])
            )
        ).all()
        out += [(name, member_id) for name, member_id in rows if member_id is not None]
    return [member_id for _, member_id in sorted(out)]


# -- the roster ----------------------------------------------------------------------------


def roster_of(
    session: Session, *, config_id: int
) -> tuple[StandupRoster | None, list[StandupRosterMember]]:
    """The platform's list of a standup (None: never fetched) and every person of its
    roster, listed or chosen by command."""
    fetched = session.get(StandupRoster, config_id)
    rows = session.exec(
        select(StandupRosterMember).where(StandupRosterMember.config_id == config_id)
    ).all()
    return fetched, list(rows)


def store_listed(
    session: Session, *, config_id: int, platform: str, member_ids: Sequence[int], at: datetime
) -> None:
    """The platform's list, fetched at `at`, replaces the one before; what the team chose
    by command stays. The standup's row is held first: two replicas refreshing it at once,
    or a refresh and `/standup members add|remove`, queue instead of inserting one row twice."""
    lock_config(session, config_id=config_id)
    fetched = session.get(StandupRoster, config_id)
    if fetched is None:
        fetched = StandupRoster(config_id=config_id, platform=platform, refreshed_at=at)
    fetched.platform, fetched.refreshed_at = platform, at
    session.add(fetched)
    listed = set(member_ids)
    rows = {r.member_id: r for r in roster_of(session, config_id=config_id)[1]}
    for member_id in listed | set(rows):
        row = rows.get(member_id)
        if row is None:
            row = StandupRosterMember(config_id=config_id, member_id=member_id, updated_at=at)
        elif row.listed == (member_id in listed):
            continue
        row.listed = member_id in listed
        row.updated_at = at
        session.add(row)
    session.flush()


def lock_config(session: Session, *, config_id: int) -> None:
    """Hold a standup's row until the transaction ends (its roster's writers queue on it)."""
    session.exec(
        select(StandupConfig.id).where(col(StandupConfig.id) == config_id).with_for_update()
    ).one()


def choose(session: Session, *, config_id: int, member_id: int, choice: str, at: datetime) -> None:
    """Record `/standup members add|remove` for one member ("added" or "removed"); the
    caller holds the standup's row (`lock_config`)."""
    row = session.get(StandupRosterMember, (config_id, member_id))
    if row is None:
        row = StandupRosterMember(config_id=config_id, member_id=member_id)
    row.choice = choice
    row.updated_at = at
    session.add(row)
    session.flush()


def stale_rosters(
    session: Session, *, platforms: Sequence[str], before: datetime
) -> list[tuple[int, str, str, int]]:
    """(config id, platform, channel id, workspace id) of each enabled standup on one of
    `platforms` whose platform list was never fetched or was fetched before `before`;
    the never fetched first."""
    rows = session.execute(
        sa_select(
            col(StandupConfig.id),
            col(Workspace.platform),
            col(ChannelBinding.channel_id),
            col(Workspace.id),
            col(StandupRoster.refreshed_at),
        )
        .join(ChannelBinding, col(ChannelBinding.id) == col(StandupConfig.binding_id))
        .join(Workspace, col(Workspace.id) == col(ChannelBinding.workspace_id))
        .outerjoin(StandupRoster, col(StandupRoster.config_id) == col(StandupConfig.id))
        .where(
            col(StandupConfig.enabled),
            col(Workspace.platform).in_(list(platforms)),
            col(StandupRoster.refreshed_at).is_(None) | (col(StandupRoster.refreshed_at) < before),
        )
        .order_by(col(StandupRoster.refreshed_at).is_not(None), col(StandupConfig.id))
    ).all()
    return [(c or 0, str(p), str(ch), w or 0) for c, p, ch, w, _ in rows]


def away_on(session: Session, *, project_id: int, day: date) -> set[int]:
    """Who of the project is away on the day."""
    return set(
        session.exec(
            select(StandupAway.member_id).where(
                StandupAway.project_id == project_id,
                col(StandupAway.start) <= day,
                col(StandupAway.end) >= day,
            )
        ).all()
    )


def leave_ahead(
    session: Session, *, project_id: int, member_id: int, today: date, covering: date | None = None
) -> list[StandupAway]:
    """A member's leave in the project that has not ended before `today` (only the leave
    covering the day `covering`, when given), by start."""
    query = select(StandupAway).where(
        StandupAway.project_id == project_id,
        StandupAway.member_id == member_id,
        col(StandupAway.end) >= today,
    )
    if covering is not None:
        query = query.where(col(StandupAway.start) <= covering, col(StandupAway.end) >= covering)
    return list(session.exec(query.order_by(col(StandupAway.start))).all())


def task_owners(
    session: Session, *, project_id: int, numbers: Sequence[int], role: str
) -> list[int]:
    """The members holding `role` on the project's tasks of these numbers."""
    return list(
        session.exec(
            select(RaciAssignment.member_id)
            .join(Task, col(Task.id) == RaciAssignment.task_id)
            .where(
                Task.project_id == project_id,
                col(Task.number).in_(list(numbers)),
                RaciAssignment.role == role,
            )
        ).all()
    )


# -- DM mode: the questions being asked one to one ---------------------------------------


def dm_of(session: Session, *, config_id: int, member_id: int, day: date) -> StandupDm | None:
    return session.exec(
        select(StandupDm).where(
            StandupDm.config_id == config_id,
            StandupDm.member_id == member_id,
            StandupDm.day == day,
        )
    ).first()


def dm_pending(session: Session, *, member_id: int, now: datetime) -> StandupDm | None:
    """The member's unfinished DM standup whose cutoff is ahead, of an enabled standup (a
    DM-mode one asks; a channel-mode one's reminder opens it too); the one asked last when
    there are several. Locked: two answers sent at once queue instead of both answering
    the same question."""
    return session.exec(
        select(StandupDm)
        .join(StandupConfig, col(StandupConfig.id) == StandupDm.config_id)
        .where(
            StandupDm.member_id == member_id,
            col(StandupDm.finished_at).is_(None),
            col(StandupDm.until) > now,
            col(StandupConfig.enabled),
        )
        .order_by(col(StandupDm.updated_at).desc(), col(StandupDm.id).desc())
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def dm_snoozed(session: Session, *, start: datetime, end: datetime) -> list[StandupDm]:
    """Unfinished DM standups snoozed until a moment in start..end."""
    return list(
        session.exec(
            select(StandupDm).where(
                col(StandupDm.finished_at).is_(None),
                col(StandupDm.snoozed_until) > start,
                col(StandupDm.snoozed_until) <= end,
            )
        ).all()
    )


def zones_of(session: Session, *, member_ids: Sequence[int]) -> dict[int, str | None]:
    """Each member's time zone, as their platform profile says (None: unknown)."""
    out: dict[int, str | None] = {}
    for start in range(0, len(member_ids), CHUNK):
        rows = session.exec(
            select(Member.id, Member.timezone).where(
                col(Member.id).in_(list(member_ids[start : start + CHUNK]))
            )
        ).all()
        out.update({m: zone for m, zone in rows if m is not None})
    return out


def workspace_zones(session: Session, *, binding_id: int) -> set[str]:
    """The distinct time zones of the members of a channel's workspace."""
    rows = session.exec(
        select(Member.timezone)
        .join(ChannelBinding, col(ChannelBinding.workspace_id) == Member.workspace_id)
        .where(ChannelBinding.id == binding_id, col(Member.timezone).is_not(None))
        .distinct()
    ).all()
    return {zone for zone in rows if zone}


# -- "later" -------------------------------------------------------------------------------


def snoozes_of(session: Session, *, config_id: int, member_id: int, day: date) -> int:
    """How many times the member said "later" to the standup on the day."""
    return len(
        session.exec(
            select(StandupSnooze.id).where(
                StandupSnooze.config_id == config_id,
                StandupSnooze.member_id == member_id,
                StandupSnooze.day == day,
            )
        ).all()
    )


def snooze_pending(
    session: Session, *, config_id: int, member_id: int, day: date, now: datetime
) -> StandupSnooze | None:
    """The member's "later" of the day that is still to come, if any."""
    return session.exec(
        select(StandupSnooze)
        .where(
            StandupSnooze.config_id == config_id,
            StandupSnooze.member_id == member_id,
            StandupSnooze.day == day,
            col(StandupSnooze.due) > now,
        )
        .order_by(col(StandupSnooze.due).desc())
    ).first()


def snoozes_due(
    session: Session, *, start: datetime, end: datetime
) -> list[tuple[StandupSnooze, int]]:
    """The snoozes of enabled standups due in (start, end], with their standup's binding."""
    rows = session.exec(
        select(StandupSnooze, StandupConfig.binding_id)
        .join(StandupConfig, col(StandupConfig.id) == StandupSnooze.config_id)
        .where(
            col(StandupConfig.enabled),
            col(StandupSnooze.due) > start,
            col(StandupSnooze.due) <= end,
        )
        .order_by(col(StandupSnooze.due))
    ).all()
    return [(snooze, binding) for snooze, binding in rows]
