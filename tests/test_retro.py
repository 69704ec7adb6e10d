"""/retro: retrospectives in phases — text in, Reply and database state out."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
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


def text_of(reply: Reply) -> str:
    return reply.text()


@pytest.fixture
def sprint(chat: Chat) -> Chat:
    """Mei (the project's first admin) runs “Sprint 12” (Start/Stop/Continue): ana, li and
    zoe wrote four notes, li an action; revealed, nobody voted yet."""
    chat.say("mei", "task add Warm up")
    chat.say("mei", "retro start Sprint 12 template:ssc")
    chat.say("ana", "retro add start pairing on reviews")
    chat.say("ana", "retro add stop long standups")
    chat.say("li", "retro add stop the flaky tests")
    chat.say("zoe", "retro add continue weekly demos")
    chat.say("li", "retro action Fix the flaky tests @li due:2026-11-27")
    assert chat.say("mei", "retro reveal").tone is Tone.SUCCESS
    return chat


# -- start ---------------------------------------------------------------------------------


def test_start_opens_reflection_with_a_button_per_kind_of_its_template(chat: Chat) -> None:
    """`start template:ssc` opens a retro in reflect with one note button per kind, each
    asking for the text (a modal on Slack, a form on Feishu), announced to all."""
    reply = chat.say("mei", "retro start Sprint 12 template:ssc")
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.SUCCESS)
    assert reply.title.plain() == "@mei started the retro “Sprint 12” (Start / Stop / Continue)"
    assert lines(reply) == [
        "Reflect: write your notes privately, with the buttons below or"
        " /retro add start|stop|continue <text>. Nobody sees them until the facilitator"
        " runs /retro reveal.",
        "Then group (/retro group <n> <n>… as <title>), vote (/retro vote <n>, 3 each),"
        " discuss (/retro discuss) and close (/retro close). Actions any time:"
        " /retro action <text> @owner [due:<date>]",
    ]
    assert [(b.label.plain(), b.command, b.action_id, b.asks and b.asks.plain())
            for b in reply.buttons] == [
        ("➕ Start", "retro add start", "retro_add_start",
         "Start: your note (only you see it until the reveal)"),
        ("➕ Stop", "retro add stop", "retro_add_stop",
         "Stop: your note (only you see it until the reveal)"),
        ("➕ Continue", "retro add continue", "retro_add_continue",
         "Continue: your note (only you see it until the reveal)"),
    ]  # fmt: skip
    [retro] = retros(chat.db)
    assert (retro.title, retro.status, retro.phase, retro.template, retro.anonymous) == (
        "Sprint 12", "open", "reflect", "ssc", False,
    )  # fmt: skip
    assert retro.facilitator_id == member_id(chat.db, "mei")
    assert retro.created_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("words", "template", "kinds"),
    [
        ("", "ww", ["well", "improve"]),
        ("template:4l", "4l", ["liked", "learned", "lacked", "longed"]),
        ("模板:msg", "msg", ["mad", "sad", "glad"]),
    ],
)
def test_templates_decide_the_kinds_of_note(
    chat: Chat, words: str, template: str, kinds: list[str]
) -> None:
    """Without a template a retro is Went well / To improve; each template has its kinds."""
    reply = chat.say("mei", f"retro start X {words}")
    assert [b.command.split()[-1] for b in reply.buttons] == kinds
    assert retros(chat.db)[0].template == template
    for kind in kinds:
        assert chat.say("ana", f"retro add {kind} a note").tone is Tone.SUCCESS


def test_unknown_template_and_kind_say_what_there_is(chat: Chat) -> None:
    """A template that does not exist starts nothing; a kind not in the template is refused
    with the template's kinds."""
    assert error(chat.say("mei", "retro start X template:lean")) == (
        "“lean” is not a retro template: use template:ww (went well / to improve), ssc"
        " (start / stop / continue), 4l (liked / learned / lacked / longed for) or msg"
        " (mad / sad / glad)."
    )
    assert retros(chat.db) == []
    chat.say("mei", "retro start X template:msg")
    before = snapshot(chat.db)
    assert error(chat.say("ana", "retro add well nice")) == (
        "“well” is not a kind of note in this retro: use mad (mad), sad (sad), glad (glad);"
        " an action: /retro action <text> @owner."
    )
    assert snapshot(chat.db) == before


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


def test_default_title_is_the_date_in_the_projects_time_zone(chat: Chat, clock: Clock) -> None:
    """Without a title the retro is named after today's date where the project lives."""
    chat.say("mei", "teambot tz Asia/Shanghai")
    clock.advance(hours=14)  # 23:00 UTC is already Tuesday in Shanghai
    reply = chat.say("mei", "retro start 匿名")
    assert reply.title.plain() == (
        "@mei started the retro “Retro 2026-11-24” (Went well / To improve)"
    )
    assert [(r.title, r.anonymous) for r in retros(chat.db)] == [("Retro 2026-11-24", True)]


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


# -- reflect: private notes ------------------------------------------------------------------


def test_a_note_is_acknowledged_only_to_its_author(chat: Chat) -> None:
    """`add` answers its author alone, names no one, mirrors nowhere; the note keeps its author."""
    chat.say("mei", "retro start Sprint 12")
    reply = chat.say("ana", "retro add improve flaky tests")
    assert (reply.visibility, reply.tone, reply.mirrors, reply.notifications) == (
        Visibility.EPHEMERAL, Tone.SUCCESS, (), (),
    )  # fmt: skip
    assert text_of(reply) == (
        "Added your note #1 (to improve): flaky tests\n"
        "Only you see it until the facilitator runs /retro reveal."
        " Change it: /retro edit 1 <text> · remove it: /retro delete 1"
    )
    assert [(n.number, n.kind, n.text, n.author_id) for n in notes(chat.db)] == [
        (1, "improve", "flaky tests", member_id(chat.db, "ana"))
    ]


def test_before_reveal_lists_show_counts_and_only_your_own_notes(chat: Chat) -> None:
    """During reflect `list` shows how many notes and who wrote how many, the asker's own
    notes and the actions, never another person's text."""
    chat.say("mei", "retro start Sprint 12")
    chat.say("ana", "retro add well fast reviews")
    chat.say("ana", "retro add improve slow builds")
    chat.say("li", "retro add improve flaky tests")
    chat.say("li", "retro action Fix CI @li")
    listed = chat.say("li", "retro list")
    assert listed.visibility is Visibility.EPHEMERAL
    assert text_of(listed) == "\n".join([
        "Retro “Sprint 12” · facilitator @mei · reflecting · 3 notes",
        "3 notes so far.",
        "Written by: @ana 2 · @li 1",
        "Your notes (only you see them):",
        "#3 (to improve) flaky tests",
        "✅ Actions (1)",
        "#4 Fix CI · owner @li · by @li",
        "The notes stay hidden until the facilitator runs /retro reveal.",
    ])  # fmt: skip
    seen_by_mei = text_of(chat.say("mei", "retro list"))
    assert "fast reviews" not in seen_by_mei and "flaky tests" not in seen_by_mei
    assert "Your notes" not in seen_by_mei


def test_bare_retro_lists_and_a_kind_word_adds(chat: Chat) -> None:
    """`/retro` alone is `list`; `/retro <kind> …` is `add` (other words are not)."""
    assert chat.say("mei", "retro").title.plain() == "No retro is open in this project."
    chat.say("mei", "retro start Sprint 12 template:ssc")
    assert chat.say("ana", "retro stop long meetings").title.plain() == (
        "Added your note #1 (stop): long meetings"
    )
    assert chat.say("ana", "retro").title.plain() == (
        "Retro “Sprint 12” · facilitator @mei · reflecting · 1 note"
    )


def test_a_forms_answer_is_the_note_even_when_it_starts_with_at(chat: Chat) -> None:
    """A note sent by the form comes quoted: “@li helped a lot” is text, not an owner."""
    chat.say("mei", "retro start Sprint 12")
    reply = chat.say("ana", 'retro add well "@li helped a lot"')
    assert reply.title.plain() == "Added your note #1 (went well): @li helped a lot"
    assert error(chat.say("ana", "retro add well @li helped")) == (
        "Only an action has an owner: use /retro action <text> @owner, or write the name without @."
    )


def test_note_text_is_required_and_limited(chat: Chat) -> None:
    """An empty note or one over 200 characters is refused and stores nothing."""
    chat.say("mei", "retro start Sprint 12")
    assert error(chat.say("ana", "retro add well")) == (
        "The note is empty: write its text after the kind."
    )
    assert error(chat.say("ana", "retro add well " + "x" * 201)) == (
        "That text is too long (at most 200 characters)."
    )
    assert notes(chat.db) == []


def test_anonymous_retro_stores_no_author_and_lists_only_a_count(chat: Chat) -> None:
    """In an anonymous retro no note or action has an author in the database; lists say
    only how many notes; no reply of the whole retro names an author."""
    started = chat.say("mei", "retro start Sprint 12 anon")
    assert lines(started)[0] == (
        "This retro is anonymous: notes are kept without their authors, "
        "so nobody can see who wrote what."
    )
    added = chat.say("ana", "retro add well fast reviews")
    assert text_of(added) == (
        "Added your note #1 (went well) anonymously: fast reviews\n"
        "Only you see it until the facilitator runs /retro reveal."
        " Nobody can see that you wrote it, not even in the database."
    )
    replies = [
        added,
        chat.say("li", "retro action Fix the flaky tests @ana"),
        chat.say("zoe", "retro add improve flaky tests"),
        chat.say("zoe", "retro list"),
    ]
    assert lines(replies[-1])[:2] == [
        "2 notes so far.",
        "✅ Actions (1)",
    ]
    with Session(chat.db.engine) as session:
        authored = session.execute(
            text("SELECT COUNT(*) FROM retro_note WHERE author_id IS NOT NULL")
        ).scalar_one()
        total = session.execute(text("SELECT COUNT(*) FROM retro_note")).scalar_one()
    assert (authored, total) == (0, 3)
    replies += [chat.say("mei", "retro reveal"), chat.say("mei", "retro close")]
    people = {
        span.name
        for reply in replies
        for rich in (reply.title, *reply.lines, *reply.footer)
        for span in rich.spans
        if isinstance(span, Mention)
    }
    assert people == {"ana", "mei"}  # the owner and the facilitator, never an author


def test_authors_edit_and_delete_their_own_notes_while_reflecting(chat: Chat) -> None:
    """Its author edits or deletes a note during reflect; anyone else is refused; after the
    reveal the author can no longer change it."""
    chat.say("mei", "retro start Sprint 12")
    chat.say("ana", "retro add well fast reviews")
    chat.say("li", "retro add improve slow builds")
    edited = chat.say("ana", "retro edit 1 fast and kind reviews")
    assert (edited.visibility, edited.title.plain()) == (
        Visibility.EPHEMERAL, "Note #1 now reads: fast and kind reviews",
    )  # fmt: skip
    before = snapshot(chat.db)
    assert error(chat.say("li", "retro edit 1 mine now")) == (
        "#1 is someone else's note: only its author, the facilitator (@mei) or an admin"
        " can change it. Nothing was changed."
    )
    assert error(chat.say("li", "retro delete 1")).startswith("#1 is someone else's note")
    assert snapshot(chat.db) == before
    assert chat.say("li", "retro delete 2").title.plain() == "Deleted note #2."
    assert [(n.number, n.text) for n in notes(chat.db)] == [(1, "fast and kind reviews")]
    chat.say("mei", "retro reveal")
    assert error(chat.say("ana", "retro edit 1 again")) == (
        "You cannot edit notes now: the retro is in grouping and voting. Nothing was changed."
    )


def test_facilitator_deletes_any_note_with_its_votes(sprint: Chat) -> None:
    """The facilitator may delete anyone's note at any phase; its votes go with it."""
    sprint.say("ana", "retro vote 3")
    sprint.say("zoe", "retro vote 3")
    assert sprint.say("mei", "retro delete 3").title.plain() == "Deleted note #3."
    assert [n.number for n in notes(sprint.db)] == [1, 2, 4, 5]
    with Session(sprint.db.engine) as session:
        assert session.exec(select(RetroVote)).all() == []
    # ana's vote came back to her.
    assert [f.plain() for f in sprint.say("ana", "retro list").footer] == [
        "You have 3 of 3 votes left: /retro vote <n> (take one back: /retro unvote <n>)"
    ]


def test_in_an_anonymous_retro_only_the_facilitator_removes_notes(chat: Chat) -> None:
    """With no author stored, nobody can prove a note is theirs: the author is told to ask
    the facilitator, who can delete it."""
    chat.say("mei", "retro start Sprint 12 anon")
    chat.say("ana", "retro add well fast reviews")
    assert error(chat.say("ana", "retro edit 1 faster")) == (
        "This retro is anonymous, so nobody is recorded as the author of #1 and its author"
        " cannot be told apart from anyone else: ask the facilitator (@mei) to delete it."
        " Nothing was changed."
    )
    assert chat.say("mei", "retro delete 1").tone is Tone.SUCCESS
    assert notes(chat.db) == []


# -- reveal, group, vote ---------------------------------------------------------------------


def test_only_the_facilitator_or_an_admin_reveals(chat: Chat) -> None:
    """`reveal` by someone else changes nothing; by the facilitator it shows every note by
    kind, with its author, and opens voting."""
    chat.say("ana", "task list")  # mei stays the first admin
    chat.say("ana", "retro start Sprint 12")
    chat.say("li", "retro add well fast reviews")
    chat.say("ana", "retro add improve slow builds")
    assert error(chat.say("li", "retro reveal")) == (
        "Only the retro's facilitator (@ana) or a project admin can reveal the notes."
        " Nothing was changed."
    )
    assert retros(chat.db)[0].phase == "reflect"
    assert error(chat.say("li", "retro vote 1")) == (
        "You cannot vote now: the retro is still in reflection (notes are private until"
        " /retro reveal). Nothing was changed."
    )
    reply = chat.say("ana", "retro reveal")
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.SUCCESS)
    assert text_of(reply) == "\n".join([
        "@ana revealed the 2 notes of the retro “Sprint 12”",
        "👍 Went well (1)",
        "#1 fast reviews · 0 votes · by @li",
        "🔧 To improve (1)",
        "#2 slow builds · 0 votes · by @ana",
        "Group alike notes: /retro group <n> <n>… as <title> · vote: /retro vote <n> (3 each)"
        " · then the facilitator: /retro discuss",
    ])  # fmt: skip
    assert retros(chat.db)[0].phase == "vote"
    assert error(chat.say("li", "retro add well late")) == (
        "You cannot add notes now: the retro is in grouping and voting. Nothing was changed."
    )
    assert chat.say("mei", "retro reveal").tone is Tone.ERROR  # an admin, but revealed already


