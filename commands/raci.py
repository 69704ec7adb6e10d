"""/raci: who is Responsible, Accountable, Consulted and Informed on each task."""

from __future__ import annotations

from dataclasses import replace

from commands.common import NoticeBuilder, join_people, milestone_named, notices, task_view
from commands.context import Ctx
from commands.errors import CommandError
from commands.parsing import LOOKS_LIKE_KEY, options_named, split_options
from commands.permissions import Permission
from commands.registry import Args, CommandSpec, Target
from commands.textwidth import shorten
from commands.types import Field, Reply, Rich, Table, Tone, Visibility
from storage import repo
from storage.enums import TaskStatus
from storage.models import Member

ROLES = ("R", "A", "C", "I")
CLEAR_WORDS = {"-", "none", "无"}
# Open tasks on which one person is R or A before /raci check calls it too many.
OVERLOAD = 5
MATRIX_COLUMNS = 15
TITLE_COLUMNS = 36  # a task's title beside the matrix, in screen columns (CJK counts two)


def _role_fields(ctx: Ctx, roles: dict[str, list[int]]) -> tuple[Field, ...]:
    people = ctx.people([m for ids in roles.values() for m in ids])
    return tuple(
        Field(ctx.t("common.label_role", role=role), join_people(people[m] for m in roles[role]))
        for role in ROLES
    )


def _warnings(ctx: Ctx, roles: dict[str, list[int]]) -> tuple[Rich, ...]:
    out = []
    if not roles["A"]:
        out.append(ctx.t("raci.warn_no_a"))
    if not roles["R"]:
        out.append(ctx.t("raci.warn_no_r"))
    return tuple(out)


def show(ctx: Ctx, args: Args) -> Reply:
    assert ctx.task is not None and ctx.task.id is not None
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    roles = repo.raci_of(ctx.session, task_ids=[ctx.task.id])[ctx.task.id]
    return Reply(
        title=ctx.t("raci.show_title", task=task_view(ctx, ctx.task)),
        fields=_role_fields(ctx, roles),
        lines=_warnings(ctx, roles),
    )


def _parse_assignments(ctx: Ctx, words: list[str]) -> dict[str, list[Member] | None]:
    """`R @a @b A @c C - …` → role -> members (None clears the role)."""
    wanted: dict[str, list[Member] | None] = {}
    role: str | None = None
    for word in words:
        letter = word.upper()
        if letter in ROLES:
            if letter in wanted:
                if letter == "A":
                    raise CommandError("one_accountable")
                raise CommandError("repeated_role", role=letter)
            role = letter
            wanted[role] = []
            continue
        if role is None:
            raise CommandError("raci_expected_role", value=word)
        current = wanted[role]
        if word.lower() in CLEAR_WORDS:
            if current:
                raise CommandError("raci_clear_alone", role=role)
            wanted[role] = None
            continue
        if not word.startswith("@") or current is None:
            raise CommandError("raci_expected_person", value=word, role=role)
        member = ctx.resolve_person(word)
        if all(m.id != member.id for m in current):
            current.append(member)
    for role, members in wanted.items():
        if members is not None and not members:
            raise CommandError("raci_role_empty", role=role)
        if role == "A" and members is not None and len(members) > 1:
            raise CommandError("one_accountable")
    if not wanted:
        raise CommandError("raci_expected_role", value="")
    return wanted


def set_roles(ctx: Ctx, args: Args) -> Reply:
    task = ctx.task
    assert task is not None and task.id is not None
    wanted = _parse_assignments(ctx, args.words)
    before = repo.raci_of(ctx.session, task_ids=[task.id])[task.id]
    for role, members in wanted.items():
        ids = [m.id for m in members or [] if m.id is not None]
        repo.set_role(ctx.session, task_id=task.id, role=role, member_ids=ids)
    after = repo.raci_of(ctx.session, task_ids=[task.id])[task.id]
    if after == before:
        raise CommandError("raci_unchanged", key=ctx.task_key(task))
    task.updated_at = ctx.now
    repo.record_event(
        ctx.session,
        task=task,
        actor_id=ctx.member_id,
        kind="raci",
        at=ctx.now,
        old=before,
        new=after,
    )
    lines: list[Rich] = []
    if before["A"] and after["A"] and before["A"] != after["A"]:
        people = ctx.people(before["A"] + after["A"])
        lines.append(
            ctx.t("raci.a_replaced", old=people[before["A"][0]], new=people[after["A"][0]])
        )
    lines += _warnings(ctx, after)
    reply = Reply(
        title=ctx.t("raci.updated", task=task_view(ctx, task), who=ctx.mention(ctx.member)),
        fields=_role_fields(ctx, after),
        lines=tuple(lines),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )
    new_r = [m for m in after["R"] if m not in before["R"]]
    new_a = [m for m in after["A"] if m not in before["A"]]
    build = NoticeBuilder(
        ctx, "notify.raci", task=task_view(ctx, task), who=ctx.mention(ctx.member)
    )
    recipients = [(m, "assignee") for m in new_r] + [(m, "a") for m in new_a]
    return replace(reply, notifications=notices(ctx, recipients, build))


