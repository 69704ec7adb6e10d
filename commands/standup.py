"""/standup: the daily report in the channel, and who is on its team.

A channel has at most one standup (`StandupConfig`). On each of its work days
the clock posts the prompt at `at`, reminds the members who have not answered
one to one before `cutoff`, and posts the summary at `cutoff` (those posts and
their times: commands/standup_posts.py; the queries: storage/standup.py).
Answers are editable until the cutoff; an answer only replaces the parts it gives.

The team of a standup, for "who is missing": its roster (commands/standup_roster.py:
the channel's members from the platform, adjusted with `/standup members add|remove`);
members away that day are not counted.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.calendar import (
    EXAMPLES,
    BadCalendar,
    BadDays,
    format_days,
    is_workday,
    parse_calendar,
    parse_days,
    unknown_years,
)
from commands.common import create_task
from commands.context import Ctx
from commands.dates import date_order
from commands.errors import CommandError
from commands.i18n import Catalog
from commands.parsing import parse_clock, parse_zone, read_date, split_options
from commands.permissions import Permission, authorize
from commands.registry import Args, CommandSpec
from commands.standup_questions import (
    BLOCKER_MARK,
    MAX_QUESTION,
    MAX_QUESTIONS,
    Question,
    answers_of,
    put_answers,
    questions_of,
    stored,
    wording,
)
from commands.standup_roster import members, roster
from commands.types import Button, Field, Lit, Reply, Rich, Span, Tone, Visibility
from storage import repo
from storage import standup as store
from storage.models import (
    ChannelBinding,
    StandupAway,
    StandupConfig,
    StandupDm,
    StandupReport,
    StandupSnooze,
)

SNOOZE = timedelta(minutes=30)  # "later" asks again this much later
ONE_DAY = timedelta(days=1)
MAX_PART = 1000
MAX_AWAY_DAYS = 366
UNKNOWN_YEAR_AHEAD = timedelta(days=31)  # status warns of next year's calendar in December
BLOCKER_BUTTONS = 5
_OPTIONS = {
    "time": "time",
    "at": "time",
    "时间": "time",
    "tz": "tz",
    "timezone": "tz",
    "时区": "tz",
    "days": "days",
    "工作日": "days",
    "cutoff": "cutoff",
    "截止时间": "cutoff",
    "calendar": "calendar",
    "cal": "calendar",
    "日历": "calendar",
    "mode": "mode",
    "模式": "mode",
    "post": "post",
    "发布": "post",
}
_MODES = {"channel": "channel", "频道": "channel", "群": "channel", "dm": "dm", "私信": "dm"}
_POSTS = {"each": "each", "每人": "each", "summary": "summary", "汇总": "summary"}
SNOOZE = timedelta(minutes=30)
_PARTS = {
    "y": "yesterday",
    "yesterday": "yesterday",
    "昨天": "yesterday",
    "t": "today",
    "today": "today",
    "今天": "today",
    "b": "blockers",
    "blocker": "blockers",
    "blockers": "blockers",
    "阻塞": "blockers",
    "障碍": "blockers",
}
_LABEL = re.compile(
    r"(?:^|(?<=\s))(" + "|".join(sorted(_PARTS, key=len, reverse=True)) + r")\s*:",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?:^|(?<=\s))([1-9])\s*[:：]")
_DEFAULT_INDEX = {"yesterday": 0, "today": 1, "blockers": 2}
CANCEL_WORDS = {"off", "cancel", "取消", "撤销"}  # `/standup away off [date]`
_NONE = {"", "none", "no", "n/a", "-", "—", "无", "没有", "暂无"}


# -- answers ---------------------------------------------------------------------------


def parse_answer(text: str) -> dict[str, str]:
    """`y: … t: … b: …` (or 昨天: 今天: 阻塞:) into parts; unlabelled text is today's."""
    marks = list(_LABEL.finditer(text))
    parts: dict[str, str] = {}
    head = text[: marks[0].start()] if marks else text
    if head.strip():
        parts["today"] = head.strip()
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        parts[_PARTS[mark.group(1).lower()]] = text[mark.end() : end].strip()
    return parts


