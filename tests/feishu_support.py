"""Running `teambot serve`'s real ASGI app with Feishu (and Slack) against fake platforms.

Callbacks are encrypted with the encrypt key and signed exactly as Feishu does:
X-Lark-Signature = sha256_hex(timestamp + nonce + encrypt_key + raw body).
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bot.app import build_app
from bot.core import Core
from bot.feishu.adapter import FeishuAdapter
from bot.feishu.setup import adapter as feishu_adapter
from bot.feishu.verify import encrypt, signature
from bot.hub import Hub
from bot.serve import build_web_app
from bot.settings import Settings
from bot.slack.adapter import SlackAdapter
from bot.slack.setup import adapter as slack_adapter
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.slack_support import SECRET

FIXTURES = Path(__file__).parent / "fixtures" / "feishu"
ENCRYPT_KEY = "test-encrypt-key-for-fixtures"
TOKEN = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV"
APP_ID = "cli_9f5343c580712544"  # the fixtures' header.app_id: the app the tests configure
TENANT_KEY = "2ca1d211f64f6438"  # the fixtures' header.tenant_key
_nonce = itertools.count(1)


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sealed(
    payload: dict[str, Any], *, key: str = ENCRYPT_KEY, timestamp: int | None = None,
    signed_with: str | None = None,
) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """The body and headers Feishu sends for `payload` (encrypted, then signed)."""
    body = json.dumps(
        {"encrypt": encrypt(key, json.dumps(payload).encode(), os.urandom(16))}
    ).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = f"nonce-{next(_nonce)}"
    sig = signature(timestamp=ts, nonce=nonce, encrypt_key=signed_with or key, body=body)
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": sig,
    }
    return body, headers


def message_event(
    text: str, *, chat_type: str = "group", chat_id: str = "oc_group1", sender: str = "ou_mei",
    mentions: list[tuple[str, str]] = (), event_id: str | None = None,
    message_id: str | None = None, with_bot: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """An im.message.receive_v1 event from the fixture: `text` after `@_user_1` (the bot)
    in a group; `mentions` are further (open_id, name) people as @_user_2, @_user_3…"""
    from tests.fake_feishu import BOT_OPEN_ID

    payload = fixture_json("feishu_im_message_receive_v1.json")
    payload["header"]["event_id"] = event_id or uuid.uuid4().hex
    payload["header"]["create_time"] = str(int(time.time() * 1000))
    message = payload["event"]["message"]
    people = ([(BOT_OPEN_ID, "teambot")] if with_bot else []) + list(mentions)
    message["mentions"] = [
        {"key": f"@_user_{n}", "id": {"open_id": open_id}, "name": name, "tenant_key": "t1"}
        for n, (open_id, name) in enumerate(people, start=1)
    ]
    prefix = "@_user_1 " if with_bot else ""
    message.update({
        "chat_type": chat_type, "chat_id": chat_id, "message_type": "text",
        "message_id": message_id or f"om_{uuid.uuid4().hex[:16]}",
        "content": json.dumps({"text": prefix + text}, ensure_ascii=False),
    })  # fmt: skip
    payload["event"]["sender"]["sender_id"]["open_id"] = sender
    return payload


def card_event(
    command: str, *, operator: str = "ou_mei", chat_id: str = "oc_group1",
    answer: str | None = None, event_id: str | None = None, message_id: str | None = None,
    value: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A card.action.trigger: `operator` pressed a button of the card `message_id` (the
    fixture's own id, which no fake has sent, if not given) in `chat_id`; the button's
    value is `{"command": command}`, or `value` as the card carried it."""
    payload = fixture_json("feishu_card_action_trigger_constructed.json")
    payload["header"]["event_id"] = event_id or uuid.uuid4().hex
    payload["header"]["create_time"] = str(int(time.time() * 1000))
    event = payload["event"]
    event["operator"]["open_id"] = operator
    event["context"]["open_chat_id"] = chat_id
    if message_id is not None:
        event["context"]["open_message_id"] = message_id
    event["action"]["value"] = value if value is not None else {"command": command}
    event["action"]["form_value"] = {"answer": answer} if answer is not None else {}
    return payload


class FeishuHarness:
    def __init__(self, *, client: httpx.AsyncClient, fake: FakeFeishu, feishu: FeishuAdapter,
                 slack: SlackAdapter | None) -> None:  # fmt: skip
        self.client = client
        self.fake = fake
        self.feishu = feishu
        self.slack = slack

    async def settle(self) -> None:
        for adapter in (self.feishu, self.slack):
            if adapter is not None:
                await adapter.background.drain()

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        response = await self.client.post("/feishu/events", content=body, headers=headers)
        await self.settle()
        return response

    async def callback(self, payload: dict[str, Any], **seal: Any) -> httpx.Response:
        """`payload` as Feishu delivers it to this app: encrypted, signed, and its header
        naming this app (where it names the fixtures' app, the one tests configure)."""
        return await self.post(*sealed(self.addressed(payload), **seal))

    def addressed(self, payload: dict[str, Any]) -> dict[str, Any]:
        header = payload.get("header")
        if isinstance(header, dict) and header.get("app_id") == APP_ID:
            return {**payload, "header": {**header, "app_id": self.feishu.app_id}}
        return payload


