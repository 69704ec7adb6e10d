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
from starlette.routing import Route

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
from bot.scheduling import build_clockwork, clock_check, hub_sender
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.feishu.adapter import FeishuAdapter
    from bot.slack.adapter import SlackAdapter
    from schedules.clockwork import Clockwork

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Settings that cannot run: said to the operator, no traceback."""


def feishu_adapter(settings: Settings, core: Core, hub: Hub) -> FeishuAdapter | None:
    """The Feishu adapter when Feishu is configured (lark-oapi loads only then)."""
    if not settings.feishu_enabled:
        return None
    if settings.feishu_mode == "http" and settings.feishu_verification_token is None:
        raise ConfigError(
            "FEISHU_MODE=http needs FEISHU_VERIFICATION_TOKEN (and FEISHU_ENCRYPT_KEY)"
        )
    from bot.feishu.adapter import FeishuAdapter

    assert settings.feishu_app_id is not None and settings.feishu_app_secret is not None
    token = settings.feishu_verification_token
    key = settings.feishu_encrypt_key
    return FeishuAdapter(
        core=core,
        catalog=core.router.catalog,
        app_id=settings.feishu_app_id,
        app_secret=settings.feishu_app_secret.get_secret_value(),
        verification_token=token.get_secret_value() if token else "",
        encrypt_key=key.get_secret_value() if key else "",
        domain=settings.feishu_domain,
        mode=settings.feishu_mode,
        hub=hub,
    )


def slack_adapter(settings: Settings, core: Core, hub: Hub | None = None) -> SlackAdapter | None:
    if not settings.slack_enabled:
        return None
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode) "
            "nor SLACK_APP_TOKEN (Socket Mode) is"
        )
    from bot.slack.adapter import SlackAdapter

    assert settings.slack_bot_token is not None
    return SlackAdapter(
        core=core,
        catalog=core.router.catalog,
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else ""
        ),
        api_url=settings.slack_api_url,
        app_token=settings.slack_app_token.get_secret_value() if settings.slack_app_token else None,
        hub=hub,
    )


def build_web_app(
    *,
    core: Core,
    slack: SlackAdapter | None,
    feishu: FeishuAdapter | None = None,
    clockwork: Clockwork | None = None,
    health_checks: Sequence[Check] = (),
) -> Starlette:
    """The ASGI app: /healthz and /metrics always, /slack/events and /feishu/events for
    HTTP modes; the clock (standups, digests, alerts) starts after the adapters and stops
    first.

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

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if slack is not None and slack.signing_secret:
        routes.append(Route("/slack/events", slack.endpoint, methods=["POST"]))
    if feishu is not None and feishu.mode == "http":
        routes.append(Route("/feishu/events", feishu.endpoint, methods=["POST"]))
    adapters = [a for a in (slack, feishu) if a is not None]

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
            yield
        finally:
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
    web.state.slack = slack
    web.state.feishu = feishu
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
        slack = slack_adapter(settings, core, hub)
        feishu = feishu_adapter(settings, core, hub)
    except ConfigError as err:
        print(f"teambot serve: {err}", file=sys.stderr)
        return 2
    if slack is None and feishu is None:
        log.warning("no chat platform configured: serving /healthz and /metrics only")
    clockwork = (
        build_clockwork(core.router, hub_sender(hub), observer=core.metrics.firing)
        if settings.scheduler
        else None
    )
    web = build_web_app(core=core, slack=slack, feishu=feishu, clockwork=clockwork)
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
