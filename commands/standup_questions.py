"""The questions a standup asks: one accessor that the channel prompt, the form, the DM
flow and the summary all read, so a team's own questions (`/standup questions set`) reach
every one of them.

Until a team sets its own, a standup asks the three of DESIGN.md: what was done
yesterday, what is planned today, and what blocks (the blocker question: its answers
can become tasks). Their words come from the catalog (`text` None); a team's own
questions carry their text as written.

A team's own questions are answered by number (`/standup 1: … 2: … 3: …`); the answer to
the blocker question (marked with a leading `!` when set) also goes to the report's
`blockers`, so "make it a task", exports and /kpi read it as before. With the default
questions the answers stay in yesterday/today/blockers as they always were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.i18n import Catalog
from commands.types import Rich
from storage.models import StandupConfig, StandupReport

MAX_QUESTIONS = 5
MAX_QUESTION = 200  # characters of one question
BLOCKER_MARK = "!"


@dataclass(frozen=True)
class Question:
    key: str  # "yesterday", "today", "blockers"; a team's own: "q1" … "q5"
    text: str | None  # as the team wrote it; None: the catalog's words for `key`
    blocker: bool = False  # its answers are blockers (shown so, and can become tasks)

    @property
    def own(self) -> bool:
        return self.text is not None


DEFAULT = (
    Question("yesterday", None),
    Question("today", None),
    Question("blockers", None, blocker=True),
)


def questions_of(config: StandupConfig) -> tuple[Question, ...]:
    """The questions `config`'s standup asks, in order."""
    if not config.questions:
        return DEFAULT
    return tuple(
        Question(f"q{i}", str(q.get("text", "")), blocker=bool(q.get("blocker")))
        for i, q in enumerate(config.questions, start=1)
    )


def stored(questions: list[Question]) -> list[dict[str, Any]]:
    """A team's own questions as the config's `questions` column holds them."""
    return [{"text": q.text, "blocker": q.blocker} for q in questions]


def wording(catalog: Catalog, locale: str, question: Question) -> Rich:
    """The question as a person reads it: the team's text, or the catalog's."""
    if question.text is not None:
        return Rich.val(question.text)
    return catalog.text(locale, f"standup.question_{question.key}")


def answer_of(report: StandupReport, questions: tuple[Question, ...], index: int) -> str:
    """The report's answer to the question at `index` (0-based)."""
    question = questions[index]
    if not question.own:
        return str(getattr(report, question.key))
    answers = report.answers or []
    return answers[index] if index < len(answers) else ""


def answers_of(report: StandupReport, questions: tuple[Question, ...]) -> list[str]:
    return [answer_of(report, questions, i) for i in range(len(questions))]


def put_answers(
    report: StandupReport, questions: tuple[Question, ...], given: dict[int, str]
) -> None:
    """Set the answers given (by 0-based index; the others stay as they were). A team's
    own questions keep theirs in `answers`, the blocker question's also in `blockers`."""
    if not any(q.own for q in questions):
        for index, value in given.items():
            setattr(report, questions[index].key, value)
        return
    answers = list(report.answers or [])
    answers += [""] * (len(questions) - len(answers))
    for index, value in given.items():
        answers[index] = value
        if questions[index].blocker:
            report.blockers = value
    report.answers = answers
