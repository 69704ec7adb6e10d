"""What a handler gets: the session, who asked, where, and how to word things."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.errors import CommandError
from commands.i18n import Catalog
from commands.parsing import clean_name
from commands.types import Inbound, Mention, Rich
from storage import repo
from storage.models import ChannelBinding, Member, Project, Task, Workspace


@dataclass
class Ctx:
    session: Session
    inbound: Inbound
    catalog: Catalog
    workspace: Workspace
    project: Project
    binding: ChannelBinding
    member: Member
    locale: str
    now: datetime
    is_admin: bool
    # The project this channel was the only channel of when the command started (None:
    # unknown); the router looks for channels to mirror a reply to only if that changed.
    alone_in: int | None = None
    task: Task | None = None
    _people: dict[int, Mention] = field(default_factory=dict)
    _today: tuple[datetime, str, date] | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.project.timezone)

    @property
    def today(self) -> date:
        # Asked for once per task shown; a command may change the project's time zone.
        memo = self._today
        if memo is None or memo[0] is not self.now or memo[1] != self.project.timezone:
            day = self.now.astimezone(self.tz).date()
            self._today = memo = (self.now, self.project.timezone, day)
        return memo[2]

    @property
    def project_id(self) -> int:
        assert self.project.id is not None
        return self.project.id

    @property
    def member_id(self) -> int:
        assert self.member.id is not None
        return self.member.id

    def t(self, key: str, /, **params: Any) -> Rich:
        return self.catalog.text(self.locale, key, **params)

    def t_lines(self, key: str, /, **params: Any) -> tuple[Rich, ...]:
        return self.catalog.lines(self.locale, key, **params)

    def task_key(self, task: Task) -> str:
        return f"{self.project.key_prefix}-{task.number}"

    # -- people --------------------------------------------------------------

    def resolve_person(self, token: str) -> Member:
        """The member an `@…` token names (a resolved mention, `@me`, or a known name)."""
        key = token[1:] if token.startswith("@") else token
        if key.lower() in {"me", "我"}:
            return self.member
        ref = self.inbound.mentions.get(key)
        if ref is not None:
            return repo.ensure_member(
                self.session,
                workspace=self.workspace,
                platform_user_id=ref.platform_user_id,
                display_name=clean_name(ref.display_name),
            )
        assert self.workspace.id is not None
        found = repo.find_member_by_name(self.session, workspace_id=self.workspace.id, name=key)
        if found is None:
            raise CommandError("unknown_person", name=key)
        return found

    def people(self, ids: Iterable[int]) -> dict[int, Mention]:
        """Mentions for member ids, loaded once per command."""
        missing = {i for i in ids if i not in self._people}
        if missing:
            for member_id, name, platform, user_id in repo.member_mentions(
                self.session, member_ids=missing
            ):
                self._people[member_id] = Mention(member_id, name, platform, user_id)
        return {i: self._people[i] for i in ids if i in self._people}

    def know(self, member: Member, platform: str) -> None:
        """Remember a member loaded already (the asker), so `people` needs no query for them."""
        assert member.id is not None
        self._people[member.id] = Mention(
            member.id, member.display_name, platform, member.platform_user_id
        )

    def person(self, member_id: int) -> Mention:
        return self.people([member_id])[member_id]

    def mention(self, member: Member) -> Mention:
        assert member.id is not None
        return self.person(member.id)
