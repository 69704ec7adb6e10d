"""/retro: retrospectives — text in, Reply and database state out."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from commands.retro import VOTES_PER_PERSON
from commands.router import Router
from commands.types import Mention, Reply, Tone, Val, Visibility
from storage.db import Database
from storage.models import Member, RaciAssignment, Retro, RetroNote, RetroVote, Task, TaskEvent
from tests.chat import Chat, snapshot
from tests.conftest import Clock


def retros(db: Database) -> list[Retro]:
    with Session(db.engine) as session:
        return list(session.exec(select(Retro).order_by(col(Retro.id))).all())


def notes(db: Database) -> list[RetroNote]:
    with Session(db.engine) as session:
        return list(
            session.exec(
                select(RetroNote).order_by(col(RetroNote.retro_id), col(RetroNote.number))
            ).all()
        )


def member_id(db: Database, name: str) -> int:
    with Session(db.engine) as session:
        found = session.exec(select(Member.id).where(Member.display_name == name)).one()
        assert found is not None
        return found


def raci_rows(db: Database) -> list[tuple[int, str, str]]:
    """(task number, role, member name) of every RACI assignment."""
    with Session(db.engine) as session:
        rows = session.exec(
            select(Task.number, RaciAssignment.role, Member.display_name)
            .join(Task, col(Task.id) == RaciAssignment.task_id)
            .join(Member, col(Member.id) == RaciAssignment.member_id)
        ).all()
    return sorted((n, r, m) for n, r, m in rows)


def error(reply: Reply) -> str:
    assert (reply.tone, reply.visibility) == (Tone.ERROR, Visibility.EPHEMERAL)
    return reply.title.plain()


def lines(reply: Reply) -> list[str]:
    return [line.plain() for line in reply.lines]


@pytest.fixture
def sprint(chat: Chat) -> Chat:
    """Mei (the project's first admin) runs retro “Sprint 12”: five notes, four votes."""
    chat.say("mei", "task add Warm up")
    chat.say("mei", "retro start Sprint 12")
    chat.say("ana", "retro add well fast reviews")
    chat.say("li", "retro add improve flaky tests")
    chat.say("ana", "retro add action Fix the flaky tests @li")
    chat.say("zoe", "retro add idea pair on releases")
    chat.say("mei", "retro add action Write a runbook")
    for who, number in [("ana", 2), ("li", 2), ("li", 3), ("zoe", 3)]:
        assert chat.say(who, f"retro vote {number}").tone is Tone.SUCCESS
    return chat


# -- start ---------------------------------------------------------------------------------


def test_start_announces_and_stores_facilitator(chat: Chat) -> None:
    """`start` makes the starter the facilitator of an open, named retro, announced to all."""
    reply = chat.say("mei", "retro start Sprint 12")
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.SUCCESS)
    assert reply.title.plain() == "@mei started the retro “Sprint 12”"
    assert lines(reply) == [
        "Add notes: /retro add well|improve|idea|action <text> (an action may name its @owner)",
        "Vote for what matters most: /retro vote <n>, 3 votes each · see the notes: /retro list"
        " · finish: /retro close",
    ]
    [retro] = retros(chat.db)
    assert (retro.title, retro.status, retro.anonymous, retro.facilitator_id) == (
        "Sprint 12",
        "open",
        False,
        member_id(chat.db, "mei"),
    )
    assert retro.created_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_start_anon_as_last_word_makes_it_anonymous(chat: Chat) -> None:
    """`anon` (or 匿名) as the last word makes the retro anonymous and says so."""
    reply = chat.say("mei", "retro start Sprint 12 anon")
    assert lines(reply)[0] == (
        "This retro is anonymous: notes are kept without their authors, "
        "so nobody can see who wrote what."
    )
    [retro] = retros(chat.db)
    assert (retro.title, retro.anonymous) == ("Sprint 12", True)


