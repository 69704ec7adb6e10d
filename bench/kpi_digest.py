"""KPI digest on 100,000 and 1,000,000 tasks, against one plain aggregate, in one run.

Builds (once, then cached) one project per size with N tasks spread over two
years (created, started, first response, done, due; bugs, risks, blocked and
deleted tasks; monthly milestones), a year of standup reports and retros with
action notes, on SQLite (a file under --cache-dir) and PostgreSQL (a database
`bench_kpi_<N>`). The schema comes from `storage.migrate.upgrade`, so the
indexes are production's; rows are bulk-loaded with SQLAlchemy core `insert()`.

Then, per backend and size, it times what the scheduled digest does minus the
chart: `kpi.has_activity`, `kpi.compute` for the last 7 days and
`kpi.burndown` over 14 days, each in its own transaction as the job opens one;
and the baseline, ONE plain aggregate over all the project's rows (count,
done count, average lead time). Warm: the median of --repeat runs; cold: the
first run on a new connection, with SQLite's file dropped from the OS page
cache first (posix_fadvise DONTNEED; PostgreSQL's shared buffers stay warm).
`digest_reply` itself is timed without and with the chart. Then each SQL
statement of the digest is timed alone, and the slowest shown with its plan.
Last, the proposed fixes (ANALYZE, partial indexes, the burndown's full pass
split in two index-range counts) are timed, each in a transaction that is
rolled back, so the cached databases stay as built (--no-what-if skips them).

    python bench/kpi_digest.py [--sizes 100000 1000000] [--repeat 7] [--backends sqlite postgresql]
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import sqlite3
import statistics
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commands.chart import burndown_png
from commands.digest import digest_reply
from commands.i18n import Catalog
from storage import kpi
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    ChannelBinding,
    KpiTarget,
    Member,
    Milestone,
    Project,
    Retro,
    RetroNote,
    StandupConfig,
    StandupReport,
    Task,
    Workspace,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
SPAN = timedelta(days=730)
ZONE = "Asia/Shanghai"
MEMBERS = 12
DATA_VERSION = 1  # bump when the generated data changes: cached databases are rebuilt
PROJECT = f"kpi-bench-v{DATA_VERSION}"
CHUNK = 20_000
TARGET_S = 0.3
SQLITE_KPI_FILE = "kpi-{n}.db"


# -- the data ------------------------------------------------------------------------------


def _exp(rng: random.Random, mean: timedelta) -> timedelta:
    return timedelta(seconds=rng.expovariate(1 / mean.total_seconds()))


def task_rows(
    n: int, *, project_id: int, members: list[int], milestones: list[tuple[int, datetime]]
) -> Iterator[list[dict[str, Any]]]:
    """N tasks in creation order (ids follow), denser lately (the team grew), in chunks.

    Started after ~1 day, done ~4 days later; 4 % are abandoned (never done: the
    stale backlog); 10 % of the unfinished are blocked and 20 % in review;
    85 % have a first response after ~3 h; 60 % a due date 2-30 days out;
    2 % are deleted; half belong to the milestone of their month.
    """
    rng = random.Random(n)
    start = NOW - SPAN
    spots = sorted(rng.random() ** 0.5 for _ in range(n))  # density grows linearly with time
    tz = ZoneInfo(ZONE)
    months = [m[1] for m in milestones]
    rows: list[dict[str, Any]] = []
    for i, spot in enumerate(spots):
        created = start + SPAN * spot
        draw = rng.random()
        kind = "bug" if draw < 0.25 else "risk" if draw < 0.30 else "task"
        first = created + _exp(rng, timedelta(hours=3)) if rng.random() < 0.85 else None
        started = created + _exp(rng, timedelta(days=1))
        done = started + _exp(rng, timedelta(days=4)) if rng.random() >= 0.04 else None
        blocked = None
        if done is not None and done <= NOW:
            status = "done"
        elif started > NOW:
            status, started, done = "todo", None, None
        else:
            done = None
            draw = rng.random()
            if draw < 0.10:
                status = "blocked"
                blocked = started + (NOW - started) * rng.random()
            else:
                status = "review" if draw < 0.30 else "doing"
        first = first if first is not None and first <= NOW else None
        due = (created + timedelta(days=rng.uniform(2, 30))).astimezone(tz).date()
        deleted = None
        if rng.random() < 0.02:
            deleted = min(created + timedelta(days=30 * rng.random()), NOW)
        milestone = None
        if rng.random() < 0.5:
            milestone = milestones[max(0, bisect.bisect_right(months, created) - 1)][0]
        times = [t for t in (created, started, first, blocked, done, deleted) if t is not None]
        rows.append({
            "project_id": project_id, "number": i + 1, "title": f"Task {i + 1}", "kind": kind,
            "status": status, "priority": rng.choice(("high", "med", "med", "low")),
            "due": due if rng.random() < 0.6 else None, "milestone_id": milestone,
            "creator_id": rng.choice(members),
            "blocked_reason": "waiting for review" if blocked else None,
            "created_at": created, "updated_at": max(times), "started_at": started,
            "first_response_at": first, "blocked_at": blocked, "done_at": done,
            "deleted_at": deleted,
        })  # fmt: skip
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def load(db: Database, n: int) -> None:
    """The whole project, bulk-loaded in one transaction."""
    rng = random.Random(-n)
    start = NOW - SPAN
    with db.engine.begin() as conn:

        def add(model: Any, rows: list[dict[str, Any]]) -> list[int]:
            conn.execute(insert(model.__table__), rows)
            ids = conn.execute(text(f"SELECT id FROM {model.__tablename__} ORDER BY id")).all()
            return [r[0] for r in ids[-len(rows) :]]

        (ws,) = add(Workspace, [{"platform": "slack", "external_id": "TBENCH", "name": "Bench",
                                 "created_at": start}])  # fmt: skip
        (project,) = add(Project, [{"workspace_id": ws, "name": PROJECT, "timezone": ZONE,
                                    "key_prefix": "T", "next_task_number": n + 1,
                                    "overdue_nudges": False, "created_at": start}])  # fmt: skip
        members = add(Member, [{"workspace_id": ws, "platform_user_id": f"U{m:04d}",
                                "display_name": f"member {m}", "created_at": start}
                               for m in range(MEMBERS)])  # fmt: skip
        (binding,) = add(ChannelBinding, [{"workspace_id": ws, "project_id": project,
                                           "channel_id": "CBENCH", "name": "bench",
                                           "created_at": start}])  # fmt: skip
        (config,) = add(StandupConfig, [{"binding_id": binding, "at": clock_time(9, 30),
                                         "cutoff": clock_time(10, 30), "timezone": ZONE,
                                         "days": "mon-fri", "calendar": "none", "enabled": True,
                                         "created_at": start, "updated_at": start}])  # fmt: skip
        month_starts = []
        day = start.date().replace(day=1)
        while day <= NOW.date():
            month_starts.append(day)
            day = (day + timedelta(days=32)).replace(day=1)
        ms_rows = []
        for k, first_day in enumerate(month_starts):
            opened = max(datetime.combine(first_day, clock_time(), UTC), start)
            due = (first_day + timedelta(days=45)).replace(day=15)
            is_open = due >= NOW.date()
            ms_rows.append({"project_id": project, "name": f"M{k + 1}", "due": due,
                            "status": "open" if is_open else "done", "created_at": opened,
                            "done_at": None if is_open else datetime.combine(due, clock_time(),
                                                                            UTC)})  # fmt: skip
        ms_ids = add(Milestone, ms_rows)
        milestones = list(zip(ms_ids, [r["created_at"] for r in ms_rows], strict=True))
        for chunk in task_rows(n, project_id=project, members=members, milestones=milestones):
            conn.execute(insert(Task.__table__), chunk)
        add(KpiTarget, [{"project_id": project, "metric": m, "op": op, "threshold": v,
                         "created_at": start}
                        for m, op, v in (("bugfix", ">=", 0.95), ("response_avg", "<=", 2.0),
                                         ("ontime", ">=", 0.8))])  # fmt: skip
        # Standups: the last year of work days, 85 % of the members reporting each day.
        reports = []
        day = (NOW - timedelta(days=365)).date()
        while day < NOW.date():
            if day.weekday() < 5:
                at = datetime.combine(day, clock_time(1, 45), UTC)
                reports += [{"config_id": config, "member_id": m, "day": day,
                             "yesterday": "worked", "today": "work", "blockers": "",
                             "created_at": at, "updated_at": at}
                            for m in members if rng.random() < 0.85]  # fmt: skip
            day += timedelta(days=1)
        add(StandupReport, reports)
        # Retros every two weeks over the last year: 8 notes, 3 of them actions made tasks.
        created = conn.execute(
            text("SELECT id, created_at FROM task WHERE project_id = :p ORDER BY id"),
            {"p": project},
        ).all()
        created_at = [_as_datetime(r[1]) for r in created]
        day_ = NOW - timedelta(days=364)
        while day_ < NOW - timedelta(days=1):
            (retro,) = add(Retro, [{"project_id": project, "title": f"Retro {day_:%Y-%m-%d}",
                                    "status": "closed", "anonymous": False,
                                    "facilitator_id": members[0], "created_at": day_,
                                    "closed_at": day_ + timedelta(hours=1)}])  # fmt: skip
            first_after = bisect.bisect_left(created_at, day_ + timedelta(hours=1))
            notes = []
            for k in range(8):
                action = k >= 5
                task_id = created[min(first_after + k, len(created) - 1)][0] if action else None
                notes.append({"retro_id": retro, "number": k + 1,
                              "kind": "action" if action else ("well", "improve", "idea")[k % 3],
                              "text": f"note {k}", "author_id": rng.choice(members),
                              "owner_id": rng.choice(members) if action else None,
                              "task_id": task_id,
                              "created_at": day_ + timedelta(minutes=5 * k)})  # fmt: skip
            add(RetroNote, notes)
            day_ += timedelta(days=14)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


# -- databases -----------------------------------------------------------------------------


@dataclass
class Target:
    backend: str
    n: int
    url: str
    files: list[Path]  # SQLite files, to drop from the page cache for the cold run


def sqlite_target(cache: Path, n: int) -> Target:
    path = cache / SQLITE_KPI_FILE.format(n=n)
    files = [path, path.with_name(path.name + "-wal")]
    return Target("sqlite", n, f"sqlite:///{path}", files)


def pg_target(server: str, n: int) -> Target:
    return Target("postgresql", n, f"{server.rstrip('/')}/bench_kpi_{n}", [])


def pg_admin(server: str) -> Engine:
    return create_engine(f"{server.rstrip('/')}/test", isolation_level="AUTOCOMMIT")


def project_id(db: Database, n: int) -> int | None:
    """The cached project's id when the database holds this version's data, complete."""
    try:
        with db.engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, next_task_number FROM project WHERE name = :name"),
                {"name": PROJECT},
            ).first()
            if row is None or row[1] != n + 1:
                return None
            count = conn.execute(
                text("SELECT count(*) FROM task WHERE project_id = :p"), {"p": row[0]}
            ).scalar()
            return int(row[0]) if count == n else None
    except Exception:
        return None


def prepare(target: Target, *, server: str, rebuild: bool) -> int:
    """Create (or reuse) the database of one target; its project id."""
    if target.backend == "postgresql":
        admin = pg_admin(server)
        name = f"bench_kpi_{target.n}"
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    db = Database(target.url)
    try:
        upgrade(db)  # also brings a cached database to a newer schema head
        found = None if rebuild else project_id(db, target.n)
        if found is not None:
            return found
    finally:
        db.dispose()
    print(f"building {target.backend} with {target.n:,} tasks ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    if target.backend == "sqlite":
        for f in [*target.files, target.files[0].with_name(target.files[0].name + "-shm")]:
            f.unlink(missing_ok=True)
    else:
        admin = pg_admin(server)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "bench_kpi_{target.n}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "bench_kpi_{target.n}"'))
        admin.dispose()
    db = Database(target.url)
    try:
        upgrade(db)
        load(db, target.n)
        if target.backend == "postgresql":  # what autovacuum does to a table this size
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        found = project_id(db, target.n)
    finally:
        db.dispose()
    if target.backend == "sqlite":  # the WAL into the main file, as a long-running bot has it
        with closing(sqlite3.connect(target.files[0])) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elapsed = time.perf_counter() - began
    print(f"  built in {elapsed:.0f} s ({target.n / elapsed:,.0f} tasks/s)", file=sys.stderr)
    assert found is not None
    return found


def drop_page_cache(files: list[Path]) -> None:
    for path in files:
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# -- what is timed -------------------------------------------------------------------------

PERIOD = kpi.Period(start=NOW - timedelta(days=7), end=NOW, name="week")
TZ = ZoneInfo(ZONE)
TODAY = NOW.astimezone(TZ).date()
BURNDOWN = (TODAY - timedelta(days=13), TODAY)  # the digest's 14 days without a milestone
BASELINE_SQL = {
    "sqlite": "SELECT count(*), sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), "
    "avg((julianday(done_at) - julianday(created_at)) * 24.0) FROM task WHERE project_id = :p",
    "postgresql": "SELECT count(*), sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), "
    "avg(extract(epoch FROM done_at - created_at) / 3600.0) FROM task WHERE project_id = :p",
}
Burndown = Callable[..., list[tuple[date, int, int]]]


@dataclass
class Bench:
    """Each piece in its own transaction, as the digest job opens one."""

    db: Database
    backend: str
    project_id: int
    catalog: Catalog

    def baseline(self) -> None:
        with self.db.transaction() as session:
            session.execute(text(BASELINE_SQL[self.backend]), {"p": self.project_id}).one()

    def has_activity(self) -> None:
        with self.db.transaction() as session:
            kpi.has_activity(session, project_id=self.project_id, period=PERIOD)

    def compute(self) -> None:
        with self.db.transaction() as session:
            kpi.compute(session, project_id=self.project_id, period=PERIOD, now=NOW)

    def burndown(self) -> list[tuple[date, int, int]]:
        with self.db.transaction() as session:
            return kpi.burndown(session, project_id=self.project_id, milestone_id=None,
                                start=BURNDOWN[0], end=BURNDOWN[1], tz=TZ)  # fmt: skip

    def digest_kpis(self) -> None:
        self.has_activity()
        self.compute()
        self.burndown()

    def reply(self, *, chart: bool) -> None:
        with self.db.transaction() as session:
            project = session.get_one(Project, self.project_id)
            digest_reply(
                session, self.catalog, project=project, locale="en", period=PERIOD, now=NOW,
                late=False, chart=chart,
            )  # fmt: skip


def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


@contextmanager
def statement_timer(engine: Engine) -> Iterator[list[tuple[str, str, dict[str, Any], float]]]:
    """Every statement's (caller in storage/kpi.py, SQL, parameters, seconds) in the block;
    "chart: …" marks those run for the digest's chart."""
    seen: list[tuple[str, str, dict[str, Any], float]] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        elapsed = time.perf_counter() - conn.info["bench_t0"].pop()
        where = "?"
        stack = traceback.extract_stack()
        for frame in reversed(stack):
            if frame.filename.endswith(os.path.join("storage", "kpi.py")):
                where = f"kpi.{frame.name}:{frame.lineno}"
                break
        if any(frame.name == "burndown_image" for frame in stack):
            where = f"chart: {where}"
        seen.append((where, statement, params, elapsed))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def statement_medians(
    db: Database, fn: Callable[[], Any], runs: int = 3
) -> list[tuple[float, str, str, Any]]:
    """(median seconds, caller, SQL, parameters) of each SELECT `fn` runs, slowest first."""
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    params: dict[tuple[str, str], Any] = {}
    for _ in range(runs):
        with statement_timer(db.engine) as seen:
            fn()
        for where, statement, values, elapsed in seen:
            if statement.lstrip().upper().startswith("SELECT"):
                per[(where, statement)].append(elapsed)
                params[(where, statement)] = values
    found = [(statistics.median(v), w, st, params[(w, st)]) for (w, st), v in per.items()]
    return sorted(found, key=lambda row: row[0], reverse=True)


