"""The one typed configuration object, built in main() (never at import time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "secret", "xoxb-your-token", "your-secret", "todo"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Our own settings are TEAMBOT_*; the platforms' keep their usual names.
    database_url: str = Field(
        default="sqlite:///./teambot.db", validation_alias="TEAMBOT_DATABASE_URL"
    )
    timezone: str = Field(default="UTC", validation_alias="TEAMBOT_TIMEZONE")
    locale: Literal["en", "zh"] = Field(default="en", validation_alias="TEAMBOT_LOCALE")
    host: str = Field(default="127.0.0.1", validation_alias="TEAMBOT_HOST")
    port: int = Field(default=3000, validation_alias="TEAMBOT_PORT")
    scheduler: bool = Field(default=True, validation_alias="TEAMBOT_SCHEDULER")
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias="TEAMBOT_LOG_FORMAT"
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    feishu_app_id: str | None = None
    feishu_app_secret: SecretStr | None = None
    feishu_verification_token: SecretStr | None = None
    feishu_encrypt_key: SecretStr | None = None
    feishu_domain: str = "https://open.feishu.cn"
    feishu_mode: Literal["http", "ws"] = "http"

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "feishu_app_secret",
        "feishu_verification_token",
        "feishu_encrypt_key",
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError(
                "is a placeholder, not a real secret: set the one the platform gave you, "
                "or leave it unset"
            )
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("slack_api_url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        # slack-sdk appends method names to the base URL as they are.
        return value if value.endswith("/") else value + "/"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def feishu_enabled(self) -> bool:
        return self.feishu_app_id is not None and self.feishu_app_secret is not None
