"""A standup's roster: the team is the channel's member list when there is one, adjusted by
`/standup members add|remove`; without a list, the people added, else the old guess. The
summary's "missing", the reminders and /kpi's participation follow it."""

from __future__ import annotations

import importlib
from datetime import datetime

import pytest
from sqlmodel import Session, select

from commands.standup_roster import store_platform_list
from schedules.engine import Engine
from storage.db import Database
from storage.models import StandupConfig, StandupRosterMember, Workspace
from tests.chat import Chat
from tests.clock_support import Outbox, at
from tests.conftest import Clock

pytestmark = pytest.mark.anyio

CONFIG = "standup config time:09:30 tz:Asia/Shanghai days:mon-fri cutoff:10:30"


def lines(reply: object) -> list[str]:
    return [reply.title.plain(), *(line.plain() for line in reply.lines)]  # type: ignore[attr-defined]


def listed(db: Database, people: list[tuple[str, str]], *, when: datetime) -> None:
    """The platform's member list of the channel, as the refresher stores it."""
    with Session(db.engine) as session:
        config = session.exec(select(StandupConfig)).one()
        workspace = session.exec(select(Workspace)).one()
        assert config.id is not None
        store_platform_list(
            session,
            config_id=config.id,
            workspace=workspace,
            people=[(user, name, None, None) for user, name in people],
            now=when,
        )
        session.commit()


def test_without_a_list_the_roster_is_the_guess_until_someone_is_added(
    chat: Chat, clock: Clock
) -> None:
    """No platform list (the console): bare `members` says the team is guessed; after `add`
    it is exactly the people added, and `remove` takes one out."""
    at(clock, "2026-11-23T08:00:00+08:00")
    chat.say("mei", CONFIG)
    chat.say("mei", "task add Ship it @ana")
    assert lines(chat.say("li", "standup members")) == [
        "Standup team (1): @ana",
        "No member list yet: guessed from who answered in the last 30 days or holds R or A"
        " of an open task. Set it with /standup members add @user…",
    ]
    chat.say("li", "task list")  # li and bob are known to teambot
    chat.say("bob", "task list")
    added = chat.say("mei", "standup members add @li @bob @mei")
    assert lines(added) == [
        "Added to the standup team: @li, @bob, @mei",
        "Standup team (3): @bob, @li, @mei",
        "The people added with /standup members add (this channel has no member list from"
        " its platform).",
        "Added by command: @bob, @li, @mei",
    ]
    assert added.tone.value == "success"
    removed = chat.say("mei", "standup members remove @bob")
    assert lines(removed)[:2] == [
        "Removed from the standup team: @bob",
        "Standup team (2): @li, @mei",
    ]
    assert lines(removed)[-1] == "Removed by command (never counted): @bob"
    assert chat.say("mei", "standup members add @bob").tone.value == "success"
    assert lines(chat.say("mei", "standup members"))[0] == "Standup team (3): @bob, @li, @mei"


def test_only_admins_change_the_roster_and_mistakes_change_nothing(
    chat: Chat, clock: Clock
) -> None:
    """A member who is not an admin may look but not change; a verb without people, or an
    unknown verb, is refused with the usage; no standup: said, not refused."""
    assert lines(chat.say("mei", "standup members"))[0] == "This channel has no standup yet."
    chat.say("mei", CONFIG)
    refused = chat.say("li", "standup members add @li")
    assert refused.tone.value == "error"
    assert chat.say("mei", "standup members add").title.plain() == (
        "Name the people: /standup members add @mei @li, or /standup members remove @bob."
    )
    assert chat.say("mei", "standup members invite @li").tone.value == "error"
    with Session(chat.db.engine) as session:
        assert session.exec(select(StandupRosterMember)).all() == []


