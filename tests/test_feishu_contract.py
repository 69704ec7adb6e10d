"""Feishu contract tests: encrypted, signed callbacks into the real ASGI app; a fake Open API out.

Each test asserts the exact card JSON teambot sends and the database afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from sqlmodel import Session, select

from bot.hub import delivery_key
from bot.serve import build_web_app
from storage.db import Database
from storage.models import RaciAssignment, Task
from tests.chat import snapshot
from tests.conftest import Clock
from tests.fake_feishu import Failure, FakeFeishu
from tests.feishu_support import (
    TOKEN,
    FeishuHarness,
    button,
    card_event,
    feishu_settings,
    fixture_json,
    md,
    message_event,
    running,
    sealed,
    task_card,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美", "ou_li": "李"})
    yield server
    server.stop()


@pytest.fixture
async def feishu(db_url: str, fake: FakeFeishu, clock: Clock) -> AsyncIterator[FeishuHarness]:
    async with running(feishu_settings(db_url, fake), fake, clock=clock) as harness:
        yield harness


@pytest.fixture
async def plain(db_url: str, fake: FakeFeishu, clock: Clock) -> AsyncIterator[FeishuHarness]:
    """The app configured without an encrypt key: callbacks are plain JSON."""
    settings = feishu_settings(db_url, fake, feishu_encrypt_key=None)
    async with running(settings, fake, clock=clock) as harness:
        yield harness


def tasks(db: Database) -> list[Task]:
    with Session(db.engine) as session:
        return list(session.exec(select(Task).order_by(Task.number)).all())  # type: ignore[arg-type]


# -- commands from messages --------------------------------------------------------------


async def test_group_command_posts_a_card_and_dms_the_assignee(
    feishu: FeishuHarness, db: Database
) -> None:
    """@bot task add … in a group: the card goes to the group, the assignee gets one to one."""
    event = message_event("task add 写需求 @_user_2 due:明天", mentions=[("ou_li", "李")],
                          message_id="om_cmd1")  # fmt: skip
    response = await feishu.callback(event)
    assert (response.status_code, response.json()) == (200, {"msg": "success"})
    [group, dm] = sorted(feishu.fake.sent(), key=lambda m: m["query"]["receive_id_type"])
    assert group == {
        "query": {"receive_id_type": "chat_id"},
        "receive_id": "oc_group1",
        "msg_type": "interactive",
        "uuid": "reply-om_cmd1",
        "content": task_card(
            "Created T-1: 写需求", "green",
            "**Status**：to do\n**Priority**：medium\n**Due**：2026-11-24 (Tue)\n"
            "**R · Responsible**：**李**",
            [button("Start", "task start T-1"), button("Done", "task done T-1")],
        ),
    }  # fmt: skip
    assert dm["query"] == {"receive_id_type": "open_id"} and dm["receive_id"] == "ou_li"
    assert dm["content"]["header"]["title"]["content"] == "@美 put you on T-1: 写需求"
    assert dm["content"]["body"]["elements"] == [md("You are Responsible (R) for this task.")]
    sends = [c for c in feishu.fake.calls if c.path == "/open-apis/im/v1/messages"]
    assert {c.headers["Authorization"] for c in sends} == {"Bearer t-fake-token"}
    [task] = tasks(db)
    assert (task.title, task.due and task.due.isoformat()) == ("写需求", "2026-11-24")
    with Session(db.engine) as session:
        assert session.exec(select(RaciAssignment.role)).all() == ["R"]


async def test_one_to_one_text_is_a_command_and_unaddressed_group_text_is_not(
    feishu: FeishuHarness, db: Database
) -> None:
    """In a p2p chat any text is a command; in a group, only text that mentions the bot."""
    await feishu.callback(message_event("task add 私聊任务", chat_type="p2p", chat_id="oc_p2p1",
                                        with_bot=False))  # fmt: skip
    await feishu.callback(message_event("task add 闲聊", with_bot=False))
    assert [t.title for t in tasks(db)] == ["私聊任务"]
    assert [m["receive_id"] for m in feishu.fake.sent()] == ["oc_p2p1"]


async def test_url_verification_encrypted(feishu: FeishuHarness) -> None:
    """The URL check, encrypted like every callback, is answered with its challenge."""
    check = fixture_json("feishu_url_verification.json")
    check["token"] = TOKEN
    response = await feishu.callback(check)
    assert (response.status_code, response.json()) == (200, {"challenge": "ajls384kdjx98XX"})


# -- refusals -------------------------------------------------------------------------------


async def test_url_verification_as_feishu_sends_it_encrypted_but_unsigned(
    feishu: FeishuHarness, db: Database
) -> None:
    """Saving the request URL, Feishu posts the check encrypted but without X-Lark-* signature
    headers: it gets the challenge. An unsigned event is still refused and changes nothing."""
    check = {**fixture_json("feishu_url_verification.json"), "token": TOKEN}
    body, headers = sealed(check)
    unsigned = {"Content-Type": headers["Content-Type"]}
    response = await feishu.client.post("/feishu/events", content=body, headers=unsigned)
    assert (response.status_code, response.json()) == (200, {"challenge": "ajls384kdjx98XX"})
    before = snapshot(db)
    body, headers = sealed(message_event("task add 未签名"))
    response = await feishu.client.post("/feishu/events", content=body, headers=unsigned)
    assert response.status_code == 401
    assert snapshot(db) == before and feishu.fake.sent() == []


@pytest.mark.parametrize("header", ["not-an-object", ["a", "list"], 7, None])
async def test_plain_callback_with_a_malformed_header_is_refused_not_a_crash(
    plain: FeishuHarness, db: Database, header: Any
) -> None:
    """Without an encrypt key anyone can post plain JSON: a "header" that is not an object
    is refused with 401, never a 500."""
    web = build_web_app(core=plain.feishu.core, adapters=[plain.feishu])
    transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
    before = snapshot(db)
    body = json.dumps({"schema": "2.0", "header": header, "token": TOKEN}).encode()
    async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
        response = await client.post("/feishu/events", content=body)
    assert response.status_code == 401
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("why", "seal"),
    [
        ("wrong signature", {"signed_with": "not-the-encrypt-key"}),
        ("stale timestamp", {"timestamp": int(time.time()) - 600}),
        ("other encrypt key", {"key": "some-other-key"}),
    ],
)
async def test_forged_callbacks_are_refused_with_401(
    feishu: FeishuHarness, db: Database, why: str, seal: dict[str, Any]
) -> None:
    """A failed check answers 401 (never lark-oapi's 500) and changes and sends nothing."""
    before = snapshot(db)
    calls = len(feishu.fake.calls)
    response = await feishu.callback(message_event("task add 伪造"), **seal)
    assert response.status_code == 401, why
    assert snapshot(db) == before
    assert len(feishu.fake.calls) == calls


async def test_wrong_verification_token_is_refused(feishu: FeishuHarness, db: Database) -> None:
    """A correctly encrypted and signed event with another app's token gets 401."""
    event = message_event("task add 别人的")
    event["header"]["token"] = "someone-elses-token"
    before = snapshot(db)
    assert (await feishu.callback(event)).status_code == 401
    assert snapshot(db) == before


async def test_garbage_body_is_refused(feishu: FeishuHarness) -> None:
    """A body that is not JSON gets 401, not a crash."""
    body, headers = sealed({"x": 1})
    response = await feishu.post(b"not json at all", headers)
    assert response.status_code == 401
    assert body  # the sealed body was built; only the garbage was sent


# -- duplicates -----------------------------------------------------------------------------


async def test_same_event_delivered_twice_does_nothing_twice(
    feishu: FeishuHarness, db: Database
) -> None:
    """Feishu's retry (same event id) creates nothing and sends nothing the second time."""
    event = message_event("task add 一次", event_id="ev-dup")
    await feishu.callback(event)
    sent = len(feishu.fake.sent())
    before = snapshot(db)
    response = await feishu.callback(event)
    assert response.status_code == 200
    assert snapshot(db) == before
    assert len(feishu.fake.sent()) == sent


async def test_same_message_under_a_new_event_id_does_nothing_twice(
    feishu: FeishuHarness, db: Database
) -> None:
    """The long connection's backfill: same message id, new event id → dropped."""
    await feishu.callback(message_event("task add 一次", event_id="ev-a", message_id="om_same"))
    before = snapshot(db)
    await feishu.callback(message_event("task add 一次", event_id="ev-b", message_id="om_same"))
    assert snapshot(db) == before
    assert [t.title for t in tasks(db)] == ["一次"]


# -- card callbacks -------------------------------------------------------------------------


async def test_card_button_updates_the_card_in_the_response(
    feishu: FeishuHarness, db: Database
) -> None:
    """Start answers within the callback with a toast and the updated card."""
    await feishu.callback(message_event("task add 上线"))
    response = await feishu.callback(card_event("task start T-1"))
    assert response.status_code == 200
    assert response.json() == {
        "toast": {"type": "success", "content": "@美 started T-1: 上线"},
        "card": {"type": "raw", "data": task_card(
            "@美 started T-1: 上线", "blue",
            "**Status**：in progress\n**Priority**：medium\n**Due**：not set\n**R · Responsible**：—",
            [button("Done", "task done T-1"), button("Claim", "task claim T-1", "default")],
        )},
    }  # fmt: skip
    assert tasks(db)[0].status == "doing"


async def test_press_by_a_member_of_another_tenant_acts_on_the_groups_project(
    feishu: FeishuHarness, db: Database
) -> None:
    """An external member (operator.tenant_key differs from header.tenant_key) pressing a
    button acts on the group's project, as their messages do."""
    await feishu.callback(message_event("task add 上线"))
    press = card_event("task start T-1")
    press["event"]["operator"]["tenant_key"] = "736588c9260f175e"
    response = await feishu.callback(press)
    assert response.json()["toast"] == {"type": "success", "content": "@美 started T-1: 上线"}
    assert [t.status for t in tasks(db)] == ["doing"]


async def test_double_click_answers_an_error_toast_and_changes_nothing(
    feishu: FeishuHarness, db: Database
) -> None:
    """A second Done answers only a toast; the database is unchanged."""
    await feishu.callback(message_event("task add 上线"))
    await feishu.callback(card_event("task done T-1"))
    before = snapshot(db)
    response = await feishu.callback(card_event("task done T-1"))
    assert response.json() == {
        "toast": {"type": "error", "content": "T-1 is already done; nothing was changed."}
    }
    assert snapshot(db) == before


async def test_block_form_submits_the_reason(feishu: FeishuHarness, db: Database) -> None:
    """The Block form's answer becomes the block reason."""
    await feishu.callback(message_event("task add 上线"))
    await feishu.callback(card_event("task block T-1", answer="等待密钥"))
    task = tasks(db)[0]
    assert (task.status, task.blocked_reason) == ("blocked", "等待密钥")


async def test_edit_title_form_renames_the_task(feishu: FeishuHarness, db: Database) -> None:
    """`task show` carries an Edit title form; its answer follows `title:` as the new title."""
    await feishu.callback(message_event("task add 上线 计划"))
    await feishu.callback(message_event("task show T-1"))
    [shown] = feishu.fake.sent("/open-apis/ephemeral/v1/send")
    form = shown["card"]["body"]["elements"][-1]
    assert form == {"tag": "form", "name": "form_task_edit_title", "elements": [
        {"tag": "input", "name": "answer",
         "placeholder": {"tag": "plain_text", "content": "new title"}, "max_length": 500},
        {"tag": "button", "text": {"tag": "plain_text", "content": "Edit title"}, "type": "default",
         "behaviors": [{"type": "callback", "value": {"command": "task edit T-1 title:"}}],
         "form_action_type": "submit", "name": "submit_task_edit_title"},
    ]}  # fmt: skip
    await feishu.callback(card_event("task edit T-1 title:", answer="上线 计划 第二版"))
    assert tasks(db)[0].title == "上线 计划 第二版"


# -- the Open API's limits and errors ------------------------------------------------------------


async def test_rate_limit_is_waited_out_and_the_card_sent_once(feishu: FeishuHarness) -> None:
    """429 / 99991400 with x-ogw-ratelimit-reset: 1 → one wait, one successful send."""
    feishu.fake.fail_next("/open-apis/im/v1/messages", Failure(
        429, {"code": 99991400, "msg": "request trigger frequency limit"},
        {"x-ogw-ratelimit-reset": "1"},
    ))  # fmt: skip
    started = time.monotonic()
    await feishu.callback(message_event("task add 慢一点"))
    assert time.monotonic() - started >= 1.0
    posts = feishu.fake.sent()
    assert len(posts) == 2 and posts[0] == posts[1]
    assert feishu.feishu.api.rate_limit_waits == 1


async def test_other_api_error_is_logged_and_answered_with_an_apology(
    feishu: FeishuHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Code 230001 on the reply: logged with its code; a short bilingual apology is sent,
    once (its uuid is keyed by the reply's)."""
    feishu.fake.fail_next("/open-apis/im/v1/messages", Failure(
        200, {"code": 230001, "msg": "invalid message content"}))  # fmt: skip
    await feishu.callback(message_event("task add 出错", message_id="om_err"))
    texts = [m for m in feishu.fake.sent() if m["msg_type"] == "text"]
    assert texts == [{
        "query": {"receive_id_type": "chat_id"}, "receive_id": "oc_group1", "msg_type": "text",
        "uuid": delivery_key("apology", "reply-om_err"),
        "content": {"text": "抱歉，我们这边出了点问题。没有做任何更改，请稍后再试。 / "
                            "Sorry, something went wrong on our side. Nothing was changed; "
                            "please try again in a moment."},
    }]  # fmt: skip
    assert any("230001" in r.getMessage() for r in caplog.records)


# -- the long connection ----------------------------------------------------------------------------


async def test_long_connection_runs_beside_the_server(
    db_url: str, fake: FakeFeishu, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FEISHU_MODE=ws: lark-oapi's client runs in its own thread without blocking the server,
    and events its dispatcher hands over reach teambot. Tested with the SDK's network step
    (`lark_oapi.ws.client.Client._connect`) replaced by a no-op: the one stub, at the SDK's edge."""
    from lark_oapi.ws import client as ws_client

    async def no_network(self: Any) -> None:
        return None

    monkeypatch.setattr(ws_client.Client, "_connect", no_network)
    settings = feishu_settings(db_url, fake, feishu_mode="ws")
    async with running(settings, fake, clock=clock) as harness:
        with anyio.fail_after(5):
            while harness.feishu.ws_client is None:
                await anyio.sleep(0.05)
        assert harness.feishu._ws_thread is not None and harness.feishu._ws_thread.is_alive()
        health = await harness.client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
        assert (await harness.client.post("/feishu/events", content=b"{}")).status_code == 404
        raw = json.dumps(message_event("task add 长连接")).encode()
        handler = harness.feishu.ws_client._event_handler
        # exactly what the ws client does with a received event frame
        await anyio.to_thread.run_sync(handler._do_without_validation, raw)
        with anyio.fail_after(5):
            while not [m for m in fake.sent() if m["receive_id"] == "oc_group1"]:
                await anyio.sleep(0.05)
        await harness.settle()
        [card] = [m["content"] for m in fake.sent() if m["receive_id"] == "oc_group1"]
        assert card["header"]["title"]["content"] == "Created T-1: 长连接"


async def test_a_rate_limited_name_lookup_does_not_hold_up_the_answer(
    feishu: FeishuHarness, db: Database
) -> None:
    """The contact API rate-limited for 4 s: the callback is still answered within Feishu's 3 s."""
    feishu.fake.fail_next("/open-apis/contact/v3/users/ou_zoe", Failure(
        429, {"code": 99991400, "msg": "request trigger frequency limit"},
        {"x-ogw-ratelimit-reset": "5"},
    ))  # fmt: skip
    body, headers = sealed(message_event("task add 不等名字", sender="ou_zoe"))
    started = time.monotonic()
    response = await feishu.client.post("/feishu/events", content=body, headers=headers)
    assert time.monotonic() - started < 3.0
    assert response.json() == {"msg": "success"}
    assert [t.title for t in tasks(db)] == ["不等名字"]
    await feishu.settle()


async def test_a_block_reason_that_starts_with_a_key_blocks_only_the_pressed_task(
    feishu: FeishuHarness, db: Database
) -> None:
    """The form's answer is the reason, whatever it holds: it names T-2 and blocks T-1 only."""
    await feishu.callback(message_event("task add 上线"))
    await feishu.callback(message_event("task add 联调"))
    await feishu.callback(card_event("task block T-1", answer="T-2 先完成"))
    first, second = tasks(db)
    assert (first.status, first.blocked_reason) == ("blocked", "T-2 先完成")
    assert second.status == "todo"
