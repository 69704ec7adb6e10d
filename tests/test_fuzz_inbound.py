"""Every inbound parser, fed arbitrary and malformed payloads through the real ASGI app.

Slack requests are correctly signed (so they reach bolt and our listeners) and a few
are not; Feishu callbacks are encrypted and signed correctly, or plain JSON when no
encrypt key is configured, around arbitrary JSON. Whatever arrives, teambot never
answers 5xx, never logs an unexpected exception, never crashes a command into an
apology, and leaves the database exactly as it was when it refuses a request or when
what it accepted was not a command.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from storage.db import Database
from tests.chat import snapshot
from tests.conftest import Clock
from tests.fake_feishu import BOT_OPEN_ID, FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import ENCRYPT_KEY, TOKEN, card_event, feishu_settings, message_event
from tests.slack_support import SECRET, settings_for

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# Loggers whose errors would mean our code (or bolt running it) failed on an input.
OURS = ("bot", "commands", "storage", "schedules", "slack_bolt")


# -- the app under test: a client that shows a crash as a 500 -----------------------------


@dataclass
class Served:
    client: httpx.AsyncClient
    core: Core
    db: Database
    slack: SlackAdapter | None
    feishu: FeishuAdapter | None
    errors: list[logging.LogRecord]

    async def post(self, path: str, body: bytes, headers: dict[str, Any]) -> httpx.Response:
        response = await self.client.post(path, content=body, headers=headers)
        for adapter in (self.slack, self.feishu):
            if adapter is not None:
                await adapter.background.drain()
        return response


class _Errors(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OURS:
            self.into.append(record)


@asynccontextmanager
async def serving(settings: Settings, clock: Clock) -> AsyncIterator[Served]:
    app = build_app(settings, clock=clock)
    core = Core(app.router)
    hub = Hub()
    slack = slack_adapter(settings, core, hub)
    feishu = feishu_adapter(settings, core, hub)
    web = build_web_app(core=core, adapters=[a for a in (slack, feishu) if a is not None])
    errors: list[logging.LogRecord] = []
    handler = _Errors(errors)
    logging.getLogger().addHandler(handler)
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
                yield Served(client, core, app.db, slack, feishu, errors)
    finally:
        logging.getLogger().removeHandler(handler)
        core.close()
        app.close()


async def check(
    served: Served, path: str, body: bytes, headers: dict[str, Any], *, command: bool
) -> httpx.Response:
    """Post one request and check the properties every input must keep."""
    before = snapshot(served.db)
    crashes = served.core.router.crashes
    del served.errors[:]
    response = await served.post(path, body, headers)
    assert response.status_code < 500, response.text
    assert served.core.router.crashes == crashes, "a command crashed into an apology"
    assert [r.getMessage() for r in served.errors] == []
    if response.status_code >= 400 or not command:
        assert snapshot(served.db) == before
    return response


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
def fake_feishu() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users["ou_mei"] = "美"
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake_slack: FakeSlack, clock: Clock) -> AsyncIterator[Served]:
    async with serving(settings_for(db_url, fake_slack), clock) as served:
        yield served


@pytest.fixture
async def feishu(db_url: str, fake_feishu: FakeFeishu, clock: Clock) -> AsyncIterator[Served]:
    async with serving(feishu_settings(db_url, fake_feishu), clock) as served:
        yield served


@pytest.fixture
async def feishu_plain(db_url: str, fake_feishu: FakeFeishu, clock: Clock) -> AsyncIterator[Served]:
    settings = feishu_settings(db_url, fake_feishu, feishu_encrypt_key=None)
    async with serving(settings, clock) as served:
        yield served


# -- strategies -------------------------------------------------------------------------------

TRICKY = [
    "", " ", "\x00", "\x1b[31m", "\u202e", "\ud7ff", "²", "١٢", "𝟙", "-1", "0", "1e309",
    "99999999999999999999999", "T-1", "t-0", "#1", "<@U1>", "<!channel>", "&lt;", "%FF", "{}",
    "[]", "null", "task add x", "/task done 1", "\u3000", "任务", "ou_mei", "oc_group1", "C111",
]  # fmt: skip
strings = st.one_of(st.text(max_size=40), st.sampled_from(TRICKY))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    strings,
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
COMMAND_WORDS = ["task", "raci", "retro", "standup", "kpi", "digest", "milestone", "teambot",
                 "add", "list", "show", "done", "start", "block", "help", "vote", "T-1", "1",
                 "A", "R", "<@W111|mei>", "<@UBOT>", "@_user_1", "@_all", "due:tomorrow"]  # fmt: skip
command_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.sampled_from(COMMAND_WORDS), strings), max_size=8).map(" ".join),
    st.integers(0, 3000).map(lambda n: "<@U" + "9" * n + "|" + "x" * n + ">"),
)


def odd(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A well-formed value most of the time, anything at all otherwise."""
    return st.one_of(good, good, json_values)


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of the fields."""
    return st.fixed_dictionaries({}, optional=fields)


# -- Slack -------------------------------------------------------------------------------------


def slack_signed(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


FORM = "application/x-www-form-urlencoded"
SLASH_FIELDS = ["token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
                "user_name", "command", "text", "enterprise_id", "response_url", "trigger_id",
                "api_app_id", "is_enterprise_install", "ssl_check", "payload"]  # fmt: skip
slash_forms = st.fixed_dictionaries(
    {"command": st.sampled_from(["/task", "/raci", "/retro", "/standup", "/kpi", "/digest",
                                 "/milestone", "/teambot", "/hello", ""])},
    optional={
        "text": command_text,
        "team_id": st.sampled_from(["T111", "T222", ""]) | strings,
        "channel_id": st.sampled_from(["C111", "C222"]) | strings,
        "channel_name": strings,
        "user_id": st.sampled_from(["W111", "W222", "UBOT"]) | strings,
        "user_name": strings,
        "response_url": strings,
        "trigger_id": strings,
        "extra": st.integers(0, 300_000).map(lambda n: "x" * n),
    },
)  # fmt: skip


def form_body(form: dict[str, str], junk: bytes) -> bytes:
    return urlencode(form).encode() + junk


@FUZZ
@given(
    form=slash_forms,
    more=st.dictionaries(st.sampled_from(SLASH_FIELDS) | st.text(max_size=10), strings, max_size=4),
    junk=st.sampled_from([b"", b"", b"&text=\xff\xfe", b"\xc3\x28", b"&%ZZ=1", b"&&&==", b"&text=%FF"]),
)  # fmt: skip
async def test_slash_command_forms(
    slack: Served, form: dict[str, str], more: dict[str, str], junk: bytes
) -> None:
    """Any slash-command form, oversized or not UTF-8: an answer below 500, no crash."""
    fields = {**more, **form}
    body = form_body(fields, junk)
    await check(slack, "/slack/events", body, {"Content-Type": FORM, **slack_signed(body)},
                command=bool(fields.get("command")) and fields.get("ssl_check") != "1")  # fmt: skip


mention = maybe(
    type=st.just("app_mention") | json_values,
    text=odd(command_text),
    user=odd(st.sampled_from(["W111", "W222", "UBOT"])),
    channel=odd(st.sampled_from(["C111", "C222"])),
    ts=odd(st.just("1.2")),
    thread_ts=odd(st.just("1.1")),
    team=odd(st.just("T111")),
    user_team=odd(st.just("T111")),
    bot_id=json_values,
    subtype=json_values,
)
event_bodies = maybe(
    type=odd(st.sampled_from(["event_callback", "url_verification", "app_rate_limited"])),
    team_id=odd(st.sampled_from(["T111", "T222"])),
    event_id=odd(st.uuids().map(str)),
    event=odd(mention),
    challenge=json_values,
    token=json_values,
    api_app_id=json_values,
    authorizations=json_values,
    is_ext_shared_channel=st.booleans() | json_values,
    enterprise_id=json_values,
    event_time=json_values,
)


@FUZZ
@given(payload=event_bodies)
async def test_event_bodies(slack: Served, payload: dict[str, Any]) -> None:
    """An event envelope with anything in it: below 500, no crash; only a mention may write."""
    body = json.dumps(payload).encode()
    event = payload.get("event")
    command = isinstance(event, dict) and event.get("type") == "app_mention"
    await check(slack, "/slack/events", body,
                {"Content-Type": "application/json", **slack_signed(body)}, command=command)  # fmt: skip


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([b"{", b"{]", b"[1,2]", b'"x"', b"null", b"{\"payload\": 1}",
                         b"payload=%7B", b"payload=[]", b"payload=null", b"payload=1",
                         b"ssl_check=1", b"\xff{}", b"[" * 100_000, b'{"a":' * 100_000]),
    ),
    content_type=st.sampled_from(["application/json", FORM, "text/plain", ""]),
)  # fmt: skip
async def test_raw_bodies(slack: Served, body: bytes, content_type: str) -> None:
    """Bytes that are not what any content type promises: refused or ignored, nothing written."""
    headers = {"Content-Type": content_type, **slack_signed(body)}
    await check(slack, "/slack/events", body, headers, command=False)


def interaction(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


action_ids = st.sampled_from(["tb:task_done", "tb:task_start", "tb:ask:task_block", "tb:", "a"])
ask_spec = maybe(command=odd(command_text), title=json_values, label=json_values).map(json.dumps)
actions = maybe(
    action_id=odd(action_ids),
    value=odd(st.one_of(command_text, ask_spec)),
    action_ts=odd(st.just("1.1")),
    block_id=json_values,
    type=odd(st.just("button")),
)
block_actions = st.fixed_dictionaries(
    {"type": st.just("block_actions")},
    optional={
        "user": odd(maybe(id=odd(st.just("W111")), team_id=odd(st.just("T111")))),
        "team": odd(maybe(id=odd(st.just("T111")))),
        "channel": odd(maybe(id=odd(st.just("C111")), name=strings)),
        "container": odd(maybe(channel_id=odd(st.just("C111")), message_ts=odd(st.just("1.1")),
                               is_ephemeral=json_values)),
        "actions": odd(st.lists(odd(actions), max_size=3)),
        "trigger_id": json_values,
        "response_url": st.sampled_from([None, "", "RESPONSE_URL"]) | json_values,
    },
)  # fmt: skip


@FUZZ
@given(payload=block_actions)
async def test_block_actions(slack: Served, fake_slack: FakeSlack, payload: dict[str, Any]) -> None:
    """Button presses with odd actions: below 500, no crash; only a tb: button may write."""
    if payload.get("response_url") == "RESPONSE_URL":
        payload["response_url"] = f"{fake_slack.url}/response/press"
    body = interaction(payload)
    await check(slack, "/slack/events", body, {"Content-Type": FORM, **slack_signed(body)},
                command=True)  # fmt: skip


meta = maybe(
    command=odd(command_text),
    channel=odd(st.sampled_from(["C111", "C222"])),
    ts=json_values,
    ephemeral=json_values,
    response_url=json_values,
)
views = maybe(
    callback_id=odd(st.just("tb:ask")),
    private_metadata=st.one_of(meta.map(json.dumps), json_values.map(json.dumps), strings),
    state=odd(maybe(values=odd(maybe(answer=odd(maybe(answer=odd(maybe(value=odd(strings))))))))),
    id=json_values,
    hash=json_values,
    team_id=json_values,
    app_installed_team_id=json_values,
)
view_submissions = st.fixed_dictionaries(
    {"type": st.just("view_submission")},
    optional={
        "user": odd(maybe(id=odd(st.just("W111")), team_id=odd(st.just("T111")))),
        "team": json_values,
        "view": odd(views),
    },
)


@FUZZ
@given(payload=view_submissions)
async def test_view_submissions(slack: Served, payload: dict[str, Any]) -> None:
    """Form submissions with odd views and metadata: below 500, no crash."""
    body = interaction(payload)
    await check(slack, "/slack/events", body, {"Content-Type": FORM, **slack_signed(body)},
                command=True)  # fmt: skip


@FUZZ
@given(
    payload=st.one_of(event_bodies, block_actions, view_submissions),
    forge=st.sampled_from(["none", "other secret", "stale", "not a time", "not ASCII"]),
)
async def test_unsigned_slack_requests(slack: Served, payload: dict[str, Any], forge: str) -> None:
    """Unsigned or wrongly signed requests are refused with 401 before their bodies are
    parsed, and change nothing."""
    event = payload.get("type") == "event_callback"
    body = json.dumps(payload).encode() if event else interaction(payload)
    headers: dict[str, Any] = {"Content-Type": "application/json" if event else FORM}
    signed = slack_signed(body)
    if forge == "other secret":
        headers.update(slack_signed(body, secret="not-the-secret"))
    elif forge == "stale":
        stale = str(int(time.time()) - 600)
        headers.update(
            {"X-Slack-Request-Timestamp": stale, "X-Slack-Signature": signed["X-Slack-Signature"]}
        )
    elif forge == "not a time":
        headers.update({**signed, "X-Slack-Request-Timestamp": "x"})
    elif forge == "not ASCII":
        headers.update({**signed, "X-Slack-Signature": "v0=\xe9".encode("latin-1")})
    response = await check(slack, "/slack/events", body, headers, command=False)
    assert response.status_code == 401


# -- Feishu ---------------------------------------------------------------------------------------


def feishu_sealed(payload: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"encrypt": encrypt(ENCRYPT_KEY, json.dumps(payload).encode(), os.urandom(16))}
    ).encode()
    ts, nonce = str(int(time.time())), uuid.uuid4().hex
    sig = signature(timestamp=ts, nonce=nonce, encrypt_key=ENCRYPT_KEY, body=body)
    return body, {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": sig,
    }


EVENT_TYPES = ["im.message.receive_v1", "card.action.trigger", "application.bot.menu_v6", ""]
headers_v2 = maybe(
    event_id=odd(st.uuids().map(str)),
    event_type=odd(st.sampled_from(EVENT_TYPES)),
    tenant_key=odd(st.sampled_from(["t1", "t2"])),
    create_time=odd(st.just(str(int(time.time() * 1000)))),
    app_id=json_values,
).map(lambda header: {**header, "token": TOKEN})
feishu_message = maybe(
    sender=odd(maybe(sender_type=odd(st.just("user")),
                     sender_id=odd(maybe(open_id=odd(st.just("ou_mei")))))),
    message=odd(maybe(
        message_type=odd(st.just("text")),
        chat_type=odd(st.sampled_from(["p2p", "group"])),
        chat_id=odd(st.just("oc_group1")),
        message_id=odd(st.uuids().map(str)),
        content=odd(st.one_of(
            maybe(text=odd(command_text)).map(json.dumps), strings)),
        mentions=odd(st.lists(odd(maybe(key=odd(st.just("@_user_1")),
                                        id=odd(maybe(open_id=odd(st.just(BOT_OPEN_ID)))),
                                        name=json_values)), max_size=3)),
    )),
)  # fmt: skip
feishu_card = maybe(
    operator=odd(maybe(open_id=odd(st.just("ou_mei")), tenant_key=odd(st.just("t1")))),
    action=odd(maybe(
        value=odd(maybe(command=odd(command_text))),
        form_value=odd(maybe(answer=odd(strings))),
        tag=json_values,
    )),
    context=odd(maybe(open_chat_id=odd(st.just("oc_group1")), open_message_id=json_values)),
    token=json_values,
)  # fmt: skip
feishu_envelopes = maybe(
    schema=odd(st.sampled_from(["2.0", "1.0"])),
    header=headers_v2,
    event=odd(st.one_of(feishu_message, feishu_card)),
    type=json_values,
    uuid=json_values,
    challenge=json_values,
)


def writes(payload: dict[str, Any]) -> bool:
    """Whether a Feishu payload might be a command (a message or a card action)."""
    header = payload.get("header")
    return isinstance(header, dict) and header.get("event_type") in EVENT_TYPES[:2]


@FUZZ
@given(payload=feishu_envelopes)
async def test_feishu_encrypted_envelopes(feishu: Served, payload: dict[str, Any]) -> None:
    """Encrypted, signed callbacks around arbitrary JSON: below 500, no crash."""
    body, headers = feishu_sealed(payload)
    await check(feishu, "/feishu/events", body, headers, command=writes(payload))


@FUZZ
@given(
    command=odd(command_text),
    value=json_values,
    form_value=json_values,
    operator=json_values,
    context=json_values,
    which=st.sets(st.sampled_from(["value", "form_value", "operator", "context", "action"])),
)
async def test_feishu_card_callbacks(
    feishu: Served, command: Any, value: Any, form_value: Any, operator: Any, context: Any,
    which: set[str],
) -> None:  # fmt: skip
    """card.action.trigger with fields of the wrong type: below 500, no crash."""
    payload = card_event("task list")
    event = payload["event"]
    event["action"]["value"] = {"command": command}
    if "value" in which:
        event["action"]["value"] = value
    if "form_value" in which:
        event["action"]["form_value"] = form_value
    if "operator" in which:
        event["operator"] = operator
    if "context" in which:
        event["context"] = context
    if "action" in which:
        event["action"] = value
    body, headers = feishu_sealed(payload)
    await check(feishu, "/feishu/events", body, headers, command=True)


@FUZZ
@given(payload=st.one_of(feishu_envelopes, json_values))
async def test_feishu_plain_bodies(feishu_plain: Served, payload: Any) -> None:
    """Without an encrypt key, arbitrary JSON bodies: below 500, no crash."""
    body = json.dumps(payload).encode()
    await check(feishu_plain, "/feishu/events", body, {"Content-Type": "application/json"},
                command=isinstance(payload, dict) and writes(payload))  # fmt: skip


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([b'{"encrypt": "AAAA"}', b'{"encrypt": 5}', b'{"encrypt": "!!"}',
                         b"[" * 100_000, b'{"a":' * 100_000, b'{"encrypt": "\xc3\xa9"}']),
        st.binary(min_size=16, max_size=96).map(
            lambda raw: json.dumps({"encrypt": base64.b64encode(raw).decode()}).encode()),
    ),
    signed=st.booleans(),
)  # fmt: skip
async def test_feishu_raw_bodies(feishu: Served, body: bytes, signed: bool) -> None:
    """Bodies that do not decrypt to an object: refused with 4xx, nothing written."""
    headers = {"Content-Type": "application/json"}
    if signed:
        ts, nonce = str(int(time.time())), "n"
        headers.update({
            "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": signature(timestamp=ts, nonce=nonce, encrypt_key=ENCRYPT_KEY, body=body),
        })  # fmt: skip
    response = await check(feishu, "/feishu/events", body, headers, command=False)
    assert 400 <= response.status_code < 500


async def test_a_well_formed_message_passes_the_same_checks(feishu: Served) -> None:
    """A real command passes the checks the properties make, and writes its task."""
    body, headers = feishu_sealed(message_event("task add Fuzzed"))
    response = await check(feishu, "/feishu/events", body, headers, command=True)
    assert response.json() == {"msg": "success"}
    assert snapshot(feishu.db)["task"] != []


# -- the bugs the properties found: the payloads that triggered them -------------------------------


def event_callback(event: Any, **outer: Any) -> dict[str, Any]:
    return {"type": "event_callback", "team_id": "T111", "event_id": "Ev1", "event": event, **outer}


BOLT_CANNOT_TAKE = [
    (b"command=%2Ftask&text=\xff\xfe", FORM),  # not UTF-8
    (b"{", "application/json"),  # not JSON
    (b"[1, 2]", "application/json"),  # JSON, not an object
    (b"[" * 100_000, "application/json"),  # nested past the recursion limit
    (b"payload=%5B%5D", FORM),  # an interaction that is not an object
    (json.dumps(event_callback(None)).encode(), "application/json"),
    (json.dumps(event_callback("app_mention")).encode(), "application/json"),
    (interaction({"type": "block_actions", "actions": []}), FORM),
    (interaction({"type": "block_actions", "actions": [{"value": "x"}]}), FORM),
    (interaction({"type": "block_actions", "actions": [{"action_id": 5}]}), FORM),
    (interaction({"type": "view_submission", "view": {"callback_id": "tb:ask"}}), FORM),
    (json.dumps({"command": ["/task"]}).encode(), "application/json"),
]


async def test_signed_slack_bodies_bolt_cannot_take_are_refused(slack: Served) -> None:
    """A signed body that bolt's parser or matchers would raise on (a 500) is a 400, unchanged."""
    for body, content_type in BOLT_CANNOT_TAKE:
        headers = {"Content-Type": content_type, **slack_signed(body)}
        response = await check(slack, "/slack/events", body, headers, command=False)
        answer = (response.status_code, response.json())
        assert answer == (400, {"error": "malformed request"}), body[:80]