def parse_numbered(text: str) -> dict[int, str]:
    """`1: … 2: …` into answers by question number; unlabelled text answers the first."""
    marks = list(_NUMBER.finditer(text))
    parts: dict[int, str] = {}
    head = text[: marks[0].start()] if marks else text
    if head.strip():
        parts[1] = head.strip()
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        parts[int(mark.group(1))] = text[mark.end() : end].strip()
    return parts


def answers_given(text: str, questions: tuple[Question, ...]) -> dict[int, str]:
    """An answer's parts by question (0-based): `1: … 2: …` always; with the default
    questions also `y: … t: … b: …` (or 昨天: 今天: 阻塞:), unlabelled text being today's."""
    if _NUMBER.search(text) or any(q.own for q in questions):
        given = parse_numbered(text)
        extra = sorted(n for n in given if n > len(questions))
        if extra:
            raise CommandError("standup_no_question", number=extra[0], count=len(questions))
        return {n - 1: value for n, value in given.items()}
    return {_DEFAULT_INDEX[name]: value for name, value in parse_answer(text).items()}


def has_blocker(text: str) -> bool:
    return text.strip().lower() not in _NONE


def answer(ctx: Ctx, args: Args) -> Reply:
    if not args.words and _config_or_none(ctx) is None:
        return _none_yet(ctx)
    config = _config(ctx, lock=bool(args.words))
    tz = ZoneInfo(config.timezone)
    local = ctx.now.astimezone(tz)
    day = local.date()
    text = args.rest()
    if not text.strip():
        return _form(ctx, config, day)
    if not is_workday(day, days=parse_days(config.days), calendar=config.calendar):
        raise CommandError("standup_no_meeting", day=day)
    if local.time() >= config.cutoff:
        raise CommandError("standup_closed", cutoff=config.cutoff.strftime("%H:%M"))
    questions = questions_of(config)
    parts = answers_given(text, questions)
    if not parts:
        raise CommandError("standup_empty")
    if any(len(v) > MAX_PART for v in parts.values()):
        raise CommandError("title_too_long", limit=MAX_PART)
    assert config.id is not None
    report = store.report_of(ctx.session, config_id=config.id, member_id=ctx.member_id, day=day)
    edited = report is not None
    if report is None:
        report = StandupReport(
            config_id=config.id, member_id=ctx.member_id, day=day, created_at=ctx.now
        )
    put_answers(report, questions, parts)
    report.updated_at = ctx.now
    ctx.session.add(report)
    ctx.session.flush()
    return Reply(
        title=ctx.t(
            "standup.saved", day=day, cutoff=config.cutoff.strftime("%H:%M"), edited=edited
        ),
        fields=report_fields(ctx.catalog, ctx.locale, report, questions),
        tone=Tone.SUCCESS,
    )


def _form(ctx: Ctx, config: StandupConfig, day: date) -> Reply:
    """Bare /standup: the way to answer, with a button that opens a form."""
    questions = questions_of(config)
    return Reply(
        title=ctx.t("standup.form_title", day=day, cutoff=config.cutoff.strftime("%H:%M")),
        lines=syntax(ctx.catalog, ctx.locale, questions),
        buttons=(
            answer_button(ctx.catalog, ctx.locale, questions),
            *later_buttons(ctx.catalog, ctx.locale),
        ),
    )


def syntax(catalog: Catalog, locale: str, questions: tuple[Question, ...]) -> tuple[Rich, ...]:
    """How to answer: the old `y: t: b:` line for the default questions; a team's own
    questions numbered, to be answered `1: … 2: …`."""
    if not any(q.own for q in questions):
        return catalog.lines(locale, "standup.syntax")
    return (
        *(
            catalog.text(locale, "standup.question_line", number=i, text=q.text, blocker=q.blocker)
            for i, q in enumerate(questions, start=1)
        ),
        *catalog.lines(locale, "standup.syntax_numbered", count=len(questions)),
    )


def answer_key(questions: tuple[Question, ...], index: int) -> str:
    """The label an answer to the question at `index` is given with (`y`, `2`)."""
    if any(q.own for q in questions):
        return str(index + 1)
    return ("y", "t", "b")[_DEFAULT_INDEX[questions[index].key]]


