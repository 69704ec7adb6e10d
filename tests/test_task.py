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


def test_a_mistyped_option_changes_nothing_and_names_the_option_meant(chat: Chat) -> None:
    """`dur:fri` is refused with "did you mean due:?": no task, no DM to dana."""
    chat.say("mei", "/task add first")
    before = snapshot(chat.db)
    reply = chat.say("mei", "/task add Write FAQ @dana dur:fri")
    assert reply.tone is Tone.ERROR
    assert reply.notifications == ()
    assert reply.title.plain() == (
        "There is no option dur: here. Did you mean due:? Nothing was changed."
        ' (To keep “dur:fri” as text, put it in quotes: "dur:fri".)'
    )
    assert snapshot(chat.db) == before
    chat.say("mei", "/teambot lang zh")
    assert chat.say("mei", "/task add 写文档 优先:高").title.plain() == (
        "这里没有选项 优先:，你是想用 优先级: 吗？没有做任何更改。"
        '（要把“优先:高”当作文字，请加引号："优先:高"。）'
    )


def test_colons_that_are_not_options_stay_in_the_title(chat: Chat) -> None:
    """Links, times, a word ending in a colon, Chinese text with ：, and quoted words are
    text; `due: fri` (a space after the colon) is the option."""
    chat.say("mei", "/task add Note: call https://example.com/a:b at 10:30 due: fri")
    assert (chat.task(1).title, chat.task(1).due) == (
        "Note: call https://example.com/a:b at 10:30",
        date(2026, 11, 27),
    )
    chat.say("mei", "/task add 注意：登录页 截止： 明天")
    assert (chat.task(2).title, chat.task(2).due) == ("注意:登录页", date(2026, 11, 24))
    chat.say("mei", '/task add Reply to "Re:Invoice"')
    assert chat.task(3).title == "Reply to Re:Invoice"


def test_typographic_quotes_are_kept_in_titles(chat: Chat) -> None:
    """“Save”, 「月度报告」 and ‘x’ keep their marks; ASCII quotes group words and go."""
    chat.say("mei", "/task add Fix “Save” button")
    assert chat.task(1).title == "Fix “Save” button"
    chat.say("mei", "/task add 整理「月度 报告」和‘附录’ due:“fri”")
    assert (chat.task(2).title, chat.task(2).due) == (
        "整理「月度 报告」和‘附录’",
        date(2026, 11, 27),
    )
    chat.say("mei", '/task add "Write  the" SRS')
    assert chat.task(3).title == "Write  the SRS"


def test_a_past_or_far_date_asks_first_and_the_button_confirms(chat: Chat) -> None:
    """A due date in the past, or more than ~6 months ahead, changes nothing: the answer
    asks, offering the command with `!` as a button; running that creates the task."""
    chat.say("mei", "/task add first")
    before = snapshot(chat.db)
    reply = chat.say("mei", "/task add Audit @ana due:2025-01-01")
    assert (reply.tone, reply.visibility) == (Tone.WARNING, Visibility.EPHEMERAL)
    assert reply.title.plain() == (
        "1 Jan 2025 (Wed) is 691 day(s) in the past: is that right? Nothing was changed yet."
        " To go ahead, repeat the command with ! at the end: task add Audit @ana due:2025-01-01 !"
    )
    assert [(b.label.plain(), b.command) for b in reply.buttons] == [
        ("Yes, go ahead", "task add Audit @ana due:2025-01-01 !")
    ]
    assert snapshot(chat.db) == before
    created = chat.say("mei", reply.buttons[0].command)
    assert created.title.plain() == "Created T-2: Audit"
    assert (chat.task(2).due, chat.roles(2)["R"]) == (date(2025, 1, 1), ["ana"])
    far = chat.say("mei", "/task due T-1 2027-12-01")
    assert far.title.plain().startswith("1 Dec 2027 (Wed) is 373 days away: is that right?")
    assert chat.say("mei", "/task due T-1 2027-12-01 !").tone is Tone.INFO
    assert chat.task(1).due == date(2027, 12, 1)
    chat.say("mei", "/teambot lang zh")
    assert chat.say("mei", "/里程碑 添加 旧版 截止：2026-11-01").title.plain() == (
        "2026年11月1日（周日）已经过去 22 天，确定吗？还没有做任何更改。"
        "确认的话，请在命令末尾加上 ! 再发一次：里程碑 添加 旧版 截止：2026-11-01 !"
    )


@pytest.mark.parametrize(
    ("lang", "zone", "due", "line"),
    [
        ("en", "UTC", date(2026, 12, 5), "“05/12” read as day/month: 5 Dec 2026 (Sat). (Write YYYY-MM-DD to leave no doubt.)"),
        ("en", "America/New_York", date(2027, 5, 12), "“05/12” read as month/day: 12 May 2027 (Wed). (Write YYYY-MM-DD to leave no doubt.)"),
        ("zh", "Asia/Shanghai", date(2027, 5, 12), "“05/12”按月/日理解为 2027年5月12日（周三）。（写成 YYYY-MM-DD 就不会有歧义。）"),
    ],
)  # fmt: skip
def test_a_day_month_date_follows_the_locale_and_is_echoed_in_words(
    chat: Chat, lang: str, zone: str, due: date, line: str
) -> None:
    """05/12 is day/month in English, month/day in Chinese and in the Americas; the reply
    says how it was read, in words, since it could mean two days."""
    chat.say("mei", f"/teambot lang {lang}")
    chat.say("mei", f"/teambot tz {zone}")
    reply = chat.say("mei", "/task add Ship due:05/12")
    assert chat.task(1).due == due
    assert reply.lines[-1].plain() == line
    assert chat.say("mei", "/task add Plain due:24/12").lines == ()


