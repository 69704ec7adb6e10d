"""The one table of commands: every group and every command, listed explicitly."""

from __future__ import annotations

from collections.abc import Callable

from commands import digest, kpi, milestone, raci, retro, standup, task, teambot
from commands.registry import Group, Registry


def _always(name: str) -> Callable[[list[str]], str | None]:
    return lambda words: name


def _help_when_bare(words: list[str]) -> str | None:
    return None if words else "help"


def build_registry() -> Registry:
    holder: list[Registry] = []
    groups = [
        Group("task", aliases=("tasks", "t", "任务")),
        Group("raci", aliases=("职责",), fallback=raci.fallback),
        Group("milestone", aliases=("milestones", "ms", "里程碑")),
        Group("teambot", aliases=("bot",), fallback=_help_when_bare),
        Group("standup", aliases=("站会",), fallback=standup.fallback),
        Group("retro", aliases=("复盘",), fallback=retro.fallback),
        Group("kpi", aliases=("指标",), fallback=kpi.fallback),
        Group("digest", aliases=("摘要", "周报"), fallback=digest.fallback),
    ]
    specs = [
        *task.SPECS,
        *raci.SPECS,
        *milestone.SPECS,
        *kpi.SPECS,
        *retro.SPECS,
        *standup.SPECS,
        *digest.SPECS,
        *teambot.specs(lambda: holder[0]),
    ]
    holder.append(Registry.build(groups, specs))
    return holder[0]