def explain(db: Database, backend: str, statement: str, params: Any) -> list[str]:
    with db.engine.connect() as conn:
        if backend == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            return [f"{'  ' * _depth(rows, r)}{r[3]}" for r in rows]
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
        return [r[0] for r in rows]


def _depth(rows: list[Any], row: Any) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


# -- what would fix it: measured in transactions that are rolled back ----------------------

ALIVE_INDEXES = (
    "CREATE INDEX ix_task_project_alive_created ON task (project_id, created_at) "
    "WHERE deleted_at IS NULL",
    "CREATE INDEX ix_task_project_alive_done ON task (project_id, done_at) "
    "WHERE deleted_at IS NULL",
)
OPEN_INDEX = (
    "CREATE INDEX ix_task_project_alive_status ON task "
    "(project_id, status, kind, due, created_at, blocked_at) WHERE deleted_at IS NULL"
)


def proposed_burndown(
    session: Session, *, project_id: int, start: date, end: date, tz: ZoneInfo
) -> list[tuple[date, int, int]]:
    """`kpi.burndown` (no milestone) with its one pass over all the project's rows
    replaced by two counts, each a range of one index: alive tasks created before the
    first day, alive tasks done before it. A prototype of the change, built from kpi's
    own helpers; the run checks that it returns exactly what `kpi.burndown` does."""
    lo = kpi.local_midnight(start, tz)
    alive = (col(Task.project_id) == project_id, col(Task.deleted_at).is_(None))
    created = session.execute(
        select(func.count()).where(*alive, col(Task.created_at) < kpi._at(lo))
    ).scalar_one()
    done = session.execute(
        select(func.count()).where(*alive, col(Task.done_at) < kpi._at(lo))
    ).scalar_one()
    points = _days_only(session, project_id, start, end, tz)
    return [(day, int(created) - int(done) + open_, int(created) + total)
            for day, open_, total in points]  # fmt: skip


