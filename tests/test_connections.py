"""Slow and idle connections are bounded by the server itself: a request must arrive within
the read time-out (408), its head within 64 KiB (431), and past the connection cap the
connections idle longest are closed, so 1,100 idle sockets never starve /healthz or a
Slack command, even with the open-file limit at 1024.

The first tests run the real `teambot serve`; the others serve the app with uvicorn and
teambot's own options (`bot.serve.uvicorn_options`) on a free loopback port in this
process, and talk to it over raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from bot.app import build_app
from bot.core import Core
from bot.serve import build_web_app, uvicorn_options
from bot.settings import Settings
from tests.fake_slack import FakeSlack
from tests.slack_support import sign
from tests.test_serve_process import created_ack, free_port, healthy, slack_env, slash_body, stop

IDLE_SOCKETS = 1100
READ_TIMEOUT = 2.0
STARTUP = 20.0

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
def many_files() -> None:
    """Room in this process for 1,100 sockets and more (raising the soft limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_SOCKETS + 500
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit ({hard}) is below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def start_limited(
    tmp_path: Path, fake: FakeSlack, port: int, nofile: tuple[int, int], *extra: str
) -> subprocess.Popen[bytes]:
    """`teambot serve` with the open-file limit `nofile` (soft, hard)."""
    with (tmp_path / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port), *extra],
            env=slack_env(tmp_path, fake), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile),
        )  # fmt: skip


