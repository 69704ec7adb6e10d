"""teambot in Feishu / Lark: commands in groups and one-to-one chats, interactive
cards, card callbacks, one-to-one notifications; HTTP callbacks or the long connection.

HTTP (`FEISHU_MODE=http`): `POST /feishu/events` checks every callback itself
(bot/feishu/verify.py): signature, decryption, verification token and a replay
window; a failed check answers 401 and changes nothing. Messages are answered
at once with 200 and their replies sent right after; card callbacks are
answered in the HTTP response itself (Feishu waits 3 s), with the updated card.

Long connection (`FEISHU_MODE=ws`): lark-oapi's client runs in a thread of its
own with its own event loop (its `start()` blocks and runs a loop captured at
import time) and hands each event to our event loop, thread-safely.

Both paths end in `handle_event`, which claims event and message ids in the
database with the command, so redeliveries do nothing twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.core import Background, Core
from bot.feishu.api import FeishuApi, FeishuApiError
from bot.feishu.render import card, plain
from bot.feishu.translate import command_of, object_of, text_of
from bot.feishu.verify import Rejected, Verifier
from bot.hub import DeliveryError, Hub
from bot.limits import MAX_BODY
from commands.i18n import Catalog
from commands.types import Inbound, Reply, Tone, Visibility

log = logging.getLogger(__name__)

PLATFORM = "feishu"
NAME_TTL = 3600.0
NAME_TIMEOUT = 1.0
CARD_TIMEOUT = 2.5  # Feishu waits 3 s for a card callback's answer
# Worth the same message again later: no JSON answer or no answer at all (code None),
# "the server is busy" (230020) and a rate limit still in force (99991400).
TRANSIENT_CODES = frozenset({230020, 99991400})


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
        # Events carry no language: people on Feishu (China) read Chinese until
        # the project chooses; on Lark (international) the project default holds.
        self.member_locale = "zh" if "feishu.cn" in domain else None
        self._names: dict[str, tuple[float, str]] = {}
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
        if self.mode == "ws":
            self._ws_thread = threading.Thread(
                target=self._run_long_connection, name="feishu-ws", daemon=True
            )
            self._ws_thread.start()

    async def stop(self) -> None:
        await self.background.drain()
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
        """A card into a group (or one to one, with an open_id); its picture, if any,
        is uploaded first and shown in the card."""
        id_type = "chat_id" if channel.startswith("oc_") else "open_id"
        image_key = await self._upload(reply)
        await self._deliver(receive_id=channel, id_type=id_type, reply=reply, ping=ping,
                            uuid=dedupe_key, image_key=image_key, kind=kind)  # fmt: skip

    async def notify(self, *, user_id: str, reply: Reply, dedupe_key: str | None = None) -> None:
        image_key = await self._upload(reply)
        await self._deliver(receive_id=user_id, id_type="open_id", reply=reply, ping=True,
                            uuid=None, image_key=image_key, kind="dm")  # fmt: skip

    # -- HTTP callbacks --------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        """POST /feishu/events: URL verification, events and card callbacks."""
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
        return JSONResponse(await self.handle_event(payload))

    # -- events, from either path -------------------------------------------------------

    async def handle_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        header = object_of(payload.get("header"))
        event = object_of(payload.get("event"))
        kind = header.get("event_type")
        try:
            if kind == "im.message.receive_v1":
                await self._on_message(header, event)
            elif kind == "card.action.trigger":
                return await self._on_card(header, event)
        except Exception:
            log.exception("Feishu event failed: %s %s", kind, header.get("event_id"))
        return {"msg": "success"}

    async def _on_message(self, header: dict[str, Any], event: dict[str, Any]) -> None:
        command = command_of(event, bot_open_id=self.bot_open_id)
        if command is None:
            return
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
            event_id=text_of(header.get("event_id")) or None,
            also_ids=(f"message:{command.message_id}",) if command.message_id else (),
        )
        reply = await self.core.handle(inbound)
        if reply is None:
            return
        self.background.spawn(
            self._answer(command.chat_id, command.chat_type, command.sender_open_id, reply,
                         uuid=f"reply-{command.message_id}"),
            what="Feishu reply",
        )  # fmt: skip
        self.hub.deliver(reply, background=self.background)

    async def _on_card(self, header: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        """A button or form: run its command as the person who pressed it, answer in 3 s."""
        action = object_of(event.get("action"))
        command = text_of(object_of(action.get("value")).get("command"))
        answer = text_of(object_of(action.get("form_value")).get("answer")).strip()
        operator = object_of(event.get("operator"))
        chat_id = text_of(object_of(event.get("context")).get("open_chat_id"))
        if not command:
            return {}
        inbound = Inbound(
            platform=PLATFORM,
            workspace_id=text_of(header.get("tenant_key")) or text_of(operator.get("tenant_key")),
            channel_id=chat_id,
            channel_name=chat_id,
            user_id=text_of(operator.get("open_id")),
            user_name=await self.name_of(text_of(operator.get("open_id"))),
            user_locale=self.member_locale,
            text=f"{command} {answer}".strip(),
            event_id=text_of(header.get("event_id")) or None,
        )
        reply = await asyncio.wait_for(self.core.handle(inbound), CARD_TIMEOUT)
        if reply is None:
            return {}
        self.hub.deliver(reply, background=self.background)
        toast = plain(reply.title)[:100]
        if reply.visibility is Visibility.CHANNEL and reply.tone is not Tone.ERROR:
            return {
                "toast": {"type": "success", "content": toast},
                "card": {"type": "raw", "data": card(reply)},
            }
        return {
            "toast": {"type": "error" if reply.tone is Tone.ERROR else "info", "content": toast}
        }

    # -- sending ---------------------------------------------------------------------------

    async def _answer(
        self, chat_id: str, chat_type: str, open_id: str, reply: Reply, *, uuid: str
    ) -> None:
        if reply.visibility is Visibility.EPHEMERAL and chat_type != "p2p":
            try:
                with self.core.metrics.posting(platform=PLATFORM, kind="reply"):
                    await self.api.send_ephemeral(
                        chat_id=chat_id, open_id=open_id, card=card(reply, ping=True)
                    )
                return
            except FeishuApiError as err:
                # Without the ephemeral-card permission, the asker's one-to-one
                # chat is the next most private place.
                log.warning("Feishu ephemeral card failed (code %s): %s; sending one to one",
                            err.code, err.msg)  # fmt: skip
                await self.notify(user_id=open_id, reply=reply)
                return
        ping = reply.visibility is Visibility.EPHEMERAL
        await self._deliver(
            receive_id=chat_id, id_type="chat_id", reply=reply, ping=ping, uuid=uuid, kind="reply"
        )

    async def _upload(self, reply: Reply) -> str | None:
        """The image_key of the reply's picture; None (the card goes without) on failure."""
        if reply.image is None:
            return None
        try:
            return await self.api.upload_image(reply.image.png)
        except FeishuApiError as err:
            log.error("Feishu image upload failed (code %s): %s", err.code, err.msg)
            return None

    async def _deliver(
        self, *, receive_id: str, id_type: str, reply: Reply, ping: bool, uuid: str | None,
        image_key: str | None = None, kind: str,
    ) -> None:  # fmt: skip
        try:
            with self.core.metrics.posting(platform=PLATFORM, kind=kind):
                await self.api.send(
                    receive_id=receive_id, id_type=id_type, msg_type="interactive",
                    content=card(reply, ping=ping, image_key=image_key), uuid=uuid,
                )  # fmt: skip
        except FeishuApiError as err:
            if kind == "scheduled":  # the clock retries or records it; never an apology
                transient = err.code is None or err.code in TRANSIENT_CODES
                raise DeliveryError(PLATFORM, f"code {err.code}", transient=transient) from None
            log.error("Feishu send failed (code %s): %s", err.code, err.msg)
            await self._apologise(receive_id, id_type)

    async def _apologise(self, receive_id: str, id_type: str) -> None:
        """A short apology in both languages (the card itself could not be sent)."""
        text = " / ".join(
            plain(self.catalog.text(locale, "errors.apology")) for locale in ("zh", "en")
        )
        try:
            await self.api.send(receive_id=receive_id, id_type=id_type, msg_type="text",
                                content={"text": text})  # fmt: skip
        except FeishuApiError as err:
            log.error("Feishu apology failed too (code %s): %s", err.code, err.msg)

    # -- identity ----------------------------------------------------------------------------

    async def name_of(self, open_id: str) -> str:
        """A member's name from the contact API, cached for an hour ("" if not allowed)."""
        if not open_id:
            return ""
        cached = self._names.get(open_id)
        if cached is not None and time.monotonic() - cached[0] < NAME_TTL:
            return cached[1]
        try:
            # Feishu waits 3 s for the answer to a callback: a slow or rate-limited
            # lookup must not hold it up (the name is filled in on a later command).
            name = await asyncio.wait_for(self.api.user_name(open_id), NAME_TIMEOUT)
        except FeishuApiError as err:
            log.info("Feishu user name unavailable for %s (code %s)", open_id, err.code)
            name = ""
        except TimeoutError:
            log.info("Feishu user name lookup for %s took too long", open_id)
            return ""
        self._names[open_id] = (time.monotonic(), name)
        return name

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

        payload = json.loads(lark.JSON.marshal(data))
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self.handle_event(payload), self._loop)

    def _from_long_connection(self, data: Any) -> None:
        self._to_loop(data)  # the SDK wants the handler back quickly; the loop does the work

    def _card_from_long_connection(self, data: Any) -> Any:
        from lark_oapi.event.callback.model.p2_card_action_trigger import (
            P2CardActionTriggerResponse,
        )

        answer = self._to_loop(data).result(timeout=CARD_TIMEOUT + 0.4)
        return P2CardActionTriggerResponse(answer)
