"""Delivery across platforms: DMs and mirrored announcements go through the
adapter of the platform they are for, whichever platform the command came from."""

from __future__ import annotations

from typing import Protocol

from bot.core import Background
from commands.types import Reply


class Adapter(Protocol):
    """What every platform adapter offers the rest of teambot."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self, *, channel: str, reply: Reply, ping: bool = False, kind: str = "post"
    ) -> None:
        """Post a reply into a channel or group; `kind` (mirror, scheduled, dm) is counted
        in the metrics."""

    async def notify(self, *, user_id: str, reply: Reply) -> None:
        """Send a reply to one member, one to one."""


class Hub:
    def __init__(self) -> None:
        self.adapters: dict[str, Adapter] = {}

    def register(self, adapter: Adapter) -> None:
        self.adapters[adapter.name] = adapter

    def deliver(self, reply: Reply, *, background: Background) -> None:
        """After a command: its DMs, and the announcement in the project's other channels."""
        for note in reply.notifications:
            adapter = self.adapters.get(note.platform)
            if adapter is not None:
                background.spawn(
                    adapter.notify(user_id=note.platform_user_id, reply=note.reply),
                    what=f"{note.platform} DM",
                )
        for mirror in reply.mirrors:
            adapter = self.adapters.get(mirror.platform)
            if adapter is not None:
                background.spawn(
                    adapter.send(channel=mirror.channel_id, reply=reply, kind="mirror"),
                    what=f"{mirror.platform} mirror",
                )
