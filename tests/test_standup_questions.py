"""A team's own standup questions (`/standup questions`), answers by number, the blocker
question's answers as blockers; and "later" / "skip today" (commands, buttons and the
clock's DM 30 minutes later)."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from sqlmodel import Session, select

from commands.i18n import Catalog
from commands.standup import participation
from commands.types import Tone
from schedules.engine import Engine
from storage.db import Database
from storage.models import StandupConfig, StandupReport
from tests.chat import Chat
from tests.clock_support import Outbox, at
from tests.conftest import Clock

pytestmark = pytest.mark.anyio

CONFIG = "/standup config time:09:30 tz:Asia/Shanghai days:mon-fri cutoff:10:30"
DAY = date(2026, 11, 24)
OWN = '/standup questions set "What did you ship?" | "What is next?" | !"Blocked by?"'


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def engine(db: Database, catalog: Catalog, clock: Clock, outbox: Outbox) -> Engine:
    return Engine(db=db, catalog=catalog, send=outbox, clock=clock, name="t")


def _team(chat: Chat, clock: Clock) -> None:
    """mei (admin) sets the standup up at 08:00 Shanghai; ana and ben own open tasks."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", CONFIG)
    chat.say("mei", "/task add Importer @ana")
    chat.say("mei", "/task add Exporter @ben")


def _report(db: Database, name: str) -> StandupReport:
    from storage.models import Member

    with Session(db.engine) as session:
        return session.exec(
            select(StandupReport)
            .join(Member, Member.id == StandupReport.member_id)  # type: ignore[arg-type]
            .where(Member.display_name == name)
        ).one()


# -- questions -----------------------------------------------------------------------------


def test_questions_show_the_defaults_in_the_projects_language(chat: Chat, clock: Clock) -> None:
    """Until a team sets its own, `/standup questions` lists the three default questions
    in the catalog's words (Chinese in a Chinese project), the blocker one marked."""
    _team(chat, clock)
    shown = chat.say("ana", "/standup questions")
    assert shown.title.plain() == "This standup asks the default questions"
    assert [line.plain() for line in shown.lines] == [
        "1. What did you do yesterday?",
        "2. What will you do today?",
        "3. Anything blocking you? (or none) (the blocker question)",
    ]
    chat.say("mei", "/teambot language zh")
    assert [line.plain() for line in chat.say("ana", "/standup 问题").lines] == [
        "1. 昨天做了什么？",
        "2. 今天打算做什么？",
        "3. 有什么阻塞吗？（没有写 无）（阻塞问题）",
    ]


def test_admins_set_and_reset_questions_and_others_may_not(chat: Chat, clock: Clock) -> None:
    """`questions set` takes 1-5 questions separated by |, a leading ! for the blocker one;
    a member who is not an admin is refused; `reset` goes back to the defaults."""
    _team(chat, clock)
    refused = chat.say("ana", OWN)
    assert "admin" in refused.text().lower()
    saved = chat.say("mei", OWN)
    assert saved.title.plain() == (
        "This standup now asks 3 questions of its own; answers are given as /standup 1: … 2: …"
    )
    assert [line.plain() for line in saved.lines] == [
        "1. What did you ship?",
        "2. What is next?",
        "3. Blocked by? (the blocker question)",
    ]
    status = chat.say("ana", "/standup status").text()
    assert "Questions: What did you ship? · What is next? · Blocked by?" in status
    too_many = chat.say("mei", '/standup questions set "a" | "b" | "c" | "d" | "e" | "f"')
    assert too_many.title.plain().startswith("A standup asks 1 to 5 questions")
    two = chat.say("mei", '/standup questions set !"a" | !"b"')
    assert two.title.plain().startswith("Only one question can be the blocker question")
    reset = chat.say("mei", "/standup questions reset")
    assert reset.title.plain().startswith("This standup asks the default questions again")
    assert chat.say("ana", "/standup questions").lines[0].plain() == (
        "1. What did you do yesterday?"
    )


