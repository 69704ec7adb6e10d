"""Everything teambot sends to Slack: posts, DMs, replies, card updates, forms, pictures.

All of it goes through `WebApi` (bot/slack/web.py) on the adapter's one aiohttp session
and under the one retry policy (bot/retry.py). What Slack does not take is a
`DeliveryError` for whoever sends on the clock's or the hub's behalf (they retry while
it is worth it); a reply to a person is logged when Slack refuses it.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

from yarl import URL

from bot.core import Background
from bot.hub import DeliveryError
from bot.metrics import Metrics
from bot.slack.inbound import Pressed
from bot.slack.render import SlackStyle, blocks, cut, fallback_text, plain, upload
from bot.slack.trust import response_url_allowed
from bot.slack.web import WebApi
from commands.i18n import Catalog
from commands.types import Reply, Tone, Visibility

log = logging.getLogger(__name__)

PLATFORM = "slack"
RENDER_MEMO = 64  # replies whose rendering is kept for a fan-out
ASK_CALLBACK = "tb:ask"


class Outbox:
    def __init__(
        self,
        *,
        web: WebApi,
        metrics: Metrics,
        background: Background,
        catalog: Catalog,
        api_url: str,
    ) -> None:
        self.web = web
        self.metrics = metrics
        self.background = background
        self.catalog = catalog
        self.api_url = api_url
        self._renders: OrderedDict[tuple[int, bool], tuple[Reply, str]] = OrderedDict()

    # -- posts, mirrors and DMs (the adapter protocol's send and notify) ----------------

    async def send(self, *, channel: str, reply: Reply, ping: bool, kind: str) -> None:
        """Post a reply into a channel (or a DM, with a user id as the channel); its picture,
        if any, follows as a file in the same conversation, in the background. Raises
        `DeliveryError` when Slack did not take the message."""
        body = self._rendered(reply, ping)
        posted_in = '{"channel": ' + json.dumps(channel) + ", " + body[1:]
        with self.metrics.posting(platform=PLATFORM, kind=kind):
            posted = await self.web.call("chat.postMessage", json_body=posted_in)
        if reply.image is not None:
            # A DM is posted to a user id; files go to the conversation Slack answered with.
            # The message is out: the upload goes on by itself, so a caller's time-out (the
            # clock gives an attempt 10 s) cannot cut it and post the message again.
            where = posted.get("channel")
            where = where if isinstance(where, str) and where else channel
            self.background.spawn(self.picture(channel=where, reply=reply), what="Slack picture")

    def _rendered(self, reply: Reply, ping: bool) -> str:
        """The JSON of chat.postMessage without its channel, rendered once for a fan-out
        that posts the same Reply object to many channels (the clock's standup prompts).
        slack-sdk's client costs about three times the CPU per call, which a fan-out to
        thousands of channels feels (bench/README.md, "Standup fan-out")."""
        key = (id(reply), ping)
        hit = self._renders.get(key)
        if hit is not None and hit[0] is reply:  # the entry holds the reply: ids stay unique
            self._renders.move_to_end(key)
            return hit[1]
        rest = json.dumps({
            "text": fallback_text(reply), "blocks": blocks(reply, SlackStyle(ping=ping)),
            "unfurl_links": False, "unfurl_media": False,
        }, ensure_ascii=False)  # fmt: skip
        self._renders[key] = (reply, rest)
        if len(self._renders) > RENDER_MEMO:
            self._renders.popitem(last=False)
        return rest

    async def picture(self, *, channel: str, reply: Reply) -> None:
        """files.getUploadURLExternal, the upload, files.completeUploadExternal: each step
        waits out a 429 like every call. The message is out already, so a failed upload is
        logged, not raised (a caller retrying would post it twice)."""
        assert reply.image is not None
        args = upload(reply.image)
        content: bytes = args["content"]
        try:
            issued = await self.web.call("files.getUploadURLExternal", form={
                "filename": args["filename"], "length": str(len(content)),
                "alt_txt": args["alt_txt"],
            })  # fmt: skip
            file_id, target = issued.get("file_id"), issued.get("upload_url")
            if not isinstance(file_id, str) or not isinstance(target, str):
                raise DeliveryError(PLATFORM, "no upload URL in the answer", transient=False)
            answer = await self.web.post(URL(target, encoded=True), data=content,
                                         headers={}, what="file upload")  # fmt: skip
            if answer.status != 200:
                raise DeliveryError(PLATFORM, f"file upload: HTTP {answer.status}",
                                    transient=answer.status >= 500)  # fmt: skip
            shared = [{"id": file_id, "title": args["title"]}]
            await self.web.call("files.completeUploadExternal", form={
                "files": json.dumps(shared, ensure_ascii=False), "channel_id": channel,
            })  # fmt: skip
        except DeliveryError as err:
            log.error("uploading a picture failed: channel=%s error=%s", channel, err.what)

    # -- answers to a person's own command ------------------------------------------------

    async def answer(self, *, channel: str, user: str, reply: Reply, thread_ts: str | None) -> None:
        """A mention's reply: in the channel (its thread, if any), or to the asker only."""
        message: dict[str, Any] = {"channel": channel, "text": fallback_text(reply)}
        if reply.visibility is Visibility.CHANNEL:
            method = "chat.postMessage"
            message["blocks"] = blocks(reply, SlackStyle(ping=False))
            message.update(unfurl_links=False, unfurl_media=False)
        else:
            method = "chat.postEphemeral"
            message.update(user=user, blocks=blocks(reply, SlackStyle(ping=True)))
        if thread_ts:
            message["thread_ts"] = thread_ts
        try:
            with self.metrics.posting(platform=PLATFORM, kind="reply"):
                await self.web.call(method, json_body=json.dumps(message, ensure_ascii=False))
        except DeliveryError as err:
            log.error("posting a reply failed: channel=%s error=%s", channel, err.what)

    async def update(self, where: Pressed, reply: Reply, response_url: str | None) -> None:
        """A changed task replaces its card; any other reply only the presser sees."""
        changed = reply.visibility is Visibility.CHANNEL and reply.tone is not Tone.ERROR
        if not changed:
            payload = {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=True)),
            }
            await self.respond(response_url, payload)
            return
        if where.is_ephemeral or not where.message_ts:
            payload = {
                "replace_original": True,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=True)),
            }
            await self.respond(response_url, payload)
            return
        update = {
            "channel": where.channel_id,
            "ts": where.message_ts,
            "text": fallback_text(reply),
            "blocks": blocks(reply, SlackStyle(ping=False)),
        }
        try:
            await self.web.call("chat.update", json_body=json.dumps(update, ensure_ascii=False))
            self.metrics.post(platform=PLATFORM, kind="reply", outcome="ok")
        except DeliveryError as err:
            # Messages posted by a slash command's response belong to the
            # response_url, not to the bot: replace them through it.
            log.info("chat.update refused (%s); replacing through response_url", err.what)
            payload = {
                "replace_original": True,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=False)),
            }
            await self.respond(response_url, payload)

    async def respond(self, response_url: str | None, payload: dict[str, Any]) -> None:
        """Answer through the interaction's response_url (it also replaces the message),
        when it is one of Slack's hosts (or the configured API host); never elsewhere."""
        if not response_url:
            log.warning("no response_url to answer through; reply dropped")
            self.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        target = response_url_allowed(response_url, api_url=self.api_url)
        if target is None:
            log.warning("response_url refused: not a Slack host; reply dropped")
            self.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            answer = await self.web.post(target, data=body, headers=headers, what="response_url")
        except DeliveryError as err:
            log.error("response_url failed: %s", err.what)
            self.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        answered = "ok" if answer.status == 200 else "error"
        self.metrics.post(platform=PLATFORM, kind="reply", outcome=answered)
        if answer.status != 200:
            log.error("response_url answered %s: %s", answer.status, answer.body[:200])

    async def open_form(
        self, *, trigger_id: str, title: str, label: str, meta: dict[str, Any], locale: str,
        fields: tuple[tuple[str, str], ...] = (),
    ) -> None:  # fmt: skip
        """A button that needs a text first (the reason of a block): a modal with one input;
        with `fields` (a standup's questions), one optional input per field, `answer_<n>`.
        `meta` comes back with the submission."""
        inputs = [
            {
                "type": "input",
                "block_id": f"answer_{n}",
                "optional": True,
                "label": {"type": "plain_text", "text": cut(field_label or "?", 2000)},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "answer",
                    "multiline": True,
                    "max_length": 1000,
                },
            }
            for n, (_, field_label) in enumerate(fields, start=1)
        ] or [
            {
                "type": "input",
                "block_id": "answer",
                "label": {"type": "plain_text", "text": cut(label or "?", 2000)},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "answer",
                    "max_length": 500,
                },
            }
        ]
        view = {
            "type": "modal",
            "callback_id": ASK_CALLBACK,
            "private_metadata": cut(json.dumps(meta), 3000, ""),
            "title": {"type": "plain_text", "text": cut(title or "teambot", 24)},
            "submit": {
                "type": "plain_text",
                "text": plain(self.catalog.text(locale, "common.btn_submit")),
            },
            "close": {
                "type": "plain_text",
                "text": plain(self.catalog.text(locale, "common.btn_cancel")),
            },
            "blocks": inputs,
        }
        body = json.dumps({"trigger_id": trigger_id, "view": view}, ensure_ascii=False)
        try:
            await self.web.call("views.open", json_body=body)
        except DeliveryError as err:
            log.error("opening a form failed: %s", err.what)


def command_answer(reply: Reply) -> dict[str, Any]:
    """A slash command's answer, for its ack or its response_url."""
    channel = reply.visibility is Visibility.CHANNEL
    return {
        "response_type": "in_channel" if channel else "ephemeral",
        "text": fallback_text(reply),
        "blocks": blocks(reply, SlackStyle(ping=not channel)),
    }
