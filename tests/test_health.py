"""GET /healthz tells the truth within a second: it answers while SQLite is write-locked
and the command thread is stuck behind the lock, and is unhealthy (503, with the check
that failed) while the database is locked for long, refuses writes, cannot be reached or
does not answer. Extra checks (the clock's) join its body. The probe's table is added by
migration 0007, tested by upgrading a database that holds data at 0006."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.app import build_app
from bot.core import Core
from bot.health import Check, DatabaseProbe, Health, classify
from bot.serve import build_web_app
from bot.settings import Settings
from commands.i18n import Catalog
from commands.router import Defaults, Router
from commands.table import build_registry
from storage.db import Database
from storage.migrate import alembic_config, current_revision, upgrade
from tests.chat import Chat, snapshot
from tests.conftest import BACKENDS, PgServer
from tests.fake_slack import FakeSlack
from tests.slack_support import running, settings_for, sign
from tests.test_serve_process import free_port, slack_env

pytestmark = pytest.mark.anyio

OK = {"status": "ok", "database": "ok"}
ANSWER_WITHIN = 1.0


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "teambot.db"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


@asynccontextmanager
async def served(
    url: str, *, checks: Sequence[Check] = (), migrate: bool = True
) -> AsyncIterator[tuple[httpx.AsyncClient, Core]]:
    """teambot's web app (no platform) on the database at `url`; `migrate=False` builds it
    without touching the database, as for one that cannot be reached."""
    if migrate:
        app = build_app(Settings(database_url=url))
        router, close = app.router, app.close
    else:
        db = Database(url)
        router = Router(db=db, catalog=Catalog(), registry=build_registry(), defaults=Defaults())
        close = db.dispose
    core = Core(router)
    web = build_web_app(core=core, health_checks=checks)
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
                yield client, core
    finally:
        core.close()
        close()


async def healthz(client: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    """One GET /healthz, which must answer within a second."""
    started = time.monotonic()
    response = await asyncio.wait_for(client.get("/healthz"), ANSWER_WITHIN + 0.5)
    assert time.monotonic() - started < ANSWER_WITHIN
    return response.status_code, response.json()


async def until(
    client: httpx.AsyncClient, wanted: tuple[int, dict[str, str]], *, within: float
) -> list[tuple[int, dict[str, str]]]:
    """Poll /healthz every 0.1 s (each answer within a second) until it answers `wanted`;
    every answer seen on the way."""
    seen = []
    deadline = time.monotonic() + within
    while True:
        answer = await healthz(client)
        seen.append(answer)
        if answer == wanted:
            return seen
        assert time.monotonic() < deadline, f"/healthz never answered {wanted}: {seen[-5:]}"
        await asyncio.sleep(0.1)


class WriteLock:
    """Another connection holding SQLite's write lock (BEGIN IMMEDIATE) until released."""

    def __init__(self, url: str) -> None:
        path = make_url(url).database
        assert path is not None
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def __enter__(self) -> WriteLock:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.conn.close()


def slash_form(fake: FakeSlack, text: str, n: int = 1) -> tuple[bytes, dict[str, str]]:
    body = urlencode({
        "token": "x", "team_id": "T111", "team_domain": "acme", "channel_id": "C111",
        "channel_name": "general", "user_id": "W111", "user_name": "mei", "command": "/task",
        "text": text, "response_url": f"{fake.url}/response/{n}", "trigger_id": f"t{n}",
    }).encode()  # fmt: skip
    return body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}


# -- the database, SQLite ------------------------------------------------------------------


async def test_healthz_answers_while_a_command_waits_for_the_write_lock(
    sqlite_url: str, fake: FakeSlack
) -> None:
    """SQLite write-locked by another connection, a slash command stuck behind the lock in
    the one command thread: /healthz still answers within a second (its own connection)."""
    async with running(settings_for(sqlite_url, fake), fake) as slack:
        assert await healthz(slack.client) == (200, OK)
        with WriteLock(sqlite_url):
            body, headers = slash_form(fake, "add Behind the lock")
            command = asyncio.create_task(
                slack.client.post("/slack/events", content=body, headers=headers)
            )
            await asyncio.sleep(1.1)  # the command waits for the lock; /healthz's cache expires
            assert not command.done()
            assert await healthz(slack.client) == (200, OK)  # locked only for a moment so far
        await command
        await slack.slack.background.drain()


