"""/retro: retrospectives in the chat — notes, votes, and action items that become tasks."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from commands.common import MAX_TITLE, NoticeBuilder, create_task, notices, take_people, task_view
from commands.context import Ctx
from commands.errors import CommandError
from commands.registry import Args, CommandSpec
from commands.types import Mention, Notification, Reply, Rich, Tone, Visibility
from storage import repo
from storage.models import Retro, RetroNote

VOTES_PER_PERSON = 3
# An action note becomes a task's title, so notes share the task title's limit.
MAX_NOTE = MAX_TITLE


class RetroStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class NoteKind(StrEnum):
    WELL = "well"
    IMPROVE = "improve"
    IDEA = "idea"
    ACTION = "action"


KIND_ORDER = tuple(NoteKind)
ANON_WORDS = {"anon", "anonymous", "匿名"}
KIND_WORDS = {
    "well": NoteKind.WELL,
    "good": NoteKind.WELL,
    "好": NoteKind.WELL,
    "做得好": NoteKind.WELL,
    "亮点": NoteKind.WELL,
    "improve": NoteKind.IMPROVE,
    "bad": NoteKind.IMPROVE,
    "改进": NoteKind.IMPROVE,
    "待改进": NoteKind.IMPROVE,
    "问题": NoteKind.IMPROVE,
    "idea": NoteKind.IDEA,
    "ideas": NoteKind.IDEA,
    "想法": NoteKind.IDEA,
    "建议": NoteKind.IDEA,
    "action": NoteKind.ACTION,
    "actions": NoteKind.ACTION,
    "todo": NoteKind.ACTION,
    "行动": NoteKind.ACTION,
    "行动项": NoteKind.ACTION,
    "待办": NoteKind.ACTION,
}


@dataclass(frozen=True)
class NoteView:
    """What templates may read of a note; `author` is None in an anonymous retro."""

    number: int
    kind: str
    text: str
    votes: int
    owner: Mention | None
    author: Mention | None
    task: str | None
    voted: bool


def _open(ctx: Ctx, *, lock: bool = False) -> Retro:
    retro = repo.find_retro(
        ctx.session, project_id=ctx.project_id, status=RetroStatus.OPEN.value, lock=lock
    )
    if retro is None:
        raise CommandError("retro_none_open")
    return retro


def _views(
    ctx: Ctx,
    retro: Retro,
    notes: Iterable[RetroNote],
    *,
    votes: dict[int, int],
    mine: Collection[int] = (),
    tasks: dict[int, str] | None = None,
) -> list[NoteView]:
    notes = list(notes)
    people = ctx.people({m for n in notes for m in (n.owner_id, n.author_id) if m is not None})
    return [
        NoteView(
            number=n.number,
            kind=n.kind,
            text=n.text,
            votes=votes.get(n.id or 0, 0),
            owner=people[n.owner_id] if n.owner_id is not None else None,
            author=people[n.author_id] if n.author_id is not None and not retro.anonymous else None,
            task=(tasks or {}).get(n.id or 0),
            voted=n.id in mine,
        )
        for n in notes
    ]


def _grouped(
    ctx: Ctx, views: list[NoteView], order: Callable[[NoteView], tuple[int, int]]
) -> list[Rich]:
    """A heading per kind that has notes, then its notes in `order`."""
    lines: list[Rich] = []
    for kind in KIND_ORDER:
        group = sorted((v for v in views if v.kind == kind.value), key=order)
        if group:
            lines.append(ctx.t("retro.heading", kind=kind.value, count=len(group)))
            lines += [ctx.t("retro.note", note=v) for v in group]
    return lines


def _by_number(view: NoteView) -> tuple[int, int]:
    return (view.number, 0)


def _by_votes(view: NoteView) -> tuple[int, int]:
    return (-view.votes, view.number)


# -- handlers -----------------------------------------------------------------


def start(ctx: Ctx, args: Args) -> Reply:
    words = list(args.words)
    anonymous = bool(words) and words[-1].lower() in ANON_WORDS
    if anonymous:
        words.pop()
    title = " ".join(words).strip()
    if len(title) > MAX_TITLE:
        raise CommandError("title_too_long", limit=MAX_TITLE)
    title = title or ctx.t("retro.default_title", day=ctx.today).plain()
    repo.lock_project(ctx.session, project_id=ctx.project_id)
    current = repo.find_retro(ctx.session, project_id=ctx.project_id, status=RetroStatus.OPEN.value)
    if current is not None:
        raise CommandError("retro_already_open", title=current.title)
    retro = Retro(
        project_id=ctx.project_id,
        title=title,
        anonymous=anonymous,
        facilitator_id=ctx.member_id,
        created_at=ctx.now,
    )
    ctx.session.add(retro)
    ctx.session.flush()
    return Reply(
        title=ctx.t("retro.started", title=title, who=ctx.mention(ctx.member)),
        lines=ctx.t_lines("retro.how", anonymous=anonymous, votes=VOTES_PER_PERSON),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def add(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    assert retro.id is not None
    kind = KIND_WORDS.get(args.words[0].lower()) if args.words else None
    if kind is None:
        raise CommandError("retro_unknown_kind", value=args.words[0] if args.words else "")
    people, words = take_people(ctx, args.words[1:])
    text = " ".join(words).strip()
    if not text:
        raise CommandError("retro_missing_text")
    if len(text) > MAX_NOTE:
        raise CommandError("title_too_long", limit=MAX_NOTE)
    if people and kind is not NoteKind.ACTION:
        raise CommandError("retro_owner_only_action")
    if len(people) > 1:
        raise CommandError("retro_one_owner")
    owner = people[0] if people else None
    note = RetroNote(
        retro_id=retro.id,
        number=repo.next_note_number(ctx.session, retro_id=retro.id),
        kind=kind.value,
        text=text,
        # An anonymous retro keeps no trace of who wrote a note, not even in the database.
        author_id=None if retro.anonymous else ctx.member_id,
        owner_id=owner.id if owner else None,
        created_at=ctx.now,
    )
    ctx.session.add(note)
    ctx.session.flush()
    [view] = _views(ctx, retro, [note], votes={})
    if retro.anonymous:
        return Reply(
            title=ctx.t("retro.added_anonymously", note=view),
            visibility=Visibility.EPHEMERAL,
            tone=Tone.SUCCESS,
        )
    return Reply(
        title=ctx.t("retro.added", note=view, who=ctx.mention(ctx.member)),
        visibility=Visibility.CHANNEL,
        tone=Tone.INFO,
    )


def list_(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    retro = repo.find_retro(ctx.session, project_id=ctx.project_id, status=RetroStatus.OPEN.value)
    if retro is None:  # a question, answered kindly
        return Reply(title=ctx.t("retro.none_open"), lines=(ctx.t("retro.none_how"),))
    assert retro.id is not None
    notes = repo.retro_notes(ctx.session, retro_id=retro.id)
    mine = repo.retro_votes_of(ctx.session, retro_id=retro.id, member_id=ctx.member_id)
    votes = repo.retro_vote_counts(ctx.session, retro_id=retro.id)
    views = _views(ctx, retro, notes, votes=votes, mine=mine)
    footer = (
        ctx.t("retro.votes_left", left=VOTES_PER_PERSON - len(mine), total=VOTES_PER_PERSON)
        if notes
        else ctx.t("retro.list_empty")
    )
    return Reply(
        title=ctx.t(
            "retro.list_title",
            title=retro.title,
            who=ctx.person(retro.facilitator_id),
            anonymous=retro.anonymous,
            count=len(notes),
        ),
        lines=tuple(_grouped(ctx, views, _by_number)),
        footer=(footer,),
    )


def vote(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    assert retro.id is not None
    number = _note_number(args)
    note = repo.find_note(ctx.session, retro_id=retro.id, number=number)
    if note is None:
        last = repo.next_note_number(ctx.session, retro_id=retro.id) - 1
        raise CommandError("retro_unknown_note", number=number, last=last)
    assert note.id is not None
    mine = repo.retro_votes_of(ctx.session, retro_id=retro.id, member_id=ctx.member_id)
    if note.id in mine:
        raise CommandError("retro_voted_twice", number=number)
    if len(mine) >= VOTES_PER_PERSON:
        raise CommandError("retro_no_votes_left", limit=VOTES_PER_PERSON)
    if not repo.add_retro_vote(ctx.session, note_id=note.id, voter_id=ctx.member_id, at=ctx.now):
        raise CommandError("retro_voted_twice", number=number)
    return Reply(
        title=ctx.t(
            "retro.voted",
            number=number,
            text=note.text,
            left=VOTES_PER_PERSON - len(mine) - 1,
            total=VOTES_PER_PERSON,
        ),
        visibility=Visibility.EPHEMERAL,
        tone=Tone.SUCCESS,
    )


def _note_number(args: Args) -> int:
    word = args.words[0].lstrip("#＃") if len(args.words) == 1 else ""
    if not (word.isascii() and word.isdigit()) or int(word) < 1:
        raise CommandError("retro_need_number", value=args.rest())
    return int(word)


def close(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    retro = _open(ctx, lock=True)
    assert retro.id is not None
    facilitator = retro.facilitator_id
    if not (
        ctx.is_admin or repo.same_person(ctx.session, member_id=ctx.member_id, other_id=facilitator)
    ):
        raise CommandError("retro_close_denied", who=ctx.person(facilitator))
    notes = repo.retro_notes(ctx.session, retro_id=retro.id)
    votes = repo.retro_vote_counts(ctx.session, retro_id=retro.id)
    keys: dict[int, str] = {}
    sent: list[Notification] = []
    for note in notes:
        if note.kind != NoteKind.ACTION.value:
            continue
        owners = [note.owner_id] if note.owner_id is not None else []
        task = create_task(
            ctx, title=note.text, r=owners, a=facilitator, retro=retro.id, note=note.number
        )
        note.task_id = task.id
        keys[note.id or 0] = ctx.task_key(task)
        build = NoticeBuilder(
            ctx, "notify.assigned", task=task_view(ctx, task), who=ctx.mention(ctx.member)
        )
        sent += notices(ctx, ((m, "assignee") for m in owners), build)
    retro.status = RetroStatus.CLOSED.value
    retro.closed_at = ctx.now
    ctx.session.flush()
    views = _views(ctx, retro, notes, votes=votes, tasks=keys)
    lines = _grouped(ctx, views, _by_votes)
    lines.append(ctx.t("retro.tasks_made", keys=list(keys.values()), a=ctx.person(facilitator)))
    return Reply(
        title=ctx.t(
            "retro.closed",
            title=retro.title,
            who=ctx.mention(ctx.member),
            notes=len(notes),
            votes=sum(votes.values()),
        ),
        lines=tuple(lines),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
        notifications=tuple(sent),
    )


def fallback(words: list[str]) -> str | None:
    """Bare `/retro` lists the open retro; `/retro improve <text>` adds a note."""
    if not words:
        return "list"
    return "add" if words[0].lower() in KIND_WORDS else None


SPECS = [
    CommandSpec(
        group="retro",
        name="start",
        handler=start,
        usage="/retro start [title] [anon]",
        examples=("/retro start Sprint 12", "/复盘 开始 第12周 匿名"),
        aliases=("new", "begin", "开始", "发起"),
    ),
    CommandSpec(
        group="retro",
        name="add",
        handler=add,
        usage="/retro add well|improve|idea|action <text> [@owner]",
        examples=(
            "/retro add improve the flaky tests slowed us down",
            "/retro add action Fix the flaky tests @li",
            "/复盘 添加 好 评审很及时",
        ),
        aliases=("note", "添加", "新增"),
    ),
    CommandSpec(
        group="retro",
        name="list",
        handler=list_,
        usage="/retro list",
        examples=("/retro list",),
        aliases=("ls", "show", "列表"),
    ),
    CommandSpec(
        group="retro",
        name="vote",
        handler=vote,
        usage="/retro vote <n>",
        examples=("/retro vote 3", "/复盘 投票 3"),
        aliases=("投票",),
    ),
    CommandSpec(
        group="retro",
        name="close",
        # The facilitator or an admin: the handler authorizes it (it needs the retro).
        handler=close,
        usage="/retro close",
        examples=("/retro close",),
        aliases=("end", "finish", "结束", "关闭"),
    ),
]