def _days_only(
    session: Session, project_id: int, start: date, end: date, tz: ZoneInfo
) -> list[tuple[date, int, int]]:
    """(day, created - done since start, created since start): kpi.burndown's per-day part."""
    dialect = session.get_bind().dialect.name
    lo, hi = kpi.local_midnight(start, tz), kpi.local_midnight(end + timedelta(days=1), tz)
    alive = (col(Task.project_id) == project_id, col(Task.deleted_at).is_(None))
    per_day: list[dict[date, int]] = []
    for column in (col(Task.created_at), col(Task.done_at)):
        day = kpi._local_day(dialect, column, tz=tz, lo=lo, hi=hi).label("day")
        rows = session.execute(
            select(day, func.count())
            .where(*alive, column >= kpi._at(lo), column < kpi._at(hi))
            .group_by(day)
        ).all()
        per_day.append({kpi._as_date(d): int(n) for d, n in rows})
    out, total, done, day_ = [], 0, 0, start
    while day_ <= end:
        total += per_day[0].get(day_, 0)
        done += per_day[1].get(day_, 0)
        out.append((day_, total - done, total))
        day_ += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Scenario:
    name: str
    ddl: tuple[str, ...] = ()  # run first, in the transaction that is rolled back
    split: bool = False  # burndown's full pass replaced by two index-range counts