async def test_a_lock_held_for_long_is_503_locked_then_ok_again(sqlite_url: str) -> None:
    """A write lock held by another writer past the grace (2 s): 503 {"database": "locked"},
    counted in /metrics; 200 again soon after it is released."""
    async with served(sqlite_url) as (client, core):
        assert await healthz(client) == (200, OK)
        with WriteLock(sqlite_url) as lock:
            seen = await until(client, (503, {"status": "error", "database": "locked"}), within=6)
            assert all(answer == (200, OK) for answer in seen[:-1])  # a moment first
            lock.release()
            await until(client, (200, OK), within=3)
        assert core.metrics.value("teambot_health_check_failures_total", check="database") >= 1


async def test_a_sqlite_file_that_is_gone_is_503_unreachable_and_not_made_again(
    sqlite_url: str,
) -> None:
    """The database file deleted under a running server: 503 {"database": "unreachable"};
    the probe does not create an empty database in its place."""
    path = Path(make_url(sqlite_url).database or "")
    async with served(sqlite_url) as (client, _):
        assert await healthz(client) == (200, OK)
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            name.unlink(missing_ok=True)
        await until(client, (503, {"status": "error", "database": "unreachable"}), within=3)
        assert not path.exists()


def test_failing_disk_writes_are_503_write_failed(tmp_path: Path, fake: FakeSlack) -> None:
    """The real `teambot serve`: once its writes fail on disk (a file-size limit of 0 on the
    process, so every write to a file fails as on a broken disk), /healthz answers 503
    {"database": "write_failed"} within a second, and 200 again once writes work."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=slack_env(tmp_path, fake), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # a pipe: not a file with a size
    )  # fmt: skip
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        with httpx.Client(trust_env=False, base_url=base) as client:
            poll(client, proc, (200, OK), within=30, log=output)
            limit = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (0, limit[1]))
            failing = (503, {"status": "error", "database": "write_failed"})
            poll(client, proc, failing, within=3, log=output)
            body, headers = slash_form(fake, "add On a broken disk")
            assert "Sorry" in client.post("/slack/events", content=body, headers=headers).text
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, limit)
            poll(client, proc, (200, OK), within=3, log=output)
    finally:
        proc.terminate()
        proc.wait(20)
        reader.join(5)
    log = b"".join(output).decode()
    assert "health: database write_failed" in log and "health: database ok again" in log, log


def poll(
    client: httpx.Client,
    proc: subprocess.Popen[bytes],
    wanted: tuple[int, dict[str, str]],
    *,
    within: float,
    log: list[bytes],
) -> None:
    """GET /healthz every 0.1 s until it answers `wanted` (the clock's own entry aside);
    once it answers at all, every answer within a second."""
    deadline = time.monotonic() + within
    answered = False
    while True:
        assert proc.poll() is None, b"".join(log).decode()
        started = time.monotonic()
        try:
            response = client.get("/healthz", timeout=ANSWER_WITHIN + 1)
        except httpx.TransportError:
            assert not answered, "/healthz stopped answering"
        else:
            answered = True
            assert time.monotonic() - started < ANSWER_WITHIN
            body = response.json()
            body.pop("clock", None)
            if (response.status_code, body) == wanted:
                return
        assert time.monotonic() < deadline, f"/healthz never answered {wanted}"
        time.sleep(0.1)


# -- the database, PostgreSQL --------------------------------------------------------------


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs TEAMBOT_TEST_DATABASE_URL")
async def test_a_read_only_postgresql_database_is_503_read_only(pg_server: PgServer) -> None:
    """A database set to default_transaction_read_only: 503 {"database": "read_only"};
    200 again once it takes writes."""
    assert pg_server is not None
    name = pg_server.fresh()
    try:
        async with served(pg_server.url_for(name)) as (client, _):
            assert await healthz(client) == (200, OK)
            with pg_server.admin.connect() as conn:
                conn.execute(
                    text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
                )
            await until(client, (503, {"status": "error", "database": "read_only"}), within=3)
            with pg_server.admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
            await until(client, (200, OK), within=3)
    finally:
        pg_server.drop(name)


def closed_port_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/teambot"


async def test_an_unreachable_postgresql_is_503_unreachable() -> None:
    """PostgreSQL refusing connections (a closed port): 503 {"database": "unreachable"}
    within a second."""
    async with served(closed_port_url(), migrate=False) as (client, _):
        assert await healthz(client) == (503, {"status": "error", "database": "unreachable"})


async def test_a_server_that_never_answers_is_503_timeout_within_a_second() -> None:
    """A PostgreSQL address that accepts connections and never answers: 503
    {"database": "timeout"} within a second, and again for polls while that probe hangs."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/teambot"
        async with served(url, migrate=False) as (client, core):
            timeout = (503, {"status": "error", "database": "timeout"})
            assert await healthz(client) == timeout
            assert await healthz(client) == timeout
            assert core.metrics.value("teambot_health_check_failures_total", check="database") == 2


# -- cheap under frequent polling ------------------------------------------------------------


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_polls_share_one_probe_and_its_result_for_a_second(sqlite_url: str) -> None:
    """Concurrent polls share one probe, and its result answers them for a second: five
    polls at once write to the database (its WAL) once, like one poll; polls within the
    second write nothing."""
    path = make_url(sqlite_url).database
    assert path is not None
    wal = Path(f"{path}-wal")
    keeper = sqlite3.connect(path)  # as the app's pool does: the WAL stays between probes
    keeper.execute("SELECT count(*) FROM alembic_version").fetchall()
    clock = ManualClock()
    health = Health(DatabaseProbe(sqlite_url), clock=clock)
    try:
        assert await health.database() == "ok"
        first = wal.stat().st_size
        assert await asyncio.gather(*(health.database() for _ in range(5))) == ["ok"] * 5
        assert wal.stat().st_size == first  # within the second: the result, no probe
        clock.now += 1.1
        assert await asyncio.gather(*(health.database() for _ in range(5))) == ["ok"] * 5
        one_probe = wal.stat().st_size - first
        assert one_probe > 0
        clock.now += 1.1
        assert await health.database() == "ok"
        assert wal.stat().st_size - first == 2 * one_probe
    finally:
        health.dispose()
        keeper.close()


def accept_waiting(listener: socket.socket, into: list[socket.socket]) -> int:
    """Accept the connections waiting in `listener`'s backlog, keeping them open (and
    silent) in `into`; how many there were."""
    count = 0
    listener.settimeout(0.2)
    with contextlib.suppress(TimeoutError):
        while True:
            into.append(listener.accept()[0])
            count += 1
    return count


async def test_a_probe_hanging_for_long_is_left_behind() -> None:
    """Polls while a probe hangs wait for that probe (no second connection); one still
    hanging after 10 s is left behind and the next poll starts a new one."""
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/teambot"
        clock = ManualClock()
        health = Health(DatabaseProbe(url), clock=clock, deadline=0.1)
        try:
            assert await health.database() == "timeout"
            clock.now += 5
            assert await health.database() == "timeout"
            assert await asyncio.to_thread(accept_waiting, silent, accepted) == 1
            clock.now += 6
            assert await health.database() == "timeout"
            assert await asyncio.to_thread(accept_waiting, silent, accepted) == 1
        finally:
            health.dispose()
            for conn in accepted:
                conn.close()


# -- what errors mean ---------------------------------------------------------------------


def sqlite_error(tmp_path: Path, break_it: Callable[[sqlite3.Connection], None]) -> BaseException:
    """The error SQLAlchemy raises for a real SQLite failure set up by `break_it`."""
    engine = create_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x BLOB)")
            conn.commit()
            break_it(conn.connection.dbapi_connection)  # type: ignore[arg-type]
            with pytest.raises(OperationalError) as caught:
                conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(100000))")
        return caught.value
    finally:
        engine.dispose()