def matrix(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words, options_named("ms"))
    if words:
        raise CommandError("unexpected_words", value=args.rest())
    milestone = milestone_named(ctx, options["ms"]) if "ms" in options else None
    tasks = repo.list_tasks(
        ctx.session, project_id=ctx.project_id, milestone_id=milestone.id if milestone else None
    )
    title = ctx.t("raci.matrix_title", ms=milestone.name if milestone else None)
    if not tasks:
        return Reply(title=title, lines=(ctx.t("raci.matrix_empty"),))
    # Open tasks first; then the most recently numbered done ones.
    open_tasks = [t for t in tasks if t.status != TaskStatus.DONE.value]
    done_tasks = [t for t in tasks if t.status == TaskStatus.DONE.value]
    shown = sorted((open_tasks + done_tasks[::-1])[:MATRIX_COLUMNS], key=lambda t: t.number)
    raci = repo.raci_of(ctx.session, task_ids=[t.id for t in shown if t.id is not None])
    member_ids = list(dict.fromkeys(m for t in shown for r in ROLES for m in raci[t.id or 0][r]))
    people = ctx.people(member_ids)
    header = (
        ctx.t("raci.matrix_corner"),
        *(
            ctx.t("raci.matrix_column", key=ctx.task_key(t), done=t.status == TaskStatus.DONE.value)
            for t in shown
        ),
    )
    rows = []
    for member_id in sorted(member_ids, key=lambda m: people[m].name.lower()):
        cells = tuple(
            Rich.lit("".join(r for r in ROLES if member_id in raci[t.id or 0][r]) or "·")
            for t in shown
        )
        rows.append((join_people([people[member_id]]), *cells))
    # The columns are keys; what each task is comes first, cut to fit a narrow screen.
    items = tuple(
        ctx.t(
            "raci.matrix_task",
            key=ctx.task_key(t),
            title=shorten(t.title, TITLE_COLUMNS),
            done=t.status == TaskStatus.DONE.value,
        )
        for t in shown
    )
    footer = [ctx.t("raci.legend")]
    if len(tasks) > len(shown):
        footer.append(ctx.t("raci.matrix_more", more=len(tasks) - len(shown)))
    lines = () if member_ids else (ctx.t("raci.matrix_nobody"),)
    return Reply(
        title=title,
        lines=lines,
        items=items,
        table=Table(header, tuple(rows)),
        footer=tuple(footer),
    )


def check(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    tasks = repo.list_tasks(
        ctx.session, project_id=ctx.project_id, exclude_status=TaskStatus.DONE.value
    )
    raci = repo.raci_of(ctx.session, task_ids=[t.id for t in tasks if t.id is not None])
    no_a = [ctx.task_key(t) for t in tasks if not raci[t.id or 0]["A"]]
    several_a = [ctx.task_key(t) for t in tasks if len(raci[t.id or 0]["A"]) > 1]
    no_r = [ctx.task_key(t) for t in tasks if not raci[t.id or 0]["R"]]
    load: dict[int, int] = {}
    for t in tasks:
        for member_id in set(raci[t.id or 0]["R"]) | set(raci[t.id or 0]["A"]):
            load[member_id] = load.get(member_id, 0) + 1
    heavy = sorted((m for m, n in load.items() if n > OVERLOAD), key=lambda m: -load[m])
    people = ctx.people(heavy)
    lines = ctx.t_lines(
        "raci.check",
        open=len(tasks),
        no_a=", ".join(no_a),
        several_a=", ".join(several_a),
        no_r=", ".join(no_r),
        limit=OVERLOAD,
        heavy=len(heavy),
    )
    items = tuple(ctx.t("raci.overloaded", who=people[m], count=load[m]) for m in heavy)
    clean = not (no_a or several_a or no_r or heavy)
    return Reply(
        title=ctx.t("raci.check_title", clean=clean),
        lines=lines,
        items=items,
        tone=Tone.SUCCESS if clean else Tone.WARNING,
    )


def fallback(words: list[str]) -> str | None:
    """`/raci <key>` shows, `/raci <key> R @…` sets (any project's key prefix)."""
    if words and LOOKS_LIKE_KEY.match(words[0]):
        return "show" if len(words) == 1 else "set"
    return None


SPECS = [
    CommandSpec(
        group="raci",
        name="show",
        handler=show,
        usage="/raci <key>",
        examples=("/raci T-12",),
        target=Target.TASK,
        reads_only=True,
    ),
    CommandSpec(
        group="raci",
        name="set",
        handler=set_roles,
        usage="/raci <key> [R @user…] [A @user] [C @user…] [I @user…]",
        examples=("/raci T-12 A @li R @ana C @wang I @zoe", "/raci T-12 C -"),
        permission=Permission.TASK_RACI,
        target=Target.TASK,
    ),
    CommandSpec(
        group="raci",
        name="matrix",
        handler=matrix,
        usage="/raci matrix [ms:<milestone>]",
        examples=("/raci matrix", "/raci matrix ms:Beta"),
        aliases=("矩阵",),
    ),
    CommandSpec(
        group="raci",
        name="check",
        handler=check,
        usage="/raci check",
        examples=("/raci check",),
        aliases=("检查",),
    ),
]
