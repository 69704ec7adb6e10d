"""A standup through the real endpoints: the clock posts the prompt through the platform
adapter (fake Slack / Feishu API), a person answers with the prompt's button and its form,
and the summary at the cutoff shows the answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.hub import Hub
from bot.scheduling import hub_sender
from schedules.engine import Engine
from storage.db import Database
from storage.models import StandupReport
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import FeishuHarness, card_event, feishu_settings, message_event
from tests.feishu_support import running as feishu_running
from tests.slack_support import Harness, fixture_json, running, settings_for

pytestmark = pytest.mark.anyio


def reports(db: Database) -> list[tuple[str, str, str]]:
    with Session(db.engine) as session:
        rows = session.exec(select(StandupReport)).all()
        return [(r.yesterday, r.today, r.blockers) for r in rows]


def engine_with(adapter: Any, clock: Clock) -> Engine:
    hub = Hub()
    hub.register(adapter)
    router = adapter.core.router
    return Engine(db=router.db, catalog=router.catalog, send=hub_sender(hub), clock=clock)


# -- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def slack_fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, slack_fake: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    async with running(settings_for(db_url, slack_fake), slack_fake, clock=clock) as harness:
        yield harness


async def test_slack_prompt_button_opens_a_form_and_the_answer_reaches_the_summary(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """09:30 UTC: the prompt is posted with an Answer button; the button opens a modal;
    its submission saves the report; at 10:30 the summary lists it in the channel."""
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    configured = await slack.slash("/standup", "config time:09:30 tz:UTC cutoff:10:30")
    assert configured.json()["blocks"][0]["text"]["text"] == "*Standup scheduled for this channel*"
    engine = engine_with(slack.slack, clock)
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    await engine.run_due()
    [prompt] = slack.fake.called("chat.postMessage")
    assert prompt["channel"] == "C111"
    assert prompt["blocks"][0]["text"]["text"] == "*Standup time, 2026-11-24 (Tue)*"
    button, later, skip = prompt["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in (button, later, skip)] == ["Answer", "Later", "Skip today"]
    click = fixture_json("slack_block_actions.json")
    click["user"]["id"] = "W111"
    click["container"].update({"message_ts": "111.222", "is_ephemeral": False})
    click["actions"][0].update(
        {"action_id": button["action_id"], "value": button["value"], "action_ts": "5.1"}
    )
    await slack.interact(click)
    [opened] = slack.fake.called("views.open")
    meta = opened["view"]["private_metadata"]
    assert json.loads(meta)["command"] == "standup"
    assert [b["label"]["text"] for b in opened["view"]["blocks"]] == [
        "What did you do yesterday?", "What will you do today?", "Anything blocking you? (or none)"
    ]  # fmt: skip
    submission = fixture_json("slack_view_submission.json")
    submission["user"]["id"] = "W111"
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": meta,
        "state": {"values": {
            f"answer_{n}": {"answer": {"type": "plain_text_input", "value": value}}
            for n, value in enumerate(("wrote docs", "review", "none"), start=1)
        }},
    })  # fmt: skip
    assert (await slack.interact(submission)).status_code == 200
    assert reports(db) == [("wrote docs", "review", "none")]
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    await engine.run_due()
    [summary] = slack.fake.called("chat.postMessage")
    texts = json.dumps(summary["blocks"], ensure_ascii=False)
    assert "Standup summary, 2026-11-24 (Tue)" in summary["blocks"][0]["text"]["text"]
    assert "1 of 1 answered." in texts and "today: review" in texts


# -- Feishu --------------------------------------------------------------------------------


@pytest.fixture
def feishu_fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美"})
    yield server
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, feishu_fake: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    settings = feishu_settings(db_url, feishu_fake)
    async with feishu_running(settings, feishu_fake, clock=clock) as harness:
        yield harness


async def test_feishu_prompt_card_has_a_form_whose_submission_is_the_answer(
    feishu: FeishuHarness, db: Database, clock: Clock
) -> None:
    """The prompt card carries a form; submitting it (card.action.trigger with the form
    value) saves the report, in Chinese labels too."""
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    await feishu.callback(
        message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:10:30 calendar:cn")
    )
    engine = engine_with(feishu.feishu, clock)
    before = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    await engine.run_due()
    [prompt] = feishu.fake.sent()[before:]
    assert prompt["receive_id"] == "oc_group1"
    card = prompt["content"]
    assert card["header"]["title"]["content"] == "Standup time, 2026-11-24 (Tue)"
    [form] = [e for e in card["body"]["elements"] if e["tag"] == "form"]
    submit = next(e for e in form["elements"] if e["tag"] == "button")
    value = submit["behaviors"][0]["value"]
    assert value == {"command": "standup", "fields": ["y", "t", "b"]}
    inputs = [e for e in form["elements"] if e["tag"] == "input"]
    assert [(i["name"], i["label"]["content"]) for i in inputs] == [
        ("answer_1", "What did you do yesterday?"),
        ("answer_2", "What will you do today?"),
        ("answer_3", "Anything blocking you? (or none)"),
    ]
    event = card_event("standup", value=value)
    event["event"]["action"]["form_value"] = {
        "answer_1": "写文档", "answer_2": "评审", "answer_3": "无"
    }  # fmt: skip
    response = await feishu.callback(event)
    assert response.json()["toast"] == {
        "type": "info",
        "content": "Saved your standup for 2026-11-24 (Tue). You can change it until 10:30.",
    }
    assert reports(db) == [("写文档", "评审", "无")]
    # A card posted before its form had a field per question still answers in one line.
    response = await feishu.callback(card_event("standup", answer="t: 评审和合并"))
    assert reports(db) == [("写文档", "评审和合并", "无")]


# -- a team's own questions, later and skip ------------------------------------------------

OWN = 'questions set "What did you ship?" | "What is next?" | !"Blocked by?"'


async def test_slack_own_questions_prompt_form_and_later_button(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """With the team's questions the Slack prompt lists them; its form has one input per
    question and its submission stores the answers by question, the blocker one also as
    the blocker; the Later button (pressed in the channel by someone yet to answer) is
    acknowledged to the presser."""
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:UTC cutoff:10:30")
    saved = await slack.slash("/standup", OWN)
    assert "3 questions of its own" in saved.json()["blocks"][0]["text"]["text"]
    engine = engine_with(slack.slack, clock)
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    await engine.run_due()
    [prompt] = slack.fake.called("chat.postMessage")
    texts = json.dumps(prompt["blocks"], ensure_ascii=False)
    assert "1. What did you ship?" in texts and "3. Blocked by? (the blocker question)" in texts
    answer, later, _skip = prompt["blocks"][-1]["elements"]
    click = fixture_json("slack_block_actions.json")
    click["user"]["id"] = "W111"
    click["container"].update({"message_ts": "111.222", "is_ephemeral": False})
    click["actions"][0].update(
        {"action_id": answer["action_id"], "value": answer["value"], "action_ts": "5.1"}
    )
    await slack.interact(click)
    [opened] = slack.fake.called("views.open")
    assert [b["label"]["text"] for b in opened["view"]["blocks"]] == [
        "What did you ship?", "What is next?", "Blocked by?"
    ]  # fmt: skip
    submission = fixture_json("slack_view_submission.json")
    submission["user"]["id"] = "W111"
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": opened["view"]["private_metadata"],
        "state": {"values": {
            f"answer_{n}": {"answer": {"type": "plain_text_input", "value": value}}
            for n, value in enumerate(('the "parser"', "", "review of T-2"), start=1)
        }},
    })  # fmt: skip
    assert (await slack.interact(submission)).status_code == 200
    with Session(db.engine) as session:
        [report] = session.exec(select(StandupReport)).all()
        assert report.answers == ["the ”parser”", "", "review of T-2"]
        assert report.blockers == "review of T-2"
    slack.fake.calls.clear()
    press = fixture_json("slack_block_actions.json")
    press["user"]["id"] = "W222"  # someone who has not answered yet
    press["container"].update({"message_ts": "111.222", "is_ephemeral": False})
    press["actions"][0].update(
        {"action_id": later["action_id"], "value": later["value"], "action_ts": "6.1"}
    )
    press["response_url"] = f"{slack.fake.url}/response/later"
    clock.now = datetime(2026, 11, 24, 9, 40, tzinfo=UTC)
    assert (await slack.interact(press)).status_code == 200
    [(path, answered)] = slack.fake.responses
    assert path.endswith("later")
    assert "I'll ask you again by DM at 10:10." in json.dumps(answered["blocks"])


async def test_feishu_own_questions_form_has_a_field_each_and_skip_button_counts_away(
    feishu: FeishuHarness, db: Database, clock: Clock
) -> None:
    """On Feishu the prompt card's form has one labelled input per question of the team;
    its submission stores the answers; Skip today (a card button) makes the presser away."""
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    await feishu.callback(
        message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:10:30 calendar:cn")
    )
    await feishu.callback(message_event("standup " + OWN))
    engine = engine_with(feishu.feishu, clock)
    before = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    await engine.run_due()
    [prompt] = feishu.fake.sent()[before:]
    card = prompt["content"]
    [form] = [e for e in card["body"]["elements"] if e["tag"] == "form"]
    inputs = [e for e in form["elements"] if e["tag"] == "input"]
    assert [i["label"]["content"] for i in inputs] == [
        "What did you ship?", "What is next?", "Blocked by?"
    ]  # fmt: skip
    submit = next(e for e in form["elements"] if e["tag"] == "button")
    event = card_event("standup", value=submit["behaviors"][0]["value"])
    event["event"]["action"]["form_value"] = {
        "answer_1": "导出", "answer_2": "导入", "answer_3": "无"
    }  # fmt: skip
    await feishu.callback(event)
    with Session(db.engine) as session:
        [report] = session.exec(select(StandupReport)).all()
        assert (report.answers, report.blockers) == (["导出", "导入", "无"], "无")
    buttons = [
        b
        for e in card["body"]["elements"]
        if e["tag"] == "column_set"
        for column in e["columns"]
        for b in column["elements"]
    ]
    [skip] = [b for b in buttons if b["text"]["content"] == "Skip today"]
    response = await feishu.callback(
        card_event("", value=skip["behaviors"][0]["value"], operator="ou_li")
    )
    assert response.json()["toast"]["content"].startswith("Skipped your standup for 2026-11-24")
