"""Command specs and the one table that lists them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from commands.context import Ctx
from commands.permissions import Permission
from commands.types import Reply

# How alike two command words must be for one to be suggested for the other: any command,
# and a destructive one (delete, off, close…), which must be clearly what was typed.
CLOSE = 0.6
CLEARLY = 0.8


def similarity(typed: str, word: str) -> float:
    """1.0 for the same word, 0.0 for nothing in common: one minus the edit distance
    (insertions, deletions, substitutions and swaps of neighbours, each counting one)
    over the longer length. A typed prefix of three or more characters (`del`, `stat`)
    counts as clearly meaning its word."""
    if typed == word:
        return 1.0
    if len(typed) >= 3 and word.startswith(typed):
        return CLEARLY
    longer = max(len(typed), len(word))
    return 1.0 - _edits(typed, word) / longer if longer else 1.0


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein without repeated edits)."""
    previous: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, row = previous, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[len(b)]


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
    # Target.TASK: acts on every leading task key (`done T-12 T-13`), one reply for all.
    several: bool = False
    # Target.TASK: whether words may follow the key(s); if not, extra words are refused.
    takes_words: bool = True

    @property
    def id(self) -> str:
        return f"{self.group}.{self.name}"


# What people do, in the order `/teambot help` lists it; each group belongs to one.
TOPICS = ("work", "roles", "meetings", "numbers", "setup")


@dataclass(frozen=True)
class Group:
    name: str
    aliases: tuple[str, ...] = ()
    topic: str = "setup"
    # Chooses a sub-command when the first word is not one (e.g. `/raci T-1`).
    fallback: Callable[[list[str]], str | None] | None = None


@dataclass
class Registry:
    groups: dict[str, Group] = field(default_factory=dict)
    specs: dict[str, CommandSpec] = field(default_factory=dict)
    _group_alias: dict[str, str] = field(default_factory=dict)
    _sub_alias: dict[tuple[str, str], str] = field(default_factory=dict)
    # Commands that destroy or end something: never suggested for a word merely near them.
    destructive: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        groups: Iterable[Group],
        specs: Iterable[CommandSpec],
        *,
        destructive: Iterable[str] = (),
    ) -> Registry:
        reg = cls(destructive=frozenset(destructive))
        for group in groups:
            if group.topic not in TOPICS:
                raise ValueError(f"{group.name}: unknown topic {group.topic!r}")
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
        unknown = reg.destructive - set(reg.specs)
        if unknown:
            raise ValueError(f"destructive commands not in the table: {sorted(unknown)}")
        return reg

    def group_of(self, word: str) -> str | None:
        return self._group_alias.get(word.lower())

    def lookup(self, group: str, word: str) -> CommandSpec | None:
        name = self._sub_alias.get((group, word.lower()))
        return None if name is None else self.specs[f"{group}.{name}"]

    def in_group(self, group: str) -> list[CommandSpec]:
        return [s for s in self.specs.values() if s.group == group]

    def closest(self, words: list[str], *, group: str | None = None) -> CommandSpec | None:
        """The command a mistyped text most likely meant, or None when nothing is close.

        `words` starts with the group word unless `group` is given (then `words[0]` is the
        sub-command word). Words are compared one at a time by `similarity`: the shared
        group word never makes two commands look alike. A destructive command is only
        suggested when it is clearly what was typed (`delet`, not `prio`).
        """
        if not words:
            return None
        first = words[0].lower()
        if group is None:
            if first not in self._group_alias:
                # A sub-command typed without its group (`完成 T-1`, `done T-1`).
                owners = [g for (g, word) in self._sub_alias if word == first]
                if owners:
                    return self.lookup("task" if "task" in owners else owners[0], first)
            group = self.closest_group(first)
            if group is None:
                return None
            words = words[1:]
            if not words:
                return None
        typed = words[0].lower()
        best: tuple[float, bool, str] | None = None
        for (owner, word), name in self._sub_alias.items():
            if owner != group:
                continue
            spec_id = f"{owner}.{name}"
            destructive = spec_id in self.destructive
            score = similarity(typed, word)
            if score < (CLEARLY if destructive else CLOSE):
                continue
            candidate = (score, not destructive, spec_id)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return self.specs[best[2]] if best else None

    def closest_group(self, word: str) -> str | None:
        """The group a mistyped group word (`tsak`) most likely meant."""
        typed = word.lower()
        scored = [(similarity(typed, alias), name) for alias, name in self._group_alias.items()]
        score, name = max(scored, default=(0.0, ""))
        return name if score >= CLOSE else None
