"""Standups by DM (`/standup config mode:dm`): each member is asked one to one, one
question at a time, at the standup's time in their own zone; plain DM messages are the
answers, of the standup of the channel that asked. Through the real endpoints (signed
Slack requests, encrypted Feishu events), the fake platform APIs and a clock under test."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.hub import Hub
from bot.scheduling import hub_sender
from schedules.engine import Engine
from storage.db import Database
from storage.models import Member, StandupConfig, StandupDm, StandupReport
from tests.chat import Chat
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import FeishuHarness, feishu_settings, message_event
from tests.feishu_support import running as feishu_running
from tests.slack_support import Harness, fixture_json, running, settings_for

pytestmark = pytest.mark.anyio

TUESDAY = date(2026, 11, 24)


def engine_with(adapter: Any, clock: Clock) -> Engine:
    hub = Hub()
    hub.register(adapter)
    router = adapter.core.router
    return Engine(db=router.db, catalog=router.catalog, send=hub_sender(hub), clock=clock)


def reports(db: Database) -> dict[str, tuple[int, str, str, str]]:
    """Each report by its author's platform id: (config, yesterday, today, blockers)."""
    with Session(db.engine) as session:
        rows = session.exec(select(StandupReport, Member).where(
            StandupReport.member_id == Member.id)).all()  # fmt: skip
        return {
            m.platform_user_id: (r.config_id, r.yesterday, r.today, r.blockers) for r, m in rows
        }


def config_id(db: Database) -> int:
    with Session(db.engine) as session:
        [config] = session.exec(select(StandupConfig)).all()
        assert config.id is not None
        return config.id


# -- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def slack_fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei", tz="Asia/Shanghai")
    server.add_user("W222", "ana", tz="Asia/Tokyo")
    server.add_user("W333", "ben", tz="Asia/Shanghai")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, slack_fake: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    async with running(settings_for(db_url, slack_fake), slack_fake, clock=clock) as harness:
        yield harness


def dm_event(user: str, text: str, *, n: int) -> dict[str, Any]:
    """Slack's message event from `user`'s DM with the bot (D + their id)."""
    payload = fixture_json("slack_message_event.json")
    payload["event"].update(
        {"text": text, "user": user, "channel": "D" + user[1:], "channel_type": "im",
         "ts": f"1764000000.{n:06d}"}
    )  # fmt: skip
    payload["event_id"] = f"EvDM{user}{n}"
    return payload


def posts(fake: FakeSlack) -> list[tuple[str, str]]:
    """(channel, first line of the text: the question of a DM) of each chat.postMessage
    since the last clear."""
    return [(p["channel"], p["text"].split(" — ")[0]) for p in fake.called("chat.postMessage")]


async def test_slack_dm_standup_asks_each_member_at_their_own_time_one_question_at_a_time(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """ana (Tokyo) is asked at 09:30 Tokyo, ben (Shanghai) at 09:30 Shanghai; ana's three
    plain DM answers make her report, posted in #general; ben, silent, is reminded with
    his open question, and the summary counts 1 of 2 with ben missing."""
    clock.now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # Tuesday 06:00 in Shanghai
    configured = await slack.slash(
        "/standup", "config time:09:30 tz:Asia/Shanghai cutoff:12:00 mode:dm post:each"
    )
    await slack.slash("/task", "add Ship the docs @me", user="W222")
    await slack.slash("/task", "add Fix the build @me", user="W333")
    assert "each member by DM" in json.dumps(configured.json())
    engine = engine_with(slack.slack, clock)
    slack.fake.calls.clear()

    clock.now = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo
    await engine.run_due()
    [(to, first)] = posts(slack.fake)
    assert (to, first) == ("W222", "What did you do yesterday?")
    [dm] = slack.fake.called("chat.postMessage")
    shown = json.dumps(dm["blocks"], ensure_ascii=False)
    assert "Standup of general for 2026-11-24 (Tue): 3 questions" in shown
    assert "Question 1 of 3" in shown

    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "wrote the docs", n=1))
    assert posts(slack.fake) == [("D222", "What will you do today?")]
    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "review them", n=2))
    assert posts(slack.fake) == [("D222", "Anything blocking you? (or none)")]
    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "none", n=3))
    sent = posts(slack.fake)
    assert (
        "D222",
        "Thanks! Your standup for 2026-11-24 (Tue) is saved and posted in general.",
    ) in sent
    assert ("C111", "Standup of @ana, 2026-11-24 (Tue)") in [
        (c, t.replace("<@W222>", "@ana")) for c, t in sent
    ]
    assert reports(db) == {"W222": (config_id(db), "wrote the docs", "review them", "none")}

    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    await engine.run_due()
    assert posts(slack.fake) == [("W333", "What did you do yesterday?")]

    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)  # 11:30: the reminder
    await engine.run_due()
    [reminder] = slack.fake.called("chat.postMessage")
    assert reminder["channel"] == "W333"
    assert reminder["text"].startswith("What did you do yesterday?")
    assert "closes at 12:00" in json.dumps(reminder["blocks"])

    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00: the summary
    await engine.run_due()
    [summary] = slack.fake.called("chat.postMessage")
    texts = json.dumps(summary["blocks"], ensure_ascii=False)
    assert summary["channel"] == "C111"
    assert "1 of 2 answered." in texts
    assert "Missing (1): *ben*" in texts


