"""TEAMBOT_LOG_FORMAT=json: one JSON object per log line, from the real `teambot serve`."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.logs import JsonFormatter, LinkCodeFilter
from commands.context import Ctx
from commands.i18n import Catalog
from commands.registry import Args, CommandSpec, Group, Registry
from commands.router import Router
from commands.types import Reply
from storage.db import Database
from tests.chat import Chat
from tests.conftest import Clock
from tests.test_serve_process import environment, free_port, stop, wait_healthy


def lines_as_json(text: str) -> list[dict[str, Any]]:
    """Every line parsed as one JSON object (fails on the first that is not)."""
    out = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        out.append(record)
    return out


@pytest.fixture
def served_json(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`teambot serve` with TEAMBOT_LOG_FORMAT=json and no platform, asked for /healthz and
    /metrics, then stopped with SIGTERM: its (stdout, stderr)."""
    port = free_port()
    env = environment(tmp_path, TEAMBOT_LOG_FORMAT="json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(trust_env=False) as client:
            wait_healthy(client, proc, f"http://127.0.0.1:{port}")
            assert client.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    finally:
        code = stop(proc)
    out, err = proc.communicate()
    assert code == 0, err.decode()
    yield out.decode(), err.decode()


def test_serve_logs_one_json_object_per_line(served_json: tuple[str, str]) -> None:
    """Every stderr line is JSON with time (UTC), level, logger and message; uvicorn's own
    lines and its access log included; nothing on stdout."""
    out, err = served_json
    records = lines_as_json(err)
    assert out == ""
    assert {tuple(sorted(r)) for r in records} == {("level", "logger", "message", "time")}
    for record in records:
        when = datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - when).total_seconds()) < 120
    messages = [(r["level"], r["logger"], r["message"]) for r in records]
    assert (
        "WARNING", "bot.serve", "no chat platform configured: serving /healthz and /metrics only"
    ) in messages  # fmt: skip
    assert ("INFO", "uvicorn.error", "Application startup complete.") in messages
    assert ("INFO", "uvicorn.error", "Application shutdown complete.") in messages
    access = [m for level, logger, m in messages if logger == "uvicorn.access"]
    assert any(m.endswith('"GET /metrics HTTP/1.1" 200') for m in access), access


def test_a_crash_is_one_json_line_with_its_context_and_traceback(
    db: Database, catalog: Catalog, clock: Clock
) -> None:
    """The router's crash record carries event id, platform, channel and command, and the
    exception with its traceback as one string."""

    def explode(ctx: Ctx, args: Args) -> Reply:
        raise RuntimeError("secret internals")

    registry = Registry.build(
        [Group("boom")],
        [
            CommandSpec(
                group="boom",
                name="now",
                handler=explode,
                usage="/boom now",
                examples=("/boom now",),
            )
        ],
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("commands.router")
    logger.addHandler(handler)
    try:
        Chat(Router(db=db, catalog=catalog, registry=registry, clock=clock)).say(
            "mei", "boom now", channel="发布", event_id="Ev9"
        )
    finally:
        logger.removeHandler(handler)
    [record] = lines_as_json(stream.getvalue())
    assert {k: record[k] for k in ("level", "logger", "event_id", "platform", "channel",
                                   "command")} == {
        "level": "ERROR", "logger": "commands.router", "event_id": "Ev9",
        "platform": "console", "channel": "发布", "command": "boom.now",
    }  # fmt: skip
    assert record["message"] == "command failed: event=Ev9 platform=console channel=发布"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert record["exception"].endswith("RuntimeError: secret internals")


def test_a_log_line_never_shows_a_link_code() -> None:
    """teambot's handler rewrites link codes out of any record: as issued, and as typed
    after "link" or "link me" (any case, a dash, a form body's + for spaces)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LinkCodeFilter())
    logger = logging.getLogger("tests.link_codes")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("text=teambot+link+k7qm-2xpb from %s", "Zoe")
        logger.warning("code %s issued", "K7QM2XPB")
        logger.warning("link me k7qm2xpb; standups stay")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == (
        "text=teambot+link+[code] from Zoe\ncode [code] issued\nlink me [code]; standups stay\n"
    )