SCENARIOS = (
    Scenario("as is"),
    Scenario("ANALYZE", ("ANALYZE",)),
    Scenario("2 partial indexes", ALIVE_INDEXES),
    Scenario("2 partial indexes + split", ALIVE_INDEXES, split=True),
    Scenario("3 partial indexes + split", (*ALIVE_INDEXES, OPEN_INDEX), split=True),
)


def what_if(bench: Bench, *, repeat: int) -> dict[str, dict[str, Any]]:
    """The digest KPIs, and the digest with its chart, in each scenario: one transaction
    per scenario, rolled back at its end (SQLite and PostgreSQL both roll back DDL and
    ANALYZE's statistics), so the cached database is left as it was. teambot never
    runs ANALYZE on SQLite, so its planner has no statistics; the PostgreSQL database
    was analyzed when it was built, as autovacuum does."""
    out: dict[str, dict[str, Any]] = {}
    expected = bench.burndown()
    for scenario in SCENARIOS:
        if scenario.ddl == ("ANALYZE",) and bench.backend != "sqlite":
            continue
        with Session(bench.db.engine) as session:
            project = session.get_one(Project, bench.project_id)
            burndown: Burndown = proposed_burndown if scenario.split else current_burndown

            def digest(
                session: Session = session, burndown: Burndown = burndown
            ) -> list[tuple[date, int, int]]:
                kpi.has_activity(session, project_id=bench.project_id, period=PERIOD)
                kpi.compute(session, project_id=bench.project_id, period=PERIOD, now=NOW)
                return burndown(session, project_id=bench.project_id, start=BURNDOWN[0],
                                end=BURNDOWN[1], tz=TZ)  # fmt: skip

            def reply(session: Session = session, project: Project = project) -> None:
                digest_reply(session, bench.catalog, project=project, locale="en",
                             period=PERIOD, now=NOW, late=False, chart=True)  # fmt: skip

            try:
                began = time.perf_counter()
                for ddl in scenario.ddl:
                    session.execute(text(ddl))
                if scenario.ddl and scenario.ddl != ("ANALYZE",):
                    session.execute(text("ANALYZE task"))  # as a maintained database has
                built = time.perf_counter() - began
                assert digest() == expected, f"{scenario.name}: the burndown differs"
                reply()
                out[scenario.name] = {
                    "digest": statistics.median(timed(digest) for _ in range(repeat)),
                    "chart": statistics.median(timed(reply) for _ in range(3)),
                    "ddl": built,
                    "statements": statement_medians(bench.db, digest) if scenario.split else [],
                }
            finally:
                session.rollback()
    return out


