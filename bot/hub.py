"""Delivery across platforms: DMs and mirrored announcements go through the
adapter of the platform they are for, whichever platform the command came from."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.core import Background
from commands.types import Reply

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

log = logging.getLogger(__name__)

# Waits before the 2nd, 3rd and 4th attempt of a DM or a mirrored announcement that met a
# passing failure (a 5xx, a time-out, a rate limit still in force); the same key each time.
RETRY_WAITS = (1.0, 3.0, 10.0)
MAX_RETRY_AFTER = 60.0


class DeliveryError(Exception):
    """A message a platform did not take, said without the platform's own exception types.

    `transient`: worth trying again (a 5xx, a time-out, a refused connection, a rate
    limit); `retry_after`: the seconds the platform asked to wait, when it said.
    """

    def __init__(
        self, platform: str, what: str, *, transient: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{platform}: {what}")
        self.platform = platform
        self.what = what
        self.transient = transient
        self.retry_after = retry_after


def delivery_key(*parts: str) -> str:
    """An idempotency key of at most 40 characters for one message to one place (Feishu's
    `uuid` takes 50): the same parts always give the same key."""
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MemberRef:
    """A person of a channel as its platform lists them (never a bot, never deactivated)."""

    user_id: str
    name: str = ""
    timezone: str | None = None
    locale: str | None = None


class Adapter(Protocol):
    """What every platform adapter offers the rest of teambot (bot/platforms.py builds
    them, `teambot serve` mounts their routes and starts and stops them)."""

    name: str

    def routes(self) -> list[BaseRoute]:
        """The HTTP endpoints the platform calls (none for a socket connection)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        *,
        channel: str,
        reply: Reply,
        ping: bool = False,
        kind: str = "post",
        dedupe_key: str | None = None,
    ) -> None:
        """Post a reply into a channel or group; `kind` (mirror, scheduled, dm) is counted
        in the metrics. `dedupe_key`, when given, makes a repeated send of the same key a
        no-op where the platform supports it (Feishu's `uuid`)."""

    async def notify(self, *, user_id: str, reply: Reply, dedupe_key: str | None = None) -> None:
        """Send a reply to one member, one to one."""


@runtime_checkable
class ListsMembers(Protocol):
    """What an adapter whose platform lists a channel's members offers besides `Adapter`
    (Slack and Feishu do; bot/roster.py keeps standup rosters with it)."""

    async def channel_members(self, channel_id: str) -> list[MemberRef] | None:
        """The people of a channel, bots and deactivated people left out; None when the
        platform will not say (a missing permission or scope, the bot not in the channel);
        a DeliveryError when it could not be asked."""


class Hub:
    def __init__(self, *, retry_waits: Sequence[float] = RETRY_WAITS) -> None:
        self.adapters: dict[str, Adapter] = {}
        self.retry_waits = tuple(retry_waits)

    def register(self, adapter: Adapter) -> None:
        self.adapters[adapter.name] = adapter

    def deliver(self, reply: Reply, *, background: Background, origin: str | None = None) -> None:
        """After a command: its DMs, and the announcement in the project's other channels,
        each tried again after a passing failure. `origin` (the delivery's event id) keys
        each message, so a retry, or a command somehow delivered twice, cannot DM or mirror
        twice where the platform dedupes (Feishu)."""
        for note in reply.notifications:
            adapter = self.adapters.get(note.platform)
            if adapter is not None:
                key = delivery_key(origin, "dm", note.platform_user_id) if origin else None
                background.spawn(
                    self._persist(
                        partial(
                            adapter.notify,
                            user_id=note.platform_user_id,
                            reply=note.reply,
                            dedupe_key=key,
                        ),
                        what=f"DM failed: user={note.platform_user_id}",
                    ),
                    what=f"{note.platform} DM",
                )
        for mirror in reply.mirrors:
            adapter = self.adapters.get(mirror.platform)
            if adapter is not None:
                key = delivery_key(origin, "mirror", mirror.channel_id) if origin else None
                background.spawn(
                    self._persist(
                        partial(
                            adapter.send,
                            channel=mirror.channel_id,
                            reply=reply,
                            kind="mirror",
                            dedupe_key=key,
                        ),
                        what=f"mirror failed: channel={mirror.channel_id}",
                    ),
                    what=f"{mirror.platform} mirror",
                )

        for post in reply.posts:
            adapter = self.adapters.get(post.platform)
            if adapter is None:
                continue
            target = post.channel_id or post.user_id
            key = delivery_key(origin, "post", target) if origin else None
            send = (
                partial(adapter.send, channel=post.channel_id, reply=post.reply, kind="post",
                        dedupe_key=key)
                if post.channel_id
                else partial(adapter.notify, user_id=post.user_id, reply=post.reply,
                             dedupe_key=key)
            )  # fmt: skip
            background.spawn(
                self._persist(send, what=f"post failed: {post.target}"),
                what=f"{post.platform} post",
            )

    async def _persist(self, attempt: Callable[[], Awaitable[None]], *, what: str) -> None:
        """Run `attempt` until it succeeds, a failure is definite, or the waits are used up;
        a message given up is logged once."""
        waits = list(self.retry_waits)
        tries = 0
        while True:
            tries += 1
            try:
                await attempt()
                return
            except DeliveryError as err:
                if not err.transient or not waits:
                    log.error("%s error=%s transient=%s attempts=%d",
                              what, err.what, err.transient, tries)  # fmt: skip
                    return
                asked = min(err.retry_after or 0.0, MAX_RETRY_AFTER)
                await asyncio.sleep(max(waits.pop(0), asked))
