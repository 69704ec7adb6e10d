"""Schema migrations (Alembic), run from code.

`HEAD` names the newest revision so that start-up can see that a database is
current without importing Alembic (which costs a few hundred milliseconds);
a test keeps it equal to Alembic's own head.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from storage.db import Database

HEAD = "0012"
UPGRADE_LOCK = 0x7E4B0751  # a PostgreSQL advisory lock id: one upgrading replica at a time
MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def alembic_config(db: Database):  # type: ignore[no-untyped-def]  # returns alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> bool:
    """Bring the schema to `revision`; returns whether anything ran."""
    if revision == "head" and current_revision(db) == HEAD:
        return False
    from alembic import command

    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas starting together on a new database: the first upgrades, the
            # others wait here (the lock ends with this transaction), then find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": UPGRADE_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return True
