"""Shared fixtures: a fresh, migrated database per test, on every backend.

Database-backed tests run once on SQLite and, when TEAMBOT_TEST_DATABASE_URL
points at a PostgreSQL server, once more there. Each test gets its own
database: a copy of a migrated SQLite file, or a PostgreSQL database created
from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from commands.i18n import Catalog
from commands.router import Defaults, Router
from commands.table import build_registry
from storage.db import Database
from storage.migrate import upgrade
from tests.chat import Chat

PG_URL = os.environ.get("TEAMBOT_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


class Clock:
    """A clock the test moves by hand. Starts on Monday 2026-11-23 09:00 UTC."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (pytest.mark.anyio) run on asyncio, the loop teambot serves on."""
    return "asyncio"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


class PgServer:
    """Creates and drops per-test databases on the PostgreSQL test server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.template = f"teambot_tpl_{uuid.uuid4().hex[:10]}"
        self._create(self.template)
        db = Database(self.url_for(self.template))
        upgrade(db)
        db.dispose()

    def url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> None:
        with self.admin.connect() as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def fresh(self) -> str:
        name = f"teambot_t_{uuid.uuid4().hex[:12]}"
        self._create(name, self.template)
        return name

    def close(self) -> None:
        self.drop(self.template)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    if not PG_URL:
        yield None
        return
    server = PgServer(PG_URL)
    yield server
    server.close()


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    pg_server: PgServer | None,
) -> Iterator[str]:
    """The URL of a fresh, migrated database of one backend."""
    if request.param == "sqlite":
        path = tmp_path / "teambot.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert pg_server is not None
    name = pg_server.fresh()
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop(name)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog(cache=False)


@pytest.fixture
def router(db: Database, catalog: Catalog, clock: Clock) -> Router:
    return Router(
        db=db, catalog=catalog, registry=build_registry(), defaults=Defaults(), clock=clock
    )


@pytest.fixture
def chat(router: Router) -> Chat:
    return Chat(router)


@pytest.fixture
def make_router(db: Database, catalog: Catalog, clock: Clock) -> Callable[..., Router]:
    def make(**defaults: str) -> Router:
        return Router(
            db=db,
            catalog=catalog,
            registry=build_registry(),
            defaults=Defaults(**defaults),
            clock=clock,
        )

    return make
