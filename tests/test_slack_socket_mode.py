"""Slack over Socket Mode, end to end: no HTTP endpoint involved.

The adapter opens a connection with apps.connections.open on the fake Slack and
connects to its WebSocket while the app's lifespan starts. Envelopes pushed
down that socket are real Slack frames (slack_socket_mode_envelopes.json);
the assertions are on the exact acks the client sends back, the Web API calls
that follow, and the database.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlmodel import Session, select

from bot.settings import Settings
from storage.db import Database
from storage.models import Task
from tests.conftest import Clock
from tests.fake_slack import Failure, FakeSlack
from tests.slack_support import (
    Harness,
    button,
    fields,
    fixture_json,
    running,
    section,
    settings_for,
)

pytestmark = pytest.mark.anyio

APP_TOKEN = "xapp-1-test"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("U111", "mei")
    server.add_user("U222", "li")
    yield server
    server.stop()


def envelope(kind: str) -> dict[str, Any]:
    """A fresh copy of the fixture's first envelope of this type."""
    frames = fixture_json("slack_socket_mode_envelopes.json")["envelopes"]
    return copy.deepcopy(next(e for e in frames if e["type"] == kind))


def slash_envelope(command: str, text: str) -> dict[str, Any]:
    frame = envelope("slash_commands")
    frame["payload"].update({"command": command, "text": text})
    return frame


def mention_envelope(text: str) -> dict[str, Any]:
    frame = envelope("events_api")
    assert frame["payload"]["event"]["type"] == "app_mention"
    frame["payload"]["event"]["text"] = text
    return frame


def created_blocks(title: str) -> list[dict[str, Any]]:
    """The card of a task just created as T-1 with no one responsible (so it can be claimed)."""
    block = json.dumps({"command": "task block T-1", "title": "Block", "label": "reason"})
    return [
        section(f"*Created T-1: {title}*"),
        fields(("Status", "to do"), ("Priority", "medium"), ("Due", "not set"),
               ("R · Responsible", "—")),
        {"type": "actions", "elements": [
            button("Start", "tb:task_start", "task start T-1", "primary"),
            button("Done", "tb:task_done", "task done T-1", "primary"),
            button("Block", "tb:ask:task_block", block, "danger"),
            button("Claim", "tb:task_claim", "task claim T-1"),
        ]},
    ]  # fmt: skip


def tasks(db: Database) -> list[Task]:
    with Session(db.engine) as session:
        return list(session.exec(select(Task).order_by(Task.number)).all())  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], what: str, *, seconds: float = 5.0) -> None:
    """Wait (bounded) until `condition()` holds."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await anyio.sleep(0.05)
    assert condition(), f"timed out after {seconds} s waiting for {what}"


def socket_settings(db_url: str, fake: FakeSlack, *, http: bool = True) -> Settings:
    settings = settings_for(db_url, fake, slack_app_token=APP_TOKEN)
    return settings if http else settings.model_copy(update={"slack_signing_secret": None})


@pytest.fixture
async def socket(db_url: str, fake: FakeSlack, clock: Clock) -> Any:
    async with running(socket_settings(db_url, fake), fake, clock=clock) as harness:
        yield harness


async def test_lifespan_opens_the_socket_with_the_app_token(socket: Harness) -> None:
    """Starting checks the app token once, then connects: both calls use the app token."""
    opened = [c for c in socket.fake.calls if c.method == "apps.connections.open"]
    assert [c.headers["Authorization"] for c in opened] == [f"Bearer {APP_TOKEN}"] * 2


async def test_slash_command_is_answered_in_the_socket_ack(socket: Harness, db: Database) -> None:
    """A slash command envelope is acked with its envelope_id and the whole in_channel reply."""
    frame = slash_envelope("/task", "add From the socket")
    socket.fake.push(frame)
    await until(lambda: len(socket.fake.acks) >= 1, "the ack")
    assert socket.fake.acks == [{
        "envelope_id": "1d3c79ab-0ffb-41f3-a080-d19e85f53649",
        "payload": {
            "response_type": "in_channel",
            "text": "Created T-1: From the socket",
            "blocks": created_blocks("From the socket"),
        },
    }]  # fmt: skip
    assert [(t.number, t.title) for t in tasks(db)] == [(1, "From the socket")]


async def test_app_mention_is_acked_then_posted_to_its_channel(
    fake: FakeSlack, socket: Harness, db: Database
) -> None:
    """An app_mention envelope is acked empty; the reply goes to the event's channel."""
    frame = mention_envelope("<@UBOT> task add Via mention")
    fake.push(frame)
    await until(lambda: len(fake.acks) >= 1, "the ack")
    await until(lambda: len(fake.called("chat.postMessage")) >= 1, "the reply post")
    assert fake.acks == [{"envelope_id": "cda4159a-72a5-4744-aba3-4d66eb52682b"}]
    assert fake.called("chat.postMessage") == [{
        "channel": "C111",
        "text": "Created T-1: Via mention",
        "blocks": created_blocks("Via mention"),
        "unfurl_links": False,
        "unfurl_media": False,
    }]  # fmt: skip
    assert [t.title for t in tasks(db)] == ["Via mention"]


