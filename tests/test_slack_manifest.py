"""The Slack app manifest: bot.slack.manifest.manifest() and `teambot slack-manifest`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.slack.commands import COMMANDS
from bot.slack.manifest import SCOPES, manifest
from tests.cli_support import Ran
from tests.cli_support import teambot as run_teambot

URL = "https://bot.example.com"
ENDPOINT = "https://bot.example.com/slack/events"


def cli(tmp_path: Path, *args: str) -> Ran:
    """Run `teambot slack-manifest` (in-process) in a clean directory and environment."""
    env = {"TEAMBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'manifest.db'}"}
    return run_teambot("slack-manifest", *args, cwd=tmp_path, env=env)


def printed(tmp_path: Path, *args: str) -> dict[str, Any]:
    done = cli(tmp_path, *args)
    assert (done.returncode, done.stderr) == (0, "")
    document = yaml.safe_load(done.stdout)
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def http_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What `teambot slack-manifest --url https://bot.example.com` prints, parsed."""
    return printed(tmp_path_factory.mktemp("http"), "--url", URL)


@pytest.fixture(scope="module")
def socket_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What `teambot slack-manifest --socket-mode` prints, parsed."""
    return printed(tmp_path_factory.mktemp("socket"), "--socket-mode")


def strings(node: Any) -> Iterator[tuple[str, str]]:
    """Every (key, string value) pair anywhere in the document, plus list items as ("", item)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                yield key, value
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str):
                yield "", item
            yield from strings(item)


