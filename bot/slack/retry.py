"""slack-sdk's rate-limit retry (it waits out `Retry-After`), telling us each wait."""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    def __init__(self, *, max_retry_count: int, on_wait: Callable[[float], None]) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.on_wait = on_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        started = time.monotonic()
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )
        self.on_wait(time.monotonic() - started)