def test_sqlite_errors_say_full_read_only_locked(tmp_path: Path) -> None:
    """Real SQLite failures are named by their result code: a database at its page limit is
    `full`, a read-only one `read_only`, a busy one `locked`; anything else by its step."""

    def at_page_limit(conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    def read_only(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA query_only = on")

    assert classify(sqlite_error(tmp_path, at_page_limit), "write") == "full"
    with pytest.raises(sqlite3.OperationalError) as readonly:
        ro = sqlite3.connect(f"file:{tmp_path / 'scratch.db'}?mode=ro", uri=True)
        try:
            ro.execute("INSERT INTO t VALUES (1)")
        finally:
            ro.close()
    assert classify(readonly.value, "write") == "read_only"
    with WriteLock(f"sqlite:///{tmp_path / 'scratch.db'}"):
        busy = sqlite3.connect(tmp_path / "scratch.db", timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError) as locked:
            busy.execute("BEGIN IMMEDIATE")
        busy.close()
    assert classify(locked.value, "write") == "locked"
    assert classify(sqlite_error(tmp_path, read_only), "write") == "read_only"
    assert classify(ValueError("no code"), "connect") == "unreachable"
    assert classify(ValueError("no code"), "read") == "unreadable"
    assert classify(ValueError("no code"), "write") == "write_failed"


# -- extra checks ----------------------------------------------------------------------------


async def test_extra_checks_join_the_body(sqlite_url: str) -> None:
    """An extra check (name, ok, status) is in the body; a failing one makes it 503 and is
    counted; one that raises is `error` under a name of its place, without its text."""
    state = {"ok": True}

    def clock() -> tuple[str, bool, str]:
        return ("clock", True, "ok") if state["ok"] else ("clock", False, "skewed")

    def broken() -> tuple[str, bool, str]:
        raise RuntimeError("secret detail")

    async with served(sqlite_url, checks=[clock]) as (client, core):
        assert await healthz(client) == (200, {**OK, "clock": "ok"})
        state["ok"] = False
        assert await healthz(client) == (
            503,
            {"status": "error", "database": "ok", "clock": "skewed"},
        )
        assert core.metrics.value("teambot_health_check_failures_total", check="clock") == 1
    async with served(sqlite_url, checks=[clock, broken]) as (client, _):
        status, body = await healthz(client)
        assert (status, body) == (
            503,
            {"status": "error", "database": "ok", "clock": "skewed", "check2": "error"},
        )


# -- the probe's table: migration 0007 -------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def empty_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_server: PgServer | None
) -> Iterator[str]:
    """A new, empty database of one backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    assert pg_server is not None
    name = f"teambot_e_{tmp_path.name[-12:].lower().replace('-', '_')}"
    with pg_server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop(name)


def test_upgrading_a_database_with_data_from_0006_adds_the_probe_table(empty_url: str) -> None:
    """A database holding a project and a task at 0006 is upgraded to 0007: every row is as it
    was, health_probe exists and is empty; downgrading to 0006 drops it again."""
    from alembic import command

    db = Database(empty_url)
    try:
        upgrade(db, "0006")
        assert current_revision(db) == "0006"
        router = Router(db=db, catalog=Catalog(cache=False), registry=build_registry(),
                        defaults=Defaults())  # fmt: skip
        created = Chat(router).say("mei", "task add Kept across the upgrade", channel="ops")
        assert created.title is not None
        assert created.title.plain() == "Created T-1: Kept across the upgrade"
        before = snapshot(db)
        assert upgrade(db, "0007") is True
        assert current_revision(db) == "0007"
        after = snapshot(db)
        assert after.pop("health_probe") == []
        assert after.pop("alembic_version") == [("0007",)]
        assert before.pop("alembic_version") == [("0006",)]
        assert after == before
        assert any(rows for rows in after.values())
        command.downgrade(alembic_config(db), "0006")
        assert current_revision(db) == "0006"
        with db.engine.connect() as conn:
            assert not inspect(conn).has_table("health_probe")
    finally:
        db.dispose()


# -- the clock in /healthz -------------------------------------------------------------------


@asynccontextmanager
async def served_with_clock(url: str, clock_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The web app with a clock whose engine reads `clock_db_url` (the app's own database,
    or one that cannot be reached)."""
    from bot.hub import Hub
    from bot.scheduling import build_clockwork, hub_sender

    app = build_app(Settings(database_url=url))
    core = Core(app.router)
    clock_db = Database(clock_db_url)
    router = Router(db=clock_db, catalog=Catalog(), registry=build_registry(), defaults=Defaults())
    clockwork = build_clockwork(router, hub_sender(Hub()), observer=core.metrics.firing)
    web = build_web_app(core=core, clockwork=clockwork)
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
                yield client
    finally:
        core.close()
        clock_db.dispose()
        app.close()


async def test_the_clock_is_part_of_health(sqlite_url: str) -> None:
    """With the clock running, /healthz says so ("starting" until its first round has
    begun, then "ok"); serving does not wait for that first round."""
    async with served_with_clock(sqlite_url, sqlite_url) as client:
        status, body = await healthz(client)
        assert status == 200 and body.pop("clock") in ("starting", "ok") and body == OK
        seen = await until(client, (200, {**OK, "clock": "ok"}), within=10)
    assert seen[-1] == (200, {**OK, "clock": "ok"})


async def test_a_clock_that_could_not_start_makes_health_fail(sqlite_url: str) -> None:
    """A clock that cannot read its schedules at start is reported: 503, "clock": "stopped",
    while the database itself is fine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{closed}/none?connect_timeout=1"
    async with served_with_clock(sqlite_url, unreachable) as client:
        await until(client, (503, {"status": "error", "database": "ok", "clock": "stopped"}),
                    within=10)  # fmt: skip
