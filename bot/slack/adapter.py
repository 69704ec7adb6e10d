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
import json
import logging
import re
import time
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
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.core import Background, Core
from bot.hub import DeliveryError, Hub, MemberRef
from bot.retry import RetryPolicy, TryAgain, Why
from bot.slack import inbound as payload
from bot.slack.commands import COMMANDS
from bot.slack.outbound import ASK_CALLBACK, Outbox, command_answer
from bot.slack.translate import parse_text
from bot.slack.trust import Installation, signed_by_slack, well_formed
from bot.slack.web import ATTEMPT_TIMEOUT, WebApi
from bot.slack.web import POLICY as WEB_POLICY
from commands.i18n import Catalog
from commands.router import pick_locale
from commands.types import Inbound, MentionRef, Reply, Visibility

log = logging.getLogger(__name__)

PLATFORM = "slack"
_COMMAND = re.compile(r"^/(" + "|".join(COMMANDS) + r")$")
PROFILE_TTL = 3600.0
PROFILE_RETRY = 300.0  # after users.info said no (user_not_found)
PROFILE_RETRY_SOON = 30.0  # after users.info failed or was late
ACK_BUDGET = 2.5  # seconds after arrival: Slack gives up at 3
LOOKUP_BUDGET = 1.0  # seconds of users.info per request, all look-ups together
MAX_LOOKUPS = 50  # distinct unnamed people looked up per request
# Looking a name up is never retried (the request waits for it); auth.test at start-up
# is asked three times when Slack does not answer (it changes nothing).
LOOKUP_POLICY = RetryPolicy(rate_limited=0, unreached=0)
START_POLICY = RetryPolicy(rate_limited=0, unreached=0, unanswered=2, backoff=1.0)
ARRIVED = "teambot_arrived"  # the bolt context key: when the request arrived (loop time)


MEMBER_PAGE = 200  # conversations.members' page; Slack suggests at most 200
MAX_MEMBER_PAGES = 50
MEMBER_LOOKUPS = 4  # users.info calls under way at once while listing a channel
SLACKBOT = "USLACKBOT"


class SlackStartError(Exception):
    """Slack could not be started (auth.test refused the token or did not answer)."""


@dataclass(frozen=True)
class Profile:
    name: str
    timezone: str | None
    locale: str | None


NAMELESS = Profile(name="", timezone=None, locale=None)


