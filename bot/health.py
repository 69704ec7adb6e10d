"""What `GET /healthz` checks, answered within a deadline whatever the database does.

The database is probed on a connection of its own (never through the command threads,
where a locked SQLite file or a slow PostgreSQL would keep it waiting), in a thread of its
own, at most once per `FRESH_FOR` however often /healthz is polled; concurrent polls share
the probe that is running. A probe reads (`alembic_version`) and then writes: it inserts
and deletes one row of `health_probe` in one committed transaction, so a read-only or full
database, a failing disk or a write lock held elsewhere is found the way a command would
find it. The answer waits for a probe at most `DEADLINE`; past it, the database is
reported as `timeout` and the probe goes on, its result answering the next polls.

Extra checks (the clock's, for one) are callables returning `(name, ok, status)`; they
are called on the event loop for every answer, so they must only read state they keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import Engine, create_engine, make_url
from sqlalchemy.pool import NullPool

from bot.metrics import Metrics

log = logging.getLogger(__name__)

DEADLINE = 0.9  # how long an answer waits for the database probe (/healthz: within 1 s)
FRESH_FOR = 1.0  # a probe's result answers the polls for this long
LOCK_GRACE = 2.0  # writes kept waiting by another writer's lock this long are failing
LOCK_WAIT = 0.25  # how long the probe waits for SQLite's write lock
STATEMENT_TIMEOUT_MS = 800  # PostgreSQL: the probe's statements, and lock waits (below)
LOCK_TIMEOUT_MS = 250
CONNECT_TIMEOUT = 2  # PostgreSQL, seconds (libpq's minimum)
ABANDON_AFTER = 10.0  # a probe still running after this is left behind and a new one starts

# What the body says of the database.
OK = "ok"
UNREACHABLE = "unreachable"  # no connection
UNREADABLE = "unreadable"  # connected, but a read failed
LOCKED = "locked"  # writes kept waiting by a lock held elsewhere for over LOCK_GRACE
READ_ONLY = "read_only"  # writes refused: a read-only file, database or server
FULL = "full"  # the disk (or the database) is full
WRITE_FAILED = "write_failed"  # any other failed write, e.g. an I/O error
TIMEOUT = "timeout"  # no answer within DEADLINE

Check = Callable[[], tuple[str, bool, str]]
RESERVED = ("status", "database")

# SQLite's primary result codes (the low byte of an extended code).
_SQLITE = {5: LOCKED, 6: LOCKED, 8: READ_ONLY, 13: FULL, 14: UNREACHABLE, 26: UNREADABLE}
# PostgreSQL SQLSTATEs.
_SQLSTATE = {
    "25006": READ_ONLY,  # read_only_sql_transaction: default_transaction_read_only, a standby
    "53100": FULL,  # disk_full
    "55P03": LOCKED,  # lock_not_available (lock_timeout)
    "57014": TIMEOUT,  # query_canceled (statement_timeout)
    "53300": UNREACHABLE,  # too_many_connections
    "57P01": UNREACHABLE,  # admin_shutdown
    "57P02": UNREACHABLE,  # crash_shutdown
    "57P03": UNREACHABLE,  # cannot_connect_now
}
_BY_STEP = {"connect": UNREACHABLE, "read": UNREADABLE, "write": WRITE_FAILED}


def classify(err: BaseException, step: str) -> str:
    """What a probe's exception says of the database, from the driver's error code, or else
    from the step that failed (connect, read or write)."""
    orig = getattr(err, "orig", None) or err
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE:
        return _SQLITE[code & 0xFF]
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        if state in _SQLSTATE:
            return _SQLSTATE[state]
        if state.startswith("08"):  # connection_exception
            return UNREACHABLE
    return _BY_STEP[step]


class DatabaseProbe:
    """One read and one write on a fresh connection (no pool: every probe also finds out
    whether a connection can be made), with short time-outs."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.engine = _probe_engine(url, sqlite=self.sqlite)

    def run(self) -> str:
        step = "connect"
        try:
            with self.engine.connect() as conn:
                if not self.sqlite:
                    conn.exec_driver_sql(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
                    conn.exec_driver_sql(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
                step = "read"
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
                step = "write"
                if self.sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                token = {"token": uuid.uuid4().hex}
                conn.execute(text("INSERT INTO health_probe (token) VALUES (:token)"), token)
                conn.execute(text("DELETE FROM health_probe WHERE token = :token"), token)
                if self.sqlite:
                    conn.exec_driver_sql("COMMIT")
                else:
                    conn.commit()
        except Exception as err:
            status = classify(err, step)
            log.debug("health probe: %s at %s: %s", status, step, type(err).__name__)
            return status
        return OK

    def dispose(self) -> None:
        self.engine.dispose()


def _probe_engine(url: str, *, sqlite: bool) -> Engine:
    if not sqlite:
        return create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
        )
    path = make_url(url).database or ""
    # mode=rw: a database file that has gone is `unreachable`, not created again empty.
    # isolation_level=None: the driver opens no transaction of its own; the read takes
    # none (in WAL mode it never waits for a writer), the write takes the lock with
    # BEGIN IMMEDIATE.
    target = f"file:{quote(os.path.abspath(path))}?mode=rw"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            target, uri=True, timeout=LOCK_WAIT, isolation_level=None, check_same_thread=False
        )

    return create_engine("sqlite://", poolclass=NullPool, creator=connect)


