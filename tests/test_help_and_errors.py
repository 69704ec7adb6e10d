"""How teambot answers questions, mistakes and refusals: kindly, briefly, pointing onwards."""

from __future__ import annotations

from commands.types import Rich, Tone, Visibility
from tests.chat import Chat, snapshot


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
            "Anyone can start one: /retro start [title] [anon]",
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
