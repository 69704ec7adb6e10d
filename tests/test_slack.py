"""Slack contract tests: signed requests into the real ASGI app, a fake Slack Web API out.

Each test asserts the exact JSON teambot sends to Slack (the ack body, chat.postMessage,
chat.postEphemeral, chat.update, views.open, users.info, response_url) and the database.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from storage.db import Database
from storage.models import Task, TaskEvent
from tests.chat import snapshot
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


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    server.add_user("W222", "li", locale="zh-CN", tz="Asia/Shanghai")
    server.add_user("W333", "zoe")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack, clock: Clock) -> Any:
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        yield harness


def block_button(key: str) -> dict[str, Any]:
    value = json.dumps({"command": f"task block {key}", "title": "Block", "label": "reason"})
    return button("Block", "tb:ask:task_block", value, "danger")


def tasks(db: Database) -> list[Task]:
    with Session(db.engine) as session:
        return list(session.exec(select(Task).order_by(Task.number)).all())  # type: ignore[arg-type]


def mention_event(text: str, *, event_id: str = "Ev111", user: str = "W111") -> dict[str, Any]:
    payload = fixture_json("slack_app_mention.json")
    payload["event"].update({"text": text, "user": user})
    payload["event_id"] = event_id
    return payload


def click(value: str, *, action_id: str, action_ts: str, user: str = "W111", ts: str = "111.222",
          ephemeral: bool = False, response_url: str = "") -> dict[str, Any]:  # fmt: skip
    payload = fixture_json("slack_block_actions.json")
    payload["user"]["id"] = user
    payload["container"].update({"message_ts": ts, "is_ephemeral": ephemeral})
    payload["response_url"] = response_url
    payload["actions"][0].update({"action_id": action_id, "value": value, "action_ts": action_ts})
    return payload


# -- slash commands ---------------------------------------------------------------------


async def test_slash_command_answers_in_the_ack_with_block_kit(
    slack: Harness, db: Database
) -> None:
    """A change is answered in the ack body, in the channel, with buttons; the assignee gets a DM."""
    response = await slack.slash("/task", "add Write the SRS <@W222|li> due:tomorrow prio:high")
    assert response.status_code == 200
    assert response.json() == {
        "text": "Created T-1: Write the SRS",
        "response_type": "in_channel",
        "blocks": [
            section("*Created T-1: Write the SRS*"),
            fields(("Status", "to do"), ("Priority", "high"), ("Due", "2026-11-24 (Tue)"),
                   ("R · Responsible", "*li*")),
            {"type": "actions", "elements": [
                button("Start", "tb:task_start", "task start T-1", "primary"),
                button("Done", "tb:task_done", "task done T-1", "primary"),
                block_button("T-1"),
            ]},
        ],
    }  # fmt: skip
    assert [(t.number, t.title, t.priority) for t in tasks(db)] == [(1, "Write the SRS", "high")]
    assert slack.fake.called("users.info") == [{"user": "W111", "include_locale": "1"}]
    assert slack.fake.called("chat.postMessage") == [{
        "channel": "W222",
        "text": "@mei put you on T-1: Write the SRS — You are Responsible (R) for this task.",
        "blocks": [section("*<@W111> put you on T-1: Write the SRS*"),
                   section("You are Responsible (R) for this task.")],
        "unfurl_links": False,
        "unfurl_media": False,
    }]  # fmt: skip


async def test_lists_and_errors_are_ephemeral(slack: Harness, db: Database) -> None:
    """What only the caller needs (lists, mistakes) is ephemeral, and mistakes change nothing."""
    await slack.slash("/task", "add One")
    listed = (await slack.slash("/task", "list")).json()
    assert listed["response_type"] == "ephemeral"
    assert listed["blocks"] == [section("*Open tasks (1)*"), section("• T-1 One · to do")]
    before = snapshot(db)
    error = (await slack.slash("/task", "done T-9")).json()
    assert error == {
        "text": "There is no task T-9 in this project.",
        "response_type": "ephemeral",
        "blocks": [section(":x: *There is no task T-9 in this project.*")],
    }
    assert snapshot(db) == before


async def test_member_locale_answers_in_chinese_and_profiles_are_cached(slack: Harness) -> None:
    """A zh-CN member gets Chinese while the project has no language; users.info is asked once."""
    first = (await slack.slash("/task", "list", user="W222")).json()
    assert first["blocks"][0] == section("*未完成的任务（0）*")
    await slack.slash("/task", "list", user="W222")
    assert slack.fake.called("users.info") == [{"user": "W222", "include_locale": "1"}]


async def test_umbrella_commands_and_the_export_summary(slack: Harness) -> None:
    """/teambot task … is /task …; /teambot export answers the admin alone, with counts and
    the server command (no file is posted)."""
    added = (await slack.slash("/teambot", "task add Via umbrella")).json()
    assert added["blocks"][0] == section("*Created T-1: Via umbrella*")
    exported = (await slack.slash("/teambot", "export csv")).json()
    labels = ("Tasks", "Milestones", "RACI roles", "Standup reports", "Retros", "Retro notes",
              "KPI targets")  # fmt: skip
    assert exported == {
        "text": "Export of general",
        "response_type": "ephemeral",
        "blocks": [
            section("*Export of general*"),
            fields(*zip(labels, ("1", "0", "0", "0", "0", "0", "0"), strict=True)),
            *({"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}
              for text in (
                "teambot does not send the files in chat, where everyone in the channel could "
                "read them. On the server, run:",
                "teambot export --format csv --project-id 1",
                "It writes one CSV file per table (UTF-8 with a BOM, so Excel shows Chinese "
                "correctly).",
            )),
        ],
    }  # fmt: skip
    assert [c.method for c in slack.fake.calls if c.method.startswith("files.")] == []


# -- request verification ------------------------------------------------------------------


async def test_forged_signature_is_refused_and_changes_nothing(
    slack: Harness, db: Database
) -> None:
    """A request signed with another secret gets 401; no task, no Slack call (but the
    start-up's auth.test)."""
    before = snapshot(db)
    response = await slack.slash("/task", "add Forged", secret="not-the-secret")
    assert response.status_code == 401
    assert snapshot(db) == before
    assert [c.method for c in slack.fake.calls] == ["auth.test"]


async def test_stale_timestamp_is_refused_and_changes_nothing(slack: Harness, db: Database) -> None:
    """A correctly signed request older than five minutes is a replay: 401."""
    before = snapshot(db)
    response = await slack.slash("/task", "add Old", timestamp=int(time.time()) - 600)
    assert response.status_code == 401
    assert snapshot(db) == before


async def test_url_verification_echoes_the_challenge(slack: Harness) -> None:
    """Slack's URL check is answered with its challenge."""
    response = await slack.event(fixture_json("slack_url_verification.json"))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# -- mentions ----------------------------------------------------------------------------------


async def test_app_mention_runs_the_command_and_posts_to_the_channel(
    slack: Harness, db: Database
) -> None:
    """`@teambot task add …` in a channel: acked, then the reply is posted to the channel."""
    response = await slack.event(mention_event("<@UBOT> task add Deploy <@W333>"))
    assert response.status_code == 200
    assert [t.title for t in tasks(db)] == ["Deploy"]
    posts = slack.fake.called("chat.postMessage")
    assert posts[0] == {
        "channel": "C111",
        "text": "Created T-1: Deploy",
        "blocks": [
            section("*Created T-1: Deploy*"),
            fields(("Status", "to do"), ("Priority", "medium"), ("Due", "not set"),
                   ("R · Responsible", "*zoe*")),
            {"type": "actions", "elements": [
                button("Start", "tb:task_start", "task start T-1", "primary"),
                button("Done", "tb:task_done", "task done T-1", "primary"),
                block_button("T-1"),
            ]},
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }  # fmt: skip
    assert posts[1]["channel"] == "W333"  # the assignee's DM


async def test_replayed_event_does_nothing_twice(slack: Harness, db: Database) -> None:
    """Slack's retry of an event (same event_id, X-Slack-Retry-Num) creates and posts nothing."""
    await slack.event(mention_event("<@UBOT> task add Once"))
    posted = len(slack.fake.calls)
    retry = await slack.event(
        mention_event("<@UBOT> task add Once"),
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    assert [t.title for t in tasks(db)] == ["Once"]
    assert len(slack.fake.calls) == posted


async def test_ephemeral_reply_to_a_mention(slack: Harness) -> None:
    """A list asked for by mention is shown only to the asker (chat.postEphemeral)."""
    await slack.event(mention_event("<@UBOT> task list", event_id="EvList"))
    assert slack.fake.called("chat.postEphemeral") == [{
        "channel": "C111", "user": "W111", "text": "Open tasks (0)",
        "blocks": [section("*Open tasks (0)*"),
                   {"type": "context", "elements": [{"type": "mrkdwn", "verbatim": True,
                    "text": "No tasks here yet. Add one: /task add &lt;title&gt;"}]}],
    }]  # fmt: skip


# -- buttons and forms -----------------------------------------------------------------------------


async def test_button_press_updates_the_message_in_place(slack: Harness, db: Database) -> None:
    """Pressing Done runs `task done` as the presser and replaces the card with chat.update."""
    await slack.slash("/task", "add Ship it")
    await slack.slash("/raci", "T-1 A <@W111|mei> I <@W333|zoe>")
    slack.fake.calls.clear()
    response = await slack.interact(
        click("task done T-1", action_id="tb:task_done", action_ts="1.1")
    )
    assert response.status_code == 200
    assert tasks(db)[0].status == "done"
    assert slack.fake.called("chat.update") == [{
        "channel": "C111", "ts": "111.222", "text": "@mei finished T-1: Ship it ✓",
        "blocks": [
            section("**mei* finished T-1: Ship it ✓*"),
            fields(("Status", "done"), ("Priority", "medium"), ("Due", "not set"),
                   ("R · Responsible", "—"), ("A · Accountable", "*mei*")),
            {"type": "actions", "elements": [button("Reopen", "tb:task_reopen", "task reopen T-1")]},
        ],
    }]  # fmt: skip
    assert [c["channel"] for c in slack.fake.called("chat.postMessage")] == ["W333"]


async def test_double_click_changes_nothing_twice(slack: Harness, db: Database) -> None:
    """A second click on Done says so to the presser only; one status change, one DM."""
    await slack.slash("/task", "add Click me")
    await slack.slash("/raci", "T-1 I <@W333|zoe>")
    slack.fake.calls.clear()
    url = f"{slack.fake.url}/response/click"
    await slack.interact(
        click("task done T-1", action_id="tb:task_done", action_ts="2.1", response_url=url)
    )
    before = snapshot(db)
    await slack.interact(
        click("task done T-1", action_id="tb:task_done", action_ts="2.2", response_url=url)
    )
    assert snapshot(db) == before
    assert len(slack.fake.called("chat.update")) == 1
    assert [c["channel"] for c in slack.fake.called("chat.postMessage")] == ["W333"]
    assert slack.fake.responses == [("click", {
        "response_type": "ephemeral", "replace_original": False,
        "text": "T-1 is already done; nothing was changed.",
        "blocks": [section(":x: *T-1 is already done; nothing was changed.*")],
    })]  # fmt: skip
    with Session(db.engine) as session:
        statuses = session.exec(select(TaskEvent).where(TaskEvent.kind == "status")).all()
    assert len(statuses) == 1


async def test_same_click_delivered_twice_is_processed_once(slack: Harness, db: Database) -> None:
    """The very same interaction payload twice (a redelivery) is dropped the second time."""
    await slack.slash("/task", "add Again")
    payload = click("task start T-1", action_id="tb:task_start", action_ts="3.1")
    await slack.interact(payload)
    calls = len(slack.fake.calls)
    before = snapshot(db)
    await slack.interact(copy.deepcopy(payload))
    assert snapshot(db) == before
    assert len(slack.fake.calls) == calls


async def test_block_button_asks_for_a_reason_in_a_form(slack: Harness, db: Database) -> None:
    """Block opens a modal; submitting it blocks the task with the reason and updates the card."""
    await slack.slash("/task", "add Needs keys")
    slack.fake.calls.clear()
    value = json.dumps({"command": "task block T-1", "title": "Block", "label": "reason"})
    await slack.interact(click(value, action_id="tb:ask:task_block", action_ts="4.1",
                               response_url=f"{slack.fake.url}/response/ask"))  # fmt: skip
    [opened] = slack.fake.called("views.open")
    meta = {"command": "task block T-1", "channel": "C111", "ts": "111.222", "ephemeral": False,
            "response_url": f"{slack.fake.url}/response/ask"}  # fmt: skip
    assert opened["view"] == {
        "type": "modal", "callback_id": "tb:ask", "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": "Block"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": "answer",
                    "label": {"type": "plain_text", "text": "reason"},
                    "element": {"type": "plain_text_input", "action_id": "answer", "max_length": 500}}],
    }  # fmt: skip
    assert opened["trigger_id"] == "111.222.valid"
    submission = fixture_json("slack_view_submission.json")
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": json.dumps(meta),
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input",
                                                   "value": "waiting for <!here> keys"}}}},
    })  # fmt: skip
    response = await slack.interact(submission)
    assert response.status_code == 200
    task = tasks(db)[0]
    assert (task.status, task.blocked_reason) == ("blocked", "waiting for <!here> keys")
    [update] = slack.fake.called("chat.update")
    assert (
        update["blocks"][1]["fields"][-1]["text"] == "*Blocked by*\nwaiting for &lt;!here&gt; keys"
    )


