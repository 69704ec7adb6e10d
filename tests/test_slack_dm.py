"""Answering in the bot's DM: `message.im` events run as commands, the answer goes to the DM.

Signed Events API requests into the real ASGI app (tests/slack_support.py), shaped like
Slack's `message` event fixture; the pure payload → command step on the fixture itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.slack.inbound import Said, event_key, of_direct_message
from storage.db import Database
from storage.models import Task
from tests.conftest import Clock
from tests.fake_slack import FakeSlack
from tests.slack_support import Harness, fixture_json, running, settings_for

pytestmark = pytest.mark.anyio

DM = "D111"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack, clock: Clock) -> Any:
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        yield harness


def dm_event(text: str, *, event_id: str = "EvDM1", **event: Any) -> dict[str, Any]:
    """Slack's message event, as it arrives from the bot's DM."""
    payload = fixture_json("slack_message_event.json")
    payload["event"].update({"text": text, "channel": DM, "channel_type": "im", **event})
    payload["event_id"] = event_id
    return payload


def titles(db: Database) -> list[str]:
    with Session(db.engine) as session:
        return [t.title for t in session.exec(select(Task).order_by(Task.number)).all()]  # type: ignore[arg-type]


# -- payload → command --------------------------------------------------------------------


def test_the_fixture_in_a_dm_is_a_command() -> None:
    """The fixture's message, in a DM, is the person's text, to run as a command, marked as
    written one to one (a pending DM standup question takes it as its answer)."""
    body = dm_event("task list")
    assert of_direct_message(body, body["event"], bot_user_id="UBOT") == Said(
        channel_id=DM, channel_name=DM, user_id="W111", raw_text="task list", event_id="EvDM1",
        also_ids=(event_key("message", DM, "1596183880.004200"),), direct=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"channel_type": "channel"},
        {"channel_type": "mpim"},
        {"bot_id": "B111"},
        {"user": "UBOT"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "bot_message"},
        {"subtype": "file_share"},
        {"text": "   "},
        {"text": 5},
        {"user": None},
        {"type": "app_mention"},
    ],
)
def test_what_is_not_a_persons_new_dm_is_ignored(change: dict[str, Any]) -> None:
    """Other conversations, bots (ourselves too), edits, deletions, other subtypes, no text."""
    body = dm_event("task list")
    event = {**body["event"], **change}
    assert of_direct_message(body, event, bot_user_id="UBOT") is None


def test_the_shared_fixture_as_sent_is_a_channel_message() -> None:
    """The fixture untouched is a channel message: not for the DM listener."""
    body = fixture_json("slack_message_event.json")
    assert of_direct_message(body, body["event"], bot_user_id="U") is None


# -- through /slack/events ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["task add Deploy", "/task add Deploy"])
async def test_a_dm_runs_the_command_and_answers_in_the_dm(
    slack: Harness, db: Database, text: str
) -> None:
    """`task add …` (or `/task add …`) written to the bot: run, answered with chat.postMessage
    into the DM (nothing ephemeral: only the person and the bot are there)."""
    response = await slack.event(dm_event(text))
    assert response.status_code == 200
    assert titles(db) == ["Deploy"]
    [post] = slack.fake.called("chat.postMessage")
    assert (post["channel"], post["text"]) == (DM, "Created T-1: Deploy")
    assert slack.fake.called("chat.postEphemeral") == []


async def test_a_list_asked_in_the_dm_is_posted_there(slack: Harness) -> None:
    """A reply that is ephemeral in a channel is a plain message in the DM."""
    await slack.event(dm_event("task list"))
    [post] = slack.fake.called("chat.postMessage")
    assert (post["channel"], post["text"]) == (DM, "Open tasks (0)")


@pytest.mark.parametrize(
    "change",
    [{"bot_id": "B111"}, {"user": "UBOT"}, {"subtype": "message_changed"},
     {"subtype": "bot_message", "bot_id": "B111"}, {"channel_type": "channel"}],
)  # fmt: skip
async def test_bots_edits_and_other_messages_run_nothing(
    slack: Harness, db: Database, change: dict[str, Any]
) -> None:
    """Our own answers, other bots, edits and channel messages: acked, nothing runs or is sent."""
    payload = dm_event("task add Loop")
    payload["event"].update(change)
    response = await slack.event(payload)
    assert response.status_code == 200
    assert titles(db) == []
    assert [c.method for c in slack.fake.calls if c.method.startswith("chat.")] == []


async def test_a_retried_dm_runs_once(slack: Harness, db: Database) -> None:
    """Slack's retry of the same event id (X-Slack-Retry-Num) is claimed already: one task,
    one answer."""
    payload = dm_event("task add Once", event_id="EvDMOnce")
    await slack.event(payload)
    await slack.event(copy.deepcopy(payload), headers={"X-Slack-Retry-Num": "1",
                                                       "X-Slack-Retry-Reason": "http_timeout"})  # fmt: skip
    assert titles(db) == ["Once"]
    assert len(slack.fake.called("chat.postMessage")) == 1


async def test_a_dm_the_bot_cannot_answer_is_logged(
    slack: Harness, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Without chat:write the command still runs; the refused answer is logged."""
    slack.fake.revoke("chat:write")
    await slack.event(dm_event("task add Quiet"))
    assert titles(db) == ["Quiet"]
    assert [r.error for _, r in slack.fake.take_refusals()] == ["missing_scope"]
    assert any("answering a DM failed" in r.getMessage() for r in caplog.records)


async def test_a_dm_that_mentions_the_bot_runs_once_if_slack_sends_both_events(
    slack: Harness, db: Database
) -> None:
    """Should Slack deliver a DM mentioning the bot as `message.im` and as `app_mention`
    (two event ids, one message), the message is claimed too: one task, one answer."""
    text = "<@UBOT> task add Twice"
    await slack.event(dm_event(text, event_id="EvDMBoth"))
    mention = dm_event(text, event_id="EvMentionBoth")
    mention["event"] = {**mention["event"], "type": "app_mention"}
    mention["event"].pop("channel_type")
    await slack.event(mention)
    assert titles(db) == ["Twice"]
    assert len(slack.fake.called("chat.postMessage")) == 1
