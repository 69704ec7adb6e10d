"""A standup's roster from the platform, through the real adapters and the strict fakes:
Slack's conversations.members (paged) with users.info leaving out bots and deactivated
people, Feishu's chat members (paged, no bots); refreshed daily by `bot.roster`, kept when
the platform refuses, and the summary's missing person follows it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from bot.roster import RosterKeeper
from storage.db import Database
from storage.models import Member, StandupRoster, StandupRosterMember
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import FeishuHarness, feishu_settings, message_event
from tests.feishu_support import running as feishu_running
from tests.slack_support import Harness, running, settings_for
from tests.test_standup_platforms import engine_with

pytestmark = pytest.mark.anyio


def listed(db: Database) -> list[str]:
    """The platform user ids on the stored list, sorted."""
    with Session(db.engine) as session:
        rows = session.exec(
            select(Member.platform_user_id)
            .join(StandupRosterMember, col(StandupRosterMember.member_id) == Member.id)
            .where(col(StandupRosterMember.listed))
        ).all()
        return sorted(rows)


def refreshed_at(db: Database) -> datetime | None:
    with Session(db.engine) as session:
        roster = session.exec(select(StandupRoster)).first()
        return roster.refreshed_at if roster is not None else None


# -- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def slack_fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    for user, name in [("W111", "mei"), ("W2", "ana"), ("W3", "li"), ("W4", "bo")]:
        server.add_user(user, name)
    server.add_user("UBOT", "teambot", is_bot=True)
    server.add_user("U9", "deploybot", is_bot=True)
    server.add_user("W5", "gone", deleted=True)
    server.members["C111"] = ["W111", "UBOT", "W2", "U9", "W3", "W5", "W4"]
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, slack_fake: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    async with running(settings_for(db_url, slack_fake), slack_fake, clock=clock) as harness:
        yield harness


async def test_slack_roster_is_the_channels_people_and_the_summary_follows_it(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """Seven members in pages of two: the bot itself, another bot and a deactivated person
    are left out, four remain; `/standup members` shows them; the summary counts 1 of 4
    and names the three who did not answer."""
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:UTC cutoff:10:30")
    keeper = RosterKeeper(db=db, hub=slack.slack.hub, clock=clock)
    slack.fake.calls.clear()
    assert await keeper.refresh_due() == 1
    pages = slack.fake.called("conversations.members")
    assert [(p["channel"], p.get("cursor")) for p in pages] == [
        ("C111", None), ("C111", "2"), ("C111", "4"), ("C111", "6"),
    ]  # fmt: skip
    assert sorted(u["user"] for u in slack.fake.called("users.info")) == [
        "U9", "W111", "W2", "W3", "W4", "W5",
    ]  # fmt: skip
    assert listed(db) == ["W111", "W2", "W3", "W4"]
    assert await keeper.refresh_due() == 0  # fresh for a day
    shown = (await slack.slash("/standup", "members")).json()
    assert shown["blocks"][0]["text"]["text"] == (
        "*Standup team (4): <@W2>, <@W4>, <@W3>, <@W111>*"
    )
    await slack.slash("/standup", "y: docs t: review b: none")
    engine = engine_with(slack.slack, clock)
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    await engine.run_due()
    slack.fake.calls.clear()
    clock.now = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    await engine.run_due()
    [summary] = slack.fake.called("chat.postMessage")
    texts = json.dumps(summary["blocks"], ensure_ascii=False)
    assert "1 of 4 answered.\\nMissing (3): *ana*, *bo*, *li*" in texts


async def test_slack_roster_is_kept_when_slack_refuses_and_refreshed_a_day_later(
    slack: Harness, db: Database, clock: Clock
) -> None:
    """Without channels:read the list fetched before stays (and is asked again after an
    hour, not every tick); with the scope back, a day later the list is fetched afresh
    and a person who left the channel leaves the team."""
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    await slack.slash("/standup", "config time:09:30 tz:UTC cutoff:10:30")
    keeper = RosterKeeper(db=db, hub=slack.slack.hub, clock=clock)
    assert await keeper.refresh_due() == 1
    first = refreshed_at(db)
    slack.fake.revoke("channels:read")
    slack.fake.members["C111"].remove("W4")
    clock.advance(days=1, minutes=1)
    assert await keeper.refresh_due() == 0
    [(method, refusal)] = slack.fake.take_refusals()
    assert (method, refusal.error) == ("conversations.members", "missing_scope")
    assert listed(db) == ["W111", "W2", "W3", "W4"] and refreshed_at(db) == first
    slack.fake.scopes.add("channels:read")
    clock.advance(minutes=30)
    assert await keeper.refresh_due() == 0  # a refusal is asked again after an hour
    clock.advance(minutes=31)
    assert await keeper.refresh_due() == 1
    assert listed(db) == ["W111", "W2", "W3"]


# -- Feishu --------------------------------------------------------------------------------


@pytest.fixture
def feishu_fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.chat_members["oc_group1"] = [
        ("ou_mei", "美", False), ("ou_bot2", "打卡机器人", True), ("ou_ana", "安娜", False),
        ("ou_li", "李", False), ("ou_bo", "博", False),
    ]  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, feishu_fake: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    settings = feishu_settings(db_url, feishu_fake)
    async with feishu_running(settings, feishu_fake, clock=clock) as harness:
        yield harness


async def test_feishu_roster_is_the_groups_people_and_the_summary_follows_it(
    feishu: FeishuHarness, db: Database, clock: Clock
) -> None:
    """The group's members in pages of two (the other bot is not listed): four people, with
    their names; the summary counts 1 of 4 and names the three who did not answer."""
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    await feishu.callback(message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:10:30"))
    keeper = RosterKeeper(db=db, hub=feishu.feishu.hub, clock=clock)
    assert await keeper.refresh_due() == 1
    pages = [c.query for c in feishu.fake.calls if c.path.endswith("/members")]
    assert [p.get("page_token") for p in pages] == [None, "2"]
    assert all(p["member_id_type"] == "open_id" for p in pages)
    assert listed(db) == ["ou_ana", "ou_bo", "ou_li", "ou_mei"]
    await feishu.callback(message_event("standup 昨天: 写文档 今天: 评审 阻塞: 无"))
    engine = engine_with(feishu.feishu, clock)
    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    await engine.run_due()
    before = len(feishu.fake.sent())
    clock.now = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    await engine.run_due()
    [summary] = feishu.fake.sent()[before:]
    text = json.dumps(summary["content"], ensure_ascii=False)
    assert '"1 of 4 answered."' in text
    assert '"Missing (3): **博**, **安娜**, **李**"' in text


async def test_feishu_without_the_permission_the_team_is_who_was_added(
    feishu: FeishuHarness, db: Database, clock: Clock
) -> None:
    """Without im:chat.members:read Feishu refuses (99991672): no list is stored, and the
    team is who an admin added by command."""
    feishu.fake.revoke("im:chat.members:read")
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    await feishu.callback(message_event("standup config time:09:30 tz:Asia/Shanghai cutoff:10:30"))
    keeper = RosterKeeper(db=db, hub=feishu.feishu.hub, clock=clock)
    assert await keeper.refresh_due() == 0
    assert len([c for c in feishu.fake.calls if c.path.endswith("/members")]) == 1
    assert refreshed_at(db) is None
    await feishu.callback(
        message_event("standup members add @_user_2", mentions=[("ou_ana", "安娜")])
    )
    assert listed(db) == []
    with Session(db.engine) as session:
        [added] = session.exec(select(StandupRosterMember)).all()
        assert (added.choice, session.get_one(Member, added.member_id).platform_user_id) == (
            "added", "ou_ana",
        )  # fmt: skip
    clock.now += timedelta(hours=2)
    assert await keeper.refresh_due() == 0