async def test_edit_title_button_opens_a_form_and_renames_the_task(
    slack: Harness, db: Database
) -> None:
    """`/task show`'s Edit title opens a modal; its answer becomes the title, spaces and all."""
    await slack.slash("/task", "add Tpyo in title")
    shown = (await slack.slash("/task", "show T-1")).json()
    value = json.dumps({"command": "task edit T-1 title:", "title": "Edit title",
                        "label": "new title"})  # fmt: skip
    assert shown["blocks"][-1]["elements"][-1] == button(
        "Edit title", "tb:ask:task_edit_title", value
    )
    await slack.interact(click(value, action_id="tb:ask:task_edit_title", action_ts="4.2"))
    [opened] = slack.fake.called("views.open")
    assert opened["view"]["title"] == {"type": "plain_text", "text": "Edit title"}
    submission = fixture_json("slack_view_submission.json")
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": opened["view"]["private_metadata"],
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input",
                                                   "value": "Typo fixed in title"}}}},
    })  # fmt: skip
    assert (await slack.interact(submission)).status_code == 200
    assert tasks(db)[0].title == "Typo fixed in title"


# -- safety of what is shown -------------------------------------------------------------------


async def test_hostile_title_is_shown_literally_and_pings_nobody(
    slack: Harness, db: Database
) -> None:
    """`<!channel> ping <@U123> & <b>` typed as a title stays text: escaped, never a control sequence."""
    # Slack escapes what people type: the literal characters arrive as entities.
    typed = "add &lt;!channel&gt; ping &lt;@U123&gt; &amp; &lt;b&gt;"
    reply = (await slack.slash("/task", typed)).json()
    assert tasks(db)[0].title == "<!channel> ping <@U123> & <b>"
    assert reply["text"] == "Created T-1: &lt;!channel&gt; ping &lt;@U123&gt; &amp; &lt;b&gt;"
    assert reply["blocks"][0] == section(
        "*Created T-1: &lt;!channel&gt; ping &lt;@U123&gt; &amp; &lt;b&gt;*"
    )
    await slack.event(mention_event("<@UBOT> task list"))
    everything = json.dumps([reply, *[c.args for c in slack.fake.calls]])
    assert "<!" not in everything and "<@U123" not in everything


