"""One retry policy for every platform's API calls.

An attempt that may be tried again raises `TryAgain`, saying why:

- `RATE_LIMITED`: the platform asked to wait (Slack's 429 `Retry-After`, Feishu's 429,
  99991400 or 230020 with `x-ogw-ratelimit-reset`); waited out for what it asked, at
  most `max_wait` seconds, while the policy's count and the caller's wait budget last;
- `UNREACHED`: the request never left (a connection that could not be opened), so
  sending it again cannot double anything; waited `backoff` × the attempt;
- `UNANSWERED`: a 5xx, a time-out, a page that is not the API's: the request may have
  been taken. Only calls that change nothing (a start-up's `auth.test`) allow these
  retries; a message is never sent again here (the clock retries its posts with a key).

When a count is used up (or the next wait would overrun the budget) the attempt's own
error, `TryAgain.error`, is raised to the caller: nothing platform-specific leaks
through the policy, and every wait is reported to `on_wait` (the metrics).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import TypeVar

T = TypeVar("T")
MAX_WAIT = 60.0  # the longest a platform's own limit window lasts (a minute)


class Why(Enum):
    RATE_LIMITED = "rate limited"
    UNREACHED = "unreached"
    UNANSWERED = "unanswered"


class TryAgain(Exception):
    """An attempt that may be repeated: `after` seconds asked for by the platform (rate
    limits), and the `error` the caller gets when the policy says no more."""

    def __init__(self, why: Why, error: Exception, *, after: float | None = None) -> None:
        super().__init__(f"{why.value}: {error}")
        self.why = why
        self.error = error
        self.after = after


@dataclass(frozen=True)
class RetryPolicy:
    """How many times each kind of failure is tried again, and how long to wait."""

    rate_limited: int = 3
    unreached: int = 2
    unanswered: int = 0
    backoff: float = 0.5  # seconds × attempt, for failures that ask for no wait
    jitter: float = 0.0  # up to this many seconds more per wait: waiters spread out
    max_wait: float = MAX_WAIT
    wait_budget: float = math.inf  # seconds of rate-limit waiting, in all

    def but(self, **changes: float | int) -> RetryPolicy:
        return replace(self, **changes)  # type: ignore[arg-type]

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        on_wait: Callable[[Why, float], None] | None = None,
    ) -> T:
        """`attempt` until it returns, or raises anything but TryAgain, or the policy
        gives up on a TryAgain (its `error` is raised then)."""
        tries = dict.fromkeys(Why, 0)
        allowed = {
            Why.RATE_LIMITED: self.rate_limited,
            Why.UNREACHED: self.unreached,
            Why.UNANSWERED: self.unanswered,
        }
        waited = 0.0
        while True:
            try:
                return await attempt()
            except TryAgain as again:
                why = again.why
                tries[why] += 1
                wait = self.wait_for(again, tries[why])
                if tries[why] > allowed[why] or (
                    why is Why.RATE_LIMITED and waited + wait > self.wait_budget
                ):
                    raise again.error from None
            wait += random.random() * self.jitter
            await asyncio.sleep(wait)
            if why is Why.RATE_LIMITED:
                waited += wait
            if on_wait is not None:
                on_wait(why, wait)

    def wait_for(self, again: TryAgain, attempt: int) -> float:
        """The wait before trying again: what a rate limit asked (within `max_wait`; a value
        that is not a number counts as the longest), else the backoff."""
        if again.after is None:
            return self.backoff * attempt
        if not math.isfinite(again.after):
            return self.max_wait
        return min(max(again.after, 0.0), self.max_wait)