async def test_answers_by_number_keep_the_blocker_in_blockers_and_the_summary_in_order(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, db: Database
) -> None:
    """With the team's questions the prompt lists them and its form has one field each;
    answers `1: … 3: …` are stored by question, the blocker question's also as the
    report's blocker; the summary shows them in the questions' order and offers the
    blocker as a task, whose title is that answer."""
    _team(chat, clock)
    chat.say("mei", OWN)
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    [prompt] = outbox.take()
    assert [line.plain() for line in prompt.reply.lines[1:4]] == [
        "1. What did you ship?",
        "2. What is next?",
        "3. Blocked by? (the blocker question)",
    ]
    answer, later, skip = prompt.reply.buttons
    assert [(k, label.plain()) for k, label in answer.form] == [
        ("1", "What did you ship?"),
        ("2", "What is next?"),
        ("3", "Blocked by?"),
    ]
    assert (later.command, skip.command) == ("standup later", "standup skip")
    saved = chat.say("ana", '/standup 3: "waiting for T-2" 1: the parser')
    assert [(f.label.plain(), f.value.plain()) for f in saved.fields] == [
        ("What did you ship?", "the parser"),
        ("Blocked by?", "waiting for T-2"),
    ]
    chat.say("ana", "/standup 2: the importer")  # an edit: only question 2 changes
    report = _report(db, "ana")
    assert report.answers == ["the parser", "the importer", "waiting for T-2"]
    assert (report.yesterday, report.today, report.blockers) == ("", "", "waiting for T-2")
    refused = chat.say("ben", "/standup 4: nothing")
    assert refused.title.plain() == (
        "This standup asks 3 questions: there is no question 4. Nothing was saved."
    )
    chat.say("ben", "/standup 1: the exporter 2: more of it 3: none")
    await engine.run_due(at(clock, "2026-11-24T10:30:00+08:00"))
    [summary] = outbox.take()
    assert [item.plain() for item in summary.reply.items] == [
        "@ana — What did you ship?: the parser · What is next?: the importer"
        " · ⚠ Blocked by?: waiting for T-2",
        "@ben — What did you ship?: the exporter · What is next?: more of it",
    ]
    [button] = summary.reply.buttons
    made = chat.say("mei", "/" + button.command)
    assert "waiting for T-2" in made.text()
    assert chat.roles(3)["R"] == ["ana"]


def test_default_questions_still_take_y_t_b_and_numbers(chat: Chat, clock: Clock) -> None:
    """With the default questions the old `y: t: b:` keeps working, and `1: 2: 3:` means
    the same; nothing goes to `answers`."""
    _team(chat, clock)
    at(clock, "2026-11-24T09:35:00+08:00")
    chat.say("ana", "/standup y: wrote t: test b: none")
    chat.say("ana", "/standup 2: review")
    report = _report(chat.db, "ana")
    assert (report.yesterday, report.today, report.blockers, report.answers) == (
        "wrote",
        "review",
        "none",
        None,
    )


def test_migration_0012_keeps_standups_and_reports_on_the_default_questions(
    chat: Chat, clock: Clock
) -> None:
    """A standup and a report written at the previous revision come through the upgrade
    unchanged, asking and answering the default questions."""
    from alembic import command

    from storage.migrate import alembic_config

    migration = importlib.import_module("storage.migrations.versions.0012_questions")
    _team(chat, clock)
    at(clock, "2026-11-24T09:35:00+08:00")
    chat.say("ana", "/standup y: wrote t: test b: none")
    command.downgrade(alembic_config(chat.db), migration.down_revision)
    command.upgrade(alembic_config(chat.db), migration.revision)
    report = _report(chat.db, "ana")
    assert (report.yesterday, report.today, report.blockers, report.answers) == (
        "wrote",
        "test",
        "none",
        None,
    )
    with Session(chat.db.engine) as session:
        [config] = session.exec(select(StandupConfig)).all()
        assert config.questions is None
    assert chat.say("ana", "/standup questions").title.plain() == (
        "This standup asks the default questions"
    )


# -- later and skip ------------------------------------------------------------------------


