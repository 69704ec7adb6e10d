"""/task: text in, Reply and database state out."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from commands.types import Mention, Tone, Val, Visibility
from storage.models import TaskComment, TaskEvent
from tests.chat import Chat, snapshot


def test_add_creates_task_with_options_and_assignees(chat: Chat) -> None:
    """`/task add` stores title, due, priority, kind and makes mentioned people R."""
    reply = chat.say("mei", "/task add Write the SRS @ana @li due:tomorrow prio:high kind:bug")
    task = chat.task(1)
    assert (task.title, task.due, task.priority, task.kind, task.status) == (
        "Write the SRS",
        date(2026, 11, 24),
        "high",
        "bug",
        "todo",
    )
    assert chat.roles(1) == {"R": ["ana", "li"], "A": [], "C": [], "I": []}
    assert reply.title.plain() == "Created T-1: Write the SRS"
    assert reply.visibility is Visibility.CHANNEL
    assert [f.label.plain() for f in reply.fields] == [
        "Status",
        "Priority",
        "Due",
        "R · Responsible",
        "Kind",
    ]
    assert [f.value.plain() for f in reply.fields] == [
        "to do",
        "high",
        "2026-11-24 (Tue)",
        "@ana, @li",
        "bug",
    ]
    assert [b.command for b in reply.buttons] == [
        "task start T-1",
        "task done T-1",
        "task block T-1",
    ]


def test_add_numbers_tasks_per_project(chat: Chat) -> None:
    """Each channel's project counts its own keys from 1."""
    chat.say("mei", "task add one")
    chat.say("mei", "task add two")
    chat.say("mei", "task add other", channel="ops")
    assert chat.task(2).title == "two"
    assert chat.task(1, channel="ops").title == "other"


def test_add_notifies_assignees_but_not_the_author(chat: Chat) -> None:
    """Assignees get one DM each; the person who typed the command gets none."""
    reply = chat.say("mei", "/task add Plan @ana @mei")
    assert [(n.platform_user_id, n.reason) for n in reply.notifications] == [("ana", "assignee")]
    assert reply.notifications[0].reply.title.plain() == "@mei put you on T-1: Plan"


def test_add_with_milestone_and_chinese_options(chat: Chat) -> None:
    """Chinese option names and values work: 截止：明天 优先级：高 里程碑：Beta."""
    chat.say("mei", "/milestone add Beta due:2026-12-20")
    chat.say("mei", "/任务 新建 修复登录页 截止：明天 优先级：高 里程碑：beta")
    task = chat.task(1)
    assert (task.title, task.due, task.priority, task.milestone_id is not None) == (
        "修复登录页",
        date(2026, 11, 24),
        "high",
        True,
    )


def test_title_keeps_quoted_words(chat: Chat) -> None:
    """Quotes keep option-like words in the title."""
    chat.say("mei", '/task add "Rename due:date field" due:fri')
    assert chat.task(1).title == "Rename due:date field"
    assert chat.task(1).due == date(2026, 11, 27)


def test_list_default_is_open_tasks_overdue_first(chat: Chat, clock) -> None:
    """`/task list` shows open tasks, overdue ones first, and counts them."""
    chat.say("mei", "task add later due:+5d")
    chat.say("mei", "task add late due:2026-11-20")
    chat.say("mei", "task add finished")
    chat.say("mei", "task done 3")
    reply = chat.say("mei", "task list")
    assert reply.title.plain() == "Open tasks (2)"
    assert [i.plain() for i in reply.items] == [
        "T-2 late · to do · due 2026-11-20 (Fri) (overdue)",
        "T-1 later · to do · due 2026-11-28 (Sat)",
    ]
    assert reply.visibility is Visibility.EPHEMERAL


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("mine", ["T-1"]),
        ("@li", ["T-2"]),
        ("overdue", ["T-2"]),
        ("blocked", ["T-3"]),
        ("done", ["T-4"]),
        ("all", ["T-2", "T-1", "T-3", "T-4"]),
        ("ms:Beta", ["T-1"]),
    ],
)
def test_list_filters(chat: Chat, filter_: str, expected: list[str]) -> None:
    """Each list filter selects exactly the tasks it names."""
    chat.say("mei", "milestone add Beta due:+30d")
    chat.say("mei", "task add a @ana due:+3d ms:Beta")
    chat.say("mei", "task add b @li due:2026-11-01")
    chat.say("mei", "task add c")
    chat.say("mei", "task block 3 waiting")
    chat.say("mei", "task add d")
    chat.say("mei", "task done 4")
    reply = chat.say("ana", f"task list {filter_}")
    assert [i.plain().split()[0] for i in reply.items] == expected


