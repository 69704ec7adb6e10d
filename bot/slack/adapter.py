"""teambot in Slack: slash commands, @mentions, buttons and DMs through slack-bolt.

At start-up `auth.test` pins the installation: the workspace (and Enterprise Grid org)
the bot token belongs to. A start where it fails says why and stops.

Every HTTP request is checked first, on its raw bytes: the v0 signature and a 5-minute
window (401 otherwise); only then is the body parsed (400 if it does not parse). Then,
in HTTP and Socket Mode alike, a request for another workspace is refused before any
listener runs (`trust.Installation.refusal`). Listeners translate the payload into an
`Inbound`, let the core answer it (event ids are claimed in the database, slash commands
by their `trigger_id`, so a retried delivery does nothing twice) and answer Slack:

- slash commands answer in the ack itself: the HTTP response carries the whole
  Block Kit reply, in one round trip;
- mentions, button presses and form submissions are acked, and their replies,
  message updates and DMs are sent, in the background.

Slack gives up on an ack after 3 s. The ack is sent when the command is done or ~2.5 s
after the request arrived, whichever comes first: a late slash command is acked with
"working on it" and its reply follows through `response_url`; the other kinds need
nothing more. The command itself is never cancelled: its database effects, DMs and
mirrors all happen. Name look-ups (`users.info`) on the way take at most ~1 s per
request, concurrently, for at most 50 people; a name that does not come in time is
the member's id.

`process_before_response=True` is deliberate: bolt's default acks from a background
task that it polls every 10 ms, a floor under every request. The listeners wait for
the work only until the ack is due.

bolt's own signature check is turned off (`request_verification_enabled=False`): ours
runs on the same bytes before bolt parses anything, which is the point; bolt's would run
after the parse and repeat the HMAC. bolt is reached only through `endpoint()` and the
Socket Mode connection, which Slack does not sign.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.core import Background, Core
from bot.hub import DeliveryError, Hub
from bot.slack.commands import COMMANDS
from bot.slack.render import SlackStyle, blocks, cut, fallback_text, plain, upload
from bot.slack.retry import RateLimitRetry
from bot.slack.translate import direct_message, parse_text
from bot.slack.trust import Installation, response_url_allowed, signed_by_slack
from bot.slack.web import ATTEMPT_TIMEOUT, WebApi
from commands.i18n import Catalog
from commands.router import pick_locale
from commands.types import Inbound, MentionRef, Reply, Tone, Visibility

log = logging.getLogger(__name__)

PLATFORM = "slack"
RENDER_MEMO = 64  # replies whose rendering is kept for a fan-out
_COMMAND = re.compile(r"^/(" + "|".join(COMMANDS) + r")$")
ASK_CALLBACK = "tb:ask"
PROFILE_TTL = 3600.0
PROFILE_RETRY = 300.0  # after users.info said no (user_not_found)
PROFILE_RETRY_SOON = 30.0  # after users.info failed or was late
ACK_BUDGET = 2.5  # seconds after arrival: Slack gives up at 3
LOOKUP_BUDGET = 1.0  # seconds of users.info per request, all look-ups together
MAX_LOOKUPS = 50  # distinct unnamed people looked up per request
MAX_EVENT_ID = 100  # what a claimed event id may take of the column's 128 characters
ARRIVED = "teambot_arrived"  # the bolt context key: when the request arrived (loop time)


class SlackStartError(Exception):
    """Slack could not be started (auth.test refused the token or did not answer)."""


@dataclass(frozen=True)
class Profile:
    name: str
    timezone: str | None
    locale: str | None


NAMELESS = Profile(name="", timezone=None, locale=None)


@dataclass
class _Job:
    """One request's work. The listener waits for `done` until the ack is due; after
    that the work is `late` and answers on its own."""

    done: asyncio.Future[Reply | None]
    late: bool = False
    locale: str | None = None  # the asker's, once their profile is known


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
        self.ack_budget = ACK_BUDGET
        self.lookup_budget = LOOKUP_BUDGET
        self.installation: Installation | None = None
        self._profiles: dict[str, tuple[float, Profile]] = {}  # user -> (good until, profile)
        self._lookups: dict[str, asyncio.Future[Profile]] = {}  # users.info calls under way
        self._session: aiohttp.ClientSession | None = None
        self._renders: OrderedDict[tuple[int, bool], tuple[Reply, str]] = OrderedDict()
        self._socket: AsyncSocketModeHandler | None = None
        self.app: AsyncApp | None = None
        self.client: AsyncWebClient | None = None
        self.web: WebApi | None = None

    # -- lifecycle (the adapter protocol) --------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            await self._start(self._session)
        except BaseException:
            await self._session.close()
            raise

    async def _start(self, session: aiohttp.ClientSession) -> None:
        self.web = WebApi(
            session=session, token=self.bot_token, base_url=self.api_url, on_wait=self._waited
        )
        self.installation = installation = await self._identify(self.web)
        retries = [AsyncConnectionErrorRetryHandler(max_retry_count=2), self._rate_limit_retry()]
        self.client = AsyncWebClient(
            token=self.bot_token, base_url=self.api_url, session=session,
            timeout=int(ATTEMPT_TIMEOUT), retry_handlers=retries,
        )  # fmt: skip

        async def authorize() -> AuthorizeResult:
            # The installation is known since start-up: bolt needs no auth.test per request.
            return AuthorizeResult(
                enterprise_id=installation.enterprise_id, team_id=installation.team_id,
                bot_user_id=installation.bot_user_id, bot_id=installation.bot_id,
                bot_token=self.bot_token,
            )  # fmt: skip

        app = AsyncApp(
            # bolt's per-request clients take the token from `authorize`.
            client=AsyncWebClient(
                base_url=self.api_url, session=session, timeout=int(ATTEMPT_TIMEOUT),
                retry_handlers=retries,
            ),
            authorize=authorize,
            before_authorize=self._only_this_installation,
            request_verification_enabled=False,  # see the module's docstring
            process_before_response=True,
            logger=log,
        )  # fmt: skip
        app.command(_COMMAND)(self._on_command)
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_direct_message)
        app.action(re.compile(r"^tb:"))(self._on_button)
        app.view(ASK_CALLBACK)(self._on_ask_submitted)
        self.app = app
        if self.app_token:
            # slack-sdk's connect() retries a refused token every few seconds
            # for ever; ask once first so a wrong token fails the start.
            await self.client.apps_connections_open(app_token=self.app_token)
            self._socket = AsyncSocketModeHandler(app, self.app_token, web_client=self.client)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]  # bolt: untyped
            log.info("Slack Socket Mode connected")

    async def _identify(self, web: WebApi) -> Installation:
        """auth.test: the workspace this bot token belongs to. A refused token stops the
        start at once; a Slack that does not answer is asked three times."""
        for attempt in range(3):
            try:
                answer = await web.call("auth.test", rate_limit_retries=1)
                break
            except DeliveryError as err:
                if err.transient and attempt < 2:
                    await asyncio.sleep(1.0 + attempt)
                    continue
                why = "did not answer" if err.transient else "refused the bot token"
                message = (
                    f"Slack start-up failed: auth.test {why} ({err.what}); "
                    "check SLACK_BOT_TOKEN (and SLACK_API_URL)"
                )
                log.error(message)
                raise SlackStartError(message) from None
        team = answer.get("team_id")
        if not isinstance(team, str) or not team:
            message = (
                "Slack start-up failed: auth.test named no workspace (an org-wide install?); "
                "install teambot into one workspace"
            )
            log.error(message)
            raise SlackStartError(message)
        org = answer.get("enterprise_id")
        installation = Installation(
            team_id=team,
            enterprise_id=org if isinstance(org, str) and org else None,
            bot_user_id=text_of(answer.get("user_id")) or None,
            bot_id=text_of(answer.get("bot_id")) or None,
        )
        log.info(
            "Slack: serving workspace %s%s only",
            team,
            f" of org {installation.enterprise_id}" if installation.enterprise_id else "",
        )
        return installation

    def _waited(self, seconds: float) -> None:
        self.core.metrics.rate_limited(platform=PLATFORM, seconds=seconds)

    def _rate_limit_retry(self) -> RateLimitRetry:
        """Waits out Slack's 429 `Retry-After` (up to 3 times), counting each wait."""
        return RateLimitRetry(max_retry_count=3, on_wait=self._waited)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # bolt: untyped
        await self.background.drain()
        if self._session is not None:
            await self._session.close()

    # -- sending (the clock's posts, mirrors and DMs) -------------------------------

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
        its picture, if any, follows as a file in the same conversation, in the background.

        Raises `DeliveryError` when Slack did not take the message (see `bot.slack.web`
        for what is transient). chat.postMessage has no idempotency key: `dedupe_key` is
        not sent."""
        assert self.web is not None
        body = self._rendered(reply, ping)
        posted_in = '{"channel": ' + json.dumps(channel) + ", " + body[1:]
        with self.core.metrics.posting(platform=PLATFORM, kind=kind):
            posted = await self.web.call("chat.postMessage", json_body=posted_in)
        if reply.image is not None:
            # A DM is posted to a user id; files go to the conversation Slack answered with.
            # The message is out: the upload goes on by itself, so a caller's time-out (the
            # clock gives an attempt 10 s) cannot cut it and post the message again.
            where = text_of(posted.get("channel")) or channel
            self.background.spawn(self._upload(channel=where, reply=reply), what="Slack picture")

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

    async def _upload(self, *, channel: str, reply: Reply) -> None:
        """files.getUploadURLExternal, the upload, files.completeUploadExternal: each step
        waits out a 429 like every call of the client. The message is out already, so a
        failed upload is logged, not raised (a caller retrying would post it twice)."""
        assert self.client is not None and reply.image is not None
        try:
            await self.client.files_upload_v2(channel=channel, **upload(reply.image))
        except SlackApiError as err:
            log.error("uploading a picture failed: channel=%s error=%s",
                      channel, _error_of(err))  # fmt: skip
        except (SlackRequestError, TimeoutError, aiohttp.ClientError) as err:
            log.error("uploading a picture failed: channel=%s: %s", channel, type(err).__name__)

    async def notify(self, *, user_id: str, reply: Reply, dedupe_key: str | None = None) -> None:
        """A DM (a message to the user's id); DeliveryError when Slack does not take it."""
        await self.send(channel=user_id, reply=reply, ping=True, kind="dm")

    # -- the HTTP endpoint ---------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        """POST /slack/events: slash commands, events and interactivity on one URL.

        The signature is checked on the raw bytes before anything parses them. A signed
        body that bolt cannot parse (not UTF-8, not the JSON or form it claims to be, or
        missing what bolt's matchers take for granted) is refused with 400."""
        assert self.app is not None
        arrived = asyncio.get_running_loop().time()
        body = await request.body()
        headers = request.headers
        if not signed_by_slack(
            self.signing_secret,
            timestamp=headers.get("x-slack-request-timestamp"),
            signature=headers.get("x-slack-signature"),
            body=body,
            now=time.time(),
        ):
            log.warning("Slack request refused: no valid signature")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            parsed = to_async_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError):
            parsed = None
        if parsed is None or not well_formed(parsed.body):
            log.warning("Slack request refused: the body does not parse")
            return JSONResponse({"error": "malformed request"}, status_code=400)
        parsed.context[ARRIVED] = arrived
        return to_starlette_response(await self.app.async_dispatch(parsed))

    async def _only_this_installation(
        self, req: AsyncBoltRequest, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """bolt's before-authorize step: a request for another workspace runs nothing.
        Over HTTP it gets 403 (and no retries); over Socket Mode it is acked, so that
        Slack does not send it again."""
        assert self.installation is not None
        body = req.body
        if not isinstance(body, dict) or body.get("type") == "url_verification":
            return await next()
        why = self.installation.refusal(body)
        if why is None:
            return await next()
        log.warning("Slack request refused: %s", why)
        if req.mode == "socket_mode":
            return BoltResponse(status=200, body="")
        return BoltResponse(
            status=403,
            body=json.dumps({"error": "unknown workspace"}),
            headers={"content-type": "application/json", "x-slack-no-retry": "1"},
        )

    # -- identity ---------------------------------------------------------------------

    async def profile(self, user_id: str) -> Profile:
        """One member's profile, within the look-up budget (see `profiles`)."""
        return (await self.profiles([], asker=user_id))[user_id]

    async def profiles(
        self, user_ids: Iterable[str], *, asker: str | None = None
    ) -> dict[str, Profile]:
        """Names, time zones and locales from users.info, cached for an hour (a refusal
        for five minutes, a failure or a late answer for half a minute). All look-ups run
        at once and take at most `lookup_budget` seconds together; the `asker` and the
        first MAX_LOOKUPS others not in the cache are looked up, the rest (and whoever is
        late) stay nameless: the core shows their ids. A user is looked up once, also when several
        requests want them at the same time (they share the look-up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lookup_budget
        found: dict[str, Profile] = {}
        waiting: dict[str, asyncio.Future[Profile]] = {}
        now = time.monotonic()
        others = 0
        for user_id in dict.fromkeys([*([asker] if asker is not None else []), *user_ids]):
            cached = self._profiles.get(user_id)
            if cached is not None and now < cached[0]:
                found[user_id] = cached[1]
            elif user_id and (user_id == asker or others < MAX_LOOKUPS):
                if user_id != asker:
                    others += 1
                waiting[user_id] = self._lookup(user_id, deadline)
            else:
                found[user_id] = NAMELESS
        if waiting:
            await asyncio.wait(waiting.values(), timeout=max(0.0, deadline - loop.time()))
        for user_id, lookup in waiting.items():
            done = lookup.done() and not lookup.cancelled() and lookup.exception() is None
            found[user_id] = lookup.result() if done else NAMELESS
        return found

    def _lookup(self, user_id: str, deadline: float) -> asyncio.Future[Profile]:
        lookup = self._lookups.get(user_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(user_id, deadline))
            self._lookups[user_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(user_id, None))
        return lookup

    async def _look_up(self, user_id: str, deadline: float) -> Profile:
        assert self.web is not None
        timeout = max(0.05, deadline - asyncio.get_running_loop().time())
        try:
            answer = await self.web.call(
                "users.info", form={"user": user_id, "include_locale": "1"},
                timeout=timeout, rate_limit_retries=0, connect_retries=0,
            )  # fmt: skip
        except DeliveryError as err:
            # A refusal (user_not_found: someone of another organisation, say) is routine.
            level = logging.WARNING if err.transient else logging.INFO
            log.log(level, "users.info failed for %s: %s", user_id, err.what)
            retry = PROFILE_RETRY_SOON if err.transient else PROFILE_RETRY
            self._profiles[user_id] = (time.monotonic() + retry, NAMELESS)
            return NAMELESS
        user = object_of(answer.get("user"))
        info = object_of(user.get("profile"))
        found = Profile(
            name=text_of(info.get("display_name"))
            or text_of(info.get("real_name"))
            or text_of(user.get("name")),
            timezone=text_of(user.get("tz")) or None,
            locale=text_of(user.get("locale")) or None,
        )
        self._profiles[user_id] = (time.monotonic() + PROFILE_TTL, found)
        return found

    async def inbound(
        self,
        *,
        channel_id: str,
        channel_name: str,
        user_id: str,
        raw_text: str,
        event_id: str | None,
        job: _Job | None = None,
    ) -> Inbound:
        """The neutral command, in this installation's workspace. Mentions Slack sent
        without a name, and the asker, are looked up (bounded: see `profiles`)."""
        assert self.installation is not None
        # Signed payloads can still hold any JSON: what is not a string counts as absent.
        channel_id, channel_name, user_id, raw_text = map(
            text_of, (channel_id, channel_name, user_id, raw_text)
        )
        event_id = text_of(event_id) or None
        parsed = parse_text(raw_text, drop_user=self.installation.bot_user_id)
        unnamed = [key for key, ref in parsed.mentions.items() if not ref.display_name]
        named = await self.profiles(unnamed, asker=user_id)
        mentions = dict(parsed.mentions)
        for key in unnamed:
            mentions[key] = MentionRef(key, named[key].name)
        me = named[user_id]
        if job is not None:
            job.locale = me.locale
        return Inbound(
            platform=PLATFORM,
            workspace_id=self.installation.team_id,
            workspace_name=self.installation.team_id,
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

    # -- acking in time ---------------------------------------------------------------

    async def _within_ack(
        self,
        context: Mapping[str, Any],
        work: Callable[[_Job], Awaitable[Reply | None]],
        *,
        what: str,
        late: Callable[[Reply], Awaitable[None]] | None = None,
    ) -> tuple[_Job, bool]:
        """Run `work` in the background and wait for it until the ack is due. Returns the
        job and whether it finished in time (then `job.done` holds the reply); a late job
        hands its reply to `late` when it has one."""
        loop = asyncio.get_running_loop()
        job = _Job(loop.create_future())
        self.background.spawn(self._carry(job, work, late), what=what)
        arrived = context.get(ARRIVED)
        start = arrived if isinstance(arrived, float) else loop.time()
        try:
            await asyncio.wait({job.done}, timeout=max(0.0, start + self.ack_budget - loop.time()))
        except asyncio.CancelledError:
            job.late = True
            raise
        if job.done.done():
            return job, True
        job.late = True
        log.info("%s still running when its ack was due: acked, the answer follows", what)
        return job, False

    @staticmethod
    async def _carry(
        job: _Job,
        work: Callable[[_Job], Awaitable[Reply | None]],
        late: Callable[[Reply], Awaitable[None]] | None,
    ) -> None:
        try:
            reply = await work(job)
        except Exception:
            # The core answers every command (an apology at worst): this is the edge's own
            # failure. It is logged; Slack gets an empty ack.
            log.exception("handling a Slack request failed")
            reply = None
        if not job.late:
            job.done.set_result(reply)
        elif reply is not None and late is not None:
            await late(reply)

    def _working(self, locale: str | None) -> Reply:
        """The ack of a command that is not done yet: its answer follows."""
        language = pick_locale(locale, self.core.router.defaults.locale)
        return Reply(
            title=self.catalog.text(language, "common.working"), visibility=Visibility.EPHEMERAL
        )

    async def _handled(self, inbound: Inbound) -> Reply | None:
        """The core's answer; the DMs and mirrors it asks for go out at once."""
        reply = await self.core.handle(inbound)
        if reply is not None:
            self.hub.deliver(reply, background=self.background, origin=inbound.event_id)
        return reply

    # -- listeners ----------------------------------------------------------------------

    async def _on_command(self, ack: Any, body: dict[str, Any], context: Any) -> None:
        response_url = text_of(body.get("response_url"))
        trigger = text_of(body.get("trigger_id"))

        async def work(job: _Job) -> Reply | None:
            inbound = await self.inbound(
                channel_id=body.get("channel_id", ""),
                channel_name=body.get("channel_name", ""),
                user_id=body.get("user_id", ""),
                raw_text=f"{body.get('command', '')} {body.get('text', '')}",
                # A slash command is delivered once per trigger: a repeat does nothing.
                event_id=event_key("command", trigger) if trigger else None,
                job=job,
            )
            return await self._handled(inbound)

        async def follow_up(reply: Reply) -> None:
            await self._respond(response_url, command_answer(reply))

        job, in_time = await self._within_ack(context, work, what="slash command", late=follow_up)
        if not in_time:
            await ack(**command_answer(self._working(job.locale)))
            return
        reply = job.done.result()
        if reply is None:  # a repeat of a command already run
            await ack()
            return
        await ack(**command_answer(reply))

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        async def work(job: _Job) -> Reply | None:
            inbound = await self.inbound(
                channel_id=event.get("channel", ""),
                channel_name=event.get("channel", ""),
                user_id=event.get("user", ""),
                raw_text=event.get("text", ""),
                event_id=body.get("event_id"),
            )
            reply = await self._handled(inbound)
            if reply is not None:
                await self._answer(
                    channel=inbound.channel_id,
                    user=inbound.user_id,
                    reply=reply,
                    thread_ts=text_of(event.get("thread_ts")) or None,
                )
            return reply

        await self._within_ack(context, work, what="mention")

    async def _on_direct_message(
        self, body: dict[str, Any], event: dict[str, Any], context: Any
    ) -> None:
        """A message in the bot's DM runs as a command; the answer is posted into the DM."""
        assert self.installation is not None
        message = direct_message(event, bot_user_id=self.installation.bot_user_id)
        if message is None:
            return

        async def work(job: _Job) -> Reply | None:
            inbound = await self.inbound(
                channel_id=message.channel,
                channel_name=message.channel,
                user_id=message.user,
                raw_text=message.text,
                event_id=body.get("event_id"),
            )
            reply = await self._handled(inbound)
            if reply is not None:
                try:
                    await self.send(channel=message.channel, reply=reply, ping=True, kind="reply")
                except DeliveryError as err:
                    log.error("answering a DM failed: %s: %s", message.channel, err.what)
            return reply

        await self._within_ack(context, work, what="direct message")

    async def _on_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], context: Any
    ) -> None:
        user = object_of(body.get("user"))
        container = object_of(body.get("container"))
        channel = object_of(body.get("channel"))
        if action["action_id"].startswith("tb:ask:"):
            await ack()
            self.background.spawn(self._ask(body, action), what="open form")
            return

        async def work(job: _Job) -> Reply | None:
            inbound = await self.inbound(
                channel_id=channel.get("id") or container.get("channel_id", ""),
                channel_name=channel.get("name", ""),
                user_id=user.get("id", ""),
                raw_text=escape_for_parse(text_of(action.get("value"))),
                event_id=event_key(
                    "action", str(container.get("message_ts")), str(action.get("action_ts")),
                    str(user.get("id")),
                ),
            )  # fmt: skip
            reply = await self._handled(inbound)
            if reply is not None:
                await self._update(container, reply, text_of(body.get("response_url")))
            return reply

        await self._within_ack(context, work, what="button press")
        await ack()

    async def _on_ask_submitted(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any
    ) -> None:
        await ack()
        meta = object_of(json_of(view.get("private_metadata")))
        values = object_of(object_of(view.get("state")).get("values"))
        answer = text_of(object_of(object_of(values.get("answer")).get("answer")).get("value"))
        user = object_of(body.get("user"))

        async def work(job: _Job) -> Reply | None:
            inbound = await self.inbound(
                channel_id=meta.get("channel", ""),
                channel_name="",
                user_id=user.get("id", ""),
                raw_text=escape_for_parse(f"{text_of(meta.get('command'))} {answer}"),
                event_id=event_key("view", str(view.get("id")), str(view.get("hash"))),
            )
            reply = await self._handled(inbound)
            if reply is not None:
                container = {
                    "channel_id": meta.get("channel"),
                    "message_ts": meta.get("ts"),
                    "is_ephemeral": meta.get("ephemeral", False),
                }
                await self._update(container, reply, text_of(meta.get("response_url")))
            return reply

        await self._within_ack(context, work, what="form submission")

    # -- answering -------------------------------------------------------------------

    async def _answer(
        self, *, channel: str, user: str, reply: Reply, thread_ts: str | None
    ) -> None:
        """A mention's reply: in the channel (its thread, if any), or to the asker only."""
        assert self.web is not None
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
            with self.core.metrics.posting(platform=PLATFORM, kind="reply"):
                await self.web.call(method, json_body=json.dumps(message, ensure_ascii=False))
        except DeliveryError as err:
            log.error("posting a reply failed: channel=%s error=%s", channel, err.what)

    async def _update(
        self, container: dict[str, Any], reply: Reply, response_url: str | None
    ) -> None:
        """A changed task replaces its card; any other reply only the presser sees."""
        assert self.web is not None
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
        update = {
            "channel": container.get("channel_id"),
            "ts": container.get("message_ts"),
            "text": fallback_text(reply),
            "blocks": blocks(reply, SlackStyle(ping=False)),
        }
        try:
            await self.web.call("chat.update", json_body=json.dumps(update, ensure_ascii=False))
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="ok")
        except DeliveryError as err:
            # Messages posted by a slash command's response belong to the
            # response_url, not to the bot: replace them through it.
            log.info("chat.update refused (%s); replacing through response_url", err.what)
            payload = {
                "replace_original": True,
                "text": fallback_text(reply),
                "blocks": blocks(reply, SlackStyle(ping=False)),
            }
            await self._respond(response_url, payload)

    async def _respond(self, response_url: str | None, payload: dict[str, Any]) -> None:
        """Answer through the interaction's response_url (it also replaces the message),
        when it is one of Slack's hosts (or the configured API host); never elsewhere."""
        assert self.web is not None
        if not response_url:
            log.warning("no response_url to answer through; reply dropped")
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        target = response_url_allowed(response_url, api_url=self.api_url)
        if target is None:
            log.warning("response_url refused: not a Slack host; reply dropped")
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            answer = await self.web.post(target, data=body, headers=headers, what="response_url")
        except DeliveryError as err:
            log.error("response_url failed: %s", err.what)
            self.core.metrics.post(platform=PLATFORM, kind="reply", outcome="error")
            return
        answered = "ok" if answer.status == 200 else "error"
        self.core.metrics.post(platform=PLATFORM, kind="reply", outcome=answered)
        if answer.status != 200:
            log.error("response_url answered %s: %s", answer.status, answer.body[:200])

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


def command_answer(reply: Reply) -> dict[str, Any]:
    """A slash command's answer, for its ack or its response_url."""
    channel = reply.visibility is Visibility.CHANNEL
    return {
        "response_type": "in_channel" if channel else "ephemeral",
        "text": fallback_text(reply),
        "blocks": blocks(reply, SlackStyle(ping=not channel)),
    }


def event_key(kind: str, *parts: str) -> str:
    """The id under which a delivery is claimed; over-long parts are hashed (the column
    holds 128 characters and a signed payload can still carry anything)."""
    key = ":".join((kind, *parts))
    if len(key) <= MAX_EVENT_ID:
        return key
    return f"{kind}:sha1:" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()


def _error_of(err: SlackApiError) -> Any:
    response = err.response
    return response.get("error") if isinstance(getattr(response, "data", None), dict) else None


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


def escape_for_parse(text: str) -> str:
    """Button values and form answers are raw text: protect them from mention parsing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