def test_default_title_is_the_date_in_the_projects_time_zone(chat: Chat, clock: Clock) -> None:
    """Without a title the retro is named after today's date where the project lives."""
    chat.say("mei", "teambot tz Asia/Shanghai")
    clock.advance(hours=14)  # 23:00 UTC is already Tuesday in Shanghai
    reply = chat.say("mei", "retro start 匿名")
    assert reply.title.plain() == "@mei started the retro “Retro 2026-11-24”"
    assert [(r.title, r.anonymous) for r in retros(chat.db)] == [("Retro 2026-11-24", True)]


def test_one_open_retro_per_project(chat: Chat) -> None:
    """A second `start` while one is open is refused; other projects and later retros may start."""
    chat.say("mei", "retro start Sprint 12")
    before = snapshot(chat.db)
    assert error(chat.say("ana", "retro start Sprint 13")) == (
        "A retro is already open in this project: “Sprint 12”. "
        "Add to it, or close it first with /retro close."
    )
    assert snapshot(chat.db) == before
    assert chat.say("ana", "retro start Ops", channel="ops").tone is Tone.SUCCESS
    chat.say("mei", "retro close")
    assert chat.say("ana", "retro start Sprint 13").tone is Tone.SUCCESS
    assert [(r.title, r.status) for r in retros(chat.db)] == [
        ("Sprint 12", "closed"),
        ("Ops", "open"),
        ("Sprint 13", "open"),
    ]


def test_title_too_long_is_refused(chat: Chat) -> None:
    """A title over 200 characters is an error and starts nothing."""
    assert error(chat.say("mei", "retro start " + "x" * 201)) == (
        "That text is too long (at most 200 characters)."
    )
    assert retros(chat.db) == []


def test_concurrent_starts_open_one_retro(router: Router) -> None:
    """Two `start`s at the same moment in one project: one opens the retro, the other is told."""
    chat = Chat(router)
    chat.say("mei", "task add Warm up")
    chat.say("ana", "task list")
    replies = _together(
        [lambda: chat.say("mei", "retro start A"), lambda: chat.say("ana", "retro start B")]
    )
    assert sorted(r.tone for r in replies) == [Tone.ERROR, Tone.SUCCESS]
    assert len(retros(chat.db)) == 1


