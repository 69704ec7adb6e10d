"""Tenants are walled off from each other: a member of one Slack workspace, Feishu tenant
or platform can neither read nor change another's tasks, RACI, standups, retros, KPIs
or digests, even from a channel with the same id, and whatever they try changes nothing.

One real ASGI app serves Slack (HTTP mode, installed in workspace T111) and Feishu; both
platforms are fakes on free loopback ports. A Slack app serves the one workspace its bot
token belongs to, so the other Slack workspaces (T222, T333) are installations of their
own: each its own app and fake Slack, on the same database. The other tenant's project is
seeded through the same endpoints.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from storage.db import Database
from tests.chat import snapshot
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import (
    FeishuHarness,
    both_fakes,
    both_settings,
    card_event,
    message_event,
    running,
)
from tests.slack_support import Harness, fixture_json, settings_for
from tests.slack_support import running as running_slack

pytestmark = pytest.mark.anyio

NO_TASK = "There is no task T-1 in this project."
NO_REPORT = "That standup answer has no blocker in this project (any more). Nothing was changed."
NO_RETRO = (
    "There is no open retro in this project. Start one: /retro start [title]"
    " [template:ww|ssc|4l|msg] [anon]"
)
SECRET_TITLE = "Secret plan of the other tenant"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeFeishu]]:
    with both_fakes(
        slack_users={"W111": "mei", "W222": "li", "W333": "zoe"},
        feishu_users={"ou_mei": "美", "ou_li": "李"},
    ) as pair:
        yield pair


OTHER_WORKSPACES = ("T222", "T333")


class Tenants:
    """Speaking as a member of any workspace, on either platform."""

    def __init__(
        self, feishu: FeishuHarness, fake_slack: FakeSlack, others: dict[str, Harness]
    ) -> None:
        assert feishu.slack is not None
        self.feishu = feishu
        self.slack = Harness(client=feishu.client, fake=fake_slack, slack=feishu.slack)
        self.workspaces = {"T111": self.slack, **others}  # each Slack workspace's installation
        self._n = 0
        self.last_tone = ""  # the colour of the last Feishu card: red for a mistake

    async def slash(
        self, team: str, channel: str, user: str, command: str, words: str
    ) -> dict[str, Any]:
        """A slash command from `user` of workspace `team`; the ack's JSON."""
        self._n += 1
        slack = self.workspaces[team]
        form = {"team_id": team, "channel_id": channel, "channel_name": channel, "user_id": user,
                "command": command, "text": words, "trigger_id": f"trigger{self._n}",
                "response_url": f"{slack.fake.url}/response/cmd{self._n}"}  # fmt: skip
        response = await slack.post(urlencode(form).encode(), "application/x-www-form-urlencoded")
        await self.feishu.settle()
        assert response.status_code == 200
        return dict(response.json())

    async def title(self, team: str, channel: str, user: str, command: str, words: str) -> str:
        """The reply's title: its fallback text up to the usage that follows a mistake."""
        return str((await self.slash(team, channel, user, command, words))["text"]).split(" — ")[0]

    async def interact(self, payload: dict[str, Any]) -> str:
        """A button press or form submission; the text the presser was answered with."""
        self.slack.fake.responses.clear()
        response = await self.slack.interact(payload)
        await self.feishu.settle()
        assert response.status_code == 200
        [(_, answer)] = self.slack.fake.responses
        return str(answer["text"])

    async def say(self, tenant: str, chat: str, sender: str, words: str) -> str:
        """A Feishu message in a one-to-one chat of `tenant`; the title of the card answered."""
        payload = message_event(words, chat_type="p2p", chat_id=chat, sender=sender,
                                with_bot=False)  # fmt: skip
        payload["header"]["tenant_key"] = tenant
        self.feishu.fake.calls.clear()
        response = await self.feishu.callback(payload)
        assert response.json() == {"msg": "success"}
        [sent] = self.feishu.fake.sent()
        self.last_tone = sent["content"]["header"]["template"]
        return str(sent["content"]["header"]["title"]["content"])

    async def press(self, tenant: str, chat: str, operator: str, command: str) -> str:
        """A Feishu card button of `tenant`; the toast it was answered with."""
        payload = card_event(command, operator=operator, chat_id=chat)
        payload["header"]["tenant_key"] = tenant
        payload["event"]["operator"]["tenant_key"] = tenant
        response = await self.feishu.callback(payload)
        return str(response.json()["toast"]["content"])


