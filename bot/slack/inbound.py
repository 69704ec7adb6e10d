"""Slack payloads into what they ask teambot to do: pure functions, no network.

Each listener's payload (a slash command, an `app_mention` event, a button press, a
form submission) becomes a `Said`: where, who, the raw Slack text of the command and
the id under which its delivery is claimed. The adapter then looks up names and runs
it. Signed payloads can still hold any JSON: a field that is not a string counts as
absent, a part that is not an object as empty.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from commands.parsing import with_answer, with_answers

MAX_EVENT_ID = 100  # what a claimed event id may take of the column's 128 characters


@dataclass(frozen=True)
class Said:
    channel_id: str
    channel_name: str
    user_id: str
    raw_text: str  # Slack's text: `<@U…>` mentions, `&amp;` escapes
    event_id: str | None
    also_ids: tuple[str, ...] = ()  # more ids claimed with it (one message, two events)
    direct: bool = False  # written in the bot's DM


def is_direct(channel_id: str) -> bool:
    """A DM's conversation id starts with D (a group DM's with G, a channel's with C)."""
    return channel_id.startswith("D")


@dataclass(frozen=True)
class Pressed:
    """Where a pressed button's message is, to update it."""

    channel_id: str
    message_ts: str
    is_ephemeral: bool


def of_command(body: dict[str, Any]) -> Said:
    """A slash command: delivered once per `trigger_id`, so a repeat does nothing."""
    trigger = text_of(body.get("trigger_id"))
    channel = text_of(body.get("channel_id"))
    return Said(
        channel_id=channel,
        channel_name=text_of(body.get("channel_name")),
        user_id=text_of(body.get("user_id")),
        raw_text=f"{text_of(body.get('command'))} {text_of(body.get('text'))}",
        event_id=event_key("command", trigger) if trigger else None,
        direct=is_direct(channel),
    )


def of_mention(body: dict[str, Any], event: dict[str, Any]) -> Said:
    """An `app_mention` event, claimed by the envelope's event id and by its message."""
    channel = text_of(event.get("channel"))
    return Said(
        channel_id=channel,
        channel_name=channel,
        user_id=text_of(event.get("user")),
        raw_text=text_of(event.get("text")),
        event_id=text_of(body.get("event_id")) or None,
        also_ids=message_ids(event),
    )


def of_direct_message(
    body: dict[str, Any], event: dict[str, Any], *, bot_user_id: str | None
) -> Said | None:
    """A person's new message in the bot's DM (the App Home messages tab, `message.im`):
    a command, with or without its leading slash (`task list`, `/task list`), answered in
    the DM. None for anything else: another conversation type, a bot's message (ours
    included), an edit, a deletion or any other subtype, no text.

    Claimed by its event id and by the message itself: should Slack also send an
    `app_mention` for a DM that mentions the bot, the command still runs once."""
    if event.get("type") != "message" or event.get("channel_type") != "im":
        return None
    if "subtype" in event or event.get("bot_id"):
        return None
    channel, user, text = (text_of(event.get(key)) for key in ("channel", "user", "text"))
    if not channel or not user or user == bot_user_id or not text.strip():
        return None
    return Said(
        channel_id=channel,
        channel_name=channel,
        user_id=user,
        raw_text=text,
        event_id=text_of(body.get("event_id")) or None,
        also_ids=message_ids(event),
        direct=True,
    )


def message_ids(event: dict[str, Any]) -> tuple[str, ...]:
    """The id of the message an event is about (its channel and timestamp), if it says."""
    channel, ts = text_of(event.get("channel")), text_of(event.get("ts"))
    return (event_key("message", channel, ts),) if channel and ts else ()


def thread_of(event: dict[str, Any]) -> str | None:
    """The thread a message was written in, where its answer goes."""
    return text_of(event.get("thread_ts")) or None


def of_button(body: dict[str, Any], action: dict[str, Any]) -> Said:
    """A pressed button runs the command in its value as the presser; a press is
    claimed by message, action time and presser (a double click runs once)."""
    user = object_of(body.get("user"))
    container = object_of(body.get("container"))
    channel = object_of(body.get("channel"))
    return Said(
        channel_id=text_of(channel.get("id")) or text_of(container.get("channel_id")),
        channel_name=text_of(channel.get("name")),
        user_id=text_of(user.get("id")),
        raw_text=escape_for_parse(text_of(action.get("value"))),
        event_id=event_key(
            "action", str(container.get("message_ts")), str(action.get("action_ts")),
            str(user.get("id")),
        ),
    )  # fmt: skip


