"""/retro through the real HTTP endpoints: signed Slack slash commands and encrypted, signed
Feishu callbacks into the ASGI app; the exact payloads sent to the fake platform APIs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import Member, RaciAssignment, RetroNote, Task
from tests import feishu_support, slack_support
from tests.conftest import Clock
from tests.fake_feishu import EPHEMERAL, FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import FeishuHarness, card_event, feishu_settings, message_event
from tests.slack_support import Harness, button, fixture_json, section, settings_for
from tests.test_slack import click

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


async def test_slack_notes_go_by_modal_and_stay_private_until_reveal(
    slack: Harness, db: Database
) -> None:
    """A note button opens a modal; its submission adds the note as the presser, answered to
    them alone; a slash `add` is ephemeral too; nothing with a note's text reaches the
    channel before `/retro reveal`, which shows them all."""
    started = await retro(slack, "start Sprint 12 template:ssc", "W111")
    assert started["response_type"] == "in_channel"
    stop = {"command": "retro add stop", "title": "➕ Stop",
            "label": "Stop: your note (only you see it until the reveal)"}  # fmt: skip
    assert started["blocks"][-1] == {
        "type": "actions",
        "elements": [
            button("➕ Start", "tb:ask:retro_add_start", json.dumps(
                {**stop, "command": "retro add start", "title": "➕ Start",
                 "label": "Start: your note (only you see it until the reveal)"})),
            button("➕ Stop", "tb:ask:retro_add_stop", json.dumps(stop)),
            button("➕ Continue", "tb:ask:retro_add_continue", json.dumps(
                {**stop, "command": "retro add continue", "title": "➕ Continue",
                 "label": "Continue: your note (only you see it until the reveal)"})),
        ],
    }  # fmt: skip
    hook = f"{slack.fake.url}/response/note"
    await slack.interact(click(json.dumps(stop), action_id="tb:ask:retro_add_stop",
                               action_ts="5.1", user="W222", response_url=hook))  # fmt: skip
    [opened] = slack.fake.called("views.open")
    assert opened["view"]["title"] == {"type": "plain_text", "text": "➕ Stop"}
    submission = fixture_json("slack_view_submission.json")
    submission["user"]["id"] = "W222"
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": opened["view"]["private_metadata"],
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input",
                                                   "value": "the flaky tests"}}}},
    })  # fmt: skip
    assert (await slack.interact(submission)).status_code == 200
    assert slack.fake.responses == [("note", {
        "response_type": "ephemeral", "replace_original": False,
        "text": "Added your note #1 (stop): the flaky tests — Only you see it until the"
                " facilitator runs /retro reveal. Change it: /retro edit 1 &lt;text&gt; ·"
                " remove it: /retro delete 1",
        "blocks": [section("*Added your note #1 (stop): the flaky tests*"),
                   section("Only you see it until the facilitator runs /retro reveal. Change"
                           " it: /retro edit 1 &lt;text&gt; · remove it: /retro delete 1")],
    })]  # fmt: skip
    added = await retro(slack, "add continue weekly demos", "W333")
    assert (added["response_type"], added["text"].split(" — ")[0]) == (
        "ephemeral", "Added your note #2 (continue): weekly demos",
    )  # fmt: skip
    listed = await retro(slack, "list", "W111")
    assert "flaky" not in json.dumps(listed) and "demos" not in json.dumps(listed)
    assert not slack.fake.called("chat.postMessage")
    assert not slack.fake.called("chat.update")
    with Session(db.engine) as session:
        rows = session.exec(select(RetroNote.number, Member.platform_user_id)
                            .join(Member, col(Member.id) == RetroNote.author_id)).all()  # fmt: skip
    assert sorted(rows) == [(1, "W222"), (2, "W333")]
    revealed = await retro(slack, "reveal", "W111")
    assert revealed["response_type"] == "in_channel"
    assert revealed["blocks"][1] == section(
        "🛑 Stop (1)\n#1 the flaky tests · 0 votes · by *li*\n"
        "🔁 Continue (1)\n#2 weekly demos · 0 votes · by *zoe*"
    )


async def test_slack_actions_with_due_dates_become_tasks_and_come_back(
    slack: Harness, db: Database
) -> None:
    """Actions with owners and due dates become tasks at close (by mention: posted to the
    channel, the owner told by DM); the next retro opens with them and their status."""
    await retro(slack, "start Sprint 12", "W111")
    await retro(slack, "add improve flaky tests", "W222")
    action = await retro(slack, "action Fix the flaky tests <@W222|li> due:2026-11-27", "W333")
    assert action["text"] == (
        "@zoe added action #2: Fix the flaky tests · owner @li · due 2026-11-27 (Fri)"
    )
    await retro(slack, "reveal", "W111")
    await retro(slack, "vote 1", "W222")
    event = fixture_json("slack_app_mention.json")
    event["event"].update({"text": "<@UBOT> retro close", "user": "W111"})
    event["event_id"] = "EvClose"
    assert (await slack.event(event)).status_code == 200
    posts = slack.fake.called("chat.postMessage")
    [summary] = [p for p in posts if p["channel"] == "C111"]
    assert summary["blocks"] == [
        section("**mei* closed the retro “Sprint 12”: 1 note, 1 vote, most votes first*"),
        section(
            "#1 🔧 flaky tests · 1 vote · by *li*\n"
            "✅ Actions (1)\n"
            "#2 Fix the flaky tests · owner *li* · due 2026-11-27 (Fri) · by *zoe* → T-1\n"
            "Actions are now tasks, with *mei* accountable: T-1. The next retro starts with them."
        ),
    ]
    [dm] = [p for p in posts if p["channel"] == "W222"]
    assert dm["text"] == (
        "@mei put you on T-1: Fix the flaky tests — You are Responsible (R) for this task."
    )
    assert raci_rows(db) == [
        (1, "Fix the flaky tests", "A", "W111"),
        (1, "Fix the flaky tests", "R", "W222"),
    ]
    with Session(db.engine) as session:
        assert session.exec(select(Task.due)).one() == date(2026, 11, 27)
    nxt = await retro(slack, "start Sprint 13", "W111")
    assert nxt["blocks"][1]["text"]["text"].split("\n")[2:] == [
        "Actions from the last retro “Sprint 12”:",
        "T-1 Fix the flaky tests · *li* · due 2026-11-27 (Fri) · open",
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


async def test_feishu_anonymous_retro_never_shows_a_note_before_reveal(
    feishu: FeishuHarness, db: Database
) -> None:
    """An anonymous retro on Feishu: the start card carries a form per kind; a submitted
    form adds the note without an author (only a toast answers it); a typed note is
    acknowledged by an ephemeral card to its author; the group sees no note until the
    reveal; no note has an author in the database."""
    await say(feishu, "retro start Sprint 12 anon", "ou_mei")
    [started] = feishu.fake.sent()
    forms = [e for e in started["content"]["body"]["elements"] if e["tag"] == "form"]
    assert [f["name"] for f in forms] == ["form_retro_add_well", "form_retro_add_improve"]
    submit = forms[1]["elements"][1]
    assert submit["behaviors"] == [{"type": "callback", "value": {"command": "retro add improve"}}]
    pressed = await feishu.callback(
        card_event("retro add improve", operator="ou_li", answer="slow builds")
    )
    assert pressed.json() == {
        "toast": {
            "type": "info",
            "content": "Added your note #1 (to improve) anonymously: slow builds",
        }
    }
    await say(feishu, "retro add well fast reviews", "ou_zoe")
    ephemeral = feishu.fake.sent(EPHEMERAL)
    assert [(e["chat_id"], e["open_id"]) for e in ephemeral] == [("oc_group1", "ou_zoe")]
    assert ephemeral[0]["card"]["header"]["title"]["content"] == (
        "Added your note #2 (went well) anonymously: fast reviews"
    )
    await say(feishu, "retro list", "ou_mei")
    group = json.dumps(feishu.fake.sent(), ensure_ascii=False)
    assert "slow builds" not in group and "fast reviews" not in group
    with Session(db.engine) as session:
        authors = session.execute(text("SELECT author_id FROM retro_note ORDER BY number")).all()
    assert [a for (a,) in authors] == [None, None]
    await say(feishu, "retro reveal", "ou_mei", message_id="om_reveal")
    [revealed] = [m for m in feishu.fake.sent() if m.get("uuid") == "reply-om_reveal"]
    assert [e.get("content") for e in revealed["content"]["body"]["elements"]][:4] == [
        "👍 Went well (1)", "#2 fast reviews · 0 votes",
        "🔧 To improve (1)", "#1 slow builds · 0 votes",
    ]  # fmt: skip


async def test_feishu_actions_become_tasks_and_the_next_retro_shows_them(
    feishu: FeishuHarness, db: Database
) -> None:
    """Group messages run the retro; an action with a due date becomes a task with it; an
    ownerless action stops the close until it has an owner; the next retro lists them."""
    await say(feishu, "retro start Sprint 12", "ou_mei")
    await say(feishu, "retro action 修复测试 @_user_2 due:2026-11-27", "ou_zoe",
              mentions=[("ou_li", "李")])  # fmt: skip
    await say(feishu, "retro action 写运行手册", "ou_zoe")
    await say(feishu, "retro close", "ou_mei", message_id="om_refused")
    [refused] = feishu.fake.sent(EPHEMERAL)
    assert refused["card"]["header"]["title"]["content"].startswith(
        "The retro cannot close yet: an action has no owner"
    )
    await say(feishu, "retro assign 2 @_user_2", "ou_mei", mentions=[("ou_mei", "美")])
    await say(feishu, "retro close", "ou_mei", message_id="om_close")
    [close] = [m for m in feishu.fake.sent() if m.get("uuid") == "reply-om_close"]
    assert [e["content"] for e in close["content"]["body"]["elements"]] == [
        "✅ Actions (2)",
        "#1 修复测试 · owner **李** · due 2026-11-27 (Fri) · by **佐伊** → T-1",
        "#2 写运行手册 · owner **美** · by **佐伊** → T-2",
        "Actions are now tasks, with **美** accountable: T-1, T-2. The next retro starts with them.",
    ]
    assert raci_rows(db) == [
        (1, "修复测试", "A", "ou_mei"), (1, "修复测试", "R", "ou_li"),
        (2, "写运行手册", "A", "ou_mei"), (2, "写运行手册", "R", "ou_mei"),
    ]  # fmt: skip
    await say(feishu, "task done T-2", "ou_mei")
    await say(feishu, "retro start Sprint 13", "ou_mei", message_id="om_next")
    [nxt] = [m for m in feishu.fake.sent() if m.get("uuid") == "reply-om_next"]
    contents = [e.get("content") for e in nxt["content"]["body"]["elements"]]
    assert contents[2:5] == [
        "Actions from the last retro “Sprint 12”:",
        "T-1 修复测试 · **李** · due 2026-11-27 (Fri) · open",
        "T-2 写运行手册 · **美** · ✅ done",
    ]