def wait_up(client: httpx.Client, proc: subprocess.Popen[bytes], tmp_path: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            if client.get("/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"serve did not answer /healthz within {STARTUP} s")


def closed_by_peer(socks: list[socket.socket], *, within: float) -> list[tuple[bytes, float]]:
    """For each of `socks` the server closes within `within` s: the status line it answered
    (b"" for none) and when it closed (time.monotonic())."""
    watch = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        watch.register(sock, selectors.EVENT_READ)
    received: dict[socket.socket, bytes] = {}
    closed = []
    deadline = time.monotonic() + within
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in watch.select(0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except ConnectionError:
                data = b""
            received[sock] = received.get(sock, b"") + data
            if not data:
                watch.unregister(sock)
                closed.append((received[sock].split(b"\r\n")[0], time.monotonic()))
    watch.close()
    return closed


def test_1100_idle_sockets_starve_neither_healthz_nor_commands(
    tmp_path: Path, fake: FakeSlack, many_files: None
) -> None:
    """The real server, its open-file limit 1024 (soft and hard): with 1,100 sockets open
    that sent nothing or half a request line, /healthz answers 200 within a second and a
    signed slash command is answered; the server closes the idle sockets, the longest idle
    at once (past its cap of 824 = 1024 less 200 kept for other files) and the rest with a
    408 once the read time-out (2 s here) has passed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_limited(tmp_path, fake, port, (1024, 1024), "--read-timeout", str(READ_TIMEOUT))
    idle: list[socket.socket] = []
    try:
        with httpx.Client(trust_env=False, base_url=base) as client:
            wait_up(client, proc, tmp_path)
            opened = time.monotonic()
            for n in range(IDLE_SOCKETS):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                if n % 2:
                    sock.sendall(b"GET /healthz HT")
                idle.append(sock)
            started = time.monotonic()
            health = client.get("/healthz", timeout=5.0)
            assert time.monotonic() - started < 1.0
            assert health.status_code == 200 and healthy(health.json()), health.text
            body = slash_body(fake, "/task", "add Past the idle sockets")
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            answer = client.post("/slack/events", content=body, headers=headers, timeout=5.0)
            assert answer.status_code == 200
            assert answer.json() == created_ack("Past the idle sockets")
            left = READ_TIMEOUT + 3.0 - (time.monotonic() - opened)
            closed = closed_by_peer(idle, within=left)
        assert len(closed) == IDLE_SOCKETS
        made_room = [when for answer, when in closed if answer == b""]
        timed_out = [when for answer, when in closed if answer == b"HTTP/1.1 408 Request Timeout"]
        assert len(made_room) + len(timed_out) == IDLE_SOCKETS
        assert made_room and timed_out  # the cap closed some at once, the time-out the others
        assert min(timed_out) >= opened + READ_TIMEOUT
    finally:
        for sock in idle:
            sock.close()
        stop(proc)
    log = (tmp_path / "serve.log").read_text()
    assert "over the cap" in log  # the cap made room, below the open-file limit
    assert "Traceback" not in log


def test_serve_raises_a_low_open_file_limit_for_its_connections(
    tmp_path: Path, fake: FakeSlack
) -> None:
    """Started with a soft open-file limit of 1024 under a higher hard one, serve raises its
    soft limit to what 1,000 connections need (1,200)."""
    port = free_port()
    proc = start_limited(tmp_path, fake, port, (1024, 4096))
    try:
        with httpx.Client(trust_env=False, base_url=f"http://127.0.0.1:{port}") as client:
            wait_up(client, proc, tmp_path)
            limits = Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
    finally:
        stop(proc)
    [files] = [line.split() for line in limits if line.startswith("Max open files")]
    assert files[3:5] == ["1200", "4096"]


# -- in this process: uvicorn with teambot's options ------------------------------------------


@pytest.fixture
def web(tmp_path: Path, sqlite_template: Path) -> Iterator[Starlette]:
    path = tmp_path / "teambot.db"
    path.write_bytes(sqlite_template.read_bytes())
    app = build_app(Settings(database_url=f"sqlite:///{path}"))
    core = Core(app.router)
    try:
        yield build_web_app(core=core)
    finally:
        core.close()
        app.close()


@asynccontextmanager
async def serving(
    web: Starlette, *, read_timeout: float = 0.5, max_connections: int = 1000
) -> AsyncIterator[int]:
    """The app behind uvicorn with teambot's options, on a free loopback port."""
    options = uvicorn_options(read_timeout=read_timeout, max_connections=max_connections)
    options["log_level"] = "warning"
    config = uvicorn.Config(web, host="127.0.0.1", port=0, lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def answer_and_close(reader: asyncio.StreamReader, *, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when that was."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), within)
    return data, time.monotonic() - started


GET = b"GET /healthz HTTP/1.1\r\nHost: teambot\r\n\r\n"


async def test_a_request_that_never_arrives_whole_is_answered_408(web: Starlette) -> None:
    """Nothing sent, half a request line, or a head and half its body: 408 and the connection
    closed once the read time-out (0.5 s here) has passed, not before."""
    async with serving(web, read_timeout=0.5) as port:
        silent = await connect(port)
        half_line = await connect(port)
        half_line[1].write(b"GET /hea")
        half_body = await connect(port)
        half_body[1].write(b"POST /healthz HTTP/1.1\r\nHost: teambot\r\nContent-Length: 100\r\n\r\n"
                           + b"x" * 10)  # fmt: skip
        answers = await asyncio.gather(
            *(answer_and_close(reader, within=3) for reader, _ in (silent, half_line, half_body))
        )
        for data, after in answers:
            assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
            assert b"connection: close" in data
            assert 0.4 < after < 1.5
        for _, writer in (silent, half_line, half_body):
            writer.close()


def send_long_head(port: int) -> bytes:
    """A request whose head goes on for 80 KiB (one header line); what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: teambot\r\nX-Long: " + b"a" * 80 * 1024)
        data = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                data += chunk
    return data


async def test_a_head_over_64_kib_is_answered_431(web: Starlette) -> None:
    """A head past 64 KiB (a header line that goes on) is cut off with 431 and the connection
    closed, without waiting for its end."""
    async with serving(web) as port:
        data = await asyncio.to_thread(send_long_head, port)
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), data


async def test_idle_time_between_kept_alive_requests_is_not_read_time(web: Starlette) -> None:
    """On a kept-alive connection, a pause longer than the read time-out between two requests
    is the keep-alive's business: both are answered."""
    async with serving(web, read_timeout=0.5) as port:
        reader, writer = await connect(port)
        for pause in (1.0, 0.0):
            writer.write(GET)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            await asyncio.sleep(pause)
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One response with a Content-Length: its status line."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    return head.split(b"\r\n")[0]


async def test_past_the_cap_the_longest_idle_connections_are_closed(web: Starlette) -> None:
    """With a cap of 20: a kept-alive connection that has had an answer, a request in
    progress (its body half sent), then 30 connections that send nothing. The oldest of
    these are closed, /healthz is answered, the kept-alive connection (older, but proven)
    still serves, and the request in progress is answered once its body arrives."""
    async with serving(web, read_timeout=5.0, max_connections=20) as port:
        kept_reader, kept = await connect(port)
        kept.write(GET)
        assert await read_response(kept_reader) == b"HTTP/1.1 200 OK"
        busy_reader, busy = await connect(port)
        busy.write(b"POST /metrics HTTP/1.1\r\nHost: teambot\r\nContent-Length: 10\r\n\r\n12345")
        await busy.drain()
        idle = [await connect(port) for _ in range(30)]
        await asyncio.sleep(0.2)
        health_reader, health = await connect(port)
        health.write(GET)
        assert await read_response(health_reader) == b"HTTP/1.1 200 OK"
        closed = [reader.at_eof() for reader, _ in idle]
        assert closed[:10] == [True] * 10  # the oldest, closed without an answer
        assert closed[-5:] == [False] * 5
        assert await asyncio.gather(*(r.read() for r, _ in idle[:10])) == [b""] * 10
        kept.write(GET)
        assert await read_response(kept_reader) == b"HTTP/1.1 200 OK"
        busy.write(b"67890")
        answer = await asyncio.wait_for(busy_reader.readuntil(b"\r\n"), 2)
        assert answer == b"HTTP/1.1 405 Method Not Allowed\r\n"
        for _, writer in [*idle, (None, busy), (None, health), (None, kept)]:
            writer.close()
