"""The Feishu adapter from the settings (bot/platforms.py); lark-oapi loads only when the
adapter starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.platforms import ConfigError

if TYPE_CHECKING:
    from bot.core import Core
    from bot.feishu.adapter import FeishuAdapter
    from bot.hub import Hub
    from bot.settings import Settings


def adapter(settings: Settings, core: Core, hub: Hub) -> FeishuAdapter | None:
    """HTTP callbacks need the verification token (and encrypt key); the long connection
    needs only the app's id and secret."""
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
