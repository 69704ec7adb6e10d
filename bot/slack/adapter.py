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

import asyncio
import json
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import (
    AsyncSlackRequestHandler,
    to_async_bolt_request,
    to_starlette_response,
)
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.core import Background, Core
from bot.hub import DeliveryError, Hub
from bot.slack.commands import COMMANDS
from bot.slack.render import SlackStyle, blocks, cut, fallback_text, plain, upload
from bot.slack.retry import RateLimitRetry
from bot.slack.translate import parse_text
from commands.i18n import Catalog
from commands.router import pick_locale
from commands.types import Inbound, MentionRef, Reply, Tone, Visibility

log = logging.getLogger(__name__)

PLATFORM = "slack"
RENDER_MEMO = 64  # replies whose rendering is kept for a fan-out
# A fan-out meets many 429s; each is waited out (Retry-After) before giving a post up.
RATE_LIMIT_RETRIES = 6
# chat.postMessage errors Slack documents as passing: worth the same post again later.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_COMMAND = re.compile(r"^/(" + "|".join(COMMANDS) + r")$")
ASK_CALLBACK = "tb:ask"
PROFILE_TTL = 3600.0
PROFILE_RETRY = 300.0  # after a failed users.info


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
        self._profiles: dict[str, tuple[float, Profile]] = {}  # user -> (good until, profile)
        self._lookups: dict[str, asyncio.Future[Profile]] = {}  # users.info calls under way
        self._session: aiohttp.ClientSession | None = None
        self._renders: OrderedDict[tuple[int, bool], tuple[Reply, str]] = OrderedDict()
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
                self._rate_limit_retry(),
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

    def _rate_limit_retry(self) -> RateLimitRetry:
        """Waits out Slack's 429 `Retry-After` (up to 3 times), counting each wait."""

        def waited(seconds: float) -> None:
            self.core.metrics.rate_limited(platform=PLATFORM, seconds=seconds)

        return RateLimitRetry(max_retry_count=3, on_wait=waited)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # bolt: untyped
        await self.background.drain()
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        *,
        channel: str,
        reply: Reply,
        ping: bool = False,
        kind: str = "post",
        dedupe_key: str | None = None,
    ) -> None:
        """Post a reply into a channel (or a DM, with a user id as the channel);
        its picture, if any, follows as a file in the same conversation."""
        assert self.client is not None
        body = self._rendered(reply, ping)
        with self.core.metrics.posting(platform=PLATFORM, kind=kind):
            posted = await self._post_message(channel, body)
        if reply.image is not None:
            # A DM is posted to a user id; files go to the conversation Slack answered with.
            await self._upload(channel=posted.get("channel") or channel, reply=reply)

    def _rendered(self, reply: Reply, ping: bool) -> str:
        """The JSON of chat.postMessage without its channel, rendered once for a fan-out
        that posts the same Reply object to many channels (the clock's standup prompts)."""
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

    async def _post_message(self, channel: str, rest: str) -> dict[str, Any]:
        """chat.postMessage on the shared session with a body built from the rendered part:
        slack-sdk's client costs about three times the CPU per call, which a fan-out to
        thousands of channels feels (bench/README.md, "Standup fan-out"). Waits out a 429's
        `Retry-After` (up to RATE_LIMIT_RETRIES times) and retries a refused connection twice;
        then raises `DeliveryError`, transient for a 5xx, an answer that is not JSON, a lost
        connection, a rate limit still in force and Slack's passing errors."""
        assert self._session is not None
        body = ('{"channel": ' + json.dumps(channel) + ", " + rest[1:]).encode("utf-8")
        headers = {
            "Authorization": f"Bearer {self.bot_token}",
            "Content-Type": "application/json; charset=utf-8",
        }
        url = f"{self.api_url}chat.postMessage"
        limited = refused = 0
        while True:
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    if response.status == 429 and limited < RATE_LIMIT_RETRIES:
                        limited += 1
                        wait = _retry_after(response.headers.get("Retry-After"))
                        started = time.monotonic()
                        await asyncio.sleep(wait)
                        self.core.metrics.rate_limited(
                            platform=PLATFORM, seconds=time.monotonic() - started
                        )
                        continue
                    raw = await response.read()
            except aiohttp.ClientConnectionError as err:
                if refused >= 2:
                    raise DeliveryError(PLATFORM, type(err).__name__, transient=True) from None
                refused += 1
                await asyncio.sleep(0.5 * refused)
                continue
            except aiohttp.ClientError as err:  # a broken answer: the post may be out or not
                raise DeliveryError(PLATFORM, type(err).__name__, transient=True) from None
            if response.status == 429:
                after = _retry_after(response.headers.get("Retry-After"))
                raise DeliveryError(PLATFORM, "ratelimited", transient=True, retry_after=after)
            if response.status >= 500:
                raise DeliveryError(PLATFORM, f"HTTP {response.status}", transient=True)
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise DeliveryError(PLATFORM, f"HTTP {response.status}, no JSON", transient=True)
            if not data.get("ok"):
                error = str(data.get("error") or response.status)
                raise DeliveryError(PLATFORM, error, transient=error in TRANSIENT_ERRORS)
            return data

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
        """POST /slack/events: slash commands, events and interactivity on one URL.

        bolt parses a body before it checks the signature, and its parser raises on
        bytes that are not UTF-8 or not the JSON or form they claim to be (a 500):
        such a body is refused here with 400 and never reaches a listener."""
        assert self.app is not None
        if not signature_headers_usable(request.headers):
            log.warning("Slack request refused: malformed signature headers")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        body = await request.body()
        try:
            parsed = to_async_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError):
            parsed = None
        if parsed is None or not well_formed(parsed.body):
            log.warning("Slack request refused: the body does not parse")
            return JSONResponse({"error": "malformed request"}, status_code=400)
        return to_starlette_response(await self.app.async_dispatch(parsed))

    # -- identity ---------------------------------------------------------------------

    async def profile(self, user_id: str) -> Profile:
        """Name, time zone and locale from users.info, cached for an hour (a failed lookup
        for five minutes): users.info is on the ack path at most once per user, also when
        several of their requests arrive together (they share one lookup)."""
        cached = self._profiles.get(user_id)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        lookup = self._lookups.get(user_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(user_id))
            self._lookups[user_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(user_id, None))
        return await asyncio.shield(lookup)

    async def _look_up(self, user_id: str) -> Profile:
        assert self.client is not None
        try:
            resp = await self.client.users_info(user=user_id, include_locale=True)
        except SlackApiError as err:
            log.warning("users.info failed for %s: %s", user_id, err.response.get("error"))
            nameless = Profile(name="", timezone=None, locale=None)
            self._profiles[user_id] = (time.monotonic() + PROFILE_RETRY, nameless)
            return nameless
        user = resp.get("user") or {}
        info = user.get("profile") or {}
        found = Profile(
            name=info.get("display_name") or info.get("real_name") or user.get("name") or "",
            timezone=user.get("tz"),
            locale=user.get("locale"),
        )
        self._profiles[user_id] = (time.monotonic() + PROFILE_TTL, found)
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
        # Signed payloads can still hold any JSON: what is not a string counts as absent.
        team_id, channel_id, channel_name, user_id, raw_text = map(
            text_of, (team_id, channel_id, channel_name, user_id, raw_text)
        )
        event_id = text_of(event_id) or None
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
                thread_ts=text_of(event.get("thread_ts")) or None,
            ),
            what="mention reply",
        )
        self._notify(reply)

    async def _on_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = object_of(body.get("user"))
        container = object_of(body.get("container"))
        team, channel = object_of(body.get("team")), object_of(body.get("channel"))
        if action["action_id"].startswith("tb:ask:"):
            await ack()
            self.background.spawn(self._ask(body, action), what="open form")
            return
        inbound = await self.inbound(
            team_id=team.get("id") or user.get("team_id", ""),
            channel_id=channel.get("id") or container.get("channel_id", ""),
            channel_name=channel.get("name", ""),
            user_id=user.get("id", ""),
            raw_text=escape_for_parse(text_of(action.get("value"))),
            event_id=f"action:{container.get('message_ts')}:{action.get('action_ts')}:{user.get('id')}",
        )
        reply = await self.core.handle(inbound)
        await ack()
        if reply is not None:
            self.background.spawn(
                self._update(container, reply, text_of(body.get("response_url"))),
                what="button reply",
            )
            self._notify(reply)

    async def _on_ask_submitted(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        meta = object_of(json_of(view.get("private_metadata")))
        values = object_of(object_of(view.get("state")).get("values"))
        answer = text_of(object_of(object_of(values.get("answer")).get("answer")).get("value"))
        user = object_of(body.get("user"))
        inbound = await self.inbound(
            team_id=user.get("team_id", ""),
            channel_id=meta.get("channel", ""),
            channel_name="",
            user_id=user.get("id", ""),
            raw_text=escape_for_parse(f"{text_of(meta.get('command'))} {answer}"),
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
                self._update(container, reply, text_of(meta.get("response_url"))),
                what="form reply",
            )
            self._notify(reply)

    # -- answering -------------------------------------------------------------------

    async def _answer(
        self, *, channel: str, user: str, reply: Reply, thread_ts: str | None
    ) -> None:
        assert self.client is not None
        text = fallback_text(reply)
        try:
            with self.core.metrics.posting(platform=PLATFORM, kind="reply"):
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
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="ok")
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
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        webhook = AsyncWebhookClient(
            response_url, session=self._session, retry_handlers=[self._rate_limit_retry()]
        )
        try:
            resp = await webhook.send_dict(payload)
        except Exception:
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            raise
        answered = "ok" if resp.status_code == 200 else "error"
        self.core.metrics.post(platform=PLATFORM, kind="reply", outcome=answered)
        if resp.status_code != 200:
            log.error("response_url answered %s: %s", resp.status_code, resp.body)

    async def _ask(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button that needs a text first (the reason of a block): open a form."""
        assert self.client is not None
        spec = object_of(json_of(action.get("value")))
        title, label = text_of(spec.get("title")), text_of(spec.get("label"))
        user = object_of(body.get("user"))
        container = object_of(body.get("container"))
        locale = pick_locale((await self.profile(text_of(user.get("id")))).locale)
        meta = {
            "command": text_of(spec.get("command")),
            "channel": container.get("channel_id"),
            "ts": container.get("message_ts"),
            "ephemeral": container.get("is_ephemeral", False),
            "response_url": body.get("response_url"),
        }
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
            "blocks": [
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
            ],
        }
        await self.client.views_open(trigger_id=body.get("trigger_id"), view=view)

    def _notify(self, reply: Reply) -> None:
        """After the answer: DMs for the people a change concerns (on their own
        platform) and the announcement in the project's other channels."""
        self.hub.deliver(reply, background=self.background)

    async def notify(self, *, user_id: str, reply: Reply, dedupe_key: str | None = None) -> None:
        try:
            await self.send(channel=user_id, reply=reply, ping=True, kind="dm")
        except DeliveryError as err:
            log.error("DM failed: user=%s error=%s", user_id, err.what)


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


def signature_headers_usable(headers: Mapping[str, str]) -> bool:
    """slack-sdk's signature check raises (and bolt answers 500) on a timestamp that is
    not an integer or a signature that is not ASCII; such a request is refused first."""
    try:
        int(headers.get("x-slack-request-timestamp", "0"))
    except ValueError:
        return False
    return headers.get("x-slack-signature", "").isascii()


def well_formed(body: Any) -> bool:
    """An object whose parts that bolt's middleware and matchers take for granted are
    of the right type (they raise on anything else, and bolt answers 500)."""
    if not isinstance(body, dict):
        return False
    shapes = {"event": dict, "view": dict, "command": str, "callback_id": str}
    if any(key in body and not isinstance(body[key], kind) for key, kind in shapes.items()):
        return False
    view = body.get("view")
    if view is not None and "callback_id" in view:
        # A workflow step's submission is read from `workflow_step`.
        kind = view.get("type")
        if kind is None or (kind == "workflow_step" and "workflow_step" not in body):
            return False
    if body.get("type") in ("block_actions", "interactive_message") and "actions" in body:
        actions = body["actions"]
        first = actions[0] if isinstance(actions, list) and actions else None
        return isinstance(first, dict) and isinstance(first.get("action_id"), str)
    return True


def _retry_after(header: str | None) -> float:
    """Slack's `Retry-After` seconds, plus up to half a second so waiters spread out."""
    try:
        seconds = max(0.0, float(header or 1))
    except ValueError:
        seconds = 1.0
    return min(seconds, 60.0) + random.random() / 2


def escape_for_parse(text: str) -> str:
    """Button values and form answers are raw text: protect them from mention parsing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
