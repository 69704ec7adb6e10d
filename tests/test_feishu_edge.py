"""The Feishu edge under slow and failing platforms, and against callbacks meant for another
installation: encrypted, signed callbacks into the real ASGI app (or handed over by
lark-oapi's long-connection dispatcher), the fake Open API on a free loopback port.

- A card callback is answered within Feishu's 3 s with a documented body; a command that
  outlives the budget still updates the pressed card, answers the presser and sends its DMs.
- Name look-ups never hold up an answer for more than a second, whatever the contact API does.
- Callbacks for another app or another tenant are refused and change nothing.
- Every message carries a `uuid`; rate limits are waited out; failures of posts that are not
  a reply to a person raise DeliveryError and never turn into an apology.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from bot.hub import DeliveryError, Hub, delivery_key
from bot.scheduling import hub_sender
from commands.types import Reply, Rich, Visibility
from schedules.engine import Engine
from storage.db import Database
from storage.models import Member, Task
from tests.chat import snapshot
from tests.conftest import Clock
from tests.fake_feishu import (
    EPHEMERAL,
    MESSAGES,
    Failure,
    FakeFeishu,
    chat_rate_limited,
    html_failure,
)
from tests.fake_trouble import Page
from tests.feishu_support import (
    TENANT_KEY,
    FeishuHarness,
    button,
    card_event,
    feishu_settings,
    from_the_sdk,
    message_event,
    running,
    running_long_connection,
    sealed,
    task_card,
)

pytestmark = pytest.mark.anyio

WORKING = {
    "en": "Working on it: the answer follows here in a moment.",
    "zh": "正在处理，结果稍后发到这里。",
}
CONTACT = "/open-apis/contact/v3/users/"
LOCK_SECONDS = 4.0


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


# -- helpers -----------------------------------------------------------------------------------


@contextmanager
def write_locked(db_url: str, *, seconds: float = LOCK_SECONDS) -> Iterator[None]:
    """Another connection holds the database's write lock from now for `seconds` (SQLite:
    BEGIN IMMEDIATE; PostgreSQL: the task and claimed-event tables locked EXCLUSIVE)."""
    url = make_url(db_url)
    conn: Any
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database or "", isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = psycopg.connect(plain)
        conn.execute("LOCK TABLE task, processed_event IN EXCLUSIVE MODE")
    release = threading.Timer(seconds, conn.rollback)
    release.start()
    try:
        yield
    finally:
        release.join()
        conn.close()


async def timed(harness: FeishuHarness, payload: dict[str, Any]) -> tuple[httpx.Response, float]:
    """The answer to a callback and the seconds it took; background work left running."""
    body, headers = sealed(harness.addressed(payload))
    started = time.monotonic()
    response = await harness.client.post("/feishu/events", content=body, headers=headers)
    return response, time.monotonic() - started


async def seed(feishu: FeishuHarness) -> str:
    """T-1 上线 in oc_group1 with 佐伊 (ou_zoe, never a sender: her name is not looked up
    yet) Responsible and 李 Informed; the message id of its card."""
    await feishu.callback(
        message_event("task add 上线 @_user_2", mentions=[ZOE], message_id="om_add")
    )
    await feishu.callback(message_event("raci T-1 I @_user_2", mentions=[("ou_li", "李")]))
    [created] = [m for m in feishu.fake.delivered("oc_group1") if m.uuid == "reply-om_add"]
    return created.message_id


def tasks(db: Database) -> list[tuple[str, str]]:
    with Session(db.engine) as session:
        return [(t.title, t.status) for t in session.exec(select(Task).order_by(Task.number))]  # type: ignore[arg-type]


def names(db: Database) -> dict[str, str]:
    with Session(db.engine) as session:
        return {m.platform_user_id: m.display_name for m in session.exec(select(Member))}


ZOE = ("ou_zoe", "佐伊")
DONE_BY_ZOE = task_card(
    "@佐伊 finished T-1: 上线 ✓", "green",
    "**Status**：done\n**Priority**：medium\n**Due**：not set\n**R · Responsible**：**佐伊**",
    [button("Reopen", "task reopen T-1", "default")], form=False,
)  # fmt: skip


# -- card callbacks within Feishu's 3 s ---------------------------------------------------------


async def test_a_press_that_outlives_the_budget_answers_in_time_and_updates_the_card_later(
    feishu: FeishuHarness, db: Database, db_url: str
) -> None:
    """Database write-locked 4 s, the presser's name look-up hanging: the callback answers the
    `working` toast within 3 s; when Done has run, the pressed card is updated in place, the
    I person gets her DM (uuid keyed by the event) and the task is done."""
    card_id = await seed(feishu)
    group_before = len(feishu.fake.delivered("oc_group1"))
    feishu.fake.hang(CONTACT + "ou_zoe", LOCK_SECONDS)
    press = card_event("task done T-1", operator="ou_zoe", message_id=card_id, event_id="ev-late")
    with write_locked(db_url):
        response, seconds = await timed(feishu, press)
        assert seconds < 3.0
        assert (response.status_code, response.json()) == (
            200, {"toast": {"type": "info", "content": WORKING["en"]}},
        )  # fmt: skip
    await feishu.settle()
    assert tasks(db) == [("上线", "done")]
    assert feishu.fake.updates() == [(card_id, DONE_BY_ZOE)]
    assert feishu.fake.messages[card_id].content == DONE_BY_ZOE
    assert len(feishu.fake.delivered("oc_group1")) == group_before
    [dm] = [
        m
        for m in feishu.fake.delivered("ou_li")
        if m.uuid == delivery_key("ev-late", "dm", "ou_li")
    ]
    assert dm.content["header"]["title"]["content"] == "@佐伊 finished T-1: 上线 ✓"


async def test_the_working_toast_speaks_the_installations_language(
    db_url: str, fake: FakeFeishu, clock: Clock
) -> None:
    """With TEAMBOT_LOCALE=zh the late answer's toast is the Chinese `working` text."""
    async with running(feishu_settings(db_url, fake, locale="zh"), fake, clock=clock) as feishu:
        card_id = await seed(feishu)
        with write_locked(db_url):
            response, seconds = await timed(feishu, card_event("task done T-1", message_id=card_id))
        await feishu.settle()
        assert seconds < 3.0
        assert response.json() == {"toast": {"type": "info", "content": WORKING["zh"]}}
        [(updated, card)] = feishu.fake.updates()
        assert updated == card_id and card["header"]["template"] == "green"


