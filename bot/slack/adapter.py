"""teambot in Slack: slash commands, @mentions, buttons and DMs through slack-bolt.

Every request is verified by bolt (signature and a 5-minute timestamp window;
401 otherwise) before a listener runs. Listeners translate the payload into an
`Inbound`, let the core answer it (event ids are claimed in the database, so a
retried delivery does nothing twice) and answer Slack:

- slash commands answer in the ack itself: the HTTP response carries the whole
  Block Kit reply, in one round trip;
- mentions, button presses and form submissions are acked at once and their
  replies, message updates and DMs are sent right after, in the background.

`process_before_response=True` is deliberate: bolt's default acks from a
background task that it polls every 10 ms, a floor under every request. Our
listeners only do fast work before returning (a command takes milliseconds);
everything slow is spawned.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.requests import Request
from starlette.responses import Response

from bot.core import Background, Core
from bot.hub import Hub
from bot.slack.commands import COMMANDS
from bot.slack.render import SlackStyle, blocks, cut, fallback_text, plain, upload
from bot.slack.translate import parse_text
from commands.i18n import Catalog
from commands.router import pick_locale
from commands.types import Inbound, MentionRef, Reply, Tone, Visibility

log = logging.getLogger(__name__)

PLATFORM = "slack"
_COMMAND = re.compile(r"^/(" + "|".join(COMMANDS) + r")$")
ASK_CALLBACK = "tb:ask"
PROFILE_TTL = 3600.0


@dataclass(frozen=True)
class Profile:
    name: str
    timezone: str | None
    locale: str | None


class SlackAdapter:
    """One Slack workspace's bot (single-workspace install: one bot token)."""

    name = PLATFORM

    def __init__(
        self,
        *,
        core: Core,
        catalog: Catalog,
        bot_token: str,
        signing_secret: str,
        api_url: str,
        app_token: str | None = None,
        background: Background | None = None,
        hub: Hub | None = None,
    ) -> None:
        self.core = core
        self.catalog = catalog
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.api_url = api_url
        self.app_token = app_token
        self.background = background or Background()
        self.hub = hub or Hub()
        self.hub.register(self)
        self._profiles: dict[str, tuple[float, Profile]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self.app: AsyncApp | None = None
        self.client: AsyncWebClient | None = None
        self.handler: AsyncSlackRequestHandler | None = None

    # -- lifecycle (the adapter protocol) --------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.client = AsyncWebClient(
            token=self.bot_token,
            base_url=self.api_url,
            session=self._session,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            ],
        )
        app = AsyncApp(
            client=self.client,
            signing_secret=self.signing_secret,
            process_before_response=True,
            logger=log,
        )
        app.command(_COMMAND)(self._on_command)
        app.event("app_mention")(self._on_mention)
        app.action(re.compile(r"^tb:"))(self._on_button)
        app.view(ASK_CALLBACK)(self._on_ask_submitted)
        self.app = app
        self.handler = AsyncSlackRequestHandler(app)
        if self.app_token:
            try:
                # slack-sdk's connect() retries a refused token every few seconds
                # for ever; ask once first so a wrong token fails the start.
                await self.client.apps_connections_open(app_token=self.app_token)
                self._socket = AsyncSocketModeHandler(app, self.app_token, web_client=self.client)
                await self._socket.connect_async()  # type: ignore[no-untyped-call]  # bolt: untyped
            except BaseException:
                await self._session.close()
                raise
            log.info("Slack Socket Mode connected")

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # bolt: untyped
        await self.background.drain()
        if self._session is not None:
            await self._session.close()

    async def send(self, *, channel: str, reply: Reply, ping: bool = False) -> None:
        """Post a reply into a channel (or a DM, with a user id as the channel);
        its picture, if any, follows as a file in the same conversation."""
        assert self.client is not None
        posted = await self.client.chat_postMessage(
            channel=channel,
            text=fallback_text(reply),
            blocks=blocks(reply, SlackStyle(ping=ping)),
            unfurl_links=False,
            unfurl_media=False,
        )
        if reply.image is not None:
            # A DM is posted to a user id; files go to the conversation Slack answered with.
            await self._upload(channel=posted.get("channel") or channel, reply=reply)

    async def _upload(self, *, channel: str, reply: Reply) -> None:
        """files.getUploadURLExternal, the upload, files.completeUploadExternal: each step
        waits out a 429 like every call of the client. The message is out already, so a
        failed upload is logged, not raised (a caller retrying would post it twice)."""
        assert self.client is not None and reply.image is not None
        try:
            await self.client.files_upload_v2(channel=channel, **upload(reply.image))
        except SlackApiError as err:
            log.error("uploading a picture failed: channel=%s error=%s",
                      channel, err.response.get("error"))  # fmt: skip
        except SlackRequestError as err:
            log.error("uploading a picture failed: channel=%s: %s", channel, err)

    async def endpoint(self, request: Request) -> Response:
        """POST /slack/events: slash commands, events and interactivity on one URL."""
        assert self.handler is not None
        return await self.handler.handle(request)

    # -- identity ---------------------------------------------------------------------

    async def profile(self, user_id: str) -> Profile:
        """Name, time zone and locale from users.info, cached for an hour."""
        cached = self._profiles.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < PROFILE_TTL:
            return cached[1]
        assert self.client is not None
        try:
            resp = await self.client.users_info(user=user_id, include_locale=True)
        except SlackApiError as err:
            log.warning("users.info failed for %s: %s", user_id, err.response.get("error"))
            return Profile(name="", timezone=None, locale=None)
        user = resp.get("user") or {}
        info = user.get("profile") or {}
        found = Profile(
            name=info.get("display_name") or info.get("real_name") or user.get("name") or "",
            timezone=user.get("tz"),
            locale=user.get("locale"),
        )
        self._profiles[user_id] = (time.monotonic(), found)
        return found

    async def inbound(
        self,
        *,
        team_id: str,
        channel_id: str,
        channel_name: str,
        user_id: str,
        raw_text: str,
        event_id: str | None,
        bot_user_id: str | None = None,
    ) -> Inbound:
        parsed = parse_text(raw_text, drop_user=bot_user_id)
        mentions = dict(parsed.mentions)
        for key, ref in parsed.mentions.items():
            if not ref.display_name:
                named = await self.profile(ref.platform_user_id)
                mentions[key] = MentionRef(ref.platform_user_id, named.name)
        me = await self.profile(user_id)
        return Inbound(
            platform=PLATFORM,
            workspace_id=team_id,
            workspace_name=team_id,
            channel_id=channel_id,
            channel_name=channel_name,
            user_id=user_id,
            user_name=me.name,
            user_timezone=me.timezone,
            user_locale=me.locale,
            text=parsed.text,
            mentions=mentions,
            event_id=event_id,
        )

    # -- listeners ----------------------------------------------------------------------

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        inbound = await self.inbound(
            team_id=body.get("team_id", ""),
            channel_id=body.get("channel_id", ""),
            channel_name=body.get("channel_name", ""),
            user_id=body.get("user_id", ""),
            raw_text=f"{body.get('command', '')} {body.get('text', '')}",
            event_id=None,
        )
        reply = await self.core.handle(inbound)
        assert reply is not None  # slash commands carry no event id
        channel = reply.visibility is Visibility.CHANNEL
        await ack(
            response_type="in_channel" if channel else "ephemeral",
            text=fallback_text(reply),
            blocks=blocks(reply, SlackStyle(ping=not channel)),
        )
        self._notify(reply)

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        inbound = await self.inbound(
            team_id=body.get("team_id", ""),
            channel_id=event.get("channel", ""),
            channel_name=event.get("channel", ""),
            user_id=event.get("user", ""),
            raw_text=event.get("text", ""),
            event_id=body.get("event_id"),
            bot_user_id=context.get("bot_user_id"),
        )
        reply = await self.core.handle(inbound)
        if reply is None:
            return
        self.background.spawn(
            self._answer(
                channel=inbound.channel_id,
                user=inbound.user_id,
                reply=reply,
                thread_ts=event.get("thread_ts"),
            ),
            what="mention reply",
        )
        self._notify(reply)

    async def _on_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = body.get("user") or {}
        container = body.get("container") or {}
        if action["action_id"].startswith("tb:ask:"):
            await ack()
            self.background.spawn(self._ask(body, action), what="open form")
            return
        inbound = await self.inbound(
            team_id=(body.get("team") or {}).get("id") or user.get("team_id", ""),
            channel_id=(body.get("channel") or {}).get("id") or container.get("channel_id", ""),
            channel_name=(body.get("channel") or {}).get("name", ""),
            user_id=user.get("id", ""),
            raw_text=escape_for_parse(action.get("value", "")),
            event_id=f"action:{container.get('message_ts')}:{action.get('action_ts')}:{user.get('id')}",
        )
        reply = await self.core.handle(inbound)
        await ack()
        if reply is not None:
            self.background.spawn(
                self._update(container, reply, body.get("response_url")), what="button reply"
            )
            self._notify(reply)

    async def _on_ask_submitted(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        values = (view.get("state") or {}).get("values") or {}
        answer = ((values.get("answer") or {}).get("answer") or {}).get("value") or ""
        user = body.get("user") or {}
        inbound = await self.inbound(
            team_id=user.get("team_id", ""),
            channel_id=meta.get("channel", ""),
            channel_name="",
            user_id=user.get("id", ""),
            raw_text=escape_for_parse(f"{meta.get('command', '')} {answer}"),
            event_id=f"view:{view.get('id')}:{view.get('hash')}",
        )
        reply = await self.core.handle(inbound)
        if reply is not None:
            container = {
                "channel_id": meta.get("channel"),
                "message_ts": meta.get("ts"),
                "is_ephemeral": meta.get("ephemeral", False),
            }
            self.background.spawn(
                self._update(container, reply, meta.get("response_url")), what="form reply"
            )
            self._notify(reply)

    # -- answering -------------------------------------------------------------------

    async def _answer(
        self, *, channel: str, user: str, reply: Reply, thread_ts: str | None
    ) -> None:
        assert self.client is not None
        text = fallback_text(reply)
        try:
            if reply.visibility is Visibility.CHANNEL:
                await self.client.chat_postMessage(
                    channel=channel,
                    text=text,
                    blocks=blocks(reply, SlackStyle(ping=False)),
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            else:
                await self.client.chat_postEphemeral(
                    channel=channel,
                    user=user,
                    text=text,
                    blocks=blocks(reply, SlackStyle(ping=True)),
                    thread_ts=thread_ts,
                )
        except SlackApiError as err:
            log.error(
                "posting a reply failed: channel=%s error=%s", channel, err.response.get("error")
            )

    async def _update(
        self, container: dict[str, Any], reply: Reply, response_url: str | None
    ) -> None:
        """A changed task replaces its card; any other reply only the presser sees."""
        assert self.client is not None
        changed = reply.visibility is Visibility.CHANNEL and reply.tone is not Tone.ERROR
        if not changed:
            payload = {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=True)),
            }
            await self._respond(response_url, payload)
            return
        if container.get("is_ephemeral") or not container.get("message_ts"):
            payload = {
                "replace_original": True,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=True)),
            }
            await self._respond(response_url, payload)
            return
        try:
            await self.client.chat_update(
                channel=container["channel_id"],
                ts=container["message_ts"],
                text=fallback_text(reply),
                blocks=blocks(reply, SlackStyle(ping=False)),
            )
        except SlackApiError as err:
            # Messages posted by a slash command's response belong to the
            # response_url, not to the bot: replace them through it.
            log.info(
                "chat.update refused (%s); replacing through response_url",
                err.response.get("error"),
            )
            payload = {
                "replace_original": True,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=False)),
            }
            await self._respond(response_url, payload)

    async def _respond(self, response_url: str | None, payload: dict[str, Any]) -> None:
        """Answer through the interaction's response_url (it also replaces the message)."""
        if not response_url:
            log.warning("no response_url to answer through; reply dropped")
            return
        webhook = AsyncWebhookClient(
            response_url,
            session=self._session,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
        )
        resp = await webhook.send_dict(payload)
        if resp.status_code != 200:
            log.error("response_url answered %s: %s", resp.status_code, resp.body)

    async def _ask(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button that needs a text first (the reason of a block): open a form."""
        assert self.client is not None
        spec = json.loads(action.get("value") or "{}")
        user = body.get("user") or {}
        container = body.get("container") or {}
        locale = pick_locale((await self.profile(user.get("id", ""))).locale)
        meta = {
            "command": spec.get("command", ""),
            "channel": container.get("channel_id"),
            "ts": container.get("message_ts"),
            "ephemeral": container.get("is_ephemeral", False),
            "response_url": body.get("response_url"),
        }
        view = {
            "type": "modal",
            "callback_id": ASK_CALLBACK,
            "private_metadata": cut(json.dumps(meta), 3000, ""),
            "title": {"type": "plain_text", "text": cut(spec.get("title") or "teambot", 24)},
            "submit": {
                "type": "plain_text",
                "text": plain(self.catalog.text(locale, "common.btn_submit")),
            },
            "close": {
                "type": "plain_text",
                "text": plain(self.catalog.text(locale, "common.btn_cancel")),
            },
            "blocks": [
                {
                    "type": "input",
                    "block_id": "answer",
                    "label": {"type": "plain_text", "text": cut(spec.get("label") or "?", 2000)},
                    "element": {
                        "type": "plain_text_input",
                        "action_id": "answer",
                        "max_length": 500,
                    },
                }
            ],
        }
        await self.client.views_open(trigger_id=body.get("trigger_id"), view=view)

    def _notify(self, reply: Reply) -> None:
        """After the answer: DMs for the people a change concerns (on their own
        platform) and the announcement in the project's other channels."""
        self.hub.deliver(reply, background=self.background)

    async def notify(self, *, user_id: str, reply: Reply) -> None:
        try:
            await self.send(channel=user_id, reply=reply, ping=True)
        except SlackApiError as err:
            log.error("DM failed: user=%s error=%s", user_id, err.response.get("error"))


def escape_for_parse(text: str) -> str:
    """Button values and form answers are raw text: protect them from mention parsing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
