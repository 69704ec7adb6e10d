"""The one retry policy (bot/retry.py) that Slack's and Feishu's API calls share."""

from __future__ import annotations

import math
import time

import pytest

from bot.retry import MAX_WAIT, RetryPolicy, TryAgain, Why

pytestmark = pytest.mark.anyio


class Refused(Exception):
    pass


class Script:
    """An attempt that fails as scripted, then succeeds; it records when it was called."""

    def __init__(self, *failures: TryAgain) -> None:
        self.failures = list(failures)
        self.calls: list[float] = []

    async def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        return "answered"


def limited(after: float | None = 0.05) -> TryAgain:
    return TryAgain(Why.RATE_LIMITED, Refused("429"), after=after)


async def test_a_rate_limit_is_waited_out_for_what_was_asked() -> None:
    script = Script(limited(0.2))
    waits: list[tuple[Why, float]] = []
    assert await RetryPolicy().run(script, on_wait=lambda why, s: waits.append((why, s))) == (
        "answered"
    )
    assert len(script.calls) == 2 and script.calls[1] - script.calls[0] >= 0.19
    assert waits == [(Why.RATE_LIMITED, 0.2)]


async def test_when_the_count_is_used_up_the_attempts_own_error_is_raised() -> None:
    script = Script(*[limited(0.0) for _ in range(4)])
    with pytest.raises(Refused):
        await RetryPolicy(rate_limited=3).run(script)
    assert len(script.calls) == 4


async def test_a_wait_that_would_overrun_the_budget_is_not_taken() -> None:
    script = Script(limited(0.1), limited(5.0))
    started = time.monotonic()
    with pytest.raises(Refused):
        await RetryPolicy(wait_budget=1.0).run(script)
    assert len(script.calls) == 2 and time.monotonic() - started < 1.0


async def test_an_unreached_request_is_tried_again_with_a_growing_backoff() -> None:
    unreached = [TryAgain(Why.UNREACHED, Refused("refused")) for _ in range(2)]
    script = Script(*unreached)
    assert await RetryPolicy(unreached=2, backoff=0.05).run(script) == "answered"
    gaps = [b - a for a, b in zip(script.calls, script.calls[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1


async def test_an_unanswered_request_is_not_sent_again_unless_the_policy_allows() -> None:
    """A 5xx or a time-out may have been taken: a message is never sent twice here."""
    script = Script(TryAgain(Why.UNANSWERED, Refused("502")))
    with pytest.raises(Refused):
        await RetryPolicy().run(script)
    assert len(script.calls) == 1
    again = Script(TryAgain(Why.UNANSWERED, Refused("502")))
    assert await RetryPolicy(unanswered=1, backoff=0.0).run(again) == "answered"


async def test_other_errors_pass_through_at_once() -> None:
    async def broken() -> str:
        raise KeyError("not ours to retry")

    with pytest.raises(KeyError):
        await RetryPolicy().run(broken)


def test_waits_are_what_was_asked_within_a_minute() -> None:
    policy = RetryPolicy()
    assert policy.wait_for(limited(52.0), 1) == 52.0  # Feishu's documented example
    assert policy.wait_for(limited(3600.0), 1) == MAX_WAIT
    assert policy.wait_for(limited(math.inf), 1) == MAX_WAIT
    assert policy.wait_for(limited(math.nan), 1) == MAX_WAIT
    assert policy.wait_for(limited(-5.0), 1) == 0.0
    assert policy.but(backoff=2.0).wait_for(limited(None), 3) == 6.0
