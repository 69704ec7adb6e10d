"""users.info on the ack path: at most once per user, whether it answers or fails."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Clock
from tests.fake_slack import Failure, FakeSlack
from tests.slack_support import Harness, running, section, settings_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack, clock: Clock) -> Any:
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        yield harness


async def test_a_new_users_simultaneous_commands_share_one_lookup(slack: Harness) -> None:
    """Three commands of a user seen for the first time, all at once: one users.info."""
    replies = await asyncio.gather(
        *(slack.slash("/task", f"add Task {n}", user="W111") for n in (1, 2, 3))
    )
    titles = [r.json()["blocks"][0]["text"]["text"] for r in replies]
    found = [re.fullmatch(r"\*Created T-(\d): Task (\d)\*", title) for title in titles]
    keys, names = zip(*(m.groups() for m in found if m), strict=True)
    assert sorted(keys) == sorted(names) == ["1", "2", "3"]  # every reply a new task
    assert slack.fake.called("users.info") == [{"user": "W111", "include_locale": "1"}]


async def test_a_failed_lookup_is_not_repeated_on_every_command(slack: Harness) -> None:
    """users.info failing leaves the member nameless, and is not asked again at once."""
    slack.fake.fail_next("users.info", Failure(200, {"ok": False, "error": "user_not_found"}))
    first = (await slack.slash("/task", "add One", user="W111")).json()
    second = (await slack.slash("/task", "add Two", user="W111")).json()
    assert (first["blocks"][0], second["blocks"][0]) == (
        section("*Created T-1: One*"),
        section("*Created T-2: Two*"),
    )
    assert slack.fake.called("users.info") == [{"user": "W111", "include_locale": "1"}]
