"""`teambot export`: projects as CSV files or JSON documents, written on the server.

CSV: one directory per project (`<id>-<name>/`) holding one file per table
(`project.csv`, `tasks.csv`, `milestones.csv`, `raci.csv`, `standups.csv`,
`retros.csv`, `retro_notes.csv`, `kpi_targets.csv`), for spreadsheets:

- UTF-8 with a byte order mark. Excel opens a double-clicked CSV in the
  system's ANSI code page (GBK on Chinese Windows) unless the file starts with
  a BOM; with it, Excel reads UTF-8, so Chinese (and every other) text shows as
  written. GBK itself cannot hold every name or emoji people type.
- CRLF line ends and quoting as in RFC 4180 (Python's csv module).
- Times in the project's time zone as `YYYY-MM-DD HH:MM:SS` (Excel reads them as
  dates); the zone is in `project.csv`. Lists of people are joined with `; `.
- A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
  leading `'`, so a task titled `=HYPERLINK(…)` stays text in a spreadsheet.

JSON: one file per project (`<id>-<name>.json`), UTF-8, the same tables as
lists of objects (and `project` as one object), times in ISO 8601 UTC.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from storage import export
from storage.db import Database
from storage.export import Cell, ProjectInfo, Table

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def slug(project: ProjectInfo) -> str:
    """`3-发布-v2`: the id keeps names unique, the name keeps them readable."""
    name = re.sub(r"[^\w.-]+", "-", project.name).strip("-.")[:60] or "project"
    return f"{project.id}-{name}"


def csv_cell(value: Cell, *, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date | int):
        return str(value)
    text = "; ".join(value) if isinstance(value, list) else value
    return "'" + text if text.startswith(FORMULA_START) else text


def json_value(value: Cell) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def csv_text(table: Table, *, tz: ZoneInfo) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(value, tz=tz) for value in row])
    return buffer.getvalue()


def json_document(tables: Sequence[Table]) -> dict[str, Any]:
    out: dict[str, Any] = {"format": "teambot-export", "version": 1}
    for table in tables:
        rows = [{k: json_value(v) for k, v in row.items()} for row in table.dicts()]
        out[table.name] = rows[0] if table.name == "project" else rows
    return out


def read(
    database: Database, *, name: str | None = None, project_id: int | None = None
) -> list[tuple[ProjectInfo, list[Table]]]:
    """Every project (or those called `name`, or the one with `project_id`) with its
    tables, read in one transaction
    (on PostgreSQL a repeatable-read snapshot, so the tables agree with each other)."""
    with database.transaction() as session:
        if database.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        found = export.projects(session, name=name, project_id=project_id)
        return [(p, export.tables(session, project=p)) for p in found]


def write_project(
    project: ProjectInfo, tables: Sequence[Table], *, fmt: str, out: Path
) -> list[Path]:
    """Write one project's export under `out`; the files written."""
    if fmt == "json":
        path = out / f"{slug(project)}.json"
        text = json.dumps(json_document(tables), ensure_ascii=False, indent=2)
        path.write_text(text + "\n", encoding="utf-8")
        return [path]
    folder = out / slug(project)
    folder.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo(project.timezone)
    written = []
    for table in tables:
        path = folder / f"{table.name}.csv"
        # newline="" keeps the csv module's CRLF as they are.
        with path.open("w", encoding="utf-8-sig", newline="") as file:
            file.write(csv_text(table, tz=tz))
        written.append(path)
    return written


def run(
    database: Database,
    *,
    fmt: str,
    out: Path,
    stdout: TextIO,
    stderr: TextIO,
    name: str | None = None,
    project_id: int | None = None,
) -> int:
    """`teambot export`: every project, those called `name` or the one with `project_id`;
    prints the files written; 1 when no project matches."""
    found = read(database, name=name, project_id=project_id)
    if not found:
        if name is None and project_id is None:
            print("teambot export: there are no projects yet", file=stderr)
        else:
            with database.transaction() as session:
                known = [f"{p.id} {p.name}" for p in export.projects(session)]
            wanted = f"named {name!r}" if name is not None else f"with id {project_id}"
            print(f"teambot export: no project {wanted}; projects (id name): "
                  f"{', '.join(known) or 'none'}", file=stderr)  # fmt: skip
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for project, tables in found:
        for path in write_project(project, tables, fmt=fmt, out=out):
            print(path, file=stdout)
    return 0
