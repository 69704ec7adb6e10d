"""/task: create, list, show and move tasks."""

from __future__ import annotations

from dataclasses import replace

from commands.common import (
    NoticeBuilder,
    clean_title,
    create_task,
    join_people,
    milestone_named,
    notices,
    take_people,
    task_buttons,
    task_view,
)
from commands.context import Ctx
from commands.errors import CommandError
from commands.parsing import KIND, PRIORITY, parse_date, split_options
from commands.permissions import Permission
from commands.registry import Args, CommandSpec, Handler, Target
from commands.types import Field, Notification, Reply, Rich, Tone, Visibility
from storage import repo
from storage.enums import Priority, Role, TaskStatus
from storage.models import Milestone, Task

LIST_LIMIT = 25
MAX_COMMENT = 2000


def task_fields(ctx: Ctx, task: Task, roles: dict[str, list[int]]) -> tuple[Field, ...]:
    view = task_view(ctx, task)
    people = ctx.people([m for ids in roles.values() for m in ids])
    fields = [
        Field(ctx.t("common.label_status"), ctx.t("common.status", task=view)),
        Field(ctx.t("common.label_prio"), ctx.t("common.prio", task=view)),
        Field(ctx.t("common.label_due"), ctx.t("common.due", task=view)),
        Field(
            ctx.t("common.label_role", role="R"),
            join_people(people[m] for m in roles[Role.R.value]),
        ),
    ]
    if roles[Role.A.value]:
        fields.append(
            Field(ctx.t("common.label_role", role="A"), join_people(people[m] for m in roles["A"]))
        )
    if view.milestone:
        fields.append(Field(ctx.t("common.label_ms"), ctx.t("common.value", value=view.milestone)))
    if task.kind != "task":
        fields.append(Field(ctx.t("common.label_kind"), ctx.t("common.kind", task=view)))
    if task.status == TaskStatus.BLOCKED.value and task.blocked_reason:
        fields.append(
            Field(ctx.t("common.label_blocked"), ctx.t("common.value", value=task.blocked_reason))
        )
    return tuple(fields)


def _roles(ctx: Ctx, task: Task) -> dict[str, list[int]]:
    assert task.id is not None
    return repo.raci_of(ctx.session, task_ids=[task.id])[task.id]


def task_card(
    ctx: Ctx,
    task: Task,
    key: str,
    *,
    tone: Tone = Tone.SUCCESS,
    roles: dict[str, list[int]] | None = None,
    **params: object,
) -> Reply:
    """A change to one task, shown to the channel with its state and buttons
    (`roles`: its RACI when the caller knows it already, else it is loaded)."""
    roles = _roles(ctx, task) if roles is None else roles
    return Reply(
        title=ctx.t(key, task=task_view(ctx, task), who=ctx.mention(ctx.member), **params),
        fields=task_fields(ctx, task, roles),
        buttons=task_buttons(ctx, task, has_r=bool(roles[Role.R.value])),
        visibility=Visibility.CHANNEL,
        tone=tone,
    )


def _touch(ctx: Ctx, task: Task) -> None:
    task.updated_at = ctx.now
    if task.first_response_at is None:
        task.first_response_at = ctx.now


# -- handlers -----------------------------------------------------------------


def add(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words)
    people, words = take_people(ctx, words)
    title = clean_title(ctx, words)
    due = parse_date(options["due"], today=ctx.today) if "due" in options else None
    milestone = milestone_named(ctx, options["ms"]) if "ms" in options else None
    assignees = [m.id for m in people if m.id is not None]
    task = create_task(
        ctx,
        title=title,
        r=assignees,
        kind=KIND.parse(options.get("kind", "task")),
        priority=PRIORITY.parse(options.get("prio", Priority.MED.value)),
        due=due,
        milestone=milestone,
    )
    return created_reply(ctx, task, responsible=assignees, milestone=milestone)


def created_reply(
    ctx: Ctx, task: Task, *, responsible: list[int], milestone: Milestone | None = None
) -> Reply:
    """The card of a new task, with a note to each R (its only role holders: `create_task`
    was given no A)."""
    roles: dict[str, list[int]] = {role.value: [] for role in Role}
    roles[Role.R.value] = list(responsible)
    reply = task_card(ctx, task, "task.created", roles=roles)
    view = task_view(ctx, task, milestone)
    build = NoticeBuilder(ctx, "notify.assigned", task=view, who=ctx.mention(ctx.member))
    return _with_notices(reply, notices(ctx, ((m, "assignee") for m in responsible), build))


