"""Slack's Web API (and response_url) on one shared aiohttp session, failures said neutrally.

Every HTTP attempt has its own time-out (at most 10 s). A 429 is waited out (its
`Retry-After`) a few times; a connection that could not be opened is tried again twice
(nothing was sent). Anything else is not retried here: the caller gets the answer, or a
`DeliveryError` that says whether trying again later is worth it:

- transient: a 5xx, an answer that is not JSON (a proxy's HTML page), a time-out, a
  connection refused, a 429 still in force after the waits, or Slack's own words for a
  passing failure (`internal_error`, `fatal_error`, `service_unavailable`,
  `request_timeout`, `ratelimited`);
- definite: any other `ok: false` (`channel_not_found`, `not_in_channel`, ...).

The clock retries transient failures while a post is still useful; this module never
loops on a 5xx (a retried post that Slack had taken after all would show twice).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bot.hub import DeliveryError

PLATFORM = "slack"
ATTEMPT_TIMEOUT = 10.0
RATE_LIMIT_RETRIES = 6  # a fan-out meets many 429s; each is waited out before giving up
CONNECT_RETRIES = 2
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: float | None  # what the last 429 asked for


class WebApi:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        token: str,
        base_url: str,
        on_wait: Callable[[float], None],
        timeout: float = ATTEMPT_TIMEOUT,
    ) -> None:
        self.session = session
        self.token = token
        self.base_url = base_url
        self.on_wait = on_wait
        self.timeout = min(timeout, ATTEMPT_TIMEOUT)

    async def call(
        self,
        method: str,
        *,
        json_body: str | None = None,
        form: dict[str, str] | None = None,
        timeout: float | None = None,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        connect_retries: int = CONNECT_RETRIES,
    ) -> dict[str, Any]:
        """One Web API method: its JSON answer when `ok`, else a DeliveryError."""
        headers = {"Authorization": f"Bearer {self.token}"}
        data: bytes | dict[str, str] | None = form
        if json_body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
            data = json_body.encode("utf-8")
        answer = await self.post(
            URL(f"{self.base_url}{method}"), data=data, headers=headers, what=method,
            timeout=timeout, rate_limit_retries=rate_limit_retries,
            connect_retries=connect_retries,
        )  # fmt: skip
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            what = f"{method}: HTTP {answer.status}, not JSON"
            raise DeliveryError(PLATFORM, what, transient=True)
        if answer.status == 200 and parsed.get("ok") is True:
            return parsed
        error = parsed.get("error") if isinstance(parsed.get("error"), str) else "unknown"
        transient = answer.status >= 500 or answer.status in (408, 429) or error in TRANSIENT_ERRORS
        raise DeliveryError(
            PLATFORM, f"{method}: {error} (HTTP {answer.status})",
            transient=transient, retry_after=answer.retry_after,
        )  # fmt: skip

    async def post(
        self,
        url: URL,
        *,
        data: bytes | dict[str, str] | None,
        headers: dict[str, str],
        what: str,
        timeout: float | None = None,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        connect_retries: int = CONNECT_RETRIES,
    ) -> Answer:
        """POST with the waits and retries above; any HTTP status is an answer, a time-out
        or a connection that failed is a transient DeliveryError."""
        limit = aiohttp.ClientTimeout(total=min(timeout or self.timeout, self.timeout))
        limited = refused = 0
        retry_after: float | None = None
        while True:
            try:
                async with self.session.post(
                    url, data=data, headers=headers, timeout=limit, allow_redirects=False
                ) as response:
                    body = await response.read()
                    status = response.status
                    if status == 429:
                        retry_after = _retry_after(response.headers.get("Retry-After"))
            except aiohttp.ClientConnectorError:
                if refused >= connect_retries:
                    raise DeliveryError(
                        PLATFORM, f"{what}: connection failed", transient=True
                    ) from None
                refused += 1
                await asyncio.sleep(0.5 * refused)
                continue
            except (TimeoutError, aiohttp.ClientError):
                raise DeliveryError(PLATFORM, f"{what}: no answer", transient=True) from None
            if status == 429 and limited < rate_limit_retries:
                limited += 1
                wait = (retry_after or 0.0) + random.random() / 2  # waiters spread out
                started = time.monotonic()
                await asyncio.sleep(wait)
                self.on_wait(time.monotonic() - started)
                continue
            return Answer(status, body, retry_after)


def _retry_after(header: str | None) -> float:
    """Slack's `Retry-After` seconds (at most a minute)."""
    try:
        seconds = max(0.0, float(header or 1))
    except ValueError:
        seconds = 1.0
    return min(seconds, 60.0)