def answer_button(catalog: Catalog, locale: str, questions: tuple[Question, ...]) -> Button:
    """Answer: a form with one field per question, each given back as `<key>: "…"`."""
    return Button(
        catalog.text(locale, "standup.btn_answer"),
        "standup",
        "standup_answer",
        "primary",
        form=tuple(
            (answer_key(questions, i), wording(catalog, locale, q)) for i, q in enumerate(questions)
        ),
    )


def report_fields(
    catalog: Catalog, locale: str, report: StandupReport, questions: tuple[Question, ...]
) -> tuple[Field, ...]:
    return tuple(
        Field(label_of(catalog, locale, q), Rich.val(value))
        for q, value in zip(questions, answers_of(report, questions), strict=True)
        if value
    )


def label_of(catalog: Catalog, locale: str, question: Question) -> Rich:
    """A question's short name beside its answer: Yesterday, or the team's question."""
    if question.text is not None:
        return Rich.val(question.text)
    return catalog.text(locale, f"standup.label_{question.key}")


# -- questions -------------------------------------------------------------------------

_SET_WORDS = {"set", "设置", "设为"}
_RESET_WORDS = {"reset", "default", "defaults", "重置", "恢复", "默认"}


def questions(ctx: Ctx, args: Args) -> Reply:
    """`questions` shows them; `questions set "…" | "…"` (admins) sets the team's own, a
    leading `!` marking the blocker question; `questions reset` (admins) goes back to the
    default three."""
    words = list(args.words)
    if not words:
        config = _config_or_none(ctx)
        if config is None:
            return _none_yet(ctx)
        return _questions_reply(ctx, config)
    verb = words[0].lower()
    if verb not in _SET_WORDS | _RESET_WORDS:
        raise CommandError("unexpected_words", value=" ".join(words))
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    config = _config(ctx)
    if verb in _RESET_WORDS:
        if len(words) > 1:
            raise CommandError("unexpected_words", value=" ".join(words[1:]))
        config.questions = None
        title = ctx.t("standup.questions_reset")
    else:
        config.questions = stored(parse_questions(" ".join(words[1:])))
        title = ctx.t("standup.questions_saved", count=len(config.questions))
    config.updated_at = ctx.now
    ctx.session.add(config)
    ctx.session.flush()
    shown = _questions_reply(ctx, config)
    return Reply(title=title, lines=shown.lines, visibility=Visibility.CHANNEL, tone=Tone.SUCCESS)


def parse_questions(text: str) -> list[Question]:
    """`"…" | "…" | !"…"`: 1 to 5 questions separated by `|`, each quoted or not; a
    leading `!` marks the one blocker question."""
    out = []
    for n, raw in enumerate(text.split("|"), start=1):
        part = raw.strip()
        blocker = part.startswith(BLOCKER_MARK)
        part = part.removeprefix(BLOCKER_MARK).strip()
        if len(part) >= 2 and part[0] == part[-1] == '"':
            part = part[1:-1].strip()
        if not part:
            continue
        if len(part) > MAX_QUESTION:
            raise CommandError("question_too_long", limit=MAX_QUESTION)
        out.append(Question(f"q{n}", part, blocker=blocker))
    if not 1 <= len(out) <= MAX_QUESTIONS:
        raise CommandError("questions_count", count=len(out), most=MAX_QUESTIONS)
    if sum(q.blocker for q in out) > 1:
        raise CommandError("questions_two_blockers")
    return out


def _questions_reply(ctx: Ctx, config: StandupConfig) -> Reply:
    asked = questions_of(config)
    own = any(q.own for q in asked)
    lines = tuple(
        ctx.t(
            "standup.question_line",
            number=i,
            text=wording(ctx.catalog, ctx.locale, q),
            blocker=q.blocker,
        )
        for i, q in enumerate(asked, start=1)
    )
    return Reply(
        title=ctx.t("standup.questions_title", own=own),
        lines=lines,
        footer=(ctx.t("standup.questions_how"),),
    )


# -- configuration ---------------------------------------------------------------------


def _config(ctx: Ctx, *, lock: bool = False) -> StandupConfig:
    """The channel's standup; `lock` holds its row, so one person's answers sent at once
    (a double submit) queue and merge into one report instead of racing to insert it."""
    config = _config_or_none(ctx, lock=lock)
    if config is None:
        raise CommandError("standup_not_configured")
    return config


