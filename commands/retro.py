"""/retro: retrospectives in phases — private notes, reveal, groups and votes, discussion,
and actions with owners and due dates that become tasks and come back at the next retro.

A retro is open in one phase at a time:
- reflect: people add notes of the template's kinds; a note is acknowledged only to its
  author, and every list shows only how many notes there are (and who wrote how many),
  until the facilitator runs `/retro reveal`;
- vote: the notes are shown; people group them and vote (3 votes each, one per note);
- discuss: the votes are frozen; the notes and groups are shown by votes.
Actions (`/retro action <text> @owner [due:<date>]`) can be added in any phase; `close`
makes each a task and refuses while one has no owner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from commands.common import (
    MAX_TITLE,
    NoticeBuilder,
    create_task,
    is_overdue,
    notices,
    take_people,
    task_view,
)
from commands.context import Ctx
from commands.dates import confirmed, read_day
from commands.errors import CommandError
from commands.parsing import Quoted, split_options
from commands.registry import Args, CommandSpec
from commands.types import Button, Mention, Notification, Reply, Rich, Tone, Visibility
from storage import repo
from storage.enums import TaskStatus
from storage.models import Retro, RetroNote

VOTES_PER_PERSON = 3
# An action becomes a task's title, so notes share the task title's limit.
MAX_NOTE = MAX_TITLE


class RetroStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Phase(StrEnum):
    REFLECT = "reflect"
    VOTE = "vote"
    DISCUSS = "discuss"


ACTION = "action"
# The kinds of note of each template, in the order they are shown. `classic` is the
# template of retros opened before phases existed; it is not offered for new ones.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "ww": ("well", "improve"),
    "ssc": ("start", "stop", "continue"),
    "4l": ("liked", "learned", "lacked", "longed"),
    "msg": ("mad", "sad", "glad"),
    "classic": ("well", "improve", "idea"),
}
DEFAULT_TEMPLATE = "ww"
TEMPLATE_WORDS = {
    "ww": "ww",
    "well": "ww",
    "ssc": "ssc",
    "start-stop-continue": "ssc",
    "4l": "4l",
    "4ls": "4l",
    "msg": "msg",
    "mad-sad-glad": "msg",
}
ANON_WORDS = {"anon", "anonymous", "匿名"}
KIND_WORDS = {
    "well": "well",
    "good": "well",
    "好": "well",
    "做得好": "well",
    "亮点": "well",
    "improve": "improve",
    "bad": "improve",
    "改进": "improve",
    "待改进": "improve",
    "问题": "improve",
    "idea": "idea",
    "ideas": "idea",
    "想法": "idea",
    "建议": "idea",
    "start": "start",
    "开始做": "start",
    "stop": "stop",
    "停止": "stop",
    "停止做": "stop",
    "continue": "continue",
    "继续": "continue",
    "继续做": "continue",
    "liked": "liked",
    "喜欢": "liked",
    "learned": "learned",
    "学到": "learned",
    "lacked": "lacked",
    "缺少": "lacked",
    "longed": "longed",
    "longed-for": "longed",
    "期望": "longed",
    "渴望": "longed",
    "mad": "mad",
    "生气": "mad",
    "sad": "sad",
    "难过": "sad",
    "glad": "glad",
    "高兴": "glad",
    "action": ACTION,
    "actions": ACTION,
    "todo": ACTION,
    "行动": ACTION,
    "行动项": ACTION,
    "待办": ACTION,
}
DUE_OPTIONS = {"due": "due", "deadline": "due", "截止": "due", "到期": "due"}
TEMPLATE_OPTIONS = {"template": "template", "tpl": "template", "模板": "template"}


@dataclass(frozen=True)
class NoteView:
    """What templates may read of a note (or of a group, led by its first note);
    `author` is None in an anonymous retro."""

    number: int
    kind: str
    text: str
    votes: int
    owner: Mention | None
    author: Mention | None
    task: str | None
    voted: bool
    due: date | None = None
    title: str | None = None  # a group's title
    members: tuple[NoteView, ...] = field(default=())  # the other notes of its group


@dataclass(frozen=True)
class ActionStatus:
    """An action of the last retro, as its task stands now."""

    key: str
    title: str
    owners: tuple[Mention, ...]
    due: date | None
    state: str  # done, overdue, open


# -- helpers ------------------------------------------------------------------------------


def _open(ctx: Ctx, *, lock: bool = False) -> Retro:
    retro = repo.find_retro(
        ctx.session, project_id=ctx.project_id, status=RetroStatus.OPEN.value, lock=lock
    )
    if retro is None:
        raise CommandError("retro_none_open")
    return retro


def _retro_id(retro: Retro) -> int:
    assert retro.id is not None
    return retro.id


def _runs_it(ctx: Ctx, retro: Retro) -> bool:
    """The facilitator (on any linked account) or a project admin."""
    return ctx.is_admin or repo.same_person(
        ctx.session, member_id=ctx.member_id, other_id=retro.facilitator_id
    )


def _facilitate(ctx: Ctx, retro: Retro, what: str) -> None:
    if not _runs_it(ctx, retro):
        raise CommandError(
            "retro_facilitator_only", who=ctx.person(retro.facilitator_id), what=what
        )


def _in_phase(retro: Retro, *phases: Phase, what: str) -> None:
    if retro.phase not in phases:
        raise CommandError("retro_wrong_phase", phase=retro.phase, what=what)


def _kinds(retro: Retro) -> tuple[str, ...]:
    return TEMPLATES.get(retro.template, TEMPLATES[DEFAULT_TEMPLATE])


def _note_text(words: Sequence[str]) -> str:
    text = " ".join(words).strip()
    if not text:
        raise CommandError("retro_missing_text")
    if len(text) > MAX_NOTE:
        raise CommandError("title_too_long", limit=MAX_NOTE)
    return text


def _number(word: str, rest: str) -> int:
    word = word.lstrip("#＃")
    if not (word.isascii() and word.isdigit()) or int(word) < 1:
        raise CommandError("retro_need_number", value=rest)
    return int(word)


def _one_number(args: Args) -> int:
    if len(args.words) != 1:
        raise CommandError("retro_need_number", value=args.rest())
    return _number(args.words[0], args.rest())


def _note(ctx: Ctx, retro: Retro, number: int) -> RetroNote:
    note = repo.find_note(ctx.session, retro_id=_retro_id(retro), number=number)
    if note is None:
        last = repo.next_note_number(ctx.session, retro_id=_retro_id(retro)) - 1
        raise CommandError("retro_unknown_note", number=number, last=last)
    return note


def _wrote(ctx: Ctx, note: RetroNote) -> bool:
    return note.author_id is not None and repo.same_person(
        ctx.session, member_id=ctx.member_id, other_id=note.author_id
    )


def _views(
    ctx: Ctx,
    retro: Retro,
    notes: Iterable[RetroNote],
    *,
    votes: dict[int, int],
    mine: set[int] | frozenset[int] = frozenset(),
    tasks: dict[int, str] | None = None,
) -> list[NoteView]:
    """One view per note that leads (a note alone, or the first of a group), its group's
    other notes inside it and their votes added to its own."""
    notes = list(notes)
    people = ctx.people({m for n in notes for m in (n.owner_id, n.author_id) if m is not None})

    def view(n: RetroNote, members: tuple[NoteView, ...] = ()) -> NoteView:
        return NoteView(
            number=n.number,
            kind=n.kind,
            text=n.text,
            votes=votes.get(n.id or 0, 0) + sum(m.votes for m in members),
            owner=people[n.owner_id] if n.owner_id is not None else None,
            author=people[n.author_id] if n.author_id is not None and not retro.anonymous else None,
            task=(tasks or {}).get(n.id or 0),
            voted=n.id in mine or any(m.voted for m in members),
            due=n.due,
            title=n.group_title,
            members=members,
        )

    grouped: dict[int, list[RetroNote]] = {}
    for n in notes:
        if n.grouped_into is not None:
            grouped.setdefault(n.grouped_into, []).append(n)
    return [
        view(n, tuple(view(m) for m in grouped.get(n.number, [])))
        for n in notes
        if n.grouped_into is None
    ]


def _lines(ctx: Ctx, views: Iterable[NoteView], *, ranked: bool = False) -> list[Rich]:
    lines: list[Rich] = []
    for v in views:
        lines.append(ctx.t("retro.note", note=v, ranked=ranked))
        lines += [ctx.t("retro.member", note=m) for m in v.members]
    return lines


def _by_kind(ctx: Ctx, retro: Retro, views: list[NoteView]) -> list[Rich]:
    """A heading per kind that has notes (the template's, then any other), then its notes."""
    lines: list[Rich] = []
    kinds = [*_kinds(retro), *sorted({v.kind for v in views} - {*_kinds(retro), ACTION})]
    for kind in kinds:
        group = [v for v in views if v.kind == kind]
        if group:
            lines.append(ctx.t("retro.heading", kind=kind, count=len(group)))
            lines += _lines(ctx, group)
    return lines


def _ranked(ctx: Ctx, views: list[NoteView]) -> list[Rich]:
    """Every note and group but the actions, most votes first."""
    ordered = sorted((v for v in views if v.kind != ACTION), key=lambda v: (-v.votes, v.number))
    return _lines(ctx, ordered, ranked=True)


def _actions(ctx: Ctx, views: list[NoteView]) -> list[Rich]:
    actions = [v for v in views if v.kind == ACTION]
    if not actions:
        return []
    return [ctx.t("retro.heading", kind=ACTION, count=len(actions))] + [
        ctx.t("retro.action_line", note=v) for v in actions
    ]


def _note_buttons(ctx: Ctx, retro: Retro) -> tuple[Button, ...]:
    """One button per kind: each asks for the note's text in a form only the presser sees
    (a Slack modal, a Feishu form input) and adds it as them."""
    return tuple(
        Button(
            ctx.t("retro.btn_add", kind=kind),
            f"retro add {kind}",
            f"retro_add_{kind}",
            asks=ctx.t("retro.ask_note", kind=kind),
        )
        for kind in _kinds(retro)
    )


def _last_actions(ctx: Ctx) -> tuple[Retro | None, list[ActionStatus]]:
    last = repo.last_closed_retro(ctx.session, project_id=ctx.project_id)
    if last is None:
        return None, []
    pairs = repo.retro_action_tasks(ctx.session, retro_id=_retro_id(last))
    roles = repo.raci_of(ctx.session, task_ids=[t.id for _, t in pairs if t.id is not None])
    people = ctx.people({m for r in roles.values() for m in r["R"]})
    out = []
    for _, task in pairs:
        state = (
            "done"
            if task.status == TaskStatus.DONE.value
            else "overdue"
            if is_overdue(task, ctx.today)
            else "open"
        )
        owners = tuple(people[m] for m in roles.get(task.id or 0, {}).get("R", []) if m in people)
        out.append(ActionStatus(ctx.task_key(task), task.title, owners, task.due, state))
    return last, out


# -- handlers -----------------------------------------------------------------------------


def start(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(list(args.words), TEMPLATE_OPTIONS)
    template = DEFAULT_TEMPLATE
    if "template" in options:
        template = TEMPLATE_WORDS.get(options["template"].lower(), "")
        if not template:
            raise CommandError("retro_unknown_template", value=options["template"])
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
        phase=Phase.REFLECT.value,
        template=template,
        created_at=ctx.now,
    )
    ctx.session.add(retro)
    ctx.session.flush()
    last, actions = _last_actions(ctx)
    lines = list(
        ctx.t_lines(
            "retro.how",
            anonymous=anonymous,
            template=template,
            kinds=list(_kinds(retro)),
            votes=VOTES_PER_PERSON,
        )
    )
    if last is not None and actions:
        lines.append(ctx.t("retro.last_actions", title=last.title))
        lines += [ctx.t("retro.last_action", action=a) for a in actions]
    return Reply(
        title=ctx.t("retro.started", title=title, who=ctx.mention(ctx.member), template=template),
        lines=tuple(lines),
        buttons=_note_buttons(ctx, retro),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def add(ctx: Ctx, args: Args) -> Reply:
    kind = KIND_WORDS.get(args.words[0].lower()) if args.words else None
    if kind == ACTION:
        return action(ctx, Args(args.words[1:]))
    retro = _open(ctx, lock=True)
    if kind is None or kind not in _kinds(retro):
        raise CommandError(
            "retro_unknown_kind",
            value=args.words[0] if args.words else "",
            kinds=list(_kinds(retro)),
        )
    _in_phase(retro, Phase.REFLECT, what="add")
    words = args.words[1:]
    # A form's answer comes as one quoted word: its text, even if it starts with @.
    if any(w.startswith("@") and len(w) > 1 and not isinstance(w, Quoted) for w in words):
        raise CommandError("retro_owner_only_action")
    text = _note_text(words)
    note = RetroNote(
        retro_id=_retro_id(retro),
        number=repo.next_note_number(ctx.session, retro_id=_retro_id(retro)),
        kind=kind,
        text=text,
        # An anonymous retro keeps no trace of who wrote a note, not even in the database.
        author_id=None if retro.anonymous else ctx.member_id,
        created_at=ctx.now,
    )
    ctx.session.add(note)
    ctx.session.flush()
    [view] = _views(ctx, retro, [note], votes={})
    return Reply(
        title=ctx.t("retro.added", note=view, anonymous=retro.anonymous),
        lines=ctx.t_lines("retro.added_how", number=note.number, anonymous=retro.anonymous),
        visibility=Visibility.EPHEMERAL,
        tone=Tone.SUCCESS,
    )


def action(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    sure, words = confirmed(args.words)
    options, words = split_options(words, DUE_OPTIONS)
    people, words = take_people(ctx, words)
    if len(people) > 1:
        raise CommandError("retro_one_owner")
    text = _note_text(words)
    due, read = read_day(ctx, options["due"], sure=sure) if "due" in options else (None, ())
    owner = people[0] if people else None
    note = RetroNote(
        retro_id=_retro_id(retro),
        number=repo.next_note_number(ctx.session, retro_id=_retro_id(retro)),
        kind=ACTION,
        text=text,
        author_id=None if retro.anonymous else ctx.member_id,
        owner_id=owner.id if owner else None,
        due=due,
        created_at=ctx.now,
    )
    ctx.session.add(note)
    ctx.session.flush()
    [view] = _views(ctx, retro, [note], votes={})
    who = None if retro.anonymous else ctx.mention(ctx.member)
    return Reply(
        title=ctx.t("retro.action_added", note=view, who=who),
        lines=read
        + ((ctx.t("retro.action_needs_owner", number=note.number),) if owner is None else ()),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def assign(ctx: Ctx, args: Args) -> Reply:
    """Give an action its owner (and due date) before close."""
    retro = _open(ctx, lock=True)
    if not args.words:
        raise CommandError("retro_need_number", value="")
    number = _number(args.words[0], args.rest())
    note = _note(ctx, retro, number)
    if note.kind != ACTION:
        raise CommandError("retro_not_action", number=number)
    sure, words = confirmed(args.words[1:])
    options, words = split_options(words, DUE_OPTIONS)
    people, words = take_people(ctx, words)
    if words:
        raise CommandError("unexpected_words", value=" ".join(words))
    if len(people) > 1:
        raise CommandError("retro_one_owner")
    if not people and "due" not in options:
        raise CommandError("retro_need_owner", number=number)
    read: tuple[Rich, ...] = ()
    if people:
        note.owner_id = people[0].id
    if "due" in options:
        note.due, read = read_day(ctx, options["due"], sure=sure)
    ctx.session.flush()
    [view] = _views(ctx, retro, [note], votes={})
    return Reply(
        title=ctx.t("retro.action_changed", note=view, who=ctx.mention(ctx.member)),
        lines=read,
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def list_(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    retro = repo.find_retro(ctx.session, project_id=ctx.project_id, status=RetroStatus.OPEN.value)
    if retro is None:  # a question, answered kindly
        return Reply(title=ctx.t("retro.none_open"), lines=(ctx.t("retro.none_how"),))
    rid = _retro_id(retro)
    notes = repo.retro_notes(ctx.session, retro_id=rid)
    reflections = [n for n in notes if n.kind != ACTION]
    title = ctx.t(
        "retro.list_title",
        title=retro.title,
        who=ctx.person(retro.facilitator_id),
        anonymous=retro.anonymous,
        phase=retro.phase,
        count=len(reflections),
    )
    if retro.phase == Phase.REFLECT.value:
        return Reply(title=title, lines=tuple(_hidden(ctx, retro, notes)))
    mine = repo.retro_votes_of(ctx.session, retro_id=rid, member_id=ctx.member_id)
    votes = repo.retro_vote_counts(ctx.session, retro_id=rid)
    views = _views(ctx, retro, notes, votes=votes, mine=mine)
    if retro.phase == Phase.DISCUSS.value:
        lines = _ranked(ctx, views)
        footer = ctx.t("retro.discuss_how")
    else:
        lines = _by_kind(ctx, retro, views)
        footer = ctx.t(
            "retro.votes_left", left=VOTES_PER_PERSON - len(mine), total=VOTES_PER_PERSON
        )
    return Reply(title=title, lines=tuple(lines + _actions(ctx, views)), footer=(footer,))


def _hidden(ctx: Ctx, retro: Retro, notes: list[RetroNote]) -> list[Rich]:
    """During reflect: how many notes, by whom (unless anonymous), the asker's own notes
    and the actions; nobody else's text."""
    reflections = [n for n in notes if n.kind != ACTION]
    lines = [ctx.t("retro.so_far", count=len(reflections))]
    if not retro.anonymous:
        counts: dict[int, int] = {}
        for n in reflections:
            if n.author_id is not None:
                counts[n.author_id] = counts.get(n.author_id, 0) + 1
        people = ctx.people(counts)
        if counts:
            lines.append(
                ctx.t("retro.by_person", counts=[(people[m], c) for m, c in counts.items()])
            )
        own = [n for n in reflections if _wrote(ctx, n)]
        if own:
            lines.append(ctx.t("retro.yours"))
            lines += [ctx.t("retro.own_note", note=v) for v in _views(ctx, retro, own, votes={})]
    actions = [n for n in notes if n.kind == ACTION]
    lines += _actions(ctx, _views(ctx, retro, actions, votes={}))
    lines.append(ctx.t("retro.hidden_until_reveal"))
    return lines


def reveal(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    retro = _open(ctx, lock=True)
    _facilitate(ctx, retro, "reveal")
    _in_phase(retro, Phase.REFLECT, what="reveal")
    retro.phase = Phase.VOTE.value
    ctx.session.flush()
    notes = repo.retro_notes(ctx.session, retro_id=_retro_id(retro))
    views = _views(ctx, retro, notes, votes={})
    return Reply(
        title=ctx.t(
            "retro.revealed",
            title=retro.title,
            who=ctx.mention(ctx.member),
            count=len([n for n in notes if n.kind != ACTION]),
        ),
        lines=tuple(_by_kind(ctx, retro, views) + _actions(ctx, views)),
        footer=(ctx.t("retro.vote_how", votes=VOTES_PER_PERSON),),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def group(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    _in_phase(retro, Phase.VOTE, what="group")
    words = list(args.words)
    title: str | None = None
    lowered = [w.lower() for w in words]
    for word in ("as", "为", "叫"):
        if word in lowered:
            at = lowered.index(word)
            title = _note_text(words[at + 1 :])
            words = words[:at]
            break
    numbers = list(dict.fromkeys(_number(w, args.rest()) for w in words))
    if len(numbers) < 2 and not (len(numbers) == 1 and title):
        raise CommandError("retro_group_needs_two", value=args.rest())
    rid = _retro_id(retro)
    chosen = [_note(ctx, retro, n) for n in numbers]
    for note in chosen:
        if note.kind == ACTION:
            raise CommandError("retro_action_in_group", number=note.number)
    # A note already in a group brings its whole group; the group's lead leads the new one.
    leads = [n.grouped_into or n.number for n in chosen]
    lead = _note(ctx, retro, leads[0])
    assert lead.id is not None
    notes = repo.retro_notes(ctx.session, retro_id=rid)
    joining = [
        n
        for n in notes
        if n.number != lead.number and (n.number in leads or n.grouped_into in leads)
    ]
    for note in joining:
        assert note.id is not None
        repo.move_votes(ctx.session, from_id=note.id, to_id=lead.id)
        note.grouped_into = lead.number
        note.group_title = None
    if title is not None:
        lead.group_title = title
    ctx.session.flush()
    notes = repo.retro_notes(ctx.session, retro_id=rid)
    votes = repo.retro_vote_counts(ctx.session, retro_id=rid)
    [view] = [v for v in _views(ctx, retro, notes, votes=votes) if v.number == lead.number]
    return Reply(
        title=ctx.t("retro.grouped", note=view, who=ctx.mention(ctx.member)),
        lines=tuple(_lines(ctx, [view])),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def vote(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    number = _one_number(args)
    _in_phase(retro, Phase.VOTE, what="vote")
    note = _note(ctx, retro, number)
    if note.grouped_into is not None:  # a vote for a grouped note is a vote for its group
        note = _note(ctx, retro, note.grouped_into)
    assert note.id is not None
    rid = _retro_id(retro)
    mine = repo.retro_votes_of(ctx.session, retro_id=rid, member_id=ctx.member_id)
    if note.id in mine:
        raise CommandError("retro_voted_twice", number=note.number)
    if len(mine) >= VOTES_PER_PERSON:
        raise CommandError("retro_no_votes_left", limit=VOTES_PER_PERSON)
    if not repo.add_retro_vote(ctx.session, note_id=note.id, voter_id=ctx.member_id, at=ctx.now):
        raise CommandError("retro_voted_twice", number=note.number)
    return Reply(
        title=ctx.t(
            "retro.voted",
            number=note.number,
            text=note.group_title or note.text,
            left=VOTES_PER_PERSON - len(mine) - 1,
            total=VOTES_PER_PERSON,
        ),
        visibility=Visibility.EPHEMERAL,
        tone=Tone.SUCCESS,
    )


def unvote(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    number = _one_number(args)
    _in_phase(retro, Phase.VOTE, what="unvote")
    note = _note(ctx, retro, number)
    if note.grouped_into is not None:
        note = _note(ctx, retro, note.grouped_into)
    assert note.id is not None
    if not repo.remove_retro_vote(ctx.session, note_id=note.id, member_id=ctx.member_id):
        raise CommandError("retro_not_voted", number=note.number)
    mine = repo.retro_votes_of(ctx.session, retro_id=_retro_id(retro), member_id=ctx.member_id)
    return Reply(
        title=ctx.t(
            "retro.unvoted",
            number=note.number,
            text=note.group_title or note.text,
            left=VOTES_PER_PERSON - len(mine),
            total=VOTES_PER_PERSON,
        ),
        visibility=Visibility.EPHEMERAL,
        tone=Tone.SUCCESS,
    )


def discuss(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    retro = _open(ctx, lock=True)
    _facilitate(ctx, retro, "discuss")
    _in_phase(retro, Phase.VOTE, what="discuss")
    retro.phase = Phase.DISCUSS.value
    ctx.session.flush()
    rid = _retro_id(retro)
    notes = repo.retro_notes(ctx.session, retro_id=rid)
    views = _views(ctx, retro, notes, votes=repo.retro_vote_counts(ctx.session, retro_id=rid))
    return Reply(
        title=ctx.t("retro.discussing", title=retro.title, who=ctx.mention(ctx.member)),
        lines=tuple(_ranked(ctx, views) + _actions(ctx, views)),
        footer=(ctx.t("retro.discuss_how"),),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def edit(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    if not args.words:
        raise CommandError("retro_need_number", value="")
    number = _number(args.words[0], args.rest())
    note = _note(ctx, retro, number)
    _may_change(ctx, retro, note, what="edit", others=False)
    note.text = _note_text(args.words[1:])
    ctx.session.flush()
    [view] = _views(ctx, retro, [note], votes={})
    return Reply(
        title=ctx.t("retro.edited", note=view),
        visibility=Visibility.EPHEMERAL,
        tone=Tone.SUCCESS,
    )


def delete(ctx: Ctx, args: Args) -> Reply:
    retro = _open(ctx, lock=True)
    note = _note(ctx, retro, _one_number(args))
    _may_change(ctx, retro, note, what="delete", others=True)
    number, kind = note.number, note.kind
    repo.delete_note(ctx.session, note=note)
    return Reply(
        title=ctx.t("retro.deleted", number=number, kind=kind),
        visibility=Visibility.EPHEMERAL,
        tone=Tone.SUCCESS,
    )


def _may_change(ctx: Ctx, retro: Retro, note: RetroNote, *, what: str, others: bool) -> None:
    """Its author may change a note during reflect (an action, in any phase); with
    `others`, the facilitator or an admin may change any note at any time."""
    if others and _runs_it(ctx, retro):
        return
    if note.kind != ACTION:
        _in_phase(retro, Phase.REFLECT, what=what)
    if _wrote(ctx, note):
        return
    if retro.anonymous:
        raise CommandError(
            "retro_anonymous_author", number=note.number, who=ctx.person(retro.facilitator_id)
        )
    raise CommandError("retro_not_yours", number=note.number, who=ctx.person(retro.facilitator_id))


def close(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    retro = _open(ctx, lock=True)
    if not _runs_it(ctx, retro):
        raise CommandError("retro_close_denied", who=ctx.person(retro.facilitator_id))
    rid = _retro_id(retro)
    facilitator = retro.facilitator_id
    notes = repo.retro_notes(ctx.session, retro_id=rid)
    ownerless = [n for n in notes if n.kind == ACTION and n.owner_id is None]
    if ownerless:
        raise CommandError(
            "retro_ownerless",
            actions=[(n.number, n.text) for n in ownerless],
            first=ownerless[0].number,
        )
    votes = repo.retro_vote_counts(ctx.session, retro_id=rid)
    keys: dict[int, str] = {}
    sent: list[Notification] = []
    for note in notes:
        if note.kind != ACTION or note.owner_id is None:
            continue
        task = create_task(
            ctx,
            title=note.text,
            r=[note.owner_id],
            a=facilitator,
            due=note.due,
            retro=rid,
            note=note.number,
        )
        note.task_id = task.id
        keys[note.id or 0] = ctx.task_key(task)
        build = NoticeBuilder(
            ctx, "notify.assigned", task=task_view(ctx, task), who=ctx.mention(ctx.member)
        )
        sent += notices(ctx, [(note.owner_id, "assignee")], build)
    retro.status = RetroStatus.CLOSED.value
    retro.closed_at = ctx.now
    ctx.session.flush()
    views = _views(ctx, retro, notes, votes=votes, tasks=keys)
    lines = _ranked(ctx, views) + _actions(ctx, views)
    lines.append(ctx.t("retro.tasks_made", keys=list(keys.values()), a=ctx.person(facilitator)))
    return Reply(
        title=ctx.t(
            "retro.closed",
            title=retro.title,
            who=ctx.mention(ctx.member),
            notes=len([n for n in notes if n.kind != ACTION]),
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


def _spec(name: str, handler: Callable[[Ctx, Args], Reply], usage: str,
          examples: tuple[str, ...], aliases: tuple[str, ...] = ()) -> CommandSpec:  # fmt: skip
    return CommandSpec(
        group="retro", name=name, handler=handler, usage=usage, examples=examples, aliases=aliases
    )


SPECS = [
    _spec(
        "start",
        start,
        "/retro start [title] [template:ww|ssc|4l|msg] [anon]",
        ("/retro start Sprint 12 template:ssc", "/复盘 开始 第12周 模板:msg 匿名"),
        ("new", "begin", "开始", "发起"),
    ),
    _spec(
        "add",
        add,
        "/retro add <kind> <text>",
        ("/retro add improve the flaky tests slowed us down", "/复盘 添加 好 评审很及时"),
        ("note", "添加", "新增"),
    ),
    _spec(
        "action",
        action,
        "/retro action <text> @owner [due:<date>]",
        ("/retro action Fix the flaky tests @li due:fri", "/复盘 行动 修复测试 @李 截止:周五"),
        ("行动",),
    ),
    _spec(
        "assign",
        assign,
        "/retro assign <n> @owner [due:<date>]",
        ("/retro assign 4 @li", "/retro assign 4 due:2026-12-18"),
        ("owner", "指派"),
    ),
    _spec("list", list_, "/retro list", ("/retro list",), ("ls", "show", "列表")),
    _spec("reveal", reveal, "/retro reveal", ("/retro reveal",), ("揭晓", "公开")),
    _spec(
        "group",
        group,
        "/retro group <n> <n>… [as <title>]",
        ("/retro group 2 5 as Flaky CI", "/复盘 分组 2 5 为 测试不稳定"),
        ("merge", "分组", "合并"),
    ),
    _spec("vote", vote, "/retro vote <n>", ("/retro vote 3", "/复盘 投票 3"), ("投票",)),
    _spec("unvote", unvote, "/retro unvote <n>", ("/retro unvote 3",), ("取消投票", "撤票")),
    _spec("discuss", discuss, "/retro discuss", ("/retro discuss",), ("讨论",)),
    _spec(
        "edit",
        edit,
        "/retro edit <n> <text>",
        ("/retro edit 3 the flaky tests cost us a day",),
        ("修改", "编辑"),
    ),
    _spec("delete", delete, "/retro delete <n>", ("/retro delete 3",), ("remove", "删除")),
    # The facilitator or an admin: the handlers authorize it (they need the retro).
    _spec("close", close, "/retro close", ("/retro close",), ("end", "finish", "结束", "关闭")),
]