async def test_redelivered_mention_does_nothing_twice(
    fake: FakeSlack, socket: Harness, db: Database
) -> None:
    """The same app_mention envelope pushed again (same event_id) is acked, no task, no post."""
    frame = mention_envelope("<@UBOT> task add Only once")
    fake.push(frame)
    await until(lambda: len(fake.acks) >= 1, "the first ack")
    await until(lambda: len(fake.called("chat.postMessage")) >= 1, "the first reply post")
    await socket.slack.background.drain()
    calls = len(fake.calls)
    fake.push(copy.deepcopy(frame))
    await until(lambda: len(fake.acks) >= 2, "the second ack")
    await socket.slack.background.drain()
    assert fake.acks == [{"envelope_id": frame["envelope_id"]}] * 2
    assert [t.title for t in tasks(db)] == ["Only once"]
    assert len(fake.calls) == calls


async def test_app_token_alone_serves_the_socket_and_mounts_no_http_endpoint(
    db_url: str, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """Socket Mode without a signing secret: commands work over the socket, POST /slack/events is 404.

    build_web_app mounts /slack/events only when the adapter has a signing
    secret, so the path matches no route at all and Starlette answers 404 Not
    Found (405 would mean a route exists for other methods).
    """
    settings = socket_settings(db_url, fake, http=False)
    assert (settings.slack_signing_secret, settings.slack_enabled) == (None, True)
    async with running(settings, fake, clock=clock) as harness:
        body = b"command=%2Ftask&text=add+Over+HTTP"
        response = await harness.post(body, "application/x-www-form-urlencoded")
        assert response.status_code == 404
        fake.push(slash_envelope("/task", "add Over the socket"))
        await until(lambda: len(fake.acks) >= 1, "the ack")
    assert fake.acks == [{
        "envelope_id": "1d3c79ab-0ffb-41f3-a080-d19e85f53649",
        "payload": {
            "response_type": "in_channel",
            "text": "Created T-1: Over the socket",
            "blocks": created_blocks("Over the socket"),
        },
    }]  # fmt: skip
    assert [t.title for t in tasks(db)] == ["Over the socket"]


async def test_refused_app_token_fails_the_start_instead_of_retrying_forever(
    tmp_path: Path, fake: FakeSlack, clock: Clock
) -> None:
    """apps.connections.open refusing the app token (invalid_auth) fails the start within seconds.

    Today slack_sdk's SocketModeClient.connect() logs the error and retries every
    5 s for ever, so the lifespan never finishes starting and /healthz never
    answers: this test then fails with the TimeoutError of the 4-second bound.
    """
    for _ in range(10):
        fake.fail_next(
            "apps.connections.open", Failure(200, {"ok": False, "error": "invalid_auth"})
        )
    settings = socket_settings(f"sqlite:///{tmp_path / 'refused.db'}", fake)
    with anyio.fail_after(4):
        with pytest.raises(Exception) as refused:  # any error, but an error
            async with running(settings, fake, clock=clock):
                pass
    assert "invalid_auth" in str(refused.value)
