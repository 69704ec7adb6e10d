"""/milestone and /teambot: milestones, help, language, time zone, admins, exports."""

from __future__ import annotations

from commands.types import Tone, Visibility
from tests.chat import Chat


def test_milestone_add_list_show_done(chat: Chat) -> None:
    """A milestone keeps its due date and shows progress as done / total tasks."""
    created = chat.say("mei", "milestone add Beta release due:2026-12-20")
    assert created.title.plain() == "Milestone Beta release is due 2026-12-20 (Sun) (in 27 days)"
    chat.say("mei", 'task add a @ana ms:"Beta release"')
    chat.say("mei", 'task add b @li ms:"beta release"')
    chat.say("mei", "raci 2 A @li")
    chat.say("mei", "task done 1")
    listed = chat.say("ana", "milestone list")
    assert [i.plain() for i in listed.items] == [
        "Beta release · due 2026-12-20 (Sun) · 1/2 done (50%)"
    ]
    shown = chat.say("ana", "milestone show beta release")
    assert [(f.label.plain(), f.value.plain()) for f in shown.fields] == [
        ("Due", "2026-12-20 (Sun) (in 27 days)"),
        ("Progress", "1/2 tasks done (50%)"),
    ]
    assert [i.plain() for i in shown.items] == ["T-2 b · A: @li"]
    done = chat.say("mei", "milestone done Beta release")
    assert done.lines[0].plain() == "Note: 1 of its tasks are still open."
    assert chat.say("mei", "milestone list").items[0].plain().endswith("· finished ✓")


def test_milestone_needs_due_and_unique_name(chat: Chat) -> None:
    """No due date, or a name taken, is an error."""
    assert chat.say("mei", "milestone add Beta").title.plain() == (
        "A milestone needs a due date: due:<date>."
    )
    chat.say("mei", "milestone add Beta due:+7d")
    assert chat.say("mei", "milestone add beta due:+9d").title.plain() == (
        "There is already a milestone “beta”."
    )


def test_milestone_late_is_flagged(chat: Chat) -> None:
    """An open milestone past its date is marked overdue in the list."""
    chat.say("mei", "milestone add Old due:2025-11-01 !")
    items = [i.plain() for i in chat.say("mei", "milestone list").items]
    assert items[0] == "Old · due 2025-11-01 (Sat) · 0/0 done (0%) · overdue"


def test_help_lists_every_command_and_one_in_detail(chat: Chat) -> None:
    """Help by group lists its commands from their specs; `help task add` gives usage and
    examples (the overview: tests/test_help_and_errors.py)."""
    everything = chat.say("ana", "/teambot help task")
    assert everything.visibility is Visibility.EPHEMERAL
    usages = [i.plain().split(" — ")[0] for i in everything.items]
    assert (
        "/task add <title> [@user…] [due:<date>] [prio:high|med|low] [ms:<milestone>] [kind:bug|task|risk]"
        in usages
    )
    assert "/raci matrix [ms:<milestone>]" in [
        i.plain().split(" — ")[0] for i in chat.say("ana", "/teambot help raci").items
    ]
    one = chat.say("ana", "help task add")
    assert one.title.plain().startswith("/task add <title>")
    assert [i.plain() for i in one.items] == [
        "/task add Write the SRS @ana due:fri prio:high",
        "/task add 修复登录页 @li due:明天 kind:bug",
    ]
    assert chat.say("ana", "help nothing").title.plain() == (
        "There is no command “nothing”. Try /teambot help."
    )


def test_umbrella_and_bare_teambot(chat: Chat) -> None:
    """`/teambot task add …` is `/task add …`; a bare `/teambot` is help."""
    chat.say("mei", "/teambot task add via umbrella")
    assert chat.task(1).title == "via umbrella"
    assert chat.say("mei", "/teambot").title.plain() == "teambot commands"


def test_lang_switches_the_project(chat: Chat) -> None:
    """After `/teambot lang zh` every reply of the project is in Chinese, errors too."""
    assert chat.say("mei", "/teambot lang zh").title.plain() == "本项目已切换为中文。"
    assert chat.project().locale == "zh"
    assert chat.say("ana", "task add 写需求 @ana").title.plain() == "已创建 T-1：写需求"
    error = chat.say("ana", "/nonsense")
    assert error.title.plain() == "我不认识命令“nonsense”。"
    assert error.lines[0].plain().startswith("用法：")
    assert chat.say("mei", "/teambot lang en").title.plain() == "This project now speaks English."


