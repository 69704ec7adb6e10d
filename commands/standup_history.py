"""`/standup history` and `/standup report`: each day of one person, and each person's
participation and streak.

A day counts for a person when it was a work day of the standup (from the day it was set
up; today only once its summary is out) and they were on its team that day
(`commands.standup.team_on`): answered, "away" (on leave: not expected), or "missed".
Participation is answered ÷ expected (answered + missed); the streak is the answered days
in a row up to the last counted day, leave not breaking it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from commands.calendar import is_workday, parse_days
from commands.context import Ctx
from commands.errors import CommandError
from commands.parsing import split_options
from commands.registry import Args, CommandSpec
from commands.standup import has_blocker, label_of, team_on
from commands.standup_questions import answers_of, questions_of
from commands.types import Reply, Rich
from storage import standup as store
from storage.models import StandupConfig, StandupReport

DEFAULT_DAYS = 14
MAX_DAYS = 92
PERIODS = {"week": 7, "month": 30, "周": 7, "月": 30}
_HISTORY = {"days": "days", "天数": "days"}
_REPORT = {"period": "period", "周期": "period"}


@dataclass(frozen=True)
class Day:
    day: date
    state: str  # answered, away, missed
    report: StandupReport | None


def _config(ctx: Ctx) -> StandupConfig | None:
    assert ctx.binding.id is not None
    config = store.config_of_binding(ctx.session, binding_id=ctx.binding.id)
    return config if config is not None and config.enabled else None


def _counted_days(ctx: Ctx, config: StandupConfig, days: int) -> Iterator[date]:
    """The work days of the last `days` days, newest first, that have had their summary."""
    zone = ZoneInfo(config.timezone)
    local = ctx.now.astimezone(zone)
    last = local.date() if local.time() >= config.cutoff else local.date() - timedelta(days=1)
    first = max(local.date() - timedelta(days=days - 1), config.created_at.astimezone(zone).date())
    workdays = parse_days(config.days)
    day = last
    while day >= first:
        if is_workday(day, days=workdays, calendar=config.calendar):
            yield day
        day -= timedelta(days=1)


def days_of(ctx: Ctx, config: StandupConfig, days: int) -> dict[int, list[Day]]:
    """Each counted day of each person on the team that day (or who answered), newest first."""
    assert config.id is not None
    out: dict[int, list[Day]] = {}
    for day in _counted_days(ctx, config, days):
        reports = {
            r.member_id: r for r in store.reports_of_day(ctx.session, config_id=config.id, day=day)
        }
        team, away = team_on(ctx.session, config=config, day=day)
        for member_id in dict.fromkeys([*team, *reports]):
            report = reports.get(member_id)
            state = "answered" if report else "away" if member_id in away else "missed"
            out.setdefault(member_id, []).append(Day(day, state, report))
    return out


def _days_option(options: dict[str, str], name: str, table: dict[str, int] | None) -> int:
    raw = options.get(name)
    if raw is None:
        return DEFAULT_DAYS if table is None else PERIODS["week"]
    if table is not None:
        if raw.lower() not in table:
            raise CommandError("bad_period", value=raw)
        return table[raw.lower()]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise CommandError("bad_history_days", value=raw, limit=MAX_DAYS)
    return int(raw)


def history(ctx: Ctx, args: Args) -> Reply:
    """`/standup history [@user] [days:N]`: each counted day of one person (you)."""
    options, words = split_options(args.words, _HISTORY)
    if len(words) > 1:
        raise CommandError("unexpected_words", value=" ".join(words[1:]))
    config = _config(ctx)
    if config is None:
        return Reply(title=ctx.t("standup.none_yet"), lines=(ctx.t("standup.none_how"),))
    days = _days_option(options, "days", None)
    who = ctx.resolve_person(words[0]) if words else ctx.member
    assert who.id is not None
    mine = days_of(ctx, config, days).get(who.id, [])
    return Reply(
        title=ctx.t("standup.history_title", who=ctx.mention(who), days=days, count=len(mine)),
        items=tuple(_day_line(ctx, config, d) for d in mine),
    )


def _day_line(ctx: Ctx, config: StandupConfig, d: Day) -> Rich:
    """One day of a person: their answers as the summary shows them (the team's own
    questions by their words), or away, or missed."""
    questions = questions_of(config)
    if d.report is not None and any(q.own for q in questions):
        answers = [
            (label_of(ctx.catalog, ctx.locale, q), text, q.blocker and has_blocker(text))
            for q, text in zip(questions, answers_of(d.report, questions), strict=True)
        ]
        return ctx.t("standup.history_answers", day=d.day, answers=answers)
    return ctx.t(
        "standup.history_day",
        day=d.day,
        state=d.state,
        yesterday=d.report.yesterday if d.report else "",
        today=d.report.today if d.report else "",
        blockers=d.report.blockers if d.report else "",
    )


def streak(days: list[Day]) -> int:
    """Answered days in a row, newest first, leave not breaking the run."""
    run = 0
    for d in days:
        if d.state == "missed":
            break
        run += d.state == "answered"
    return run


def report(ctx: Ctx, args: Args) -> Reply:
    """`/standup report [period:week|month]`: each person's participation and streak."""
    options, words = split_options(args.words, _REPORT)
    if words:
        raise CommandError("unexpected_words", value=" ".join(words))
    config = _config(ctx)
    if config is None:
        return Reply(title=ctx.t("standup.none_yet"), lines=(ctx.t("standup.none_how"),))
    days = _days_option(options, "period", PERIODS)
    people = days_of(ctx, config, days)
    longer = days_of(ctx, config, MAX_DAYS) if people else {}
    names = ctx.people(people)
    rows = []
    for member_id in store.by_name(ctx.session, member_ids=list(people)):
        counted = people[member_id]
        answered = sum(d.state == "answered" for d in counted)
        expected = answered + sum(d.state == "missed" for d in counted)
        rows.append(
            ctx.t(
                "standup.report_line",
                who=names[member_id],
                answered=answered,
                expected=expected,
                percent=round(100 * answered / expected) if expected else None,
                streak=streak(longer.get(member_id, counted)),
            )
        )
    return Reply(title=ctx.t("standup.report_title", days=days), items=tuple(rows))


SPECS = [
    CommandSpec(
        group="standup",
        name="history",
        handler=history,
        usage="/standup history [@user] [days:<n>]",
        examples=("/standup history", "/standup history @mei days:30"),
        aliases=("历史",),
    ),
    CommandSpec(
        group="standup",
        name="report",
        handler=report,
        usage="/standup report [period:week|month]",
        examples=("/standup report", "/standup report period:month"),
        aliases=("报告",),
    ),
]
