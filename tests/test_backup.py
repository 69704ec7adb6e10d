"""`teambot db backup`: an online copy of a SQLite database, and restoring from it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from commands.i18n import Catalog
from commands.router import Router
from commands.table import build_registry
from storage.db import Database
from tests.chat import Chat
from tests.cli_support import Ran
from tests.cli_support import teambot as run_teambot
from tests.conftest import Clock


def teambot(db_url: str, cwd: Path, *args: str) -> Ran:
    return run_teambot(*args, cwd=cwd, env={"TEAMBOT_DATABASE_URL": db_url})


def titles(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [title for (title,) in conn.execute("SELECT title FROM task ORDER BY number")]


def test_backup_of_a_database_in_use_and_restore(
    tmp_path: Path, sqlite_template: Path, catalog: Catalog, clock: Clock
) -> None:
    """While teambot holds the database open (WAL), `db backup` copies every commit; a second
    backup to the same file is refused; the copy, put in place, is what teambot then serves."""
    live = tmp_path / "teambot.db"
    shutil.copyfile(sqlite_template, live)
    db = Database(f"sqlite:///{live}")
    try:
        chat = Chat(Router(db=db, catalog=catalog, registry=build_registry(), clock=clock))
        chat.say("mei", "task add 备份之前")
        done = teambot("sqlite:///teambot.db", tmp_path, "db", "backup", "copy.db")
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == "backed up teambot.db to copy.db (integrity check: ok)\n"
        again = teambot("sqlite:///teambot.db", tmp_path, "db", "backup", "copy.db")
        assert (again.returncode, again.stderr) == (
            1, "teambot db backup: copy.db exists already; give a new file name\n"
        )  # fmt: skip
        chat.say("mei", "task add 备份之后")
    finally:
        db.dispose()
    assert titles(tmp_path / "copy.db") == ["备份之前"]

    # Restore, as the README says: teambot stopped, the copy in place of the database.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(tmp_path / "copy.db", restored / "teambot.db")
    listed = teambot("sqlite:///teambot.db", restored, "console", "--user", "mei", "-c",
                     "/task list all")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[:2] == ["All tasks (1)", "  • T-1 备份之前 · to do"]


def test_backup_is_for_sqlite_only(tmp_path: Path) -> None:
    """A PostgreSQL URL is refused (before connecting) with a pointer to pg_dump."""
    done = teambot("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path, "db", "backup",
                   "x.db")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "teambot db backup: only for SQLite; back up PostgreSQL with pg_dump -Fc "
        "(README, Operations)\n"
    )
    assert not (tmp_path / "x.db").exists()


def test_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    """No database file: exit 1, and no empty backup is made."""
    done = teambot("sqlite:///absent.db", tmp_path, "db", "backup", "x.db")
    assert (done.returncode, done.stderr) == (
        1, "teambot db backup: no database file at absent.db\n"
    )  # fmt: skip
    assert not (tmp_path / "x.db").exists()
