"""/task edit, unblock, delete and restore: text in, Reply and database state out."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from commands.parsing import with_answer
from commands.types import Tone, Visibility
from storage.models import Milestone, TaskEvent
from tests.chat import Chat, snapshot


def events(chat: Chat, kind: str) -> list[TaskEvent]:
    with Session(chat.db.engine) as session:
        query = select(TaskEvent).where(TaskEvent.kind == kind).order_by(TaskEvent.id)  # type: ignore[arg-type]
        return list(session.exec(query).all())


# -- edit ----------------------------------------------------------------------------------


def test_edit_changes_title_and_priority_and_show_agrees(chat: Chat) -> None:
    """`/task edit T-1 title:B prio:high` changes both; `/task show` shows B and high."""
    chat.say("mei", "/task add A prio:low")
    reply = chat.say("mei", "/task edit T-1 title:B prio:high")
    assert reply.title.plain() == "@mei edited T-1: B"
    assert [line.plain() for line in reply.lines] == ["Title: A → B", "Priority: low → high"]
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.INFO)
    shown = chat.say("mei", "/task show T-1")
    assert shown.title.plain() == "T-1: B"
    assert {f.label.plain(): f.value.plain() for f in shown.fields}["Priority"] == "high"
    [event] = events(chat, "edit")
    assert event.data == {"changes": {"title": ["A", "B"], "prio": ["low", "high"]}}


def test_edit_title_takes_the_words_up_to_the_next_option(chat: Chat) -> None:
    """A title with spaces needs no quotes: `title:` runs to the next known option."""
    chat.say("mei", "/task add typo")
    chat.say("mei", "/task edit T-1 title:Write the SRS, v2 due:fri kind:bug")
    task = chat.task(1)
    assert (task.title, task.due, task.kind) == ("Write the SRS, v2", date(2026, 11, 27), "bug")


def test_edit_in_chinese_and_with_a_space_after_the_colon(chat: Chat) -> None:
    """Chinese option names work, and `标题：` with the title after a space (a form's answer)."""
    chat.say("mei", "/task add 错字")
    chat.say("mei", "/任务 修改 T-1 优先级：高 标题： 修复 登录页")
    task = chat.task(1)
    assert (task.title, task.priority) == ("修复 登录页", "high")


def test_edit_milestone_and_due_and_clearing_them(chat: Chat) -> None:
    """`ms:` and `due:` set a milestone and a date; `none` clears either."""
    chat.say("mei", "/milestone add Beta due:2026-12-20")
    chat.say("mei", "/task add Plan")
    reply = chat.say("mei", "/task edit T-1 ms:beta due:2026-12-01")
    assert [line.plain() for line in reply.lines] == [
        "Due: none → 2026-12-01 (Tue)",
        "Milestone: none → Beta",
    ]
    with Session(chat.db.engine) as session:
        beta = session.exec(select(Milestone)).one()
    assert (chat.task(1).milestone_id, chat.task(1).due) == (beta.id, date(2026, 12, 1))
    reply = chat.say("mei", "/task edit T-1 ms:none due:-")
    assert (chat.task(1).milestone_id, chat.task(1).due) == (None, None)
    assert [line.plain() for line in reply.lines] == [
        "Due: 2026-12-01 (Tue) → none",
        "Milestone: Beta → none",
    ]
    assert events(chat, "edit")[-1].data == {
        "changes": {"due": ["2026-12-01", None], "ms": ["Beta", None]}
    }


def test_edit_tells_the_r_and_a_who_did_not_make_it(chat: Chat) -> None:
    """The R and the A get a DM saying what changed; the editor gets none."""
    chat.say("mei", "/task add Deploy @ana @li")
    chat.say("mei", "/raci T-1 A @zoe C @wang")
    reply = chat.say("ana", "/task edit T-1 prio:high")
    assert sorted((n.platform_user_id, n.reason) for n in reply.notifications) == [
        ("li", "assignee"),
        ("zoe", "accountable"),
    ]
    dm = {n.platform_user_id: n.reply for n in reply.notifications}["zoe"]
    assert dm.title.plain() == "@ana edited T-1: Deploy"
    assert [line.plain() for line in dm.lines] == [
        "Priority: medium → high",
        "You are Accountable (A) for this task.",
    ]


def test_edit_refuses_unknown_words_and_changes_nothing(chat: Chat) -> None:
    """A mistyped option (with the closest one, as everywhere), a bare word or nothing at
    all is refused, naming the options."""
    chat.say("mei", "/task add Keep")
    before = snapshot(chat.db)
    for text, start in [
        ("/task edit T-1 dur:fri", "There is no option dur: here. Did you mean due:?"),
        ("/task edit T-1 Better title", "I don't understand “Better” here. Say what to change:"),
        ("/task edit T-1", "Say what to change: title:<text>, prio:high|med|low,"),
        ("/task edit T-1 prio:urgent-ish", "“urgent-ish” is not a valid prio"),
        ("/task edit T-1 title:", "The task needs a title."),
        ("/task edit T-1 prio:low prio:high", "prio: is given twice."),
    ]:
        reply = chat.say("mei", text)
        assert reply.tone is Tone.ERROR, text
        assert reply.title.plain().startswith(start), reply.title.plain()
    assert snapshot(chat.db) == before


def test_edit_to_the_same_values_says_so(chat: Chat) -> None:
    """Nothing to change is an error that changes nothing (no audit event, no DM)."""
    chat.say("mei", "/task add Same prio:high @ana")
    before = snapshot(chat.db)
    reply = chat.say("mei", "/task edit T-1 prio:h title:Same")
    assert reply.title.plain() == "T-1 already has exactly these values; nothing was changed."
    assert snapshot(chat.db) == before


def test_edit_follows_the_rules_for_changing_a_task(chat: Chat) -> None:
    """Only the creator, R, A and admins may edit (as for start, done, due)."""
    chat.say("mei", "/task add Guarded @ana")
    before = snapshot(chat.db)
    reply = chat.say("bob", "/task edit T-1 title:Mine now")
    assert reply.title.plain().startswith("Only the task's creator, its R and A members")
    assert snapshot(chat.db) == before
    chat.say("ana", "/task edit T-1 title:Fine")
    assert chat.task(1).title == "Fine"


def test_show_offers_an_edit_title_button_that_asks_for_the_title(chat: Chat) -> None:
    """The card of `/task show` has Edit title: a form whose answer follows `title:`."""
    chat.say("mei", "/task add Tpyo")
    [button] = [
        b for b in chat.say("mei", "/task show T-1").buttons if b.action_id.startswith("task_edit")
    ]
    assert (button.label.plain(), button.command, button.action_id) == (
        "Edit title",
        "task edit T-1 title:",
        "task_edit_title",
    )
    assert button.asks is not None and button.asks.plain() == "new title"
    chat.say("mei", f"{button.command} Typo fixed, at last")  # what a platform sends back
    assert chat.task(1).title == "Typo fixed, at last"


# -- unblock and who hears of a block ---------------------------------------------------------


def test_unblock_returns_the_task_to_its_status_before_the_block(chat: Chat) -> None:
    """`block` then `unblock` puts an in-progress task back in progress, a to-do one to do."""
    chat.say("mei", "/task add Doing")
    chat.say("mei", "/task add Waiting")
    chat.say("mei", "/task start T-1")
    chat.say("mei", "/task block T-1 vendor")
    chat.say("mei", "/task block T-2 vendor")
    reply = chat.say("mei", "/task unblock T-1")
    assert reply.title.plain() == "@mei unblocked T-1 (in progress again): Doing"
    assert [line.plain() for line in reply.lines] == ["It was blocked by: vendor"]
    assert (chat.task(1).status, chat.task(1).blocked_reason) == ("doing", None)
    chat.say("mei", "/task unblock T-2 the keys arrived")
    assert chat.task(2).status == "todo"
    [*_, last] = events(chat, "status")
    assert last.data == {"old": "blocked", "new": "todo", "note": "the keys arrived"}


def test_unblock_of_a_task_that_is_not_blocked_changes_nothing(chat: Chat) -> None:
    """Unblocking a task that is not blocked says so."""
    chat.say("mei", "/task add Free")
    before = snapshot(chat.db)
    reply = chat.say("mei", "/task unblock T-1")
    assert reply.title.plain() == "T-1 is not blocked (it is to do); nothing was changed."
    assert snapshot(chat.db) == before


def test_block_and_unblock_tell_the_r_a_c_and_i(chat: Chat) -> None:
    """A block tells the task's A (and R, C, I) who did not block it; unblock tells the same."""
    chat.say("mei", "/task add Deploy @ana")
    chat.say("mei", "/raci T-1 A @li C @wang I @zoe")
    blocked = chat.say("ana", "/task block T-1 no access")
    told = [("li", "accountable"), ("wang", "c"), ("zoe", "i")]
    assert sorted((n.platform_user_id, n.reason) for n in blocked.notifications) == told
    unblocked = chat.say("ana", "/task unblock T-1 access granted")
    assert sorted((n.platform_user_id, n.reason) for n in unblocked.notifications) == told
    dm = {n.platform_user_id: n.reply for n in unblocked.notifications}["li"]
    assert dm.title.plain() == "@ana unblocked T-1: Deploy"
    assert [line.plain() for line in dm.lines] == [
        "It was blocked by: no access. Note: access granted",
        "You are Accountable (A) for this task.",
    ]


def test_start_on_a_blocked_task_says_it_unblocked_it(chat: Chat) -> None:
    """`start` still moves a blocked task on, says it unblocked it and tells the people
    an unblock tells."""
    chat.say("mei", "/task add Stuck @ana")
    chat.say("mei", "/raci T-1 A @li")
    chat.say("mei", "/task block T-1 waiting")
    reply = chat.say("ana", "/task start T-1")
    assert reply.title.plain() == "@ana unblocked and started T-1: Stuck"
    assert [line.plain() for line in reply.lines] == ["It was blocked by: waiting"]
    assert [(n.platform_user_id, n.reason) for n in reply.notifications] == [("li", "accountable")]
    assert (chat.task(1).status, chat.task(1).blocked_reason) == ("doing", None)


def test_the_block_reason_shows_wherever_the_task_is_listed(chat: Chat) -> None:
    """`/task list`, `/task list blocked`, `/milestone show` and the card show the reason."""
    chat.say("mei", "/milestone add Beta due:+30d")
    chat.say("mei", "/task add Ship ms:Beta")
    chat.say("mei", "/task block T-1 waiting for legal")
    for text in ("/task list", "/task list blocked"):
        [item] = chat.say("mei", text).items
        assert item.plain() == "T-1 Ship · blocked: waiting for legal", text
    [item] = chat.say("mei", "/milestone show Beta").items
    assert "blocked: waiting for legal" in item.plain()
    fields = {f.label.plain(): f.value.plain() for f in chat.say("mei", "/task show T-1").fields}
    assert fields["Blocked by"] == "waiting for legal"


# -- delete asks first; restore undoes it ------------------------------------------------------


def test_delete_asks_first_and_changes_nothing(chat: Chat) -> None:
    """A bare `/task delete` only asks, with a button that runs the command with `!`."""
    chat.say("mei", "/task add Precious")
    before = snapshot(chat.db)
    reply = chat.say("mei", "/task delete T-1")
    assert snapshot(chat.db) == before
    assert (reply.tone, reply.visibility) == (Tone.WARNING, Visibility.EPHEMERAL)
    assert reply.title.plain() == "Delete T-1: Precious?"
    [button] = reply.buttons
    assert (button.label.plain(), button.command, button.style) == (
        "Delete T-1",
        "task delete T-1 !",
        "danger",
    )
    assert chat.say("mei", "/task delete T-1 please").tone is Tone.ERROR
    assert snapshot(chat.db) == before


def test_delete_with_bang_deletes_and_restore_brings_it_back(chat: Chat) -> None:
    """`!` (or the button) deletes; `/task restore` makes it a live task again, audited."""
    chat.say("mei", "/task add Oops @ana")
    deleted = chat.say("mei", "/task delete T-1 !")
    assert [line.plain() for line in deleted.lines] == [
        "Deleted by mistake? An admin can undo it: /task restore T-1"
    ]
    assert chat.task(1).deleted_at is not None
    assert chat.say("mei", "/task list all").items == ()
    restored = chat.say("mei", "/task restore T-1")
    assert restored.title.plain() == "@mei restored T-1: Oops"
    assert restored.visibility is Visibility.CHANNEL
    assert chat.task(1).deleted_at is None
    assert chat.roles(1)["R"] == ["ana"]
    assert [i.plain() for i in chat.say("mei", "/task list all").items] == [
        "T-1 Oops · to do · @ana"
    ]
    assert [e.kind for e in events(chat, "restored")] == ["restored"]


def test_restore_is_for_admins_and_only_for_deleted_tasks(chat: Chat) -> None:
    """Non-admins are refused; a live or unknown key is said so; nothing changes."""
    chat.say("mei", "/task add Kept")
    chat.say("mei", "/task add Gone")
    chat.say("mei", "/task delete T-2 !")
    before = snapshot(chat.db)
    assert chat.say("ana", "/task restore T-2").title.plain().startswith("Only project admins")
    assert chat.say("mei", "/task restore T-1").title.plain() == (
        "T-1 is not deleted, so there is nothing to restore."
    )
    assert chat.say("mei", "/task restore T-9").title.plain() == (
        "There is no task T-9 in this project."
    )
    assert chat.say("mei", "/task restore").title.plain() == "Which task? Give its key, like T-12."
    assert snapshot(chat.db) == before


def test_edit_reads_dates_like_every_command(chat: Chat) -> None:
    """A past due date asks first (the button repeats the command with `!`); an ambiguous
    one is echoed in words."""
    chat.say("mei", "/task add Keep")
    asked = chat.say("mei", "/task edit T-1 due:2025-01-01")
    assert asked.tone is Tone.WARNING and asked.buttons[0].command.endswith(" !")
    assert chat.say("mei", "/task show T-1").title.plain() == "T-1: Keep"
    done = chat.say("mei", "/task edit T-1 due:2025-01-01 !")
    assert done.tone is Tone.INFO
    echoed = chat.say("mei", "/task edit T-1 due:05/12")
    assert any("5 Dec" in line.plain() for line in echoed.lines), echoed.lines


def test_a_forms_answer_is_text_never_the_commands_own_syntax(chat: Chat) -> None:
    """What a Block or Edit title form adds (bot adapters: `with_answer`) is one quoted
    word: a reason that starts with a key blocks no other task; a title holding an option
    sets nothing; its own quotes survive as typographic ones."""
    chat.say("mei", "/task add First")
    chat.say("mei", "/task add Second")
    chat.say("mei", with_answer("task block T-1", "T-2 must land first"))
    assert (chat.task(1).status, chat.task(1).blocked_reason) == (
        "blocked", "T-2 must land first",
    )  # fmt: skip
    assert chat.task(2).status == "todo"
    chat.say("mei", with_answer("task edit T-2 title:", 'prio:high is "the" plan'))
    assert (chat.task(2).title, chat.task(2).priority) == ("prio:high is ”the” plan", "med")
    assert with_answer("task block T-1", "   ") == "task block T-1"
