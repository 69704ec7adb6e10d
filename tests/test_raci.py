"""/raci: roles as data, exactly one Accountable, matrix and check."""

from __future__ import annotations

import pytest

from commands.raci import OVERLOAD
from commands.types import Mention, Tone, Visibility
from tests.chat import Chat, snapshot


@pytest.fixture
def task(chat: Chat) -> Chat:
    chat.say("mei", "task add Write the SRS @ana")
    return chat


def test_set_roles_given_and_keep_the_rest(task: Chat) -> None:
    """Setting some roles leaves the others as they were."""
    task.say("mei", "/raci T-1 A @li R @ana C @wang I @zoe")
    task.say("li", "/raci T-1 I @bob")
    assert task.roles(1) == {"R": ["ana"], "A": ["li"], "C": ["wang"], "I": ["bob"]}


def test_show_lists_the_four_roles(task: Chat) -> None:
    """`/raci <key>` shows R, A, C and I with mentions and warns about a missing A."""
    reply = task.say("zoe", "/raci 1")
    assert [(f.label.plain(), f.value.plain()) for f in reply.fields] == [
        ("R · Responsible", "@ana"),
        ("A · Accountable", "—"),
        ("C · Consulted", "—"),
        ("I · Informed", "—"),
    ]
    assert isinstance(reply.fields[0].value.spans[0], Mention)
    assert [line.plain() for line in reply.lines] == [
        "⚠ No one is Accountable: set one with /raci <key> A @someone"
    ]


def test_setting_a_replaces_the_old_a(task: Chat) -> None:
    """A new A replaces the old one and the reply says so."""
    task.say("mei", "/raci T-1 A @li")
    reply = task.say("li", "/raci T-1 A @wang")
    assert task.roles(1)["A"] == ["wang"]
    assert reply.lines[0].plain() == (
        "Accountable changed from @li to @wang (a task has exactly one A)."
    )
    assert reply.visibility is Visibility.CHANNEL


@pytest.mark.parametrize("text", ["/raci T-1 A @li @wang", "/raci T-1 A @li A @wang"])
def test_a_second_a_is_refused_and_changes_nothing(task: Chat, text: str) -> None:
    """Two A people in one command is an error; the database is untouched."""
    task.say("mei", "/raci T-1 A @zoe")
    before = snapshot(task.db)
    reply = task.say("mei", text)
    assert reply.tone is Tone.ERROR
    assert reply.title.plain() == (
        "A task has exactly one A (Accountable): give one person after A. Nothing was changed."
    )
    assert reply.lines[0].plain().startswith("Usage: /raci <key> [R @user…] [A @user]")
    assert snapshot(task.db) == before


def test_dash_clears_a_role(task: Chat) -> None:
    """`C -` removes everyone from C."""
    task.say("mei", "/raci T-1 C @wang @zoe")
    task.say("mei", "/raci T-1 C -")
    assert task.roles(1)["C"] == []


def test_unchanged_roles_say_so(task: Chat) -> None:
    """Setting the roles a task already has changes nothing and says so."""
    reply = task.say("mei", "/raci T-1 R @ana")
    assert reply.title.plain() == "T-1 already has exactly these roles; nothing was changed."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/raci T-1 X @ana", "“X” is not a role: start with R, A, C or I."),
        ("/raci T-1 R ana", "“ana” is not a person: after R mention people, like @ana."),
        ("/raci T-1 R", "R needs people after it (or - to clear it)."),
        ("/raci T-1 R @a R @b", "The role R is given twice: list all its people after one R."),
        ("/raci T-1 C - @ana", "“@ana” is not a person: after C mention people, like @ana."),
    ],
)
def test_malformed_assignments(task: Chat, text: str, message: str) -> None:
    """Each malformed role list gets its own clear message."""
    assert task.say("mei", text).title.plain() == message


def test_new_r_and_a_are_notified(task: Chat) -> None:
    """People who gain R or A get a DM; C and I additions do not."""
    reply = task.say("mei", "/raci T-1 A @li R @ana @bob C @wang I @zoe")
    assert sorted((n.platform_user_id, n.reason) for n in reply.notifications) == [
        ("bob", "assignee"),
        ("li", "a"),
    ]


def test_matrix_is_a_people_by_tasks_grid(chat: Chat) -> None:
    """Rows are people, columns are tasks, cells hold the role letters."""
    chat.say("mei", "task add one @ana")
    chat.say("mei", "task add two @li")
    chat.say("mei", "raci 1 A @li I @zoe")
    chat.say("mei", "raci 2 A @li")
    chat.say("mei", "task done 2")
    reply = chat.say("mei", "raci matrix")
    assert reply.table is not None
    assert [c.plain() for c in reply.table.header] == ["person", "T-1", "T-2✓"]
    assert [[c.plain() for c in row] for row in reply.table.rows] == [
        ["@ana", "R", "·"],
        ["@li", "A", "RA"],
        ["@zoe", "I", "·"],
    ]


def test_matrix_by_milestone_and_empty(chat: Chat) -> None:
    """`ms:` narrows the matrix; a project with no tasks says so."""
    assert chat.say("mei", "raci matrix").lines[0].plain() == "There are no tasks yet."
    chat.say("mei", "milestone add Beta due:+7d")
    chat.say("mei", "task add in @ana ms:Beta")
    chat.say("mei", "task add out @li")
    reply = chat.say("mei", "raci matrix ms:Beta")
    assert reply.table is not None
    assert [c.plain() for c in reply.table.header] == ["person", "T-1"]


def test_check_finds_missing_roles_and_overload(chat: Chat) -> None:
    """`/raci check` lists tasks with no A or no R and people on too many tasks."""
    for n in range(OVERLOAD + 1):
        chat.say("mei", f"task add busy {n} @ana")
        chat.say("mei", f"raci {n + 1} A @li")
    chat.say("mei", "task add nobody")
    reply = chat.say("mei", "raci check")
    assert reply.tone is Tone.WARNING
    assert [line.plain() for line in reply.lines] == [
        f"Open tasks checked: {OVERLOAD + 2}",
        f"No A (Accountable): T-{OVERLOAD + 2}",
        "Several A: none (teambot keeps exactly one A per task: setting A replaces the old one)",
        f"No R (Responsible): T-{OVERLOAD + 2}",
        f"Carrying too much (R or A on more than {OVERLOAD} open tasks): 2 people",
    ]
    assert sorted(i.plain() for i in reply.items) == [
        f"@ana: {OVERLOAD + 1} open tasks",
        f"@li: {OVERLOAD + 1} open tasks",
    ]


def test_check_all_good(chat: Chat) -> None:
    """A project where every open task has an A and an R passes the check."""
    chat.say("mei", "task add fine @ana")
    chat.say("mei", "raci 1 A @li")
    reply = chat.say("mei", "raci check")
    assert (reply.title.plain(), reply.tone) == ("RACI check: all good ✓", Tone.SUCCESS)
