"""/retro through the real HTTP endpoints: signed Slack slash commands and encrypted, signed
Feishu callbacks into the ASGI app; the exact payloads sent to the fake platform APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import Member, RaciAssignment, RetroNote, Task
from tests import feishu_support, slack_support
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import FeishuHarness, feishu_settings, md, message_event
from tests.slack_support import Harness, fixture_json, section, settings_for

pytestmark = pytest.mark.anyio


def raci_rows(db: Database) -> list[tuple[int, str, str, str]]:
    """(task number, task title, role, member's platform id) of every RACI assignment."""
    with Session(db.engine) as session:
        rows = session.exec(
            select(Task.number, Task.title, RaciAssignment.role, Member.platform_user_id)
            .join(Task, col(Task.id) == RaciAssignment.task_id)
            .join(Member, col(Member.id) == RaciAssignment.member_id)
        ).all()
    return sorted((n, t, r, m) for n, t, r, m in rows)


# -- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    server.add_user("W222", "li")
    server.add_user("W333", "zoe")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake_slack: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    settings = settings_for(db_url, fake_slack)
    async with slack_support.running(settings, fake_slack, clock=clock) as harness:
        yield harness


async def retro(slack: Harness, text: str, user: str) -> dict[str, Any]:
    response = await slack.slash("/retro", text, user=user)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_slack_retro_ends_with_tasks_and_a_posted_summary(
    slack: Harness, db: Database
) -> None:
    """Slash commands run the retro; closing by mention posts the summary and DMs the owner."""
    started = await retro(slack, "start Sprint 12", "W111")
    assert (started["response_type"], started["text"]) == (
        "in_channel",
        "@mei started the retro “Sprint 12” — Add notes: /retro add well|improve|idea|action"
        " &lt;text&gt; (an action may name its @owner) — Vote for what matters most:"
        " /retro vote &lt;n&gt;, 3 votes each · see the notes: /retro list · finish: /retro close",
    )
    added = await retro(slack, "add action Fix the flaky tests <@W222|li>", "W333")
    assert added == {
        "response_type": "in_channel",
        "text": "@zoe added #1 (action): Fix the flaky tests · owner @li",
        "blocks": [section("**zoe* added #1 (action): Fix the flaky tests · owner *li**")],
    }
    await retro(slack, "add improve flaky tests", "W222")
    await retro(slack, "add action Write a runbook", "W111")
    voted = await retro(slack, "vote 1", "W222")
    assert voted == {
        "response_type": "ephemeral",
        "text": "You voted for #1: Fix the flaky tests. Votes left: 2 of 3.",
        "blocks": [section("*You voted for #1: Fix the flaky tests. Votes left: 2 of 3.*")],
    }
    await retro(slack, "vote 1", "W333")
    await retro(slack, "vote 2", "W111")
    event = fixture_json("slack_app_mention.json")
    event["event"].update({"text": "<@UBOT> retro close", "user": "W111"})
    event["event_id"] = "EvClose"
    assert (await slack.event(event)).status_code == 200

    posts = slack.fake.called("chat.postMessage")
    [summary] = [p for p in posts if p["channel"] == "C111"]
    assert summary == {
        "channel": "C111",
        "text": "@mei closed the retro “Sprint 12”: 3 notes, 3 votes — 🔧 To improve (1)"
        " — #2 flaky tests · 1 vote · by @li",
        "blocks": [
            section("**mei* closed the retro “Sprint 12”: 3 notes, 3 votes*"),
            section(
                "🔧 To improve (1)\n"
                "#2 flaky tests · 1 vote · by *li*\n"
                "✅ Actions (2)\n"
                "#1 Fix the flaky tests · 2 votes · owner *li* · by *zoe* → T-1\n"
                "#3 Write a runbook · 0 votes · by *mei* → T-2\n"
                "Action items are now tasks, with *mei* accountable: T-1, T-2"
            ),
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }
    [dm] = [p for p in posts if p["channel"] == "W222"]
    assert dm == {
        "channel": "W222",
        "text": "@mei put you on T-1: Fix the flaky tests — You are Responsible (R) for this task.",
        "blocks": [
            section("*<@W111> put you on T-1: Fix the flaky tests*"),
            section("You are Responsible (R) for this task."),
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }
    assert len(posts) == 2  # the summary and the one DM, nothing else
    assert raci_rows(db) == [
        (1, "Fix the flaky tests", "A", "W111"),
        (1, "Fix the flaky tests", "R", "W222"),
        (2, "Write a runbook", "A", "W111"),
    ]


# -- Feishu --------------------------------------------------------------------------------


@pytest.fixture
def fake_feishu() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美", "ou_li": "李", "ou_zoe": "佐伊"})
    yield server
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, fake_feishu: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    settings = feishu_settings(db_url, fake_feishu)
    async with feishu_support.running(settings, fake_feishu, clock=clock) as harness:
        yield harness


async def say(
    feishu: FeishuHarness, text: str, sender: str, *, mentions: list[tuple[str, str]] = (),
    message_id: str | None = None,
) -> None:  # fmt: skip
    event = message_event(text, sender=sender, mentions=mentions, message_id=message_id)
    response = await feishu.callback(event)
    assert (response.status_code, response.json()) == (200, {"msg": "success"})


def summary_card(title: str, lines: list[str]) -> dict[str, Any]:
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": title}},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": "green"},
        "body": {"elements": [md(line) for line in lines]},
    }


async def test_feishu_retro_ends_with_tasks_and_a_posted_summary(
    feishu: FeishuHarness, db: Database
) -> None:
    """Group messages run the retro; the close summary card goes to the group, a DM to the owner."""
    await say(feishu, "retro start Sprint 12", "ou_mei")
    await say(feishu, "retro add well 评审很及时", "ou_li")
    await say(feishu, "retro add action 修复测试 @_user_2", "ou_zoe", mentions=[("ou_li", "李")])
    await say(feishu, "retro vote 2", "ou_li")
    await say(feishu, "retro close", "ou_mei", message_id="om_close")

    sent = feishu.fake.sent()
    [close] = [m for m in sent if m.get("uuid") == "reply-om_close"]
    assert close == {
        "query": {"receive_id_type": "chat_id"},
        "receive_id": "oc_group1",
        "msg_type": "interactive",
        "uuid": "reply-om_close",
        "content": summary_card(
            "@美 closed the retro “Sprint 12”: 2 notes, 1 vote",
            [
                "👍 Went well (1)",
                "#1 评审很及时 · 0 votes · by **李**",
                "✅ Actions (1)",
                "#2 修复测试 · 1 vote · owner **李** · by **佐伊** → T-1",
                "Action items are now tasks, with **美** accountable: T-1",
            ],
        ),
    }
    [dm] = [m for m in sent if m["query"] == {"receive_id_type": "open_id"}]
    assert len(dm.pop("uuid")) == 40  # the hub's key for this DM (tests/test_feishu_edge.py)
    assert dm == {
        "query": {"receive_id_type": "open_id"},
        "receive_id": "ou_li",
        "msg_type": "interactive",
        "content": {
            "schema": "2.0",
            "config": {
                "update_multi": True,
                "summary": {"content": "@美 put you on T-1: 修复测试"},
            },
            "header": {
                "title": {"tag": "plain_text", "content": "@美 put you on T-1: 修复测试"},
                "template": "blue",
            },
            "body": {"elements": [md("You are Responsible (R) for this task.")]},
        },
    }
    assert raci_rows(db) == [(1, "修复测试", "A", "ou_mei"), (1, "修复测试", "R", "ou_li")]


async def test_feishu_anonymous_retro_keeps_no_author(feishu: FeishuHarness, db: Database) -> None:
    """Anonymous notes: no author in the database, confirmed only to the author, never shown."""
    await say(feishu, "retro start Sprint 12 anon", "ou_mei")
    await say(feishu, "retro add action Fix CI @_user_2", "ou_li", mentions=[("ou_mei", "美")])
    await say(feishu, "retro add improve slow builds", "ou_zoe")
    group_before_close = [m["content"]["header"]["title"]["content"] for m in feishu.fake.sent()]
    assert group_before_close == ["@美 started the retro “Sprint 12”"]
    ephemeral = feishu.fake.sent("/open-apis/ephemeral/v1/send")
    assert [(e["chat_id"], e["open_id"]) for e in ephemeral] == [
        ("oc_group1", "ou_li"),
        ("oc_group1", "ou_zoe"),
    ]
    assert ephemeral[1]["card"]["header"]["title"]["content"] == (
        "Added #2 (to improve) anonymously: slow builds. Nobody can see that you wrote it."
    )
    await say(feishu, "retro close", "ou_mei", message_id="om_close")

    with Session(db.engine) as session:
        authors = session.execute(text("SELECT author_id FROM retro_note ORDER BY number")).all()
        owners = session.exec(select(RetroNote.owner_id).order_by(col(RetroNote.number))).all()
    assert [a for (a,) in authors] == [None, None]
    assert owners[0] is not None and owners[1] is None
    [close] = [m for m in feishu.fake.sent() if m.get("uuid") == "reply-om_close"]
    assert close["content"] == summary_card(
        "@美 closed the retro “Sprint 12”: 2 notes, 0 votes",
        [
            "🔧 To improve (1)",
            "#2 slow builds · 0 votes",
            "✅ Actions (1)",
            "#1 Fix CI · 0 votes · owner **美** → T-1",
            "Action items are now tasks, with **美** accountable: T-1",
        ],
    )
    assert raci_rows(db) == [(1, "Fix CI", "A", "ou_mei"), (1, "Fix CI", "R", "ou_mei")]