def _config_or_none(ctx: Ctx, *, lock: bool = False) -> StandupConfig | None:
    assert ctx.binding.id is not None
    config = store.config_of_binding(ctx.session, binding_id=ctx.binding.id, lock=lock)
    return config if config is not None and config.enabled else None


def _none_yet(ctx: Ctx) -> Reply:
    """A question about a standup that does not exist is answered, not refused."""
    return Reply(title=ctx.t("standup.none_yet"), lines=(ctx.t("standup.none_how"),))


def configure(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words, _OPTIONS)
    if words:
        raise CommandError("unexpected_words", value=" ".join(words))
    assert ctx.binding.id is not None
    config = store.config_of_binding(ctx.session, binding_id=ctx.binding.id)
    at = parse_clock(options["time"], option="time") if "time" in options else None
    cutoff = parse_clock(options["cutoff"], option="cutoff") if "cutoff" in options else None
    zone = parse_zone(options["tz"]) if "tz" in options else None
    try:
        days = format_days(parse_days(options["days"])) if "days" in options else None
    except BadDays:
        raise CommandError("bad_days", value=options["days"]) from None
    try:
        calendar = parse_calendar(options["calendar"]) if "calendar" in options else None
    except BadCalendar as bad:
        if bad.country is not None:
            raise CommandError(
                "bad_calendar_region", value=bad.value, country=bad.country, regions=bad.regions
            ) from None
        raise CommandError("bad_calendar", value=bad.value, examples=EXAMPLES) from None
    mode = _MODES.get(options["mode"].lower()) if "mode" in options else None
    if "mode" in options and mode is None:
        raise CommandError("bad_standup_mode", value=options["mode"])
    post = _POSTS.get(options["post"].lower()) if "post" in options else None
    if "post" in options and post is None:
        raise CommandError("bad_standup_post", value=options["post"])
    if config is None:
        start = at or time(9, 30)
        config = StandupConfig(
            binding_id=ctx.binding.id,
            at=start,
            cutoff=cutoff or _plus(start, timedelta(hours=1)),
            timezone=zone or ctx.project.timezone,
            days=days or "mon-fri",
            calendar=calendar or "none",
            mode=mode or "channel",
            post=post or "each",
            created_at=ctx.now,
        )
    else:
        # The cutoff stays unless given, or unless the new start passes it: then the
        # default, an hour after the start (the reply shows it).
        kept = config.cutoff if at is None or config.cutoff > at else None
        config.cutoff = cutoff or kept or _plus(at or config.at, timedelta(hours=1))
        config.at = at or config.at
        config.timezone = zone or config.timezone
        config.days = days or config.days
        config.calendar = calendar or config.calendar
        config.mode = mode or config.mode
        config.post = post or config.post
    if config.cutoff <= config.at:
        raise CommandError(
            "cutoff_before_start",
            at=config.at.strftime("%H:%M"),
            cutoff=config.cutoff.strftime("%H:%M"),
        )
    config.enabled = True
    config.updated_at = ctx.now
    ctx.session.add(config)
    ctx.session.flush()
    upcoming = next_day(config, after=ctx.now)
    return Reply(
        title=ctx.t("standup.configured"),
        fields=_config_fields(ctx, config, upcoming),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def _plus(at: time, delta: timedelta) -> time:
    moved = datetime.combine(date(2000, 1, 1), at) + delta
    return time(23, 59) if moved.date() != date(2000, 1, 1) else moved.time()


def _config_fields(ctx: Ctx, config: StandupConfig, upcoming: date | None) -> tuple[Field, ...]:
    return (
        Field(
            ctx.t("standup.label_when"),
            ctx.t(
                "standup.when",
                at=config.at.strftime("%H:%M"),
                cutoff=config.cutoff.strftime("%H:%M"),
                tz=config.timezone,
            ),
        ),
        Field(
            ctx.t("standup.label_days"),
            ctx.t("standup.days", days=config.days, calendar=config.calendar),
        ),
        Field(
            ctx.t("standup.label_mode"),
            ctx.t("standup.mode", mode=config.mode, post=config.post),
        ),
        Field(ctx.t("standup.label_next"), ctx.t("standup.next", day=upcoming)),
    )


def next_day(config: StandupConfig, *, after: datetime) -> date | None:
    """The next work day whose prompt is still ahead of `after`."""
    tz = ZoneInfo(config.timezone)
    local = after.astimezone(tz)
    day = local.date() if local.time() < config.at else local.date() + timedelta(days=1)
    days = parse_days(config.days)
    for _ in range(400):
        if is_workday(day, days=days, calendar=config.calendar):
            return day
        day += timedelta(days=1)
    return None


def off(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    config = _config(ctx)
    config.enabled = False
    config.updated_at = ctx.now
    ctx.session.add(config)
    return Reply(title=ctx.t("standup.turned_off"), visibility=Visibility.CHANNEL)


def status(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    config = _config_or_none(ctx)
    if config is None:
        return _none_yet(ctx)
    day = ctx.now.astimezone(ZoneInfo(config.timezone)).date()
    roll = roll_call(ctx.session, config=config, day=day, now=ctx.now)
    people = ctx.people(roll.answered + roll.missing + roll.away)
    workday = is_workday(day, days=parse_days(config.days), calendar=config.calendar)
    lines: tuple[Rich, ...] = (
        ctx.t("standup.status_answered", people=[people[i] for i in roll.answered]),
        ctx.t("standup.status_missing", people=[people[i] for i in roll.missing]),
        ctx.t("standup.status_away", people=[people[i] for i in roll.away]),
    )
    unknown = unknown_years(config.calendar, {day.year, (day + UNKNOWN_YEAR_AHEAD).year})
    if unknown:
        lines += (ctx.t("standup.calendar_unknown", calendar=config.calendar, years=unknown),)
    asked = questions_of(config)
    return Reply(
        title=ctx.t("standup.status_title", day=day, workday=workday),
        fields=(
            *_config_fields(ctx, config, next_day(config, after=ctx.now)),
            Field(
                ctx.t("standup.label_questions"),
                _joined([label_of(ctx.catalog, ctx.locale, q) for q in asked]),
            ),
        ),
        lines=lines,
    )


def _joined(parts: list[Rich]) -> Rich:
    spans: list[Span] = []
    for i, part in enumerate(parts):
        spans += [Lit(" · ")] if i else []
        spans += part.spans
    return Rich(tuple(spans))


def away(ctx: Ctx, args: Args) -> Reply:
    words = list(args.words)
    if not words:
        mine = store.leave_ahead(
            ctx.session, project_id=ctx.project_id, member_id=ctx.member_id, today=ctx.today
        )
        return Reply(
            title=ctx.t("standup.away_list", count=len(mine)),
            items=tuple(ctx.t("standup.away_item", start=a.start, end=a.end) for a in mine),
        )
    if len(words) > 2:
        raise CommandError("unexpected_words", value=" ".join(words[2:]))
    if words[0].lower() in CANCEL_WORDS:
        return _cancel_away(ctx, words[1:])
    start = _day(ctx, words[0])
    end = _day(ctx, words[1]) if len(words) == 2 else start
    if end < start:
        raise CommandError("away_backwards", start=start, end=end)
    if start < ctx.today:  # standups already held are not counted again
        raise CommandError("away_past", start=start, today=ctx.today)
    if (end - start).days >= MAX_AWAY_DAYS:
        raise CommandError("away_too_long", limit=MAX_AWAY_DAYS)
    ctx.session.add(
        StandupAway(
            project_id=ctx.project_id,
            member_id=ctx.member_id,
            start=start,
            end=end,
            created_at=ctx.now,
        )
    )
    return Reply(title=ctx.t("standup.away_saved", start=start, end=end), tone=Tone.SUCCESS)


def _day(ctx: Ctx, raw: str) -> date:
    """A day of leave, read like every date (commands.dates: the project's order); the
    reply shows it in words, so a reading of `05/12` is never silent."""
    return read_date(raw, today=ctx.today, order=date_order(ctx))[0]


def _cancel_away(ctx: Ctx, words: list[str]) -> Reply:
    """`away off`: all your leave from today on; `away off <date>`: the leave covering that
    day. Days already past stay recorded (they were not counted missing): leave that has
    begun is cut to end yesterday, leave ahead is removed."""
    day = None
    if words:
        day = _day(ctx, words[0])
        if day < ctx.today:
            raise CommandError("away_past_cancel", day=day, today=ctx.today)
    leave = store.leave_ahead(
        ctx.session,
        project_id=ctx.project_id,
        member_id=ctx.member_id,
        today=ctx.today,
        covering=day,
    )
    if not leave:
        if words:
            raise CommandError("away_none_on", day=day)
        return Reply(title=ctx.t("standup.away_none_to_cancel"))
    cancelled = []
    for away_ in leave:
        cancelled.append(
            ctx.t("standup.away_item", start=max(away_.start, ctx.today), end=away_.end)
        )
        if away_.start < ctx.today:
            away_.end = ctx.today - timedelta(days=1)
            ctx.session.add(away_)
        else:
            ctx.session.delete(away_)
    return Reply(
        title=ctx.t("standup.away_cancelled", count=len(cancelled)),
        items=tuple(cancelled),
        tone=Tone.SUCCESS,
    )


# -- later and skip ----------------------------------------------------------------------


def snooze(session: Session, *, config: StandupConfig, member_id: int, now: datetime) -> datetime:
    """ "Later": the member is asked again by DM `SNOOZE` from now (the clock's `LATER`
    kind in commands/standup_posts.py). Refused on a day without standup, once the
    cutoff is past, when the new ask would come at or after it, or when the member has
    answered already (nothing would be asked). While an earlier "later" is still to come
    (a double click, a retried press) that one stands: the member is asked again once.
    The caller holds the standup's row. Returns when."""
    assert config.id is not None
    day = _open_day(config, now)
    if store.report_of(session, config_id=config.id, member_id=member_id, day=day) is not None:
        raise CommandError("standup_later_answered", day=day)
    due = now + SNOOZE
    cutoff = datetime.combine(day, config.cutoff, ZoneInfo(config.timezone))
    if due >= cutoff:
        raise CommandError("standup_later_too_late", cutoff=config.cutoff.strftime("%H:%M"))
    pending = store.snooze_pending(
        session, config_id=config.id, member_id=member_id, day=day, now=now
    )
    if pending is not None:
        return pending.due
    number = store.snoozes_of(session, config_id=config.id, member_id=member_id, day=day) + 1
    session.add(
        StandupSnooze(
            config_id=config.id,
            member_id=member_id,
            day=day,
            number=number,
            due=due,
            created_at=now,
        )
    )
    session.flush()
    return due


def skip_today(session: Session, *, config: StandupConfig, member_id: int, now: datetime) -> date:
    """ "Skip today": the member is away for the standup's day (a one-day leave in its
    project), so the summary and participation count them away, not missing. Refused
    on a day without standup and once the cutoff is past. Returns the day."""
    day = _open_day(config, now)
    binding = session.get(ChannelBinding, config.binding_id)
    assert binding is not None
    if member_id not in store.away_on(session, project_id=binding.project_id, day=day):
        session.add(
            StandupAway(
                project_id=binding.project_id,
                member_id=member_id,
                start=day,
                end=day,
                created_at=now,
            )
        )
        session.flush()
    return day


def _open_day(config: StandupConfig, now: datetime) -> date:
    """The standup's local day, when its answers are open now."""
    local = now.astimezone(ZoneInfo(config.timezone))
    day = local.date()
    if not is_workday(day, days=parse_days(config.days), calendar=config.calendar):
        raise CommandError("standup_no_meeting", day=day)
    if local.time() >= config.cutoff:
        raise CommandError("standup_closed", cutoff=config.cutoff.strftime("%H:%M"))
    return day


def later(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    config = _config(ctx, lock=True)
    due = snooze(ctx.session, config=config, member_id=ctx.member_id, now=ctx.now)
    at = due.astimezone(ZoneInfo(config.timezone)).strftime("%H:%M")
    return Reply(title=ctx.t("standup.later_saved", at=at), tone=Tone.SUCCESS)


def skip(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    config = _config(ctx, lock=True)
    day = skip_today(ctx.session, config=config, member_id=ctx.member_id, now=ctx.now)
    return Reply(title=ctx.t("standup.skip_saved", day=day), tone=Tone.SUCCESS)


def later_buttons(catalog: Catalog, locale: str) -> tuple[Button, ...]:
    """The prompt's and the reminders' "Later" and "Skip today"."""
    return (
        Button(catalog.text(locale, "standup.btn_later"), "standup later", "standup_later"),
        Button(catalog.text(locale, "standup.btn_skip"), "standup skip", "standup_skip"),
    )


def blocker_task(ctx: Ctx, args: Args) -> Reply:
    """The summary's "make it a task": a task from one report's blocker, R its author."""
    from commands.task import created_reply

    if len(args.words) != 1 or not args.words[0].isdigit():
        raise CommandError("unexpected_words", value=args.rest())
    report = store.report_in_project(
        ctx.session, report_id=int(args.words[0]), project_id=ctx.project_id
    )
    if report is None or not has_blocker(report.blockers):
        raise CommandError("standup_unknown_report")
    assert report.id is not None
    # One task per blocker, however often (or by however many people at once) the button
    # is pressed: presses queue on the project's row and the later ones find the task.
    repo.lock_project(ctx.session, project_id=ctx.project_id)
    made = repo.task_from_report(ctx.session, project_id=ctx.project_id, report_id=report.id)
    if made is not None:
        raise CommandError("standup_blocker_task", key=f"{ctx.project.key_prefix}-{made}")
    title = report.blockers.strip()[:200]
    task = create_task(ctx, title=title, r=[report.member_id], source="standup", report=report.id)
    return created_reply(ctx, task, responsible=[report.member_id])


# -- DM mode's "later" and "skip" --------------------------------------------------------


def snooze_question(asked: StandupDm, *, now: datetime) -> datetime | None:
    """ "Later" in a DM standup: the pending question is asked again in `SNOOZE`, if that is
    before the cutoff; None when it would not be (the question stays pending, unanswered)."""
    again = now + SNOOZE
    if again >= asked.until:
        return None
    asked.snoozed_until = again
    asked.snoozes += 1
    asked.updated_at = now
    return again


def skip_asked(session: Session, *, asked: StandupDm, config: StandupConfig, now: datetime) -> None:
    """ "Skip" in a DM standup: the day counts as away (`skip_today`), nothing more is asked."""
    skip_today(session, config=config, member_id=asked.member_id, now=now)
    asked.finished_at = now
    asked.updated_at = now
    session.add(asked)


# -- who answered -----------------------------------------------------------------------


@dataclass(frozen=True)
class RollCall:
    answered: list[int]
    missing: list[int]
    away: list[int]
    reports: list[StandupReport]


def roll_call(session: Session, *, config: StandupConfig, day: date, now: datetime) -> RollCall:
    assert config.id is not None
    reports = store.reports_of_day(session, config_id=config.id, day=day)
    answered = [r.member_id for r in reports]
    team, away_ids = team_on(session, config=config, day=day)
    done = set(answered)
    missing = [m for m in team if m is not None and m not in done and m not in away_ids]
    away_list = [m for m in team if m is not None and m in away_ids and m not in done]
    return RollCall(answered=answered, missing=missing, away=away_list, reports=reports)


def team_on(session: Session, *, config: StandupConfig, day: date) -> tuple[list[int], set[int]]:
    """The team of a standup on a day (its roster: commands/standup_roster.py), ordered by
    name, and who of the project is away that day. The one definition behind "missing",
    the reminders, the summary's "N of M answered" and /kpi's participation."""
    binding = session.get(ChannelBinding, config.binding_id)
    assert binding is not None
    team = roster(session, config=config, day=day).team
    return team, store.away_on(session, project_id=binding.project_id, day=day)


def participation(
    session: Session, *, project_id: int, first: date, last: date, now: datetime
) -> float | None:
    """Standup answers given ÷ answers expected, over the project's standups and the days
    `first`..`last`: each work day a standup ran (from the day it was set up; today only
    once its summary is out, at the cutoff) expects an answer from each member of its team
    who is not away, as its summary counts them ("N of M answered"). A standup turned off
    expects nothing. None: nothing was expected."""
    given = expected = 0
    for config in store.enabled_configs_of_project(session, project_id=project_id):
        assert config.id is not None
        zone = ZoneInfo(config.timezone)
        local = now.astimezone(zone)
        end = min(last, local.date() if local.time() >= config.cutoff else local.date() - ONE_DAY)
        day = max(first, config.created_at.astimezone(zone).date())
        workdays = parse_days(config.days)
        while day <= end:
            if is_workday(day, days=workdays, calendar=config.calendar):
                answered = store.answered_on(session, config_id=config.id, day=day)
                team, away = team_on(session, config=config, day=day)
                given += len(answered)
                expected += len(answered | {m for m in team if m not in away})
            day += ONE_DAY
    return given / expected if expected else None


SPECS = [
    CommandSpec(
        group="standup",
        name="answer",
        handler=answer,
        usage="/standup [y: <text>] [t: <text>] [b: <text>] | 1: <text> 2: <text> …",
        examples=(
            "/standup y: wrote the SRS t: review it b: none",
            "/standup 昨天: 写需求 今天: 评审 阻塞: 无",
            "/standup 1: shipped the export 2: the importer 3: none",
        ),
        aliases=("回答",),
    ),
    CommandSpec(
        group="standup",
        name="config",
        handler=configure,
        usage=(
            "/standup config time:<hh:mm> tz:<zone> days:<mon-fri> cutoff:<hh:mm>"
            " calendar:<country>|none mode:channel|dm post:each|summary"
        ),
        examples=(
            "/standup config time:09:30 tz:Asia/Shanghai days:mon-fri cutoff:10:30 calendar:cn",
            "/standup config mode:dm post:summary",
            "/standup config tz:Europe/Berlin calendar:de",
            "/standup config time:10:00",
        ),
        permission=Permission.ADMIN,
        aliases=("设置", "配置"),
    ),
    CommandSpec(
        group="standup",
        name="off",
        handler=off,
        usage="/standup off",
        examples=("/standup off",),
        permission=Permission.ADMIN,
        aliases=("关闭",),
    ),
    CommandSpec(
        group="standup",
        name="questions",
        handler=questions,
        usage='/standup questions [set "<question>" | … | !"<blocker question>" | reset]',
        examples=(
            "/standup questions",
            '/standup questions set "What did you ship?" | "What is next?" | !"Blocked by?"',
            "/standup questions reset",
        ),
        aliases=("问题",),
    ),
    CommandSpec(
        group="standup",
        name="status",
        handler=status,
        usage="/standup status",
        examples=("/standup status",),
        aliases=("状态",),
    ),
    CommandSpec(
        group="standup",
        name="away",
        handler=away,
        usage="/standup away <from> [<to>] | away off [<date>]",
        examples=("/standup away 2026-12-07 2026-12-11", "/standup away 明天", "/standup away off"),
        aliases=("请假",),
    ),
    CommandSpec(
        group="standup",
        name="members",
        handler=members,
        usage="/standup members [add|remove @user…]",
        examples=(
            "/standup members",
            "/standup members add @mei @li",
            "/standup members remove @bob",
        ),
        aliases=("成员",),
    ),
    CommandSpec(
        group="standup",
        name="later",
        handler=later,
        usage="/standup later",
        examples=("/standup later",),
        aliases=("稍后", "晚点"),
    ),
    CommandSpec(
        group="standup",
        name="skip",
        handler=skip,
        usage="/standup skip",
        examples=("/standup skip",),
        aliases=("跳过",),
    ),
    CommandSpec(
        group="standup",
        name="task",
        handler=blocker_task,
        usage="/standup task <report>",
        examples=("/standup task 12",),
    ),
]


# The sub-commands a lone word after /standup may be a typo of (`/standup stauts`).
_NAMES = (
    "status", "config", "off", "away", "task", "answer", "members", "history", "report",
    "questions", "later", "skip",
)  # fmt: skip


def fallback(words: list[str]) -> str | None:
    """Anything after /standup that is not a sub-command is an answer, but a lone word
    close to a sub-command's name (`stauts`) is a typo, not a day's report: None makes the
    router say so and suggest the command."""
    if len(words) == 1 and difflib.get_close_matches(words[0].lower(), _NAMES, n=1, cutoff=0.75):
        return None
    return "answer"
