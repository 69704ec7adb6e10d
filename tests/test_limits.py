"""Request bodies over 1 MiB are refused with 413 before they are read into memory.

Both callback endpoints run in one real ASGI app (Slack in HTTP mode and Feishu with
an encrypt key) against fake platforms; the last tests serve it with uvicorn on a
free loopback port and talk to it over a raw socket, so what is measured is what
the server reads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import build_app
from bot.core import Core
from bot.feishu.setup import adapter as feishu_adapter
from bot.hub import Hub
from bot.limits import MAX_BODY
from bot.serve import READ_TIMEOUT, build_web_app
from bot.slack.setup import adapter as slack_adapter
from storage.db import Database
from tests.chat import snapshot
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import both_fakes, both_settings, message_event, sealed
from tests.slack_support import sign
from tests.test_connections import serving

pytestmark = pytest.mark.anyio

FORM = "application/x-www-form-urlencoded"
TOO_LARGE = {"error": "request body too large"}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeFeishu]]:
    with both_fakes(slack_users={"W111": "mei"}, feishu_users={"ou_mei": "美"}) as pair:
        yield pair


@dataclass
class Both:
    web: Starlette
    client: httpx.AsyncClient


@pytest.fixture
async def both(
    db_url: str, fakes: tuple[FakeSlack, FakeFeishu], clock: Clock
) -> AsyncIterator[Both]:
    fake_slack, fake_feishu = fakes
    settings = both_settings(db_url, fake_slack, fake_feishu)
    app = build_app(settings, clock=clock)
    core = Core(app.router)
    hub = Hub()
    web = build_web_app(
        core=core,
        adapters=[
            a
            for a in (slack_adapter(settings, core, hub), feishu_adapter(settings, core, hub))
            if a
        ],
    )
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
                yield Both(web, client)
    finally:
        core.close()
        app.close()


def slash_body(size: int) -> bytes:
    """A slash command (`/task add xxx…`) whose form body is exactly `size` bytes."""
    head = urlencode({"team_id": "T111", "channel_id": "C111", "channel_name": "general",
                      "user_id": "W111", "command": "/task"}) + "&text=add+"  # fmt: skip
    return (head + "x" * (size - len(head))).encode()


def feishu_body(size: int) -> tuple[bytes, dict[str, str]]:
    """A signed, encrypted `task add` message padded to just under `size` bytes (by < 200)."""
    payload = message_event("task add Big")
    overhead = len(sealed(payload)[0])
    # base64 of IV + AES blocks: 4/3 of the plain text, rounded up to a 16-byte block.
    payload["event"]["padding"] = "p" * ((size - overhead) * 3 // 4 - 64)
    body, headers = sealed(payload)
    assert size - 200 < len(body) <= size
    return body, headers


async def chunks(body: bytes, *, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


class Endless:
    """A streamed body of 4 MiB (endless, as far as the limit is concerned); counts the
    bytes anyone pulled from it."""

    def __init__(self, chunk: int = 64 * 1024) -> None:
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < 4 * MAX_BODY:
            self.pulled += self.chunk
            yield b"x" * self.chunk


class Untouchable:
    """A body that fails the test if anyone reads it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover - makes this an async generator


ENDPOINTS = ["/slack/events", "/feishu/events"]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_declared_length_over_the_limit_is_refused_unread(
    both: Both, db: Database, path: str
) -> None:
    """Content-Length over 1 MiB: 413 at once, not one byte of the body read, nothing written."""
    before = snapshot(db)
    response = await both.client.post(
        path, content=Untouchable(), headers={"Content-Length": str(MAX_BODY + 1)}
    )
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert snapshot(db) == before


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_full_body_just_over_is_refused(both: Both, db: Database, path: str) -> None:
    """A signed request just over 1 MiB (Slack's by one byte), sent whole with its
    Content-Length: 413, nothing written."""
    if path == "/slack/events":
        body = slash_body(MAX_BODY + 1)
        headers = {"Content-Type": FORM, **sign(body)}
    else:
        body, headers = feishu_body(MAX_BODY + 200)
        assert len(body) > MAX_BODY
    before = snapshot(db)
    response = await both.client.post(path, content=body, headers=headers)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert snapshot(db) == before


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_streamed_body_without_length_is_cut_off_at_the_limit(
    both: Both, db: Database, path: str
) -> None:
    """No Content-Length (chunked), 4 MiB: 413 after reading just over 1 MiB, nothing written."""
    endless = Endless()
    before = snapshot(db)
    response = await both.client.post(path, content=endless)
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert MAX_BODY < endless.pulled <= MAX_BODY + 2 * endless.chunk
    assert snapshot(db) == before


