"""/kpi: the project's metrics over a period against their targets; /kpi target sets them.

`kpi_reply` builds the report from a session alone, so the scheduler's digest
job uses it too (with `one_line_if_idle` to say "nothing new" in one line).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.context import Ctx
from commands.errors import CommandError
from commands.i18n import Catalog
from commands.parsing import Choice, options_named, split_options
from commands.permissions import Permission, authorize
from commands.registry import Args, CommandSpec
from commands.standup import participation
from commands.types import Reply, Rich, Tone, Visibility
from storage import kpi
from storage.kpi import METRICS, Period, TargetError
from storage.models import Project

PERIOD = Choice(
    "period",
    {
        "week": "week",
        "w": "week",
        "本周": "week",
        "周": "week",
        "month": "month",
        "m": "month",
        "本月": "month",
        "月": "month",
        "sprint": "sprint",
        "冲刺": "sprint",
        "迭代": "sprint",
    },
)
# Each metric of storage.kpi.METRICS, named in every language beside each other (a test
# checks that none is missing: a metric without a label would print nothing).
LABELS: dict[str, dict[str, str]] = {
    "bugfix": {"en": "Bug-fix rate", "zh": "缺陷修复率"},
    "response_avg": {"en": "First response, average", "zh": "平均首次响应"},
    "response_median": {"en": "First response, median", "zh": "首次响应中位数"},
    "ontime": {"en": "Done on time", "zh": "按时完成率"},
    "throughput": {"en": "Tasks done", "zh": "完成任务数"},
    "cycle": {"en": "Cycle time, average", "zh": "平均周期"},
    "overdue": {"en": "Overdue now", "zh": "当前逾期"},
    "blocked": {"en": "Blocked now", "zh": "当前受阻"},
    "blocked_age": {"en": "Blocked for, average", "zh": "平均受阻时长"},
    "participation": {"en": "Standup participation", "zh": "站会参与率"},
    "retro_actions": {"en": "Retro actions done", "zh": "复盘行动完成率"},
}


def label(locale: str, metric: str) -> Rich:
    """The metric's name in the locale's words (a KeyError for a metric without one)."""
    return Rich.lit(LABELS[metric][locale])


_OFF_WORDS = {"off", "none", "-", "clear", "关闭", "取消"}
_LIST_WORDS = {"list", "ls", "列表"}
HOURS_AS_DAYS = 48  # durations from two days on are shown in days


def fallback(words: list[str]) -> str | None:
    """Bare `/kpi`, `/kpi period:month` and `/kpi month` are the report."""
    if not words:
        return "report"
    first = words[0].lower()
    if ":" in first or "：" in first or first in PERIOD.values:
        return "report"
    return None


# -- the report -------------------------------------------------------------------------


def _number(value: float) -> str:
    text = f"{value:.1f}"
    text = text[:-2] if text.endswith(".0") else text
    return "0" if text == "-0" else text


def amount(catalog: Catalog, locale: str, value: float, unit: str) -> Rich:
    """A value in its metric's unit: 95%, 1.5 h, 3 d, 12."""
    if unit == "percent":
        return catalog.text(locale, "kpi.amount", number=_number(value * 100), unit="percent")
    if unit == "hours":
        if value >= HOURS_AS_DAYS:
            return catalog.text(locale, "kpi.amount", number=_number(value / 24), unit="days")
        return catalog.text(locale, "kpi.amount", number=_number(value), unit="hours")
    return catalog.text(locale, "kpi.amount", number=_number(value), unit="count")


def _target_text(catalog: Catalog, locale: str, metric: str, target: kpi.Target) -> Rich:
    return catalog.text(
        locale,
        "kpi.goal",
        op=target.op,
        threshold=amount(catalog, locale, target.threshold, METRICS[metric].unit),
    )


