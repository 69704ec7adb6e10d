"""Pieces several command modules share: task views, people lists, buttons, notices."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from commands.context import Ctx
from commands.errors import CommandError
from commands.parsing import MAX_PEOPLE
from commands.types import Button, Lit, Mention, Notification, Reply, Rich, Span
from storage import repo
from storage.enums import Priority, Role, TaskKind, TaskStatus
from storage.models import Member, Milestone, Task

log = logging.getLogger(__name__)

MAX_TITLE = 200


@dataclass(frozen=True)
class TaskView:
    """What templates may read of a task."""

    key: str
    title: str
    status: str
    prio: str
    kind: str
    due: date | None
    overdue: bool
    milestone: str | None
    blocked_reason: str | None


def task_view(ctx: Ctx, task: Task, milestone: Milestone | None = None) -> TaskView:
    if milestone is None and task.milestone_id is not None:
        milestone = ctx.session.get(Milestone, task.milestone_id)
    return TaskView(
        key=ctx.task_key(task),
        title=task.title,
        status=task.status,
        prio=task.priority,
        kind=task.kind,
        due=task.due,
        overdue=is_overdue(task, ctx.today),
        milestone=milestone.name if milestone else None,
        blocked_reason=task.blocked_reason,
    )


def milestone_named(ctx: Ctx, name: str) -> Milestone:
    found = repo.find_milestone(ctx.session, project_id=ctx.project_id, name=name)
    if found is None:
        known = [m.name for m in repo.list_milestones(ctx.session, project_id=ctx.project_id)]
        raise CommandError("unknown_milestone", name=name, known=", ".join(known) or "—")
    return found


def is_overdue(task: Task, today: date) -> bool:
    return task.due is not None and task.due < today and task.status != TaskStatus.DONE.value


def join_people(people: Iterable[Mention], *, empty: str = "—", sep: str = ", ") -> Rich:
    spans: list[Span] = []
    for person in people:
        if spans:
            spans.append(Lit(sep))
        spans.append(person)
    return Rich(tuple(spans)) if spans else Rich.lit(empty)


def take_people(ctx: Ctx, words: Sequence[str]) -> tuple[list[Member], list[str]]:
    """Split `@…` words into members (in order, without repeats) and the other words."""
    members: list[Member] = []
    rest: list[str] = []
    seen: set[int] = set()
    for word in words:
        if word.startswith("@") and len(word) > 1:
            member = ctx.resolve_person(word)
            assert member.id is not None
            if member.id not in seen:
                seen.add(member.id)
                members.append(member)
        else:
            rest.append(word)
    return members, rest


def clean_title(ctx: Ctx, words: Sequence[str]) -> str:
    title = " ".join(words).strip()
    if not title:
        raise CommandError("missing_title")
    if len(title) > MAX_TITLE:
        raise CommandError("title_too_long", limit=MAX_TITLE)
    return title


def create_task(
    ctx: Ctx,
    *,
    title: str,
    r: Sequence[int] = (),
    a: int | None = None,
    kind: str = TaskKind.TASK.value,
    priority: str = Priority.MED.value,
    due: date | None = None,
    milestone: Milestone | None = None,
    **audit: Any,
) -> Task:
    """A new task of the channel's project, made the way `/task add` makes one: the next
    number, the caller as creator, its R (and A) and a `created` audit event (with `audit`)."""
    task = Task(
        project_id=ctx.project_id,
        number=repo.allocate_task_number(ctx.session, project_id=ctx.project_id),
        title=title,
        kind=kind,
        priority=priority,
        due=due,
        milestone_id=milestone.id if milestone else None,
        creator_id=ctx.member_id,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    repo.insert_task(ctx.session, task=task)
    assert task.id is not None
    responsible = list(r)
    repo.assign_new(ctx.session, task_id=task.id, role=Role.R.value, member_ids=responsible)
    if a is not None:
        repo.assign_new(ctx.session, task_id=task.id, role=Role.A.value, member_ids=[a])
        audit["a"] = [a]
    repo.record_event(
        ctx.session,
        task=task,
        actor_id=ctx.member_id,
        kind="created",
        at=ctx.now,
        title=title,
        r=responsible,
        **audit,
    )
    return task


def task_buttons(ctx: Ctx, task: Task, *, has_r: bool) -> tuple[Button, ...]:
    key = ctx.task_key(task)
    buttons: list[Button] = []
    status = task.status
    if status in (TaskStatus.TODO.value, TaskStatus.BLOCKED.value):
        buttons.append(
            Button(ctx.t("common.btn_start"), f"task start {key}", "task_start", "primary")
        )
    if status != TaskStatus.DONE.value:
        buttons.append(Button(ctx.t("common.btn_done"), f"task done {key}", "task_done", "primary"))
        if status != TaskStatus.BLOCKED.value:
            buttons.append(
                Button(
                    ctx.t("common.btn_block"),
                    f"task block {key}",
                    "task_block",
                    "danger",
                    asks=ctx.t("common.ask_reason"),
                )
            )
        if not has_r:
            buttons.append(Button(ctx.t("common.btn_claim"), f"task claim {key}", "task_claim"))
    else:
        buttons.append(Button(ctx.t("common.btn_reopen"), f"task reopen {key}", "task_reopen"))
    return tuple(buttons)


def notices(
    ctx: Ctx, recipients: Iterable[tuple[int, str]], build: NoticeBuilder
) -> tuple[Notification, ...]:
    """One notification per member (the first reason wins), never to the actor; at most
    MAX_PEOPLE of them (a command names at most that many, but a block tells a task's C and
    I people together): the rest read the change in the channel."""
    chosen: dict[int, str] = {}
    for member_id, reason in recipients:
        if member_id != ctx.member_id and member_id not in chosen:
            if len(chosen) == MAX_PEOPLE:
                log.info("notifications capped at %d for one command", MAX_PEOPLE)
                break
            chosen[member_id] = reason
    people = ctx.people(chosen)
    out = []
    for member_id, reason in chosen.items():
        person = people[member_id]
        out.append(
            Notification(
                member_id=member_id,
                platform_user_id=person.platform_user_id,
                platform=person.platform,
                reason=reason,
                reply=build(reason),
            )
        )
    return tuple(out)


class NoticeBuilder:
    """Builds the DM for one reason (`i`, `c`, `assignee`), sharing the wording."""

    def __init__(self, ctx: Ctx, key: str, **params: object) -> None:
        self.ctx, self.key, self.params = ctx, key, params

    def __call__(self, reason: str) -> Reply:
        title = self.ctx.t(self.key, **self.params)
        return Reply(title=title, lines=(self.ctx.t("notify.why", reason=reason),))


def mentions_of(session: Session, member_ids: Iterable[int]) -> dict[int, Mention]:
    """Mentions for member ids, outside a command (the clock's posts)."""
    return {
        member_id: Mention(member_id, name, platform, user_id)
        for member_id, name, platform, user_id in repo.member_mentions(
            session, member_ids=member_ids
        )
    }
