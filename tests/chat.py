"""A one-line way to talk to the router in tests, plus database snapshots."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlmodel import Session, select

from bot.console import mentions_in
from commands.router import Router
from commands.types import Inbound, Reply
from storage.db import Database
from storage.models import Member, Project, RaciAssignment, Task


class Chat:
    """People talking in channels of one workspace, as the console adapter does."""

    def __init__(
        self, router: Router, *, platform: str = "console", workspace: str = "local"
    ) -> None:
        self.router = router
        self.platform = platform
        self.workspace = workspace

    def inbound(self, user: str, text: str, *, channel: str = "general", **extra: Any) -> Inbound:
        return Inbound(
            platform=self.platform,
            workspace_id=self.workspace,
            workspace_name=self.workspace,
            channel_id=channel,
            channel_name=channel,
            user_id=user.lower(),
            user_name=user,
            text=text,
            mentions=mentions_in(text),
            **extra,
        )

    def say(self, user: str, text: str, *, channel: str = "general", **extra: Any) -> Reply:
        return self.router.handle(self.inbound(user, text, channel=channel, **extra))

    def route(self, user: str, text: str, *, channel: str = "general") -> Reply:
        """Like `say` but without the error boundary: raises CommandError."""
        return self.router.route(self.inbound(user, text, channel=channel))

    # -- looking into the database ------------------------------------------------

    @property
    def db(self) -> Database:
        return self.router.db

    def task(self, number: int, *, channel: str = "general") -> Task:
        with Session(self.db.engine) as session:
            project_id = self._project_id(session, channel)
            return session.exec(
                select(Task).where(Task.project_id == project_id, Task.number == number)
            ).one()

    def roles(self, number: int, *, channel: str = "general") -> dict[str, list[str]]:
        """role -> display names, sorted, of one task."""
        with Session(self.db.engine) as session:
            task = self.task(number, channel=channel)
            rows = session.exec(
                select(RaciAssignment.role, Member.display_name)
                .join(Member, Member.id == RaciAssignment.member_id)  # type: ignore[arg-type]
                .where(RaciAssignment.task_id == task.id)
            ).all()
        out: dict[str, list[str]] = {r: [] for r in "RACI"}
        for role, name in rows:
            out[role].append(name)
        return {r: sorted(names) for r, names in out.items()}

    def project(self, *, channel: str = "general") -> Project:
        with Session(self.db.engine) as session:
            return session.get_one(Project, self._project_id(session, channel))

    def _project_id(self, session: Session, channel: str) -> int:
        from storage.models import ChannelBinding

        binding = session.exec(
            select(ChannelBinding).where(ChannelBinding.channel_id == channel)
        ).one()
        return binding.project_id


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for proving that nothing changed."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out
