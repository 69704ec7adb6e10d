"""HTTP end to end: `teambot serve` against a bare slack-bolt app, over loopback HTTP.

Starts `teambot serve` as a real subprocess (Slack HTTP mode; its Web API calls go
to a fake Slack served from this process; a fresh SQLite file, then a fresh
PostgreSQL database) and, next to it, a bare slack-bolt async app
(`process_before_response=True`) that only acks `/task`, served the same way:
uvicorn, one process, teambot's own uvicorn options (`bot.serve.uvicorn_options`).
An asyncio client keeps N correctly signed slash commands in flight and times each
until its ack (the HTTP response). In every cell (command x concurrency) the bare
app and teambot answer the same requests back to back, each after a warm-up.

Requests come from 20 channels and 50 users; about one in 200 is from a user never
seen before (a users.info call and a new member on the ack path). `/task add` goes
to channels of its own; `/task list` to channels whose projects hold 200 open and
50 done tasks (60 % with a due date, some overdue; 70 % with an R).

    python bench/http_e2e.py [--requests 2000] [--concurrency 1,16,64]
                             [--databases sqlite,postgresql] [--pg-url URL]

Prints a markdown table: throughput of each app and their ratio, teambot's p50
and p99 latency, server CPU time per request (from /proc) and error replies.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEAM = "T111"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # tests.slack_support.SECRET
TARGETS = {"add": 0.25, "list": 0.5}  # teambot / bare throughput at concurrency 16
P99_TARGET_MS = 50.0
STARTUP = 60.0


# -- the bare app: this file, run with --serve-bare PORT API_URL [FLOOR DATABASE_URL] ---------

# The floors (--floors): the bare app doing, before its ack, the fixed part of every teambot
# command and nothing else: a hop to a worker thread (SQLite: one, PostgreSQL: eight, as
# `bot.core.Core`), then one empty transaction (teambot's `Database.transaction()`), then
# the one query that finds the workspace, channel, project and member.
FLOORS = {1: "bare + thread hop", 2: "… + empty transaction", 3: "… + context query"}


def serve_bare(port: int, api_url: str, floor: int = 0, database_url: str = "") -> None:
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from bot.serve import uvicorn_options

    client = AsyncWebClient(token="xoxb-bench", base_url=api_url)
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)
    work = fixed_work(floor, database_url) if floor else None

    @app.command("/task")
    async def ack_only(ack: Any, body: dict[str, Any]) -> None:
        if work is not None:
            await work(body)
        await ack()

    handler = AsyncSlackRequestHandler(app)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/slack/events", handler.handle, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, **uvicorn_options())


def fixed_work(floor: int, database_url: str) -> Callable[[dict[str, Any]], Any]:
    from concurrent.futures import ThreadPoolExecutor

    from storage import repo
    from storage.db import Database

    db = Database(database_url)
    pool = ThreadPoolExecutor(max_workers=1 if database_url.startswith("sqlite") else 8)

    def command(body: dict[str, Any]) -> None:
        if floor < 2:
            return
        with db.transaction() as session:
            session.connection()  # BEGIN (IMMEDIATE on SQLite) … COMMIT
            if floor >= 3:
                where = {"channel_id": body["channel_id"], "user_id": body["user_id"]}
                repo.find_context(session, platform="slack", external_id=body["team_id"], **where)

    async def work(body: dict[str, Any]) -> None:
        await asyncio.get_running_loop().run_in_executor(pool, command, body)

    return work


# -- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without teambot's or the platforms' settings, plus `extra`."""
    prefixes = ("TEAMBOT_", "SLACK_", "FEISHU_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


def launch(name: str, cmd: list[str], env: dict[str, str], workdir: Path, port: int) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, proc, port, log)


def start_teambot(workdir: Path, api_url: str, database_url: str) -> Server:
    port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api_url,
        TEAMBOT_PORT=str(port),
        TEAMBOT_DATABASE_URL=database_url,
    )
    return launch("teambot", [sys.executable, "-m", "bot", "serve"], env, workdir, port)


