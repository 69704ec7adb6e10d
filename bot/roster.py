"""Standup rosters kept fresh: the channel's member list, asked of its platform.

`teambot serve` runs one `RosterKeeper` beside the clock. Every `tick` seconds it looks
for enabled standups whose list was never fetched (a standup just configured: asked
within a tick) or is a day old, asks the adapter of their platform for the channel's
members (`bot.hub.ListsMembers`: Slack, Feishu) and stores the list
(commands/standup_roster.py), which replaces the one before and keeps what the team
chose with `/standup members add|remove`. A platform that refuses or fails is asked
again after `RETRY_AFTER`, and the roster kept meanwhile is the last one fetched.
Several replicas may each refresh the same standup at once: they queue on the standup's
row (`storage.standup.store_listed`) and the list stored is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from bot.hub import DeliveryError, Hub, ListsMembers, MemberRef
from commands.router import RACE_ATTEMPTS, lost_race
from commands.standup_roster import store_platform_list
from storage import standup as store
from storage.db import Database
from storage.models import Workspace

log = logging.getLogger(__name__)

TICK = 60.0  # seconds between looks for stale rosters
REFRESH_EVERY = timedelta(days=1)
RETRY_AFTER = timedelta(hours=1)  # after the platform refused or failed


class RosterKeeper:
    def __init__(
        self, *, db: Database, hub: Hub, clock: Callable[[], datetime], tick: float = TICK
    ) -> None:
        self.db = db
        self.hub = hub
        self.clock = clock
        self.tick = tick
        self._failed: dict[int, datetime] = {}  # config id -> when its platform last failed
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="teambot-rosters")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh_due()
            except Exception:
                log.exception("refreshing standup rosters failed")
            await asyncio.sleep(self.tick)

    async def refresh_due(self) -> int:
        """Refresh every roster that is due; how many were stored."""
        adapters = {n: a for n, a in self.hub.adapters.items() if isinstance(a, ListsMembers)}
        if not adapters:
            return 0
        now = self.clock()
        due = await asyncio.to_thread(self._due, sorted(adapters), now)
        stored = 0
        for config_id, platform, channel_id, workspace_id in due:
            failed = self._failed.get(config_id)
            if failed is not None and now - failed < RETRY_AFTER:
                continue
            try:
                people = await adapters[platform].channel_members(channel_id)
            except DeliveryError as err:
                log.warning("roster of %s not refreshed: %s", channel_id, err.what)
                people = None
            if people is None:
                self._failed[config_id] = now
                continue
            self._failed.pop(config_id, None)
            await asyncio.to_thread(self._store, config_id, workspace_id, people, now)
            stored += 1
        return stored

    def _due(self, platforms: list[str], now: datetime) -> list[tuple[int, str, str, int]]:
        with self.db.transaction() as session:
            return store.stale_rosters(session, platforms=platforms, before=now - REFRESH_EVERY)

    def _store(
        self, config_id: int, workspace_id: int, people: list[MemberRef], now: datetime
    ) -> None:
        """Store one list; a transaction that lost a race to another replica (a deadlock
        on members both update, a person both create) is run again, as commands are."""
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                self._store_once(config_id, workspace_id, people, now)
                return
            except DBAPIError as err:
                if not lost_race(err) or attempt == RACE_ATTEMPTS:
                    raise
                log.info("roster of config %s lost a race (attempt %d): again", config_id, attempt)

    def _store_once(
        self, config_id: int, workspace_id: int, people: list[MemberRef], now: datetime
    ) -> None:
        with self.db.transaction() as session:
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                return
            store_platform_list(
                session,
                config_id=config_id,
                workspace=workspace,
                people=[(p.user_id, p.name, p.timezone, p.locale) for p in people],
                now=now,
            )
        log.info("roster of config %s refreshed: %d people", config_id, len(people))