async def test_the_platform_list_is_the_team_and_the_summary_follows_it(
    chat: Chat, clock: Clock, db: Database, catalog: object
) -> None:
    """The channel's list (four people) is the team: someone on it who never answered is
    missing, someone not on it is not counted; a person removed by command stays out after
    the next refresh, a person added stays in; a refresh that drops someone drops them."""
    at(clock, "2026-11-23T08:00:00+08:00")
    chat.say("mei", CONFIG)
    chat.say("mei", "task add Ship it @zed")  # the old guess would count zed
    listed(db, [("ana", "ana"), ("li", "li"), ("mei", "mei"), ("new", "new")],
           when=clock.now)  # fmt: skip
    chat.say("mei", "standup members remove @li")
    chat.say("wu", "task list")
    chat.say("mei", "standup members add @wu")
    shown = lines(chat.say("ana", "standup members"))
    assert shown[:2] == [
        "Standup team (4): @ana, @mei, @new, @wu",
        "From the channel's members on Console (bots and deactivated people left out),"
        " refreshed daily, last at 2026-11-23 08:00 (Asia/Shanghai).",
    ]
    listed(db, [("ana", "ana"), ("li", "li"), ("mei", "mei"), ("new", "new")],
           when=clock.now)  # fmt: skip
    outbox = Outbox()
    engine = Engine(db=db, catalog=catalog, send=outbox, clock=clock, name="t")  # type: ignore[arg-type]
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    outbox.take()
    chat.say("ana", "standup y: docs t: review b: none")
    await engine.run_due(at(clock, "2026-11-24T10:00:00+08:00"))
    assert sorted(p.user_id for p in outbox.take()) == ["mei", "new", "wu"]  # reminders
    chat.say("mei", "standup t: plan")
    await engine.run_due(at(clock, "2026-11-24T10:30:00+08:00"))
    [summary] = outbox.take()
    assert [line.plain() for line in summary.reply.lines][:2] == [
        "2 of 4 answered.",
        "Missing (2): @new, @wu",
    ]
    listed(db, [("ana", "ana"), ("mei", "mei")], when=clock.now)
    assert lines(chat.say("ana", "standup members"))[0] == "Standup team (3): @ana, @mei, @wu"


def test_migration_0011_adds_an_empty_roster_and_keeps_the_standups(chat: Chat) -> None:
    """A database at the revision before the roster keeps its standup and reports on upgrade;
    the standup has no roster, so its team is still the old guess."""
    from alembic import command

    from storage.migrate import alembic_config

    roster_migration = importlib.import_module("storage.migrations.versions.0011_roster")
    chat.say("mei", "standup config time:09:30 cutoff:10:30")
    chat.say("mei", "task add Ship it @ana")
    command.downgrade(alembic_config(chat.db), roster_migration.down_revision)
    command.upgrade(alembic_config(chat.db), roster_migration.revision)
    command.upgrade(alembic_config(chat.db), "head")  # the models read the latest schema
    with Session(chat.db.engine) as session:
        assert len(session.exec(select(StandupConfig)).all()) == 1
        assert session.exec(select(StandupRosterMember)).all() == []
    assert lines(chat.say("mei", "standup members"))[0] == "Standup team (1): @ana"


def test_history_shows_each_day_and_the_report_counts_participation_and_streaks(
    chat: Chat, clock: Clock
) -> None:
    """Three work days of a three-person roster: history lists each day (answer, missed,
    away), newest first; the report gives answered ÷ expected (leave not expected) and the
    streak of answers (leave does not break it)."""
    at(clock, "2026-11-23T08:00:00+08:00")
    chat.say("mei", CONFIG)
    for who in ("ana", "li"):
        chat.say(who, "task list")
    chat.say("mei", "standup members add @ana @li @mei")
    at(clock, "2026-11-23T09:40:00+08:00")
    chat.say("ana", "standup t: a1")
    chat.say("li", "standup y: setup t: tests b: CI is red")
    at(clock, "2026-11-24T09:40:00+08:00")
    chat.say("ana", "standup t: a2")
    chat.say("mei", "standup t: m2")
    chat.say("li", "standup away 2026-11-25")
    at(clock, "2026-11-25T09:40:00+08:00")
    chat.say("ana", "standup t: a3")
    chat.say("mei", "standup t: m3")
    before_cutoff = chat.say("ana", "standup history @li")
    assert before_cutoff.title.plain() == "Standup history of @li, last 14 days"
    assert len(before_cutoff.items) == 2  # today's summary is not out yet: Mon and Tue
    at(clock, "2026-11-25T11:00:00+08:00")
    history = chat.say("mei", "standup history @li days:7")
    assert history.title.plain() == "Standup history of @li, last 7 days"
    assert [i.plain() for i in history.items] == [
        "2026-11-25 (Wed): away",
        "2026-11-24 (Tue): missed",
        "2026-11-23 (Mon): yesterday: setup · today: tests · blockers: CI is red",
    ]
    assert [i.plain() for i in chat.say("mei", "standup history").items] == [
        "2026-11-25 (Wed): yesterday: — · today: m3",
        "2026-11-24 (Tue): yesterday: — · today: m2",
        "2026-11-23 (Mon): missed",
    ]
    report = chat.say("li", "standup report")
    assert report.title.plain() == "Standup participation, last 7 days"
    assert [i.plain() for i in report.items] == [
        "@ana: 100% (3 of 3 days) · streak 3",
        "@li: 50% (1 of 2 days) · streak 0",
        "@mei: 67% (2 of 3 days) · streak 2",
    ]
    assert chat.say("li", "standup report period:month").title.plain() == (
        "Standup participation, last 30 days"
    )
    assert chat.say("li", "standup report period:year").title.plain() == (
        "“year” is not a period: use period:week or period:month."
    )
    assert chat.say("li", "standup history days:0").title.plain() == (
        "“0” is not a number of days: use 1 to 92, like days:30."
    )
