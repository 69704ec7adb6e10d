"""Standups by DM: each member asked one to one, one question at a time.

With `/standup config mode:dm`, the clock (commands/standup_posts.py, kind `standup_dm`)
sends each member of the team the first question at the standup's time read in the
member's own zone, and opens a `StandupDm` for them: which standup, which day, which
question is pending, the answers so far. A plain message in the member's DM with the bot
is then the answer to that question (`answer`), of the standup of the channel that asked,
never of the DM's own project; the reply is the next question. After the last one the
report is saved, and posted into the channel (`post:each`) or only shown in the summary
(`post:summary`). "later" and "skip" snooze or skip the day (commands/standup.py).

The router asks `pending` for every direct message; a message that starts with a command
word still runs as a command, and `/standup …` lands in the asking channel's standup
(`in_asking_channel`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands import standup
from commands.context import Ctx
from commands.errors import CommandError
from commands.i18n import Catalog
from commands.registry import Args, CommandSpec
from commands.standup_questions import Question, put_answers, questions_of, wording
from commands.types import Field, Post, Reply, Rich, Tone, Visibility
from storage import repo
from storage import standup as store
from storage.models import (
    ChannelBinding,
    Project,
    StandupConfig,
    StandupDm,
    StandupReport,
    Workspace,
)

LATER_WORDS = frozenset({"later", "snooze", "稍后", "晚点", "等会", "等一下"})
SKIP_WORDS = frozenset({"skip", "skip today", "跳过", "今天跳过"})


def pending(ctx: Ctx) -> StandupDm | None:
    """The DM standup question the asker has open, if any."""
    return store.dm_pending(ctx.session, member_id=ctx.member_id, now=ctx.now)


def answers_in_words(ctx: Ctx, asked: StandupDm) -> bool:
    """Whether plain words in the DM answer the pending question: where the standup asks by
    DM. A channel-mode reminder opens the DM standup too, but there only `/standup …` and
    the form answer it (the person was never asked a question in words)."""
    config = ctx.session.get(StandupConfig, asked.config_id)
    return config is not None and config.mode == "dm"


def ask(
    catalog: Catalog,
    locale: str,
    *,
    config: StandupConfig,
    channel: str,
    asked: StandupDm,
    lead: Rich | None = None,
) -> Reply:
    """The pending question of `asked`, as the DM shows it; `lead` above it (the first
    question's introduction, a reminder, "asking again")."""
    questions = questions_of(config)
    step = min(asked.step, len(questions) - 1)
    return Reply(
        title=wording(catalog, locale, questions[step]),
        lines=(lead,) if lead else (),
        footer=(
            catalog.text(
                locale,
                "standup.dm_progress",
                number=step + 1,
                total=len(questions),
                channel=channel,
            ),
        ),
    )


def intro(catalog: Catalog, locale: str, *, config: StandupConfig, channel: str, day: date) -> Rich:
    return catalog.text(
        locale,
        "standup.dm_intro",
        channel=channel,
        day=day,
        cutoff=config.cutoff.strftime("%H:%M"),
        count=len(questions_of(config)),
    )


def open_for(
    session: Session,
    *,
    config: StandupConfig,
    member_id: int,
    day: date,
    until: datetime,
    now: datetime,
) -> StandupDm:
    """The member's DM standup of the day, opened when it is not yet."""
    assert config.id is not None
    asked = store.dm_of(session, config_id=config.id, member_id=member_id, day=day)
    if asked is None:
        asked = StandupDm(
            config_id=config.id,
            member_id=member_id,
            day=day,
            until=until,
            answers={},
            created_at=now,
            updated_at=now,
        )
        session.add(asked)
        session.flush()
    return asked


# -- answers in the DM -------------------------------------------------------------------


class _Asking:
    """The standup that asked, its channel and project, in that project's words."""

    def __init__(self, ctx: Ctx, asked: StandupDm) -> None:
        config = ctx.session.get(StandupConfig, asked.config_id)
        assert config is not None
        binding = ctx.session.get(ChannelBinding, config.binding_id)
        assert binding is not None
        project = ctx.session.get(Project, binding.project_id)
        assert project is not None
        workspace = ctx.session.get(Workspace, binding.workspace_id)
        assert workspace is not None
        self.config, self.binding, self.project = config, binding, project
        self.workspace = workspace
        self.locale = project.locale or ctx.locale
        self.channel = binding.name or binding.channel_id


def answer(ctx: Ctx, asked: StandupDm, text: str) -> Reply:
    """A plain DM message while a question is pending: its answer, then the next question
    (or, after the last, the saved report)."""
    there = _Asking(ctx, asked)
    t = ctx.catalog.text
    word = " ".join(text.lower().split())
    if word in LATER_WORDS:
        again = standup.snooze_question(asked, now=ctx.now)
        ctx.session.add(asked)
        cutoff = there.config.cutoff.strftime("%H:%M")
        if again is None:
            return Reply(title=t(there.locale, "standup.dm_snooze_too_late", cutoff=cutoff))
        local = again.astimezone(_zone(ctx.member.timezone, there.config.timezone))
        return Reply(title=t(there.locale, "standup.dm_snoozed", at=local.strftime("%H:%M")))
    if word in SKIP_WORDS:
        assert there.project.id is not None
        standup.skip_asked(ctx.session, asked=asked, config=there.config, now=ctx.now)
        return Reply(title=t(there.locale, "standup.dm_skipped", day=asked.day), tone=Tone.SUCCESS)
    if len(text) > standup.MAX_PART:
        raise CommandError("title_too_long", limit=standup.MAX_PART)
    questions = questions_of(there.config)
    question = questions[min(asked.step, len(questions) - 1)]
    asked.answers = {**asked.answers, question.key: text.strip()}
    asked.step = min(asked.step, len(questions) - 1) + 1
    asked.snoozed_until = None
    asked.updated_at = ctx.now
    ctx.session.add(asked)
    if asked.step < len(questions):
        return ask(
            ctx.catalog, there.locale, config=there.config, channel=there.channel, asked=asked
        )
    return _finish(ctx, there, asked, questions)


def _finish(ctx: Ctx, there: _Asking, asked: StandupDm, questions: tuple[Question, ...]) -> Reply:
    assert there.config.id is not None
    report = store.report_of(
        ctx.session, config_id=there.config.id, member_id=ctx.member_id, day=asked.day
    )
    if report is None:
        report = StandupReport(
            config_id=there.config.id, member_id=ctx.member_id, day=asked.day, created_at=ctx.now
        )
    put_answers(
        report,
        questions,
        {i: str(asked.answers.get(q.key, "")) for i, q in enumerate(questions)},
    )
    report.updated_at = ctx.now
    ctx.session.add(report)
    asked.finished_at = ctx.now
    ctx.session.add(asked)
    ctx.session.flush()
    t = ctx.catalog.text
    fields = tuple(
        Field(wording(ctx.catalog, there.locale, q), Rich.val(asked.answers.get(q.key, "")))
        for q in questions
        if asked.answers.get(q.key)
    )
    posted = there.config.post == "each"
    posts: tuple[Post, ...] = ()
    if posted:
        who = ctx.mention(ctx.member)
        posts = (
            Post(
                platform=there.workspace.platform,
                channel_id=there.binding.channel_id,
                reply=Reply(
                    title=t(there.locale, "standup.dm_report_title", who=who, day=asked.day),
                    fields=fields,
                    visibility=Visibility.CHANNEL,
                ),
            ),
        )
    return Reply(
        title=t(
            there.locale, "standup.dm_done", day=asked.day, channel=there.channel, posted=posted
        ),
        fields=fields,
        tone=Tone.SUCCESS,
        posts=posts,
    )


# The standup commands that, typed or pressed in a DM with a pending standup, act on the
# standup of the channel that asked (the reminder's Answer, Later and Skip today buttons).
ASKING_CHANNELS = frozenset({"standup.answer", "standup.later", "standup.skip"})


def in_asking_channel(ctx: Ctx, asked: StandupDm, spec: CommandSpec, args: Args) -> Reply:
    """`/standup …` (an answer, `later`, `skip`) typed or pressed in a DM with a pending
    standup: it acts on the standup of the channel that asked, as if typed there. An answer
    ends the DM's questions; so does skip (a skipped day is asked no more)."""
    there = _Asking(ctx, asked)
    is_admin = ctx.member_id in repo.admin_ids(ctx.session, project_id=there.project.id or 0)
    moved = replace(
        ctx,
        project=there.project,
        binding=there.binding,
        locale=there.locale,
        is_admin=is_admin,
        alone_in=None,
        _people=dict(ctx._people),
        _today=None,
    )
    reply = spec.handler(moved, args)
    if (spec.id == "standup.answer" and args.words) or spec.id == "standup.skip":
        asked.finished_at = ctx.now
        asked.updated_at = ctx.now
        ctx.session.add(asked)
    return reply


def _zone(*names: str | None) -> ZoneInfo:
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
                continue
    return ZoneInfo("UTC")


def zone_of_name(name: str | None, fallback: str) -> ZoneInfo:
    """A member's own zone (their profile's), the standup's when unknown or unusable."""
    return _zone(name, fallback)
