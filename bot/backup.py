"""`teambot db backup FILE`: an online copy of a SQLite database.

SQLite's backup API copies the database page by page inside one read
transaction, so the copy is consistent even while `teambot serve` writes (in
WAL mode writers go on meanwhile) and it includes what is still in the `-wal`
file. Copying `teambot.db` with `cp` would not: the last commits may be in
`teambot.db-wal` only. PostgreSQL has `pg_dump` for this.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url


def backup_sqlite(database_url: str, target: Path, *, out: TextIO, err: TextIO) -> int:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        print("teambot db backup: only for SQLite; back up PostgreSQL with pg_dump -Fc "
              "(README, Operations)", file=err)  # fmt: skip
        return 2
    source = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source.is_file():
        print(f"teambot db backup: no database file at {source}", file=err)
        return 1
    if target.exists():
        print(f"teambot db backup: {target} exists already; give a new file name", file=err)
        return 1
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            (check,) = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        print(f"teambot db backup: the copy failed its integrity check: {check}", file=err)
        return 1
    print(f"backed up {source} to {target} (integrity check: ok)", file=out)
    return 0
