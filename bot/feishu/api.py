"""Feishu Open API calls through lark-oapi's client, off the event loop.

lark-oapi is imported (3.8 s, ~175 MB) only when a Feishu adapter starts, in
a worker thread. Its client is synchronous (its async calls still fetch the
tenant token with a blocking request), so every call runs in our own thread
pool. Rate limits (HTTP 429 or code 99991400) are waited out for
`x-ogw-ratelimit-reset` seconds and retried; other errors raise
`FeishuApiError` with Feishu's code.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

RATE_LIMITED = 99991400
MAX_ATTEMPTS = 4
MAX_WAIT = 30.0
IMAGES = "/open-apis/im/v1/images"
TOKEN = "/open-apis/auth/v3/tenant_access_token/internal"


class FeishuApiError(Exception):
    def __init__(self, code: int | None, msg: str, uri: str) -> None:
        super().__init__(f"{uri}: code={code} msg={msg}")
        self.code = code
        self.msg = msg


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
        self._client: Any = None
        self.rate_limit_waits = 0
        self.on_wait = on_wait  # told the seconds of each rate-limit wait (metrics)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self._build)

    def _build(self) -> None:
        import lark_oapi as lark

        self._client = (
            lark.Client.builder()
            .app_id(self.app_id)
            .app_secret(self.app_secret)
            .domain(self.domain)
            .timeout(10)
            .log_level(lark.LogLevel.WARNING)
            .build()
        )

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    async def call(
        self, method: str, uri: str, *, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._call, method, uri, body, query)

    def _call(
        self, method: str, uri: str, body: Any, query: dict[str, str] | None
    ) -> dict[str, Any]:
        import lark_oapi as lark

        def perform() -> Any:
            builder = (
                lark.BaseRequest.builder()
                .http_method(getattr(lark.HttpMethod, method))
                .uri(uri)
                .token_types({lark.AccessTokenType.TENANT})
            )
            if query:
                builder = builder.queries(list(query.items()))
            if body is not None:
                builder = builder.body(body)
            return self._client.request(builder.build())

        return self._retried(uri, perform)

    def _retried(self, uri: str, perform: Callable[[], Any]) -> dict[str, Any]:
        """Run one request (built afresh each time), waiting out rate limits."""
        import requests
        from lark_oapi.core.exception import ObtainAccessTokenException

        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = perform()
            except ObtainAccessTokenException as err:
                # The SDK fetches the tenant token inside the call and raises its own error.
                raise FeishuApiError(err.code, str(err.msg), TOKEN) from None
            except requests.RequestException as err:
                raise FeishuApiError(None, type(err).__name__, uri) from None
            raw = response.raw
            status = raw.status_code if raw is not None else 0
            try:
                data = json.loads(raw.content) if raw is not None and raw.content else {}
            except ValueError:
                data = {}
            code = data.get("code", response.code)
            if status == 429 or code == RATE_LIMITED:
                headers = {k.lower(): v for k, v in (raw.headers or {}).items()} if raw else {}
                wait = min(float(headers.get("x-ogw-ratelimit-reset") or 1), MAX_WAIT)
                self.rate_limit_waits += 1
                log.warning(
                    "Feishu rate limit on %s: waiting %.1f s (attempt %d)", uri, wait, attempt
                )
                time.sleep(wait)
                if self.on_wait is not None:
                    self.on_wait(wait)
                continue
            if code != 0:
                raise FeishuApiError(code, str(data.get("msg", response.msg)), uri)
            return dict(data)
        raise FeishuApiError(RATE_LIMITED, "still rate limited", uri)

    # -- the calls teambot makes ----------------------------------------------------

    async def send(
        self, *, receive_id: str, id_type: str, msg_type: str, content: dict[str, Any],
        uuid: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {
            "receive_id": receive_id,
            "msg_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if uuid:
            body["uuid"] = uuid[:50]
        return await self.call(
            "POST", "/open-apis/im/v1/messages", body=body, query={"receive_id_type": id_type}
        )

    async def upload_image(self, png: bytes) -> str:
        """Upload a picture for messages and cards; its image_key."""
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self.executor, self._upload_image, png)
        key = (data.get("data") or {}).get("image_key")
        if not key:
            raise FeishuApiError(None, "no image_key in the answer", IMAGES)
        return str(key)

    def _upload_image(self, png: bytes) -> dict[str, Any]:
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

        return self._retried(IMAGES, perform)

    async def send_ephemeral(self, *, chat_id: str, open_id: str, card: dict[str, Any]) -> None:
        """A card only one member of a group sees (Feishu's ephemeral card)."""
        body = {"chat_id": chat_id, "open_id": open_id, "msg_type": "interactive", "card": card}
        await self.call("POST", "/open-apis/ephemeral/v1/send", body=body)

    async def bot_open_id(self) -> str:
        data = await self.call("GET", "/open-apis/bot/v3/info")
        return str((data.get("bot") or {}).get("open_id") or "")

    async def user_name(self, open_id: str) -> str:
        data = await self.call(
            "GET", f"/open-apis/contact/v3/users/{open_id}", query={"user_id_type": "open_id"}
        )
        return str(((data.get("data") or {}).get("user") or {}).get("name") or "")
