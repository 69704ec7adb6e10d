"""Who may do what: one test per rule of DESIGN.md's permissions, through the router."""

from __future__ import annotations

import pytest

from commands.permissions import Permission, allowed
from commands.types import Tone
from storage.models import Task
from tests.chat import Chat, snapshot

# mei: first member, so admin. ana: creator of T-1. bob: R. li: A. zoe: nobody special.


@pytest.fixture
def team(chat: Chat) -> Chat:
    chat.say("mei", "teambot help")
    chat.say("ana", "task add Shared work @bob")
    chat.say("ana", "raci T-1 A @li")
    chat.say("zoe", "teambot help")
    return chat


def _denied(chat: Chat, user: str, text: str) -> str:
    before = snapshot(chat.db)
    reply = chat.say(user, text)
    assert reply.tone is Tone.ERROR, reply.text()
    assert snapshot(chat.db) == before
    assert reply.lines == ()  # a refusal is not a mistake in writing: no usage
    return reply.title.plain()


def test_first_member_of_a_project_is_its_admin(team: Chat) -> None:
    """The first person to use a channel administers its project."""
    assert team.say("zoe", "teambot admin").title.plain() == "Admins of this project: @mei"


def test_anyone_may_create_and_comment(team: Chat) -> None:
    """Creating tasks and commenting need no role."""
    assert team.say("zoe", "task add Mine now").tone is Tone.SUCCESS
    assert team.say("zoe", "task comment T-1 looks good").tone is Tone.INFO


@pytest.mark.parametrize("user", ["ana", "bob", "li", "mei"])
def test_task_changes_allowed_for_creator_r_a_and_admins(team: Chat, user: str) -> None:
    """Creator, R, A and admins may change a task's status, due date and assignees."""
    assert team.say(user, "task start T-1").tone is Tone.INFO
    assert team.say(user, "task due T-1 +3d").tone is Tone.INFO
    assert team.say(user, "task assign T-1 @bob @zoe").tone is Tone.INFO
    assert team.task(1).status == "doing"


@pytest.mark.parametrize(
    "text",
    [
        "task start T-1",
        "task done T-1",
        "task block T-1 no",
        "task due T-1 +1d",
        "task assign T-1 @zoe",
    ],
)
def test_task_changes_refused_for_others(team: Chat, text: str) -> None:
    """Anyone else is refused, told whom to ask, and nothing changes."""
    assert _denied(team, "zoe", text) == (
        "Only the task's creator, its R and A members or an admin can change it: "
        "ask @ana, @bob, @li or an admin (@mei). Nothing was changed."
    )


def test_claim_only_while_unassigned(team: Chat) -> None:
    """Anyone may claim a task without R; a task with an R can't be claimed, by an admin
    either: the answer names its R (adding people is /task assign or /raci)."""
    team.say("ana", "task add Free")
    assert team.say("zoe", "task claim T-2").tone is Tone.INFO
    taken = "T-1 is taken already: @bob is its R. Nothing was changed."
    assert _denied(team, "wang", "task claim T-1") == taken
    assert _denied(team, "mei", "task claim T-1") == taken


@pytest.mark.parametrize("user", ["li", "mei"])
def test_raci_changes_by_a_and_admins(team: Chat, user: str) -> None:
    """The A and admins may change a task's RACI."""
    assert team.say(user, "raci T-1 C @wang").tone is Tone.SUCCESS


def test_raci_changes_by_creator_only_while_no_a(team: Chat) -> None:
    """The creator sets RACI while there is no A, not after."""
    team.say("ana", "task add Second")
    assert team.say("ana", "raci T-2 C @wang").tone is Tone.SUCCESS
    assert _denied(team, "ana", "raci T-1 C @wang").startswith("Only the task's A (Accountable)")


@pytest.mark.parametrize("user", ["bob", "zoe"])
def test_raci_changes_refused_for_r_and_others(team: Chat, user: str) -> None:
    """Being R is not enough to change roles."""
    assert _denied(team, user, "raci T-1 I @zoe").startswith("Only the task's A (Accountable)")


@pytest.mark.parametrize(
    "text",
    [
        "task delete T-1",
        "teambot lang zh",
        "teambot tz Asia/Shanghai",
        "milestone add Beta due:+7d",
        "teambot admin add @zoe",
        "teambot link",
        "teambot export csv",
    ],
)
def test_admin_only_commands(team: Chat, text: str) -> None:
    """Deletions, settings, milestones, admins, links and exports: admins only."""
    assert (
        _denied(team, "ana", text) == "Only project admins can do that: @mei. Nothing was changed."
    )
    assert team.say("mei", text).tone is not Tone.ERROR


def test_reading_is_open_to_everyone(team: Chat) -> None:
    """Lists, shows, the matrix and the check are for everyone in the channel."""
    for text in [
        "task list",
        "task show 1",
        "raci 1",
        "raci matrix",
        "raci check",
        "milestone list",
    ]:
        assert team.say("zoe", text).tone is not Tone.ERROR, text


def test_allowed_table() -> None:
    """The decision function itself, role by role."""
    task = Task(id=1, project_id=1, number=1, title="t", creator_id=1)
    roles = {"R": [2], "A": [3], "C": [4], "I": [5]}
    no_a = {"R": [2], "A": [], "C": [], "I": []}

    def ok(
        permission: Permission, member: int, roles_: dict[str, list[int]], admin: bool = False
    ) -> bool:
        return allowed(permission, member_id=member, is_admin=admin, task=task, roles=roles_)

    assert [ok(Permission.TASK_EDIT, m, roles) for m in (1, 2, 3, 4, 5, 6)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert ok(Permission.TASK_EDIT, 6, roles, admin=True)
    assert [ok(Permission.TASK_RACI, m, roles) for m in (1, 2, 3)] == [False, False, True]
    assert ok(Permission.TASK_RACI, 1, no_a)
    assert not allowed(Permission.ADMIN, member_id=1, is_admin=False)
    assert allowed(Permission.MEMBER, member_id=1, is_admin=False)
