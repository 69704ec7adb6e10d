"""Bad input gets a clear answer with usage, and loses nothing."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.context import Ctx
from commands.errors import CommandError
from commands.i18n import Catalog
from commands.registry import Args, CommandSpec, Group, Registry
from commands.router import MAX_TEXT, Router
from commands.types import Reply, Tone, Visibility
from storage.db import Database
from storage.models import Task
from tests.chat import Chat, snapshot


@pytest.fixture
def seeded(chat: Chat) -> Chat:
    chat.say("mei", "milestone add Beta due:+7d")
    chat.say("mei", "task add Existing @ana ms:Beta")
    chat.say("mei", "raci 1 A @li")
    return chat


@pytest.mark.parametrize(
    ("text", "title", "usage"),
    [
        ("/tsak add x", "I don't know the command “tsak”.", "Usage: /task add <title>"),
        ("/task finsh T-1", "/task has no “finsh”.", "Usage: /task done <key>"),
        ("/task done X-1", "“X-1” is not a task key: use T-12 or 12.", "Usage: /task done <key>"),
        ("/task show", "Which task? Give its key, like T-12.", "Usage: /task show <key>"),
        (
            "/task add Report due:2026-02-30",
            "“2026-02-30” is not a date: February 2026 has 28 days.",
            "Usage: /task add <title>",
        ),
        (
            "/task due T-1 soonish",
            "“soonish” is not a date I understand: use 2026-12-01, 12-01, "
            "today, tomorrow, fri, +3d, +2w, 明天 or 下周一.",
            "Usage: /task due <key> <date|none>",
        ),
        (
            "/task add x prio:urgentest",
            "“urgentest” is not a valid prio: use high, low, med.",
            "Usage: /task add <title>",
        ),
        ("/task add @ana", "The task needs a title.", "Usage: /task add <title>"),
        (
            "/raci T-1 A @li @wang",
            "A task has exactly one A (Accountable): give one person after A. Nothing was changed.",
            "Usage: /raci <key> [R @user…]",
        ),
        ("/task block T-1", "Say what blocks the task.", "Usage: /task block <key> <reason>"),
        ("/task add x due:", "due: needs a value, like due:something.", "Usage: /task add <title>"),
    ],
)
def test_bad_input_is_answered_with_usage_and_changes_nothing(
    seeded: Chat, text: str, title: str, usage: str
) -> None:
    """Each mistake gets its message, the usage of the closest command, and no change."""
    before = snapshot(seeded.db)
    reply = seeded.say("mei", text)
    assert (reply.tone, reply.visibility) == (Tone.ERROR, Visibility.EPHEMERAL)
    assert reply.title.plain() == title
    assert reply.lines[0].plain().startswith(usage)
    assert reply.lines[1].plain().startswith("Example: /")
    assert snapshot(seeded.db) == before


def test_unknown_person_is_not_created(chat: Chat) -> None:
    """A plain-text @name that no one answers to is an error, not a new member."""
    chat.say("mei", "task add seed")
    before = snapshot(chat.db)
    inbound = chat.inbound("mei", "task assign 1 @ghost")
    reply = chat.router.handle(
        type(inbound)(**{**{f: getattr(inbound, f) for f in inbound.__slots__}, "mentions": {}})
    )
    assert reply.title.plain().startswith("I don't know anyone called @ghost")
    assert snapshot(chat.db) == before


def test_empty_and_oversized_text(chat: Chat) -> None:
    """Nothing, or too much, gets a short answer."""
    assert chat.say("mei", "   ").title.plain() == "Type a command, for example /task add <title>."
    assert chat.say("mei", "/").title.plain() == "Type a command, for example /task add <title>."
    too_long = chat.say("mei", "task add " + "x" * MAX_TEXT)
    assert too_long.title.plain() == (
        f"That message is too long for a command (at most {MAX_TEXT} characters)."
    )


def test_unexpected_errors_are_logged_apologised_for_and_rolled_back(
    db: Database, catalog: Catalog, clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash in a handler: logged with the event id, a generic apology, no partial write."""

    def explode(ctx: Ctx, args: Args) -> Reply:
        ctx.session.add(
            Task(project_id=ctx.project_id, number=1, title="half", creator_id=ctx.member_id)
        )
        ctx.session.flush()
        raise RuntimeError("secret internals")

    registry = Registry.build(
        [Group("boom")],
        [
            CommandSpec(
                group="boom",
                name="now",
                handler=explode,
                usage="/boom now",
                examples=("/boom now",),
            )
        ],
    )
    router = Router(db=db, catalog=catalog, registry=registry, clock=clock)
    chat = Chat(router)
    with caplog.at_level(logging.ERROR, logger="commands.router"):
        reply = chat.say("mei", "boom now", event_id="Ev123")
    assert reply.title.plain() == (
        "Sorry, something went wrong on our side. Nothing was changed; please try again in a moment."
    )
    assert "secret internals" not in reply.text()
    assert "event=Ev123" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is not None
    assert router.crashes == 1
    assert snapshot(db)["task"] == []


