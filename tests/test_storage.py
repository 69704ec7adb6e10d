"""The storage layer on every backend: schema, migrations, constraints, types and repo."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, SQLModel, select

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage import repo
from storage.db import Database
from storage.migrate import HEAD, alembic_config, current_revision, upgrade
from storage.models import (
    ChannelBinding,
    LinkCode,
    ProcessedEvent,
    Project,
    RaciAssignment,
    Task,
)
from tests.conftest import PgServer

# -- helpers -----------------------------------------------------------------------------


def _project(session: Session, channel: str = "C1", name: str = "general") -> Project:
    workspace = repo.ensure_workspace(session, platform="console", external_id="W1", name="acme")
    _, project, _ = repo.bind_channel(
        session, workspace=workspace, channel_id=channel, name=name, timezone="UTC", locale=None
    )
    return project


def _members(session: Session, *names: str) -> list[int]:
    workspace = repo.ensure_workspace(session, platform="console", external_id="W1", name="acme")
    ids = []
    for name in names:
        member = repo.ensure_member(
            session, workspace=workspace, platform_user_id=name.lower(), display_name=name
        )
        assert member.id is not None
        ids.append(member.id)
    return ids


def _task(session: Session, project: Project, creator_id: int, title: str = "Write SRS") -> Task:
    assert project.id is not None
    number = repo.allocate_task_number(session, project_id=project.id)
    task = Task(project_id=project.id, number=number, title=title, creator_id=creator_id)
    session.add(task)
    session.flush()
    return task


# -- schema and migrations -----------------------------------------------------------------


def test_migrated_schema_matches_models(db: Database) -> None:
    """Alembic autogenerate finds no difference between the migrated schema and the models."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_head_is_alembic_head_and_upgrade_is_a_no_op(db: Database) -> None:
    """HEAD is Alembic's only head; upgrade() on a current database returns False."""
    script = ScriptDirectory.from_config(alembic_config(db))
    assert script.get_heads() == [HEAD]
    assert current_revision(db) == HEAD
    assert upgrade(db) is False
    assert current_revision(db) == HEAD


def test_upgrade_creates_every_table_in_a_new_sqlite_file(tmp_path: Path) -> None:
    """upgrade() on a brand-new SQLite file runs the migrations and creates every model table."""
    path = tmp_path / "new.db"
    db = Database(f"sqlite:///{path}")
    try:
        assert current_revision(db) is None
        assert upgrade(db) is True
        assert current_revision(db) == HEAD
        with db.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    finally:
        db.dispose()
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}


# -- constraints ---------------------------------------------------------------------------


def test_database_refuses_a_second_accountable(db: Database) -> None:
    """The partial unique index allows many R on a task but refuses a second A."""
    with db.transaction() as session:
        project = _project(session)
        ana, li, wang = _members(session, "Ana", "Li", "Wang")
        task = _task(session, project, ana)
        assert task.id is not None
        task_id = task.id
        for member_id in (ana, li, wang):
            session.add(RaciAssignment(task_id=task_id, member_id=member_id, role="R"))
        session.add(RaciAssignment(task_id=task_id, member_id=ana, role="A"))
        session.flush()

    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(RaciAssignment(task_id=task_id, member_id=li, role="A"))
        session.flush()

    with db.transaction() as session:
        other = _task(session, project, ana, title="Review SRS")
        assert other.id is not None
        other_id = other.id
    # Two A rows in one flush are refused as well, and neither is kept.
    with pytest.raises(IntegrityError), db.transaction() as session:
        repo.add_to_role(session, task_id=other_id, role="A", member_ids=[li, wang])

    with db.transaction() as session:
        roles = repo.raci_of(session, task_ids=[task_id, other_id])
    assert roles == {
        task_id: {"R": [ana, li, wang], "A": [ana], "C": [], "I": []},
        other_id: {"R": [], "A": [], "C": [], "I": []},
    }


# -- column types --------------------------------------------------------------------------


