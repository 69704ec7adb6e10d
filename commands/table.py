"""The one table of commands: every group and every command, listed explicitly."""

from __future__ import annotations

from collections.abc import Callable

from commands import digest, kpi, milestone, raci, retro, standup, standup_history, task, teambot
from commands.registry import Group, Registry

# Commands that delete or end something: suggested for a mistyped word only when they are
# clearly what was typed (`/task delet`), never for a word that merely resembles them.
DESTRUCTIVE = (
    "task.delete",
    "milestone.done",
    "standup.off",
    "digest.off",
    "retro.close",
    "retro.delete",
)


def _always(name: str) -> Callable[[list[str]], str | None]:
    return lambda words: name


def _help_when_bare(words: list[str]) -> str | None:
    return None if words else "help"


def build_registry() -> Registry:
    holder: list[Registry] = []
    groups = [
        Group("task", aliases=("tasks", "t", "任务"), topic="work"),
        Group("raci", aliases=("职责",), topic="roles", fallback=raci.fallback),
        Group("milestone", aliases=("milestones", "ms", "里程碑"), topic="work"),
        Group("teambot", aliases=("bot",), topic="setup", fallback=_help_when_bare),
        Group("standup", aliases=("站会",), topic="meetings", fallback=standup.fallback),
        Group("retro", aliases=("复盘",), topic="meetings", fallback=retro.fallback),
        Group("kpi", aliases=("指标",), topic="numbers", fallback=kpi.fallback),
        Group("digest", aliases=("摘要", "周报"), topic="numbers", fallback=digest.fallback),
    ]
    specs = [
        *task.SPECS,
        *raci.SPECS,
        *milestone.SPECS,
        *kpi.SPECS,
        *retro.SPECS,
        *standup.SPECS,
        *standup_history.SPECS,
        *digest.SPECS,
        *teambot.specs(lambda: holder[0]),
    ]
    holder.append(Registry.build(groups, specs, destructive=DESTRUCTIVE))
    return holder[0]
