"""A round's planning and the clock's wake times read the standups once, however many
standup kinds plan from them; and what the kinds plan is the same with or without sharing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time

from sqlalchemy import event, insert
from sqlmodel import Session, col, select

from commands.schedule import one_reading
from commands.schedule_kinds import KINDS
from schedules.clockwork import job_specs
from schedules.engine import LOOKBACK, plan
from storage.db import Database
from storage.models import ChannelBinding, Project, StandupConfig, Workspace

NOW = datetime(2026, 11, 30, 10, 45, tzinfo=UTC)  # a Monday, after each standup's cutoff
CREATED = datetime(2026, 11, 1, tzinfo=UTC)


def seed(db: Database, *, channels: int) -> None:
    with db.transaction() as session:
        workspace = Workspace(platform="slack", external_id="T111", name="Acme", created_at=CREATED)
        session.add(workspace)
        session.flush()
        project = Project(workspace_id=workspace.id or 0, name="big", created_at=CREATED)
        session.add(project)
        session.flush()
        session.execute(
            insert(ChannelBinding),
            [{"workspace_id": workspace.id, "project_id": project.id, "channel_id": f"C{n:03d}",
              "name": f"team-{n}", "created_at": CREATED} for n in range(channels)],
        )  # fmt: skip
        ids = session.exec(select(ChannelBinding.id).order_by(col(ChannelBinding.id))).all()
        session.execute(
            insert(StandupConfig),
            [{"binding_id": binding_id, "at": time(9, 0 + n), "cutoff": time(10, 30),
              "timezone": ("UTC", "Asia/Shanghai", "America/New_York")[n % 3],
              "days": "mon-fri", "calendar": "none", "enabled": True, "created_at": CREATED,
              "updated_at": CREATED} for n, binding_id in enumerate(ids)],
        )  # fmt: skip


@contextmanager
def standup_reads(db: Database) -> Iterator[list[str]]:
    """The SELECTs from standup_config run inside the block."""
    seen: list[str] = []

    def hook(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM standup_config" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", hook)


def test_a_round_plans_from_one_read_of_the_standups(db: Database) -> None:
    """plan() runs one query on standup_config for its four standup kinds."""
    seed(db, channels=6)
    with db.transaction() as session, standup_reads(db) as seen:
        due = plan(session, start=NOW - LOOKBACK, end=NOW)
    assert {o.kind for o in due} == {"standup_prompt", "standup_reminder", "standup_summary"}
    assert len(seen) == 1


def test_wake_times_come_from_one_read_of_the_standups(db: Database) -> None:
    """job_specs() runs one query on standup_config for its four standup kinds."""
    seed(db, channels=6)
    with db.transaction() as session, standup_reads(db) as seen:
        specs = job_specs(session, KINDS)
    assert len([job for job in specs if job.startswith("standup:")]) == 6 * 3
    assert len(seen) == 1


def _each_kind_alone(session: Session) -> list[tuple[str, str, datetime]]:
    out = []
    for kind in KINDS:  # no reading: each kind reads for itself, as a caller outside one does
        out += kind.occurrences(session, start=NOW - LOOKBACK, end=NOW, scope=None)
    return sorted((o.key, o.kind, o.at) for o in out if NOW - LOOKBACK < o.at <= NOW)


def test_sharing_changes_nothing_that_is_planned(db: Database) -> None:
    """The occurrences planned within one reading are those each kind plans alone."""
    seed(db, channels=6)
    with db.transaction() as session:
        alone = _each_kind_alone(session)
        with one_reading(session):
            shared = sorted((o.key, o.kind, o.at) for o in plan(session, start=NOW - LOOKBACK,
                                                                 end=NOW))  # fmt: skip
        assert shared == alone
        assert len(alone) == 4 * 3  # New York's mornings are still to come