def _with_notices(reply: Reply, extra: tuple[Notification, ...]) -> Reply:
    return replace(reply, notifications=reply.notifications + extra)


_LIST_WORDS = {
    "open": "open",
    "未完成": "open",
    "进行中": "open",
    "mine": "mine",
    "我的": "mine",
    "overdue": "overdue",
    "逾期": "overdue",
    "过期": "overdue",
    "blocked": "blocked",
    "阻塞": "blocked",
    "done": "done",
    "完成": "done",
    "已完成": "done",
    "all": "all",
    "全部": "all",
}


def list_(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words)
    people, words = take_people(ctx, words)
    if len(words) > 1 or (people and words) or len(people) > 1:
        raise CommandError("bad_list_filter", value=" ".join(args.words))
    which = "open"
    if words:
        which = _LIST_WORDS.get(words[0].lower(), "")
        if not which:
            raise CommandError("bad_list_filter", value=words[0])
    member = people[0] if people else (ctx.member if which == "mine" else None)
    milestone = milestone_named(ctx, options["ms"]) if "ms" in options else None
    statuses = {
        "blocked": [TaskStatus.BLOCKED.value],
        "done": [TaskStatus.DONE.value],
    }.get(which)
    today = ctx.today
    shown, total = repo.task_page(
        ctx.session,
        project_id=ctx.project_id,
        today=today,
        limit=LIST_LIMIT,
        statuses=statuses,
        exclude_status=TaskStatus.DONE.value if which in ("open", "mine", "overdue") else None,
        due_before=today if which == "overdue" else None,
        member_id=member.id if member else None,
        milestone_id=milestone.id if milestone else None,
    )
    ids = [t.id for t in shown if t.id is not None]
    raci = repo.raci_of(ctx.session, task_ids=ids)
    people_map = ctx.people({m for roles in raci.values() for m in roles["R"]})
    items = tuple(
        ctx.t(
            "task.list_item",
            task=task_view(ctx, t),
            r=join_people((people_map[m] for m in raci[t.id or 0]["R"]), empty=""),
        )
        for t in shown
    )
    who = ctx.mention(member) if member else None
    title = ctx.t(
        "task.list_title",
        which=which,
        count=total,
        who=who,
        ms=milestone.name if milestone else None,
    )
    footer: tuple[Rich, ...] = ()
    if total > len(shown):
        footer = (ctx.t("task.list_more", more=total - len(shown)),)
    if not total:
        footer = (ctx.t("task.list_empty", which=which),)
    return Reply(title=title, items=items, footer=footer)