def test_utc_datetime_round_trips_an_aware_value_as_utc(db: Database) -> None:
    """An aware datetime in another zone comes back as the same instant, in UTC."""
    shanghai = datetime(2026, 11, 23, 17, 30, 15, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    with db.transaction() as session:
        session.add(ProcessedEvent(platform="slack", event_id="Ev1", received_at=shanghai))

    with db.transaction() as session:
        stored = session.exec(
            select(ProcessedEvent.received_at).where(ProcessedEvent.event_id == "Ev1")
        ).one()
    assert stored == datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    assert stored == shanghai
    assert stored.tzinfo is UTC
    assert stored.utcoffset() == timedelta(0)


def test_utc_datetime_refuses_a_naive_value(db: Database) -> None:
    """A naive datetime given to a UTC column is an error on insert, and nothing is stored."""
    naive = datetime(2026, 11, 23, 9, 0)
    with pytest.raises(StatementError) as caught, db.transaction() as session:
        session.add(ProcessedEvent(platform="slack", event_id="Ev1", received_at=naive))
        session.flush()
    assert isinstance(caught.value.orig, ValueError)
    assert str(caught.value.orig) == "naive datetime given to a UTC column"

    with db.transaction() as session:
        count = session.exec(select(func.count()).select_from(ProcessedEvent)).one()
    assert count == 0


# -- SQLite connection settings --------------------------------------------------------------


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    """Every SQLite connection of a Database has foreign keys on and the WAL journal."""
    db = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with db.engine.connect() as conn:
            foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
            journal_mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        db.dispose()
    assert foreign_keys == 1
    assert journal_mode == "wal"
    assert busy_timeout == 5000


def test_sqlite_refuses_a_dangling_foreign_key(tmp_path: Path) -> None:
    """With foreign keys on, SQLite refuses a project of a workspace that does not exist."""
    db = Database(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        upgrade(db)
        with pytest.raises(IntegrityError), db.transaction() as session:
            session.add(Project(workspace_id=999, name="orphan"))
            session.flush()
    finally:
        db.dispose()


# -- repo ----------------------------------------------------------------------------------


def test_allocate_task_number_counts_up(db: Database) -> None:
    """allocate_task_number hands out 1, 2, 3 in order, across transactions, per project."""
    with db.transaction() as session:
        project_id = _project(session, channel="C1", name="one").id
        other_id = _project(session, channel="C2", name="two").id
        assert project_id is not None and other_id is not None
        numbers = [repo.allocate_task_number(session, project_id=project_id) for _ in range(2)]
    with db.transaction() as session:
        numbers.append(repo.allocate_task_number(session, project_id=project_id))
        other = repo.allocate_task_number(session, project_id=other_id)
    assert numbers == [1, 2, 3]
    assert other == 1

    with db.transaction() as session:
        assert session.get_one(Project, project_id).next_task_number == 4
        assert session.get_one(Project, other_id).next_task_number == 2


def test_claim_event_only_once(db: Database) -> None:
    """claim_event is True for a new (platform, event id), False for a repeat; work goes on."""
    with db.transaction() as session:
        first = repo.claim_event(session, platform="slack", event_id="Ev1")
        again = repo.claim_event(session, platform="slack", event_id="Ev1")
        other_platform = repo.claim_event(session, platform="feishu", event_id="Ev1")
        other_event = repo.claim_event(session, platform="slack", event_id="Ev2")
        # The transaction is still usable after the refused insert.
        project = _project(session)
        assert project.id is not None
    assert (first, again, other_platform, other_event) == (True, False, True, True)

    with db.transaction() as session:
        later = repo.claim_event(session, platform="slack", event_id="Ev1")
        rows = session.exec(
            select(ProcessedEvent.platform, ProcessedEvent.event_id).order_by(
                ProcessedEvent.platform, ProcessedEvent.event_id
            )
        ).all()
        projects = session.exec(select(func.count()).select_from(Project)).one()
    assert later is False
    assert [tuple(r) for r in rows] == [("feishu", "Ev1"), ("slack", "Ev1"), ("slack", "Ev2")]
    assert projects == 1


def test_link_code_is_unique_and_used_only_once(db: Database) -> None:
    """A taken code is refused without spoiling the transaction; a code is marked used once."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with db.transaction() as session:
        (ana,) = _members(session, "Ana")
        codes = [
            repo.add_link_code(
                session,
                code="ABCDEFGH",
                kind="person",
                project_id=None,
                member_id=ana,
                created_at=now,
                expires_at=now + timedelta(minutes=15),
            )
            for _ in range(2)
        ]
        first, taken = codes
        assert first is not None and first.id is not None
        assert taken is None
        code_id = first.id
    with db.transaction() as session:
        assert repo.use_link_code(session, code_id=code_id, at=now) is True
        assert repo.use_link_code(session, code_id=code_id, at=now + timedelta(minutes=1)) is False
    with db.transaction() as session:
        # A second request, after the first committed, loses too.
        assert repo.use_link_code(session, code_id=code_id, at=now) is False
        assert session.get_one(LinkCode, code_id).used_at == now


def test_bind_channel_twice_returns_the_same_project(db: Database) -> None:
    """A second bind_channel for the same channel returns its project with created=False."""
    with db.transaction() as session:
        workspace = repo.ensure_workspace(session, platform="slack", external_id="T1", name="acme")
        binding, project, created = repo.bind_channel(
            session,
            workspace=workspace,
            channel_id="C1",
            name="general",
            timezone="UTC",
            locale="zh",
        )
        assert (project.name, project.timezone, project.locale, created) == (
            "general",
            "UTC",
            "zh",
            True,
        )
        ids = (binding.id, project.id)

    with db.transaction() as session:
        workspace = repo.ensure_workspace(session, platform="slack", external_id="T1", name="acme")
        binding, project, created = repo.bind_channel(
            session,
            workspace=workspace,
            channel_id="C1",
            name="renamed",
            timezone="Asia/Shanghai",
            locale=None,
        )
        assert (binding.id, project.id) == ids
        assert (project.name, project.timezone, project.locale, created) == (
            "general",
            "UTC",
            "zh",
            False,
        )
        counts = (
            session.exec(select(func.count()).select_from(Project)).one(),
            session.exec(select(func.count()).select_from(ChannelBinding)).one(),
        )
    assert counts == (1, 1)


def test_bind_channel_names_a_clashing_project_distinctly(db: Database) -> None:
    """A second channel with a taken name gets a project named after the name and channel id."""
    with db.transaction() as session:
        workspace = repo.ensure_workspace(session, platform="slack", external_id="T1", name="acme")
        _, first, _ = repo.bind_channel(
            session,
            workspace=workspace,
            channel_id="C1",
            name="general",
            timezone="UTC",
            locale=None,
        )
        _, second, created = repo.bind_channel(
            session,
            workspace=workspace,
            channel_id="C2",
            name="general",
            timezone="UTC",
            locale=None,
        )
        _, unnamed, _ = repo.bind_channel(
            session, workspace=workspace, channel_id="C3", name="", timezone="UTC", locale=None
        )
    assert created is True
    assert first.id != second.id
    assert (first.name, second.name, unnamed.name) == ("general", "general (C2)", "C3")


def test_replicas_upgrading_a_new_postgresql_database_together_do_not_collide(
    pg_server: PgServer | None,
) -> None:
    """Three replicas starting at once on an empty PostgreSQL database: one migrates (an
    advisory lock), the others wait and find the schema current; nobody fails."""
    if pg_server is None:
        pytest.skip("needs PostgreSQL")
    name = f"teambot_empty_{uuid.uuid4().hex[:8]}"
    pg_server._create(name)
    url = pg_server.url_for(name)
    errors: list[BaseException] = []

    def start() -> None:
        db = Database(url)
        try:
            upgrade(db)
        except BaseException as err:  # recorded for the assertion below
            errors.append(err)
        finally:
            db.dispose()

    try:
        threads = [threading.Thread(target=start) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        db = Database(url)
        assert current_revision(db) == HEAD
        db.dispose()
    finally:
        pg_server.drop(name)
