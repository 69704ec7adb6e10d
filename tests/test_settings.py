"""The typed configuration: defaults, environment names, refused values, hidden secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.settings import Settings

PREFIXES = ("TEAMBOT_", "SLACK_", "FEISHU_")
SECRETS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "FEISHU_APP_SECRET",
    "FEISHU_VERIFICATION_TOKEN",
    "FEISHU_ENCRYPT_KEY",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No TEAMBOT_/SLACK_/FEISHU_ variables and no .env file in the working directory."""
    for name in list(os.environ):
        if name.upper().startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    """With nothing configured: local SQLite, UTC, English, 127.0.0.1:3000, no platform."""
    settings = Settings()
    assert (
        settings.database_url,
        settings.timezone,
        settings.locale,
        settings.host,
        settings.port,
    ) == ("sqlite:///./teambot.db", "UTC", "en", "127.0.0.1", 3000)
    assert settings.slack_bot_token is None
    assert settings.feishu_app_secret is None
    assert (settings.slack_enabled, settings.feishu_enabled) == (False, False)
    assert settings.feishu_mode == "http"


def test_environment_names(clean_env: pytest.MonkeyPatch) -> None:
    """TEAMBOT_DATABASE_URL, _TIMEZONE, _LOCALE, _HOST, _PORT and SLACK_BOT_TOKEN are read."""
    clean_env.setenv("TEAMBOT_DATABASE_URL", "postgresql+psycopg://bot@db/teambot")
    clean_env.setenv("TEAMBOT_TIMEZONE", "Asia/Shanghai")
    clean_env.setenv("TEAMBOT_LOCALE", "zh")
    clean_env.setenv("TEAMBOT_HOST", "0.0.0.0")
    clean_env.setenv("TEAMBOT_PORT", "8080")
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-1234-abcd")
    settings = Settings()
    assert (
        settings.database_url,
        settings.timezone,
        settings.locale,
        settings.host,
        settings.port,
    ) == ("postgresql+psycopg://bot@db/teambot", "Asia/Shanghai", "zh", "0.0.0.0", 8080)
    assert isinstance(settings.slack_bot_token, SecretStr)
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1234-abcd"
    assert settings.slack_enabled is True


def test_dotenv_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A .env file in the working directory supplies settings the environment does not."""
    (tmp_path / ".env").write_text("TEAMBOT_LOCALE=zh\nTEAMBOT_PORT=4000\n", encoding="utf-8")
    clean_env.setenv("TEAMBOT_PORT", "5000")
    settings = Settings()
    assert (settings.locale, settings.port) == ("zh", 5000)


def test_feishu_enabled_needs_id_and_secret(clean_env: pytest.MonkeyPatch) -> None:
    """Feishu counts as configured only with both FEISHU_APP_ID and FEISHU_APP_SECRET."""
    clean_env.setenv("FEISHU_APP_ID", "cli_123")
    assert Settings().feishu_enabled is False
    clean_env.setenv("FEISHU_APP_SECRET", "s3cr3t-value")
    assert Settings().feishu_enabled is True


@pytest.mark.parametrize("variable", SECRETS)
@pytest.mark.parametrize("value", ["changeme", "CHANGEME", " change-me ", "xoxb-your-token"])
def test_placeholder_secrets_are_refused(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A placeholder such as "changeme" in any secret is a validation error naming the field."""
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [error["loc"] for error in caught.value.errors()] == [(variable.lower(),)]


def test_blank_secret_counts_as_unset(clean_env: pytest.MonkeyPatch) -> None:
    """A secret of only spaces is treated as not configured."""
    clean_env.setenv("SLACK_BOT_TOKEN", "   ")
    settings = Settings()
    assert settings.slack_bot_token is None
    assert settings.slack_enabled is False


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../etc/passwd", "UTC+8", ""])
def test_invalid_timezone_is_refused(clean_env: pytest.MonkeyPatch, zone: str) -> None:
    """An unknown or malformed TEAMBOT_TIMEZONE is a validation error, not a crash."""
    clean_env.setenv("TEAMBOT_TIMEZONE", zone)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [error["loc"] for error in caught.value.errors()] == [("TEAMBOT_TIMEZONE",)]


@pytest.mark.parametrize(("variable", "value"), [("TEAMBOT_LOCALE", "fr"), ("TEAMBOT_PORT", "x")])
def test_invalid_locale_or_port_is_refused(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A locale other than en/zh or a port that is not a number is a validation error."""
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [error["loc"] for error in caught.value.errors()] == [(variable,)]


def test_secrets_are_hidden(clean_env: pytest.MonkeyPatch) -> None:
    """Every secret is a SecretStr and none of their values appears in repr or str."""
    values = {name: f"real-{name.lower()}-0123456789" for name in SECRETS}
    for name, value in values.items():
        clean_env.setenv(name, value)
    settings = Settings()
    shown = repr(settings) + str(settings) + repr(settings.model_dump())
    for name, value in values.items():
        secret = getattr(settings, name.lower())
        assert isinstance(secret, SecretStr)
        assert secret.get_secret_value() == value
        assert value not in shown


def test_slack_api_url_always_ends_with_a_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    """SLACK_API_URL without a trailing slash still makes method URLs like …/api/chat.postMessage."""
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9999/api")
    assert Settings().slack_api_url == "http://127.0.0.1:9999/api/"


def test_log_format(clean_env: pytest.MonkeyPatch) -> None:
    """Text by default; TEAMBOT_LOG_FORMAT=json (any case) for JSON lines; nothing else."""
    assert Settings().log_format == "text"
    clean_env.setenv("TEAMBOT_LOG_FORMAT", "JSON")
    assert Settings().log_format == "json"
    clean_env.setenv("TEAMBOT_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="TEAMBOT_LOG_FORMAT"):
        Settings()