def start_bare(workdir: Path, api_url: str, floor: int = 0, database_url: str = "") -> Server:
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port), api_url]
    if floor:
        cmd += [str(floor), database_url]
    return launch(f"floor{floor}" if floor else "bare", cmd, clean_env(), workdir, port)


async def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
            try:
                async with http.get(f"http://127.0.0.1:{server.port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer /healthz in {STARTUP} s")


# -- requests ---------------------------------------------------------------------------------


def signed_headers(body: bytes, timestamp: int) -> dict[str, str]:
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(SECRET).generate_signature(timestamp=str(timestamp), body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }


class Traffic:
    """Slash commands from a mix of channels and users, now and then from a new user."""

    def __init__(self, fake: Any, *, channels: int, users: int, new_every: int) -> None:
        self.fake = fake
        self.rng = random.Random(1)
        self.users = [f"U{n:08d}" for n in range(users)]
        for user in self.users:
            fake.add_user(user, f"user{user[-4:]}")
        self.channels = {
            "add": [f"CADD{n:04d}" for n in range(channels)],
            "list": [f"CLST{n:04d}" for n in range(channels)],
        }
        self.new_every = new_every
        self.new_users = 0
        self.sent = 0
        fixture = ROOT / "tests/fixtures/slack/slack_slash_command.txt"
        self.base = dict(parse_qsl(fixture.read_text(encoding="utf-8")))

    def user(self) -> str:
        if self.new_every and self.rng.randrange(self.new_every) == 0:
            self.new_users += 1
            user = f"UNEW{self.new_users:06d}{uuid.uuid4().hex[:4].upper()}"
            self.fake.add_user(user, f"new{self.new_users}")
            return user
        return self.rng.choice(self.users)

    def text(self, command: str) -> str:
        if command == "list":
            return (
                "list" if self.rng.random() < 0.8 else self.rng.choice(["list overdue", "list all"])
            )
        verbs = ("Write", "Review", "Fix", "Ship", "Test", "Draft", "Plan", "Measure")
        things = ("the SRS", "login page", "API keys", "release notes", "KPI digest", "backlog")
        text = f"add {self.rng.choice(verbs)} {self.rng.choice(things)} #{self.sent}"
        if self.rng.random() < 0.5:
            text += f" due:{self.rng.choice(['tomorrow', 'fri', '+3d', '+2w', '2026-12-24'])}"
        if self.rng.random() < 0.3:
            text += f" prio:{self.rng.choice(['high', 'low'])}"
        if self.rng.random() < 0.1:
            text += " kind:bug"
        return text

    def form(
        self, command: str, *, channel: str | None = None, user: str | None = None
    ) -> dict[str, str]:
        self.sent += 1
        channel = channel or self.rng.choice(self.channels[command])
        user = user or self.user()
        return {
            **self.base,
            "team_id": TEAM,
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": "/task",
            "text": self.text(command),
            "response_url": f"{self.fake.url}/response/r{self.sent}",
            "trigger_id": f"{self.sent}.{self.sent}.bench",
        }

    def batch(self, command: str, n: int) -> list[dict[str, str]]:
        return [self.form(command) for _ in range(n)]

    def again(self, forms: list[dict[str, str]]) -> list[dict[str, str]]:
        """The same commands from the same people in the same channels, new trigger ids."""
        out = []
        for form in forms:
            self.sent += 1
            out.append({**form, "trigger_id": f"{self.sent}.{self.sent}.bench"})
        return out


# -- the client -------------------------------------------------------------------------------


@dataclass
class Cell:
    samples: list[float]
    wall: float
    server_cpu: float
    client_cpu: float
    bad: int

    @property
    def rate(self) -> float:
        return len(self.samples) / self.wall

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    def per_request(self, seconds: float) -> float:
        return seconds / len(self.samples) * 1000