def test_vote_and_unvote_keep_three_votes_each(sprint: Chat) -> None:
    """3 votes each, one per note; `unvote` gives one back; mistakes change nothing."""
    assert sprint.say("ana", "retro vote 1").title.plain() == (
        "You voted for #1: pairing on reviews. Votes left: 2 of 3."
    )
    sprint.say("ana", "retro vote 2")
    sprint.say("ana", "retro vote 3")
    before = snapshot(sprint.db)
    assert error(sprint.say("ana", "retro vote 4")) == (
        "You have used all 3 of your votes in this retro: take one back with"
        " /retro unvote <n> to vote again."
    )
    assert error(sprint.say("ana", "retro vote 1")) == (
        "You have voted for #1 already: one vote per note (take it back: /retro unvote 1)."
    )
    assert error(sprint.say("ana", "retro vote 9")) == (
        "There is no note #9 in this retro: its notes are #1 to #5."
    )
    assert error(sprint.say("ana", "retro vote two")).startswith("“two” is not a note number.")
    assert error(sprint.say("li", "retro unvote 1")) == (
        "You have not voted for #1, so there is no vote to take back."
    )
    assert snapshot(sprint.db) == before
    assert sprint.say("ana", "retro unvote 2").title.plain() == (
        "You took back your vote for #2: long standups. Votes left: 1 of 3."
    )
    assert sprint.say("ana", "retro vote 4").tone is Tone.SUCCESS