async def test_a_late_refusal_goes_to_the_presser_alone(
    feishu: FeishuHarness, db: Database, db_url: str
) -> None:
    """A second Done that has to wait for the database: `working` in time, then the refusal
    as an ephemeral card to the presser; the group's card is not touched."""
    card_id = await seed(feishu)
    await feishu.callback(card_event("task done T-1", message_id=card_id))
    before = snapshot(db)
    with write_locked(db_url):
        response, seconds = await timed(feishu, card_event("task done T-1", message_id=card_id))
    await feishu.settle()
    assert seconds < 3.0 and response.json()["toast"]["content"] == WORKING["en"]
    [ephemeral] = feishu.fake.sent(EPHEMERAL)[-1:]
    assert (ephemeral["chat_id"], ephemeral["open_id"]) == ("oc_group1", "ou_mei")
    assert ephemeral["card"]["header"]["title"]["content"] == (
        "T-1 is already done; nothing was changed."
    )
    assert feishu.fake.updates() == []
    assert snapshot(db) == before


async def test_a_card_too_old_to_update_is_posted_anew(
    feishu: FeishuHarness, db: Database, db_url: str
) -> None:
    """The pressed card was sent 15 days ago (Feishu updates cards for 14): the late result
    is posted into the group once, with a uuid, instead of the refused update."""
    card_id = await seed(feishu)
    feishu.fake.age(card_id, days=15)
    feishu.fake.hang(CONTACT + "ou_zoe", LOCK_SECONDS)
    press = card_event("task done T-1", operator="ou_zoe", message_id=card_id, event_id="ev-old")
    with write_locked(db_url):
        response, _ = await timed(feishu, press)
    await feishu.settle()
    assert response.json()["toast"]["content"] == WORKING["en"]
    assert feishu.fake.updates() == [(card_id, DONE_BY_ZOE)]  # tried, refused with 230031
    assert (
        feishu.fake.messages[card_id].content["header"]["title"]["content"] == "Created T-1: 上线"
    )
    [posted] = feishu.fake.delivered("oc_group1")[-1:]
    assert (posted.content, posted.uuid) == (DONE_BY_ZOE, delivery_key("card", "ev-old"))
    assert tasks(db) == [("上线", "done")]