async def test_forged_signature_headers_that_crashed_the_check_are_refused(slack: Served) -> None:
    """Anyone could get a 500 with a timestamp that is not a number or a non-ASCII signature: now 401."""
    body = b"command=%2Ftask&text=add+x"
    now = str(int(time.time())).encode()  # fresh, so that the signature itself is compared
    for timestamp, sig in [(b"x", b"v0=00"), ("²".encode("latin-1"), b"v0=00"),
                           (now, "v0=\xe9".encode("latin-1"))]:  # fmt: skip
        headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": sig}  # fmt: skip
        response = await check(slack, "/slack/events", body, headers, command=False)
        assert (response.status_code, response.json()) == (401, {"error": "invalid request"})


async def test_mentions_with_fields_of_the_wrong_type_do_not_crash(slack: Served) -> None:
    """A mention whose user, channel, text or event id is not a string is answered, not a 500."""
    for payload in [
        event_callback({"type": "app_mention", "user": [], "text": "<@UBOT> task add x"}),
        event_callback({"type": "app_mention", "user": "W111", "channel": {}, "text": 5}),
        event_callback({"type": "app_mention", "user": "W111", "text": "<@UBOT> task list"},
                       event_id=["Ev", 1]),
    ]:  # fmt: skip
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **slack_signed(body)}
        response = await check(slack, "/slack/events", body, headers, command=True)
        assert response.status_code == 200, payload