def test_grouped_notes_share_their_votes_under_the_first(sprint: Chat) -> None:
    """`group 2 3 as …` puts #3 under #2: votes for #3 move to #2 (one per voter), a vote
    for #3 afterwards counts for the group, and lists show the group with its title."""
    sprint.say("ana", "retro vote 3")
    sprint.say("li", "retro vote 2")
    sprint.say("li", "retro vote 3")
    reply = sprint.say("zoe", "retro group 2 3 as Wasted time")
    assert (reply.visibility, text_of(reply)) == (Visibility.CHANNEL, "\n".join([
        "@zoe grouped 2 notes under #2 “Wasted time”",
        "#2 “Wasted time”: long standups · 2 votes · by @ana",
        "↳ #3 the flaky tests · by @li",
    ]))  # fmt: skip
    assert [(n.number, n.grouped_into, n.group_title) for n in notes(sprint.db)] == [
        (1, None, None), (2, None, "Wasted time"), (3, 2, None), (4, None, None), (5, None, None),
    ]  # fmt: skip
    assert error(sprint.say("li", "retro vote 3")) == (
        "You have voted for #2 already: one vote per note (take it back: /retro unvote 2)."
    )
    assert sprint.say("zoe", "retro vote 3").title.plain() == (
        "You voted for #2: Wasted time. Votes left: 2 of 3."
    )
    assert lines(sprint.say("zoe", "retro list"))[2:5] == [
        "🛑 Stop (1)",
        "#2 “Wasted time”: long standups · 3 votes · by @ana · ✓ your vote",
        "↳ #3 the flaky tests · by @li",
    ]
    assert error(sprint.say("zoe", "retro group 1 5")) == (
        "#5 is an action: actions are not grouped."
    )
    assert error(sprint.say("zoe", "retro group 1")).startswith("Name at least two notes")


