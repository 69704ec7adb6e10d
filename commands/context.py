"""What a handler gets: the session, who asked, where, and how to word things."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from commands.errors import CommandError
from commands.i18n import Catalog
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
    task: Task | None = None
    _people: dict[int, Mention] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.project.timezone)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

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
                display_name=ref.display_name,
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
            rows = self.session.exec(
                select(Member, Workspace.platform)
                .join(Workspace, col(Workspace.id) == Member.workspace_id)
                .where(col(Member.id).in_(missing))
            ).all()
            for member, platform in rows:
                assert member.id is not None
                self._people[member.id] = Mention(
                    member.id, member.display_name, platform, member.platform_user_id
                )
        return {i: self._people[i] for i in ids if i in self._people}

    def person(self, member_id: int) -> Mention:
        return self.people([member_id])[member_id]

    def mention(self, member: Member) -> Mention:
        assert member.id is not None
        return self.person(member.id)