def test_list_order_and_page(chat: Chat) -> None:
    """Lists sort overdue, open, done; then by due date (none last), priority and key;
    they show 20 a page and say how to see the next."""
    chat.say("mei", "task add no due, low prio:low")
    chat.say("mei", "task add no due, high prio:high")
    chat.say("mei", "task add later, med due:+5d")
    chat.say("mei", "task add later, high due:+5d prio:high")
    chat.say("mei", "task add late due:2026-11-20 prio:low")
    chat.say("mei", "task add finished due:2026-11-01")
    chat.say("mei", "task done 6")
    reply = chat.say("mei", "task list all")
    assert [i.plain().split()[0] for i in reply.items] == ["T-5", "T-4", "T-3", "T-2", "T-1", "T-6"]
    assert (reply.title.plain(), reply.footer) == ("All tasks (6)", ())
    for n in range(7, 31):
        chat.say("mei", f"task add filler {n}")
    reply = chat.say("mei", "task list")
    assert reply.title.plain() == "Open tasks (29)"
    shown = [i.plain().split()[0] for i in reply.items]
    assert shown == ["T-5", "T-4", "T-3", "T-2"] + [f"T-{n}" for n in range(7, 23)]
    assert [f.plain() for f in reply.footer] == ["Page 1 of 2 — /task list page:2 for more"]
    reply = chat.say("mei", "task list page:2")
    shown = [i.plain().split()[0] for i in reply.items]
    assert shown == [f"T-{n}" for n in range(23, 31)] + ["T-1"]  # T-1 is low
    assert [f.plain() for f in reply.footer] == ["Page 2 of 2"]


def test_list_bad_filter(chat: Chat) -> None:
    """An unknown filter word is an error with the list usage."""
    reply = chat.say("mei", "task list someday")
    assert reply.tone is Tone.ERROR
    assert reply.title.plain() == (
        "“someday” is not a list filter: use mine, @someone, open, overdue, blocked, done or all."
    )
    assert reply.lines[0].plain().startswith("Usage: /task list")


def test_show_has_roles_creator_and_comments(chat: Chat) -> None:
    """`/task show` lists every role, the creator and the latest comments."""
    chat.say("mei", "task add Spec @ana")
    chat.say("mei", "raci T-1 A @li C @wang I @zoe")
    chat.say("ana", "task comment T-1 draft ready")
    reply = chat.say("zoe", "task show t-1")
    fields = {f.label.plain(): f.value.plain() for f in reply.fields}
    assert fields["R · Responsible"] == "@ana"
    assert fields["A · Accountable"] == "@li"
    assert fields["C · Consulted"] == "@wang"
    assert fields["I · Informed"] == "@zoe"
    assert fields["Created by"] == "@mei"
    assert [line.plain() for line in reply.lines] == ["@ana (11-23 09:00): draft ready"]


def test_status_flow_records_times_and_audit(chat: Chat, clock) -> None:
    """start → block → start → done → reopen set the status and times, each audited."""
    chat.say("mei", "task add Flow @ana")
    clock.advance(hours=1)
    chat.say("ana", "task start 1")
    assert chat.task(1).status == "doing"
    assert chat.task(1).started_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert chat.task(1).first_response_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    chat.say("ana", "task block 1 waiting for keys")
    assert (chat.task(1).status, chat.task(1).blocked_reason) == ("blocked", "waiting for keys")
    chat.say("ana", "task start 1")
    clock.advance(hours=1)
    chat.say("ana", "task done 1")
    assert chat.task(1).done_at == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    chat.say("ana", "task reopen 1")
    assert (chat.task(1).status, chat.task(1).done_at) == ("todo", None)
    with Session(chat.db.engine) as session:
        events = session.exec(select(TaskEvent).order_by(TaskEvent.id)).all()  # type: ignore[arg-type]
    assert [(e.kind, e.data.get("new")) for e in events] == [
        ("created", None),
        ("status", "doing"),
        ("status", "blocked"),
        ("status", "doing"),
        ("status", "done"),
        ("status", "todo"),
    ]
    assert all(e.at.tzinfo is not None for e in events)


