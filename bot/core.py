"""The router for async adapters: run off the event loop, work tracked to the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.metrics import Metrics
from commands.router import Router
from commands.types import Inbound, Reply

log = logging.getLogger(__name__)


class Core:
    """Commands run in worker threads, never on the event loop.

    SQLite gets one worker: a single writer beats many threads queueing on the
    file lock (DESIGN.md, measured facts); PostgreSQL gets a pool. The router
    reports every command to the core's metrics (served at /metrics).
    """

    def __init__(
        self, router: Router, *, workers: int | None = None, metrics: Metrics | None = None
    ) -> None:
        self.router = router
        self.metrics = metrics or Metrics()
        if router.observer is None:
            router.observer = self.metrics.command_handled
        sqlite = router.db.url.startswith("sqlite")
        size = workers or (1 if sqlite else 8)
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="teambot-db")

    async def handle(self, inbound: Inbound) -> Reply | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.router.handle, inbound)

    async def run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class Background:
    """Work that continues after a platform has been answered (posts, DMs)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], *, what: str) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(coro, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await coro
        except Exception:
            log.exception("background work failed: %s", what)

    async def drain(self) -> None:
        """Wait for everything spawned so far (and what it spawns)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
