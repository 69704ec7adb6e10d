"""The Slack adapter from the settings (bot/platforms.py); slack-bolt loads only here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.platforms import ConfigError

if TYPE_CHECKING:
    from bot.core import Core
    from bot.hub import Hub
    from bot.settings import Settings
    from bot.slack.adapter import SlackAdapter


def adapter(settings: Settings, core: Core, hub: Hub | None = None) -> SlackAdapter | None:
    """HTTP mode with a signing secret, Socket Mode with an app-level token."""
    if not settings.slack_enabled:
        return None
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode) "
            "nor SLACK_APP_TOKEN (Socket Mode) is"
        )
    from bot.slack.adapter import SlackAdapter

    assert settings.slack_bot_token is not None
    secret = settings.slack_signing_secret
    app_token = settings.slack_app_token
    return SlackAdapter(
        core=core,
        catalog=core.router.catalog,
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=secret.get_secret_value() if secret else "",
        api_url=settings.slack_api_url,
        app_token=app_token.get_secret_value() if app_token else None,
        hub=hub,
    )
