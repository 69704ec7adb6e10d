"""Allowed values of the short string columns."""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    CONSOLE = "console"
    SLACK = "slack"
    FEISHU = "feishu"


class TaskStatus(StrEnum):
    TODO = "todo"
    DOING = "doing"
    BLOCKED = "blocked"
    REVIEW = "review"
    DONE = "done"


class TaskKind(StrEnum):
    TASK = "task"
    BUG = "bug"
    RISK = "risk"


class Priority(StrEnum):
    HIGH = "high"
    MED = "med"
    LOW = "low"


class Role(StrEnum):
    R = "R"
    A = "A"
    C = "C"
    I = "I"  # noqa: E741  (the RACI letter)


class MilestoneStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class LinkKind(StrEnum):
    CHANNEL = "channel"
    PERSON = "person"


PRIORITY_ORDER = {Priority.HIGH: 0, Priority.MED: 1, Priority.LOW: 2}