async def test_a_press_in_time_still_answers_with_the_card_and_keys_its_dm(
    feishu: FeishuHarness,
) -> None:
    """Done answered within the budget: toast and card in the response, no update call, and
    the I person's DM carries the uuid the hub derives from the event id."""
    card_id = await seed(feishu)
    feishu.fake.users["ou_zoe"] = "佐伊"
    response = await feishu.callback(
        card_event("task done T-1", operator="ou_zoe", message_id=card_id, event_id="ev-fast")
    )
    assert response.json() == {
        "toast": {"type": "success", "content": "@佐伊 finished T-1: 上线 ✓"},
        "card": {"type": "raw", "data": DONE_BY_ZOE},
    }
    assert feishu.fake.updates() == []
    dms = [m.uuid for m in feishu.fake.delivered("ou_li")]
    assert delivery_key("ev-fast", "dm", "ou_li") in dms


# -- the long connection --------------------------------------------------------------------------


@pytest.fixture
async def ws(
    db_url: str, fake: FakeFeishu, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FeishuHarness]:
    """FEISHU_MODE=ws with lark-oapi's connect step (its only network step) a no-op."""
    async with running_long_connection(db_url, fake, monkeypatch, clock=clock) as harness:
        yield harness


async def wait_for_sends(fake: FakeFeishu, done: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not done():
            await anyio.sleep(0.02)


async def test_a_late_press_over_the_long_connection_answers_in_time_and_updates_later(
    ws: FeishuHarness, db: Database, db_url: str
) -> None:
    """FEISHU_MODE=ws: the SDK gets the `working` toast back within 3 s while the database is
    locked; the card is updated when Done has run, and the I person gets her DM."""
    import lark_oapi as lark

    await from_the_sdk(ws, message_event("task add 上线 @_user_2", mentions=[ZOE],
                                         message_id="om_add"))  # fmt: skip
    await wait_for_sends(ws.fake, lambda: len(ws.fake.delivered("oc_group1")) == 1)
    await from_the_sdk(ws, message_event("raci T-1 I @_user_2", mentions=[("ou_li", "李")],
                                         message_id="om_raci"))  # fmt: skip
    await wait_for_sends(ws.fake, lambda: len(ws.fake.delivered("oc_group1")) == 2)
    await ws.settle()
    [created] = [m for m in ws.fake.delivered("oc_group1") if m.uuid == "reply-om_add"]
    ws.fake.hang(CONTACT + "ou_zoe", LOCK_SECONDS)
    press = card_event("task done T-1", operator="ou_zoe", message_id=created.message_id,
                       event_id="ev-ws-late")  # fmt: skip
    with write_locked(db_url):
        started = time.monotonic()
        answer = await from_the_sdk(ws, press)
        seconds = time.monotonic() - started
    assert seconds < 3.0
    assert json.loads(lark.JSON.marshal(answer)) == {
        "toast": {"type": "info", "content": WORKING["en"]}
    }
    with anyio.fail_after(10):
        while not ws.fake.updates():
            await anyio.sleep(0.02)
    await ws.settle()
    assert ws.fake.updates() == [(created.message_id, DONE_BY_ZOE)]
    assert delivery_key("ev-ws-late", "dm", "ou_li") in [m.uuid for m in ws.fake.delivered("ou_li")]
    assert tasks(db) == [("上线", "done")]


async def test_the_long_connection_drops_events_for_another_app(
    ws: FeishuHarness, db: Database
) -> None:
    """An event the SDK hands over that names another app changes and sends nothing; the
    next event, ours, is handled."""
    event = message_event("task add 别人的应用")
    event["header"]["app_id"] = "cli_someone_else"
    await from_the_sdk(ws, event)
    await from_the_sdk(ws, message_event("task add 我们的"))
    await wait_for_sends(ws.fake, lambda: len(ws.fake.delivered()) >= 1)
    await ws.settle()
    assert tasks(db) == [("我们的", "todo")]
    assert [m.content["header"]["title"]["content"] for m in ws.fake.delivered()] == [
        "Created T-1: 我们的"
    ]


# -- name look-ups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        html_failure(502),
        Failure(503, {"code": 1, "msg": "service unavailable"}),
        Failure(200, {}, {"Content-Type": "application/json"}, text='{"code": 0, "data": {"us'),
    ],
    ids=["html-502", "json-503", "truncated-json"],
)
async def test_a_failing_name_look_up_falls_back_to_the_id_and_is_tried_again(
    feishu: FeishuHarness, db: Database, failure: Failure
) -> None:
    """The contact API answers a gateway page, a 5xx or a cut-off body: the command runs with
    the person's id as name; the failure is not remembered, so the next command has the name."""
    feishu.fake.users["ou_zoe"] = "佐伊"
    feishu.fake.fail_next(CONTACT + "ou_zoe", failure)
    first = await feishu.callback(message_event("task add 一", sender="ou_zoe"))
    assert first.json() == {"msg": "success"}
    assert names(db)["ou_zoe"] == "ou_zoe"
    await feishu.callback(message_event("task add 二", sender="ou_zoe"))
    assert names(db)["ou_zoe"] == "佐伊"
    assert tasks(db) == [("一", "todo"), ("二", "todo")]


