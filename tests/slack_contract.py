"""What the real Slack accepts in a message, a view and an answer: the strict fake's rules.

Blocks are parsed and validated with slack_sdk's own models (`Block.parse`,
`validate_json`, `View`, the attachment models); a key that the model does not know
is a key Slack refuses (`to_dict()` of a parsed block round-trips every documented
key, so anything lost on the way was never Block Kit). On top of the models, the
limits are counted the way Slack counts them: in UTF-16 code units (an emoji outside
the Basic Multilingual Plane counts 2), where the models count Python characters.

Each check answers None (accepted) or a `Refusal`: Slack's error code and, for the
person reading a failed test, where and why.

Limits (Slack's Block Kit, view and method reference pages):
section text 1–3000, section fields 1–10 of 1–2000 each; header 1–150; context 1–10
elements, a text element 1–3000 (the text object's limit); actions 1–25 elements;
button text 1–75, value ≤ 2000, url ≤ 3000; action_id and block_id ≤ 255; input label
and hint ≤ 2000; markdown block ≤ 12000; image alt_text ≤ 2000, image_url ≤ 3000;
50 blocks a message, 100 a view; a modal's title, submit and close ≤ 24, its
private_metadata ≤ 3000, callback_id ≤ 255; a message's text ≤ 40000.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.attachments import Attachment, BlockAttachment
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40000

# Web API methods that carry a message, a view; what each needs of the bot's scopes.
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update"})
VIEW_METHODS = frozenset({"views.open", "views.push", "views.update", "views.publish"})
SCOPE_OF = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "conversations.history": "channels:history",
    # Slack asks for channels:read, groups:read, im:read or mpim:read, by the kind of
    # conversation; teambot's standups live in channels: the fake checks the first.
    "conversations.members": "channels:read",
}


@dataclass(frozen=True)
class Refusal:
    error: str  # Slack's code: invalid_blocks, invalid_arguments, no_text, …
    why: str  # for the test's reader: where and what


def utf16(text: str) -> int:
    """Slack's length of a text: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def decoded(value: Any) -> Any:
    """A JSON argument as it arrives: a form-encoded call carries it as a JSON string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- the pieces ---------------------------------------------------------------------------


def _length(where: str, text: Any, *, most: int, least: int = 0) -> str | None:
    if not isinstance(text, str):
        return f"{where}: not a string"
    size = utf16(text)
    if size < least:
        return f"{where}: empty"
    if size > most:
        return f"{where}: {size} UTF-16 code units, more than {most}"
    return None


def _text_object(where: str, obj: Any, *, most: int) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return f"{where}: not a text object"
    return _length(f"{where}.text", obj.get("text"), most=most, least=1)


def _lost_key(original: Any, parsed: Any, where: str) -> str | None:
    """The first key of `original` that slack_sdk's model did not keep: not Block Kit."""
    if isinstance(original, dict):
        if not isinstance(parsed, dict):
            return where
        for key, value in original.items():
            if key not in parsed:
                return f"{where}.{key}"
            lost = _lost_key(value, parsed[key], f"{where}.{key}")
            if lost:
                return lost
    elif isinstance(original, list):
        if not isinstance(parsed, list) or len(parsed) != len(original):
            return where
        for n, (a, b) in enumerate(zip(original, parsed, strict=True)):
            lost = _lost_key(a, b, f"{where}[{n}]")
            if lost:
                return lost
    return None


def _first(*whys: str | None) -> str | None:
    return next((why for why in whys if why), None)


def _optional(where: str, obj: dict[str, Any], key: str, *, most: int) -> str | None:
    """A string property's length, when it is there."""
    return _length(f"{where}.{key}", obj[key], most=most) if key in obj else None


def _optional_text(where: str, obj: dict[str, Any], key: str, *, most: int) -> str | None:
    """A text object's length, when it is there."""
    return _text_object(f"{where}.{key}", obj[key], most=most) if key in obj else None


def _element_limits(where: str, element: dict[str, Any]) -> str | None:
    why = _optional(where, element, "action_id", most=255)
    if element.get("type") == "button":
        why = _first(
            why,
            _text_object(f"{where}.text", element.get("text"), most=75),
            _optional(where, element, "value", most=2000),
            _optional(where, element, "url", most=3000),
        )
    return why


def _items(where: str, items: Any, *, most: int) -> list[Any] | str:
    if not isinstance(items, list) or not 1 <= len(items) <= most:
        return f"{where}: 1 to {most} items"
    return items


