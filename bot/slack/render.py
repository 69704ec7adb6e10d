"""Neutral replies to Slack Block Kit.

User values are escaped (`&`, `<`, `>`: the only characters Slack reads as
control) and every mrkdwn object is `verbatim`, so no title or comment can
become `<!channel>`, a user or channel mention, or a link. Mentions of members
are structured values; they ping only where pinging is wanted (DMs and
ephemeral replies), elsewhere they show the name.

Block Kit limits are respected by cutting, never by an API error: at most 50
blocks, 3000 characters a section, 10 fields a section, 25 buttons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.text import pad, render_spans, width
from commands.types import Button, Image, Mention, Reply, Rich, Table, Tone

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_BUTTONS = 25
MAX_BUTTON_TEXT = 75
MAX_TEXT = 3000
MAX_ALT_TEXT = 1000  # files.getUploadURLExternal alt_txt
MAX_FILE_TITLE = 250

_TONE_ICON = {Tone.ERROR: ":x: ", Tone.WARNING: ":warning: ", Tone.SUCCESS: "", Tone.INFO: ""}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class SlackStyle:
    """Where the message goes decides whether mentions ping."""

    ping: bool


def mrkdwn(rich: Rich, style: SlackStyle) -> str:
    def mention(span: Mention) -> str:
        if style.ping and span.platform == "slack" and span.platform_user_id.startswith(("U", "W")):
            return f"<@{span.platform_user_id}>"
        return f"*{escape(span.name)}*"

    return render_spans(rich, escape=escape, mention=mention)


def plain(rich: Rich) -> str:
    """For plain_text objects and the notification fallback: Slack escapes nothing there."""
    return rich.plain()


def cut(text: str, limit: int, more: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(more)] + more


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION), "verbatim": True},
    }


def _table_text(table: Table) -> str:
    """The grid as monospace text (a code block cannot hold mentions, so names only)."""
    grid = [[plain(c) for c in table.header]] + [[plain(c) for c in row] for row in table.rows]
    sizes = [max(width(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(pad(c, sizes[i]) for i, c in enumerate(row)).rstrip() for row in grid]
    return "```" + cut(escape("\n".join(lines)), MAX_SECTION - 6) + "```"


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Join lines into texts of at most `limit` characters."""
    chunks: list[str] = []
    for line in lines:
        line = cut(line, limit)
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def blocks(reply: Reply, style: SlackStyle) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if reply.title:
        out.append(_section(f"{_TONE_ICON[reply.tone]}*{mrkdwn(reply.title, style)}*"))
    if reply.lines:
        out += [_section(t) for t in _chunks([mrkdwn(r, style) for r in reply.lines], MAX_SECTION)]
    fields = [
        {
            "type": "mrkdwn",
            "text": cut(f"*{mrkdwn(f.label, style)}*\n{mrkdwn(f.value, style)}", MAX_FIELD),
            "verbatim": True,
        }
        for f in reply.fields
    ]
    for start in range(0, len(fields), MAX_FIELDS):
        out.append({"type": "section", "fields": fields[start : start + MAX_FIELDS]})
    if reply.items:
        items = [f"• {mrkdwn(r, style)}" for r in reply.items]
        out += [_section(t) for t in _chunks(items, MAX_SECTION)]
    if reply.table is not None:
        out.append(_section(_table_text(reply.table)))
    for line in reply.footer:
        out.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": cut(mrkdwn(line, style), MAX_SECTION),
                        "verbatim": True,
                    }
                ],
            }
        )
    if reply.buttons:
        out.append(
            {"type": "actions", "elements": [button(b) for b in reply.buttons[:MAX_BUTTONS]]}
        )
    if len(out) > MAX_BLOCKS:
        dropped = len(out) - (MAX_BLOCKS - 1)
        keep_actions = out[-1]["type"] == "actions"
        tail = [out[-1]] if keep_actions else []
        out = out[: MAX_BLOCKS - 1 - len(tail)]
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"… (+{dropped})"}]})
        out += tail
    return out


def button(b: Button) -> dict[str, Any]:
    """A button's value is the command it runs; one that asks for a text first
    carries the form's title and label too (and its action id says so)."""
    if b.asks is None:
        action_id, value = f"tb:{b.action_id}", b.command
    else:
        action_id = f"tb:ask:{b.action_id}"
        # Cut the parts, never the JSON: a modal title holds 24 characters.
        value = json.dumps(
            {
                "command": cut(b.command, 1000, ""),
                "title": cut(plain(b.label), 24),
                "label": cut(plain(b.asks), 500),
            }
        )
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(plain(b.label), MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": cut(value, 2000, ""),
    }
    if b.style in ("primary", "danger"):
        element["style"] = b.style
    return element


def fallback_text(reply: Reply) -> str:
    """The message's `text`: what notifications and screen readers show."""
    parts = [plain(reply.title)] + [plain(r) for r in reply.lines[:2]]
    return cut(escape(" — ".join(p for p in parts if p)), MAX_TEXT)


def upload(image: Image) -> dict[str, Any]:
    """The arguments of files_upload_v2 for a reply's picture. The title and the
    alternative text are plain text to Slack (it parses no mentions there)."""
    alt = plain(image.alt)
    return {
        "content": image.png,
        "filename": image.filename,
        "title": cut(alt, MAX_FILE_TITLE) or image.filename,
        "alt_txt": cut(alt, MAX_ALT_TEXT),
    }