async def test_hanging_name_look_ups_do_not_hold_up_replies(feishu: FeishuHarness) -> None:
    """Nine people whose look-ups hang 4 s write at once (more than the API's worker threads):
    every callback is answered and every reply is out within 3 s."""
    senders = [f"ou_p{n}" for n in range(9)]
    for sender in senders:
        feishu.fake.hang(CONTACT + sender, LOCK_SECONDS)
    started = time.monotonic()
    answers = await asyncio.gather(*[
        timed(feishu, message_event(f"task add 第{n}", sender=sender))
        for n, sender in enumerate(senders)
    ])  # fmt: skip
    with anyio.fail_after(10):
        while len(feishu.fake.delivered("oc_group1")) < len(senders):
            await anyio.sleep(0.02)
    assert time.monotonic() - started < 3.0
    assert [r.json() for r, _ in answers] == [{"msg": "success"}] * len(senders)
    await feishu.settle()


# -- whose callbacks ---------------------------------------------------------------------------------


async def test_callbacks_for_another_app_are_refused(feishu: FeishuHarness, db: Database) -> None:
    """A correctly encrypted and signed message or press naming another app id: 403, nothing
    changed, nothing sent."""
    await feishu.callback(message_event("task add 上线"))
    before, calls = snapshot(db), len(feishu.fake.calls)
    for payload in (message_event("task add 别人的"), card_event("task done T-1")):
        payload["header"]["app_id"] = "cli_someone_else"
        response = await feishu.callback(payload)
        assert (response.status_code, response.json()) == (403, {"msg": "forbidden"})
    missing = message_event("task add 无名")
    del missing["header"]["app_id"]
    assert (await feishu.callback(missing)).status_code == 403
    assert snapshot(db) == before and len(feishu.fake.calls) == calls


async def test_a_pinned_tenant_refuses_callbacks_of_any_other(
    db_url: str, fake: FakeFeishu, clock: Clock, db: Database
) -> None:
    """With tenant:tenant:readonly granted, the tenant learnt at start-up is the only one
    taken: another tenant_key (message or press) gets 403 and changes nothing."""
    fake.tenant_key = TENANT_KEY
    async with running(feishu_settings(db_url, fake), fake, clock=clock) as feishu:
        assert feishu.feishu.tenant_key == TENANT_KEY
        await feishu.callback(message_event("task add 上线"))
        before, calls = snapshot(db), len(fake.calls)
        for payload in (message_event("task add 别的租户"), card_event("task done T-1")):
            payload["header"]["tenant_key"] = "736588c9260f175e"
            response = await feishu.callback(payload)
            assert (response.status_code, response.json()) == (403, {"msg": "forbidden"})
        assert snapshot(db) == before and len(fake.calls) == calls
        ours = await feishu.callback(card_event("task start T-1"))
        assert ours.json()["toast"]["content"] == "@美 started T-1: 上线"
    assert [c.path for c in fake.calls].count("/open-apis/tenant/v2/tenant/query") == 1


