"""Feishu events to command text: mentions, the bot's own placeholder, chat kinds.

A text message's content is a JSON string such as `{"text": "@_user_1 task
list"}`; each `@_user_N` placeholder is described in `mentions[]` with the
person's open_id and name. The bot's own placeholder is removed; other people
become `@<open_id>` words with a `MentionRef`; `@_all` stays the plain words
"@all" and is never a mention.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from commands.types import MentionRef

_PLACEHOLDER = re.compile(r"@_user_\d+|@_all")


@dataclass(frozen=True)
class FeishuCommand:
    text: str
    mentions: dict[str, MentionRef]
    chat_id: str
    chat_type: str  # "p2p" or "group"
    message_id: str
    sender_open_id: str


def command_of(event: dict[str, Any], *, bot_open_id: str | None) -> FeishuCommand | None:
    """The command in an im.message.receive_v1 event, or None if it is not one for us.

    In a group only messages that mention the bot are commands; in a one-to-one
    chat every text message is.
    """
    message = object_of(event.get("message"))
    sender = object_of(event.get("sender"))
    if sender.get("sender_type", "user") != "user" or message.get("message_type") != "text":
        return None
    try:
        content = json.loads(text_of(message.get("content")) or "{}")
    except (ValueError, RecursionError):
        return None
    raw = content.get("text") if isinstance(content, dict) else None
    if not isinstance(raw, str):
        return None
    listed = message.get("mentions")
    by_key = {
        m["key"]: m
        for m in (listed if isinstance(listed, list) else [])
        if isinstance(m, dict) and isinstance(m.get("key"), str)
    }
    mentions: dict[str, MentionRef] = {}
    addressed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal addressed
        token = match.group(0)
        if token == "@_all":
            return " @all "
        mention = by_key.get(token) or {}
        open_id = text_of(object_of(mention.get("id")).get("open_id"))
        if not open_id:
            return " "
        if bot_open_id and open_id == bot_open_id:
            addressed = True
            return " "
        mentions[open_id] = MentionRef(
            platform_user_id=open_id, display_name=text_of(mention.get("name"))
        )
        return f" @{open_id} "

    text = " ".join(_PLACEHOLDER.sub(replace, raw).split())
    chat_type = text_of(message.get("chat_type")) or "group"
    if chat_type != "p2p" and not addressed:
        return None
    if not text:
        return None
    return FeishuCommand(
        text=text,
        mentions=mentions,
        chat_id=text_of(message.get("chat_id")),
        chat_type=chat_type,
        message_id=text_of(message.get("message_id")),
        sender_open_id=text_of(object_of(sender.get("sender_id")).get("open_id")),
    )


def text_of(value: Any) -> str:
    """A payload field that should be a string; "" when it is anything else."""
    return value if isinstance(value, str) else ""


def object_of(value: Any) -> dict[str, Any]:
    """A payload part that should be an object; {} when it is anything else."""
    return value if isinstance(value, dict) else {}
