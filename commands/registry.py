"""Command specs and the one table that lists them."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from commands.context import Ctx
from commands.permissions import Permission
from commands.types import Reply


class Target(StrEnum):
    NONE = "none"
    TASK = "task"  # the first word is a task key; the router loads and authorizes it


@dataclass(frozen=True)
class Args:
    """The words after the command (and after the task key, for task commands)."""

    words: list[str]

    def rest(self) -> str:
        return " ".join(self.words)


Handler = Callable[[Ctx, Args], Reply]


@dataclass(frozen=True, kw_only=True)
class CommandSpec:
    group: str
    name: str
    handler: Handler
    usage: str
    examples: tuple[str, ...]
    permission: Permission = Permission.MEMBER
    target: Target = Target.NONE
    aliases: tuple[str, ...] = ()
    # Only reads: its task (Target.TASK) is loaded without locking the row.
    reads_only: bool = False

    @property
    def id(self) -> str:
        return f"{self.group}.{self.name}"


@dataclass(frozen=True)
class Group:
    name: str
    aliases: tuple[str, ...] = ()
    # Chooses a sub-command when the first word is not one (e.g. `/raci T-1`).
    fallback: Callable[[list[str]], str | None] | None = None


@dataclass
class Registry:
    groups: dict[str, Group] = field(default_factory=dict)
    specs: dict[str, CommandSpec] = field(default_factory=dict)
    _group_alias: dict[str, str] = field(default_factory=dict)
    _sub_alias: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def build(cls, groups: Iterable[Group], specs: Iterable[CommandSpec]) -> Registry:
        reg = cls()
        for group in groups:
            for word in (group.name, *group.aliases):
                if word in reg._group_alias:
                    raise ValueError(f"group word {word!r} used twice")
                reg._group_alias[word] = group.name
            reg.groups[group.name] = group
        for spec in specs:
            if spec.group not in reg.groups:
                raise ValueError(f"{spec.id}: unknown group")
            if spec.id in reg.specs:
                raise ValueError(f"{spec.id}: registered twice")
            reg.specs[spec.id] = spec
            for word in (spec.name, *spec.aliases):
                if (spec.group, word) in reg._sub_alias:
                    raise ValueError(f"{spec.id}: word {word!r} used twice in its group")
                reg._sub_alias[(spec.group, word)] = spec.name
        return reg

    def group_of(self, word: str) -> str | None:
        return self._group_alias.get(word.lower())

    def lookup(self, group: str, word: str) -> CommandSpec | None:
        name = self._sub_alias.get((group, word.lower()))
        return None if name is None else self.specs[f"{group}.{name}"]

    def in_group(self, group: str) -> list[CommandSpec]:
        return [s for s in self.specs.values() if s.group == group]

    def closest(self, words: list[str], *, group: str | None = None) -> CommandSpec | None:
        """The spec whose name is nearest to what was typed, for error messages
        (only among the commands of `group`, when given)."""
        if words and words[0].lower() not in self._group_alias:
            # A sub-command typed without its group (`完成 T-1`, `done T-1`).
            owners = [g for (g, word) in self._sub_alias if word == words[0].lower()]
            if owners:
                return self.lookup("task" if "task" in owners else owners[0], words[0])
        typed = " ".join(w.lower() for w in words[:2])
        names = {
            f"{owner} {word}": self.specs[f"{owner}.{name}"]
            for (owner, word), name in self._sub_alias.items()
            if group is None or owner == group
        }
        match = difflib.get_close_matches(typed, list(names), n=1, cutoff=0.5)
        if match:
            return names[match[0]]
        if words:
            near = difflib.get_close_matches(words[0].lower(), list(self._group_alias), n=1)
            if near:
                return self.first_of(self._group_alias[near[0]])
        return None

    def first_of(self, group: str) -> CommandSpec | None:
        specs = self.in_group(group)
        return specs[0] if specs else None
