"""Neutral replies to Feishu interactive cards (card JSON 2.0).

Values from users are escaped for card markdown (`&`, `<`, `>` and the
brackets `[`, `]` as numeric character references), so no title can become
`<at user_id="all">`, `<at id=…>` or a `[text](url)` link; the header and
buttons use plain_text, which Feishu does not parse at all. Mentions of
Feishu members become `<at id=open_id></at>` only where pinging is wanted
(one-to-one messages); elsewhere, and for members of other platforms, the
name in bold.

Size. Feishu refuses a request whose body is over 30 KB (code 230025). A
message create and a card update carry the card JSON-encoded once more, as the
string `content` (quotes, backslashes and newlines double; a Chinese character
is 3 bytes of UTF-8); an ephemeral card and a callback answer carry it as an
object, which is smaller. `request_bytes` measures the create's encoding, and
every card built here stays within CARD_BUDGET of it: the ENVELOPE left over
is for the rest of any body (receive_id, msg_type, uuid; chat_id and open_id;
the callback answer's toast).

Honest counts. A reply's lines, fields, list items and table rows are the units
it can lose, and the rule is: what is shown plus what the notes count is what
there is. Where a new message can be created (message create), `cards` splits a
reply that does not fit into up to MAX_CARDS cards, "(2/3)" after the title,
the picture, footer and buttons on the last. Where there is one card (a card
update, an ephemeral card, a callback answer), `card` cuts: units are dropped
whole from the end, and each section that lost some ends with `… (+N)`. So do
the last of MAX_CARDS cards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.text import render_spans
from commands.types import Button, Mention, Reply, Rich, Tone

MAX_ELEMENTS = 60
MAX_MARKDOWN = 4000
REQUEST_MAX = 30 * 1024  # Feishu refuses a request body over 30 KB: 230025
ENVELOPE = 2 * 1024  # receive_id, msg_type, uuid, chat_id, open_id, a toast: < 1 KB
CARD_BUDGET = REQUEST_MAX - ENVELOPE  # the most request_bytes(card) may be
MAX_CARDS = 5  # a reply is never more messages than this
FORM_KEYS = "fields"  # a form's submit value: the keys of its inputs answer_1, answer_2, …
_TEMPLATE = {Tone.ERROR: "red", Tone.WARNING: "orange", Tone.SUCCESS: "green", Tone.INFO: "blue"}
_BUTTON_TYPE = {"primary": "primary", "danger": "danger"}
_PAGE_MARK = " (9/9)"  # as long as any "(i/n)" with n <= MAX_CARDS


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


def request_bytes(card: dict[str, Any]) -> int:
    """The bytes a card takes in a message create's body: JSON-encoded as `content`,
    then once more with the body (lark-oapi: ensure_ascii off, default separators)."""
    content = json.dumps(card, ensure_ascii=False)
    return len(json.dumps(content, ensure_ascii=False).encode())


def _md(content: str, **extra: Any) -> dict[str, Any]:
    return {"tag": "markdown", "content": cut(content, MAX_MARKDOWN), **extra}


def _note(dropped: int) -> dict[str, Any]:
    return _md(f"… (+{dropped})", text_size="notation")


def _button(b: Button, origin: str | None) -> dict[str, Any]:
    value = {"command": b.command}
    if origin:
        value["chat"] = origin  # a one-to-one card that acts in this group
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": cut(plain(b.label), 40)},
        "type": _BUTTON_TYPE.get(b.style, "default"),
        "behaviors": [{"type": "callback", "value": value}],
    }


def _form(b: Button, origin: str | None) -> dict[str, Any]:
    """A button that needs a text first (a block's reason): an input and a submit button.
    With several fields (a standup's questions), an input for each, named `answer_<n>`;
    the submit button's value lists their keys (FORM_KEYS) for the callback."""
    submit = _button(b, origin)
    submit.update({"form_action_type": "submit", "name": f"submit_{b.action_id}"})
    if b.form:
        submit["behaviors"][0]["value"][FORM_KEYS] = [key for key, _ in b.form]
        inputs = [
            {
                "tag": "input",
                "name": f"answer_{n}",
                "label": {"tag": "plain_text", "content": cut(plain(label), 100)},
                "label_position": "top",
                "max_length": 1000,
            }
            for n, (_, label) in enumerate(b.form, start=1)
        ]
    else:
        assert b.asks is not None
        inputs = [
            {
                "tag": "input",
                "name": "answer",
                "placeholder": {"tag": "plain_text", "content": cut(plain(b.asks), 100)},
                "max_length": 500,
            }
        ]
    return {"tag": "form", "name": f"form_{b.action_id}", "elements": [*inputs, submit]}


def asks(b: Button) -> bool:
    return b.asks is not None or bool(b.form)


def _table(reply: Reply, rows: list[dict[str, str]]) -> dict[str, Any]:
    assert reply.table is not None
    names = [f"c{i}" for i in range(len(reply.table.header))]
    return {
        "tag": "table",
        "page_size": 10,
        "columns": [
            {"name": n, "display_name": cut(plain(h), 40), "data_type": "text", "width": "auto"}
            for n, h in zip(names, reply.table.header, strict=True)
        ],
        "rows": rows,
    }


def image(key: str, alt: Rich) -> dict[str, Any]:
    """An uploaded picture (its image_key); the alternative text is plain_text."""
    return {
        "tag": "img",
        "img_key": key,
        "alt": {"tag": "plain_text", "content": cut(plain(alt), 200)},
    }


@dataclass(frozen=True)
class _Section:
    """Units of one kind: lines (a markdown element each), fields and list items
    (markdown, several whole ones to an element), table rows (one table)."""

    kind: str
    units: tuple[Any, ...]


class _Layout:
    """A reply's units, numbered across its sections, and the cards made of them."""

    def __init__(
        self, reply: Reply, *, ping: bool, image_key: str | None, origin: str | None
    ) -> None:
        self.reply = reply
        sections = [_Section("lines", tuple(
            cut(markdown(line, ping=ping), MAX_MARKDOWN) for line in reply.lines
        ))]  # fmt: skip
        sections.append(_Section("fields", tuple(
            cut(f"**{markdown(f.label, ping=ping)}**：{markdown(f.value, ping=ping)}", MAX_MARKDOWN)
            for f in reply.fields
        )))  # fmt: skip
        if reply.table is not None:
            names = [f"c{i}" for i in range(len(reply.table.header))]
            sections.append(_Section("rows", tuple(
                {n: cut(plain(c), 200) for n, c in zip(names, row, strict=True)}
                for row in reply.table.rows
            )))  # fmt: skip
        sections.append(_Section("items", tuple(
            cut(f"- {markdown(item, ping=ping)}", MAX_MARKDOWN) for item in reply.items
        )))  # fmt: skip
        self.sections = sections
        self.total = sum(len(s.units) for s in sections)
        tail: list[dict[str, Any]] = []
        if image_key and reply.image is not None:
            tail.append(image(image_key, reply.image.alt))
        tail += [_md(markdown(line, ping=ping), text_size="notation") for line in reply.footer]
        plain_buttons = [b for b in reply.buttons if not asks(b)]
        if plain_buttons:
            tail.append({
                "tag": "column_set",
                "flex_mode": "flow",
                "columns": [
                    {"tag": "column", "width": "auto", "elements": [_button(b, origin)]}
                    for b in plain_buttons
                ],
            })  # fmt: skip
        tail += [_form(b, origin) for b in reply.buttons if asks(b)]
        self.tail = tail

    def body(self, start: int, end: int, *, last: bool, cut_off: bool) -> list[dict[str, Any]]:
        """The elements of units [start, end); with `last` the tail; with `cut_off` a note
        after each section for its units from `end` on."""
        elements: list[dict[str, Any]] = []
        offset = 0
        for section in self.sections:
            size = len(section.units)
            lo, hi = max(start - offset, 0), min(end - offset, size)
            shown = section.units[lo:hi] if lo < hi else ()
            if section.kind == "lines":
                elements += [_md(line) for line in shown]
            elif section.kind == "rows":
                if shown:
                    elements.append(_table(self.reply, list(shown)))
            else:
                elements += [_md("\n".join(chunk)) for chunk in _chunks(shown)]
            dropped = size - min(max(end - offset, 0), size)
            if cut_off and dropped:
                elements.append(_note(dropped))
            offset += size
        return elements + (self.tail if last else [])

    def card(self, elements: list[dict[str, Any]], *, page: str = "") -> dict[str, Any]:
        title = plain(self.reply.title)
        return {
            "schema": "2.0",
            "config": {
                "update_multi": True,
                "summary": {"content": cut(title, 100 - len(page)) + page},
            },
            "header": {
                "title": {"tag": "plain_text", "content": cut(title, 200 - len(page)) + page},
                "template": _TEMPLATE[self.reply.tone],
            },
            "body": {"elements": elements},
        }

    def fits(self, elements: list[dict[str, Any]], *, page: str = "") -> bool:
        if len(elements) > MAX_ELEMENTS:
            return False
        return request_bytes(self.card(elements, page=page)) <= CARD_BUDGET

    def most(self, start: int, *, last: bool, cut_off: bool, page: str) -> int:
        """The largest `end` such that units [start, end) make a card that fits (start
        itself when not even one unit does)."""
        lo, hi = start, self.total
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.fits(self.body(start, mid, last=last, cut_off=cut_off), page=page):
                lo = mid
            else:
                hi = mid - 1
        return lo


def _chunks(units: tuple[str, ...]) -> list[list[str]]:
    """Whole units per markdown element, never one cut in the middle."""
    chunks: list[list[str]] = []
    for unit in units:
        if chunks and sum(len(u) + 1 for u in chunks[-1]) + len(unit) <= MAX_MARKDOWN:
            chunks[-1].append(unit)
        else:
            chunks.append([unit])
    return chunks


def card(
    reply: Reply, *, ping: bool = False, image_key: str | None = None, origin: str | None = None
) -> dict[str, Any]:
    """The reply as one card (a card update, an ephemeral card, a callback answer):
    `image_key` (of `reply.image`, uploaded) adds the picture after the text, before
    the footer and the buttons; what does not fit is cut with an honest `… (+N)`.
    `origin`: the group a one-to-one card's buttons act in."""
    layout = _Layout(reply, ping=ping, image_key=image_key, origin=origin)
    everything = layout.body(0, layout.total, last=True, cut_off=True)
    if layout.fits(everything):
        return layout.card(everything)
    end = layout.most(0, last=True, cut_off=True, page="")
    return layout.card(layout.body(0, end, last=True, cut_off=True))


def cards(
    reply: Reply, *, ping: bool = False, image_key: str | None = None, origin: str | None = None
) -> list[dict[str, Any]]:
    """The reply as the cards of as many messages as it needs (message create): one when
    it fits, else up to MAX_CARDS, titled "(i/n)", the last cut honestly if need be."""
    layout = _Layout(reply, ping=ping, image_key=image_key, origin=origin)
    everything = layout.body(0, layout.total, last=True, cut_off=True)
    if layout.fits(everything):
        return [layout.card(everything)]
    bodies: list[list[dict[str, Any]]] = []
    start = 0
    while True:
        rest = layout.body(start, layout.total, last=True, cut_off=True)
        if layout.fits(rest, page=_PAGE_MARK):
            bodies.append(rest)
            break
        end = start
        if len(bodies) < MAX_CARDS - 1:
            end = layout.most(start, last=False, cut_off=False, page=_PAGE_MARK)
        if end == start:  # the last card allowed, or not one more unit fits: cut here
            end = layout.most(start, last=True, cut_off=True, page=_PAGE_MARK)
            bodies.append(layout.body(start, end, last=True, cut_off=True))
            break
        bodies.append(layout.body(start, end, last=False, cut_off=False))
        start = end
    n = len(bodies)
    return [layout.card(body, page=f" ({i}/{n})") for i, body in enumerate(bodies, start=1)]


def text_of(reply: Reply) -> str:
    """A one-line plain text of the reply (for logs and the apology fallback)."""
    return cut(" — ".join(p for p in [plain(reply.title), *map(plain, reply.lines[:1])] if p), 500)