def current_burndown(session: Session, **kw: Any) -> list[tuple[date, int, int]]:
    return kpi.burndown(session, milestone_id=None, **kw)


# -- the run -------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def measure(
    target: Target, pid: int, *, repeat: int, explain_top: int, try_fix: bool
) -> dict[str, Any]:
    catalog = Catalog()
    out: dict[str, Any] = {"target": target}
    # Cold: a new engine per measurement, the SQLite file out of the page cache.
    cold: dict[str, float] = {}
    for name in ("digest_kpis", "baseline"):
        drop_page_cache(target.files)
        db = Database(target.url)
        try:
            cold[name] = timed(getattr(Bench(db, target.backend, pid, catalog), name))
        finally:
            db.dispose()
    out["cold"] = cold
    db = Database(target.url)
    try:
        bench = Bench(db, target.backend, pid, catalog)
        bench.digest_kpis()
        bench.baseline()  # warm both
        warm: dict[str, list[float]] = defaultdict(list)
        for _ in range(repeat):  # interleaved, so that noise hits all alike
            for name in ("baseline", "has_activity", "compute", "burndown"):
                warm[name].append(timed(getattr(bench, name)))
        out["warm"] = {k: statistics.median(v) for k, v in warm.items()}
        parts = zip(warm["has_activity"], warm["compute"], warm["burndown"], strict=True)
        out["warm"]["digest_kpis"] = statistics.median(sum(p) for p in parts)
        replies: dict[bool, list[float]] = defaultdict(list)
        for _ in range(3):
            for chart in (False, True):
                replies[chart].append(timed(lambda chart=chart: bench.reply(chart=chart)))
        out["reply"] = {c: statistics.median(v) for c, v in replies.items()}
        points = bench.burndown()
        out["png"] = statistics.median(timed(lambda: burndown_png(points)) for _ in range(3))
        out["statements"] = statement_medians(db, bench.digest_kpis)
        chart = statement_medians(db, lambda: bench.reply(chart=True))
        out["chart_sql"] = [row for row in chart if row[1].startswith("chart:")]
        slowest = out["statements"][:explain_top] + out["chart_sql"][:1]
        out["plans"] = [(where, secs, sql, explain(db, target.backend, sql, values))
                        for secs, where, sql, values in slowest]  # fmt: skip
        out["what_if"] = what_if(bench, repeat=repeat) if try_fix else None
    finally:
        db.dispose()
    return out


