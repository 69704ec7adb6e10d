"""`teambot serve`: the HTTP endpoints and the platform connections.

Platform SDKs are imported only for the platforms that are configured.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.core import Core
from bot.health import Check, DatabaseProbe, Health
from bot.hub import Hub
from bot.limits import (
    KEEP_ALIVE,
    MAX_CONNECTIONS,
    READ_TIMEOUT,
    BodyLimit,
    bounded_http,
    raise_open_file_limit,
)
from bot.metrics import CONTENT_TYPE
from bot.platforms import ConfigError, build_adapters
from bot.roster import RosterKeeper
from bot.scheduling import build_clockwork, clock_check, hub_sender

if TYPE_CHECKING:
    from bot.hub import Adapter
    from schedules.clockwork import Clockwork

log = logging.getLogger(__name__)


def build_web_app(
    *,
    core: Core,
    adapters: Sequence[Adapter] = (),
    clockwork: Clockwork | None = None,
    rosters: RosterKeeper | None = None,
    health_checks: Sequence[Check] = (),
) -> Starlette:
    """The ASGI app: /healthz and /metrics always, and each adapter's routes (Slack's
    /slack/events and Feishu's /feishu/events in their HTTP modes); the adapters start in
    order, the clock (standups, digests, alerts) and the standup rosters' refresher
    (`bot.roster`) after them, and they stop first.

    /healthz probes the database on a connection of its own (`bot.health`) and adds each
    of `health_checks`: callables returning `(name, ok, status)`, cheap and non-blocking
    (they run on the event loop), such as the clock's skew check. Its body is
    `{"status": "ok"|"error", "database": <status>, <name>: <status>, ...}`, 503 when any
    check fails."""
    clock_failed: list[bool] = []
    checks = list(health_checks)
    if clockwork is not None:
        checks.append(clock_check(clockwork, failed=lambda: bool(clock_failed)))
    health = Health(DatabaseProbe(core.router.db.url), checks=checks, metrics=core.metrics)

    async def healthz(request: Request) -> Response:
        ok, body = await health.report()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(core.metrics.render(), media_type=CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    for adapter in adapters:
        routes += adapter.routes()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        started = []
        clock: asyncio.Task[None] | None = None
        try:
            for adapter in adapters:
                await adapter.start()
                started.append(adapter)
            if clockwork is not None:
                # Its first round posts what fell due while teambot was down (maybe
                # thousands of posts): serving, /healthz included, does not wait for it.
                clock = asyncio.create_task(start_clock(clockwork, clock_failed))
            if rosters is not None:
                await rosters.start()
            yield
        finally:
            if rosters is not None:
                await rosters.stop()
            if clockwork is not None:
                if clock is not None:
                    await clock
                await clockwork.stop()
            for adapter in reversed(started):
                await adapter.stop()
            health.dispose()

    # Bodies over the limit are refused (413) before they are read into memory.
    web = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(BodyLimit)])
    web.state.core = core
    return web


async def start_clock(clockwork: Clockwork, failed: list[bool]) -> None:
    """Start the clock; if it cannot start, say so (in the log, and in /healthz through
    `failed`)."""
    try:
        await clockwork.start()
    except Exception:
        log.exception("the clock did not start: no standups, digests or alerts from here")
        failed.append(True)
        await clockwork.stop()


def serve(
    app: App, *, read_timeout: float = READ_TIMEOUT, max_connections: int = MAX_CONNECTIONS
) -> int:
    import uvicorn

    settings = app.settings
    core = Core(app.router)
    hub = Hub()
    try:
        adapters = build_adapters(settings, core, hub)
    except ConfigError as err:
        print(f"teambot serve: {err}", file=sys.stderr)
        return 2
    if not adapters:
        log.warning("no chat platform configured: serving /healthz and /metrics only")
    clockwork = (
        build_clockwork(core.router, hub_sender(hub), observer=core.metrics.firing)
        if settings.scheduler
        else None
    )
    rosters = (
        RosterKeeper(db=core.router.db, hub=hub, clock=core.router.clock)
        if settings.scheduler
        else None
    )
    web = build_web_app(core=core, adapters=adapters, clockwork=clockwork, rosters=rosters)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then raises the
    # signal again through the handler that was installed before it; a no-op
    # one lets serve() finish its own clean-up and exit 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        connections = raise_open_file_limit(max_connections)
        options = uvicorn_options(read_timeout=read_timeout, max_connections=connections)
        if settings.log_format == "json":
            options["log_config"] = None  # uvicorn's records go through our JSON handler
        # Everything built so far (modules, mappers, the app) lives as long as the process:
        # out of the collector's sight, a full collection takes 0.4 ms instead of ~50 ms,
        # a pause every in-flight request waits out (bench/http_e2e.py, p99).
        gc.freeze()
        uvicorn.run(web, host=settings.host, port=settings.port, **options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        core.close()
    return 0


def uvicorn_options(
    *, read_timeout: float = READ_TIMEOUT, max_connections: int = MAX_CONNECTIONS
) -> dict[str, Any]:
    """How uvicorn serves teambot (bench/http_e2e.py serves its baseline app the same way).

    uvicorn's default loop is uvloop, which teambot depends on; its HTTP protocol is
    httptools' with the bounds of `bot.limits.BoundedHttp`: a request must arrive within
    `read_timeout` seconds, its head within 64 KiB, and past `max_connections` the
    connections idle longest are closed. (uvicorn's own `limit_concurrency` is not used:
    it counts idle connections too, and answers 503 to everything, /healthz included,
    while they are open.)
    """
    return {
        "log_level": "info",
        "http": bounded_http(read_timeout=read_timeout, max_connections=max_connections),
        "timeout_keep_alive": KEEP_ALIVE,
    }


def _ignore_signal(signum: int, frame: object) -> None:
    log.info("signal %s after shutdown: exiting", signum)