def _together(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Run the calls in threads released at the same instant."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


# -- add -----------------------------------------------------------------------------------


def test_add_numbers_notes_and_announces_the_author(chat: Chat) -> None:
    """Notes are numbered 1, 2, 3 in their retro; in an open retro the channel sees who wrote it."""
    chat.say("mei", "retro start Sprint 12")
    first = chat.say("ana", "retro add well fast reviews")
    assert (first.visibility, first.tone) == (Visibility.CHANNEL, Tone.INFO)
    assert first.title.plain() == "@ana added #1 (went well): fast reviews"
    chat.say("li", "retro add improve flaky tests")
    action = chat.say("ana", "retro add action Fix the flaky tests @li")
    assert action.title.plain() == "@ana added #3 (action): Fix the flaky tests · owner @li"
    ana, li = member_id(chat.db, "ana"), member_id(chat.db, "li")
    assert [(n.number, n.kind, n.text, n.author_id, n.owner_id) for n in notes(chat.db)] == [
        (1, "well", "fast reviews", ana, None),
        (2, "improve", "flaky tests", li, None),
        (3, "action", "Fix the flaky tests", ana, li),
    ]


def test_numbers_start_again_in_the_next_retro(chat: Chat) -> None:
    """Each retro numbers its own notes from 1."""
    chat.say("mei", "retro start One")
    chat.say("mei", "retro add well a")
    chat.say("mei", "retro add well b")
    chat.say("mei", "retro close")
    chat.say("mei", "retro start Two")
    assert chat.say("mei", "retro add idea c").title.plain() == "@mei added #1 (idea): c"
    assert [(n.retro_id, n.number) for n in notes(chat.db)] == [(1, 1), (1, 2), (2, 1)]


def test_anonymous_retro_stores_and_shows_no_author(chat: Chat) -> None:
    """In an anonymous retro no note has an author in the database and no reply names one."""
    chat.say("mei", "retro start Sprint 12 anon")
    replies = [
        chat.say("ana", "retro add well fast reviews"),
        chat.say("li", "retro add action Fix the flaky tests @ana"),
        chat.say("zoe", "retro add improve flaky tests"),
    ]
    for reply in replies:
        assert (reply.visibility, reply.tone, reply.mirrors) == (
            Visibility.EPHEMERAL,
            Tone.SUCCESS,
            (),
        )
    assert [r.title.plain() for r in replies] == [
        "Added #1 (went well) anonymously: fast reviews. Nobody can see that you wrote it.",
        "Added #2 (action) anonymously: Fix the flaky tests · owner @ana."
        " Nobody can see that you wrote it.",
        "Added #3 (to improve) anonymously: flaky tests. Nobody can see that you wrote it.",
    ]
    with Session(chat.db.engine) as session:
        authored = session.execute(
            text("SELECT COUNT(*) FROM retro_note WHERE author_id IS NOT NULL")
        ).scalar_one()
        total = session.execute(text("SELECT COUNT(*) FROM retro_note")).scalar_one()
    assert (authored, total) == (0, 3)
    listed = chat.say("mei", "retro list")
    assert lines(listed) == [
        "👍 Went well (1)",
        "#1 fast reviews · 0 votes",
        "🔧 To improve (1)",
        "#3 flaky tests · 0 votes",
        "✅ Actions (1)",
        "#2 Fix the flaky tests · 0 votes · owner @ana",
    ]
    closed = chat.say("mei", "retro close")
    people = {
        span.name
        for reply in [*replies, listed, closed]
        for rich in (reply.title, *reply.lines, *reply.footer)
        for span in rich.spans
        if isinstance(span, Mention)
    }
    assert people == {"ana", "mei"}  # the owner and the facilitator, never an author
    assert "li" not in closed.text() and "zoe" not in closed.text()


def test_owner_only_on_action_notes_and_only_one(chat: Chat) -> None:
    """An @owner is for action notes only, and one at most; both mistakes change nothing."""
    chat.say("mei", "retro start Sprint 12")
    before = snapshot(chat.db)
    assert error(chat.say("ana", "retro add well thanks @li")) == (
        "Only an action note has an owner: use /retro add action <text> @owner, "
        "or write the name without @."
    )
    assert error(chat.say("ana", "retro add action Fix it @li @zoe")) == (
        "An action note has one owner: mention one person."
    )
    assert snapshot(chat.db) == before


def test_note_text_is_required_and_limited(chat: Chat) -> None:
    """An empty note or one over 200 characters is refused; 200 characters are fine."""
    chat.say("mei", "retro start Sprint 12")
    empty = chat.say("ana", "retro add idea")
    assert error(empty) == "The note is empty: write its text after the kind."
    assert lines(empty) == [
        "Usage: /retro add well|improve|idea|action <text> [@owner]",
        "Example: /retro add improve the flaky tests slowed us down",
    ]
    assert error(chat.say("ana", "retro add idea " + "x" * 201)) == (
        "That text is too long (at most 200 characters)."
    )
    assert chat.say("ana", "retro add idea " + "x" * 200).tone is Tone.INFO
    assert [len(n.text) for n in notes(chat.db)] == [200]


def test_unknown_or_missing_kind_lists_the_kinds(chat: Chat) -> None:
    """A kind that is not one, or none at all, gets the list of kinds."""
    chat.say("mei", "retro start Sprint 12")
    assert error(chat.say("ana", "retro add great demo")) == (
        "“great” is not a kind of note: use well, improve, idea or action."
    )
    assert error(chat.say("ana", "retro add")) == (
        "Say what kind of note it is: use well, improve, idea or action."
    )
    assert notes(chat.db) == []


# -- list ----------------------------------------------------------------------------------


def test_list_groups_notes_by_kind_with_votes_owner_and_author(sprint: Chat) -> None:
    """`list` is for the asker: notes by kind in number order, votes, owner, author, own votes."""
    reply = sprint.say("li", "retro list")
    assert (reply.visibility, reply.tone) == (Visibility.EPHEMERAL, Tone.INFO)
    assert reply.title.plain() == "Retro “Sprint 12” · facilitator @mei · 5 notes"
    assert lines(reply) == [
        "👍 Went well (1)",
        "#1 fast reviews · 0 votes · by @ana",
        "🔧 To improve (1)",
        "#2 flaky tests · 2 votes · by @li · ✓ your vote",
        "💡 Ideas (1)",
        "#4 pair on releases · 0 votes · by @zoe",
        "✅ Actions (2)",
        "#3 Fix the flaky tests · 2 votes · owner @li · by @ana · ✓ your vote",
        "#5 Write a runbook · 0 votes · by @mei",
    ]
    assert [f.plain() for f in reply.footer] == ["You have 1 of 3 votes left: /retro vote <n>"]


def test_list_of_an_empty_retro_says_how_to_add(chat: Chat) -> None:
    """A retro without notes lists nothing and says how to add one."""
    chat.say("mei", "retro start Sprint 12 anon")
    reply = chat.say("ana", "retro list")
    assert reply.title.plain() == "Retro “Sprint 12” · facilitator @mei · anonymous · 0 notes"
    assert reply.lines == ()
    assert [f.plain() for f in reply.footer] == [
        "No notes yet. Add one: /retro add well|improve|idea|action <text>"
    ]


def test_bare_retro_lists_and_a_kind_word_adds(chat: Chat) -> None:
    """`/retro` alone is `/retro list`; `/retro improve …` is `/retro add improve …`."""
    chat.say("mei", "retro start Sprint 12")
    assert chat.say("li", "/retro improve slow builds").title.plain() == (
        "@li added #1 (to improve): slow builds"
    )
    assert lines(chat.say("li", "/retro")) == [
        "🔧 To improve (1)",
        "#1 slow builds · 0 votes · by @li",
    ]
    assert error(chat.say("li", "/retro dance")) == "/retro has no “dance”."


# -- vote ----------------------------------------------------------------------------------


def test_vote_says_how_many_votes_are_left(sprint: Chat) -> None:
    """Each vote is private and tells the voter how many of their votes remain."""
    reply = sprint.say("mei", "retro vote 1")
    assert (reply.visibility, reply.tone) == (Visibility.EPHEMERAL, Tone.SUCCESS)
    assert reply.title.plain() == "You voted for #1: fast reviews. Votes left: 2 of 3."
    assert sprint.say("mei", "retro vote #4").title.plain() == (
        "You voted for #4: pair on releases. Votes left: 1 of 3."
    )
    assert sprint.say("mei", "retro vote 5").title.plain() == (
        "You voted for #5: Write a runbook. Votes left: 0 of 3."
    )
    assert [f.plain() for f in sprint.say("mei", "retro list").footer] == [
        "You have used all 3 of your votes."
    ]


def test_vote_limits_and_mistakes_change_nothing(sprint: Chat) -> None:
    """At most 3 votes a person, one per note; unknown or missing numbers are errors."""
    assert VOTES_PER_PERSON == 3
    for number in (1, 4):
        sprint.say("li", f"retro vote {number}")
    before = snapshot(sprint.db)
    assert error(sprint.say("li", "retro vote 5")) == (
        "You have used all 3 of your votes in this retro."
    )
    assert error(sprint.say("zoe", "retro vote 3")) == (
        "You have voted for #3 already: one vote per note."
    )
    assert error(sprint.say("zoe", "retro vote 9")) == (
        "There is no note #9 in this retro: its notes are #1 to #5."
    )
    assert error(sprint.say("zoe", "retro vote x")) == (
        "“x” is not a note number. Give its number from /retro list, like /retro vote 3."
    )
    assert error(sprint.say("zoe", "retro vote")) == (
        "Which note? Give its number from /retro list, like /retro vote 3."
    )
    assert error(sprint.say("zoe", "retro vote 0")) == (
        "“0” is not a note number. Give its number from /retro list, like /retro vote 3."
    )
    assert snapshot(sprint.db) == before
    with Session(sprint.db.engine) as session:
        li_votes = session.exec(
            select(RetroVote).where(RetroVote.voter_id == member_id(sprint.db, "li"))
        ).all()
    assert len(li_votes) == 3


def test_vote_in_a_retro_without_notes(chat: Chat) -> None:
    """Voting before any note exists says the retro has none yet."""
    chat.say("mei", "retro start Sprint 12")
    assert error(chat.say("mei", "retro vote 1")) == (
        "There is no note #1 in this retro: it has no notes yet."
    )


def test_concurrent_votes_never_exceed_the_limit(router: Router) -> None:
    """Four votes sent at once by one person: three are counted, the fourth is refused."""
    chat = Chat(router)
    chat.say("mei", "retro start Sprint 12")
    for n in range(4):
        chat.say("mei", f"retro add idea idea {n + 1}")
    replies = _together([lambda n=n: chat.say("ana", f"retro vote {n + 1}") for n in range(4)])
    assert sorted(r.tone for r in replies) == [Tone.ERROR] + [Tone.SUCCESS] * 3
    with Session(chat.db.engine) as session:
        assert len(session.exec(select(RetroVote)).all()) == 3


def test_linked_accounts_share_one_persons_votes(router: Router) -> None:
    """Linked accounts of one person share 3 votes, one per note, and the right to close."""
    slack = Chat(router, platform="slack", workspace="T1")
    feishu = Chat(router, platform="feishu", workspace="tenant1")
    channel_code = _code(slack.say("mei", "teambot link", channel="C1"))
    feishu.say("li", f"teambot link {channel_code}", channel="oc_1")
    person_code = _code(slack.say("ana", "teambot link me", channel="C1"))
    feishu.say("anna", f"teambot link me {person_code}", channel="oc_1")
    slack.say("ana", "retro start Sprint 12", channel="C1")
    for n in range(4):
        slack.say("mei", f"retro add idea idea {n + 1}", channel="C1")
    slack.say("ana", "retro vote 1", channel="C1")
    assert error(feishu.say("anna", "retro vote 1", channel="oc_1")) == (
        "You have voted for #1 already: one vote per note."
    )
    feishu.say("anna", "retro vote 2", channel="oc_1")
    assert (
        slack.say("ana", "retro vote 3", channel="C1").title.plain().endswith("Votes left: 0 of 3.")
    )
    assert error(feishu.say("anna", "retro vote 4", channel="oc_1")) == (
        "You have used all 3 of your votes in this retro."
    )
    assert error(feishu.say("zoe", "retro close", channel="oc_1")).startswith(
        "Only the retro's facilitator (@ana) or a project admin can close it."
    )
    assert feishu.say("anna", "retro close", channel="oc_1").tone is Tone.SUCCESS


def _code(reply: Reply) -> str:
    last = reply.title.spans[-1]
    assert isinstance(last, Val) and re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", last.text)
    return last.text


# -- close ---------------------------------------------------------------------------------


def test_close_posts_the_summary_by_kind_and_votes(sprint: Chat, clock: Clock) -> None:
    """`close` tells the channel: by kind, most votes first, actions with their new task keys."""
    clock.advance(hours=1)
    reply = sprint.say("mei", "retro close")
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.SUCCESS)
    assert reply.text() == "\n".join(
        [
            "@mei closed the retro “Sprint 12”: 5 notes, 4 votes",
            "👍 Went well (1)",
            "#1 fast reviews · 0 votes · by @ana",
            "🔧 To improve (1)",
            "#2 flaky tests · 2 votes · by @li",
            "💡 Ideas (1)",
            "#4 pair on releases · 0 votes · by @zoe",
            "✅ Actions (2)",
            "#3 Fix the flaky tests · 2 votes · owner @li · by @ana → T-2",
            "#5 Write a runbook · 0 votes · by @mei → T-3",
            "Action items are now tasks, with @mei accountable: T-2, T-3",
        ]
    )
    [retro] = retros(sprint.db)
    assert (retro.status, retro.closed_at) == ("closed", datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


def test_close_summary_orders_by_votes_then_number(chat: Chat) -> None:
    """Within a kind, the note with most votes comes first; equal votes keep their numbers."""
    chat.say("mei", "retro start Sprint 12")
    for n in range(3):
        chat.say("mei", f"retro add improve problem {n + 1}")
    chat.say("ana", "retro vote 3")
    chat.say("li", "retro vote 3")
    chat.say("li", "retro vote 2")
    assert lines(chat.say("mei", "retro close"))[:4] == [
        "🔧 To improve (3)",
        "#3 problem 3 · 2 votes · by @mei",
        "#2 problem 2 · 1 vote · by @mei",
        "#1 problem 1 · 0 votes · by @mei",
    ]


def test_close_summary_in_chinese(sprint: Chat) -> None:
    """After `/teambot lang zh` the close summary is worded in Simplified Chinese."""
    sprint.say("mei", "/teambot lang zh")
    reply = sprint.say("mei", "复盘 结束")
    assert reply.text() == "\n".join(
        [
            "@mei 结束了复盘“Sprint 12”：5 条记录，4 票",
            "👍 做得好（1）",
            "#1 fast reviews · 0 票 · 来自 @ana",
            "🔧 待改进（1）",
            "#2 flaky tests · 2 票 · 来自 @li",
            "💡 想法（1）",
            "#4 pair on releases · 0 票 · 来自 @zoe",
            "✅ 行动项（2）",
            "#3 Fix the flaky tests · 2 票 · 执行人 @li · 来自 @ana → T-2",
            "#5 Write a runbook · 0 票 · 来自 @mei → T-3",
            "行动项已转为任务，@mei 为负责人（A）：T-2、T-3",
        ]
    )
    assert [n.reply.text() for n in reply.notifications] == [
        "@mei 把你加入了 T-2：Fix the flaky tests\n你是此任务的执行人（R）。"
    ]


def test_close_turns_actions_into_tasks_with_owner_r_and_facilitator_a(sprint: Chat) -> None:
    """Each action note becomes a task as `/task add` makes it: R the owner, A the facilitator."""
    reply = sprint.say("mei", "retro close")
    mei, li = member_id(sprint.db, "mei"), member_id(sprint.db, "li")
    assert raci_rows(sprint.db) == [(2, "A", "mei"), (2, "R", "li"), (3, "A", "mei")]
    assert sprint.roles(2) == {"R": ["li"], "A": ["mei"], "C": [], "I": []}
    two, three = sprint.task(2), sprint.task(3)
    assert [(t.title, t.status, t.kind, t.priority, t.creator_id) for t in (two, three)] == [
        ("Fix the flaky tests", "todo", "task", "med", mei),
        ("Write a runbook", "todo", "task", "med", mei),
    ]
    assert sprint.project().next_task_number == 4
    assert [(n.number, n.task_id) for n in notes(sprint.db)] == [
        (1, None),
        (2, None),
        (3, two.id),
        (4, None),
        (5, three.id),
    ]
    with Session(sprint.db.engine) as session:
        events = session.exec(
            select(TaskEvent).where(col(TaskEvent.task_id).in_([two.id, three.id]))
        ).all()
    assert sorted((e.task_id, e.kind, e.actor_id, e.data) for e in events) == [
        (two.id, "created", mei, {"title": "Fix the flaky tests", "r": [li], "a": [mei],
                                  "retro": 1, "note": 3}),
        (three.id, "created", mei, {"title": "Write a runbook", "r": [], "a": [mei],
                                    "retro": 1, "note": 5}),
    ]  # fmt: skip
    assert [(n.platform_user_id, n.reason, n.reply.text()) for n in reply.notifications] == [
        ("li", "assignee", "@mei put you on T-2: Fix the flaky tests\n"
                           "You are Responsible (R) for this task."),
    ]  # fmt: skip
    shown = sprint.say("li", "task show T-2")
    assert {f.label.plain(): f.value.plain() for f in shown.fields}["A · Accountable"] == "@mei"


def test_owner_who_closes_gets_no_notice(chat: Chat) -> None:
    """Like `/task add`, the person closing is not notified of their own task."""
    chat.say("mei", "retro start Sprint 12")
    chat.say("mei", "retro add action Ship it @mei")
    reply = chat.say("mei", "retro close")
    assert reply.notifications == ()
    assert chat.roles(1) == {"R": ["mei"], "A": ["mei"], "C": [], "I": []}


def test_close_without_actions_makes_no_tasks(chat: Chat) -> None:
    """A retro with no action notes closes with a summary and no tasks."""
    chat.say("mei", "retro start Sprint 12")
    chat.say("ana", "retro add well calm week")
    reply = chat.say("mei", "retro close")
    assert lines(reply) == [
        "👍 Went well (1)",
        "#1 calm week · 0 votes · by @ana",
        "No action items, so no tasks were made.",
    ]
    assert reply.title.plain() == "@mei closed the retro “Sprint 12”: 1 note, 0 votes"
    with Session(chat.db.engine) as session:
        assert session.exec(select(Task)).all() == []


def test_only_the_facilitator_or_an_admin_may_close(chat: Chat) -> None:
    """Another member is refused (nothing changes); an admin who did not start it may close."""
    chat.say("mei", "task add Warm up")  # mei: the project's first admin
    chat.say("ana", "retro start Sprint 12")
    chat.say("ana", "retro add action Fix CI @li")
    before = snapshot(chat.db)
    denied = chat.say("li", "retro close")
    assert error(denied) == (
        "Only the retro's facilitator (@ana) or a project admin can close it. Nothing was changed."
    )
    assert lines(denied) == []
    assert snapshot(chat.db) == before
    reply = chat.say("mei", "retro close")
    assert reply.tone is Tone.SUCCESS
    assert chat.roles(2) == {"R": ["li"], "A": ["ana"], "C": [], "I": []}
    assert [(n.platform_user_id, n.reason) for n in reply.notifications] == [("li", "assignee")]


def test_facilitator_may_close_without_being_admin(chat: Chat) -> None:
    """The member who started the retro closes it though they administer nothing."""
    chat.say("mei", "task add Warm up")
    chat.say("ana", "retro start Sprint 12")
    assert chat.say("ana", "retro close").tone is Tone.SUCCESS


# -- no open retro ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["retro add well nice", "retro vote 1", "retro close"])
def test_without_an_open_retro_says_how_to_start_one(chat: Chat, command: str) -> None:
    """add, vote and close need an open retro; the error says how to start one, and no
    usage (a bare `/retro` or `/retro list` is a question: tests/test_help_and_errors.py)."""
    chat.say("mei", "retro start Old")
    chat.say("mei", "retro close")
    before = snapshot(chat.db)
    reply = chat.say("mei", command)
    assert error(reply) == (
        "There is no open retro in this project. Start one: /retro start [title] [anon]"
    )
    assert lines(reply) == []
    assert snapshot(chat.db) == before


def test_list_and_close_take_no_words(chat: Chat) -> None:
    """Extra words after `list` or `close` are refused rather than ignored."""
    chat.say("mei", "retro start Sprint 12")
    assert error(chat.say("mei", "retro list all")) == "I don't understand “all” here."
    assert error(chat.say("mei", "retro close now")) == "I don't understand “now” here."
    assert retros(chat.db)[0].status == "open"


# -- Chinese ---------------------------------------------------------------------------------


def test_chinese_aliases_run_the_whole_retro(chat: Chat) -> None:
    """复盘 开始/添加/列表/投票/结束 with kinds 好/改进/想法/行动 work like the English words."""
    chat.say("mei", "/teambot lang zh")
    started = chat.say("mei", "复盘 开始 第12周 匿名")
    assert started.title.plain() == "@mei 发起了复盘“第12周”"
    assert lines(started)[0] == "这是匿名复盘：记录不保存作者，谁也看不到是谁写的。"
    adds = [
        chat.say("ana", "复盘 添加 好 评审很及时"),
        chat.say("li", "复盘 添加 改进 测试不稳定"),
        chat.say("zoe", "复盘 添加 想法 结对发布"),
        chat.say("ana", "复盘 添加 行动 修复测试 @li"),
    ]
    assert adds[3].title.plain() == (
        "已匿名添加 #4（行动项）：修复测试 · 执行人 @li。没有人能看到是你写的。"
    )
    assert chat.say("li", "复盘 投票 4").title.plain() == "已为 #4 投票：修复测试。剩余 2/3 票。"
    listed = chat.say("li", "复盘 列表")
    assert listed.title.plain() == "复盘“第12周” · 主持人 @mei · 匿名 · 4 条记录"
    assert lines(listed) == [
        "👍 做得好（1）",
        "#1 评审很及时 · 0 票",
        "🔧 待改进（1）",
        "#2 测试不稳定 · 0 票",
        "💡 想法（1）",
        "#3 结对发布 · 0 票",
        "✅ 行动项（1）",
        "#4 修复测试 · 1 票 · 执行人 @li · ✓ 已投",
    ]
    assert [f.plain() for f in listed.footer] == ["你还剩 2/3 票：/retro vote <编号>"]
    closed = chat.say("mei", "复盘 结束")
    assert lines(closed)[-1] == "行动项已转为任务，@mei 为负责人（A）：T-1"
    assert chat.roles(1) == {"R": ["li"], "A": ["mei"], "C": [], "I": []}


def test_chinese_errors(chat: Chat) -> None:
    """Errors are worded in Chinese for a Chinese project."""
    chat.say("mei", "/teambot lang zh")
    assert error(chat.say("mei", "复盘 投票 1")) == (
        "本项目没有进行中的复盘。发起一个：/retro start [标题] [匿名]"
    )
    chat.say("mei", "复盘 开始")
    assert error(chat.say("mei", "复盘 添加 很好 x")) == (
        "“很好”不是记录类型：请用 好（well）、改进（improve）、想法（idea）或 行动（action）。"
    )


def test_umbrella_runs_retro_commands(chat: Chat) -> None:
    """`/teambot retro …` is `/retro …`."""
    assert chat.say("mei", "/teambot retro start Sprint 12").tone is Tone.SUCCESS
    assert chat.say("mei", "/teambot retro add idea x").title.plain() == ("@mei added #1 (idea): x")


def test_help_lists_the_retro_commands(chat: Chat) -> None:
    """`help retro` lists the five retro commands with their usage."""
    reply = chat.say("mei", "help retro")
    assert [i.plain().split(" — ")[0] for i in reply.items] == [
        "/retro start [title] [anon]",
        "/retro add well|improve|idea|action <text> [@owner]",
        "/retro list",
        "/retro vote <n>",
        "/retro close",
    ]
