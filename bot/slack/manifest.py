"""The Slack app manifest: `teambot slack-manifest` prints it as YAML."""

from __future__ import annotations

from typing import Any

import yaml

from bot.slack.commands import COMMANDS

DESCRIPTIONS = {
    "task": (
        "Tasks: add, list, show, start, done, block, assign…",
        "add <title> [@user] [due:fri]",
    ),
    "raci": (
        "RACI roles of a task, the matrix and the check",
        "<key> [R @u] [A @u] | matrix | check",
    ),
    "milestone": ("Milestones and their progress", "add <name> due:<date> | list | show <name>"),
    "standup": ("Daily standup", "[y: …] [t: …] [b: …] | status | config …"),
    "retro": ("Retrospectives", "start | add well|improve|idea|action <text> | vote | close"),
    "kpi": ("KPIs against their targets", "[period:week|month|sprint] | target …"),
    "digest": ("Scheduled KPI digests", "weekly <day> <hh:mm> | daily <hh:mm> | off"),
    "teambot": ("teambot help, language, admins", "help [command] | lang en|zh | admin …"),
}
# Only what the bot calls or hears: commands; chat.postMessage, postEphemeral, update
# (and DMs by user id); users.info for names, time zones and locales; app_mention;
# message.im (what people write in the bot's DM) needs im:history; files:write for the
# digest's chart (files.getUploadURLExternal, completeUploadExternal); channels:read and
# groups:read for a standup's roster (conversations.members of a public or private channel).
SCOPES = [
    "app_mentions:read",
    "channels:read",
    "chat:write",
    "commands",
    "files:write",
    "groups:read",
    "im:history",
    "users:read",
]
BOT_EVENTS = ["app_mention", "message.im"]
EVENTS_PATH = "/slack/events"


def endpoint_of(url: str) -> str:
    """The one events URL, from the server's base URL or from the events URL itself
    (with or without a trailing slash): never `/slack/events/slack/events`."""
    base = url.strip().rstrip("/")
    if base.endswith(EVENTS_PATH):
        base = base[: -len(EVENTS_PATH)]
    return base + EVENTS_PATH


def manifest(*, url: str | None, socket_mode: bool, name: str = "teambot") -> dict[str, Any]:
    endpoint = None if socket_mode or not url else endpoint_of(url)
    commands = []
    for command in COMMANDS:
        description, hint = DESCRIPTIONS[command]
        entry: dict[str, Any] = {
            "command": f"/{command}",
            "description": description,
            "usage_hint": hint,
            "should_escape": True,
        }
        if endpoint:
            entry["url"] = endpoint
        commands.append(entry)
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if endpoint:
        events["request_url"] = endpoint
        interactivity["request_url"] = endpoint
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Tasks, RACI, milestones, standups and retros in your channel",
            "background_color": "#2c3e50",
        },
        "features": {
            # The messages tab lets people answer a DM (a reminder, a nudge) with a command;
            # without it Slack shows "Sending messages to this app has been turned off".
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": list(SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "socket_mode_enabled": socket_mode,
            "org_deploy_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(*, url: str | None, socket_mode: bool) -> str:
    data = manifest(url=url, socket_mode=socket_mode)
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
