"""`teambot serve`: the HTTP endpoints and the platform connections.

Platform SDKs are imported only for the platforms that are configured.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import App
from bot.core import Core
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.slack.adapter import SlackAdapter

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Settings that cannot run: said to the operator, no traceback."""


def slack_adapter(settings: Settings, core: Core) -> SlackAdapter | None:
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
    )


def build_web_app(*, core: Core, slack: SlackAdapter | None) -> Starlette:
    """The ASGI app: /healthz always, /slack/events when Slack runs over HTTP."""

    def ping_database() -> None:
        with core.router.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def healthz(request: Request) -> Response:
        try:
            await core.run(ping_database)
        except Exception:
            log.exception("health check: database unreachable")
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    routes = [Route("/healthz", healthz, methods=["GET"])]
    if slack is not None and slack.signing_secret:
        routes.append(Route("/slack/events", slack.endpoint, methods=["POST"]))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if slack is not None:
            await slack.start()
        try:
            yield
        finally:
            if slack is not None:
                await slack.stop()

    web = Starlette(routes=routes, lifespan=lifespan)
    web.state.core = core
    web.state.slack = slack
    return web


def serve(app: App) -> int:
    import uvicorn

    settings = app.settings
    core = Core(app.router)
    try:
        slack = slack_adapter(settings, core)
    except ConfigError as err:
        print(f"teambot serve: {err}", file=sys.stderr)
        return 2
    if slack is None:
        log.warning("no chat platform configured: serving /healthz only")
    web = build_web_app(core=core, slack=slack)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then raises the
    # signal again through the handler that was installed before it; a no-op
    # one lets serve() finish its own clean-up and exit 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(web, host=settings.host, port=settings.port, log_level="info")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        core.close()
    return 0


def _ignore_signal(signum: int, frame: object) -> None:
    log.info("signal %s after shutdown: exiting", signum)