class Connection:
    """One keep-alive HTTP/1.1 connection: write a request, read one response.

    The load generator shares two CPUs with the servers it measures, so it must cost far
    less than the cheapest of them (the bare app: ~0.2 ms of CPU a request). This one takes
    ~0.04 ms a request, aiohttp's client (`--client aiohttp`) 0.12-0.17 ms, which shows in
    the bare app's figures at concurrency 1 (~2,100/s against ~3,000/s).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        headers = {}
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        payload = await self.reader.readexactly(length) if length else b""
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def is_error(status: int, payload: bytes, *, teambot: bool) -> bool:
    """Not a 200, or a teambot reply with the error tone (its title starts with :x:)."""
    if status != 200:
        return True
    if not teambot:
        return False
    blocks = json.loads(payload).get("blocks") or [{}]
    return str((blocks[0].get("text") or {}).get("text", "")).startswith(":x:")


async def fire(server: Server, forms: list[dict[str, str]], concurrency: int, client: str) -> Cell:
    """Send every command, `concurrency` at a time; time each until its response."""
    now = int(time.time())
    bodies = [urlencode(form).encode() for form in forms]
    signed = [(body, signed_headers(body, now)) for body in bodies]
    url = f"http://127.0.0.1:{server.port}/slack/events"
    samples: list[float] = []
    bad = 0
    teambot = server.name == "teambot"
    queue = iter(signed)

    def raw(body: bytes, headers: dict[str, str]) -> bytes:
        lines = [
            "POST /slack/events HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def raw_worker(_: aiohttp.ClientSession) -> None:
        nonlocal bad
        connection = Connection(server.port)
        try:
            for body, headers in queue:
                request = raw(body, headers)
                start = time.perf_counter()
                status, payload = await connection.request(request)
                samples.append(time.perf_counter() - start)
                bad += is_error(status, payload, teambot=teambot)
        finally:
            connection.close()

    async def aiohttp_worker(http: aiohttp.ClientSession) -> None:
        nonlocal bad
        for body, headers in queue:
            start = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                payload = await response.read()
            samples.append(time.perf_counter() - start)
            bad += is_error(response.status, payload, teambot=teambot)

    worker: Callable[[aiohttp.ClientSession], Any] = (
        aiohttp_worker if client == "aiohttp" else raw_worker
    )
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        server_cpu, client_cpu = server.cpu(), time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        wall = time.perf_counter() - start
        used = server.cpu() - server_cpu, time.process_time() - client_cpu
    return Cell(samples, wall, used[0], used[1], bad)


# -- seeding the /task list projects ------------------------------------------------------------


def seed_lists(database_url: str, channels: list[str], *, open_tasks: int, done: int) -> None:
    """Give each list channel's project `open_tasks` open and `done` done tasks, in bulk."""
    from sqlalchemy import insert, select, update

    from storage.db import Database
    from storage.models import ChannelBinding, Member, Project, RaciAssignment, Task, Workspace

    rng = random.Random(7)
    now = datetime.now(UTC)
    today = date.today()
    db = Database(database_url)
    try:
        with db.transaction() as session:
            ws = session.execute(
                select(Workspace.id).where(
                    Workspace.platform == "slack", Workspace.external_id == TEAM
                )
            ).scalar_one()
            members = list(
                session.execute(select(Member.id).where(Member.workspace_id == ws)).scalars()
            )
            for channel in channels:
                project_id = session.execute(
                    select(ChannelBinding.project_id).where(
                        ChannelBinding.workspace_id == ws, ChannelBinding.channel_id == channel
                    )
                ).scalar_one()
                rows = []
                for n in range(1, open_tasks + done + 1):
                    due = today + timedelta(days=rng.randint(-10, 30))
                    status = rng.choice(["todo", "todo", "doing", "blocked", "review"])
                    rows.append({
                        "project_id": project_id, "number": n, "title": f"Seeded task {n}",
                        "kind": rng.choice(["task"] * 8 + ["bug", "risk"]),
                        "status": "done" if n > open_tasks else status,
                        "priority": rng.choice(["high", "med", "med", "low"]),
                        "due": due if rng.random() < 0.6 else None,
                        "creator_id": rng.choice(members), "created_at": now, "updated_at": now,
                    })  # fmt: skip
                session.execute(insert(Task), rows)
                session.execute(
                    update(Project)
                    .where(Project.id == project_id)
                    .values(next_task_number=len(rows) + 1)
                )
                ids = session.execute(select(Task.id).where(Task.project_id == project_id))
                raci = [
                    {"task_id": t, "member_id": rng.choice(members), "role": "R", "created_at": now}
                    for t in ids.scalars()
                    if rng.random() < 0.7
                ]
                session.execute(insert(RaciAssignment), raci)
    finally:
        db.dispose()