def report(results: list[dict[str, Any]], *, show_sql: bool) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} CPUs, load average {load}; now = {NOW:%Y-%m-%d %H:%M} UTC, "
          f"project time zone {ZONE}")  # fmt: skip
    print("\n### Digest KPIs (has_activity + compute + 14-day burndown) vs one plain aggregate\n")
    print("| backend | tasks | digest KPIs, warm | cold | baseline, warm | cold "
          "| digest / baseline | target < 0.3 s at 1M on SQLite |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        t, w, c = r["target"], r["warm"], r["cold"]
        met = "met" if w["digest_kpis"] < TARGET_S else "NOT met"
        met = met if t.backend == "sqlite" and t.n >= 1_000_000 else f"({met})"
        print(f"| {t.backend} | {t.n:,} | {ms(w['digest_kpis'])} | {ms(c['digest_kpis'])} "
              f"| {ms(w['baseline'])} | {ms(c['baseline'])} "
              f"| {w['digest_kpis'] / w['baseline']:.2f}x | {met} |")  # fmt: skip
    print("\n### The parts, warm medians\n")
    print("| backend | tasks | has_activity | compute | burndown (14 d) | digest_reply, no chart "
          "| digest_reply + chart | chart cost | of which SQL | PNG (14 d) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        t, w, rep = r["target"], r["warm"], r["reply"]
        chart_sql = sum(row[0] for row in r["chart_sql"])
        print(f"| {t.backend} | {t.n:,} | {ms(w['has_activity'])} | {ms(w['compute'])} "
              f"| {ms(w['burndown'])} | {ms(rep[False])} | {ms(rep[True])} "
              f"| {ms(rep[True] - rep[False])} | {ms(chart_sql)} | {ms(r['png'])} |")  # fmt: skip
    if any(r["what_if"] for r in results):
        names = [sc.name for sc in SCENARIOS]
        print("\n### What would fix it: digest KPIs, warm (digest with chart), each scenario "
              "in a transaction rolled back after\n")  # fmt: skip
        print("| backend | tasks | " + " | ".join(names) + " | building the 3 indexes |")
        print("| --- | --- |" + " --- |" * (len(names) + 1))
        for r in results:
            t, wi = r["target"], r["what_if"]
            if wi:
                cells = [f"{ms(wi[n]['digest'])} ({ms(wi[n]['chart'])})" if n in wi else "—"
                         for n in names]  # fmt: skip
                built = ms(wi[names[-1]]["ddl"])
                print(f"| {t.backend} | {t.n:,} | " + " | ".join(cells) + f" | {built} |")
        print("\nthe indexes:")
        for ddl in (*ALIVE_INDEXES, OPEN_INDEX):
            print(f"    {ddl}")
        last = names[-1]
        for r in results:
            t, wi = r["target"], r["what_if"]
            if wi and last in wi:
                top = ", ".join(
                    f"{w.split(':')[0] if w != '?' else 'split burndown'} {ms(secs)}"
                    for secs, w, _, _ in wi[last]["statements"][:4]
                )
                print(f"\n{t.backend} {t.n:,}, {last}: slowest statements: {top}")  # fmt: skip
    for r in results:
        t = r["target"]
        print(f"\n### Slowest statements of the digest, {t.backend}, {t.n:,} tasks\n")
        print("| caller (storage/kpi.py) | median | SQL (start) |")
        print("| --- | --- | --- |")
        for secs, where, stmt, _ in r["statements"][:6] + r["chart_sql"][:2]:
            flat = " ".join(stmt.split())
            print(f"| {where} | {ms(secs)} | `{flat[:90]}…` |")
        for where, secs, stmt, plan in r["plans"]:
            print(f"\nplan of {where} ({ms(secs)}):")
            if show_sql:
                print("    " + " ".join(stmt.split()))
            for line in plan:
                print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])  # fmt: skip
    parser.add_argument("--repeat", type=int, default=7, help="warm runs (median)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/teambot-bench"))
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database ($BENCH_PG_SERVER)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached databases")
    parser.add_argument("--explain", type=int, default=2, help="plans of the N slowest statements")
    parser.add_argument("--sql", action="store_true", help="print the SQL of the explained ones")
    parser.add_argument("--no-what-if", action="store_true",
                        help="skip timing the proposed fix (built, then rolled back)")  # fmt: skip
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for backend in args.backends:
        for n in args.sizes:
            if backend == "sqlite":
                target = sqlite_target(args.cache_dir, n)
            else:
                target = pg_target(args.pg_server, n)
            pid = prepare(target, server=args.pg_server, rebuild=args.rebuild)
            print(f"measuring {backend} {n:,} ...", file=sys.stderr, flush=True)
            results.append(measure(target, pid, repeat=args.repeat, explain_top=args.explain,
                                   try_fix=not args.no_what_if))  # fmt: skip
    report(results, show_sql=args.sql)


if __name__ == "__main__":
    main()
