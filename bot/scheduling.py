"""The clock, wired to the platforms: the engine's posts go out through the hub."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from sqlmodel import Session

from bot.console import PLATFORM
from bot.hub import DeliveryError, Hub
from commands.router import Router
from commands.schedule import Scope
from commands.types import Post
from schedules.clockwork import Clockwork
from schedules.engine import ClockObserver, Engine, Send, TimeSource, Undelivered
from storage.types import utcnow

log = logging.getLogger(__name__)


def hub_sender(hub: Hub) -> Send:
    """A post goes through the adapter of its platform, keyed with the post's idempotency
    key; a platform's `DeliveryError` becomes the engine's `Undelivered` (which the
    engine retries when it is transient). A platform without an adapter here (not
    configured on this replica) is an error for that post only."""

    async def send(post: Post) -> None:
        adapter = hub.adapters.get(post.platform)
        if adapter is None:
            raise LookupError(f"no adapter for {post.platform}")
        key = post.key or None
        try:
            if post.channel_id:
                await adapter.send(
                    channel=post.channel_id, reply=post.reply, kind="scheduled", dedupe_key=key
                )
            else:
                await adapter.send(channel=post.user_id, reply=post.reply, ping=True,
                                   kind="scheduled", dedupe_key=key)  # fmt: skip
        except DeliveryError as err:
            raise Undelivered(
                err.what, transient=err.transient, retry_after=err.retry_after
            ) from err

    return send


def build_clockwork(
    router: Router,
    send: Send,
    *,
    observer: ClockObserver | None = None,
    time_source: TimeSource | None = None,
    scope: Callable[[Session], Scope] | None = None,
) -> Clockwork:
    """The clock for a router. What is due is decided by the database's clock, unless the
    router runs on a clock of its own (tests, the demo): then by that one."""
    if time_source is None:
        time_source = "database" if router.clock is utcnow else "local"
    engine = Engine(
        db=router.db,
        catalog=router.catalog,
        send=send,
        default_locale=router.defaults.locale,
        clock=router.clock,
        time_source=time_source,
        observer=observer,
        scope=scope,
    )
    return Clockwork(engine)


class BackgroundClock:
    """The clock for the console: its own event loop in a thread, posts printed; with a
    `scope`, only the schedules of those channels."""

    def __init__(
        self,
        router: Router,
        show: Callable[[Post], None],
        *,
        scope: Callable[[Session], Scope] | None = None,
    ) -> None:
        self.router = router
        self.show = show
        self.scope = scope
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="teambot-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async def send(post: Post) -> None:
            if post.platform != PLATFORM:
                raise LookupError(f"no adapter for {post.platform} in the console")
            self.show(post)

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        clockwork = build_clockwork(self.router, send, scope=self.scope)
        try:
            await clockwork.start()
        except Exception:
            log.exception("the clock did not start")
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await clockwork.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(5)


def clock_check(
    clockwork: Clockwork, *, failed: Callable[[], bool]
) -> Callable[[], tuple[str, bool, str]]:
    """/healthz's view of the clock, from what it keeps in memory: `starting` until it
    runs, `stopped` (unhealthy) when it could not start (`failed`); otherwise `ok`, or the
    skew of this machine's clock from the database's when it is over 30 s — reported, not
    failed: due times follow the database, and the skew is also the gauge
    teambot_clock_skew_seconds."""

    def check() -> tuple[str, bool, str]:
        state = clockwork.health()
        if not state.get("running"):
            return ("clock", False, "stopped") if failed() else ("clock", True, "starting")
        skew = state.get("skew_seconds")
        if skew is not None and not state.get("skew_ok", True):
            return "clock", True, f"skew {skew:+.0f} s"
        return "clock", True, "ok"

    return check