async def test_slack_a_command_in_the_dm_still_runs_and_standup_lands_in_the_asking_channel(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """With a question pending, `task list` in the DM runs as a command; `/standup y: …`
    typed in the DM is the report of #general's standup (not "this channel has no
    standup"), and nothing more is asked."""
    clock.now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:Asia/Shanghai cutoff:12:00 mode:dm")
    await slack.slash("/task", "add Ship the docs @me", user="W222")
    engine = engine_with(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    await engine.run_due()
    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "task list", n=1))
    [(to, text)] = posts(slack.fake)
    assert (to, text) == ("D222", "Open tasks (0)")  # the DM's own project
    response = await slack.slash(
        "/standup", "y: docs t: review b: none", user="W222", channel="D222",
        channel_name="directmessage",
    )  # fmt: skip
    assert "Saved your standup for 2026-11-24 (Tue)" in json.dumps(response.json())
    assert reports(db) == {"W222": (config_id(db), "docs", "review", "none")}
    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "task list", n=2))
    assert posts(slack.fake) == [("D222", "Open tasks (0)")]


async def test_slack_later_asks_again_in_half_an_hour_and_skip_counts_as_away(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """ "later" asks the same question again 30 minutes on; "skip" ends the day's
    questions and the summary counts the member away, not missing."""
    clock.now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:Asia/Shanghai cutoff:12:00 mode:dm")
    await slack.slash("/task", "add Ship the docs @me", user="W222")
    engine = engine_with(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    await engine.run_due()
    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "later", n=1))
    assert posts(slack.fake) == [("D222", "OK, I will ask again at 10:00.")]  # Tokyo time
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    await engine.run_due()
    [again] = slack.fake.called("chat.postMessage")
    assert again["channel"] == "W222"
    assert again["text"].startswith("What did you do yesterday?")
    assert "Asking again" in json.dumps(again["blocks"])
    slack.fake.calls.clear()
    await slack.event(dm_event("W222", "skip", n=2))
    assert posts(slack.fake) == [
        ("D222", "Skipped: you are counted away on 2026-11-24 (Tue), not missing.")
    ]
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    await engine.run_due()
    [summary] = slack.fake.called("chat.postMessage")
    texts = json.dumps(summary["blocks"], ensure_ascii=False)
    assert "Missing (0): nobody" in texts and "Away (1): *ana*" in texts


# -- Feishu --------------------------------------------------------------------------------


@pytest.fixture
def feishu_fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美", "ou_ana": "安娜", "ou_ben": "本"})
    yield server
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, feishu_fake: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    settings = feishu_settings(db_url, feishu_fake)
    async with feishu_running(settings, feishu_fake, clock=clock) as harness:
        yield harness


def p2p(sender: str, text: str) -> dict[str, Any]:
    """A one-to-one message to the bot (no mention needed)."""
    return message_event(
        text, chat_type="p2p", chat_id=f"oc_p2p_{sender}", sender=sender, with_bot=False
    )


async def test_feishu_dm_standup_asks_in_p2p_and_the_answers_land_in_the_group(
    feishu: FeishuHarness, db: Database, clock: Clock
) -> None:
    """On Feishu: ana (whose zone is Tokyo) is asked by a one-to-one message at 09:30
    Tokyo, ben (zone unknown: the standup's, Shanghai) at 09:30 Shanghai; ana's plain p2p
    answers make the group's report; ben is reminded; the summary has ben missing."""
    clock.now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    await feishu.callback(
        message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:12:00 mode:dm")
    )
    await feishu.callback(message_event("task add Ship the docs @me", sender="ou_ana"))
    await feishu.callback(message_event("task add Fix the build @me", sender="ou_ben"))
    # Feishu's message events carry no zone: ana's is known from her profile elsewhere.
    with Session(db.engine) as session:
        ana = session.exec(select(Member).where(Member.platform_user_id == "ou_ana")).one()
        ana.timezone = "Asia/Tokyo"
        session.add(ana)
        session.commit()
    engine = engine_with(feishu.feishu, clock)

    def texts_since(n: int) -> list[tuple[str, str]]:
        out = []
        for m in feishu.fake.sent()[n:]:
            content = m["content"]
            title = content.get("header", {}).get("title", {}).get("content", "")
            out.append((m["receive_id"], title or json.dumps(content, ensure_ascii=False)))
        return out

    n = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo
    await engine.run_due()
    assert texts_since(n) == [("ou_ana", "What did you do yesterday?")]
    for text, expected in [
        ("写了文档", "What will you do today?"),
        ("评审", "Anything blocking you? (or none)"),
    ]:
        n = len(feishu.fake.sent())
        await feishu.callback(p2p("ou_ana", text))
        await feishu.feishu.background.drain()
        assert texts_since(n) == [("oc_p2p_ou_ana", expected)]
    n = len(feishu.fake.sent())
    await feishu.callback(p2p("ou_ana", "无"))
    await feishu.feishu.background.drain()
    sent = dict(texts_since(n))
    assert sent["oc_group1"] == "Standup of @安娜, 2026-11-24 (Tue)"
    assert "is saved and posted in" in sent["oc_p2p_ou_ana"]
    assert reports(db) == {"ou_ana": (config_id(db), "写了文档", "评审", "无")}

    n = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    await engine.run_due()
    assert texts_since(n) == [("ou_ben", "What did you do yesterday?")]
    n = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    await engine.run_due()
    [(to, _)] = texts_since(n)
    assert to == "ou_ben"
    n = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    await engine.run_due()
    [summary] = feishu.fake.sent()[n:]
    shown = json.dumps(summary["content"], ensure_ascii=False)
    assert summary["receive_id"] == "oc_group1"
    assert "1 of 2 answered." in shown and "Missing (1)" in shown and "本" in shown