@pytest.fixture
def other_fakes() -> Iterator[dict[str, FakeSlack]]:
    """The fake Slack of each other workspace: its auth.test names that workspace."""
    fakes = {team: FakeSlack(bot_user_id="UBOT", team_id=team).start() for team in OTHER_WORKSPACES}
    for fake in fakes.values():
        for user, name in {"W111": "mei", "W222": "li", "W333": "zoe"}.items():
            fake.add_user(user, name)
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
async def tenants(
    db_url: str,
    fakes: tuple[FakeSlack, FakeFeishu],
    other_fakes: dict[str, FakeSlack],
    clock: Clock,
) -> AsyncIterator[Tenants]:
    fake_slack, fake_feishu = fakes
    settings = both_settings(db_url, fake_slack, fake_feishu)
    async with AsyncExitStack() as stack:
        harness = await stack.enter_async_context(running(settings, fake_feishu, clock=clock))
        others = {
            team: await stack.enter_async_context(
                running_slack(settings_for(db_url, fake), fake, clock=clock)
            )
            for team, fake in other_fakes.items()
        }
        yield Tenants(harness, fake_slack, others)


def data(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row but the claimed event ids (a command that only reads is claimed too: a
    Feishu message by its ids, a Slack slash command by its trigger_id)."""
    return {table: rows for table, rows in snapshot(db).items() if table != "processed_event"}


def report_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT id FROM standup_report ORDER BY id"))]


async def seed_slack(tenants: Tenants, *, team: str = "T222", channel: str = "C222") -> None:
    """The other workspace's project: a task with RACI, a standup answer with a blocker,
    an open retro with a note, a KPI target and a daily digest."""
    for command, words in [
        ("/task", f"add {SECRET_TITLE} <@W222|li> kind:bug"),
        ("/raci", "T-1 A <@W222|li>"),
        ("/standup", "config time:08:30 tz:UTC cutoff:10:30"),
        ("/standup", "y: audit t: fix b: waiting for the vault key"),
        ("/retro", "start Q4"),
        ("/retro", "add well The other tenant's retro note"),
        ("/kpi", "target bugfix>=95%"),
        ("/digest", "daily 18:00"),
    ]:
        reply = await tenants.slash(team, channel, "W222", command, words)
        assert ":x:" not in json.dumps(reply), reply


def click(value: str, *, team: str, channel: str, user: str, response_url: str) -> dict[str, Any]:
    payload = fixture_json("slack_block_actions.json")
    payload["team"]["id"] = team
    payload["user"].update({"id": user, "team_id": team})
    payload["channel"]["id"] = channel
    payload["container"].update({"channel_id": channel, "message_ts": "9.9", "is_ephemeral": False})
    payload["response_url"] = response_url
    payload["actions"][0].update({"action_id": "tb:task_done", "value": value, "action_ts": "9.1"})
    return payload


# -- Slack workspace against Slack workspace ----------------------------------------------------


@pytest.mark.parametrize("channel", ["C111", "C222"])
async def test_slack_workspace_cannot_touch_another_workspaces_tasks(
    tenants: Tenants, db: Database, channel: str
) -> None:
    """From T111 (in its own channel, or one with the same id as T222's), T-1, its RACI,
    the standup answer, the retro and the buttons of T222 are unknown; nothing changes."""
    await seed_slack(tenants)
    [report] = report_ids(db)
    await tenants.slash("T111", channel, "W111", "/task", "list")  # T111's own project exists
    before = data(db)
    for command, words, expected in [
        ("/task", "show T-1", NO_TASK),
        ("/task", "done T-1", NO_TASK),
        ("/task", "comment T-1 leaked?", NO_TASK),
        ("/raci", "T-1", NO_TASK),
        ("/raci", "T-1 A <@W111|mei>", NO_TASK),
        ("/standup", f"task {report}", NO_REPORT),
        ("/retro", "vote 1", NO_RETRO),
    ]:
        assert await tenants.title("T111", channel, "W111", command, words) == expected
    assert SECRET_TITLE not in json.dumps(
        await tenants.slash("T111", channel, "W111", "/task", "list all")
    )
    url = f"{tenants.slack.fake.url}/response/press"
    pressed = await tenants.interact(
        click("task done T-1", team="T111", channel=channel, user="W111", response_url=url)
    )
    assert pressed.startswith(NO_TASK)
    assert data(db) == before
    shown = await tenants.slash("T222", "C222", "W222", "/task", "show T-1")
    assert shown["text"].startswith(f"T-1: {SECRET_TITLE}")  # still there, for its own


@pytest.mark.parametrize("channel", ["C111", "C222"])
async def test_slack_form_naming_another_channel_stays_in_its_workspace(
    tenants: Tenants, db: Database, channel: str
) -> None:
    """A form submitted from T111 whose metadata names a channel (T222's id, or its own)
    runs in T111's project of that channel: T222's task is unknown there."""
    await seed_slack(tenants)
    await tenants.slash("T111", channel, "W111", "/task", "list")
    before = data(db)
    submission = fixture_json("slack_view_submission.json")
    meta = {"command": "task block T-1", "channel": channel, "ts": "9.9", "ephemeral": False,
            "response_url": f"{tenants.slack.fake.url}/response/form"}  # fmt: skip
    submission["user"].update({"id": "W111", "team_id": "T111"})
    submission["team"]["id"] = "T111"
    submission["view"].update({
        "callback_id": "tb:ask", "private_metadata": json.dumps(meta), "app_installed_team_id": "T111",
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input", "value": "mine now"}}}},
    })  # fmt: skip
    assert (await tenants.interact(submission)).startswith(NO_TASK)
    assert data(db) == before


async def test_slack_kpis_and_digest_show_only_the_own_workspace(
    tenants: Tenants, db: Database, clock: Clock
) -> None:
    """/kpi and /digest now in T111 answer exactly as in a workspace that never saw T222's
    data (while T222 sees its own), and change nothing."""
    await seed_slack(tenants, channel="C111")
    for team in ("T111", "T333"):
        await tenants.slash(team, "C111", "W111", "/task", "list")
    clock.advance(hours=1)
    before = data(db)
    for command, words in [("/kpi", ""), ("/kpi", "period:month"), ("/digest", "now")]:
        seen = await tenants.slash("T111", "C111", "W111", command, words)
        fresh = await tenants.slash("T333", "C111", "W111", command, words)
        assert seen == fresh
        assert seen != await tenants.slash("T222", "C111", "W222", command, words)
    assert data(db) == before


# -- Feishu tenant against Feishu tenant ----------------------------------------------------------


async def seed_feishu(tenants: Tenants, *, tenant: str = "t2", chat: str = "oc_shared") -> None:
    for words in [
        f"task add {SECRET_TITLE} kind:bug",
        "raci T-1 A @me",
        "standup config time:08:30 tz:UTC cutoff:10:30",
        "standup y: audit t: fix b: waiting for the vault key",
        "retro start Q4",
        "retro add well The other tenant's retro note",
        "kpi target bugfix>=95%",
    ]:
        title = await tenants.say(tenant, chat, "ou_li", words)
        assert tenants.last_tone != "red", title


async def test_feishu_tenant_cannot_touch_another_tenants_tasks(
    tenants: Tenants, db: Database
) -> None:
    """Tenant t1, in a chat with the same id as t2's: t2's task, RACI, standup answer, retro
    and card buttons are unknown; its KPIs and digest are a stranger's; nothing changes."""
    await seed_feishu(tenants)
    [report] = report_ids(db)
    await tenants.say("t1", "oc_shared", "ou_mei", "task list")
    await tenants.say("t3", "oc_shared", "ou_mei", "task list")
    before = data(db)
    for words, expected in [
        ("task show T-1", NO_TASK),
        ("task done T-1", NO_TASK),
        ("raci T-1 A @me", NO_TASK),
        (f"standup task {report}", NO_REPORT),
        ("retro vote 1", NO_RETRO),
    ]:
        assert await tenants.say("t1", "oc_shared", "ou_mei", words) == expected
    assert await tenants.press("t1", "oc_shared", "ou_mei", "task done T-1") == NO_TASK
    for words in ("kpi", "digest now", "task list all"):
        seen = await tenants.say("t1", "oc_shared", "ou_mei", words)
        assert seen == await tenants.say("t3", "oc_shared", "ou_mei", words)
        assert SECRET_TITLE not in json.dumps(tenants.feishu.fake.sent())
    assert data(db) == before


# -- Slack against Feishu -------------------------------------------------------------------------


async def test_a_feishu_tenant_named_like_a_slack_workspace_sees_nothing_of_it(
    tenants: Tenants, db: Database
) -> None:
    """A Feishu tenant whose key and chat id equal a Slack workspace's team and channel ids,
    with a member of the same user id, finds none of that workspace's data, and the other
    way round."""
    await seed_slack(tenants, team="T111", channel="C111")
    await seed_feishu(tenants, tenant="T222", chat="C222")
    await tenants.say("T111", "C111", "W111", "task list")
    await tenants.slash("T222", "C222", "ou_li", "/task", "list")
    before = data(db)
    for words, expected in [
        ("task show T-1", NO_TASK),
        ("task done T-1", NO_TASK),
        ("raci T-1 A @me", NO_TASK),
        ("retro vote 1", NO_RETRO),
    ]:
        assert await tenants.say("T111", "C111", "W111", words) == expected
        assert await tenants.title("T222", "C222", "ou_li", "/" + words.split()[0],
                                   words.split(" ", 1)[1]) == expected  # fmt: skip
    assert await tenants.press("T111", "C111", "W111", "task done T-1") == NO_TASK
    for report in report_ids(db):
        assert await tenants.say("T111", "C111", "W111", f"standup task {report}") == NO_REPORT
        assert (
            await tenants.title("T222", "C222", "ou_li", "/standup", f"task {report}") == NO_REPORT
        )
    assert data(db) == before
