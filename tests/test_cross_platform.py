"""One project in a Slack channel and a Feishu group, end to end through both HTTP endpoints.

The real ASGI app runs with both adapters and one hub; Slack's Web API and Feishu's
Open API are fake servers on free loopback ports.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import (
    FeishuHarness,
    both_fakes,
    both_settings,
    message_event,
    running,
)
from tests.slack_support import Harness

pytestmark = pytest.mark.anyio


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeFeishu]]:
    with both_fakes(slack_users={"W111": "mei"}, feishu_users={"ou_li": "李"}) as pair:
        yield pair


class Both:
    def __init__(self, feishu: FeishuHarness, slack: Harness) -> None:
        self.feishu = feishu
        self.slack = slack

    async def settle(self) -> None:
        await self.feishu.settle()

    async def on_slack(self, command: str, text: str) -> dict[str, Any]:
        response = await self.slack.slash(command, text)
        await self.settle()
        assert response.status_code == 200
        return dict(response.json())

    async def on_feishu(self, text: str, *, sender: str = "ou_li") -> None:
        response = await self.feishu.callback(message_event(text, sender=sender))
        await self.settle()
        assert response.json() == {"msg": "success"}


@pytest.fixture
async def both(
    db_url: str, fakes: tuple[FakeSlack, FakeFeishu], clock: Clock
) -> AsyncIterator[Both]:
    fake_slack, fake_feishu = fakes
    settings = both_settings(db_url, fake_slack, fake_feishu)
    async with running(settings, fake_feishu, clock=clock) as harness:
        assert harness.slack is not None
        yield Both(harness, Harness(client=harness.client, fake=fake_slack, slack=harness.slack))


def group_cards(fake: FakeFeishu, chat: str = "oc_group1") -> list[dict[str, Any]]:
    return [
        m["content"]
        for m in fake.sent()
        if m["receive_id"] == chat and m["msg_type"] == "interactive"
    ]


def markdown_of(node: Any) -> list[str]:
    """Every markdown text in a card."""
    if isinstance(node, dict):
        found = [node["content"]] if node.get("tag") == "markdown" else []
        return found + [t for value in node.values() for t in markdown_of(value)]
    if isinstance(node, list):
        return [t for value in node for t in markdown_of(value)]
    return []


async def link(both: Both) -> None:
    issued = await both.on_slack("/teambot", "link")
    code = re.search(r": ([A-Z0-9]{8})\*$", issued["blocks"][0]["text"]["text"])
    assert code is not None, issued
    await both.on_feishu(f"teambot link {code.group(1)}")


async def test_linked_channels_share_one_project(both: Both) -> None:
    """/task add on Slack, /task done on Feishu: /task list on either shows the same state."""
    await link(both)
    added = await both.on_slack("/task", "add Ship the release")
    assert added["blocks"][0]["text"]["text"] == "*Created T-1: Ship the release*"
    # The change made on Slack is announced in the Feishu group too.
    assert group_cards(both.feishu.fake)[-1]["header"]["title"]["content"] == (
        "Created T-1: Ship the release"
    )
    await both.on_feishu("task done T-1")
    # …and the change made on Feishu is announced in the Slack channel.
    slack_posts = [p for p in both.slack.fake.called("chat.postMessage") if p["channel"] == "C111"]
    assert slack_posts[-1]["text"] == "@李 finished T-1: Ship the release ✓"
    on_slack = await both.on_slack("/task", "list all")
    assert [b["text"]["text"] for b in on_slack["blocks"]] == [
        "*All tasks (1)*",
        "• T-1 Ship the release · done",
    ]
    await both.on_feishu("task list all")
    [ephemeral] = both.feishu.fake.sent("/open-apis/ephemeral/v1/send")[-1:]
    assert ephemeral["open_id"] == "ou_li"
    assert ephemeral["card"]["header"]["title"]["content"] == "All tasks (1)"
    assert ephemeral["card"]["body"]["elements"][0]["content"] == "- T-1 Ship the release · done"


async def test_at_all_title_from_feishu_pings_nobody_on_either_side(both: Both) -> None:
    """`<at user_id="all"></at> 全员` typed in Feishu is shown on both platforms and pings nobody."""
    await link(both)
    title = '<at user_id="all"></at> 全员'
    await both.on_feishu(f"task add {title}")
    await both.on_feishu("task list")
    # Feishu parses <at …> only in markdown; plain_text (the header) is shown as typed.
    cards = [m["content"] for m in both.feishu.fake.sent() if m["msg_type"] == "interactive"]
    cards += [m["card"] for m in both.feishu.fake.sent("/open-apis/ephemeral/v1/send")]
    markdown = [text for card in cards for text in markdown_of(card)]
    assert all("<at" not in text for text in markdown)
    assert '- T-1 &lt;at user_id="all"&gt;&lt;/at&gt; 全员 · to do' in markdown
    assert (
        group_cards(both.feishu.fake)[-1]["header"]["title"]["content"] == f"Created T-1: {title}"
    )
    slack_posts = [p for p in both.slack.fake.called("chat.postMessage") if p["channel"] == "C111"]
    shown = slack_posts[-1]["blocks"][0]["text"]["text"]
    assert shown == '*Created T-1: &lt;at user_id="all"&gt;&lt;/at&gt; 全员*'
    slack_out = json.dumps([c.args for c in both.slack.fake.calls])
    assert "<!" not in slack_out and "<at" not in slack_out