async def test_a_broadcast_in_a_command_is_kept_as_text(slack: Harness, db: Database) -> None:
    """A real `<!here>` in a comment becomes the words "@here", shown escaped, pinging nobody."""
    await slack.slash("/task", "add Talk")
    reply = (await slack.slash("/task", "comment T-1 <!here> look")).json()
    assert reply["blocks"][1] == section("@here look")


# -- the Web API's limits and errors ------------------------------------------------------------------


async def test_rate_limited_post_is_retried_after_retry_after(slack: Harness, db: Database) -> None:
    """A 429 with Retry-After: 1 on the first post is waited out; the message arrives once."""
    slack.fake.fail_next("chat.postMessage", Failure(429, {"ok": False, "error": "ratelimited"},
                                                     {"Retry-After": "1"}))  # fmt: skip
    started = time.monotonic()
    await slack.event(mention_event("<@UBOT> task add Patient"))
    assert time.monotonic() - started >= 1.0
    posts = slack.fake.called("chat.postMessage")
    assert len(posts) == 2 and posts[0] == posts[1]  # the refused call and its one retry
    assert [t.title for t in tasks(db)] == ["Patient"]


async def test_platform_error_is_logged_and_nothing_breaks(
    slack: Harness, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """chat.postMessage failing (channel_not_found) is logged with its code; the command stands."""
    slack.fake.fail_next(
        "chat.postMessage", Failure(200, {"ok": False, "error": "channel_not_found"})
    )
    response = await slack.event(mention_event("<@UBOT> task add Lost reply"))
    assert response.status_code == 200
    assert [t.title for t in tasks(db)] == ["Lost reply"]
    assert any("channel_not_found" in r.getMessage() for r in caplog.records)


async def test_unknown_user_profile_still_works(slack: Harness, db: Database) -> None:
    """users.info failing (user_not_found) leaves the member nameless, not the command failed."""
    reply = (await slack.slash("/task", "add From a stranger", user="W999")).json()
    assert reply["blocks"][0] == section("*Created T-1: From a stranger*")


async def test_healthz_checks_the_database(slack: Harness) -> None:
    """/healthz answers 200 when the database answers."""
    response = await slack.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


async def test_a_block_reason_that_starts_with_a_key_blocks_only_the_pressed_task(
    slack: Harness, db: Database
) -> None:
    """The form's answer is the reason, whatever it holds: `T-2 must land first` blocks T-1
    only (the answer travels as one quoted word)."""
    await slack.slash("/task", "add First")
    await slack.slash("/task", "add Second")
    meta = {"command": "task block T-1", "channel": "C111", "ts": "111.222", "ephemeral": False,
            "response_url": f"{slack.fake.url}/response/ask"}  # fmt: skip
    submission = fixture_json("slack_view_submission.json")
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": json.dumps(meta),
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input",
                                                   "value": "T-2 must land first"}}}},
    })  # fmt: skip
    assert (await slack.interact(submission)).status_code == 200
    first, second = tasks(db)
    assert (first.status, first.blocked_reason) == ("blocked", "T-2 must land first")
    assert second.status == "todo"
