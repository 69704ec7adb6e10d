"""Fan-out through the real Slack adapter: 1,000 channels' standup prompts against the
fake Slack Web API answering 429 (Retry-After) to one call in ten — every channel gets
its post exactly once, and a second engine round posts nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import insert
from sqlmodel import col, select

from bot.hub import Hub
from bot.scheduling import hub_sender
from schedules.engine import Engine
from storage.db import Database
from storage.models import ChannelBinding, Project, StandupConfig, Workspace
from tests.conftest import Clock
from tests.fake_slack import Failure, FakeSlack
from tests.slack_support import running, settings_for

pytestmark = pytest.mark.anyio

CHANNELS = 1000


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def seed(db: Database, *, channels: int) -> None:
    """One Slack project bound to many channels, each with a 09:30 UTC standup
    (bulk inserts: the commands would take a minute for a thousand channels)."""
    created = datetime(2026, 11, 1, tzinfo=UTC)
    with db.transaction() as session:
        workspace = Workspace(platform="slack", external_id="T111", name="Acme", created_at=created)
        session.add(workspace)
        session.flush()
        project = Project(workspace_id=workspace.id or 0, name="big", created_at=created)
        session.add(project)
        session.flush()
        session.execute(
            insert(ChannelBinding),
            [
                {"workspace_id": workspace.id, "project_id": project.id,
                 "channel_id": f"C{n:05d}", "name": f"team-{n}", "created_at": created}
                for n in range(channels)
            ],
        )  # fmt: skip
        ids = session.exec(select(ChannelBinding.id).order_by(col(ChannelBinding.id))).all()
        session.execute(
            insert(StandupConfig),
            [
                {"binding_id": binding_id, "at": time(9, 30), "cutoff": time(10, 30),
                 "timezone": "UTC", "days": "mon-fri", "calendar": "none", "enabled": True,
                 "created_at": created, "updated_at": created}
                for binding_id in ids
            ],
        )  # fmt: skip


async def test_a_thousand_channels_each_get_one_post_despite_rate_limits(
    db_url: str, db: Database, fake: FakeSlack, clock: Clock
) -> None:
    """One chat.postMessage in ten is answered 429 Retry-After: 0; the client waits and
    retries, and in the end each of the 1,000 channels has exactly one prompt."""
    seed(db, channels=CHANNELS)
    fake.fail_every(
        "chat.postMessage",
        10,
        Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}),
    )
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        hub = Hub()
        hub.register(harness.slack)
        engine = Engine(
            db=db, catalog=harness.slack.core.router.catalog, send=hub_sender(hub), clock=clock
        )
        clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
        outcome = await engine.run_due()
        again = await engine.run_due()
    posts = [c for c in fake.calls if c.method == "chat.postMessage"]
    limited = [c for c in posts if c.status == 429]
    delivered = Counter(c.args["channel"] for c in posts if c.status == 200)
    assert len(limited) >= CHANNELS // 10
    assert delivered == Counter({f"C{n:05d}": 1 for n in range(CHANNELS)})
    assert (outcome.sent, outcome.failed, len(outcome.posted)) == (CHANNELS, 0, CHANNELS)
    assert (again.sent, again.posted) == (0, [])