def test_member_locale_is_used_until_the_project_has_one(chat: Chat) -> None:
    """A Chinese-speaking member gets Chinese replies while the project has no language."""
    reply = chat.say("li", "task add 测试", user_locale="zh-CN")
    assert reply.title.plain() == "已创建 T-1：测试"
    assert chat.say("ana", "task show 1", user_locale="en-US").title.plain() == "T-1: 测试"


def test_timezone_is_validated(chat: Chat) -> None:
    """`/teambot tz` accepts IANA zones only."""
    assert chat.say("mei", "teambot tz Mars/Olympus").title.plain() == (
        "“Mars/Olympus” is not a time zone: use a name like Asia/Shanghai, Europe/Berlin or UTC."
    )
    chat.say("mei", "teambot tz Asia/Shanghai")
    assert chat.project().timezone == "Asia/Shanghai"


def test_admins_add_list_remove_and_keep_one(chat: Chat) -> None:
    """The first member is admin; admins add others; the last admin stays."""
    chat.say("mei", "task add first")
    assert chat.say("ana", "teambot admin").title.plain() == "Admins of this project: @mei"
    chat.say("mei", "teambot admin add @li")
    assert chat.say("ana", "teambot admin").title.plain() == "Admins of this project: @mei, @li"
    chat.say("li", "teambot admin remove @mei")
    assert chat.say("li", "teambot admin remove @li").title.plain() == (
        "A project keeps at least one admin: add another before removing the last."
    )


def test_export_counts_what_it_holds_and_names_the_server_command(chat: Chat) -> None:
    """/teambot export shows the admin what an export holds and the command that writes it."""
    chat.say("mei", "task add first @ana")
    chat.say("mei", "task add second")
    chat.say("mei", "/task delete T-2 !")
    reply = chat.say("mei", "/teambot export csv")
    assert (reply.tone, reply.visibility) == (Tone.INFO, Visibility.EPHEMERAL)
    assert reply.title.plain() == "Export of general"
    assert [(f.label.plain(), f.value.plain()) for f in reply.fields] == [
        ("Tasks", "1"),
        ("Milestones", "0"),
        ("RACI roles", "1"),
        ("Standup reports", "0"),
        ("Retros", "0"),
        ("Retro notes", "0"),
        ("KPI targets", "0"),
    ]
    assert [line.plain() for line in reply.footer] == [
        "teambot does not send the files in chat, where everyone in the channel could read "
        "them. On the server, run:",
        f"teambot export --format csv --project-id {chat.project().id}",
        "It writes one CSV file per table (UTF-8 with a BOM, so Excel shows Chinese correctly).",
    ]
    assert reply.image is None


def test_export_in_chinese_for_json(chat: Chat) -> None:
    """In a Chinese project the export summary and its hint are Chinese."""
    chat.say("mei", "teambot lang zh")
    reply = chat.say("mei", "/teambot 导出 JSON")
    assert reply.title.plain() == "导出项目 general"
    assert reply.fields[0].label.plain() == "任务"
    assert [line.plain() for line in reply.footer] == [
        "teambot 不会在聊天中发送导出文件，因为频道里的每个人都能看到。请在服务器上运行：",
        f"teambot export --format json --project-id {chat.project().id}",
        "整个项目写成一个 JSON 文件。",
    ]


def test_export_is_for_admins_and_takes_csv_or_json(chat: Chat) -> None:
    """A non-admin is refused; an unknown format gets the usage."""
    chat.say("mei", "task add first")
    denied = chat.say("ana", "/teambot export csv")
    assert denied.title.plain() == "Only project admins can do that: @mei. Nothing was changed."
    wrong = chat.say("mei", "/teambot export xlsx")
    assert wrong.tone is Tone.ERROR
    assert wrong.title.plain() == "“xlsx” is not a valid format: use csv, json."
    assert [line.plain() for line in wrong.lines] == [
        "Usage: /teambot export csv|json",
        "Example: /teambot export csv",
    ]


def test_first_use_binds_channel_to_a_project_named_after_it(chat: Chat) -> None:
    """A new channel gets its own project named after the channel."""
    chat.say("mei", "task add x", channel="launch")
    assert chat.project(channel="launch").name == "launch"
    assert chat.task(1, channel="launch").title == "x"
