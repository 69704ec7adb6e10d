"""Feishu Open API calls through lark-oapi's client, off the event loop.

lark-oapi is imported (3.8 s, ~175 MB) only when a Feishu adapter starts, in
a worker thread. Its client is synchronous (its async calls still fetch the
tenant token with a blocking request), so each request runs in our own thread
pool. Name look-ups have a pool and a client (with a shorter time-out) of their
own: a slow contact API never holds up a message.

A request is one attempt; what Feishu answers decides what follows:
- a rate limit (HTTP 429, code 99991400 for the app's per-API limits, or code
  230020 with HTTP 400 for five messages a second to one chat or person) is
  waited out for `x-ogw-ratelimit-reset` seconds (1 s when absent, MAX_WAIT at
  most) and tried again, while the caller's `wait_budget` lasts; then
  FeishuApiError, transient, with `retry_after`. The wait happens on the event
  loop, so a caller that gives up stops waiting too.
- a 5xx, an answer that is not a JSON object (a gateway's HTML page), a time-out
  or a refused connection: FeishuApiError, transient, not retried here (whoever
  sends decides: the clock retries its posts).
- any other non-zero code: FeishuApiError, not transient.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from bot.hub import delivery_key
from bot.retry import MAX_WAIT, RetryPolicy, TryAgain, Why

log = logging.getLogger(__name__)

RATE_LIMITS = frozenset({99991400, 230020})
# Feishu's limits are per second and per minute, and x-ogw-ratelimit-reset counts
# the seconds to the end of the window: up to 60 (the documented example is 52).
# A longer value cannot be a window's reset; it is taken as 60. A request is tried
# four times at most; nothing else is retried here.
POLICY = RetryPolicy(rate_limited=3, unreached=0, max_wait=MAX_WAIT)
TIMEOUT = 10.0
LOOKUP_TIMEOUT = 3.0
UUID_MAX = 50  # message create refuses a longer uuid
IMAGES = "/open-apis/im/v1/images"
MESSAGES = "/open-apis/im/v1/messages"
TOKEN = "/open-apis/auth/v3/tenant_access_token/internal"
CHAT_MEMBERS = "/open-apis/im/v1/chats/:chat_id/members"
MEMBER_PAGE = 100  # the most a page of chat members holds
MAX_MEMBER_PAGES = 100


class FeishuApiError(Exception):
    """A request Feishu did not answer with code 0. `transient`: worth trying again
    later; `retry_after`: the seconds Feishu asked to wait (rate limits)."""

    def __init__(
        self, code: int | None, msg: str, uri: str, *, status: int | None = None,
        transient: bool = False, retry_after: float | None = None,
    ) -> None:  # fmt: skip
        super().__init__(f"{uri}: status={status} code={code} msg={msg}")
        self.code = code
        self.msg = msg
        self.uri = uri
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


def uuid_for(key: str) -> str:
    """A message create's `uuid` for an idempotency key: the key itself when it fits in
    Feishu's 50 characters, else a digest of it (never a cut-off key, which could collide)."""
    return key if len(key) <= UUID_MAX else delivery_key(key)


def reset_seconds(headers: dict[str, str]) -> float:
    """The wait a rate-limited answer asks for, from x-ogw-ratelimit-reset."""
    try:
        wait = float(headers.get("x-ogw-ratelimit-reset") or 1)
    except ValueError:
        wait = 1.0
    return min(max(wait, 0.0), MAX_WAIT) if math.isfinite(wait) else MAX_WAIT


