"""/task: create, list, show and move tasks."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

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
from commands.dates import CONFIRM, confirmed, read_day
from commands.errors import CommandError
from commands.parsing import (
    KIND,
    OPTION_ALIASES,
    PRIORITY,
    TASK_OPTIONS,
    Quoted,
    options_named,
    parse_key,
    refuse_unknown,
    split_options,
)
from commands.permissions import Permission
from commands.registry import Args, CommandSpec, Handler, Target
from commands.types import Button, Field, Notification, Reply, Rich, Tone, Visibility
from storage import repo
from storage.enums import Priority, Role, TaskStatus
from storage.models import Milestone, Task

PAGE_SIZE = 20  # tasks a list shows at a time
MAX_COMMENT = 2000
_EDITABLE = ("due", "prio", "ms", "kind")


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
    sure, words = confirmed(args.words)
    options, words = split_options(words, options_named(*TASK_OPTIONS))
    people, words = take_people(ctx, words)
    title = clean_title(ctx, words)
    due, notes = read_day(ctx, options["due"], sure=sure) if "due" in options else (None, ())
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
    reply = created_reply(ctx, task, responsible=assignees, milestone=milestone)
    return replace(reply, lines=reply.lines + notes)


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


class _ChangeNotice(NoticeBuilder):
    """The DM for a change: what changed, then why you are told."""

    def __init__(self, ctx: Ctx, key: str, lines: tuple[Rich, ...], **params: object) -> None:
        super().__init__(ctx, key, **params)
        self.lines = lines

    def __call__(self, reason: str) -> Reply:
        reply = super().__call__(reason)
        return replace(reply, lines=self.lines + reply.lines)


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


_LIST_OPTIONS = {**options_named("ms"), "page": "page", "页": "page"}


def _page_number(raw: str | None) -> int:
    if raw is None:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise CommandError("bad_page", value=raw)
    return int(raw)


def _next_page_command(words: list[str], page: int) -> str:
    """The list command as typed, asking for `page` (an option's value with spaces quoted)."""
    kept = []
    for word in words:
        name, colon, value = word.partition(":")
        if colon and _LIST_OPTIONS.get(name.lower()) == "page":
            continue
        kept.append(f'{name}:"{value}"' if colon and " " in value else word)
    return " ".join(["/task list", *kept, f"page:{page}"])


def list_(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words, _LIST_OPTIONS)
    page = _page_number(options.pop("page", None))
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
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
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
    pages = -(-total // PAGE_SIZE)
    if pages > 1:
        more = _next_page_command(args.words, page + 1) if page < pages else None
        footer = (ctx.t("task.list_page", page=page, pages=pages, more=more),)
    if not total:
        footer = (ctx.t("task.list_empty", which=which),)
    elif page > pages:
        raise CommandError("past_last_page", page=page, pages=pages)
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
        buttons=(*task_buttons(ctx, task, has_r=bool(roles["R"])), _edit_button(ctx, task)),
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


def _set_status(ctx: Ctx, task: Task, status: TaskStatus, **detail: str) -> bool:
    """Move the task to `status` and audit the move; the same status twice is an error.

    `done_at` is set exactly while a task is done, so /kpi, the burndown and the export
    agree on it. True when the move reopened a done task."""
    if task.status == status.value:
        raise _already(ctx, task)
    old = task.status
    task.status = status.value
    reopened = old == TaskStatus.DONE.value
    if status is TaskStatus.DONE:
        task.done_at = ctx.now
    elif reopened:
        task.done_at = None
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
    return reopened


def _reopen_notices(ctx: Ctx, task: Task, reply: Reply) -> Reply:
    """A done task moved back: its I people, told when it was done, are told it is not."""
    roles = _roles(ctx, task)
    build = NoticeBuilder(
        ctx, "notify.reopened", task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    return _with_notices(reply, notices(ctx, ((m, "i") for m in roles["I"]), build))


def start(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    blocked_by = task.blocked_reason if task.status == TaskStatus.BLOCKED.value else None
    reopened = _set_status(ctx, task, TaskStatus.DOING)
    task.started_at = task.started_at or ctx.now
    task.blocked_reason = None
    if blocked_by is not None:
        return _unblocked(ctx, task, "task.started_unblocked", blocked_by=blocked_by, note="")
    reply = task_card(ctx, task, "task.started", tone=Tone.INFO)
    return _reopen_notices(ctx, task, reply) if reopened else reply


def done(ctx: Ctx, args: Args) -> Reply:
    task = _the_task(ctx)
    _set_status(ctx, task, TaskStatus.DONE)
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
    return _reopen_notices(ctx, task, task_card(ctx, task, "task.reopened", tone=Tone.INFO))


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
    return _with_notices(reply, notices(ctx, _everyone_on(roles), build))


def _everyone_on(roles: dict[str, list[int]]) -> list[tuple[int, str]]:
    """A task's R, A, I and C people with the reason each is told (a block, an unblock);
    someone in two roles is told once, for the first."""
    reasons = {"R": "assignee", "A": "accountable", "I": "i", "C": "c"}
    return [(m, reason) for role, reason in reasons.items() for m in roles[role]]


def unblock(ctx: Ctx, args: Args) -> Reply:
    """Return a blocked task to the status it had before the block."""
    task = _the_task(ctx)
    if task.status != TaskStatus.BLOCKED.value:
        raise CommandError("not_blocked", key=ctx.task_key(task), status=task.status)
    note = args.rest().strip()
    if len(note) > 500:
        raise CommandError("title_too_long", limit=500)
    assert task.id is not None
    before = repo.status_before(ctx.session, task_id=task.id, status=TaskStatus.BLOCKED.value)
    if before not in (TaskStatus.TODO.value, TaskStatus.DOING.value, TaskStatus.REVIEW.value):
        before = TaskStatus.DOING.value if task.started_at else TaskStatus.TODO.value
    blocked_by = task.blocked_reason or ""
    _set_status(ctx, task, TaskStatus(before), **({"note": note} if note else {}))
    task.blocked_reason = None
    return _unblocked(ctx, task, "task.unblocked", blocked_by=blocked_by, note=note)


def _unblocked(ctx: Ctx, task: Task, key: str, *, blocked_by: str, note: str) -> Reply:
    """The card of a task no longer blocked, told to everyone a block tells."""
    lines = (ctx.t("task.was_blocked", reason=blocked_by, note=note),)
    roles = _roles(ctx, task)
    reply = replace(task_card(ctx, task, key, tone=Tone.INFO, roles=roles), lines=lines)
    build = _ChangeNotice(
        ctx, "notify.unblocked", lines, task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    return _with_notices(reply, notices(ctx, _everyone_on(roles), build))


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
    sure, words = confirmed(args.words)
    if len(words) != 1:
        raise CommandError("need_date")
    word = words[0]
    new, notes = (
        (None, ()) if word.lower() in ("none", "-", "无") else read_day(ctx, word, sure=sure)
    )
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
    reply = task_card(ctx, task, "task.due_changed", tone=Tone.INFO)
    return replace(reply, lines=reply.lines + notes)


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


# -- edit ---------------------------------------------------------------------

_EDIT_OPTIONS = {
    **{name: canonical for name, canonical in OPTION_ALIASES.items() if canonical in _EDITABLE},
    "title": "title",
    "标题": "title",
    "名称": "title",
}
_OPTION_WORD = re.compile(r"^([A-Za-z\u4e00-\u9fff]+)[:：](.*)$", re.S)
_CLEAR = {"none", "-", "无"}


def _edit_options(words: list[str]) -> dict[str, str]:
    """`title:` takes every word up to the next option (so a title needs no quotes, and
    the Edit title form can append its answer); the other options take one word, or the
    next one after a bare `due:`."""
    options: dict[str, str] = {}
    title: list[str] | None = None
    in_title = False
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        match = None if isinstance(word, Quoted) else _OPTION_WORD.match(word)
        name = _EDIT_OPTIONS.get(match.group(1).lower()) if match else None
        if match is not None and name is None:
            refuse_unknown(match.group(1), match.group(2), _EDIT_OPTIONS)  # `dur:fri`
        if match is None or name is None:
            if in_title:
                assert title is not None
                title.append(word)
                continue
            raise CommandError("edit_what", value=word)
        if name in options or (name == "title" and title is not None):
            raise CommandError("repeated_option", option=name)
        value = match.group(2).strip()
        in_title = name == "title"
        if in_title:
            title = [value] if value else []
            continue
        if not value and i < len(words) and not _OPTION_WORD.match(words[i]):
            value, i = words[i], i + 1
        if not value:
            raise CommandError("empty_option", option=name)
        options[name] = value
    if title is not None:
        options["title"] = " ".join(title)
    if not options:
        raise CommandError("edit_what", value="")
    return options


def _edits(
    ctx: Ctx, task: Task, options: dict[str, str], *, sure: bool
) -> tuple[dict[str, tuple[Any, Any]], tuple[Rich, ...]]:
    """What the options change on the task: field -> (old, new), in the order a card
    shows them (a value the task has already is no change); and how a date that could
    mean two days was read. A past or far date asks first unless `sure` (see dates)."""
    wanted: dict[str, Any] = {}
    notes: tuple[Rich, ...] = ()
    if "title" in options:
        wanted["title"] = clean_title(ctx, options["title"].split())
    if "prio" in options:
        wanted["prio"] = PRIORITY.parse(options["prio"])
    if "due" in options:
        raw = options["due"]
        if raw.lower() in _CLEAR:
            wanted["due"] = None
        else:
            wanted["due"], notes = read_day(ctx, raw, sure=sure)
    if "ms" in options:
        raw = options["ms"]
        wanted["ms"] = None if raw.lower() in _CLEAR else milestone_named(ctx, raw)
    if "kind" in options:
        wanted["kind"] = KIND.parse(options["kind"])
    old_ms = ctx.session.get(Milestone, task.milestone_id) if task.milestone_id else None
    current: dict[str, Any] = {
        "title": task.title,
        "prio": task.priority,
        "due": task.due,
        "ms": old_ms,
        "kind": task.kind,
    }
    changes = {
        name: (current[name], value)
        for name, value in wanted.items()
        if _identity(value) != _identity(current[name])
    }
    return changes, notes


def _identity(value: Any) -> Any:
    return value.id if isinstance(value, Milestone) else value


def _audit_value(value: Any) -> Any:
    if isinstance(value, Milestone):
        return value.name
    if isinstance(value, date):
        return value.isoformat()
    return value


def edit(ctx: Ctx, args: Args) -> Reply:
    """Change title, priority, milestone, kind or due date; the R and A are told."""
    task = _the_task(ctx)
    sure, words = confirmed(args.words)
    changes, notes = _edits(ctx, task, _edit_options(words), sure=sure)
    if not changes:
        raise CommandError("edit_unchanged", key=ctx.task_key(task))
    for name, (_, new) in changes.items():
        if name == "title":
            task.title = new
        elif name == "prio":
            task.priority = new
        elif name == "due":
            task.due = new
        elif name == "ms":
            task.milestone_id = new.id if new else None
        else:
            task.kind = new
    task.updated_at = ctx.now
    repo.record_event(
        ctx.session,
        task=task,
        actor_id=ctx.member_id,
        kind="edit",
        at=ctx.now,
        changes={n: [_audit_value(old), _audit_value(new)] for n, (old, new) in changes.items()},
    )
    lines = tuple(
        ctx.t("task.change", field=name, old=_shown(old), new=_shown(new))
        for name, (old, new) in changes.items()
    )
    roles = _roles(ctx, task)
    card = task_card(ctx, task, "task.edited", tone=Tone.INFO, roles=roles)
    reply = replace(card, lines=lines + notes)
    build = _ChangeNotice(
        ctx, "notify.edited", lines, task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    recipients = [(m, "assignee") for m in roles[Role.R.value]]
    recipients += [(m, "accountable") for m in roles[Role.A.value]]
    return _with_notices(reply, notices(ctx, recipients, build))


def _shown(value: Any) -> Any:
    """A changed value as templates read it (a milestone by its name)."""
    return value.name if isinstance(value, Milestone) else value


def _edit_button(ctx: Ctx, task: Task) -> Button:
    """Edit title: the platform asks for the new title and appends it to `title:`."""
    return Button(
        ctx.t("common.btn_edit_title"),
        f"task edit {ctx.task_key(task)} title:",
        "task_edit_title",
        asks=ctx.t("common.ask_title"),
    )


def delete(ctx: Ctx, args: Args) -> Reply:
    """Asks first: the reply offers a button, or the command again with `!` at its end."""
    task = _the_task(ctx)
    key = ctx.task_key(task)
    if args.words and args.words != [CONFIRM]:
        raise CommandError("unexpected_words", value=args.rest())
    if not args.words:
        return Reply(
            title=ctx.t("task.delete_ask", task=task_view(ctx, task)),
            lines=(ctx.t("task.delete_how", key=key),),
            buttons=(
                Button(
                    ctx.t("task.btn_delete", key=key),
                    f"task delete {key} {CONFIRM}",
                    "task_delete",
                    "danger",
                ),
            ),
            tone=Tone.WARNING,
        )
    task.deleted_at = ctx.now
    task.updated_at = ctx.now
    repo.record_event(ctx.session, task=task, actor_id=ctx.member_id, kind="deleted", at=ctx.now)
    return Reply(
        title=ctx.t("task.deleted", task=task_view(ctx, task), who=ctx.mention(ctx.member)),
        lines=(ctx.t("task.restore_how", key=key),),
        visibility=Visibility.CHANNEL,
        tone=Tone.WARNING,
    )


def restore(ctx: Ctx, args: Args) -> Reply:
    """Undo a delete: the row was kept, with the time it was deleted."""
    if not args.words:
        raise CommandError("missing_key")
    if len(args.words) > 1:
        raise CommandError("unexpected_words", value=" ".join(args.words[1:]))
    number = parse_key(args.words[0], prefix=ctx.project.key_prefix)
    key = f"{ctx.project.key_prefix}-{number}"
    task = repo.find_deleted_task(ctx.session, project_id=ctx.project_id, number=number, lock=True)
    if task is None:
        live = repo.find_task(ctx.session, project_id=ctx.project_id, number=number)
        raise CommandError("not_deleted" if live else "unknown_task", key=key)
    task.deleted_at = None
    task.updated_at = ctx.now
    repo.record_event(ctx.session, task=task, actor_id=ctx.member_id, kind="restored", at=ctx.now)
    return task_card(ctx, task, "task.restored")


def _on_task(
    name: str,
    handler: Handler,
    usage: str,
    example: str,
    *aliases: str,
    permission: Permission = Permission.TASK_EDIT,
    reads_only: bool = False,
    several: bool = False,
    takes_words: bool = True,
) -> CommandSpec:
    """A command whose first word is a task key (its first words, with `several`)."""
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
        several=several,
        takes_words=takes_words,
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
        usage="/task list [mine|@user|open|overdue|blocked|done|all] [ms:<milestone>] [page:<n>]",
        examples=(
            "/task list mine",
            "/task list overdue",
            "/task list @ana ms:Beta",
            "/task list page:2",
        ),
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
        takes_words=False,
    ),
    _on_task(
        "start",
        start,
        "/task start <key>",
        "/task start T-12",
        "开始",
        several=True,
        takes_words=False,
    ),
    _on_task(
        "done",
        done,
        "/task done <key>",
        "/task done T-12",
        "finish",
        "close",
        "完成",
        several=True,
        takes_words=False,
    ),
    _on_task(
        "reopen",
        reopen,
        "/task reopen <key>",
        "/task reopen T-12",
        "重开",
        "重新打开",
        several=True,
        takes_words=False,
    ),
    _on_task(
        "block",
        block,
        "/task block <key> <reason>",
        "/task block T-12 waiting for the API keys",
        "阻塞",
        "卡住",
        several=True,
    ),
    _on_task(
        "unblock",
        unblock,
        "/task unblock <key> [note]",
        "/task unblock T-12 the keys arrived",
        "解除阻塞",
        "解封",
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
        "edit",
        edit,
        "/task edit <key> [title:<text>] [prio:high|med|low] [ms:<milestone>|none]"
        " [kind:bug|task|risk] [due:<date>|none]",
        "/task edit T-12 title:Write the SRS v2 prio:high",
        "change",
        "修改",
        "编辑",
    ),
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
        "/task delete <key> [!]",
        "/task delete T-12",
        "rm",
        "删除",
        permission=Permission.ADMIN,
    ),
    CommandSpec(
        group="task",
        name="restore",
        handler=restore,
        usage="/task restore <key>",
        examples=("/task restore T-12",),
        permission=Permission.ADMIN,
        aliases=("undelete", "恢复"),
    ),
]