def test_concurrent_votes_never_exceed_the_limit(router: Router) -> None:
    """Four votes sent at once by one person: three are counted, the fourth is refused."""
    chat = Chat(router)
    chat.say("mei", "retro start Sprint 12")
    for n in range(4):
        chat.say("mei", f"retro add well idea {n + 1}")
    chat.say("mei", "retro reveal")
    replies = _together([lambda n=n: chat.say("ana", f"retro vote {n + 1}") for n in range(4)])
    assert sorted(r.tone for r in replies) == [Tone.ERROR] + [Tone.SUCCESS] * 3
    with Session(chat.db.engine) as session:
        assert len(session.exec(select(RetroVote)).all()) == VOTES_PER_PERSON


def test_linked_accounts_share_one_persons_votes(router: Router) -> None:
    """Linked accounts of one person share 3 votes, one per note, and the facilitator's rights."""
    slack = Chat(router, platform="slack", workspace="T1")
    feishu = Chat(router, platform="feishu", workspace="tenant1")
    channel_code = _code(slack.say("mei", "teambot link", channel="C1"))
    feishu.say("li", f"teambot link {channel_code}", channel="oc_1")
    person_code = _code(slack.say("ana", "teambot link me", channel="C1"))
    feishu.say("anna", f"teambot link me {person_code}", channel="oc_1")
    slack.say("ana", "retro start Sprint 12", channel="C1")
    for n in range(4):
        slack.say("mei", f"retro add well idea {n + 1}", channel="C1")
    assert feishu.say("anna", "retro reveal", channel="oc_1").tone is Tone.SUCCESS
    slack.say("ana", "retro vote 1", channel="C1")
    assert error(feishu.say("anna", "retro vote 1", channel="oc_1")).startswith(
        "You have voted for #1 already"
    )
    feishu.say("anna", "retro vote 2", channel="oc_1")
    assert (
        slack.say("ana", "retro vote 3", channel="C1").title.plain().endswith("Votes left: 0 of 3.")
    )
    assert feishu.say("anna", "retro unvote 1", channel="oc_1").tone is Tone.SUCCESS
    assert error(feishu.say("zoe", "retro close", channel="oc_1")).startswith(
        "Only the retro's facilitator (@ana) or a project admin can close it."
    )
    assert feishu.say("anna", "retro close", channel="oc_1").tone is Tone.SUCCESS