def profile_of(user: Mapping[str, Any]) -> Profile:
    """A users.info user's name, time zone and locale."""
    info = payload.object_of(user.get("profile"))
    return Profile(
        name=payload.text_of(info.get("display_name"))
        or payload.text_of(info.get("real_name"))
        or payload.text_of(user.get("name")),
        timezone=payload.text_of(user.get("tz")) or None,
        locale=payload.text_of(user.get("locale")) or None,
    )


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
        self._socket: AsyncSocketModeHandler | None = None
        self.app: AsyncApp | None = None
        self.client: AsyncWebClient | None = None
        self.web: WebApi | None = None
        self.outbox: Outbox | None = None

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
        self.outbox = Outbox(web=self.web, metrics=self.core.metrics, background=self.background,
                             catalog=self.catalog, api_url=self.api_url)  # fmt: skip
        # slack-sdk's own client serves only bolt and the Socket Mode connection (which
        # reopens itself with apps.connections.open); teambot's calls all go through WebApi.
        retries = [
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ]
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
            try:
                await self.web.call("apps.connections.open", token=self.app_token)
            except DeliveryError as err:
                message = (
                    f"Slack start-up failed: apps.connections.open: {err.what}; "
                    "check SLACK_APP_TOKEN"
                )
                log.error(message)
                raise SlackStartError(message) from None
            self._socket = AsyncSocketModeHandler(app, self.app_token, web_client=self.client)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]  # bolt: untyped
            log.info("Slack Socket Mode connected")

    async def _identify(self, web: WebApi) -> Installation:
        """auth.test: the workspace this bot token belongs to. A refused token stops the
        start at once; a Slack that does not answer is asked three times."""

        async def ask() -> dict[str, Any]:
            try:
                return await web.call("auth.test", policy=WEB_POLICY.but(rate_limited=1))
            except DeliveryError as err:
                if err.transient:  # auth.test changes nothing: asking again is safe
                    raise TryAgain(Why.UNANSWERED, err) from None
                raise

        try:
            answer = await START_POLICY.run(ask)
        except DeliveryError as err:
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
            bot_user_id=payload.text_of(answer.get("user_id")) or None,
            bot_id=payload.text_of(answer.get("bot_id")) or None,
        )
        log.info(
            "Slack: serving workspace %s%s only",
            team,
            f" of org {installation.enterprise_id}" if installation.enterprise_id else "",
        )
        return installation

    def _waited(self, seconds: float) -> None:
        self.core.metrics.rate_limited(platform=PLATFORM, seconds=seconds)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # bolt: untyped
        await self.background.drain()
        if self._session is not None:
            await self._session.close()

    # -- sending (the clock's posts, mirrors and DMs: bot/slack/outbound.py) ------------

    async def send(
        self,
        *,
        channel: str,
        reply: Reply,
        ping: bool = False,
        kind: str = "post",
        dedupe_key: str | None = None,
    ) -> None:
        """Post a reply into a channel (or a DM, with a user id as the channel). Raises
        `DeliveryError` when Slack did not take it. chat.postMessage has no idempotency
        key: `dedupe_key` is not sent."""
        await self.out.send(channel=channel, reply=reply, ping=ping, kind=kind)

    async def notify(self, *, user_id: str, reply: Reply, dedupe_key: str | None = None) -> None:
        """A DM (a message to the user's id); DeliveryError when Slack does not take it."""
        await self.send(channel=user_id, reply=reply, ping=True, kind="dm")

    def routes(self) -> list[BaseRoute]:
        """POST /slack/events over HTTP; nothing in Socket Mode (no signing secret)."""
        if not self.signing_secret:
            return []
        return [Route("/slack/events", self.endpoint, methods=["POST"])]

    @property
    def out(self) -> Outbox:
        """What sends to Slack (bot/slack/outbound.py), once the adapter has started."""
        assert self.outbox is not None, "the Slack adapter has not started"
        return self.outbox

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
                timeout=timeout, policy=LOOKUP_POLICY,
            )  # fmt: skip
        except DeliveryError as err:
            # A refusal (user_not_found: someone of another organisation, say) is routine.
            level = logging.WARNING if err.transient else logging.INFO
            log.log(level, "users.info failed for %s: %s", user_id, err.what)
            retry = PROFILE_RETRY_SOON if err.transient else PROFILE_RETRY
            self._profiles[user_id] = (time.monotonic() + retry, NAMELESS)
            return NAMELESS
        found = profile_of(payload.object_of(answer.get("user")))
        self._profiles[user_id] = (time.monotonic() + PROFILE_TTL, found)
        return found

    # -- a channel's members (standup rosters: bot/roster.py) -------------------------------

    async def channel_members(self, channel_id: str) -> list[MemberRef] | None:
        """The channel's people: conversations.members, page by page, then users.info of
        each (a few at a time) to leave out bots, Slackbot and deactivated accounts. None
        when Slack refuses (a missing scope, the bot not in the channel); a transient
        failure is raised (the refresher tries again later)."""
        assert self.web is not None
        ids: list[str] = []
        cursor = ""
        try:
            for _ in range(MAX_MEMBER_PAGES):
                form = {"channel": channel_id, "limit": str(MEMBER_PAGE)}
                if cursor:
                    form["cursor"] = cursor
                answer = await self.web.call("conversations.members", form=form)
                ids += [m for m in answer.get("members") or () if isinstance(m, str) and m]
                meta = payload.object_of(answer.get("response_metadata"))
                cursor = payload.text_of(meta.get("next_cursor"))
                if not cursor:
                    break
        except DeliveryError as err:
            if err.transient:
                raise
            log.warning("conversations.members refused for %s: %s", channel_id, err.what)
            return None
        assert self.installation is not None
        gate = asyncio.Semaphore(MEMBER_LOOKUPS)

        async def person(user_id: str) -> MemberRef | None:
            async with gate:
                try:
                    answer = await self.web_api.call(
                        "users.info", form={"user": user_id, "include_locale": "1"}
                    )
                except DeliveryError as err:
                    if err.transient:
                        raise
                    log.info("users.info refused for %s: %s", user_id, err.what)
                    return None  # user_not_found: not someone teambot can count
            user = payload.object_of(answer.get("user"))
            if user.get("is_bot") or user.get("deleted") or not user:
                return None
            found = profile_of(user)
            self._profiles[user_id] = (time.monotonic() + PROFILE_TTL, found)
            return MemberRef(user_id, found.name, found.timezone, found.locale)

        people = await asyncio.gather(*(
            person(u) for u in dict.fromkeys(ids)
            if u not in (self.installation.bot_user_id, SLACKBOT)
        ))  # fmt: skip
        return [p for p in people if p is not None]

    @property
    def web_api(self) -> WebApi:
        assert self.web is not None, "the Slack adapter has not started"
        return self.web

    async def inbound(self, said: payload.Said, *, job: _Job | None = None) -> Inbound:
        """The neutral command, in this installation's workspace. Mentions Slack sent
        without a name, and the asker, are looked up (bounded: see `profiles`)."""
        assert self.installation is not None
        user_id = said.user_id
        parsed = parse_text(said.raw_text, drop_user=self.installation.bot_user_id)
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
            channel_id=said.channel_id,
            channel_name=said.channel_name,
            user_id=user_id,
            user_name=me.name,
            user_timezone=me.timezone,
            user_locale=me.locale,
            text=parsed.text,
            mentions=mentions,
            event_id=said.event_id,
            also_ids=said.also_ids,
            direct=said.direct,
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
        said = payload.of_command(body)
        response_url = payload.text_of(body.get("response_url"))

        async def work(job: _Job) -> Reply | None:
            return await self._handled(await self.inbound(said, job=job))

        async def follow_up(reply: Reply) -> None:
            await self.out.respond(response_url, command_answer(reply))

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
        said = payload.of_mention(body, event)

        async def work(job: _Job) -> Reply | None:
            reply = await self._handled(await self.inbound(said))
            if reply is not None:
                await self.out.answer(channel=said.channel_id, user=said.user_id,
                                      reply=reply, thread_ts=payload.thread_of(event))  # fmt: skip
            return reply

        await self._within_ack(context, work, what="mention")

    async def _on_direct_message(
        self, body: dict[str, Any], event: dict[str, Any], context: Any
    ) -> None:
        """A message in the bot's DM runs as a command; the answer is posted into the DM."""
        assert self.installation is not None
        said = payload.of_direct_message(body, event, bot_user_id=self.installation.bot_user_id)
        if said is None:
            return

        async def work(job: _Job) -> Reply | None:
            reply = await self._handled(await self.inbound(said))
            if reply is not None:
                try:
                    await self.send(channel=said.channel_id, reply=reply, ping=True, kind="reply")
                except DeliveryError as err:
                    log.error("answering a DM failed: %s: %s", said.channel_id, err.what)
            return reply

        await self._within_ack(context, work, what="direct message")

    async def _on_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], context: Any
    ) -> None:
        if action["action_id"].startswith("tb:ask:"):
            await ack()
            self.background.spawn(self._ask(payload.form_of(body, action)), what="open form")
            return
        said = payload.of_button(body, action)
        where = payload.pressed(body)
        response_url = payload.text_of(body.get("response_url"))

        async def work(job: _Job) -> Reply | None:
            reply = await self._handled(await self.inbound(said))
            if reply is not None:
                await self.out.update(where, reply, response_url)
            return reply

        await self._within_ack(context, work, what="button press")
        await ack()

    async def _on_ask_submitted(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any
    ) -> None:
        await ack()
        said, where, response_url = payload.of_submission(body, view)

        async def work(job: _Job) -> Reply | None:
            reply = await self._handled(await self.inbound(said))
            if reply is not None:
                await self.out.update(where, reply, response_url)
            return reply

        await self._within_ack(context, work, what="form submission")

    async def _ask(self, form: payload.Form) -> None:
        """A button that needs a text first: its form, in the presser's language."""
        locale = pick_locale((await self.profile(form.user_id)).locale)
        await self.out.open_form(trigger_id=form.trigger_id, title=form.title,
                                 label=form.label, meta=form.meta, locale=locale,
                                 fields=form.fields)  # fmt: skip