def test_http_manifest_points_everything_at_one_endpoint(http_doc: dict[str, Any]) -> None:
    """--url: every command, the events and interactivity go to <url>/slack/events; no Socket Mode."""
    doc = http_doc
    assert [c["command"] for c in doc["features"]["slash_commands"]] == [
        f"/{name}" for name in COMMANDS
    ]
    for command in doc["features"]["slash_commands"]:
        assert (command["url"], command["should_escape"]) == (ENDPOINT, True)
    assert doc["oauth_config"] == {
        "scopes": {
            "bot": [
                "app_mentions:read", "channels:read", "chat:write", "commands", "files:write",
                "groups:read", "im:history", "users:read",
            ]
        }
    }  # fmt: skip
    settings = doc["settings"]
    assert settings["event_subscriptions"] == {
        "bot_events": ["app_mention", "message.im"],
        "request_url": ENDPOINT,
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": ENDPOINT}
    assert settings["socket_mode_enabled"] is False


def test_cli_prints_exactly_the_manifest_function(
    http_doc: dict[str, Any], socket_doc: dict[str, Any]
) -> None:
    """The CLI's YAML is manifest(url=…, socket_mode=…), nothing added or lost."""
    assert http_doc == manifest(url=URL, socket_mode=False)
    assert socket_doc == manifest(url=None, socket_mode=True)


def test_trailing_slash_of_the_url_is_not_doubled() -> None:
    """--url https://host/ still gives https://host/slack/events."""
    doc = manifest(url=URL + "/", socket_mode=False)
    assert {c["url"] for c in doc["features"]["slash_commands"]} == {ENDPOINT}
    assert doc["settings"]["event_subscriptions"]["request_url"] == ENDPOINT


@pytest.mark.parametrize(
    "url",
    [
        "https://bot.example.com/slack/events",
        "https://bot.example.com/slack/events/",
        " https://bot.example.com// ",
    ],
)
def test_the_events_url_itself_is_not_doubled(url: str) -> None:
    """--url may be the base or the events URL, with or without a slash: one /slack/events."""
    doc = manifest(url=url, socket_mode=False)
    assert {c["url"] for c in doc["features"]["slash_commands"]} == {ENDPOINT}
    assert doc["settings"]["event_subscriptions"]["request_url"] == ENDPOINT
    assert doc["settings"]["interactivity"]["request_url"] == ENDPOINT


def test_cli_with_the_events_url_prints_it_once(tmp_path: Path) -> None:
    """`teambot slack-manifest --url https://host/slack/events` (issue 11, finding 6)."""
    doc = printed(tmp_path, "--url", ENDPOINT)
    assert doc == manifest(url=URL, socket_mode=False)
    assert doc["settings"]["event_subscriptions"]["request_url"] == ENDPOINT


def test_path_under_the_host_is_kept() -> None:
    """A base URL with a path (a reverse proxy's prefix) keeps it before /slack/events."""
    doc = manifest(url="https://example.com/teambot/", socket_mode=False)
    assert doc["settings"]["event_subscriptions"]["request_url"] == (
        "https://example.com/teambot/slack/events"
    )


@pytest.mark.parametrize("socket_mode", [False, True])
def test_people_can_write_to_the_bot_in_its_dm(socket_mode: bool) -> None:
    """The App Home messages tab is on and writable, and what is written there arrives
    (message.im, which needs im:history); otherwise Slack shows "Sending messages to this
    app has been turned off" under every DM."""
    doc = manifest(url=URL, socket_mode=socket_mode)
    assert doc["features"]["app_home"] == {
        "home_tab_enabled": False,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    assert "message.im" in doc["settings"]["event_subscriptions"]["bot_events"]
    assert "im:history" in doc["oauth_config"]["scopes"]["bot"]


# The keys each part may hold, as slackapi/manifest-schema's manifest.schema.1.0.0.json
# declares them ("additionalProperties": false everywhere): Slack refuses any other.
SCHEMA_KEYS: dict[tuple[str, ...], set[str]] = {
    (): {"_metadata", "display_information", "features", "oauth_config", "settings",
         "app_directory", "functions", "workflows", "datastores", "outgoing_domains", "types",
         "external_auth_providers", "$schema"},
    ("_metadata",): {"schema_version", "min_version", "major_version", "minor_version"},
    ("display_information",): {"name", "description", "background_color", "long_description"},
    ("features",): {"app_home", "bot_user", "functions", "shortcuts", "slash_commands",
                    "workflow_steps", "unfurl_domains", "assistant_view"},
    ("features", "app_home"): {"home_tab_enabled", "messages_tab_enabled",
                               "messages_tab_read_only_enabled"},
    ("features", "bot_user"): {"display_name", "always_online"},
    ("oauth_config",): {"redirect_urls", "scopes", "token_management_enabled", "pkce_enabled"},
    ("oauth_config", "scopes"): {"user", "bot", "user_optional", "bot_optional"},
    ("settings", "event_subscriptions"): {"request_url", "user_events", "bot_events",
                                          "metadata_subscriptions"},
}  # fmt: skip
COMMAND_KEYS = {"command", "url", "description", "usage_hint", "should_escape"}


@pytest.mark.parametrize("socket_mode", [False, True])
def test_manifest_holds_only_keys_the_schema_declares(socket_mode: bool) -> None:
    """Every object we write uses only the keys the manifest schema allows there."""
    doc = manifest(url=URL, socket_mode=socket_mode)
    for path, allowed in SCHEMA_KEYS.items():
        node: Any = doc
        for key in path:
            node = node[key]
        assert set(node) <= allowed, path
    for command in doc["features"]["slash_commands"]:
        assert set(command) <= COMMAND_KEYS
        assert {"command", "description"} <= set(command)
    assert all(isinstance(v, bool) for v in doc["features"]["app_home"].values())


def test_socket_mode_manifest_has_no_url(socket_doc: dict[str, Any]) -> None:
    """--socket-mode: socket_mode_enabled true and no URL anywhere in the document."""
    doc = socket_doc
    assert doc["settings"]["socket_mode_enabled"] is True
    found = [(k, v) for k, v in strings(doc) if "url" in k or "://" in v]
    assert found == []
    assert doc["settings"]["event_subscriptions"] == {"bot_events": ["app_mention", "message.im"]}
    assert doc["settings"]["interactivity"] == {"is_enabled": True}
    assert [c["command"] for c in doc["features"]["slash_commands"]] == [
        f"/{name}" for name in COMMANDS
    ]
    assert all(c["should_escape"] is True for c in doc["features"]["slash_commands"])


def test_socket_mode_wins_over_a_url() -> None:
    """--socket-mode with --url too (the CLI passes both on): still no URL, Socket Mode on."""
    assert manifest(url=URL, socket_mode=True) == manifest(url=None, socket_mode=True)


def test_neither_url_nor_socket_mode_is_a_usage_error(tmp_path: Path) -> None:
    """Without --url or --socket-mode: exit 2, the reason on stderr, nothing on stdout."""
    done = cli(tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "teambot slack-manifest: give --url https://your.host or --socket-mode\n"


@pytest.mark.parametrize("socket_mode", [False, True])
def test_texts_fit_slacks_limits(socket_mode: bool) -> None:
    """Descriptions ≤ 140, usage hints ≤ 1000, the app name ≤ 35 characters (Slack refuses more)."""
    doc = manifest(url=URL, socket_mode=socket_mode)
    assert len(doc["display_information"]["name"]) <= 35
    assert len(doc["display_information"]["description"]) <= 140
    assert len(doc["features"]["bot_user"]["display_name"]) <= 80
    for command in doc["features"]["slash_commands"]:
        assert len(command["description"]) <= 140, command["command"]
        assert len(command["usage_hint"]) <= 1000, command["command"]
        assert len(command["command"]) <= 32, command["command"]


def test_the_readme_lists_exactly_the_manifests_scopes() -> None:
    """The README's Slack setup table names every scope the manifest asks for, and no other."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    slack = readme.split("\n## Slack\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\s*\| `([a-z_.:]+)` \|", slack, flags=re.MULTILINE)
    assert sorted(listed) == sorted(SCOPES)