def _code(reply: Reply) -> str:
    last = reply.title.spans[-1]
    assert isinstance(last, Val) and re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", last.text)
    return last.text


# -- discuss ---------------------------------------------------------------------------------


def test_discuss_freezes_votes_and_ranks_notes_and_groups(sprint: Chat) -> None:
    """`discuss` (the facilitator) shows notes and groups most votes first, across kinds;
    votes are final after it."""
    sprint.say("mei", "retro group 2 3")
    for who, number in [("ana", 4), ("li", 4), ("zoe", 2), ("li", 3)]:
        assert sprint.say(who, f"retro vote {number}").tone is Tone.SUCCESS, (who, number)
    assert error(sprint.say("ana", "retro discuss")).startswith(
        "Only the retro's facilitator (@mei) or a project admin can start the discussion."
    )
    reply = sprint.say("mei", "retro discuss")
    assert (reply.visibility, text_of(reply)) == (Visibility.CHANNEL, "\n".join([
        "@mei opened the discussion of the retro “Sprint 12”: most votes first",
        "#2 🛑 long standups · 2 votes · by @ana",
        "↳ #3 the flaky tests · by @li",
        "#4 🔁 weekly demos · 2 votes · by @zoe",
        "#1 🟢 pairing on reviews · 0 votes · by @ana",
        "✅ Actions (1)",
        "#5 Fix the flaky tests · owner @li · due 2026-11-27 (Fri) · by @li",
        "Agree on actions: /retro action <text> @owner [due:<date>] · finish: /retro close",
    ]))  # fmt: skip
    assert error(sprint.say("zoe", "retro vote 1")) == (
        "You cannot vote now: the retro is in discussion (votes are final). Nothing was changed."
    )


# -- actions ---------------------------------------------------------------------------------


