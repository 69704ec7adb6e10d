"""Views at size: the RACI matrix with titles, milestones that flag trouble, paged lists."""

from __future__ import annotations

from commands.textwidth import shorten, width
from tests.chat import Chat


def test_milestone_show_flags_blocked_and_overdue_tasks_first(chat: Chat) -> None:
    """Blocked and overdue tasks come first, marked, and a field counts them."""
    chat.say("mei", "/milestone add Beta due:+30d")
    chat.say("mei", "/task add fine ms:Beta due:+3d")
    chat.say("mei", "/task add late ms:Beta due:2026-11-20 !")  # past: confirmed
    chat.say("mei", "/task add stuck ms:Beta")
    chat.say("mei", "/task block T-3 waiting for legal")
    shown = chat.say("mei", "/milestone show Beta")
    assert [i.plain() for i in shown.items] == [
        "T-3 stuck · blocked: waiting for legal · A: —",
        "T-2 late · due 2026-11-20 (Fri) (overdue) · A: —",
        "T-1 fine · due 2026-11-26 (Thu) · A: —",
    ]
    fields = {f.label.plain(): f.value.plain() for f in shown.fields}
    assert fields["Needs attention"] == "1 blocked, 1 overdue"
    chat.say("mei", "/task unblock T-3")
    chat.say("mei", "/task due T-2 +5d")
    calm = chat.say("mei", "/milestone show Beta")
    assert "Needs attention" not in {f.label.plain() for f in calm.fields}


def test_milestone_show_flags_in_chinese(chat: Chat) -> None:
    """The flags read in the project's language."""
    chat.say("mei", "/teambot lang zh")
    chat.say("mei", "/milestone add Beta due:+30d")
    chat.say("mei", "/task add 上线 ms:Beta due:2026-11-20 !")
    chat.say("mei", "/task block T-1 等待审批")
    shown = chat.say("mei", "/milestone show Beta")
    assert [i.plain() for i in shown.items] == [
        "T-1 上线 · 受阻：等待审批 · 截止 2026-11-20 (周五)（已逾期） · A：—"
    ]
    assert {f.label.plain(): f.value.plain() for f in shown.fields}[
        "需要关注"
    ] == "1 个受阻，1 个逾期"


def test_raci_matrix_names_its_tasks_cut_to_a_width(chat: Chat) -> None:
    """Beside the grid, each column's key with its title, cut by screen width (CJK is two)."""
    chat.say("mei", "/task add Write the software requirements specification for the beta @ana")
    chat.say("mei", "/task add 修复登录页在移动端上的显示问题以及若干其他的问题 @li")
    chat.say("mei", "/task add short @li")
    chat.say("mei", "/task done T-3")
    reply = chat.say("mei", "/raci matrix")
    assert [i.plain() for i in reply.items] == [
        "T-1 Write the software requirements spe…",
        "T-2 修复登录页在移动端上的显示问题以及…",
        "T-3✓ short",
    ]
    assert reply.table is not None
    assert [c.plain() for c in reply.table.header] == ["person", "T-1", "T-2", "T-3✓"]


def test_shorten_counts_screen_columns() -> None:
    """`shorten` keeps text that fits and cuts the rest with … inside the width."""
    assert shorten("short", 10) == "short"
    assert shorten("abcdefghijk", 10) == "abcdefghi…"
    assert shorten("一二三四五六", 7) == "一二三…"
    assert width(shorten("一二三四五六", 7)) <= 7


def test_list_pages_keep_the_filter_and_refuse_pages_past_the_end(chat: Chat) -> None:
    """The next page's command repeats the filter (quoting a milestone with a space);
    a page past the end or not a number is an error."""
    chat.say("mei", "/milestone add Beta 2 due:+30d")
    for n in range(45):
        chat.say("mei", f'/task add filler {n} ms:"Beta 2"')
    reply = chat.say("mei", '/task list all ms:"beta 2"')
    assert len(reply.items) == 20
    assert [f.plain() for f in reply.footer] == [
        'Page 1 of 3 — /task list all ms:"beta 2" page:2 for more'
    ]
    reply = chat.say("mei", '/task list all ms:"beta 2" 页:2')
    assert [f.plain() for f in reply.footer] == [
        'Page 2 of 3 — /task list all ms:"beta 2" page:3 for more'
    ]
    assert len(chat.say("mei", "/task list page:3").items) == 5
    assert chat.say("mei", "/task list page:4").title.plain() == (
        "There is no page 4: the list has 3 page(s)."
    )
    assert chat.say("mei", "/task list page:0").title.plain() == (
        "“0” is not a page number: use page:2, page:3 and so on."
    )


def test_list_pages_in_chinese(chat: Chat) -> None:
    """The page line reads in the project's language."""
    chat.say("mei", "/teambot lang zh")
    for n in range(21):
        chat.say("mei", f"/task add 任务 {n}")
    reply = chat.say("mei", "/task list")
    assert [f.plain() for f in reply.footer] == ["第 1 页，共 2 页 — 下一页：/task list page:2"]
