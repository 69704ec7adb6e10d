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
# Only what the bot calls: commands; chat.postMessage, postEphemeral, update
# (and DMs by user id); users.info for names, time zones and locales; app_mention;
# files:write for the digest's chart (files.getUploadURLExternal, completeUploadExternal).
SCOPES = ["app_mentions:read", "chat:write", "commands", "files:write", "users:read"]


def manifest(*, url: str | None, socket_mode: bool, name: str = "teambot") -> dict[str, Any]:
    endpoint = None if socket_mode or not url else url.rstrip("/") + "/slack/events"
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
    events: dict[str, Any] = {"bot_events": ["app_mention"]}
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
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": SCOPES}},
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
