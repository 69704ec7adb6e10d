"""Views at size: the RACI matrix with titles, milestones that flag trouble, paged lists."""

from __future__ import annotations

from commands.textwidth import shorten, width
from tests.chat import Chat


def test_milestone_show_flags_blocked_and_overdue_tasks_first(chat: Chat) -> None:
    """Blocked and overdue tasks come first, marked, and a field counts them."""
    chat.say("mei", "/milestone add Beta due:+30d")
    chat.say("mei", "/task add fine ms:Beta due:+3d")
    chat.say("mei", "/task add late ms:Beta due:2026-11-20")
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
    chat.say("mei", "/task add 上线 ms:Beta due:2026-11-20")
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
