"""Views at size: the RACI matrix with titles, milestones that flag trouble, paged lists."""

from __future__ import annotations

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
