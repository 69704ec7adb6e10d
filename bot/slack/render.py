"""Neutral replies to Slack Block Kit.

User values are escaped (`&`, `<`, `>`: the only characters Slack reads as
control) and every mrkdwn object is `verbatim`, so no title or comment can
become `<!channel>`, a user or channel mention, or a link. Mentions of members
are structured values; they ping only where pinging is wanted (DMs and
ephemeral replies), elsewhere they show the name.

Block Kit limits are respected by cutting, never by an API error: at most 50
blocks, 3000 a section, 10 fields a section of 2000 each, 25 buttons of 75. Slack
counts them in UTF-16 code units (an emoji outside the BMP counts 2, a CJK character
1), so every limit here is counted that way; a cut never falls inside an emoji, an
escape (`&amp;`) or a control sequence (`<@U123>`). Lines, items, fields and table
rows are packed into as few blocks as hold them; when a reply needs more than 50
blocks, whole sections are left out from the end of its content and a `… (+N)` hint
counts the lines, fields, items and rows they held: what is shown plus N is what
there is.
"""

from __future__ import annotations

import json
import re
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
FORM_LABEL = 300  # a form field's label in a button's value: five fit its 2000 characters
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


def utf16(text: str) -> int:
    """Slack's length of a text: UTF-16 code units."""
    # A lone surrogate (JSON can carry one) counts 1, as it does for Slack.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_OPEN_ESCAPE = re.compile(r"&[a-z]{0,3}$")
_OPEN_CONTROL = re.compile(r"<(?:[@#!]|https?:|mailto:)[^<>]*$")


def _open_sequence(text: str) -> int | None:
    """Where an escape (`&amp;`) or a control sequence (`<@U1>`) that `text` ends inside
    begins; None when it ends between them."""
    found = _OPEN_ESCAPE.search(text) or _OPEN_CONTROL.search(text)
    return found.start() if found else None


def cut(text: str, limit: int, more: str = "…") -> str:
    """At most `limit` UTF-16 code units, ending with `more` when something was cut; never
    inside a surrogate pair (the cut is by characters), an escape or a control sequence."""
    if utf16(text) <= limit:
        return text
    room = limit - utf16(more)
    keep = min(len(text), room)  # each character is 1 or 2 code units
    while keep > 0 and utf16(text[:keep]) > room:
        keep -= max(1, (utf16(text[:keep]) - room) // 2)
    head = text[:keep]
    inside = _open_sequence(head)
    if inside is not None:
        head = head[:inside]
    return head + more


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION), "verbatim": True},
    }


def _chunks(lines: list[str], limit: int) -> list[tuple[str, int]]:
    """Join lines into texts of at most `limit` code units: (text, how many lines)."""
    chunks: list[tuple[str, int]] = []
    size = 0
    for line in lines:
        line = cut(line, limit)
        length = utf16(line)
        if chunks and size + 1 + length <= limit:
            text, count = chunks[-1]
            chunks[-1] = (text + "\n" + line, count + 1)
            size += 1 + length
        else:
            chunks.append((line, 1))
            size = length
    return chunks


def _table_sections(table: Table) -> list[tuple[str, int]]:
    """The grid as monospace text (a code block cannot hold mentions, so names only), in
    as many code blocks as it needs: (text, how many of the table's rows)."""
    grid = [[plain(c) for c in table.header]] + [[plain(c) for c in row] for row in table.rows]
    sizes = [max(width(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = [
        escape("  ".join(pad(c, sizes[i]) for i, c in enumerate(row)).rstrip()) for row in grid
    ]
    fence = "```"
    inner = MAX_SECTION - 2 * len(fence)
    header = cut(lines[0], inner)
    sections: list[tuple[str, int]] = []
    for text, count in _chunks(lines[1:], inner - utf16(header) - 1):
        sections.append((header + "\n" + text, count))
    if not sections:
        sections.append((header, 0))
    return [(fence + text + fence, count) for text, count in sections]


@dataclass(frozen=True)
class _Piece:
    block: dict[str, Any]
    units: int  # the reply's lines, fields, items, rows or footer lines the block shows


def _context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(text, MAX_TEXT), "verbatim": True}],
    }


def hint(dropped: int) -> dict[str, Any]:
    """What a message leaves out, counted: lines, fields, items and rows."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… (+{dropped})"}]}


def blocks(reply: Reply, style: SlackStyle) -> list[dict[str, Any]]:
    head: list[dict[str, Any]] = []
    if reply.title:
        head.append(_section(f"{_TONE_ICON[reply.tone]}*{mrkdwn(reply.title, style)}*"))
    content: list[_Piece] = []
    if reply.lines:
        lines = [mrkdwn(r, style) for r in reply.lines]
        content += [_Piece(_section(t), n) for t, n in _chunks(lines, MAX_SECTION)]
    fields = [
        {
            "type": "mrkdwn",
            "text": cut(f"*{mrkdwn(f.label, style)}*\n{mrkdwn(f.value, style)}", MAX_FIELD),
            "verbatim": True,
        }
        for f in reply.fields
    ]
    for start in range(0, len(fields), MAX_FIELDS):
        group = fields[start : start + MAX_FIELDS]
        content.append(_Piece({"type": "section", "fields": group}, len(group)))
    if reply.items:
        items = [f"• {mrkdwn(r, style)}" for r in reply.items]
        content += [_Piece(_section(t), n) for t, n in _chunks(items, MAX_SECTION)]
    if reply.table is not None:
        content += [_Piece(_section(t), n) for t, n in _table_sections(reply.table)]
    footer = [_Piece(_context(mrkdwn(line, style)), 1) for line in reply.footer]
    tail: list[dict[str, Any]] = []
    if reply.buttons:
        tail.append(
            {"type": "actions", "elements": [button(b) for b in reply.buttons[:MAX_BUTTONS]]}
        )
    room = MAX_BLOCKS - len(head) - len(tail)
    if len(content) + len(footer) > room:
        # Leave out the content's last sections first, then the footer's last lines.
        room -= 1  # the hint
        kept_footer = footer[: max(0, room - 1)] if room - 1 < len(footer) else footer
        kept_content = content[: max(0, room - len(kept_footer))]
        dropped = sum(p.units for p in content[len(kept_content) :]) + sum(
            p.units for p in footer[len(kept_footer) :]
        )
        body = [p.block for p in kept_content] + [hint(dropped)] + [p.block for p in kept_footer]
    else:
        body = [p.block for p in content + footer]
    return head + body + tail


def button(b: Button) -> dict[str, Any]:
    """A button's value is the command it runs; one that asks for a text first
    carries the form's title and label too (and its action id says so)."""
    if b.form:
        action_id = f"tb:ask:{b.action_id}"
        value = json.dumps(
            {
                "command": cut(b.command, 200, ""),
                "title": cut(plain(b.label), 24),
                "fields": [[key, cut(plain(label), FORM_LABEL)] for key, label in b.form],
            },
            ensure_ascii=False,
        )
    elif b.asks is None:
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
