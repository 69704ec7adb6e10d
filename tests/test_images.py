"""A reply's picture on every platform: a Slack file, a Feishu card image, a console file.

The adapters run against the fake platform servers; the tests assert what arrives
there, byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.console import Console
from commands.chart import burndown_png
from commands.router import Router
from commands.types import Image, Lit, Reply, Rich, Val, Visibility
from tests.conftest import Clock
from tests.fake_feishu import IMAGES, FakeFeishu
from tests.fake_feishu import Failure as FeishuFailure
from tests.fake_slack import UPLOAD, FakeSlack
from tests.fake_slack import Failure as SlackFailure
from tests.feishu_support import FeishuHarness, feishu_settings, md
from tests.feishu_support import running as running_feishu
from tests.slack_support import Harness, section, settings_for
from tests.slack_support import running as running_slack

pytestmark = pytest.mark.anyio

PNG = burndown_png(
    [(date(2026, 11, 2) + timedelta(days=n), 10 - n, 10) for n in range(8)], width=400, height=200
)
ALT = Rich((Lit("Burndown of "), Val("<!channel> Apollo")))
REPLY = Reply(
    title=Rich.lit("Weekly digest"),
    lines=(Rich.lit("Blue: open tasks · green: scope · grey: ideal"),),
    visibility=Visibility.CHANNEL,
    image=Image(png=PNG, filename="burndown-2026-11-09.png", alt=ALT),
)
ALT_TEXT = "Burndown of <!channel> Apollo"  # plain text on both platforms: never parsed


# -- Slack ------------------------------------------------------------------------------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake_slack: FakeSlack, clock: Clock) -> AsyncIterator[Harness]:
    async with running_slack(settings_for(db_url, fake_slack), fake_slack, clock=clock) as harness:
        yield harness


def shared_file(channel: str) -> dict[str, object]:
    return {
        "id": "F000001", "title": ALT_TEXT, "filename": "burndown-2026-11-09.png",
        "length": len(PNG), "alt_txt": ALT_TEXT, "content": PNG, "channel": channel,
        "initial_comment": None, "thread_ts": None,
    }  # fmt: skip


async def test_slack_posts_the_message_then_shares_the_png_in_the_channel(slack: Harness) -> None:
    """send(): chat.postMessage, then the three upload steps; the file lands in the channel."""
    await slack.slack.send(channel="C111", reply=REPLY)
    await slack.slack.background.drain()  # the picture follows the message on its own
    fake = slack.fake
    assert [c.method for c in fake.calls] == [
        "auth.test",  # at start-up
        "chat.postMessage", "files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal",
    ]  # fmt: skip
    assert fake.called("chat.postMessage") == [{
        "channel": "C111",
        "text": "Weekly digest — Blue: open tasks · green: scope · grey: ideal",
        "blocks": [section("*Weekly digest*"),
                   section("Blue: open tasks · green: scope · grey: ideal")],
        "unfurl_links": False,
        "unfurl_media": False,
    }]  # fmt: skip
    assert fake.files == [shared_file("C111")]


async def test_slack_upload_waits_out_a_429_and_shares_once(slack: Harness) -> None:
    """A 429 with Retry-After on the upload itself is retried once; one message, one file."""
    slack.fake.fail_next(
        UPLOAD, SlackFailure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
    )
    await slack.slack.send(channel="C111", reply=REPLY)
    await slack.slack.background.drain()  # the picture follows the message on its own
    fake = slack.fake
    assert [c.method for c in fake.calls].count(UPLOAD) == 2
    assert len(fake.called("chat.postMessage")) == 1
    assert fake.files == [shared_file("C111")]


async def test_slack_completion_waits_out_a_429_too(slack: Harness) -> None:
    """A 429 on files.completeUploadExternal is waited out like one on chat.postMessage."""
    slack.fake.fail_next(
        "files.completeUploadExternal",
        SlackFailure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}),
    )
    await slack.slack.send(channel="C111", reply=REPLY)
    await slack.slack.background.drain()  # the picture follows the message on its own
    assert len(slack.fake.called("files.completeUploadExternal")) == 2
    assert slack.fake.files == [shared_file("C111")]


async def test_slack_failed_upload_is_logged_and_the_message_stands(
    slack: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """An upload refused for good is logged; send() does not raise (no retry, no second post)."""
    slack.fake.fail_next(UPLOAD, SlackFailure(500, {"ok": False, "error": "fatal_error"}))
    await slack.slack.send(channel="C111", reply=REPLY)
    await slack.slack.background.drain()  # the picture follows the message on its own
    assert len(slack.fake.called("chat.postMessage")) == 1
    assert slack.fake.files == []
    assert any("uploading a picture failed" in r.getMessage() for r in caplog.records)


async def test_slack_reply_without_a_picture_uploads_nothing(slack: Harness) -> None:
    """A reply with no image is one chat.postMessage, as before."""
    await slack.slack.send(channel="C111", reply=Reply(title=Rich.lit("Plain")))
    assert [c.method for c in slack.fake.calls] == ["auth.test", "chat.postMessage"]


# -- Feishu -----------------------------------------------------------------------------------


@pytest.fixture
def fake_feishu() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    yield server
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, fake_feishu: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    settings = feishu_settings(db_url, fake_feishu)
    async with running_feishu(settings, fake_feishu, clock=clock) as harness:
        yield harness


def digest_card(key: str) -> dict[str, object]:
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": "Weekly digest"}},
        "header": {"title": {"tag": "plain_text", "content": "Weekly digest"}, "template": "blue"},
        "body": {"elements": [
            md("Blue: open tasks · green: scope · grey: ideal"),
            {"tag": "img", "img_key": key, "alt": {"tag": "plain_text", "content": ALT_TEXT}},
        ]},
    }  # fmt: skip


async def test_feishu_uploads_the_image_then_sends_a_card_showing_it(
    feishu: FeishuHarness,
) -> None:
    """send(): POST /im/v1/images (image_type=message, the PNG), then a card whose img
    element carries the image_key Feishu answered."""
    fake = feishu.fake
    await feishu.feishu.send(channel="oc_group1", reply=REPLY)
    paths = [
        c.path for c in fake.calls if c.method == "POST" and c.path.startswith("/open-apis/im")
    ]
    assert paths == [IMAGES, "/open-apis/im/v1/messages"]
    assert [(i["image_type"], i["image"]) for i in fake.images] == [("message", PNG)]
    key = fake.images[0]["image_key"]
    assert fake.sent() == [{
        "query": {"receive_id_type": "chat_id"}, "receive_id": "oc_group1",
        "msg_type": "interactive", "content": digest_card(key),
    }]  # fmt: skip


async def test_feishu_one_to_one_message_shows_the_image_too(feishu: FeishuHarness) -> None:
    """notify(): the same upload and card, sent to the member's open_id."""
    fake = feishu.fake
    await feishu.feishu.notify(user_id="ou_mei", reply=REPLY)
    assert [i["image"] for i in fake.images] == [PNG]
    assert fake.sent() == [{
        "query": {"receive_id_type": "open_id"}, "receive_id": "ou_mei",
        "msg_type": "interactive", "content": digest_card(fake.images[0]["image_key"]),
    }]  # fmt: skip