async def test_interactions_with_parts_of_the_wrong_type_do_not_crash(slack: Served) -> None:
    """Buttons and forms whose team, channel, container, value, metadata or state have the
    wrong type are acknowledged without a crash in the listener or in the background."""
    for payload in [
        {"type": "block_actions", "team": "T111", "channel": ["C111"], "container": 1,
         "user": {"id": "W111"}, "actions": [{"action_id": "tb:task_list", "value": 7}]},
        {"type": "block_actions", "team": {"id": "T111"}, "user": "W111", "response_url": 5,
         "actions": [{"action_id": "tb:ask:task_block", "value": "{not json"}]},
        {"type": "block_actions", "team": {"id": "T111"}, "user": {"id": ["W111"]},
         "actions": [{"action_id": "tb:ask:task_block", "value": "[1]"}]},
        {"type": "view_submission", "user": {"id": "W111", "team_id": "T111"},
         "view": {"type": "modal", "callback_id": "tb:ask", "private_metadata": "{not json",
                  "state": {"values": {"answer": []}}}},
        {"type": "view_submission", "user": {"id": "W111", "team_id": "T111"},
         "view": {"type": "modal", "callback_id": "tb:ask",
                  "private_metadata": json.dumps({"command": 1, "channel": "C111", "response_url": 2}),
                  "state": "x"}},
    ]:  # fmt: skip
        body = interaction(payload)
        headers = {"Content-Type": FORM, **slack_signed(body)}
        response = await check(slack, "/slack/events", body, headers, command=True)
        assert response.status_code == 200, payload


