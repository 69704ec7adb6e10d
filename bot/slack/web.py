"""Slack's Web API (and response_url) on one shared aiohttp session, failures said neutrally.

Every HTTP attempt has its own time-out (at most 10 s). Under the retry policy of
`bot.retry`, a 429 is waited out (its `Retry-After`) a few times; a connection that could
not be opened is tried again twice (nothing was sent). Anything else is not retried here:
the caller gets the answer, or a `DeliveryError` that says whether trying again later is
worth it:

- transient: a 5xx, an answer that is not JSON (a proxy's HTML page), a time-out, a
  connection refused, a 429 still in force after the waits, or Slack's own words for a
  passing failure (`internal_error`, `fatal_error`, `service_unavailable`,
  `request_timeout`, `ratelimited`);
- definite: any other `ok: false` (`channel_not_found`, `not_in_channel`, ...).

The clock retries transient failures while a post is still useful; this module never
loops on a 5xx (a retried post that Slack had taken after all would show twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bot.hub import DeliveryError
from bot.retry import RetryPolicy, TryAgain, Why

PLATFORM = "slack"
ATTEMPT_TIMEOUT = 10.0
# A fan-out meets many 429s: each is waited out (with up to half a second more, so the
# waiters spread) before giving up; a connection not opened is tried twice more.
POLICY = RetryPolicy(rate_limited=6, unreached=2, jitter=0.5)
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
        policy: RetryPolicy = POLICY,
        token: str | None = None,
    ) -> dict[str, Any]:
        """One Web API method: its JSON answer when `ok`, else a DeliveryError. `token`
        stands in for the bot token (the app-level token of apps.connections.open)."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data: bytes | dict[str, str] | None = form
        if json_body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
            data = json_body.encode("utf-8")
        answer = await self.post(
            URL(f"{self.base_url}{method}"), data=data, headers=headers, what=method,
            timeout=timeout, policy=policy,
        )  # fmt: skip
        return self.judged(method, answer)

    @staticmethod
    def judged(method: str, answer: Answer) -> dict[str, Any]:
        """Slack's JSON answer when it says `ok`, else the DeliveryError it amounts to."""
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
        policy: RetryPolicy = POLICY,
    ) -> Answer:
        """POST under the retry policy (bot.retry): any HTTP status is an answer (a 429 once
        its waits are used up), a time-out or a connection that failed is a transient
        DeliveryError."""
        limit = aiohttp.ClientTimeout(total=min(timeout or self.timeout, self.timeout))

        async def attempt() -> Answer:
            try:
                async with self.session.post(
                    url, data=data, headers=headers, timeout=limit, allow_redirects=False
                ) as response:
                    body = await response.read()
                    if response.status != 429:
                        return Answer(response.status, body, None)
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    limited = Answer(429, body, retry_after)
            except aiohttp.ClientConnectorError:
                failed = DeliveryError(PLATFORM, f"{what}: connection failed", transient=True)
                raise TryAgain(Why.UNREACHED, failed) from None
            except (TimeoutError, aiohttp.ClientError):
                unanswered = DeliveryError(PLATFORM, f"{what}: no answer", transient=True)
                raise TryAgain(Why.UNANSWERED, unanswered) from None
            raise TryAgain(Why.RATE_LIMITED, _Limited(limited), after=retry_after)

        try:
            return await policy.run(attempt, on_wait=self._waited)
        except _Limited as still:
            return still.answer

    def _waited(self, why: Why, seconds: float) -> None:
        if why is Why.RATE_LIMITED:
            self.on_wait(seconds)


class _Limited(Exception):
    """A 429 that the policy gave up waiting out: answered as it is."""

    def __init__(self, answer: Answer) -> None:
        super().__init__("rate limited")
        self.answer = answer


def _retry_after(header: str | None) -> float:
    """Slack's `Retry-After` seconds (at most a minute)."""
    try:
        seconds = max(0.0, float(header or 1))
    except ValueError:
        seconds = 1.0
    return min(seconds, 60.0)