def test_done_twice_says_so_and_changes_nothing(chat: Chat) -> None:
    """A second `done` (a double click) answers that it is done already."""
    chat.say("mei", "task add once")
    chat.say("mei", "task done 1")
    before = snapshot(chat.db)
    reply = chat.say("mei", "task done 1")
    assert reply.title.plain() == "T-1 is already done; nothing was changed."
    assert snapshot(chat.db) == before


def test_done_notifies_informed_and_block_notifies_consulted_too(chat: Chat) -> None:
    """I hear about done and blocked; C and A only about blocked; nobody twice."""
    chat.say("mei", "task add Deploy @ana")
    chat.say("mei", "raci 1 A @mei C @wang @zoe I @zoe @li")
    blocked = chat.say("ana", "task block 1 no access")
    assert sorted((n.platform_user_id, n.reason) for n in blocked.notifications) == [
        ("li", "i"),
        ("mei", "accountable"),
        ("wang", "c"),
        ("zoe", "i"),
    ]
    assert blocked.notifications[0].reply.title.plain() == (
        "T-1 is blocked: Deploy — no access (reported by @ana)"
    )
    done = chat.say("ana", "task done 1")
    assert sorted(n.platform_user_id for n in done.notifications) == ["li", "zoe"]


def test_assign_replaces_r_and_notifies_new_people(chat: Chat) -> None:
    """`/task assign` sets the R people; only newcomers get a DM."""
    chat.say("mei", "task add Job @ana")
    reply = chat.say("mei", "task assign T-1 @ana @li")
    assert chat.roles(1)["R"] == ["ana", "li"]
    assert [n.platform_user_id for n in reply.notifications] == ["li"]
    chat.say("mei", "task assign T-1 @li")
    assert chat.roles(1)["R"] == ["li"]


def test_claim_takes_an_unassigned_task(chat: Chat) -> None:
    """Anyone may claim a task with no R; they become its R."""
    chat.say("mei", "task add Orphan")
    reply = chat.say("bob", "task claim 1")
    assert chat.roles(1)["R"] == ["bob"]
    assert reply.title.plain() == "@bob took T-1: Orphan"


def test_due_sets_and_clears(chat: Chat) -> None:
    """`/task due` parses the date in the project's zone and `none` clears it."""
    chat.say("mei", "task add Dated")
    chat.say("mei", "task due 1 下周一")
    assert chat.task(1).due == date(2026, 11, 30)
    reply = chat.say("mei", "task due 1 none")
    assert chat.task(1).due is None
    assert reply.title.plain() == "@mei cleared the due date of T-1"


def test_dates_follow_the_project_time_zone(chat: Chat, clock) -> None:
    """At 23:30 UTC it is already tomorrow in Shanghai; `today` follows the project."""
    clock.now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    chat.say("mei", "teambot tz Asia/Shanghai")
    chat.say("mei", "task add Late night due:today")
    assert chat.task(1).due == date(2026, 11, 24)


def test_comment_is_stored_with_author(chat: Chat) -> None:
    """Anyone in the channel may comment; the comment keeps its author."""
    chat.say("mei", "task add Talk")
    reply = chat.say("bob", "task comment 1 I can help")
    with Session(chat.db.engine) as session:
        comment = session.exec(select(TaskComment)).one()
    assert comment.text == "I can help"
    assert reply.lines[0].plain() == "I can help"
    assert isinstance(reply.title.spans[0], Mention)


def test_delete_hides_the_task_but_keeps_the_row(chat: Chat) -> None:
    """A deleted task disappears from lists and keys, but nothing is lost."""
    chat.say("mei", "task add Gone")
    chat.say("mei", "task delete 1 !")
    assert chat.task(1).deleted_at is not None
    assert chat.say("mei", "task list all").items == ()
    assert chat.say("mei", "task show 1").title.plain() == "There is no task T-1 in this project."
    chat.say("mei", "task add Next")
    assert chat.task(2).title == "Next"


def test_user_text_stays_a_value(chat: Chat) -> None:
    """A title full of control sequences is carried as one value span, never as words."""
    reply = chat.say("mei", "/task add <!channel> ping <@U123> & <b>")
    title = reply.title
    assert Val("<!channel> ping <@U123> & <b>") in title.spans
    assert chat.task(1).title == "<!channel> ping <@U123> & <b>"