def kpi_reply(
    session: Session,
    *,
    catalog: Catalog,
    project: Project,
    locale: str,
    period: Period,
    now: datetime,
    one_line_if_idle: bool = False,
) -> Reply:
    """The KPI report of a project: one line per metric, with its target and whether it is met.

    With `one_line_if_idle`, a period with nothing new gives a one-line reply instead.
    """
    assert project.id is not None
    tz = ZoneInfo(project.timezone)
    first, last = period.days(tz)
    if one_line_if_idle and nothing_new(session, project_id=project.id, period=period):
        return Reply(
            title=catalog.text(locale, "kpi.nothing_new", period=period.name),
            visibility=Visibility.CHANNEL,
        )
    values = kpi.compute(session, project_id=project.id, period=period, now=now, tz=tz)
    values["participation"] = participation(
        session, project_id=project.id, first=first, last=last, now=now
    )
    targets = kpi.targets(session, project_id=project.id)
    lines = []
    for name, metric in METRICS.items():
        value = values[name]
        target = targets.get(name)
        lines.append(
            catalog.text(
                locale,
                "kpi.line",
                label=label(locale, name),
                value=None if value is None else amount(catalog, locale, value, metric.unit),
                target=None if target is None else _target_text(catalog, locale, name, target),
                met=None if target is None else kpi.met(value, target.op, target.threshold),
            )
        )
    footer: tuple[Rich, ...] = ()
    if all(t.default for t in targets.values()):
        footer = (catalog.text(locale, "kpi.hint"),)
    return Reply(
        title=catalog.text(locale, "kpi.title", period=period.name, first=first, last=last),
        lines=tuple(lines),
        footer=footer,
        visibility=Visibility.CHANNEL,
    )


def nothing_new(session: Session, *, project_id: int, period: Period) -> bool:
    """True when nothing was created, done, blocked, reported or noted in the period."""
    return not kpi.has_activity(session, project_id=project_id, period=period)


def report(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words, options_named("period"))
    raw = options.get("period")
    if words and raw is None and len(words) == 1:
        raw, words = words[0], []
    if words:
        raise CommandError("unexpected_words", value=" ".join(words))
    period = kpi.period_bounds(PERIOD.parse(raw or "week"), now=ctx.now, tz=ctx.tz)
    return kpi_reply(
        ctx.session,
        catalog=ctx.catalog,
        project=ctx.project,
        locale=ctx.locale,
        period=period,
        now=ctx.now,
    )


# -- targets ----------------------------------------------------------------------------


def _metric_error(err: TargetError) -> CommandError:
    if err.reason == "unknown_metric":
        return CommandError("kpi_unknown_metric", name=err.metric, known=", ".join(METRICS))
    if err.reason == "bad_op":
        return CommandError("kpi_bad_op", value=err.value)
    return CommandError(
        "kpi_bad_value", metric=err.metric, value=err.value, unit=METRICS[err.metric].unit
    )


def target(ctx: Ctx, args: Args) -> Reply:
    words = args.words
    if not words or (len(words) == 1 and words[0].lower() in _LIST_WORDS):
        return _list_targets(ctx)
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    try:
        if len(words) == 2 and words[1].lower() in _OFF_WORDS:
            metric = kpi.metric_named(words[0])
            if not kpi.clear_target(
                ctx.session, project_id=ctx.project_id, metric=metric, now=ctx.now
            ):
                raise CommandError("kpi_no_target", metric=metric)
            return Reply(
                title=ctx.t("kpi.target_off", label=label(ctx.locale, metric)),
                visibility=Visibility.CHANNEL,
                tone=Tone.SUCCESS,
            )
        metric, op, threshold = kpi.parse_target(" ".join(words))
    except TargetError as err:
        raise _metric_error(err) from None
    kpi.set_target(
        ctx.session,
        project_id=ctx.project_id,
        metric=metric,
        op=op,
        threshold=threshold,
        now=ctx.now,
    )
    shown = kpi.Target(op, threshold, False)
    return Reply(
        title=ctx.t(
            "kpi.target_set",
            label=label(ctx.locale, metric),
            target=_target_text(ctx.catalog, ctx.locale, metric, shown),
        ),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def _list_targets(ctx: Ctx) -> Reply:
    targets = kpi.targets(ctx.session, project_id=ctx.project_id)
    items = tuple(
        ctx.t(
            "kpi.target_item",
            metric=name,
            label=label(ctx.locale, name),
            target=_target_text(ctx.catalog, ctx.locale, name, t),
            default=t.default,
        )
        for name, t in targets.items()
    )
    return Reply(
        title=ctx.t("kpi.targets_title", count=len(items)),
        items=items,
        footer=(ctx.t("kpi.metrics", known=", ".join(METRICS)),),
    )


SPECS = [
    CommandSpec(
        group="kpi",
        name="report",
        handler=report,
        usage="/kpi [period:week|month|sprint]",
        examples=("/kpi", "/kpi period:month", "/kpi sprint"),
        aliases=("show", "报告"),
    ),
    CommandSpec(
        group="kpi",
        name="target",
        handler=target,
        usage="/kpi target [<metric><op><value> | <metric> off]",
        examples=(
            "/kpi target bugfix>=95%",
            "/kpi target response<=2h",
            "/kpi target cycle<=3d",
            "/kpi target cycle off",
            "/kpi target",
        ),
        aliases=("targets", "目标"),
    ),
]