def pressed(body: dict[str, Any]) -> Pressed:
    container = object_of(body.get("container"))
    return Pressed(
        channel_id=text_of(container.get("channel_id")),
        message_ts=text_of(container.get("message_ts")),
        is_ephemeral=container.get("is_ephemeral") is True,
    )


@dataclass(frozen=True)
class Form:
    """A button that asks for a text first: the form to open, and what comes back."""

    trigger_id: str
    user_id: str
    title: str
    label: str
    meta: dict[str, Any]  # the form's private_metadata
    fields: tuple[tuple[str, str], ...] = ()  # several inputs: (key, label) of each


_FORM_KEY = re.compile(r"[A-Za-z0-9]{1,8}")


def form_of(body: dict[str, Any], action: dict[str, Any]) -> Form:
    spec = object_of(json_of(action.get("value")))
    where = pressed(body)
    raw = spec.get("fields")
    fields = tuple(
        (text_of(f[0]), text_of(f[1]))
        for f in (raw if isinstance(raw, list) else [])
        if isinstance(f, list) and len(f) == 2 and _FORM_KEY.fullmatch(text_of(f[0]))
    )
    meta = {
        "command": text_of(spec.get("command")),
        "channel": where.channel_id,
        "ts": where.message_ts,
        "ephemeral": where.is_ephemeral,
        "response_url": text_of(body.get("response_url")),
    }
    if fields:
        meta["keys"] = [key for key, _ in fields]
    return Form(
        trigger_id=text_of(body.get("trigger_id")),
        user_id=text_of(object_of(body.get("user")).get("id")),
        title=text_of(spec.get("title")),
        label=text_of(spec.get("label")),
        meta=meta,
        fields=fields,
    )


def of_submission(body: dict[str, Any], view: dict[str, Any]) -> tuple[Said, Pressed, str]:
    """A submitted form: the command with its answer, the message it was opened from,
    and that message's response_url (all from the form's metadata, which we wrote)."""
    meta = object_of(json_of(view.get("private_metadata")))
    values = object_of(object_of(view.get("state")).get("values"))
    answer = text_of(object_of(object_of(values.get("answer")).get("answer")).get("value"))
    command = text_of(meta.get("command"))
    keys = meta.get("keys")
    if isinstance(keys, list):  # a form of several fields: answer_1, answer_2, …
        text = with_answers(command, [
            (key, text_of(object_of(object_of(values.get(f"answer_{n}")).get("answer"))
                          .get("value")))
            for n, key in enumerate(keys, start=1)
            if isinstance(key, str) and _FORM_KEY.fullmatch(key)
        ])  # fmt: skip
    else:
        text = with_answer(command, answer)
    said = Said(
        channel_id=text_of(meta.get("channel")),
        channel_name="",
        user_id=text_of(object_of(body.get("user")).get("id")),
        raw_text=escape_for_parse(text),
        event_id=event_key("view", str(view.get("id")), str(view.get("hash"))),
    )
    where = Pressed(
        channel_id=said.channel_id,
        message_ts=text_of(meta.get("ts")),
        is_ephemeral=meta.get("ephemeral") is True,
    )
    return said, where, text_of(meta.get("response_url"))


def event_key(kind: str, *parts: str) -> str:
    """The id under which a delivery is claimed; over-long parts are hashed (the column
    holds 128 characters and a signed payload can still carry anything)."""
    key = ":".join((kind, *parts))
    if len(key) <= MAX_EVENT_ID:
        return key
    return f"{kind}:sha1:" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()


def text_of(value: Any) -> str:
    """A payload field that should be a string; "" when it is anything else."""
    return value if isinstance(value, str) else ""


def object_of(value: Any) -> dict[str, Any]:
    """A payload part that should be an object; {} when it is anything else."""
    return value if isinstance(value, dict) else {}


def json_of(value: Any) -> Any:
    """JSON that we wrote into a payload (a button value, a form's metadata); None if
    it does not parse."""
    try:
        return json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None


def escape_for_parse(text: str) -> str:
    """Button values and form answers are raw text: protect them from mention parsing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
