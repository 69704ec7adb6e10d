"""teambot in Feishu / Lark: commands in groups and one-to-one chats, interactive
cards, card callbacks, one-to-one notifications; HTTP callbacks or the long connection.

HTTP (`FEISHU_MODE=http`): `POST /feishu/events` checks every callback itself
(bot/feishu/verify.py): signature, decryption, verification token and a replay
window; a failed check answers 401 and changes nothing. A callback for another
app (`header.app_id`) or, once known, another tenant (`header.tenant_key`)
answers 403 and changes nothing. Messages are answered with 200 once their
command is stored, their replies sent right after.

Card callbacks are answered within Feishu's 3 s (CARD_BUDGET from the request's
arrival): with a toast and the updated card when the command is done by then;
else with the `common.working` toast, and the command runs on (it is never
cancelled): when it is done, the pressed card is updated through the message
update API (a result only the presser should see goes to them alone) and its
DMs and mirrors go out as usual.

Long connection (`FEISHU_MODE=ws`): lark-oapi's client runs in a thread of its
own with its own event loop (its `start()` blocks and runs a loop captured at
import time) and hands each event to our event loop, thread-safely; the same
checks and budgets apply.

Both paths end in `handle_event`, which claims event and message ids in the
database with the command, so redeliveries do nothing twice. Every message
create carries a `uuid`, so a retried send is never doubled either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.core import Background, Core
from bot.feishu.api import FeishuApi, FeishuApiError, uuid_for
from bot.feishu.render import FORM_KEYS, card, cards, plain
from bot.feishu.translate import command_of, object_of, text_of
from bot.feishu.verify import Rejected, Verifier
from bot.hub import DeliveryError, Hub, MemberRef, delivery_key
from bot.limits import MAX_BODY
from commands.i18n import Catalog
from commands.parsing import with_answer, with_answers
from commands.router import pick_locale
from commands.types import Inbound, Reply, Tone, Visibility

log = logging.getLogger(__name__)

PLATFORM = "feishu"
NAME_TTL = 3600.0
NAME_BUDGET = 1.0  # the most one request waits for a name, in all
CARD_BUDGET = 2.5  # Feishu waits 3 s for a card callback's answer
# Rate-limit waits a scheduled post takes itself; a longer one goes back to the
# clock (DeliveryError with retry_after), whose retries know when a post stops
# being useful. Replies, DMs and mirrors have nobody else to retry them: they wait.
SCHEDULED_WAIT = 5.0
TENANT_RETRY = 60.0
MESSAGE_ID = re.compile(r"om_[0-9A-Za-z_-]{1,120}")
CHAT_ID = re.compile(r"oc_[0-9A-Za-z_-]{1,120}")


class FeishuAdapter:
    name = PLATFORM

    def __init__(
        self,
        *,
        core: Core,
        catalog: Catalog,
        app_id: str,
        app_secret: str,
        verification_token: str,
        encrypt_key: str,
        domain: str,
        mode: str = "http",
        background: Background | None = None,
        hub: Hub | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.catalog = catalog
        self.app_id = app_id
        self.app_secret = app_secret
        self.mode = mode
        self.domain = domain
        self.verifier = Verifier(verification_token=verification_token, encrypt_key=encrypt_key)
        self.api = FeishuApi(
            app_id=app_id,
            app_secret=app_secret,
            domain=domain,
            on_wait=lambda seconds: core.metrics.rate_limited(platform=PLATFORM, seconds=seconds),
        )
        self.background = background or Background()
        self.hub = hub or Hub()
        self.hub.register(self)
        self.wall_clock = wall_clock
        self.bot_open_id: str | None = None
        # The tenant this app is installed in, once Feishu has said (see _learn_tenant).
        self.tenant_key: str | None = None
        # Events carry no language: people on Feishu (China) read Chinese until
        # the project chooses; on Lark (international) the project default holds.
        self.member_locale = "zh" if "feishu.cn" in domain else None
        self._names: dict[str, tuple[float, str]] = {}
        self._lookups: dict[str, asyncio.Task[str]] = {}
        self._tenant_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws_thread: threading.Thread | None = None
        self.ws_client: Any = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.api.start()
        try:
            self.bot_open_id = await self.api.bot_open_id()
        except FeishuApiError as err:
            log.error("Feishu bot info failed (code %s): group messages will be ignored", err.code)
        if not await self._learn_tenant():
            self._tenant_task = self._loop.create_task(self._keep_asking_the_tenant())
        if self.mode == "ws":
            self._ws_thread = threading.Thread(
                target=self._run_long_connection, name="feishu-ws", daemon=True
            )
            self._ws_thread.start()

    async def stop(self) -> None:
        if self._tenant_task is not None:
            self._tenant_task.cancel()
        await self.background.drain()
        for lookup in list(self._lookups.values()):
            lookup.cancel()  # nobody waits for a name any more
        self.api.close()

    async def send(
        self,
        *,
        channel: str,
        reply: Reply,
        ping: bool = False,
        kind: str = "post",
        dedupe_key: str | None = None,
    ) -> None:
        """A card into a group (or one to one, with an open_id); its picture, if any, is
        uploaded first and shown in the card. `dedupe_key` is the create's uuid. Raises
        DeliveryError when Feishu does not take it, and never apologises in its place."""
        id_type = "chat_id" if channel.startswith("oc_") else "open_id"
        budget = SCHEDULED_WAIT if kind == "scheduled" else math.inf
        try:
            image_key = await self._upload(reply, wait_budget=budget)
            await self._deliver(receive_id=channel, id_type=id_type, reply=reply, ping=ping,
                                uuid=uuid_for(dedupe_key) if dedupe_key else None,
                                image_key=image_key, kind=kind, wait_budget=budget)  # fmt: skip
        except FeishuApiError as err:
            raise undelivered(err) from None

    async def notify(self, *, user_id: str, reply: Reply, dedupe_key: str | None = None) -> None:
        """A card one to one; DeliveryError when Feishu does not take it."""
        try:
            image_key = await self._upload(reply)
            await self._deliver(receive_id=user_id, id_type="open_id", reply=reply, ping=True,
                                uuid=uuid_for(dedupe_key) if dedupe_key else None,
                                image_key=image_key, kind="dm")  # fmt: skip
        except FeishuApiError as err:
            raise undelivered(err) from None

    # -- HTTP callbacks --------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """POST /feishu/events for HTTP callbacks; none for the long connection."""
        if self.mode != "http":
            return []
        return [Route("/feishu/events", self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        """POST /feishu/events: URL verification, events and card callbacks."""
        started = time.monotonic()
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"msg": "too large"}, status_code=413)
        try:
            payload = self.verifier.open(request.headers, body, now=self.wall_clock())
        except Rejected as why:
            log.warning("Feishu callback refused: %s", why)
            return JSONResponse({"msg": "unauthorized"}, status_code=401)
        if payload.get("type") == "url_verification":
            return JSONResponse({"challenge": payload.get("challenge", "")})
        if not self._ours(payload):
            return JSONResponse({"msg": "forbidden"}, status_code=403)
        return JSONResponse(await self.handle_event(payload, started=started))

    def _ours(self, payload: dict[str, Any]) -> bool:
        """Whether a verified callback is for this installation: this app and, once known,
        this tenant. Feishu signs the callbacks of every tenant of an app alike."""
        if "header" not in payload:
            return True  # a v1 envelope or none: handle_event does nothing with it
        header = object_of(payload.get("header"))
        if header.get("app_id") != self.app_id:
            why = "another app"
        elif self.tenant_key is not None and header.get("tenant_key") != self.tenant_key:
            why = "another tenant"
        else:
            return True
        log.warning("Feishu callback refused: for %s (event %s)", why,
                    text_of(header.get("event_id"))[:64])  # fmt: skip
        return False

    # -- events, from either path -------------------------------------------------------

    async def handle_event(
        self, payload: dict[str, Any], *, started: float | None = None
    ) -> dict[str, Any]:
        """One verified event for this installation; the body Feishu is answered with.
        `started`: when it arrived (time.monotonic), the start of a card's budget."""
        started = time.monotonic() if started is None else started
        header = object_of(payload.get("header"))
        event = object_of(payload.get("event"))
        kind = header.get("event_type")
        try:
            if kind == "im.message.receive_v1":
                await self._on_message(header, event)
            elif kind == "card.action.trigger":
                return await self._on_card(header, event, deadline=started + CARD_BUDGET)
        except Exception:
            log.exception("Feishu event failed: %s %s", kind, header.get("event_id"))
            if kind == "card.action.trigger":
                return self._toast("error", "errors.apology")
        return {"msg": "success"}

    async def _on_message(self, header: dict[str, Any], event: dict[str, Any]) -> None:
        command = command_of(event, bot_open_id=self.bot_open_id)
        if command is None:
            return
        event_id = text_of(header.get("event_id")) or None
        inbound = Inbound(
            platform=PLATFORM,
            workspace_id=text_of(header.get("tenant_key")),
            workspace_name=text_of(header.get("tenant_key")),
            channel_id=command.chat_id,
            channel_name=command.chat_id,
            user_id=command.sender_open_id,
            user_name=await self.name_of(command.sender_open_id),
            user_locale=self.member_locale,
            text=command.text,
            mentions=command.mentions,
            event_id=event_id,
            also_ids=(f"message:{command.message_id}",) if command.message_id else (),
            direct=command.chat_type == "p2p",
        )
        reply = await self.core.handle(inbound)
        if reply is None:
            return
        uuid = uuid_for(f"reply-{command.message_id}") if command.message_id else None
        self.background.spawn(
            self._answer(command.chat_id, command.chat_type, command.sender_open_id, reply,
                         uuid=uuid),
            what="Feishu reply",
        )  # fmt: skip
        self.hub.deliver(reply, background=self.background, origin=event_id)

    async def _on_card(
        self, header: dict[str, Any], event: dict[str, Any], *, deadline: float
    ) -> dict[str, Any]:
        """A button or form: its command runs as the person who pressed it. Answered by
        `deadline`: with the result when it is done, else with the `working` toast while
        the command runs on and answers through the card later (_finish_late)."""
        action = object_of(event.get("action"))
        value = object_of(action.get("value"))
        command = text_of(value.get("command"))
        form_value = object_of(action.get("form_value"))
        answer = text_of(form_value.get("answer")).strip()
        keys = value.get(FORM_KEYS)
        operator = object_of(event.get("operator"))
        context = object_of(event.get("context"))
        chat_id = text_of(context.get("open_chat_id"))
        # A card sent one to one in a group's place (_to_presser) names that group: its
        # buttons act there. Only our own cards carry values (Feishu signs the callback).
        named = text_of(value.get("chat"))
        origin = named if CHAT_ID.fullmatch(named) and named != chat_id else None
        chat_id = origin or chat_id
        open_id = text_of(operator.get("open_id"))
        event_id = text_of(header.get("event_id")) or None
        if not command:
            return {}
        within = min(NAME_BUDGET, deadline - time.monotonic())
        inbound = Inbound(
            platform=PLATFORM,
            workspace_id=text_of(header.get("tenant_key")) or text_of(operator.get("tenant_key")),
            channel_id=chat_id,
            channel_name=chat_id,
            user_id=open_id,
            user_name=await self.name_of(open_id, within=within),
            user_locale=self.member_locale,
            text=with_answers(command, form_answers(keys, form_value))
            if isinstance(keys, list)
            else with_answer(command, answer),
            event_id=event_id,
        )
        job = asyncio.ensure_future(self.core.handle(inbound))
        await asyncio.wait({job}, timeout=max(0.0, deadline - time.monotonic()))
        if not job.done():
            message_id = text_of(context.get("open_message_id"))
            late = self._finish_late(job, chat_id=chat_id, open_id=open_id, event_id=event_id,
                                     message_id=message_id, origin=origin)  # fmt: skip
            self.background.spawn(late, what="Feishu card answered late")
            return self._toast("info", "common.working")
        reply = job.result()
        if reply is None:
            return {}
        self.hub.deliver(reply, background=self.background, origin=event_id)
        toast = plain(reply.title)[:100]
        if shown_in_chat(reply):
            return {
                "toast": {"type": "success", "content": toast},
                "card": {"type": "raw", "data": card(reply, origin=origin)},
            }
        return {
            "toast": {"type": "error" if reply.tone is Tone.ERROR else "info", "content": toast}
        }

    async def _finish_late(
        self, job: asyncio.Future[Reply | None], *, chat_id: str, open_id: str,
        event_id: str | None, message_id: str, origin: str | None = None,
    ) -> None:  # fmt: skip
        """A press answered with `working`: when its command is done, its DMs and mirrors,
        and its result in the pressed card (or, for the presser only, ephemeral).
        `origin`: the group a one-to-one card pressed acts in (`chat_id` then)."""
        reply = await job
        if reply is None:
            return
        self.hub.deliver(reply, background=self.background, origin=event_id)
        uuid = delivery_key("card", event_id) if event_id else None
        if not shown_in_chat(reply):
            await self._answer(chat_id, "group", open_id, reply, uuid=uuid, privately=True)
            return
        if MESSAGE_ID.fullmatch(message_id):
            try:
                with self.core.metrics.posting(platform=PLATFORM, kind="reply"):
                    await self.api.update_card(message_id, card(reply, origin=origin))
                return
            except FeishuApiError as err:
                # Not a card of ours, older than 14 days, gone: the result is posted anew.
                log.warning("Feishu card update failed (code %s): %s; posting it anew",
                            err.code, err.msg)  # fmt: skip
        await self._answer(chat_id, "group", open_id, reply, uuid=uuid)

    def _toast(self, kind: str, key: str) -> dict[str, Any]:
        """A toast of our own wording, in the language people here read before their
        project is known (the answer cannot wait for the database)."""
        locale = pick_locale(self.member_locale, self.core.router.defaults.locale)
        return {"toast": {"type": kind, "content": plain(self.catalog.text(locale, key))[:100]}}

    # -- sending ---------------------------------------------------------------------------

    async def _answer(
        self, chat_id: str, chat_type: str, open_id: str, reply: Reply, *, uuid: str | None,
        privately: bool = False,
    ) -> None:  # fmt: skip
        """The reply to a person's own command: into the chat, or to them alone (an
        ephemeral card, else one to one). When Feishu does not take it, one apology."""
        alone = privately or reply.visibility is Visibility.EPHEMERAL
        try:
            if alone and chat_type != "p2p":
                await self._to_presser(chat_id, open_id, reply, uuid=uuid)
                return
            await self._deliver(receive_id=chat_id, id_type="chat_id", reply=reply, ping=alone,
                                uuid=uuid, kind="reply")  # fmt: skip
        except FeishuApiError as err:
            log.error("Feishu reply failed (code %s): %s", err.code, err.msg)
            sorry = delivery_key("apology", uuid) if uuid else None
            if alone and chat_type != "p2p":
                await self._apologise(open_id, "open_id", uuid=sorry)
            else:
                await self._apologise(chat_id, "chat_id", uuid=sorry)

    async def _to_presser(
        self, chat_id: str, open_id: str, reply: Reply, *, uuid: str | None
    ) -> None:
        try:
            with self.core.metrics.posting(platform=PLATFORM, kind="reply"):
                await self.api.send_ephemeral(
                    chat_id=chat_id, open_id=open_id, card=card(reply, ping=True)
                )
            return
        except FeishuApiError as err:
            # Without the permission, or in a topic group (which takes no ephemeral
            # cards), the asker's one-to-one chat is the next most private place; its
            # buttons carry the group, so a press there acts on the group's project.
            log.warning("Feishu ephemeral card failed (code %s): %s; sending one to one",
                        err.code, err.msg)  # fmt: skip
        image_key = await self._upload(reply)
        await self._deliver(receive_id=open_id, id_type="open_id", reply=reply, ping=True,
                            uuid=delivery_key(uuid, "one to one") if uuid else None,
                            image_key=image_key, kind="dm", origin=chat_id)  # fmt: skip

    async def _upload(self, reply: Reply, *, wait_budget: float = math.inf) -> str | None:
        """The image_key of the reply's picture; None (the card goes without) on failure."""
        if reply.image is None:
            return None
        try:
            return await self.api.upload_image(reply.image.png, wait_budget=wait_budget)
        except FeishuApiError as err:
            log.error("Feishu image upload failed (code %s): %s", err.code, err.msg)
            return None

    async def _deliver(
        self, *, receive_id: str, id_type: str, reply: Reply, ping: bool, uuid: str | None,
        image_key: str | None = None, kind: str, wait_budget: float = math.inf,
        origin: str | None = None,
    ) -> None:  # fmt: skip
        """The reply as one message, or as several when one card cannot hold it
        (render.cards): the first keeps `uuid`, the n-th a uuid derived from it, so a
        retried delivery creates none of them twice."""
        parts = cards(reply, ping=ping, image_key=image_key, origin=origin)
        with self.core.metrics.posting(platform=PLATFORM, kind=kind):
            for n, content in enumerate(parts, start=1):
                await self.api.send(
                    receive_id=receive_id, id_type=id_type, msg_type="interactive",
                    content=content, uuid=part_uuid(uuid, n), wait_budget=wait_budget,
                )  # fmt: skip

    async def _apologise(self, receive_id: str, id_type: str, *, uuid: str | None) -> None:
        """A short apology in both languages (the card itself could not be sent)."""
        text = " / ".join(
            plain(self.catalog.text(locale, "errors.apology")) for locale in ("zh", "en")
        )
        try:
            await self.api.send(receive_id=receive_id, id_type=id_type, msg_type="text",
                                content={"text": text}, uuid=uuid)  # fmt: skip
        except FeishuApiError as err:
            log.error("Feishu apology failed too (code %s): %s", err.code, err.msg)

    # -- identity ----------------------------------------------------------------------------

    async def name_of(self, open_id: str, *, within: float = NAME_BUDGET) -> str:
        """A member's name from the contact API, cached for an hour; "" (the id stands in)
        when Feishu has not said within `within` seconds or could not say. One look-up per
        person at a time; a failure that may pass (a 5xx, a time-out) is not remembered."""
        if not open_id:
            return ""
        cached = self._names.get(open_id)
        if cached is not None and time.monotonic() - cached[0] < NAME_TTL:
            return cached[1]
        lookup = self._lookups.get(open_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(open_id))
            self._lookups[open_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(open_id, None))
        await asyncio.wait({lookup}, timeout=max(0.0, within))
        if not lookup.done():
            log.info("Feishu user name lookup for %s took too long", open_id)
            return ""
        return lookup.result()

    async def _look_up(self, open_id: str) -> str:
        try:
            name = await self.api.user_name(open_id)
        except FeishuApiError as err:
            if err.transient:
                log.info("Feishu user name lookup for %s failed (code %s, HTTP %s)",
                         open_id, err.code, err.status)  # fmt: skip
                return ""
            log.info("Feishu user name unavailable for %s (code %s)", open_id, err.code)
            name = ""
        self._names[open_id] = (time.monotonic(), name)
        return name

    async def channel_members(self, channel_id: str) -> list[MemberRef] | None:
        """A group's people (Feishu lists no bots); None for a one-to-one chat, or when
        Feishu refuses (the permission missing, the bot not in the group); a transient
        failure is raised as DeliveryError (the refresher tries again later)."""
        if not channel_id.startswith("oc_"):
            return None
        try:
            found = await self.api.chat_members(channel_id)
        except FeishuApiError as err:
            if err.transient:
                raise undelivered(err) from None
            log.warning("Feishu chat members refused for %s (code %s): %s",
                        channel_id, err.code, err.msg)  # fmt: skip
            return None
        now = time.monotonic()
        for open_id, name in found:
            if name:
                self._names[open_id] = (now, name)
        return [
            MemberRef(open_id, name)
            for open_id, name in dict(found).items()
            if open_id != self.bot_open_id
        ]

    async def _learn_tenant(self) -> bool:
        """Ask Feishu which tenant this app is installed in, to refuse callbacks of any
        other; True once that is settled (known, or not allowed to be asked)."""
        try:
            self.tenant_key = await self.api.tenant_key() or None
        except FeishuApiError as err:
            if err.transient:
                log.warning("Feishu tenant query failed for now (code %s, HTTP %s): "
                            "asking again in %d s", err.code, err.status, TENANT_RETRY)  # fmt: skip
                return False
            log.warning(
                "Feishu tenant not pinned (code %s): grant the app the permission "
                "tenant:tenant:readonly to refuse callbacks of other tenants; until then "
                "callbacks are checked by signature, token and app id", err.code,
            )  # fmt: skip
            return True
        if self.tenant_key is None:
            log.warning("Feishu tenant query answered no tenant_key: callbacks not pinned")
        else:
            log.info("Feishu tenant pinned: %s", self.tenant_key)
        return True

    async def _keep_asking_the_tenant(self) -> None:
        while True:
            await asyncio.sleep(TENANT_RETRY)
            if await self._learn_tenant():
                return

    # -- the long connection ------------------------------------------------------------------

    def _run_long_connection(self) -> None:
        """The ws thread: lark-oapi's client with a loop of its own, events to our loop."""
        import lark_oapi as lark
        from lark_oapi.ws import client as ws_module

        # The SDK took an event loop when it was first imported (maybe the
        # server's, already running); its client must run on this thread's.
        own = asyncio.new_event_loop()
        asyncio.set_event_loop(own)
        ws_module.loop = own
        handler = (
            lark.EventDispatcherHandler.builder("", "")
            .register_p2_im_message_receive_v1(self._from_long_connection)
            .register_p2_card_action_trigger(self._card_from_long_connection)
            .build()
        )
        self.ws_client = lark.ws.Client(
            self.app_id, self.app_secret, event_handler=handler, domain=self.domain,
            log_level=lark.LogLevel.INFO,
        )  # fmt: skip
        try:
            self.ws_client.start()
        except Exception:
            log.exception("Feishu long connection stopped")

    def _to_loop(self, data: Any) -> concurrent.futures.Future[dict[str, Any]]:
        import lark_oapi as lark

        started = time.monotonic()
        payload = json.loads(lark.JSON.marshal(data))
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self._from_sdk(payload, started), self._loop)

    async def _from_sdk(self, payload: dict[str, Any], started: float) -> dict[str, Any]:
        if not self._ours(payload):
            return {}
        return await self.handle_event(payload, started=started)

    def _from_long_connection(self, data: Any) -> None:
        self._to_loop(data)  # the SDK wants the handler back quickly; the loop does the work

    def _card_from_long_connection(self, data: Any) -> Any:
        from lark_oapi.event.callback.model.p2_card_action_trigger import (
            P2CardActionTriggerResponse,
        )

        future = self._to_loop(data)
        try:
            answer = future.result(timeout=CARD_BUDGET + 0.4)
        except concurrent.futures.TimeoutError:
            # Our loop is too busy to answer in time: Feishu still gets a documented body.
            log.warning("Feishu card callback over the long connection answered late")
            answer = self._toast("info", "common.working")
        return P2CardActionTriggerResponse(answer)


def part_uuid(uuid: str | None, n: int) -> str | None:
    """The uuid of the n-th message of a reply split across several."""
    if uuid is None or n == 1:
        return uuid
    return uuid_for(f"{uuid}#{n}")


def shown_in_chat(reply: Reply) -> bool:
    """A result the whole chat sees (the card a press updates), not one for the presser."""
    return reply.visibility is Visibility.CHANNEL and reply.tone is not Tone.ERROR


def undelivered(err: FeishuApiError) -> DeliveryError:
    return DeliveryError(
        PLATFORM, f"{err.uri}: HTTP {err.status} code {err.code} {err.msg}"[:300],
        transient=err.transient, retry_after=err.retry_after,
    )  # fmt: skip


_FORM_KEY = re.compile(r"[A-Za-z0-9]{1,8}")


def form_answers(keys: list[Any], form_value: dict[str, Any]) -> list[tuple[str, str]]:
    """A form of several fields (render._form): each input's text with its key; keys that
    are not ours (short words) are dropped."""
    return [
        (key, text_of(form_value.get(f"answer_{n}")))
        for n, key in enumerate(keys, start=1)
        if isinstance(key, str) and _FORM_KEY.fullmatch(key)
    ]