async def test_without_the_tenant_permission_the_tenant_is_not_pinned_and_that_is_logged(
    db_url: str, fake: FakeFeishu, clock: Clock, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The documented fallback: without tenant:tenant:readonly (99991672) start-up logs a
    warning naming the permission, and callbacks are checked by app id, signature and token
    alone."""
    caplog.set_level(logging.WARNING, logger="bot.feishu.adapter")
    async with running(feishu_settings(db_url, fake), fake, clock=clock) as feishu:
        assert feishu.feishu.tenant_key is None
        event = message_event("task add 别的租户")
        event["header"]["tenant_key"] = "736588c9260f175e"
        assert (await feishu.callback(event)).json() == {"msg": "success"}
    assert tasks(db) == [("别的租户", "todo")]
    said = [r.getMessage() for r in caplog.records if r.name == "bot.feishu.adapter"]
    assert any("tenant:tenant:readonly" in s and "99991672" in s for s in said), said


# -- uuid -------------------------------------------------------------------------------------------


PLAIN = Reply(title=Rich.lit("Standup time"), visibility=Visibility.CHANNEL)


async def test_scheduled_posts_carry_their_key_and_are_sent_once(feishu: FeishuHarness) -> None:
    """The clock's key is the create's uuid: the same post sent twice is one message."""
    key = delivery_key("standup-1", "2026-11-23", "feishu:oc_group1")
    for _ in range(2):
        await feishu.feishu.send(channel="oc_group1", reply=PLAIN, kind="scheduled", dedupe_key=key)
    assert [m["uuid"] for m in feishu.fake.sent()] == [key, key]
    assert [(m.uuid, m.content["header"]["title"]["content"]) for m in feishu.fake.delivered()] == [
        (key, "Standup time")
    ]


async def test_dms_and_mirrors_carry_the_hubs_keys(feishu: FeishuHarness) -> None:
    """A change in a group linked to a second one: the mirror into the second group and the
    assignee's DM carry the keys the hub derives from the event id."""
    await feishu.callback(message_event("teambot link", event_id="ev-code"))
    sent = json.dumps([c.body for c in feishu.fake.calls], ensure_ascii=False)
    code = re.search(r"Link code for project “[^”]*”: ([A-Z0-9]{8})", sent)
    assert code is not None, sent
    await feishu.callback(message_event(f"teambot link {code.group(1)}", chat_id="oc_group2"))
    await feishu.callback(message_event("task add 同步 @_user_2", mentions=[("ou_li", "李")],
                                        event_id="ev-add"))  # fmt: skip
    [mirror] = feishu.fake.delivered("oc_group2")[-1:]
    assert mirror.uuid == delivery_key("ev-add", "mirror", "oc_group2")
    assert mirror.content["header"]["title"]["content"] == "Created T-1: 同步"
    [dm] = feishu.fake.delivered("ou_li")
    assert dm.uuid == delivery_key("ev-add", "dm", "ou_li")


async def test_a_mirror_meeting_a_502_is_sent_again_with_its_key(feishu: FeishuHarness) -> None:
    """The mirror into a linked group is answered with a gateway's HTML 502 once: the hub
    sends it again with the same uuid, and the group gets it once."""
    feishu.feishu.hub.retry_waits = (0.05, 0.05, 0.05)
    await feishu.callback(message_event("teambot link", event_id="ev-code"))
    sent = json.dumps([c.body for c in feishu.fake.calls], ensure_ascii=False)
    code = re.search(r"Link code for project “[^”]*”: ([A-Z0-9]{8})", sent)
    assert code is not None, sent
    await feishu.callback(message_event(f"teambot link {code.group(1)}", chat_id="oc_group2"))
    feishu.fake.trouble.fail("oc_group2", Page(502))
    await feishu.callback(message_event("task add 重试", event_id="ev-retry"))
    key = delivery_key("ev-retry", "mirror", "oc_group2")
    failed = [c.body for c in feishu.fake.failed if c.body.get("uuid") == key]
    assert len(failed) == 1
    [mirror] = [m for m in feishu.fake.delivered("oc_group2") if m.uuid == key]
    assert mirror.content["header"]["title"]["content"] == "Created T-1: 重试"


async def test_replies_to_long_message_ids_get_distinct_uuids_within_50(
    feishu: FeishuHarness,
) -> None:
    """Two messages whose ids share their first 50 characters are both answered: the uuid is
    never a cut-off id."""
    stem = "om_" + "x" * 60
    await feishu.callback(message_event("task add 一", message_id=stem + "1"))
    await feishu.callback(message_event("task add 二", message_id=stem + "2"))
    titles = [m.content["header"]["title"]["content"] for m in feishu.fake.delivered("oc_group1")]
    assert titles == ["Created T-1: 一", "Created T-2: 二"]
    assert all(len(m["uuid"]) <= 50 for m in feishu.fake.sent())


# -- rate limits and failures --------------------------------------------------------------------------


async def test_the_per_chat_limit_230020_is_waited_out(feishu: FeishuHarness) -> None:
    """230020 with HTTP 400 (5 messages a second to one chat) is a rate limit: one wait, the
    reply sent once with the same uuid, no apology."""
    feishu.fake.fail_next(MESSAGES, chat_rate_limited())
    await feishu.callback(message_event("task add 快", message_id="om_fast"))
    assert [m["uuid"] for m in feishu.fake.sent()] == ["reply-om_fast", "reply-om_fast"]
    assert [m.msg_type for m in feishu.fake.delivered()] == ["interactive"]
    assert feishu.feishu.api.rate_limit_waits == 1


@pytest.mark.parametrize(("reset", "expected"), [("52", 52.0), ("3600", 60.0)])
async def test_a_long_rate_limit_on_a_scheduled_post_is_left_to_the_clock(
    feishu: FeishuHarness, reset: str, expected: float
) -> None:
    """x-ogw-ratelimit-reset longer than a scheduled post may wait: DeliveryError at once,
    transient, retry_after the platform's wait (believed up to 60 s)."""
    feishu.fake.fail_next(MESSAGES, Failure(
        429, {"code": 99991400, "msg": "request trigger frequency limit"},
        {"x-ogw-ratelimit-reset": reset},
    ))  # fmt: skip
    with anyio.fail_after(5), pytest.raises(DeliveryError) as raised:
        await feishu.feishu.send(channel="oc_group1", reply=PLAIN, kind="scheduled",
                                 dedupe_key="k1")  # fmt: skip
    assert (raised.value.platform, raised.value.transient) == ("feishu", True)
    assert raised.value.retry_after == expected
    assert feishu.fake.delivered() == []


async def test_a_scheduled_post_answered_502_is_posted_once_without_an_apology(
    feishu: FeishuHarness, db: Database, clock: Clock
) -> None:
    """The clock's standup prompt answered by a gateway's HTML 502: the clock tries again
    with the same uuid, the card arrives once, and nothing else (no apology) reaches the
    group."""
    await feishu.callback(message_event("standup config time:09:30 tz:UTC cutoff:10:30"))
    feishu.fake.calls.clear()
    hub = Hub()
    hub.register(feishu.feishu)
    router = feishu.feishu.core.router
    engine = Engine(db=router.db, catalog=router.catalog, send=hub_sender(hub), clock=clock)
    feishu.fake.fail_next(MESSAGES, html_failure(502))
    clock.now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    outcome = await engine.run_due()
    await feishu.settle()
    assert (outcome.sent, outcome.failed, outcome.retries) == (1, 0, 1)
    attempts = feishu.fake.sent()
    assert [m["msg_type"] for m in attempts] == ["interactive", "interactive"]
    assert len({m["uuid"] for m in attempts}) == 1
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM schedule_run")).scalars().all() == ["posted"]


@pytest.mark.parametrize(
    ("failure", "transient"),
    [
        (html_failure(502), True),
        (Failure(500, {"code": 1, "msg": "internal error"}), True),
        (Failure(200, {}, text="<html>maintenance</html>"), True),
        (Failure(400, {"code": 230002, "msg": "The bot can not be outside the group."}), False),
    ],
    ids=["html-502", "json-500", "html-200", "230002"],
)
async def test_notify_raises_delivery_errors_and_never_apologises(
    feishu: FeishuHarness, failure: Failure, transient: bool
) -> None:
    """A DM Feishu did not take raises DeliveryError (transient for 5xx and bodies that are
    not JSON, not for a refusal) and sends nothing else to the person."""
    feishu.fake.fail_next(MESSAGES, failure)
    with pytest.raises(DeliveryError) as raised:
        await feishu.feishu.notify(user_id="ou_li", reply=PLAIN, dedupe_key="k-dm")
    assert (raised.value.platform, raised.value.transient) == ("feishu", transient)
    assert [m["uuid"] for m in feishu.fake.sent()] == ["k-dm"]
    assert feishu.fake.delivered() == []


async def test_a_refused_connection_is_a_transient_delivery_error(
    db_url: str, clock: Clock
) -> None:
    """The Open API unreachable (connection refused) after start-up: transient DeliveryError."""
    fake = FakeFeishu().start()
    try:
        async with running(feishu_settings(db_url, fake), fake, clock=clock) as feishu:
            fake.stop()
            with anyio.fail_after(15), pytest.raises(DeliveryError) as raised:
                await feishu.feishu.send(channel="oc_group1", reply=PLAIN, kind="mirror",
                                         dedupe_key="k-mirror")  # fmt: skip
            assert raised.value.transient is True
    finally:
        if fake._thread.is_alive():
            fake.stop()


async def test_a_failed_reply_apologises_once_with_a_uuid(feishu: FeishuHarness) -> None:
    """The reply to a person's own command answered 502: one bilingual apology, keyed so that
    it is sent once."""
    feishu.fake.fail_next(MESSAGES, html_failure(502))
    await feishu.callback(message_event("task add 出错", message_id="om_err"))
    [apology] = feishu.fake.delivered("oc_group1")
    assert apology.msg_type == "text" and apology.content["text"].startswith("抱歉")
    assert apology.uuid == delivery_key("apology", "reply-om_err")


# -- the fake's own rules ---------------------------------------------------------------------------


def test_the_fake_refuses_what_feishu_refuses(fake: FakeFeishu) -> None:
    """uuid over 50 characters, a repeated uuid, and card updates outside the update rules."""
    client = httpx.Client(base_url=fake.url, trust_env=False)

    def create(**body: Any) -> dict[str, Any]:
        base = {"receive_id": "oc_x", "msg_type": "interactive", "content": json.dumps(shared)}
        answer = client.post(f"{MESSAGES}?receive_id_type=chat_id", json={**base, **body})
        return {"status": answer.status_code, **answer.json()}

    def update(message_id: str, card: Any) -> tuple[int, int]:
        answer = client.patch(f"{MESSAGES}/{message_id}", json={"content": json.dumps(card)})
        return answer.status_code, answer.json()["code"]

    shared = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}}
    assert (create(uuid="u" * 51)["status"], create(uuid="u" * 51)["code"]) == (400, 99992402)
    first = create(uuid="u" * 50)["data"]["message_id"]
    assert create(uuid="u" * 50)["data"]["message_id"] == first
    assert len(fake.delivered()) == 1
    assert update(first, shared) == (200, 0)
    assert update(first, {"schema": "2.0", "body": {"elements": []}}) == (400, 230001)
    text_id = create(msg_type="text", content=json.dumps({"text": "hi"}))["data"]["message_id"]
    assert update(text_id, shared) == (400, 230001)
    assert update("om_never_sent", shared) == (400, 230001)
    assert [update(first, shared) for _ in range(5)][-1] == (400, 230020)
    fake.age(first, days=15)
    assert update(first, shared) == (400, 230031)
    assert create(content="x" * (30 * 1024 + 1))["code"] == 230025
    refused = client.get("/open-apis/tenant/v2/tenant/query")
    assert (refused.status_code, refused.json()["code"]) == (400, 99991672)
    client.close()


async def test_the_fake_can_answer_html_and_hang(fake: FakeFeishu) -> None:
    """A gateway's HTML 502 (text/html, not JSON) and a path answered only after a delay."""
    fake.fail_next(MESSAGES, html_failure(502))
    fake.hang("/open-apis/bot/v3/info", 0.5)
    async with httpx.AsyncClient(base_url=fake.url, trust_env=False) as client:
        page = await client.post(MESSAGES, json={})
        started = time.monotonic()
        info = await client.get("/open-apis/bot/v3/info")
    assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in page.text
    assert time.monotonic() - started >= 0.5 and info.json()["code"] == 0
