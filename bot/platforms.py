"""The chat platforms teambot serves, built from the settings in one place.

Each platform is a folder under `bot/` whose `setup` module has
`adapter(settings, core, hub) -> Adapter | None`: the platform's adapter (see
`bot.hub.Adapter`) when it is configured, None when it is not. Its SDK is imported only
then. Adding a platform is a new folder, its name below, and its settings in
`bot.settings`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import Core
    from bot.hub import Adapter, Hub
    from bot.settings import Settings

PLATFORMS = ("slack", "feishu")


class ConfigError(Exception):
    """Settings that cannot run: said to the operator, no traceback."""


def build_adapters(settings: Settings, core: Core, hub: Hub) -> list[Adapter]:
    """The adapters of every configured platform, registered in `hub`; ConfigError when a
    platform is configured halfway."""
    built = []
    for name in PLATFORMS:
        setup = importlib.import_module(f"bot.{name}.setup")
        adapter = setup.adapter(settings, core, hub)
        if adapter is not None:
            built.append(adapter)
    return built