# -- the run ------------------------------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path, pg_url: str) -> Iterator[str]:
    """A fresh database: a SQLite file, or a `bench_*` PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(pg_url), isolation_level="AUTOCOMMIT")
    name = f"bench_e2e_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Row:
    database: str
    command: str
    concurrency: int
    bare: Cell
    teambot: Cell


async def run_database(
    kind: str, args: argparse.Namespace, fake: Any, bare: Server, workdir: Path
) -> list[Row]:
    traffic = Traffic(fake, channels=args.channels, users=args.users, new_every=args.new_every)
    rows: list[Row] = []
    with database(kind, workdir, args.pg_url) as url:
        teambot = start_teambot(workdir, fake.api_url, url)
        try:
            await wait_ready(teambot)
            # Bind every channel (its first user becomes its admin), then meet every user.
            first = traffic.users[0]
            forms = [traffic.form(cmd, channel=ch, user=first) for cmd in traffic.channels
                     for ch in traffic.channels[cmd]]  # fmt: skip
            await fire(teambot, forms, 1, args.client)
            forms = [traffic.form(cmd, user=u) for u in traffic.users for cmd in ("add", "list")]
            await fire(teambot, forms, 4, args.client)
            seed_lists(url, traffic.channels["list"], open_tasks=args.tasks, done=args.done)
            for command in ("add", "list"):
                for concurrency in args.concurrency:
                    for server in (bare, teambot):
                        warmup = traffic.batch(command, args.warmup)
                        await fire(server, warmup, concurrency, args.client)
                    forms = traffic.batch(command, args.requests)
                    base = await fire(bare, forms, concurrency, args.client)
                    ours = await fire(teambot, traffic.again(forms), concurrency, args.client)
                    rows.append(Row(kind, command, concurrency, base, ours))
                    print(f"  {kind} /task {command} c={concurrency}: bare {base.rate:.0f}/s, "
                          f"teambot {ours.rate:.0f}/s, p99 {ours.pct(0.99):.1f} ms",
                          file=sys.stderr, flush=True)  # fmt: skip
            if args.floors:
                rows += await run_floors(kind, args, traffic, bare, workdir, url)
        finally:
            teambot.stop()
            if "Traceback" in teambot.log.read_text(errors="replace"):
                print(f"teambot logged a traceback: {teambot.log}", file=sys.stderr)
    return rows


async def run_floors(
    kind: str, args: argparse.Namespace, traffic: Traffic, bare: Server, workdir: Path, url: str
) -> list[Row]:
    """The bare app against itself doing the fixed part of a command, at concurrency 16."""
    rows = []
    for floor, name in FLOORS.items():
        server = start_bare(workdir, traffic.fake.api_url, floor, url)
        try:
            await wait_ready(server)
            for warm in (bare, server):
                await fire(warm, traffic.batch("add", args.warmup), 16, args.client)
            forms = traffic.batch("add", args.requests)
            base = await fire(bare, forms, 16, args.client)
            rows.append(Row(kind, name, 16, base, await fire(server, forms, 16, args.client)))
        finally:
            server.stop()
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| database | command | conc. | bare bolt | teambot | ratio | target at 16 "
        "| p50 | p99 | bare p50 / p99 | server CPU/req bare / teambot | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = r.teambot.rate / r.bare.rate
        target = ""
        if r.concurrency == 16 and r.command in TARGETS:
            throughput_ok = ratio >= TARGETS[r.command]
            p99_ok = r.teambot.pct(0.99) < P99_TARGET_MS
            target = (
                f"≥ {TARGETS[r.command]:.2f}: {'met' if throughput_ok else 'not met'}; "
                f"p99 < 50 ms: {'met' if p99_ok else 'not met'}"
            )
        lines.append(
            f"| {r.database} | {label(r.command)} | {r.concurrency} | {r.bare.rate:,.0f}/s "
            f"| {r.teambot.rate:,.0f}/s | {ratio:.2f} | {target} | {r.teambot.pct(0.5):.1f} ms "
            f"| {r.teambot.pct(0.99):.1f} ms | {r.bare.pct(0.5):.1f} / {r.bare.pct(0.99):.1f} ms "
            f"| {r.bare.per_request(r.bare.server_cpu):.2f} / "
            f"{r.teambot.per_request(r.teambot.server_cpu):.2f} ms "
            f"| {r.bare.bad + r.teambot.bad} |"
        )
    return "\n".join(lines)


def importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def label(command: str) -> str:
    return f"`/task {command}`" if command in TARGETS else f"floor: {command}"


def environment(args: argparse.Namespace) -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    loop = "uvloop" if importable("uvloop") else "asyncio"  # what uvicorn's "auto" picks
    http = "httptools" if importable("httptools") else "h11"
    out = (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"uvicorn {version('uvicorn')} ({loop}, {http}), slack-bolt {version('slack_bolt')}, "
        f"SQLAlchemy {version('SQLAlchemy')}, sqlmodel {version('sqlmodel')}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    if "postgresql" in args.databases:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.pg_url)
        with engine.connect() as conn:
            out += f", PostgreSQL {conn.execute(text('SHOW server_version')).scalar()}"
        engine.dispose()
    return out


async def main(args: argparse.Namespace) -> None:
    from tests.fake_slack import FakeSlack

    fake = FakeSlack().start()
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
            workdir = Path(tmp)
            bare = start_bare(workdir, fake.api_url)
            try:
                await wait_ready(bare)
                for kind in args.databases:
                    rows += await run_database(kind, args, fake, bare, workdir)
            finally:
                bare.stop()
    finally:
        fake.stop()
    print(f"{datetime.now(UTC):%Y-%m-%d}, {environment(args)}.\n")
    print(
        f"{args.requests} signed slash commands per cell after {args.warmup} of warm-up; "
        f"{args.channels} channels per command, {args.users} users, about one new user in "
        f"{args.new_every}; `/task list` in projects of {args.tasks} open and {args.done} done "
        f"tasks. Latency: from sending a request to reading its ack ({args.client} client).\n"
    )
    print(table(rows))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--requests", type=int, default=2000, help="measured requests per cell (2000)")
    add("--warmup", type=int, default=200, help="unmeasured requests before each cell (200)")
    add("--concurrency", default="1,16,64", help="requests in flight, one cell each (1,16,64)")
    add("--databases", default="sqlite,postgresql", help="sqlite and/or postgresql")
    add("--pg-url", default=PG_DEFAULT, help="PostgreSQL server (makes and drops a bench_* db)")
    add("--channels", type=int, default=20, help="channels per command (20)")
    add("--users", type=int, default=50, help="users (50)")
    add("--new-every", type=int, default=200, help="about one request in N from a new user")
    add("--tasks", type=int, default=200, help="open tasks per /task list project (200)")
    add("--done", type=int, default=50, help="done tasks per /task list project (50)")
    add("--client", choices=["raw", "aiohttp"], default="raw", help="load generator (raw)")
    add("--floors", action="store_true", help="also measure the fixed cost of a command")
    add("--serve-bare", nargs="+", help=argparse.SUPPRESS)  # PORT API_URL [FLOOR DATABASE_URL]
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    return args


if __name__ == "__main__":
    options = parse_args()
    if options.serve_bare:
        port, api_url, *floor = options.serve_bare
        serve_bare(int(port), api_url, *(int(floor[0]), floor[1]) if floor else ())
    else:
        asyncio.run(main(options))
