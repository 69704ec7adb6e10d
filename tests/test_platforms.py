"""Every platform is built the same way (bot/platforms.py): from its folder's `setup`
module, into an adapter that brings its own routes; `serve` knows no platform by name."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from bot.app import build_app
from bot.core import Core
from bot.hub import Adapter, Hub
from bot.platforms import PLATFORMS, ConfigError, build_adapters
from bot.settings import Settings

SLACK = {"slack_bot_token": "xoxb-test", "slack_signing_secret": "s" * 32}
FEISHU = {"feishu_app_id": "cli_test", "feishu_app_secret": "secret-for-tests"}


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}"))
    core = Core(app.router)
    yield core
    core.close()
    app.close()


def built(core: Core, **values: str) -> tuple[Hub, list[Adapter]]:
    settings = Settings(database_url=core.router.db.url, **values)  # type: ignore[arg-type]
    hub = Hub()
    return hub, build_adapters(settings, core, hub)


def paths(adapter: Adapter) -> list[str]:
    return [r.path for r in adapter.routes() if isinstance(r, Route)]


def test_each_platform_is_a_folder_with_a_setup_module() -> None:
    for name in PLATFORMS:
        setup = importlib.import_module(f"bot.{name}.setup")
        assert callable(setup.adapter)


def test_nothing_configured_builds_nothing(core: Core) -> None:
    hub, adapters = built(core)
    assert (adapters, hub.adapters) == ([], {})


def test_http_modes_bring_their_endpoints_and_register_in_the_hub(core: Core) -> None:
    hub, adapters = built(core, **SLACK, **FEISHU, feishu_verification_token="t",
                          feishu_encrypt_key="k")  # fmt: skip
    assert [a.name for a in adapters] == ["slack", "feishu"]
    assert [paths(a) for a in adapters] == [["/slack/events"], ["/feishu/events"]]
    assert set(hub.adapters) == {"slack", "feishu"}


def test_socket_connections_bring_no_endpoint(core: Core) -> None:
    _, adapters = built(core, slack_bot_token="xoxb-test", slack_app_token="xapp-test",
                        **FEISHU, feishu_mode="ws")  # fmt: skip
    assert [paths(a) for a in adapters] == [[], []]


def test_the_long_connection_needs_no_verification_token_or_encrypt_key(core: Core) -> None:
    _, adapters = built(core, **FEISHU, feishu_mode="ws")
    assert [a.name for a in adapters] == ["feishu"]


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"slack_bot_token": "xoxb-test"}, "SLACK_SIGNING_SECRET"),
        (FEISHU, "FEISHU_VERIFICATION_TOKEN"),
    ],
)
def test_a_platform_configured_halfway_is_said_to_the_operator(
    core: Core, values: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError, match=said):
        built(core, **values)