# -- the migration -------------------------------------------------------------------------


def test_migration_0010_keeps_existing_standups_in_their_channel(chat: Chat) -> None:
    """A standup set up before DM mode existed is, after the upgrade, a channel standup
    whose reports are posted each (the behaviour it had); no DM standup is open."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    migration = importlib.import_module("storage.migrations.versions.0010_standup_dm")
    chat.say("mei", "/standup config time:09:30 cutoff:10:30")
    command.downgrade(alembic_config(chat.db), migration.down_revision)
    with chat.db.engine.begin() as conn:
        assert conn.execute(text("SELECT at FROM standup_config")).all()
    command.upgrade(alembic_config(chat.db), migration.revision)
    command.upgrade(alembic_config(chat.db), "head")  # the models read the latest schema
    with Session(chat.db.engine) as session:
        [config] = session.exec(select(StandupConfig)).all()
        assert (config.mode, config.post) == ("channel", "each")
        assert session.exec(select(StandupDm)).all() == []


async def test_a_channel_standups_reminder_is_answered_in_the_dm_into_that_channel(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """Channel mode: the reminder DM opens the member's DM standup, so `/standup y: …`
    typed in the DM lands in #general's standup, not in a project of the DM's own; plain
    words there are not taken as an answer (no question was asked in words)."""
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # Tuesday 08:00 in Shanghai
    await slack.slash("/standup", "config time:09:30 tz:Asia/Shanghai cutoff:12:00")
    await slack.slash("/task", "add Fix the build @me", user="W333")
    engine = engine_with(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)  # 11:30: the reminder
    slack.fake.calls.clear()
    await engine.run_due()
    assert "W333" in [p["channel"] for p in slack.fake.called("chat.postMessage")]
    words = await slack.slash("/standup", "", user="W333", channel="D333", channel_name="")
    assert words.status_code == 200
    await slack.event(dm_event("W333", "thanks", n=1))
    assert reports(db) == {}
    await slack.slash("/standup", "y: fixed CI t: the build b: none", user="W333",
                      channel="D333", channel_name="directmessage")  # fmt: skip
    assert reports(db) == {"W333": (config_id(db), "fixed CI", "the build", "none")}


async def test_skip_today_pressed_in_a_reminder_dm_counts_in_the_asking_channel(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """The reminder DM's Skip today (the command `standup skip`, run in the DM) records the
    day away in #general's standup, where it used to find no standup in the DM."""
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:Asia/Shanghai cutoff:12:00")
    await slack.slash("/task", "add Fix the build @me", user="W333")
    engine = engine_with(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)  # 11:30: the reminder
    await engine.run_due()
    skipped = await slack.slash("/standup", "skip", user="W333", channel="D333",
                                channel_name="directmessage")  # fmt: skip
    assert "counted away" in skipped.json()["text"], skipped.json()["text"]
    status = await slack.slash("/standup", "status")
    assert "Away (1)" in json.dumps(status.json()), status.json()


async def test_slack_dm_standup_asks_the_teams_own_questions_in_order(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """DM mode with three questions of the team's own (the last the blocker question): they
    are asked one at a time, as written, and the answers are stored as the team's answers,
    the blocker's also as the report's blocker."""
    clock.now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:Asia/Shanghai cutoff:12:00 mode:dm")
    await slack.slash(
        "/standup", 'questions set "What did you ship?" | "What is next?" | !"Blocked by?"'
    )
    await slack.slash("/task", "add Ship the docs @me", user="W222")
    engine = engine_with(slack.slack, clock)
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo
    await engine.run_due()
    assert posts(slack.fake) == [("W222", "What did you ship?")]
    asked = []
    for n, answer in enumerate(["the parser", "the docs", "waiting for CI"], start=1):
        slack.fake.calls.clear()
        await slack.event(dm_event("W222", answer, n=n))
        asked.append(posts(slack.fake)[0][1])
    assert asked[:2] == ["What is next?", "Blocked by?"]
    with Session(db.engine) as session:
        [report] = session.exec(select(StandupReport)).all()
        assert (report.answers, report.blockers) == (
            ["the parser", "the docs", "waiting for CI"], "waiting for CI",
        )  # fmt: skip