def test_an_action_has_one_owner_and_a_due_date_read_like_every_date(chat: Chat) -> None:
    """`action <text> @owner due:<date>` in any phase, announced to the channel; a past date
    asks first; two owners are refused; `add action …` is the same command."""
    chat.say("mei", "retro start Sprint 12")
    reply = chat.say("ana", "retro action Fix the flaky tests @li due:fri")
    assert (reply.visibility, reply.title.plain()) == (
        Visibility.CHANNEL,
        "@ana added action #1: Fix the flaky tests · owner @li · due 2026-11-27 (Fri)",
    )
    before = snapshot(chat.db)
    assert error(chat.say("ana", "retro action Ship @li @zoe")) == (
        "An action has one owner: mention one person."
    )
    asked = chat.say("ana", "retro action Ship @li due:2026-11-01")
    assert asked.tone is not Tone.SUCCESS and [b.command for b in asked.buttons] == [
        "retro action Ship @li due:2026-11-01 !"
    ]
    assert snapshot(chat.db) == before
    assert chat.say("ana", "retro add action Write a runbook @zoe").title.plain() == (
        "@ana added action #2: Write a runbook · owner @zoe"
    )
    li, zoe = member_id(chat.db, "li"), member_id(chat.db, "zoe")
    assert [(n.number, n.kind, n.owner_id, n.due) for n in notes(chat.db)] == [
        (1, "action", li, date(2026, 11, 27)),
        (2, "action", zoe, None),
    ]


def test_close_refuses_while_an_action_has_no_owner(sprint: Chat) -> None:
    """An ownerless action is never silently made a task: close lists it and how to give it
    an owner; `assign` gives one (and a due date), then close makes the task."""
    added = sprint.say("zoe", "retro action Write a runbook")
    assert lines(added) == [
        "It has no owner yet: give it one before closing, with /retro assign 6 @owner"
    ]
    before = snapshot(sprint.db)
    assert error(sprint.say("mei", "retro close")) == (
        "The retro cannot close yet: an action has no owner, and an action nobody owns would"
        " become a task nobody does. #6 Write a runbook. Give each an owner"
        " (/retro assign 6 @owner) or delete it (/retro delete 6), then close again."
    )
    assert snapshot(sprint.db) == before
    assert error(sprint.say("mei", "retro assign 1 @zoe")) == (
        "#1 is a note, not an action: only actions have owners and due dates."
    )
    assigned = sprint.say("mei", "retro assign 6 @zoe due:2026-12-04")
    assert assigned.title.plain() == (
        "@mei updated action #6: Write a runbook · owner @zoe · due 2026-12-04 (Fri)"
    )
    assert sprint.say("mei", "retro close").tone is Tone.SUCCESS
    assert sprint.task(3).due == date(2026, 12, 4)
    assert sprint.roles(3) == {"R": ["zoe"], "A": ["mei"], "C": [], "I": []}


# -- close -------------------------------------------------------------------------------------


def test_close_posts_the_summary_by_votes_and_makes_tasks_with_due_dates(
    sprint: Chat, clock: Clock
) -> None:
    """`close`: notes and groups most votes first, then the actions with their new tasks;
    each task has R the owner, A the facilitator, the due date, and a `created` event that
    links it to the retro and its note; the owner is told."""
    for who, number in [("ana", 4), ("li", 1), ("zoe", 1)]:
        sprint.say(who, f"retro vote {number}")
    clock.advance(hours=1)
    reply = sprint.say("mei", "retro close")
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.SUCCESS)
    assert text_of(reply) == "\n".join([
        "@mei closed the retro “Sprint 12”: 4 notes, 3 votes, most votes first",
        "#1 🟢 pairing on reviews · 2 votes · by @ana",
        "#4 🔁 weekly demos · 1 vote · by @zoe",
        "#2 🛑 long standups · 0 votes · by @ana",
        "#3 🛑 the flaky tests · 0 votes · by @li",
        "✅ Actions (1)",
        "#5 Fix the flaky tests · owner @li · due 2026-11-27 (Fri) · by @li → T-2",
        "Actions are now tasks, with @mei accountable: T-2. The next retro starts with them.",
    ])  # fmt: skip
    [retro] = retros(sprint.db)
    assert (retro.status, retro.closed_at) == ("closed", datetime(2026, 11, 23, 10, tzinfo=UTC))
    task = sprint.task(2)
    mei, li = member_id(sprint.db, "mei"), member_id(sprint.db, "li")
    assert (task.title, task.status, task.due, task.creator_id) == (
        "Fix the flaky tests", "todo", date(2026, 11, 27), mei,
    )  # fmt: skip
    assert sprint.roles(2) == {"R": ["li"], "A": ["mei"], "C": [], "I": []}
    assert notes(sprint.db)[4].task_id == task.id
    with Session(sprint.db.engine) as session:
        [event] = session.exec(select(TaskEvent).where(TaskEvent.task_id == task.id)).all()
    assert (event.kind, event.actor_id, event.data) == (
        "created", mei,
        {"title": "Fix the flaky tests", "r": [li], "a": [mei], "retro": retro.id, "note": 5},
    )  # fmt: skip
    assert [(n.platform_user_id, n.reason, n.reply.text()) for n in reply.notifications] == [
        ("li", "assignee", "@mei put you on T-2: Fix the flaky tests\n"
                           "You are Responsible (R) for this task."),
    ]  # fmt: skip


