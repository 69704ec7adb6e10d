"""How teambot answers questions, mistakes and refusals: kindly, briefly, pointing onwards."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from commands.types import Mention, Rich, Tone, Visibility
from storage.models import StandupAway
from tests.chat import Chat, snapshot
from tests.conftest import Clock


def _lines(rich: tuple[Rich, ...]) -> list[str]:
    return [line.plain() for line in rich]


def test_bare_tz_and_lang_show_the_current_values_to_anyone(chat: Chat) -> None:
    """`/teambot tz` and `/teambot lang` without a value are questions, not mistakes."""
    chat.say("mei", "teambot tz Asia/Shanghai")
    before = snapshot(chat.db)
    tz = chat.say("ana", "/teambot tz")
    assert tz.tone is Tone.INFO
    assert tz.title.plain() == (
        "This project's time zone is Asia/Shanghai: today is 2026-11-23 (Mon), 17:00 now."
    )
    assert _lines(tz.lines) == [
        "Dates like due:fri are read in it. An admin can change it: /teambot tz Europe/Berlin "
        "(any zone name like Asia/Shanghai or UTC)."
    ]
    lang = chat.say("ana", "/teambot lang")
    assert lang.tone is Tone.INFO
    assert lang.title.plain() == (
        "This project speaks English (no project language is set, so each person's own "
        "language is used, English by default). An admin can change it: /teambot lang zh"
    )
    assert snapshot(chat.db)["project"] == before["project"]
    chat.say("mei", "teambot lang zh")
    assert chat.say("ana", "/teambot 语言").title.plain() == (
        "本项目使用中文。管理员可以更改：/teambot lang en"
    )
    zone = chat.say("ana", "/teambot 时区").title.plain()
    assert zone == "本项目的时区是 Asia/Shanghai：今天是 2026-11-23 (周一)，现在 17:00。"


def test_queries_that_find_nothing_answer_kindly(chat: Chat) -> None:
    """Bare /digest, /standup, /standup status, /retro list with nothing set up: an
    informative answer saying what to do next, not an error with a usage."""
    expected = {
        "/digest": (
            "This channel has no KPI digest yet.",
            "An admin can schedule one: /digest weekly mon 09:00 or /digest daily 18:00; "
            "/digest now posts one right away.",
        ),
        "/standup status": (
            "This channel has no standup yet.",
            "An admin can set one up, like /standup config time:09:30 days:mon-fri "
            "cutoff:10:30; then each person answers with /standup y: … t: … b: …",
        ),
        "/retro list": (
            "No retro is open in this project.",
            "Anyone can start one: /retro start [title] [template:ww|ssc|4l|msg] [anon]",
        ),
    }
    expected["/standup"] = expected["/standup status"]
    expected["/retro"] = expected["/retro list"]
    for text, (title, line) in expected.items():
        reply = chat.say("ana", text)
        assert (reply.tone, reply.visibility) == (Tone.INFO, Visibility.EPHEMERAL), text
        assert (reply.title.plain(), _lines(reply.lines)) == (title, [line]), text


def test_acting_on_what_does_not_exist_is_still_an_error(chat: Chat) -> None:
    """Turning off a standup that was never set up, or voting without a retro, is refused."""
    assert chat.say("mei", "/standup off").tone is Tone.ERROR
    assert chat.say("mei", "/retro vote 1").tone is Tone.ERROR
    assert chat.say("mei", "/standup y: a t: b b: none").tone is Tone.ERROR


def _error(chat: Chat, text: str, user: str = "mei") -> tuple[str, list[str]]:
    before = snapshot(chat.db)
    reply = chat.say(user, text)
    assert (reply.tone, reply.visibility) == (Tone.ERROR, Visibility.EPHEMERAL), text
    assert snapshot(chat.db) == before
    return reply.title.plain(), _lines(reply.lines)


TASK_CAN = (
    "/task can do: add, list, show, start, done, reopen, block, unblock, assign, claim, due, "
    "edit, comment, delete, restore."
)


def test_a_word_near_no_command_gets_the_groups_commands_not_a_destructive_guess(
    chat: Chat,
) -> None:
    """`/task prio T-13 high` resembles nothing: it lists what /task can do, and never
    suggests /task delete (the shared `task ` used to make every sub-command look close)."""
    chat.say("mei", "task add A")
    assert _error(chat, "/task prio T-1 high") == (
        "/task has no “prio”.",
        [TASK_CAN, "Each one explained: /teambot help task"],
    )
    assert _error(chat, "/digest of")[1][0] == (
        "/digest can do: show, weekly, daily, off, now, nudges."
    )


def test_a_destructive_command_is_suggested_only_when_clearly_typed(chat: Chat) -> None:
    """`delet` and `del` mean delete; `finsh` means done (finish); `clos` means close."""
    chat.say("mei", "task add A")
    for typed in ("delet", "del"):
        assert _error(chat, f"/task {typed} T-1")[1] == [
            "Usage: /task delete <key> [!]",
            "Example: /task delete T-12",
        ]
    assert _error(chat, "/task finsh T-1")[1][0] == "Usage: /task done <key>"
    chat.say("mei", "retro start Sprint")
    assert _error(chat, "/retro clos") == ("/retro has no “clos”.", ["Usage: /retro close"])


def test_a_mistyped_group_is_recognised(chat: Chat) -> None:
    """`/tsak add x` shows the usage of /task add; a bare `/tsak` what /task can do."""
    assert _error(chat, "/tsak add x")[1][0].startswith("Usage: /task add <title>")
    assert _error(chat, "/tsak") == (
        "I don't know the command “tsak”.",
        [TASK_CAN, "Each one explained: /teambot help task"],
    )


def test_errors_about_the_state_of_things_show_no_usage(chat: Chat) -> None:
    """A key that names no task, an unknown milestone: the message alone; a malformed
    argument: the usage of that one command."""
    chat.say("mei", "task add A")
    assert _error(chat, "/task done T-99") == ("There is no task T-99 in this project.", [])
    assert _error(chat, "/task add x ms:Gamma") == (
        "There is no milestone “Gamma”. Known milestones: —.",
        [],
    )
    assert _error(chat, "/task due T-1 soonish")[1] == [
        "Usage: /task due <key> <date|none>",
        "Example: /task due T-12 2026-12-01",
    ]


def test_bare_groups_show_their_help(chat: Chat) -> None:
    """Bare /task, /raci and /milestone list their commands (not an error about task add)."""
    for group, title, first in [
        ("task", "/task · Track work", "/task add <title>"),
        ("raci", "/raci · Roles (RACI)", "/raci <key> — Show who is R, A, C and I on a task."),
        ("milestone", "/milestone · Track work", "/milestone add <name> due:<date>"),
    ]:
        reply = chat.say("ana", f"/{group}")
        assert (reply.tone, reply.title.plain()) == (Tone.INFO, title)
        assert reply.items[0].plain().startswith(first)
        assert reply.text() == chat.say("ana", f"/teambot help {group}").text()
    assert [i.plain() for i in chat.say("ana", "/task").items][-1] == (
        "/task restore <key> — Bring back a deleted task (admins)."
    )


def test_help_fits_a_screen_grouped_by_what_people_do(chat: Chat) -> None:
    """`/teambot help`: one line per activity naming its commands, then where to read more."""
    reply = chat.say("ana", "/teambot help")
    assert reply.title.plain() == "teambot commands"
    assert [i.plain() for i in reply.items] == [
        "Track work: /task add, list, show, start, done, reopen, block, unblock, assign, claim, "
        "due, edit, comment, delete, restore; /milestone add, list, show, done",
        "Roles (RACI): /raci show, set, matrix, check",
        "Meetings: /standup answer, config, off, questions, status, away, members, later, skip, "
        "task, history, report; "
        "/retro start, add, action, assign, list, reveal, group, vote, unvote, discuss, edit,"
        " delete, close",
        "Numbers: /kpi report, target; /digest show, weekly, daily, off, now, nudges",
        "Setup: /teambot help, lang, tz, admin, link, export",
    ]
    assert _lines(reply.footer)[-1] == (
        "More on one group or command: /teambot help task, /teambot help task add"
    )
    assert len(reply.text().splitlines()) <= 12
    chat.say("ana", "teambot lang zh")  # ana spoke first: the project's admin
    zh = chat.say("ana", "帮助")
    assert zh.items[0].plain().startswith("跟踪工作：/task add、list、show")


def test_refusals_name_who_can_help_as_mentions(chat: Chat) -> None:
    """A refusal names the admins (and, for a task, its creator, R and A) as mentions,
    three of each at most and how many more; no usage follows it."""
    chat.say("mei", "task add Shared @bob")
    chat.say("mei", "raci T-1 A @li")
    assert _error(chat, "/teambot tz UTC", user="ana") == (
        "Only project admins can do that: @mei. Nothing was changed.",
        [],
    )
    chat.say("mei", "teambot admin add @a1 @a2 @a3 @a4")
    reply = chat.say("ana", "/task done T-1")
    assert reply.title.plain() == (
        "Only the task's creator, its R and A members or an admin can change it: ask @mei, "
        "@bob, @li or an admin (@a1, @a2, @a3 and 1 more). Nothing was changed."
    )
    mentioned = [s.name for s in reply.title.spans if isinstance(s, Mention)]
    assert mentioned == ["mei", "bob", "li", "a1", "a2", "a3"]
    assert _error(chat, "/raci T-1 C @ana", user="ana")[0] == (
        "Only the task's A (Accountable), its creator while it has no A, or an admin can "
        "change its RACI: ask @li or an admin (@mei, @a1, @a2 and 2 more). Nothing was changed."
    )
    chat.say("mei", "teambot lang zh")
    assert _error(chat, "/teambot tz UTC", user="ana")[0] == (
        "只有项目管理员可以这样做：@mei、@a1、@a2等 5 人。没有做任何更改。"
    )


def test_leave_can_be_cancelled_and_past_leave_is_refused(chat: Chat, clock: Clock) -> None:
    """`away off` cancels all leave ahead (days already taken stay recorded), `away off
    <date>` the leave covering that day, `cancel`/`取消` too; leave in the past is refused."""
    assert _error(chat, "/standup away 2026-11-20") == (
        "Leave cannot start in the past (2026-11-20 (Fri); today is 2026-11-23 (Mon)): "
        "standups already held are not counted again. Nothing was saved.",
        [],
    )
    chat.say("mei", "/standup away 2026-11-23 2026-11-25")
    chat.say("mei", "/standup away 2026-12-01 2026-12-02")
    chat.say("mei", "/standup away 2026-12-10")
    clock.advance(days=1)  # Tuesday: the first leave has begun
    one = chat.say("mei", "/standup away off 2026-12-02")
    assert (one.tone, one.title.plain(), _lines(one.items)) == (
        Tone.SUCCESS,
        "Leave cancelled (1): you will be expected at standups on these days again.",
        ["2026-12-01 (Tue) – 2026-12-02 (Wed)"],
    )
    assert _error(chat, "/standup away off 2026-11-23")[0] == (
        "2026-11-23 (Mon) is past (today is 2026-11-24 (Tue)): leave already taken stays "
        "recorded. Nothing was changed."
    )
    assert _error(chat, "/standup away off 2026-12-05") == (
        "You have no leave on 2026-12-05 (Sat). Your leave ahead: /standup away",
        [],
    )
    rest = chat.say("mei", "/standup away cancel")
    assert _lines(rest.items) == ["2026-11-24 (Tue) – 2026-11-25 (Wed)", "2026-12-10 (Thu)"]
    with Session(chat.db.engine) as session:
        kept = [(a.start, a.end) for a in session.exec(select(StandupAway)).all()]
    assert kept == [(date(2026, 11, 23), date(2026, 11, 23))]  # Monday stays taken
    assert chat.say("mei", "/standup away 取消").title.plain() == (
        "You have no leave ahead to cancel. Add some: /standup away <from> [<to>]"
    )


def test_leave_dates_are_read_like_every_date(chat: Chat) -> None:
    """`/standup away 05/12` in an English project is 5 December, as `due:05/12` is (it was
    read month first there: 12 May)."""
    reply = chat.say("ana", "/standup away 05/12")
    assert reply.title.plain().startswith("Away 2026-12-05 (Sat)"), reply.title.plain()


def test_a_mistyped_standup_command_is_not_saved_as_an_answer(chat: Chat) -> None:
    """`/standup stauts` is a typo of status: refused with the suggestion, nothing saved;
    a real one-word answer still counts."""
    chat.say("mei", "/standup config time:09:30 cutoff:10:30")
    typo = chat.say("ana", "/standup stauts")
    assert (typo.tone, typo.title.plain()) == (Tone.ERROR, "/standup has no “stauts”.")
    assert typo.lines[0].plain().startswith("Usage: /standup status")
    assert chat.say("ana", "/standup shipped").tone is not Tone.ERROR