def _block_limits(where: str, block: dict[str, Any]) -> str | None:
    """The limits slack_sdk counts in Python characters (or not at all), in UTF-16."""
    kind = block.get("type")
    whys: list[str | None] = [_optional(where, block, "block_id", most=255)]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            return f"{where}: a section needs text or fields"
        whys.append(_optional_text(where, block, "text", most=3000))
        if "fields" in block:
            fields = _items(f"{where}.fields", block["fields"], most=10)
            if isinstance(fields, str):
                return fields
            whys += [
                _text_object(f"{where}.fields[{n}]", f, most=2000) for n, f in enumerate(fields)
            ]
        if isinstance(block.get("accessory"), dict):
            whys.append(_element_limits(f"{where}.accessory", block["accessory"]))
    elif kind == "header":
        whys.append(_text_object(f"{where}.text", block.get("text"), most=150))
    elif kind == "context":
        elements = _items(f"{where}.elements", block.get("elements"), most=10)
        if isinstance(elements, str):
            return elements
        whys += [
            _text_object(f"{where}.elements[{n}]", e, most=3000)
            for n, e in enumerate(elements)
            if isinstance(e, dict) and e.get("type") in ("plain_text", "mrkdwn")
        ]
    elif kind == "actions":
        elements = _items(f"{where}.elements", block.get("elements"), most=25)
        if isinstance(elements, str):
            return elements
        whys += [_element_limits(f"{where}.elements[{n}]", e) for n, e in enumerate(elements)]
    elif kind == "input":
        whys.append(_text_object(f"{where}.label", block.get("label"), most=2000))
        whys.append(_optional_text(where, block, "hint", most=2000))
    elif kind == "markdown":
        whys.append(_length(f"{where}.text", block.get("text"), most=12000, least=1))
    elif kind == "image":
        whys.append(_length(f"{where}.alt_text", block.get("alt_text"), most=2000, least=1))
    return _first(*whys)


def check_blocks(value: Any, *, most: int = MESSAGE_BLOCKS, where: str = "blocks") -> str | None:
    """Why Slack would refuse these blocks (None: it takes them)."""
    value = decoded(value)
    if not isinstance(value, list):
        return f"{where}: not an array"
    if len(value) > most:
        return f"{where}: {len(value)} blocks, more than {most}"
    for n, block in enumerate(value):
        at = f"{where}[{n}]"
        if not isinstance(block, dict):
            return f"{at}: not an object"
        try:
            parsed = Block.parse(block)
            if parsed is None:
                return f"{at}: unknown block type {block.get('type')!r}"
            parsed.validate_json()
            lost = _lost_key(block, parsed.to_dict(), at)
        except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as err:
            return f"{at}: {err}"
        if why := _block_limits(at, block):
            return why
        if lost:
            return f"{lost}: not a Block Kit property"
    return None


def check_attachments(value: Any) -> str | None:
    value = decoded(value)
    if not isinstance(value, list):
        return "attachments: not an array"
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            return f"attachments[{n}]: not an object"
        try:
            if "blocks" in item:
                if why := check_blocks(item["blocks"], where=f"attachments[{n}].blocks"):
                    return why
                BlockAttachment(blocks=item["blocks"], color=item.get("color")).validate_json()
            else:
                known = {k: v for k, v in item.items() if k != "mrkdwn_in"}
                if "mrkdwn_in" in item:
                    known["markdown_in"] = item["mrkdwn_in"]
                Attachment(**known).validate_json()
        except (SlackObjectFormationError, TypeError) as err:
            return f"attachments[{n}]: {err}"
    return None


def check_view(value: Any) -> str | None:
    view = decoded(value)
    if not isinstance(view, dict):
        return "view: not an object"
    try:
        View(**view).validate_json()
    except (SlackObjectFormationError, TypeError, ValueError) as err:
        return f"view: {err}"
    if why := check_blocks(view.get("blocks", []), most=VIEW_BLOCKS, where="view.blocks"):
        return why
    whys: list[str | None] = []
    if view.get("type") == "modal":
        whys.append(_text_object("view.title", view.get("title"), most=24))
        whys += [_optional_text("view", view, key, most=24) for key in ("submit", "close")]
    whys.append(_optional("view", view, "private_metadata", most=3000))
    whys.append(_optional("view", view, "callback_id", most=255))
    return _first(*whys)


# -- whole calls --------------------------------------------------------------------------


def check_message(args: dict[str, Any]) -> Refusal | None:
    """A message's arguments (chat.*, a response_url body, a slash command's ack)."""
    has_blocks = args.get("blocks") not in (None, "", [])
    has_attachments = args.get("attachments") not in (None, "", [])
    text = args.get("text")
    if has_blocks and (why := check_blocks(args["blocks"])):
        return Refusal("invalid_blocks", why)
    if has_attachments and (why := check_attachments(args["attachments"])):
        return Refusal("invalid_attachments", why)
    if text is not None and not isinstance(text, str):
        return Refusal("invalid_arguments", "text: not a string")
    if not (text or has_blocks or has_attachments):
        return Refusal("no_text", "no text, blocks or attachments")
    if isinstance(text, str) and utf16(text) > MESSAGE_TEXT:
        return Refusal("msg_too_long", f"text: {utf16(text)} UTF-16 code units")
    return None


def check_call(method: str, args: dict[str, Any]) -> Refusal | None:
    """What Slack answers a Web API call's contents with, before doing anything."""
    if method in MESSAGE_METHODS:
        return check_message(args)
    if method in VIEW_METHODS:
        if "view" not in args:
            return Refusal("invalid_arguments", "no view")
        if why := check_view(args["view"]):
            return Refusal("invalid_arguments", why)
    return None


def assert_valid_message(payload: dict[str, Any]) -> None:
    """For answers that never reach the fake (a slash command's HTTP ack)."""
    refusal = check_message(payload)
    assert refusal is None, f"Slack would refuse this answer: {refusal}"