def test_only_the_facilitator_or_an_admin_may_close(chat: Chat) -> None:
    """Someone else's `close` is refused and changes nothing; the facilitator may close
    without being an admin."""
    chat.say("mei", "task list")  # mei is the first admin
    chat.say("ana", "retro start Sprint 12")
    before = snapshot(chat.db)
    assert error(chat.say("li", "retro close")) == (
        "Only the retro's facilitator (@ana) or a project admin can close it. Nothing was changed."
    )
    assert snapshot(chat.db) == before
    assert chat.say("ana", "retro close").tone is Tone.SUCCESS


def test_the_next_retro_opens_with_the_last_ones_actions(sprint: Chat, clock: Clock) -> None:
    """`start` after a closed retro lists its actions' tasks: done, overdue or open."""
    sprint.say("mei", "retro action Write a runbook @zoe due:2026-12-11")
    sprint.say("mei", "retro action Order certificates @ana")
    sprint.say("mei", "retro close")
    sprint.say("zoe", "task done T-3")
    clock.advance(days=7)  # 30 November: T-2 (due 27 November) is overdue
    reply = sprint.say("ana", "retro start Sprint 13")
    assert lines(reply)[2:] == [
        "Actions from the last retro “Sprint 12”:",
        "T-2 Fix the flaky tests · @li · due 2026-11-27 (Fri) · ⚠️ overdue",
        "T-3 Write a runbook · @zoe · due 2026-12-11 (Fri) · ✅ done",
        "T-4 Order certificates · @ana · open",
    ]


# -- no open retro, words, help ----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["retro add well nice", "retro vote 1", "retro close", "retro reveal", "retro action x @li"],
)
def test_without_an_open_retro_says_how_to_start_one(chat: Chat, command: str) -> None:
    """Commands on a retro need an open one; the error says how to start one."""
    chat.say("mei", "retro start Old")
    chat.say("mei", "retro close")
    before = snapshot(chat.db)
    reply = chat.say("mei", command)
    assert error(reply) == (
        "There is no open retro in this project. Start one: /retro start [title]"
        " [template:ww|ssc|4l|msg] [anon]"
    )
    assert lines(reply) == []
    assert snapshot(chat.db) == before


def test_list_reveal_and_close_take_no_words(chat: Chat) -> None:
    """Extra words after `list`, `reveal` or `close` are refused rather than ignored."""
    chat.say("mei", "retro start Sprint 12")
    for command in ("list all", "reveal now", "close now"):
        assert error(chat.say("mei", f"retro {command}")).startswith("I don't understand")
    assert (retros(chat.db)[0].status, retros(chat.db)[0].phase) == ("open", "reflect")


def test_chinese_words_run_the_whole_retro(chat: Chat) -> None:
    """复盘 开始/添加/揭晓/投票/讨论/结束, the kinds in Chinese, and Chinese wording."""
    chat.say("mei", "/teambot lang zh")
    started = chat.say("mei", "复盘 开始 第12周 模板:ssc 匿名")
    assert started.title.plain() == "@mei 发起了复盘“第12周”（开始做 / 停止做 / 继续做）"
    assert [b.label.plain() for b in started.buttons] == ["➕ 开始做", "➕ 停止做", "➕ 继续做"]
    assert chat.say("ana", "复盘 添加 停止 冗长的会议").title.plain() == (
        "已匿名添加你的记录 #1（停止做）：冗长的会议"
    )
    chat.say("li", "复盘 添加 继续做 每周演示")
    chat.say("li", "复盘 行动 缩短站会 @ana 截止:2026-11-30")
    assert lines(chat.say("li", "复盘 列表"))[0] == "目前共 2 条记录。"
    chat.say("mei", "复盘 揭晓")
    assert chat.say("li", "复盘 投票 1").title.plain() == "已为 #1 投票：冗长的会议。剩余 2/3 票。"
    assert chat.say("mei", "复盘 讨论").tone is Tone.SUCCESS
    closed = chat.say("mei", "复盘 结束")
    assert lines(closed) == [
        "#1 🛑 冗长的会议 · 1 票",
        "#2 🔁 每周演示 · 0 票",
        "✅ 行动项（1）",
        "#3 缩短站会 · 执行人 @ana · 截止 2026-11-30 (周一) → T-1",
        "行动项已转为任务，@mei 为负责人（A）：T-1。下次复盘开始时会列出它们。",
    ]
    assert error(chat.say("mei", "复盘 投票 1")) == (
        "本项目没有进行中的复盘。发起一个：/retro start [标题] [template:ww|ssc|4l|msg] [匿名]"
    )