async def test_later_asks_again_by_dm_once_in_30_minutes_and_not_after_the_cutoff(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """ana says "later" at 09:40: at 10:10 she gets one DM with the questions and the
    buttons, never twice; ben says it at 09:50 and answers at 10:00: no DM for him. At
    10:05 a "later" would come after the 10:30 cutoff: refused."""
    _team(chat, clock)
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    outbox.take()
    at(clock, "2026-11-24T09:40:00+08:00")
    assert chat.say("ana", "/standup later").title.plain() == "I'll ask you again by DM at 10:10."
    at(clock, "2026-11-24T09:50:00+08:00")
    chat.say("ben", "/standup 稍后")
    await engine.run_due(at(clock, "2026-11-24T10:00:00+08:00"))
    reminders = outbox.take()  # the day's reminder, to both: neither has answered
    assert [(p.user_id, p.reply.title.plain()[:9]) for p in reminders] == [
        ("ana", "Reminder:"),
        ("ben", "Reminder:"),
    ]
    assert [b.label.plain() for b in reminders[0].reply.buttons] == [
        "Answer",
        "Later",
        "Skip today",
    ]
    chat.say("ben", "/standup y: a t: b b: none")
    await engine.run_due(at(clock, "2026-11-24T10:09:59+08:00"))
    assert outbox.take() == []
    await engine.run_due(at(clock, "2026-11-24T10:10:00+08:00"))
    [dm] = outbox.take()
    assert (dm.user_id, dm.channel_id) == ("ana", "")
    assert dm.reply.title.plain() == (
        "You asked to answer later: your standup for 2026-11-24 (Tue) in general is open"
        " until 10:30."
    )
    assert [b.command for b in dm.reply.buttons] == ["standup", "standup later", "standup skip"]
    await engine.run_due(at(clock, "2026-11-24T10:25:00+08:00"))
    assert outbox.take() == []  # ben answered before his 10:20: nothing for him; ana once
    at(clock, "2026-11-24T10:05:00+08:00")
    refused = chat.say("ana", "/standup later")
    assert refused.title.plain().startswith("The standup closes at 10:30, within 30 minutes")
    # ben has answered: there is nothing to ask him later, and he is told so.
    answered = chat.say("ben", "/standup later")
    assert (answered.tone, answered.title.plain()) == (
        Tone.ERROR,
        "You have answered the standup of 2026-11-24 (Tue) already: there is nothing to ask"
        " you later. To change your answer, answer again.",
    )


async def test_skip_counts_as_away_in_the_summary_and_participation(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """ben skips today: the summary says 1 of 1 answered with ben away (not missing), he
    gets no reminder, and /kpi's participation is 100 %."""
    _team(chat, clock)
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    outbox.take()
    at(clock, "2026-11-24T09:35:00+08:00")
    assert chat.say("ben", "/standup skip").title.plain() == (
        "Skipped your standup for 2026-11-24 (Tue): you are counted away, not missing."
    )
    chat.say("ben", "/standup 跳过")  # twice is still one day away
    chat.say("ana", "/standup y: a t: b b: none")
    await engine.run_due(at(clock, "2026-11-24T10:00:00+08:00"))
    assert outbox.take() == []  # no reminder: ana answered, ben is away
    await engine.run_due(at(clock, "2026-11-24T10:30:00+08:00"))
    [summary] = outbox.take()
    lines = [line.plain() for line in summary.reply.lines]
    assert lines == ["1 of 1 answered.", "Missing (0): nobody", "Away (1): @ben"]
    status = chat.say("ana", "/standup status").text()
    assert "Missing (0): nobody" in status and "Away (1): @ben" in status
    with Session(chat.db.engine) as session:
        project_id = chat.project().id
        assert project_id is not None
        assert (
            participation(session, project_id=project_id, first=DAY, last=DAY, now=clock.now) == 1.0
        )


async def test_each_channels_prompt_lists_its_own_questions_in_one_round(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """Two channels whose prompts fall due in the same minute, in the same language, with
    different questions: each prompt lists its own (the fan-out renders a prompt once per
    wording, and the questions are part of the wording)."""
    at(clock, "2026-11-24T08:00:00+08:00")
    for channel, question in (("alpha", "What did alpha ship?"), ("beta", "What did beta ship?")):
        chat.say("mei", CONFIG, channel=channel)
        chat.say("mei", f'/standup questions set "{question}" | !"Blocked by?"', channel=channel)
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    prompts = {p.channel_id: p.reply.text() for p in outbox.take()}
    assert "What did alpha ship?" in prompts["alpha"] and "beta" not in prompts["alpha"]
    assert "What did beta ship?" in prompts["beta"] and "alpha" not in prompts["beta"]


def test_history_shows_the_answers_to_the_teams_own_questions(chat: Chat, clock: Clock) -> None:
    """`/standup history` of a standup with its own questions shows each answer beside its
    question (not empty yesterday/today columns)."""
    _team(chat, clock)
    chat.say("mei", OWN)
    chat.say("mei", "/standup members add @ana")
    at(clock, "2026-11-24T09:40:00+08:00")
    chat.say("ana", "/standup 1: the parser 3: waiting for T-1")
    at(clock, "2026-11-24T11:00:00+08:00")  # after the cutoff: the day counts
    [line] = [i.plain() for i in chat.say("ana", "/standup history days:1").items]
    assert line == (
        "2026-11-24 (Tue): What did you ship?: the parser · What is next?: — · "
        "⚠ Blocked by?: waiting for T-1"
    )