VOCABULARY = [
    "/",
    "task",
    "raci",
    "milestone",
    "teambot",
    "help",
    "add",
    "list",
    "show",
    "start",
    "done",
    "reopen",
    "block",
    "assign",
    "claim",
    "due",
    "comment",
    "delete",
    "matrix",
    "check",
    "lang",
    "admin",
    "tz",
    "remove",
    "link",
    "me",
    "K7QM2XPB",
    "T-1",
    "1",
    "t-2",
    "#3",
    "T-999999999",
    "A",
    "R",
    "C",
    "I",
    "-",
    "@ana",
    "@li",
    "@me",
    "@",
    "due:tomorrow",
    "due:2026-02-30",
    "due:下周一",
    "prio:high",
    "ms:Beta",
    "kind:bug",
    "zh",
    "en",
    "任务",
    "新建",
    "完成",
    "明天",
    "下周一",
    '"',
    "“",
    ":",
    "：",
    "mine",
    "overdue",
    "all",
    "none",
    "Asia/Shanghai",
    "\ue000",
    "\u3000",
]
commands_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)), max_size=9).map(" ".join),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user=st.sampled_from(["mei", "ana", "li", "zoe"]), text=commands_text)
def test_router_only_ever_replies_or_raises_command_error(chat: Chat, user: str, text: str) -> None:
    """Arbitrary text: `route` returns a Reply or raises CommandError, and both render."""
    chat.say("mei", "milestone add Beta due:+7d") if user == "mei" else None
    try:
        reply = chat.route(user, text)
    except CommandError as err:
        reply = chat.router.error_reply(err, "en")
        assert reply.title.plain()
        zh = chat.router.error_reply(err, "zh")
        assert zh.title.plain()
    assert isinstance(reply, Reply)
    assert chat.router.crashes == 0


def test_a_delivery_seen_under_any_of_its_ids_is_a_duplicate(chat: Chat) -> None:
    """A redelivery with a new event id but the same message id changes nothing."""
    assert chat.say("mei", "task add once", event_id="ev1", also_ids=("msg:1",)) is not None
    before = snapshot(chat.db)
    assert chat.say("mei", "task add once", event_id="ev2", also_ids=("msg:1",)) is None
    assert chat.say("mei", "task add once", event_id="ev1", also_ids=("msg:2",)) is None
    assert snapshot(chat.db) == before


def test_a_sub_command_without_its_group_gets_that_commands_usage(chat: Chat) -> None:
    """`完成 T-1` is not a command, but the answer shows how to write it: /task done <key>."""
    reply = chat.say("mei", "完成 T-1")
    assert reply.title.plain() == "I don't know the command “完成”."
    assert reply.lines[0].plain() == "Usage: /task done <key>"