async def test_slack_body_of_exactly_the_limit_still_works(both: Both, db: Database) -> None:
    """A slash command of exactly 1 MiB is read and answered (too long for a command)."""
    body = slash_body(MAX_BODY)
    assert len(body) == MAX_BODY
    before = snapshot(db)
    response = await both.client.post(
        "/slack/events", content=body, headers={"Content-Type": FORM, **sign(body)}
    )
    assert response.status_code == 200
    assert (
        response.json()["text"]
        == "That message is too long for a command (at most 4000 characters)."
    )
    assert snapshot(db) == before


async def test_slack_body_streamed_without_length_under_the_limit_works(
    both: Both, db: Database
) -> None:
    """A slash command sent in chunks without Content-Length runs like any other."""
    body = urlencode({"team_id": "T111", "channel_id": "C111", "user_id": "W111",
                      "command": "/task", "text": "add Streamed"}).encode()  # fmt: skip
    response = await both.client.post(
        "/slack/events", content=chunks(body, size=7), headers={"Content-Type": FORM, **sign(body)}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 200
    assert response.json()["text"] == "Created T-1: Streamed"
    assert [row[0] for row in _titles(db)] == ["Streamed"]


async def test_feishu_body_just_under_the_limit_still_works(both: Both, db: Database) -> None:
    """An encrypted, signed message just under 1 MiB is decrypted and its command runs."""
    body, headers = feishu_body(MAX_BODY)
    response = await both.client.post("/feishu/events", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"msg": "success"})
    assert [row[0] for row in _titles(db)] == ["Big"]


async def test_a_length_that_is_not_a_number_is_a_bad_request(both: Both, db: Database) -> None:
    """Content-Length: 12abc is refused with 400 before anything is read."""
    before = snapshot(db)
    response = await both.client.post(
        "/slack/events", content=Untouchable(), headers={"Content-Length": "12abc"}
    )
    assert (response.status_code, response.json()) == (400, {"error": "bad Content-Length"})
    assert snapshot(db) == before


async def test_health_check_passes_the_limit(both: Both) -> None:
    """GET /healthz (no body) is untouched by the limit."""
    response = await both.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


def _titles(db: Database) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT title FROM task ORDER BY number")).all())


# -- over a real socket: what uvicorn reads -------------------------------------------------------


def uvicorn_serving(web: Starlette) -> AbstractAsyncContextManager[int]:
    """The app behind uvicorn as `teambot serve` runs it, on a free loopback port (its
    lifespan is run already)."""
    return serving(web, read_timeout=READ_TIMEOUT)


async def exchange(port: int, head: bytes, send_body: Any) -> tuple[bytes, int]:
    """Send the request head, then body bytes until the server answers; the status line
    and the number of body bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        writer.write(head)
        await writer.drain()
        answer = asyncio.create_task(reader.readline())
        for chunk in send_body():
            if answer.done():
                break
            try:
                writer.write(chunk)
                await writer.drain()
            except ConnectionError:
                break
            sent += len(chunk)
            await asyncio.sleep(0)
        status = await asyncio.wait_for(answer, 10)
    finally:
        writer.close()
    return status, sent


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_uvicorn_answers_413_before_the_body_is_sent(
    both: Both, db: Database, path: str
) -> None:
    """Over a socket, a declared 1 GB body is refused before its first byte is sent."""
    before = snapshot(db)
    async with uvicorn_serving(both.web) as port:
        head = (f"POST {path} HTTP/1.1\r\nHost: teambot\r\nContent-Type: application/json\r\n"
                f"Content-Length: {10**9}\r\n\r\n").encode()  # fmt: skip
        status, sent = await exchange(port, head, lambda: iter(()))
    assert status.startswith(b"HTTP/1.1 413")
    assert sent == 0
    assert snapshot(db) == before


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_uvicorn_stops_a_chunked_body_at_the_limit(
    both: Both, db: Database, path: str
) -> None:
    """Over a socket, a chunked body with no end is answered 413 once it passes 1 MiB."""
    before = snapshot(db)
    piece = os.urandom(32 * 1024)

    def endless() -> Iterator[bytes]:
        for _ in range(4 * MAX_BODY // len(piece)):  # 4 MiB at most, then the test fails
            yield b"%x\r\n%s\r\n" % (len(piece), piece)

    async with uvicorn_serving(both.web) as port:
        head = (f"POST {path} HTTP/1.1\r\nHost: teambot\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()  # fmt: skip
        status, sent = await exchange(port, head, endless)
    assert status.startswith(b"HTTP/1.1 413")
    assert sent < 3 * MAX_BODY
    assert snapshot(db) == before