class FeishuApi:
    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        domain: str,
        workers: int = 8,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.domain = domain
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feishu-api")
        self.lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="feishu-lookup")
        self._client: Any = None
        self._lookup_client: Any = None
        self.rate_limit_waits = 0
        self.on_wait = on_wait  # told the seconds of each rate-limit wait (metrics)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self._build)

    def _build(self) -> None:
        import lark_oapi as lark

        def client(timeout: float) -> Any:
            return (
                lark.Client.builder()
                .app_id(self.app_id)
                .app_secret(self.app_secret)
                .domain(self.domain)
                .timeout(timeout)
                .log_level(lark.LogLevel.WARNING)
                .build()
            )

        self._client = client(TIMEOUT)
        self._lookup_client = client(LOOKUP_TIMEOUT)

    def close(self) -> None:
        self.lookups.shutdown(wait=True, cancel_futures=True)  # names nobody waits for
        self.executor.shutdown(wait=True)

    # -- one request, and its attempts ------------------------------------------------------

    async def call(
        self, method: str, uri: str, *, body: Any = None, query: dict[str, str] | None = None,
        paths: dict[str, str] | None = None, wait_budget: float = math.inf, lookup: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """One Open API request (`paths` fill `:name` parts of `uri`, URL-encoded)."""
        import lark_oapi as lark

        def perform() -> Any:
            builder = (
                lark.BaseRequest.builder()
                .http_method(getattr(lark.HttpMethod, method))
                .uri(uri)
                .token_types({lark.AccessTokenType.TENANT})
            )
            if paths:
                builder = builder.paths(paths)
            if query:
                builder = builder.queries(list(query.items()))
            if body is not None:
                builder = builder.body(body)
            client = self._lookup_client if lookup else self._client
            return client.request(builder.build())

        executor = self.lookups if lookup else self.executor
        return await self._attempts(uri, perform, executor=executor, wait_budget=wait_budget)

    async def _attempts(
        self, uri: str, perform: Callable[[], Any], *, executor: Executor, wait_budget: float
    ) -> dict[str, Any]:
        """`perform` (which builds its request afresh each time) until it is answered,
        waiting out rate limits (bot.retry) while `wait_budget` seconds of waiting last."""
        loop = asyncio.get_running_loop()

        async def attempt() -> dict[str, Any]:
            try:
                return await loop.run_in_executor(executor, self._once, uri, perform)
            except FeishuApiError as err:
                if err.retry_after is None:
                    raise
                log.warning("Feishu rate limit on %s: asked to wait %.1f s", uri, err.retry_after)
                raise TryAgain(Why.RATE_LIMITED, err, after=err.retry_after) from None

        return await POLICY.but(wait_budget=wait_budget).run(attempt, on_wait=self._waited)

    def _waited(self, why: Why, seconds: float) -> None:
        self.rate_limit_waits += 1
        if self.on_wait is not None:
            self.on_wait(seconds)

    @staticmethod
    def _once(uri: str, perform: Callable[[], Any]) -> dict[str, Any]:
        """One attempt, in a worker thread: the answer's JSON, or FeishuApiError."""
        import requests
        from lark_oapi.core.exception import ObtainAccessTokenException

        try:
            response = perform()
        except ObtainAccessTokenException as err:
            # The SDK fetches the tenant token inside the call and raises its own error.
            code = err.code if isinstance(err.code, int) else None
            transient = code is None or code in RATE_LIMITS
            raise FeishuApiError(code, str(err.msg), TOKEN, transient=transient) from None
        except requests.RequestException as err:
            raise FeishuApiError(None, type(err).__name__, uri, transient=True) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            # lark-oapi parses some answers itself (the token's, a typed API's, any
            # labelled JSON) and raises on a body that is not.
            raise FeishuApiError(None, "the answer is not JSON", uri, transient=True) from None
        raw = response.raw
        status = raw.status_code if raw is not None else None
        try:
            data = json.loads(raw.content) if raw is not None else None
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise FeishuApiError(None, "the answer is not JSON", uri, status=status,
                                 transient=True)  # fmt: skip
        code = data.get("code")
        msg = str(data.get("msg", ""))
        if status == 429 or code in RATE_LIMITS:
            headers = {k.lower(): v for k, v in (raw.headers or {}).items()}
            raise FeishuApiError(code, msg, uri, status=status, transient=True,
                                 retry_after=reset_seconds(headers))  # fmt: skip
        if status is not None and status >= 500:
            raise FeishuApiError(code, msg, uri, status=status, transient=True)
        if code != 0:
            raise FeishuApiError(code if isinstance(code, int) else None, msg, uri, status=status)
        return data

    # -- the calls teambot makes ----------------------------------------------------

    async def send(
        self, *, receive_id: str, id_type: str, msg_type: str, content: dict[str, Any],
        uuid: str | None = None, wait_budget: float = math.inf,
    ) -> dict[str, Any]:  # fmt: skip
        """Create a message; the same `uuid` (at most 50 characters) sends at most one
        message within an hour, so a retried create is never doubled."""
        body: dict[str, Any] = {
            "receive_id": receive_id,
            "msg_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if uuid:
            if len(uuid) > UUID_MAX:
                raise ValueError("a message uuid has at most 50 characters")
            body["uuid"] = uuid
        return await self.call(
            "POST", MESSAGES, body=body, query={"receive_id_type": id_type},
            wait_budget=wait_budget,
        )  # fmt: skip

    async def update_card(self, message_id: str, card: dict[str, Any]) -> None:
        """Replace a card this app sent (with `update_multi`, within 14 days) for everyone."""
        body = {"content": json.dumps(card, ensure_ascii=False)}
        await self.call("PATCH", MESSAGES + "/:message_id", body=body,
                        paths={"message_id": message_id})  # fmt: skip

    async def upload_image(self, png: bytes, *, wait_budget: float = math.inf) -> str:
        """Upload a picture for messages and cards; its image_key."""
        from lark_oapi.api.im.v1 import CreateImageRequest, CreateImageRequestBody

        def perform() -> Any:
            # The SDK turns the body into a multipart stream that is read once.
            body = (
                CreateImageRequestBody.builder()
                .image_type("message")
                .image(io.BytesIO(png))
                .build()
            )
            request = CreateImageRequest.builder().request_body(body).build()
            return self._client.im.v1.image.create(request)

        data = await self._attempts(
            IMAGES, perform, executor=self.executor, wait_budget=wait_budget
        )
        key = _object(data.get("data")).get("image_key")
        if not key:
            raise FeishuApiError(None, "no image_key in the answer", IMAGES)
        return str(key)

    async def send_ephemeral(
        self, *, chat_id: str, open_id: str, card: dict[str, Any], wait_budget: float = math.inf
    ) -> None:
        """A card only one member of a group sees (Feishu's ephemeral card)."""
        body = {"chat_id": chat_id, "open_id": open_id, "msg_type": "interactive", "card": card}
        await self.call("POST", "/open-apis/ephemeral/v1/send", body=body, wait_budget=wait_budget)

    async def bot_open_id(self) -> str:
        data = await self.call("GET", "/open-apis/bot/v3/info")
        return str(_object(data.get("bot")).get("open_id") or "")

    async def tenant_key(self) -> str:
        """The tenant this app is installed in (needs the permission tenant:tenant:readonly)."""
        data = await self.call("GET", "/open-apis/tenant/v2/tenant/query", wait_budget=5.0)
        key = _object(_object(data.get("data")).get("tenant")).get("tenant_key")
        return key if isinstance(key, str) else ""

    async def chat_members(self, chat_id: str) -> list[tuple[str, str]]:
        """(open_id, name) of each member of a group, page by page (needs one of im:chat,
        im:chat:readonly, im:chat.group_info:readonly, im:chat.members:read). Feishu leaves
        the group's bots out itself."""
        found: list[tuple[str, str]] = []
        token = ""
        for _ in range(MAX_MEMBER_PAGES):
            query = {"member_id_type": "open_id", "page_size": str(MEMBER_PAGE)}
            if token:
                query["page_token"] = token
            data = _object((await self.call(
                "GET", CHAT_MEMBERS, paths={"chat_id": chat_id}, query=query, wait_budget=30.0,
            )).get("data"))  # fmt: skip
            for item in data.get("items") or ():
                item = _object(item)
                open_id = item.get("member_id")
                if isinstance(open_id, str) and open_id:
                    found.append((open_id, str(item.get("name") or "")))
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                break
        return found

    async def user_name(self, open_id: str) -> str:
        """A member's name; asked once, never waiting out a rate limit."""
        data = await self.call(
            "GET", "/open-apis/contact/v3/users/:user_id", paths={"user_id": open_id},
            query={"user_id_type": "open_id"}, wait_budget=0.0, lookup=True,
        )  # fmt: skip
        return str(_object(_object(data.get("data")).get("user")).get("name") or "")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
