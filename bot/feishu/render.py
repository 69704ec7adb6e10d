"""Neutral replies to Feishu interactive cards (card JSON 2.0).

Values from users are escaped for card markdown (`&`, `<`, `>` and the
brackets `[`, `]` as numeric character references), so no title can become
`<at user_id="all">`, `<at id=…>` or a `[text](url)` link; the header and
buttons use plain_text, which Feishu does not parse at all. Mentions of
Feishu members become `<at id=open_id></at>` only where pinging is wanted
(one-to-one messages); elsewhere, and for members of other platforms, the
name in bold.

Cards stay under Feishu's size limit by dropping list items, never by an API
error: at most MAX_ELEMENTS elements and MAX_CARD_BYTES of JSON.
"""

from __future__ import annotations

import json
from typing import Any

from bot.text import render_spans
from commands.types import Button, Mention, Reply, Rich, Tone

MAX_ELEMENTS = 60
MAX_MARKDOWN = 4000
MAX_CARD_BYTES = 28_000  # Feishu refuses cards over about 30 KB
_TEMPLATE = {Tone.ERROR: "red", Tone.WARNING: "orange", Tone.SUCCESS: "green", Tone.INFO: "blue"}
_BUTTON_TYPE = {"primary": "primary", "danger": "danger"}


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def markdown(rich: Rich, *, ping: bool) -> str:
    def mention(span: Mention) -> str:
        if ping and span.platform == "feishu" and span.platform_user_id.startswith("ou_"):
            return f"<at id={span.platform_user_id}></at>"
        return f"**{escape(span.name)}**"

    return render_spans(rich, escape=escape, mention=mention)


def plain(rich: Rich) -> str:
    """For plain_text objects, which Feishu never parses."""
    return rich.plain()


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(content: str, **extra: Any) -> dict[str, Any]:
    return {"tag": "markdown", "content": cut(content, MAX_MARKDOWN), **extra}


def _button(b: Button) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": cut(plain(b.label), 40)},
        "type": _BUTTON_TYPE.get(b.style, "default"),
        "behaviors": [{"type": "callback", "value": {"command": b.command}}],
    }


def _form(b: Button) -> dict[str, Any]:
    """A button that needs a text first (a block's reason): an input and a submit button."""
    assert b.asks is not None
    submit = _button(b)
    submit.update({"form_action_type": "submit", "name": f"submit_{b.action_id}"})
    return {
        "tag": "form",
        "name": f"form_{b.action_id}",
        "elements": [
            {
                "tag": "input",
                "name": "answer",
                "placeholder": {"tag": "plain_text", "content": cut(plain(b.asks), 100)},
                "max_length": 500,
            },
            submit,
        ],
    }


def _table(reply: Reply) -> dict[str, Any]:
    assert reply.table is not None
    names = [f"c{i}" for i in range(len(reply.table.header))]
    return {
        "tag": "table",
        "page_size": 10,
        "columns": [
            {"name": n, "display_name": cut(plain(h), 40), "data_type": "text", "width": "auto"}
            for n, h in zip(names, reply.table.header, strict=True)
        ],
        "rows": [
            {n: cut(plain(c), 200) for n, c in zip(names, row, strict=True)}
            for row in reply.table.rows
        ],
    }


def image(key: str, alt: Rich) -> dict[str, Any]:
    """An uploaded picture (its image_key); the alternative text is plain_text."""
    return {
        "tag": "img",
        "img_key": key,
        "alt": {"tag": "plain_text", "content": cut(plain(alt), 200)},
    }


def card(reply: Reply, *, ping: bool = False, image_key: str | None = None) -> dict[str, Any]:
    """The reply as a card; `image_key` (of `reply.image`, uploaded) adds the picture
    after the text, before the footer and the buttons."""
    elements: list[dict[str, Any]] = []
    elements += [_md(markdown(line, ping=ping)) for line in reply.lines]
    if reply.fields:
        rows = [
            f"**{markdown(f.label, ping=ping)}**：{markdown(f.value, ping=ping)}"
            for f in reply.fields
        ]
        elements.append(_md("\n".join(rows)))
    items = [f"- {markdown(item, ping=ping)}" for item in reply.items]
    if reply.table is not None:
        elements.append(_table(reply))
    tail: list[dict[str, Any]] = []
    if image_key and reply.image is not None:
        tail.append(image(image_key, reply.image.alt))
    tail += [_md(markdown(line, ping=ping), text_size="notation") for line in reply.footer]
    plain_buttons = [b for b in reply.buttons if b.asks is None]
    if plain_buttons:
        tail.append({
            "tag": "column_set",
            "flex_mode": "flow",
            "columns": [
                {"tag": "column", "width": "auto", "elements": [_button(b)]}
                for b in plain_buttons
            ],
        })  # fmt: skip
    tail += [_form(b) for b in reply.buttons if b.asks is not None]

    def build(kept: list[str], dropped: int) -> dict[str, Any]:
        # Whole items per markdown element, never one cut in the middle.
        room = MAX_ELEMENTS - len(elements) - len(tail) - 1
        chunks: list[list[str]] = []
        for item in kept:
            item = cut(item, MAX_MARKDOWN)
            if chunks and sum(len(i) + 1 for i in chunks[-1]) + len(item) <= MAX_MARKDOWN:
                chunks[-1].append(item)
            else:
                chunks.append([item])
        dropped += sum(len(c) for c in chunks[room:])
        body = list(elements) + [_md("\n".join(c)) for c in chunks[:room]]
        if dropped:
            body.append(_md(f"… (+{dropped})", text_size="notation"))
        body = body[: MAX_ELEMENTS - len(tail)] + tail
        return {
            "schema": "2.0",
            "config": {"update_multi": True, "summary": {"content": cut(plain(reply.title), 100)}},
            "header": {
                "title": {"tag": "plain_text", "content": cut(plain(reply.title), 200)},
                "template": _TEMPLATE[reply.tone],
            },
            "body": {"elements": body},
        }

    kept = items
    result = build(kept, 0)
    while len(json.dumps(result, ensure_ascii=False).encode()) > MAX_CARD_BYTES and kept:
        kept = kept[: max(0, len(kept) * 3 // 4)]
        result = build(kept, len(items) - len(kept))
    return result


def text_of(reply: Reply) -> str:
    """A one-line plain text of the reply (for logs and the apology fallback)."""
    return cut(" — ".join(p for p in [plain(reply.title), *map(plain, reply.lines[:1])] if p), 500)
