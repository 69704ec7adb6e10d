"""A standup's roster: who is on its team.

By default the channel's members as the platform lists them (bots and deactivated
people left out; bot/roster.py fetches the list daily), adjusted with `/standup members
add|remove @user…`, which outlives every refresh. The console, and a platform that has
not answered yet, has no list: its team is the people added by command, and until
someone is added, the guess of old (who answered in the last `TEAM_DAYS` days, or is R
or A of an open task), less the people removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.context import Ctx
from commands.errors import CommandError
from commands.permissions import Permission, authorize
from commands.registry import Args
from commands.types import Reply, Tone
from storage import repo
from storage import standup as store
from storage.enums import Role
from storage.models import ChannelBinding, StandupConfig, Workspace

TEAM_DAYS = 30
ADDED = "added"
REMOVED = "removed"
_ADD = {"add", "+", "添加", "加入"}
_REMOVE = {"remove", "rm", "-", "移除", "删除"}


@dataclass(frozen=True)
class Roster:
    """A standup's team and where it came from: `platform` (its list, fetched at
    `refreshed_at`), "added" (only the people added by command) or "guess"."""

    team: list[int]
    source: str
    platform: str | None
    refreshed_at: datetime | None
    added: list[int]
    removed: list[int]


def roster(session: Session, *, config: StandupConfig, day: date) -> Roster:
    """The team of a standup on a day, ordered by name (see the module's docstring)."""
    assert config.id is not None
    fetched, rows = store.roster_of(session, config_id=config.id)
    added = [r.member_id for r in rows if r.choice == ADDED]
    removed = {r.member_id for r in rows if r.choice == REMOVED}
    if fetched is not None:
        base = [r.member_id for r in rows if r.listed]
        source = "platform"
    elif added:
        base, source = [], "added"
    else:
        binding = session.get(ChannelBinding, config.binding_id)
        assert binding is not None
        base = store.team(
            session,
            config_id=config.id,
            workspace_id=binding.workspace_id,
            project_id=binding.project_id,
            answered_from=day - timedelta(days=TEAM_DAYS),
            answered_to=day,
            owner_roles=(Role.R.value, Role.A.value),
        )
        source = "guess"
    team = [m for m in dict.fromkeys([*base, *added]) if m not in removed]
    return Roster(
        team=store.by_name(session, member_ids=team),
        source=source,
        platform=fetched.platform if fetched is not None else None,
        refreshed_at=fetched.refreshed_at if fetched is not None else None,
        added=store.by_name(session, member_ids=added),
        removed=store.by_name(session, member_ids=sorted(removed)),
    )


def store_platform_list(
    session: Session,
    *,
    config_id: int,
    workspace: Workspace,
    people: Sequence[tuple[str, str, str | None, str | None]],
    now: datetime,
) -> list[int]:
    """Keep a channel's member list as the platform gave it: (user id, name, time zone,
    locale) of each person; members are created on first sight. Their member ids."""
    ids = []
    for user_id, name, zone, locale in people:
        member = repo.ensure_member(
            session,
            workspace=workspace,
            platform_user_id=user_id,
            display_name=name,
            timezone=zone,
            locale=locale,
        )
        session.flush()
        assert member.id is not None
        ids.append(member.id)
    store.store_listed(
        session, config_id=config_id, platform=workspace.platform, member_ids=ids, at=now
    )
    return ids


def members(ctx: Ctx, args: Args) -> Reply:
    """`/standup members`: the roster and where it came from; `add|remove @user…` (admins)."""
    assert ctx.binding.id is not None
    config = store.config_of_binding(ctx.session, binding_id=ctx.binding.id)
    if config is None or not config.enabled:
        return Reply(title=ctx.t("standup.none_yet"), lines=(ctx.t("standup.none_how"),))
    assert config.id is not None
    words = list(args.words)
    if not words:
        return _shown(
            ctx, roster(ctx.session, config=config, day=_today(ctx, config)), zone=config.timezone
        )
    verb = words[0].lower()
    if verb not in _ADD | _REMOVE:
        raise CommandError("unexpected_words", value=" ".join(words))
    if len(words) < 2:
        raise CommandError("standup_members_whom")
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    store.lock_config(ctx.session, config_id=config.id)
    choice = ADDED if verb in _ADD else REMOVED
    chosen = list(dict.fromkeys(ctx.resolve_person(w).id for w in words[1:]))
    for member_id in chosen:
        assert member_id is not None
        store.choose(
            ctx.session, config_id=config.id, member_id=member_id, choice=choice, at=ctx.now
        )
    names = ctx.people([m for m in chosen if m is not None])
    shown = _shown(
        ctx, roster(ctx.session, config=config, day=_today(ctx, config)), zone=config.timezone
    )
    return Reply(
        title=ctx.t("standup.members_changed", added=choice == ADDED, people=list(names.values())),
        lines=(shown.title, *shown.lines),
        tone=Tone.SUCCESS,
    )


def _today(ctx: Ctx, config: StandupConfig) -> date:
    return ctx.now.astimezone(ZoneInfo(config.timezone)).date()


def _shown(ctx: Ctx, found: Roster, *, zone: str) -> Reply:
    people = ctx.people([*found.team, *found.added, *found.removed])
    lines = [
        ctx.t(
            "standup.members_source",
            source=found.source,
            platform=found.platform or "",
            zone=zone,
            refreshed=found.refreshed_at.astimezone(ZoneInfo(zone))
            if found.refreshed_at is not None
            else None,
        )
    ]
    if found.added:
        lines.append(ctx.t("standup.members_added", people=[people[i] for i in found.added]))
    if found.removed:
        lines.append(ctx.t("standup.members_removed", people=[people[i] for i in found.removed]))
    return Reply(
        title=ctx.t("standup.members_title", people=[people[i] for i in found.team]),
        lines=tuple(lines),
    )