class Health:
    """The answer of /healthz: `(ok, body)` with `body = {"status", "database", <extras>}`."""

    def __init__(
        self,
        probe: DatabaseProbe,
        *,
        checks: Sequence[Check] = (),
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float = DEADLINE,
        fresh_for: float = FRESH_FOR,
        lock_grace: float = LOCK_GRACE,
    ) -> None:
        self.probe = probe
        self.checks = list(checks)
        self.metrics = metrics
        self.clock = clock
        self.deadline = deadline
        self.fresh_for = fresh_for
        self.lock_grace = lock_grace
        self._result: tuple[float, str] | None = None  # (when it came, database status)
        self._result_started = float("-inf")  # when the probe that found it started
        self._running: tuple[float, asyncio.Future[str]] | None = None
        self._locked_since: float | None = None
        self._names: list[str | None] = [None] * len(self.checks)

    async def report(self) -> tuple[bool, dict[str, str]]:
        database = await self.database()
        body = {"status": "ok", "database": database}
        ok = database == OK
        for name, passed, status in self._extras():
            body[name] = status
            ok = ok and passed
            if not passed:
                self._failed(name)
        if database != OK:
            self._failed("database")
        if not ok:
            body["status"] = "error"
        return ok, body

    async def database(self) -> str:
        now = self.clock()
        if self._result is not None and now - self._result[0] < self.fresh_for:
            return self._result[1]
        probe = self._probe(now)
        try:
            return await asyncio.wait_for(asyncio.shield(probe), self.deadline)
        except TimeoutError:
            return TIMEOUT

    def _probe(self, now: float) -> asyncio.Future[str]:
        """The probe running now (one at a time, shared by every poll), else a new one."""
        if self._running is not None:
            started, running = self._running
            if not running.done() and now - started < ABANDON_AFTER:
                return running
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        def work() -> None:
            status = self.probe.run()
            # RuntimeError: the loop closed meanwhile, and nobody is asking any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._finished, future, now, status)

        threading.Thread(target=work, name="teambot-health", daemon=True).start()
        self._running = (now, future)
        return future

    def _finished(self, future: asyncio.Future[str], started: float, found: str) -> None:
        if started < self._result_started:  # left behind, and a later probe has answered
            if not future.done():
                future.set_result(found)
            return
        status = self._judge(found, started)
        previous = self._result[1] if self._result is not None else OK
        self._result = (self.clock(), status)
        self._result_started = started
        if self._running is not None and self._running[1] is future:
            self._running = None
        if status != previous:
            if status == OK:
                log.warning("health: database ok again")
            else:
                log.warning("health: database %s", status)
        if not future.done():
            future.set_result(status)

    def _judge(self, found: str, started: float) -> str:
        """A write lock held elsewhere fails the check only once it has kept the probes out
        for LOCK_GRACE: a long command's transaction holds it for a moment."""
        if found != LOCKED:
            self._locked_since = None
            return found
        if self._locked_since is None:
            self._locked_since = started
        return LOCKED if self.clock() - self._locked_since >= self.lock_grace else OK

    def _extras(self) -> list[tuple[str, bool, str]]:
        results = []
        for index, check in enumerate(self.checks):
            fallback = self._names[index] or f"check{index + 1}"
            try:
                name, passed, status = check()
            except Exception:
                log.exception("health check %s raised", fallback)
                results.append((fallback, False, "error"))
                continue
            if not isinstance(name, str) or not name or name in RESERVED:
                log.error("health check %s returned the name %r", fallback, name)
                results.append((fallback, False, "error"))
                continue
            self._names[index] = name
            results.append((name, bool(passed), str(status)[:80]))
        return results

    def _failed(self, check: str) -> None:
        if self.metrics is not None:
            self.metrics.health_failed(check)

    def dispose(self) -> None:
        self.probe.dispose()