def feishu_settings(db_url: str, fake: FakeFeishu, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "feishu_app_id": APP_ID,
        "feishu_app_secret": "fake-app-secret-for-tests",
        "feishu_verification_token": TOKEN,
        "feishu_encrypt_key": ENCRYPT_KEY,
        "feishu_domain": fake.url,
    }
    values.update(extra)
    return Settings(**values)


def forget_token(app_id: str) -> None:
    """lark-oapi caches tenant tokens process-wide by app id: forget the one of `app_id`,
    so that an app under test takes its token from its own fake."""
    from lark_oapi.core.token.manager import TokenManager

    TokenManager.cache.set(f"self_tenant_token:{app_id}", "", 0)


@asynccontextmanager
async def running(
    settings: Settings, fake: FakeFeishu, **build: Any
) -> AsyncIterator[FeishuHarness]:
    if settings.feishu_app_id is not None:
        forget_token(settings.feishu_app_id)
    app = build_app(settings, **build)
    core = Core(app.router)
    hub = Hub()
    slack = slack_adapter(settings, core, hub)
    feishu = feishu_adapter(settings, core, hub)
    assert feishu is not None
    web = build_web_app(core=core, adapters=[a for a in (slack, feishu) if a is not None])
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
                yield FeishuHarness(client=client, fake=fake, feishu=feishu, slack=slack)
    finally:
        core.close()
        app.close()


# -- the cards teambot sends, for exact comparisons -----------------------------------------


def md(content: str, **extra: Any) -> dict[str, Any]:
    return {"tag": "markdown", "content": content, **extra}


def button(text: str, command: str, kind: str = "primary") -> dict[str, Any]:
    return {"tag": "column", "width": "auto", "elements": [{
        "tag": "button", "text": {"tag": "plain_text", "content": text}, "type": kind,
        "behaviors": [{"type": "callback", "value": {"command": command}}],
    }]}  # fmt: skip


def block_form(key: str) -> dict[str, Any]:
    return {"tag": "form", "name": "form_task_block", "elements": [
        {"tag": "input", "name": "answer", "placeholder": {"tag": "plain_text", "content": "reason"},
         "max_length": 500},
        {"tag": "button", "text": {"tag": "plain_text", "content": "Block"}, "type": "danger",
         "behaviors": [{"type": "callback", "value": {"command": f"task block {key}"}}],
         "form_action_type": "submit", "name": "submit_task_block"},
    ]}  # fmt: skip


def task_card(title: str, template: str, fields: str, buttons: list[dict[str, Any]],
              form: bool = True) -> dict[str, Any]:  # fmt: skip
    elements: list[dict[str, Any]] = [md(fields)]
    if buttons:
        elements.append({"tag": "column_set", "flex_mode": "flow", "columns": buttons})
    if form:
        elements.append(block_form("T-1"))
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": title}},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
        "body": {"elements": elements},
    }


# -- Slack and Feishu together ------------------------------------------------------------


@contextmanager
def both_fakes(
    *, slack_users: dict[str, str], feishu_users: dict[str, str]
) -> Iterator[tuple[FakeSlack, FakeFeishu]]:
    """A fake Slack Web API and a fake Feishu Open API, each on a free loopback port."""
    slack = FakeSlack(bot_user_id="UBOT").start()
    for user, name in slack_users.items():
        slack.add_user(user, name)
    feishu = FakeFeishu().start()
    feishu.users.update(feishu_users)
    try:
        yield slack, feishu
    finally:
        slack.stop()
        feishu.stop()


def both_settings(db_url: str, slack: FakeSlack, feishu: FakeFeishu, **extra: Any) -> Settings:
    """Feishu (encrypted callbacks) and Slack (HTTP mode) configured together."""
    return feishu_settings(
        db_url, feishu, slack_bot_token="xoxb-test-token", slack_signing_secret=SECRET,
        slack_api_url=slack.api_url, **extra,
    )  # fmt: skip


# -- the long connection, without its network step --------------------------------------


@asynccontextmanager
async def running_long_connection(
    db_url: str, fake: FakeFeishu, monkeypatch: Any, **build: Any
) -> AsyncIterator[FeishuHarness]:
    """The app in FEISHU_MODE=ws, lark-oapi's connect step (its only network step) a no-op;
    yielded once the SDK's loop runs in the ws thread."""
    import anyio
    from lark_oapi.ws import client as ws_client

    async def no_network(self: Any) -> None:
        return None

    monkeypatch.setattr(ws_client.Client, "_connect", no_network)
    settings = feishu_settings(db_url, fake, feishu_mode="ws")
    async with running(settings, fake, **build) as harness:
        with anyio.fail_after(5):
            while harness.feishu.ws_client is None or not ws_client.loop.is_running():
                await anyio.sleep(0.02)
        yield harness


async def from_the_sdk(harness: FeishuHarness, payload: dict[str, Any]) -> Any:
    """Hand an event to lark-oapi's dispatcher the way its ws client does with an event frame
    (`_handle_data_frame`: `self._event_handler._do_without_validation(payload)`, on the SDK's
    own loop in the ws thread; `do_without_validation` is deprecated in 1.7); the handler's
    return value."""
    import asyncio

    import anyio
    from lark_oapi.ws import client as ws_client

    handler = harness.feishu.ws_client._event_handler
    raw = json.dumps(payload, ensure_ascii=False).encode()

    async def frame() -> Any:
        return handler._do_without_validation(raw)

    future = asyncio.run_coroutine_threadsafe(frame(), ws_client.loop)
    return await anyio.to_thread.run_sync(future.result, 10)
