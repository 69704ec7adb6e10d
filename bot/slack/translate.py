"""Slack payloads to neutral `Inbound` values.

Slack sends message text with its control sequences: `<@U123>` or
`<@U123|ana>` for people, `<#C123|general>` for channels, `<https://…|label>`
for links, `<!here>` for broadcasts, and `&amp; &lt; &gt;` for the three
characters it reserves. Mentions become `@U123` words with a `MentionRef`;
the rest becomes the plain text a person typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from commands.types import MentionRef

_CONTROL = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class SlackText:
    text: str
    mentions: dict[str, MentionRef]


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_text(raw: str, *, drop_user: str | None = None) -> SlackText:
    """Plain text and mentions; `drop_user` (the bot itself) is removed from the text."""
    mentions: dict[str, MentionRef] = {}
    out: list[str] = []
    pos = 0
    for match in _CONTROL.finditer(raw):
        out.append(unescape(raw[pos : match.start()]))
        pos = match.end()
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            if user_id == drop_user:
                continue
            mentions[user_id] = MentionRef(platform_user_id=user_id, display_name=unescape(label))
            out.append(f" @{user_id} ")  # its own word, whatever stands around it
        elif target.startswith("#"):
            out.append("#" + unescape(label or target[1:]))
        elif target.startswith("!"):
            # A broadcast is kept as the words a person sees ("@here"); it is
            # never sent back as a control sequence.
            out.append(unescape(label) or "@" + target[1:].split("^")[0])
        else:
            out.append(unescape(label or target))
    out.append(unescape(raw[pos:]))
    return SlackText(text=" ".join("".join(out).split()), mentions=mentions)


@dataclass(frozen=True)
class DirectMessage:
    """A person's message in the bot's DM (the App Home messages tab): a command, with or
    without its leading slash (`task list`, `/task list`)."""

    channel: str  # the DM's conversation (D…), where the answer goes
    user: str
    text: str  # as Slack sent it: escapes and control sequences for parse_text


def direct_message(event: Any, *, bot_user_id: str | None) -> DirectMessage | None:
    """The command in a `message.im` event; None for anything that is not a person's new
    message in a DM: another conversation type, a bot's message (ours included), an edit,
    a deletion or any other subtype, no text."""
    if not isinstance(event, dict) or event.get("type") != "message":
        return None
    if event.get("channel_type") != "im" or "subtype" in event or event.get("bot_id"):
        return None
    channel, user, text = (event.get(key) for key in ("channel", "user", "text"))
    if not (isinstance(channel, str) and isinstance(user, str) and isinstance(text, str)):
        return None
    if not channel or not user or user == bot_user_id or not text.strip():
        return None
    return DirectMessage(channel=channel, user=user, text=text)