def show(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    assert task.id is not None
    roles = _roles(ctx, task)
    people = ctx.people([m for ids in roles.values() for m in ids] + [task.creator_id])
    fields = list(task_fields(ctx, task, roles))
    for role in ("C", "I"):
        if roles[role]:
            fields.append(
                Field(
                    ctx.t("common.label_role", role=role),
                    join_people(people[m] for m in roles[role]),
                )
            )
    fields.append(Field(ctx.t("common.label_creator"), join_people([people[task.creator_id]])))
    comments = repo.recent_comments(ctx.session, task_id=task.id, limit=3)
    authors = ctx.people({c.author_id for c in comments})
    lines = tuple(
        ctx.t(
            "task.comment_line",
            who=authors[c.author_id],
            text=c.text,
            at=c.created_at.astimezone(ctx.tz),
        )
        for c in comments
    )
    total = repo.comment_count(ctx.session, task_id=task.id)
    footer = (
        (ctx.t("task.more_comments", more=total - len(comments)),) if total > len(comments) else ()
    )
    return Reply(
        title=ctx.t("task.show_title", task=task_view(ctx, task)),
        fields=tuple(fields),
        lines=lines,
        footer=footer,
        buttons=task_buttons(ctx, task, has_r=bool(roles["R"])),
    )


def _the_task(ctx: Ctx) -> Task:
    assert ctx.task is not None
    return ctx.task


def _already(ctx: Ctx, task: Task) -> CommandError:
    """The task is in the state asked for: say so, and who put it there (a double click,
    or two people pressing Done at once: the one who came second is told the first)."""
    assert task.id is not None
    actor = repo.status_setter(ctx.session, task_id=task.id, status=task.status)
    by = ctx.person(actor) if actor is not None and actor != ctx.member_id else None
    return CommandError("already", key=ctx.task_key(task), status=task.status, by=by)


def _set_status(ctx: Ctx, task: Task, status: TaskStatus, **detail: str) -> None:
    """Move the task to `status` and audit the move; the same status twice is an error."""
    if task.status == status.value:
        raise _already(ctx, task)
    old = task.status
    task.status = status.value
    _touch(ctx, task)
    repo.record_event(
        ctx.session,
        task=task,
        actor_id=ctx.member_id,
        kind="status",
        at=ctx.now,
        old=old,
        new=status.value,
        **detail,
    )


def start(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    _set_status(ctx, task, TaskStatus.DOING)
    task.started_at = task.started_at or ctx.now
    task.blocked_reason = None
    return task_card(ctx, task, "task.started", tone=Tone.INFO)


def done(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    _set_status(ctx, task, TaskStatus.DONE)
    task.done_at = ctx.now
    task.blocked_reason = None
    reply = task_card(ctx, task, "task.finished")
    roles = _roles(ctx, task)
    build = NoticeBuilder(
        ctx, "notify.done", task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    return _with_notices(reply, notices(ctx, ((m, "i") for m in roles["I"]), build))


def reopen(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    if task.status != TaskStatus.DONE.value:
        raise CommandError("not_done", key=ctx.task_key(task))
    _set_status(ctx, task, TaskStatus.TODO)
    task.done_at = None
    return task_card(ctx, task, "task.reopened", tone=Tone.INFO)


def block(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    reason = args.rest().strip()
    if not reason:
        raise CommandError("missing_reason")
    if len(reason) > 500:
        raise CommandError("title_too_long", limit=500)
    if task.status == TaskStatus.DONE.value:
        raise _already(ctx, task)
    _set_status(ctx, task, TaskStatus.BLOCKED, reason=reason)
    task.blocked_reason = reason
    task.blocked_at = ctx.now
    reply = task_card(ctx, task, "task.blocked", tone=Tone.WARNING)
    roles = _roles(ctx, task)
    build = NoticeBuilder(
        ctx, "notify.blocked", task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    recipients = [(m, "i") for m in roles["I"]] + [(m, "c") for m in roles["C"]]
    return _with_notices(reply, notices(ctx, recipients, build))


def assign(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    assert task.id is not None
    people, rest = take_people(ctx, args.words)
    if rest or not people:
        raise CommandError("need_people")
    before = _roles(ctx, task)["R"]
    ids = [m.id for m in people if m.id is not None]
    repo.set_role(ctx.session, task_id=task.id, role=Role.R.value, member_ids=ids)
    _touch(ctx, task)
    repo.record_event(
        ctx.session,
        task=task,
        actor_id=ctx.member_id,
        kind="assign",
        at=ctx.now,
        old=before,
        new=ids,
    )
    reply = task_card(ctx, task, "task.assigned", tone=Tone.INFO)
    build = NoticeBuilder(
        ctx, "notify.assigned", task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    return _with_notices(
        reply, notices(ctx, ((m, "assignee") for m in ids if m not in before), build)
    )


def claim(ctx: Ctx, args: Args) -> Reply:
    """Take a task nobody is R on. The task's row is locked (the router), so of people
    claiming at once the first wins and the others are told who has it."""
    task = _the_task(ctx)
    assert task.id is not None
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    if task.status == TaskStatus.DONE.value:
        raise _already(ctx, task)
    holders = _roles(ctx, task)[Role.R.value]
    if ctx.member_id in holders:
        raise CommandError("already_r", key=ctx.task_key(task))
    if holders:
        people = ctx.people(holders)
        raise CommandError(
            "claimed_by", key=ctx.task_key(task), who=join_people(people[m] for m in holders)
        )
    repo.add_to_role(ctx.session, task_id=task.id, role=Role.R.value, member_ids=[ctx.member_id])
    _touch(ctx, task)
    repo.record_event(ctx.session, task=task, actor_id=ctx.member_id, kind="claim", at=ctx.now)
    return task_card(ctx, task, "task.claimed", tone=Tone.INFO)


def due(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    if len(args.words) != 1:
        raise CommandError("need_date")
    word = args.words[0]
    new = None if word.lower() in ("none", "-", "无") else parse_date(word, today=ctx.today)
    old = task.due
    task.due = new
    task.updated_at = ctx.now
    repo.record_event(
        ctx.session,
        task=task,
        actor_id=ctx.member_id,
        kind="due",
        at=ctx.now,
        old=old.isoformat() if old else None,
        new=new.isoformat() if new else None,
    )
    return task_card(ctx, task, "task.due_changed", tone=Tone.INFO)


def comment(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    text = args.rest().strip()
    if not text:
        raise CommandError("missing_text")
    if len(text) > MAX_COMMENT:
        raise CommandError("title_too_long", limit=MAX_COMMENT)
    repo.add_comment(ctx.session, task=task, author_id=ctx.member_id, text=text, at=ctx.now)
    _touch(ctx, task)
    repo.record_event(ctx.session, task=task, actor_id=ctx.member_id, kind="comment", at=ctx.now)
    return Reply(
        title=ctx.t("task.commented", task=task_view(ctx, task), who=ctx.mention(ctx.member)),
        lines=(ctx.t("common.value", value=text),),
        visibility=Visibility.CHANNEL,
        tone=Tone.INFO,
    )


def delete(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    task.deleted_at = ctx.now
    task.updated_at = ctx.now
    repo.record_event(ctx.session, task=task, actor_id=ctx.member_id, kind="deleted", at=ctx.now)
    return Reply(
        title=ctx.t("task.deleted", task=task_view(ctx, task), who=ctx.mention(ctx.member)),
        visibility=Visibility.CHANNEL,
        tone=Tone.WARNING,
    )


def _on_task(
    name: str,
    handler: Handler,
    usage: str,
    example: str,
    *aliases: str,
    permission: Permission = Permission.TASK_EDIT,
    reads_only: bool = False,
) -> CommandSpec:
    """A command whose first word is a task key."""
    return CommandSpec(
        group="task",
        name=name,
        handler=handler,
        usage=usage,
        examples=(example,),
        permission=permission,
        target=Target.TASK,
        aliases=aliases,
        reads_only=reads_only,
    )


SPECS = [
    CommandSpec(
        group="task",
        name="add",
        handler=add,
        usage="/task add <title> [@user…] [due:<date>] [prio:high|med|low] [ms:<milestone>]"
        " [kind:bug|task|risk]",
        examples=(
            "/task add Write the SRS @ana due:fri prio:high",
            "/task add 修复登录页 @li due:明天 kind:bug",
        ),
        aliases=("new", "create", "新建", "添加", "创建"),
    ),
    CommandSpec(
        group="task",
        name="list",
        handler=list_,
        usage="/task list [mine|@user|open|overdue|blocked|done|all] [ms:<milestone>]",
        examples=("/task list mine", "/task list overdue", "/task list @ana ms:Beta"),
        aliases=("ls", "列表", "列出"),
    ),
    _on_task(
        "show",
        show,
        "/task show <key>",
        "/task show T-12",
        "查看",
        "详情",
        permission=Permission.MEMBER,
        reads_only=True,
    ),
    _on_task("start", start, "/task start <key>", "/task start T-12", "开始"),
    _on_task("done", done, "/task done <key>", "/task done T-12", "finish", "close", "完成"),
    _on_task("reopen", reopen, "/task reopen <key>", "/task reopen T-12", "重开", "重新打开"),
    _on_task(
        "block",
        block,
        "/task block <key> <reason>",
        "/task block T-12 waiting for the API keys",
        "阻塞",
        "卡住",
    ),
    _on_task(
        "assign", assign, "/task assign <key> @user…", "/task assign T-12 @ana @li", "指派", "分配"
    ),
    _on_task(
        "claim",
        claim,
        "/task claim <key>",
        "/task claim T-12",
        "认领",
        permission=Permission.MEMBER,
    ),
    _on_task("due", due, "/task due <key> <date|none>", "/task due T-12 2026-12-01", "截止"),
    _on_task(
        "comment",
        comment,
        "/task comment <key> <text>",
        "/task comment T-12 draft is in the shared folder",
        "评论",
        "备注",
        permission=Permission.MEMBER,
    ),
    _on_task(
        "delete",
        delete,
        "/task delete <key>",
        "/task delete T-12",
        "rm",
        "删除",
        permission=Permission.ADMIN,
    ),
]