def test_umbrella_runs_retro_commands(chat: Chat) -> None:
    """`/teambot retro …` is `/retro …`."""
    assert chat.say("mei", "/teambot retro start Sprint 12").tone is Tone.SUCCESS
    assert chat.say("mei", "/teambot retro add well x").title.plain() == (
        "Added your note #1 (went well): x"
    )


def test_help_lists_the_retro_commands(chat: Chat) -> None:
    """`help retro` lists every retro command with its usage."""
    reply = chat.say("mei", "help retro")
    assert [i.plain().split(" — ")[0] for i in reply.items] == [
        "/retro start [title] [template:ww|ssc|4l|msg] [anon]",
        "/retro add <kind> <text>",
        "/retro action <text> @owner [due:<date>]",
        "/retro assign <n> @owner [due:<date>]",
        "/retro list",
        "/retro reveal",
        "/retro group <n> <n>… [as <title>]",
        "/retro vote <n>",
        "/retro unvote <n>",
        "/retro discuss",
        "/retro edit <n> <text>",
        "/retro delete <n>",
        "/retro close",
    ]


# -- migration -----------------------------------------------------------------------------------


def test_migration_0009_keeps_open_retros_visible_in_their_old_kinds(chat: Chat) -> None:
    """A retro open before phases existed (notes shown as written, kinds well/improve/idea)
    continues after the upgrade in the vote phase with the classic template: its notes stay
    shown, its votes kept, and it closes as before."""
    from alembic import command

    from storage.migrate import alembic_config

    command.downgrade(alembic_config(chat.db), "0008")
    ana, li = (chat.say(who, "task list") and member_id(chat.db, who) for who in ("ana", "li"))
    with chat.db.engine.begin() as conn:
        project_id = conn.execute(text("SELECT id FROM project")).scalar_one()
        conn.execute(
            text("INSERT INTO retro (project_id, title, status, anonymous, facilitator_id,"
                 " created_at) VALUES (:p, 'Old', 'open', false, :a, '2026-11-20 09:00:00')"),
            {"p": project_id, "a": ana},
        )  # fmt: skip
        for number, kind, body, owner in [
            (1, "idea", "pair on releases", None), (2, "action", "Fix CI", li),
        ]:  # fmt: skip
            conn.execute(
                text("INSERT INTO retro_note (retro_id, number, kind, text, author_id, owner_id,"
                     " created_at) VALUES (1, :n, :k, :t, :a, :o, '2026-11-20 09:00:00')"),
                {"n": number, "k": kind, "t": body, "a": ana, "o": owner},
            )  # fmt: skip
        conn.execute(
            text("INSERT INTO retro_vote (note_id, voter_id, created_at)"
                 " VALUES (1, :v, '2026-11-20 09:00:00')"),
            {"v": li},
        )  # fmt: skip
    command.upgrade(alembic_config(chat.db), "0009")
    [retro] = retros(chat.db)
    assert (retro.phase, retro.template) == ("vote", "classic")
    assert [(n.number, n.due, n.grouped_into, n.group_title) for n in notes(chat.db)] == [
        (1, None, None, None), (2, None, None, None),
    ]  # fmt: skip
    assert lines(chat.say("li", "retro list")) == [
        "💡 Ideas (1)",
        "#1 pair on releases · 1 vote · by @ana · ✓ your vote",
        "✅ Actions (1)",
        "#2 Fix CI · owner @li · by @ana",
    ]
    assert chat.say("ana", "retro add idea more").tone is Tone.ERROR  # reflection is over
    assert chat.say("ana", "retro close").tone is Tone.SUCCESS
    assert chat.roles(1) == {"R": ["li"], "A": ["ana"], "C": [], "I": []}