async def test_feishu_image_upload_waits_out_the_rate_limit(feishu: FeishuHarness) -> None:
    """429 / 99991400 on the image upload: one wait, one image, one card with its key."""
    fake = feishu.fake
    fake.fail_next(IMAGES, FeishuFailure(
        429, {"code": 99991400, "msg": "request trigger frequency limit"},
        {"x-ogw-ratelimit-limit": "5", "x-ogw-ratelimit-reset": "0"},
    ))  # fmt: skip
    await feishu.feishu.send(channel="oc_group1", reply=REPLY)
    assert len([c for c in fake.calls if c.path == IMAGES]) == 2
    assert [i["image"] for i in fake.images] == [PNG]
    assert feishu.feishu.api.rate_limit_waits == 1
    assert [m["content"] for m in fake.sent()] == [digest_card(fake.images[0]["image_key"])]


async def test_feishu_refused_image_still_sends_the_card(
    feishu: FeishuHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """An upload refused with an error code is logged; the card goes without its picture."""
    fake = feishu.fake
    fake.fail_next(
        IMAGES, FeishuFailure(400, {"code": 234006, "msg": "The image size exceed limit"})
    )
    await feishu.feishu.send(channel="oc_group1", reply=REPLY)
    card = digest_card("")
    card["body"] = {"elements": [md("Blue: open tasks · green: scope · grey: ideal")]}
    assert [m["content"] for m in fake.sent()] == [card]
    assert any("234006" in r.getMessage() for r in caplog.records)


# -- console ----------------------------------------------------------------------------------


def test_console_writes_the_png_and_prints_its_path(router: Router, tmp_path: Path) -> None:
    """The console prints the reply, then the picture's alt text and the path of a file
    holding exactly its bytes."""
    out = io.StringIO()
    console = Console(
        router=router, user="mei", channel="general", out=out, color=False,
        chart_dir=tmp_path / "charts",
    )  # fmt: skip
    console.show(REPLY)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["Weekly digest", "  Blue: open tasks · green: scope · grey: ideal"]
    assert len(lines) == 3 and lines[2].startswith(f"  🖼 {ALT_TEXT}: ")
    path = Path(lines[2].split(": ", 1)[1])
    assert path.parent == tmp_path / "charts" and path.name.startswith("burndown-2026-11-09-")
    assert path.read_bytes() == PNG
    console.show(REPLY)  # the same picture again: the same file
    assert out.getvalue().splitlines()[-1] == lines[2]
    assert list((tmp_path / "charts").iterdir()) == [path]
