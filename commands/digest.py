"""/digest: the KPI digest with a burndown chart, posted by the clock (or now).

`/digest weekly mon 09:00` posts every Monday at 09:00 (the project's time
zone) the KPIs of the last 7 days; `/digest daily 18:00` those of the last 24
hours. A digest is the `/kpi` report plus a PNG burndown of the current
milestone (the open one due soonest), or of the project's last 14 days when
there is none. A period with nothing new gives one line instead.
`/digest nudges on|off` switches the daily one-to-one nudges about overdue tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from commands.calendar import CHINESE_WEEKDAYS, WEEKDAYS, is_workday, parse_days, unknown_years
from commands.context import Ctx
from commands.errors import CommandError
from commands.i18n import Catalog
from commands.kpi import kpi_reply
from commands.parsing import parse_clock, parse_zone, split_options
from commands.permissions import Permission
from commands.registry import Args, CommandSpec
from commands.schedule import (
    Building,
    Due,
    Occurrence,
    ScheduleKind,
    Scope,
    Wake,
    end_of_day,
    local,
    local_days,
)
from commands.types import Field, Image, Post, Reply, Rich, Tone, Visibility
from storage import kpi
from storage import standup as standup_store
from storage.models import (
    ChannelBinding,
    DigestConfig,
    Milestone,
    Project,
    Workspace,
)

BURNDOWN_DAYS = 14
MAX_CHART_DAYS = 60
_OPTIONS = {"tz": "tz", "timezone": "tz", "时区": "tz"}
_ON = {"on": True, "开": True, "开启": True, "off": False, "关": False, "关闭": False}


def _weekday(word: str) -> int:
    lowered = word.lower()[:3]
    if lowered in WEEKDAYS:
        return WEEKDAYS.index(lowered)
    if word in CHINESE_WEEKDAYS:
        return CHINESE_WEEKDAYS.index(word)
    raise CommandError("bad_weekday", value=word)


def _config(ctx: Ctx) -> DigestConfig | None:
    assert ctx.binding.id is not None
    return ctx.session.exec(
        select(DigestConfig).where(DigestConfig.binding_id == ctx.binding.id)
    ).first()


def _save(ctx: Ctx, *, cadence: str, weekday: int | None, at: time, zone: str) -> Reply:
    assert ctx.binding.id is not None
    config = _config(ctx) or DigestConfig(
        binding_id=ctx.binding.id, cadence=cadence, at=at, timezone=zone, created_at=ctx.now
    )
    config.cadence, config.weekday, config.at, config.timezone = cadence, weekday, at, zone
    config.enabled = True
    config.created_at = ctx.now  # the schedule counts from now: nothing before is "missed"
    ctx.session.add(config)
    ctx.session.flush()
    return Reply(
        title=ctx.t("digest.scheduled"),
        fields=_fields(ctx, config),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def _fields(ctx: Ctx, config: DigestConfig) -> tuple[Field, ...]:
    return (
        Field(
            ctx.t("digest.label_when"),
            ctx.t(
                "digest.when",
                cadence=config.cadence,
                weekday=config.weekday,
                at=config.at.strftime("%H:%M"),
                tz=config.timezone,
                enabled=config.enabled,
            ),
        ),
        Field(ctx.t("digest.label_nudges"), ctx.t("digest.nudges", on=ctx.project.overdue_nudges)),
    )


def weekly(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words, _OPTIONS)
    if len(words) != 2:
        raise CommandError("digest_usage")
    zone = parse_zone(options["tz"]) if "tz" in options else ctx.project.timezone
    day = _weekday(words[0])
    at = parse_clock(words[1], option="time")
    return _save(ctx, cadence="weekly", weekday=day, at=at, zone=zone)


def daily(ctx: Ctx, args: Args) -> Reply:
    options, words = split_options(args.words, _OPTIONS)
    if len(words) != 1:
        raise CommandError("digest_usage")
    zone = parse_zone(options["tz"]) if "tz" in options else ctx.project.timezone
    return _save(ctx, cadence="daily", weekday=None, at=parse_clock(words[0], option="time"),
                 zone=zone)  # fmt: skip


def off(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    config = _config(ctx)
    if config is None or not config.enabled:
        raise CommandError("digest_not_configured")
    config.enabled = False
    ctx.session.add(config)
    return Reply(title=ctx.t("digest.turned_off"), visibility=Visibility.CHANNEL)


def show(ctx: Ctx, args: Args) -> Reply:
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    config = _config(ctx)
    if config is None:  # a question, answered kindly
        return Reply(title=ctx.t("digest.none_yet"), lines=(ctx.t("digest.none_how"),))
    return Reply(title=ctx.t("digest.show_title"), fields=_fields(ctx, config))


def nudges(ctx: Ctx, args: Args) -> Reply:
    if len(args.words) != 1 or args.words[0].lower() not in _ON:
        raise CommandError("digest_usage")
    ctx.project.overdue_nudges = _ON[args.words[0].lower()]
    ctx.session.add(ctx.project)
    return Reply(
        title=ctx.t("digest.nudges_set", on=ctx.project.overdue_nudges),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def now(ctx: Ctx, args: Args) -> Reply:
    """The digest of the last 7 days, here and now, chart included."""
    if args.words:
        raise CommandError("unexpected_words", value=args.rest())
    period = kpi.Period(start=ctx.now - timedelta(days=7), end=ctx.now, name="week")
    return digest_reply(
        ctx.session, ctx.catalog, project=ctx.project, locale=ctx.locale, period=period,
        now=ctx.now, late=False, chart=True,
    )  # fmt: skip


# -- what the clock posts ----------------------------------------------------------------


def digest_reply(
    session: Session,
    catalog: Catalog,
    *,
    project: Project,
    locale: str,
    period: kpi.Period,
    now: datetime,
    late: bool,
    chart: bool,
) -> Reply:
    reply = kpi_reply(
        session, catalog=catalog, project=project, locale=locale, period=period, now=now,
        one_line_if_idle=True,
    )  # fmt: skip
    if not reply.lines:  # nothing new: the one line says so
        return reply
    title = catalog.text(locale, "digest.title", period=period.name, late=late)
    hint = catalog.text(locale, "digest.kpi_hint")
    reply = replace(reply, title=title, footer=(*reply.footer, hint))
    if not chart:
        return reply
    image, unknown = burndown_image(session, catalog, project=project, locale=locale, now=now)
    legend = catalog.text(locale, "digest.legend")
    return replace(reply, lines=(*reply.lines, legend, *unknown), image=image)


def burndown_image(
    session: Session, catalog: Catalog, *, project: Project, locale: str, now: datetime
) -> tuple[Image, tuple[Rich, ...]]:
    """The chart, and a line when its work days rest on a year the holiday calendar
    installed does not know yet."""
    from commands.chart import ChartText, burndown_png, cjk_font

    assert project.id is not None
    tz = ZoneInfo(project.timezone)
    today = now.astimezone(tz).date()
    milestone = session.exec(
        select(Milestone)
        .where(Milestone.project_id == project.id, Milestone.status == "open")
        .order_by(col(Milestone.due), col(Milestone.id))
    ).first()
    if milestone is not None:
        start = milestone.created_at.astimezone(tz).date()
        end = max(milestone.due, today)
        start = max(start, end - timedelta(days=MAX_CHART_DAYS - 1))
    else:
        start, end = today - timedelta(days=BURNDOWN_DAYS - 1), today
    points = kpi.burndown(
        session,
        project_id=project.id,
        milestone_id=milestone.id if milestone else None,
        start=start,
        end=end,
        tz=tz,
    )
    shown = [p for p in points if p[0] <= today] or points[:1]
    remaining = shown[-1][1] if shown else 0
    total = shown[-1][2] if shown else 0
    alt = catalog.text(
        locale,
        "digest.chart_alt",
        name=milestone.name if milestone else None,
        remaining=remaining,
        total=total,
        start=start,
        end=end,
    )
    # The chart's words in the project's language when a font can draw them; else English
    # in Pillow's own font (never boxes for missing glyphs: those it lacks show as "?").
    name = milestone.name if milestone else ""
    font = cjk_font() if locale == "zh" or not name.isascii() else None
    words = locale if font is not None or locale == "en" else "en"

    def word(key: str, /, **params: object) -> str:
        return catalog.text(words, f"digest.chart_{key}", **params).plain()

    text = ChartText(
        title=word("title", name=milestone.name if milestone else None, days=BURNDOWN_DAYS),
        remaining=word("remaining"),
        scope=word("scope"),
        ideal=word("ideal"),
        axis=word("axis"),
        today=word("today"),
        due=word("due"),
    )
    calendar, workday = _workdays(session, project_id=project.id)
    png = burndown_png(
        points,
        until=today,
        due=milestone.due if milestone else None,
        workday=workday,
        text=text,
        font_path=font,
    )
    image = Image(png=png, filename=f"burndown-{today.isoformat()}.png", alt=alt)
    unknown = unknown_years(calendar, range(start.year, end.year + 1))
    if not unknown:
        return image, ()
    return image, (
        catalog.text(locale, "standup.calendar_unknown", calendar=calendar, years=unknown),
    )


def _workdays(session: Session, *, project_id: int) -> tuple[str, Callable[[date], bool]]:
    """The project's calendar and work days: its standup's days and calendar, else Monday
    to Friday."""
    config = standup_store.first_config_of_project(session, project_id=project_id)
    days = parse_days(config.days) if config is not None else frozenset(range(5))
    calendar = config.calendar if config is not None else "none"
    return calendar, lambda day: is_workday(day, days=days, calendar=calendar)


def digest_posts(
    session: Session,
    catalog: Catalog,
    *,
    config_id: int,
    now: datetime,
    late: bool,
    default_locale: str,
    chart: bool = True,
) -> list[Post]:
    row = session.exec(
        select(DigestConfig, ChannelBinding, Project, Workspace.platform)
        .join(ChannelBinding, col(ChannelBinding.id) == DigestConfig.binding_id)
        .join(Project, col(Project.id) == ChannelBinding.project_id)
        .join(Workspace, col(Workspace.id) == ChannelBinding.workspace_id)
        .where(DigestConfig.id == config_id)
    ).first()
    if row is None or not row[0].enabled:
        return []
    config, binding, project, platform = row
    days = 7 if config.cadence == "weekly" else 1
    period = kpi.Period(
        start=now - timedelta(days=days), end=now, name="week" if days == 7 else "day"
    )
    reply = digest_reply(
        session, catalog, project=project, locale=project.locale or default_locale,
        period=period, now=now, late=late, chart=chart,
    )  # fmt: skip
    return [Post(platform=platform, reply=reply, channel_id=binding.channel_id)]


# -- when the clock posts it ---------------------------------------------------------------


def _occurrences(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    """Each enabled digest on its days (every day, or its weekday) at its time, from when
    it was set; useful until the end of its local day."""
    out = []
    for config in session.exec(select(DigestConfig).where(col(DigestConfig.enabled))):
        if scope is not None and config.binding_id not in scope.bindings:
            continue
        assert config.id is not None
        tz = ZoneInfo(config.timezone)
        out += [
            Occurrence(
                "digest",
                f"digest:{config.id}",
                config.id,
                day,
                local(day, config.at, tz),
                end_of_day(day, tz),
            )
            for day in local_days(start, end, tz)
            if (config.cadence == "daily" or day.weekday() == config.weekday)
            and local(day, config.at, tz) >= config.created_at
        ]
    return out


def _wakes(session: Session) -> dict[str, Wake]:
    return {
        f"digest:{config.id}": Wake(
            config.at, config.timezone, config.weekday if config.cadence == "weekly" else None
        )
        for config in session.exec(select(DigestConfig).where(col(DigestConfig.enabled)))
    }


def _posts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    return [
        digest_posts(
            session,
            building.catalog,
            config_id=d.occurrence.ref,
            now=building.now,
            late=d.late,
            default_locale=building.default_locale,
            chart=building.charts,
        )
        for d in due
    ]


KIND = ScheduleKind(name="digest", occurrences=_occurrences, wakes=_wakes, posts=_posts)


SPECS = [
    CommandSpec(
        group="digest",
        name="show",
        handler=show,
        usage="/digest",
        examples=("/digest",),
        aliases=("查看",),
    ),
    CommandSpec(
        group="digest",
        name="weekly",
        handler=weekly,
        usage="/digest weekly <day> <hh:mm> [tz:<zone>]",
        examples=("/digest weekly mon 09:00", "/digest weekly 周五 17:30 tz:Asia/Shanghai"),
        permission=Permission.ADMIN,
        aliases=("每周",),
    ),
    CommandSpec(
        group="digest",
        name="daily",
        handler=daily,
        usage="/digest daily <hh:mm> [tz:<zone>]",
        examples=("/digest daily 18:00",),
        permission=Permission.ADMIN,
        aliases=("每天",),
    ),
    CommandSpec(
        group="digest",
        name="off",
        handler=off,
        usage="/digest off",
        examples=("/digest off",),
        permission=Permission.ADMIN,
        aliases=("关闭",),
    ),
    CommandSpec(
        group="digest",
        name="now",
        handler=now,
        usage="/digest now",
        examples=("/digest now",),
        aliases=("现在",),
    ),
    CommandSpec(
        group="digest",
        name="nudges",
        handler=nudges,
        usage="/digest nudges on|off",
        examples=("/digest nudges on",),
        permission=Permission.ADMIN,
        aliases=("催办",),
    ),
]


def fallback(words: list[str]) -> str | None:
    return "show" if not words else None
