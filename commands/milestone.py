"""/milestone: dated goals and their progress."""

from __future__ import annotations

from commands.common import is_overdue, join_people, milestone_named, task_view
from commands.context import Ctx
from commands.dates import confirmed, read_day
from commands.errors import CommandError
from commands.parsing import options_named, split_options
from commands.permissions import Permission
from commands.registry import Args, CommandSpec
from commands.types import Field, Reply, Rich, Tone, Visibility
from storage import repo
from storage.enums import MilestoneStatus, TaskStatus
from storage.models import Milestone

MAX_NAME = 80
SHOW_TASKS = 15


def _progress(done: int, total: int) -> int:
    return round(100 * done / total) if total else 0


def add(ctx: Ctx, args: Args) -> Reply:
    sure, words = confirmed(args.words)
    options, words = split_options(words, options_named("due"))
    name = " ".join(words).strip()
    if not name:
        raise CommandError("missing_name")
    if len(name) > MAX_NAME:
        raise CommandError("title_too_long", limit=MAX_NAME)
    if "due" not in options:
        raise CommandError("need_due")
    due, notes = read_day(ctx, options["due"], sure=sure)
    repo.lock_project(ctx.session, project_id=ctx.project_id)  # "Beta" and "beta" at once: one
    if repo.find_milestone(ctx.session, project_id=ctx.project_id, name=name) is not None:
        raise CommandError("milestone_exists", name=name)
    milestone = Milestone(project_id=ctx.project_id, name=name, due=due, created_at=ctx.now)
    ctx.session.add(milestone)
    ctx.session.flush()
    return Reply(
        title=ctx.t("milestone.created", name=name, due=due, days=(due - ctx.today).days),
        lines=notes,
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def list_(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    milestones = repo.list_milestones(ctx.session, project_id=ctx.project_id)
    progress = repo.milestone_progress(
        ctx.session, milestone_ids=[m.id for m in milestones if m.id]
    )
    items = tuple(
        ctx.t(
            "milestone.item",
            name=m.name,
            due=m.due,
            done=progress[m.id or 0][0],
            total=progress[m.id or 0][1],
            pct=_progress(*progress[m.id or 0]),
            status=m.status,
            late=m.status == MilestoneStatus.OPEN.value and m.due < ctx.today,
        )
        for m in milestones
    )
    footer = () if milestones else (ctx.t("milestone.empty"),)
    return Reply(
        title=ctx.t("milestone.list_title", count=len(milestones)), items=items, footer=footer
    )


def show(ctx: Ctx, args: Args) -> Reply:
    milestone = milestone_named(ctx, _name(args))
    assert milestone.id is not None
    done, total = repo.milestone_progress(ctx.session, milestone_ids=[milestone.id])[milestone.id]
    open_tasks = repo.list_tasks(
        ctx.session,
        project_id=ctx.project_id,
        milestone_id=milestone.id,
        exclude_status=TaskStatus.DONE.value,
    )
    blocked = {t.number for t in open_tasks if t.status == TaskStatus.BLOCKED.value}
    overdue = {t.number for t in open_tasks if is_overdue(t, ctx.today)}
    # What needs attention first, so a long milestone never hides it past SHOW_TASKS.
    open_tasks.sort(key=lambda t: (t.number not in blocked, t.number not in overdue, t.number))
    raci = repo.raci_of(ctx.session, task_ids=[t.id for t in open_tasks[:SHOW_TASKS] if t.id])
    people = ctx.people({m for roles in raci.values() for m in roles["A"]})
    items = tuple(
        ctx.t(
            "milestone.task_item",
            task=task_view(ctx, t, milestone),
            a=join_people(people[m] for m in raci[t.id or 0]["A"]),
        )
        for t in open_tasks[:SHOW_TASKS]
    )
    fields: tuple[Field, ...] = (
        Field(
            ctx.t("common.label_due"),
            ctx.t(
                "milestone.due",
                due=milestone.due,
                days=(milestone.due - ctx.today).days,
                status=milestone.status,
            ),
        ),
        Field(
            ctx.t("milestone.label_progress"),
            ctx.t("milestone.progress", done=done, total=total, pct=_progress(done, total)),
        ),
    )
    if blocked or overdue:
        fields += (
            Field(
                ctx.t("milestone.label_attention"),
                ctx.t("milestone.attention", blocked=len(blocked), overdue=len(overdue)),
            ),
        )
    footer: tuple[Rich, ...] = ()
    if len(open_tasks) > SHOW_TASKS:
        footer = (ctx.t("task.list_more", more=len(open_tasks) - SHOW_TASKS),)
    return Reply(
        title=ctx.t("milestone.show_title", name=milestone.name, status=milestone.status),
        fields=fields,
        items=items,
        footer=footer,
    )


def done(ctx: Ctx, args: Args) -> Reply:
    repo.lock_project(ctx.session, project_id=ctx.project_id)  # two at once: one announcement
    milestone = milestone_named(ctx, _name(args))
    assert milestone.id is not None
    if milestone.status == MilestoneStatus.DONE.value:
        raise CommandError("milestone_already_done", name=milestone.name)
    milestone.status = MilestoneStatus.DONE.value
    milestone.done_at = ctx.now
    done_count, total = repo.milestone_progress(ctx.session, milestone_ids=[milestone.id])[
        milestone.id
    ]
    lines: tuple[Rich, ...] = ()
    if total > done_count:
        lines = (ctx.t("milestone.still_open", count=total - done_count),)
    return Reply(
        title=ctx.t("milestone.finished", name=milestone.name, who=ctx.mention(ctx.member)),
        lines=lines,
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def _name(args: Args) -> str:
    name = args.rest().strip()
    if not name:
        raise CommandError("missing_name")
    return name


SPECS = [
    CommandSpec(
        group="milestone",
        name="add",
        handler=add,
        usage="/milestone add <name> due:<date>",
        examples=("/milestone add Beta due:2026-12-20", "/milestone add 内测 due:下周五"),
        permission=Permission.ADMIN,
        aliases=("new", "新建", "添加"),
    ),
    CommandSpec(
        group="milestone",
        name="list",
        handler=list_,
        usage="/milestone list",
        examples=("/milestone list",),
        aliases=("ls", "列表"),
    ),
    CommandSpec(
        group="milestone",
        name="show",
        handler=show,
        usage="/milestone show <name>",
        examples=("/milestone show Beta",),
        aliases=("查看",),
    ),
    CommandSpec(
        group="milestone",
        name="done",
        handler=done,
        usage="/milestone done <name>",
        examples=("/milestone done Beta",),
        permission=Permission.ADMIN,
        aliases=("完成",),
    ),
]