def test_an_impossible_day_is_named(chat: Chat) -> None:
    """2026-02-30 gets its own message: February 2026 has 28 days."""
    reply = chat.say("mei", "/task add X due:2026-02-30")
    assert reply.title.plain() == "“2026-02-30” is not a date: February 2026 has 28 days."


def test_list_default_is_open_tasks_overdue_first(chat: Chat, clock) -> None:
    """`/task list` shows open tasks, overdue ones first, and counts them."""
    chat.say("mei", "task add later due:+5d")
    chat.say("mei", "task add late due:2026-11-20 !")
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
    chat.say("mei", "task add b @li due:2026-11-01 !")
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
    chat.say("mei", "task add late due:2026-11-20 prio:low !")
    chat.say("mei", "task add finished due:2026-11-01 !")
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


def test_done_on_several_keys_acts_on_each_and_says_which(chat: Chat) -> None:
    """`/task done T-1 T-2 T-9 T-3`: one reply listing each key; the unknown and the
    already done one are said for that key, the others are done; I people are told."""
    for title in ("one", "two", "three"):
        chat.say("mei", f"/task add {title}")
    chat.say("mei", "/raci T-2 I @li")
    chat.say("mei", "/task done T-3")
    reply = chat.say("mei", "/task done T-1 #2 T-9 T-3 t-1")
    assert (reply.tone, reply.visibility) == (Tone.WARNING, Visibility.CHANNEL)
    assert reply.title.plain() == "2 of 4 tasks changed; the others are as they were"
    assert [item.plain() for item in reply.items] == [
        "@mei finished T-1: one ✓",
        "@mei finished T-2: two ✓",
        "✗ T-9: There is no task T-9 in this project.",
        "✗ T-3: T-3 is already done; nothing was changed.",
    ]
    assert [(n.platform_user_id, n.reason) for n in reply.notifications] == [("li", "i")]
    assert [chat.task(n).status for n in (1, 2, 3)] == ["done", "done", "done"]
    again = chat.say("mei", "/task start T-1 T-2")
    assert again.title.plain() == "2 tasks changed"
    assert [chat.task(n).status for n in (1, 2)] == ["doing", "doing"]


def test_several_keys_each_need_permission_and_all_failing_is_an_error(chat: Chat) -> None:
    """A key the person may not change fails alone; when every key fails nothing changes
    and the answer is an error listing each."""
    chat.say("mei", "/task add mine @ana")
    chat.say("mei", "/task add not hers @li")
    reply = chat.say("ana", "/task start T-1 T-2")
    assert [item.plain() for item in reply.items][1] == (
        "✗ T-2: Only the task's creator, its R and A members or an admin can change it."
        " Nothing was changed."
    )
    assert (chat.task(1).status, chat.task(2).status) == ("doing", "todo")
    before = snapshot(chat.db)
    failed = chat.say("ana", "/task start T-1 T-2")
    assert (failed.tone, failed.visibility) == (Tone.ERROR, Visibility.EPHEMERAL)
    assert failed.title.plain().startswith("Nothing was changed: ✗ T-1: T-1 is already")
    assert snapshot(chat.db) == before


def test_block_takes_several_keys_then_the_reason(chat: Chat) -> None:
    """Keys written T-n or #n lead; a bare number after the first key is the reason's."""
    for title in ("a", "b", "c"):
        chat.say("mei", f"/task add {title}")
    chat.say("mei", "/task block T-1 #2 2 servers down")
    assert [(chat.task(n).status, chat.task(n).blocked_reason) for n in (1, 2, 3)] == [
        ("blocked", "2 servers down"),
        ("blocked", "2 servers down"),
        ("todo", None),
    ]


@pytest.mark.parametrize(
    "text", ["/task start T-1 extra words", "/task done T-1 T-2 later", "/task show T-1 T-2"]
)
def test_extra_words_after_keys_are_refused(chat: Chat, text: str) -> None:
    """A command that takes only keys refuses other words and changes nothing."""
    chat.say("mei", "/task add one")
    chat.say("mei", "/task add two")
    before = snapshot(chat.db)
    reply = chat.say("mei", text)
    assert reply.tone is Tone.ERROR
    extra = text.split(maxsplit=3)[-1].removeprefix("T-2 ")
    assert reply.title.plain() == (
        f"This command takes task keys only (like T-12 T-13), and “{extra}” is not one."
        " Nothing was changed."
    )
    assert snapshot(chat.db) == before


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