async def test_feishu_messages_with_parts_of_the_wrong_type(feishu: Served) -> None:
    """A message event whose parts have the wrong type is answered or ignored: no logged crash."""
    text = json.dumps({"text": "task list"})
    for event, header in [
        ({"message": True}, {}),
        ({"sender": "ou_mei", "message": {"message_type": "text", "content": 5}}, {}),
        ({"message": {"message_type": "text", "chat_type": "p2p", "mentions": 3, "content": text}},
         {}),
        ({"message": {"message_type": "text", "chat_type": "p2p", "mentions": [{"key": []}],
                      "content": text}}, {}),
        ({"message": {"message_type": "text", "chat_type": "p2p", "chat_id": "oc_p2p",
                      "content": text}, "sender": {"sender_id": {"open_id": "ou_mei"}}},
         {"event_id": ["e"], "tenant_key": 1}),
    ]:  # fmt: skip
        payload = message_event("task list")
        payload["event"] = event
        payload["header"].update(header)
        response = await check(feishu, "/feishu/events", *feishu_sealed(payload), command=True)
        assert response.json() == {"msg": "success"}, event


async def test_feishu_card_callbacks_with_parts_of_the_wrong_type(feishu: Served) -> None:
    """A card callback whose action, form values, operator or context have the wrong type
    gets an answer (or an empty one), never a swallowed crash."""
    for key, value in [("form_value", ["reason"]), ("operator", "ou_mei"),
                       ("context", ["oc_group1"]), ("action", "task list"),
                       ("value", {"command": ["task", "list"]})]:  # fmt: skip
        payload = card_event("task list")
        part = payload["event"]["action"] if key in ("form_value", "value") else payload["event"]
        part[key] = value
        response = await check(feishu, "/feishu/events", *feishu_sealed(payload), command=True)
        assert response.status_code == 200 and "msg" not in response.json(), key


async def test_feishu_plain_event_with_a_unicode_digit_time_is_refused(
    feishu_plain: Served,
) -> None:
    """create_time "²" passed isdigit() and then broke int() (a 500): now an ordinary event."""
    payload = message_event("task list")
    payload["header"]["create_time"] = "²"
    body = json.dumps(payload).encode()
    response = await check(feishu_plain, "/feishu/events", body,
                           {"Content-Type": "application/json"}, command=True)  # fmt: skip
    assert response.json() == {"msg": "success"}


async def test_feishu_deeply_nested_json_is_refused(feishu: Served) -> None:
    """JSON nested past Python's recursion limit is a 401 like any unreadable body, not a 500."""
    for body in (b"[" * 100_000, b'{"encrypt": ' + b"[" * 100_000):
        response = await check(feishu, "/feishu/events", body,
                               {"Content-Type": "application/json"}, command=False)  # fmt: skip
        assert response.status_code == 401
