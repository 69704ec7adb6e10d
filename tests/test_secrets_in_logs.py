"""No secret is ever written to the log, whatever happens and at whatever level.

One full session of the real app, with every logger (ours, bolt, slack-sdk, lark-oapi,
aiohttp, urllib3, SQLAlchemy, alembic…) at DEBUG: Slack in HTTP mode plus Socket Mode,
Feishu over HTTP with an encrypt key, the scheduler posting through the hub; commands,
button presses, forged requests, API failures (500) and rate limits (429). Every record
is searched for every configured secret, raw or in an obvious encoding (base64, URL
escaping, hex), and for the Feishu tenant token the fake hands out.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import anyio
import pytest
from sqlalchemy.engine import make_url

from bot.hub import Hub
from bot.scheduling import hub_sender
from bot.settings import Settings
from schedules.engine import Engine
from tests.conftest import Clock
from tests.fake_feishu import Failure as FeishuFailure
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import Failure as SlackFailure
from tests.fake_slack import FakeSlack
from tests.feishu_support import (
    FeishuHarness,
    both_fakes,
    card_event,
    message_event,
    running,
    sealed,
)
from tests.slack_support import Harness, fixture_json, sign

pytestmark = pytest.mark.anyio

BOT_TOKEN = "xoxb-4242-SECRETbottoken7q"
SIGNING_SECRET = "SECRETsigning5u7w1q0a9z8x7c6v5b"
APP_TOKEN = "xapp-1-SECRETapptoken4h8d"
FEISHU_SECRET = "SECRETfeishuappsecret2p9z"
VERIFICATION_TOKEN = "SECRETverificationtoken7m3n"
ENCRYPT_KEY = "SECRETencryptkey1b6c"
DB_PASSWORD = "SECRETdbpassword8x2v"
TENANT_TOKEN = "t-fake-token"  # what the fake Feishu hands out as tenant_access_token
SECRETS = [BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, FEISHU_SECRET, VERIFICATION_TOKEN,
           ENCRYPT_KEY, DB_PASSWORD, TENANT_TOKEN]  # fmt: skip


def encodings(secret: str) -> set[str]:
    """The secret as it could show up in a log line."""
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        hashlib.sha256(raw).hexdigest(),  # the AES key Feishu derives from the encrypt key
    }


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def everywhere_debug(handler: logging.Handler) -> None:
    """Every logger that exists now at DEBUG, and the handler on those that do not propagate."""
    logging.getLogger().setLevel(logging.DEBUG)
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if not logger.propagate and handler not in logger.handlers:
                logger.addHandler(handler)


@contextmanager
def captured() -> Iterator[Everything]:
    handler = Everything()
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    logging.getLogger().addHandler(handler)
    everywhere_debug(handler)
    try:
        yield handler
    finally:
        for logger in [*logging.root.manager.loggerDict.values(), logging.getLogger()]:
            if isinstance(logger, logging.Logger) and handler in logger.handlers:
                logger.removeHandler(handler)
        for logger in logging.root.manager.loggerDict.values():
            if isinstance(logger, logging.Logger):
                logger.setLevel(logging.NOTSET)  # the ones made during the session
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


def text_of(record: logging.LogRecord) -> str:
    """Everything a handler could write out for the record."""
    formatter = logging.Formatter()
    parts = [str(record.msg), record.getMessage(), repr(record.args)]
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    standard = logging.LogRecord("", 0, "", 0, "", (), None).__dict__
    parts.extend(repr(v) for k, v in record.__dict__.items() if k not in standard)
    return "\n".join(parts)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeFeishu]]:
    with both_fakes(
        slack_users={"W111": "mei", "W222": "li"}, feishu_users={"ou_mei": "美", "ou_li": "李"}
    ) as pair:
        yield pair


def with_password(db_url: str) -> str:
    """The test database's URL with a password in it (PostgreSQL; SQLite has none)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return db_url
    return url.set(password=DB_PASSWORD).render_as_string(hide_password=False)


def secret_settings(db_url: str, fakes: tuple[FakeSlack, FakeFeishu]) -> Settings:
    fake_slack, fake_feishu = fakes
    return Settings(
        database_url=with_password(db_url), slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET, slack_app_token=APP_TOKEN,
        slack_api_url=fake_slack.api_url,
        # a new app id each time: lark-oapi caches tenant tokens by app id, process-wide
        feishu_app_id=f"cli_secrets_{uuid.uuid4().hex[:8]}", feishu_app_secret=FEISHU_SECRET,
        feishu_verification_token=VERIFICATION_TOKEN, feishu_encrypt_key=ENCRYPT_KEY,
        feishu_domain=fake_feishu.url,
    )  # fmt: skip


def leaks(records: list[logging.LogRecord]) -> list[tuple[str, str, str]]:
    """(logger, secret, record text) for every record that holds a secret."""
    return [
        (record.name, secret, text[:300])
        for record in records
        for text in [text_of(record)]
        for secret in SECRETS
        if any(form in text for form in encodings(secret))
    ]


@pytest.fixture
async def session(
    db_url: str, fakes: tuple[FakeSlack, FakeFeishu], clock: Clock
) -> AsyncIterator[tuple[FeishuHarness, Harness, Everything]]:
    fake_slack, fake_feishu = fakes
    settings = secret_settings(db_url, fakes)
    with captured() as log:
        async with running(settings, fake_feishu, clock=clock) as feishu:
            everywhere_debug(log)  # lark-oapi sets its own logger's level when it builds a client
            assert feishu.slack is not None
            slack = Harness(client=feishu.client, fake=fake_slack, slack=feishu.slack)
            yield feishu, slack, log


async def until(condition: Any, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await anyio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def ours(payload: dict[str, Any]) -> dict[str, Any]:
    """A Feishu event carrying our verification token."""
    payload["header"]["token"] = VERIFICATION_TOKEN
    return payload


async def drive_slack(slack: Harness) -> None:
    fake = slack.fake
    await slack.slash("/task", "add Write the SRS <@W222|li> due:tomorrow", secret=SIGNING_SECRET)
    await slack.slash("/raci", "T-1 A <@W111|mei> I <@W222|li>", secret=SIGNING_SECRET)
    mention = fixture_json("slack_app_mention.json")
    mention["event"].update({"text": "<@UBOT> task list", "user": "W111"})
    await slack.event(mention, secret=SIGNING_SECRET)
    # the Web API failing: a 500, then a rate limit waited out
    fake.fail_next("chat.postMessage", SlackFailure(500, {"ok": False, "error": "fatal_error"}))
    fake.fail_next("chat.postMessage",
                   SlackFailure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))  # fmt: skip
    for n in (2, 3):
        mention["event_id"] = f"Ev{n}"
        mention["event"]["text"] = f"<@UBOT> task add Mentioned {n}"
        await slack.event(mention, secret=SIGNING_SECRET)
    fake.fail_next("users.info", SlackFailure(500, {"ok": False, "error": "internal_error"}))
    await slack.slash("/task", "list", user="W333", secret=SIGNING_SECRET)
    # a button whose answer goes to a response_url nobody listens on
    click = fixture_json("slack_block_actions.json")
    click["user"]["id"] = "W111"
    click["response_url"] = "http://127.0.0.1:9/response/closed"
    click["actions"][0].update({"action_id": "tb:task_start", "value": "task start T-1",
                                "action_ts": "1.1"})  # fmt: skip
    await slack.interact(click, secret=SIGNING_SECRET)
    # forged: another secret, a stale timestamp, no signature, a malformed one
    body = urlencode({"command": "/task", "text": "add Forged", "team_id": "T111"}).encode()
    form = "application/x-www-form-urlencoded"
    await slack.post(body, form, secret="not-the-signing-secret")
    await slack.post(body, form, secret=SIGNING_SECRET, timestamp=1_000_000_000)
    await slack.client.post("/slack/events", content=body, headers={"Content-Type": form})
    await slack.client.post(
        "/slack/events",
        content=b"{",
        headers={"Content-Type": "application/json", **sign(b"{", secret=SIGNING_SECRET)},
    )
    # Socket Mode: a slash command down the socket
    frames = fixture_json("slack_socket_mode_envelopes.json")["envelopes"]
    frame = copy.deepcopy(next(e for e in frames if e["type"] == "slash_commands"))
    frame["payload"].update({"command": "/task", "text": "add Over the socket"})
    fake.push(frame)
    await until(lambda: fake.acks, "the socket ack")


async def drive_feishu(feishu: FeishuHarness) -> None:
    fake = feishu.fake
    added = ours(message_event("task add 写需求 @_user_2", mentions=[("ou_li", "李")]))
    await feishu.callback(added, key=ENCRYPT_KEY)
    await feishu.callback(ours(card_event("task start T-1")), key=ENCRYPT_KEY)
    path = "/open-apis/im/v1/messages"
    fake.fail_next(path, FeishuFailure(500, {"code": 1, "msg": "internal error"}))
    fake.fail_next(path, FeishuFailure(429, {"code": 99991400, "msg": "request trigger frequency limit"},
                                       {"x-ogw-ratelimit-reset": "0"}))  # fmt: skip
    await feishu.callback(ours(message_event("task list all")), key=ENCRYPT_KEY)
    await feishu.callback(ours(message_event("task list")), key=ENCRYPT_KEY)
    # forged: signed with another key, a wrong verification token, plain JSON, garbage
    forged = ours(message_event("task add Forged"))
    await feishu.callback(forged, key=ENCRYPT_KEY, signed_with="other")
    wrong = message_event("task add Forged")
    wrong["header"]["token"] = "not-the-token"
    await feishu.callback(wrong, key=ENCRYPT_KEY)
    await feishu.post(json.dumps(message_event("task add Plain")).encode(),
                      {"Content-Type": "application/json"})  # fmt: skip
    body, headers = sealed(message_event("x"), key="another-encrypt-key")
    await feishu.post(body, headers)


async def drive_clock(feishu: FeishuHarness, slack: Harness, clock: Clock) -> None:
    """The scheduler posts standup prompts to both platforms through the hub; one post fails."""
    await slack.slash("/standup", "config time:09:30 tz:UTC cutoff:10:30", secret=SIGNING_SECRET)
    configured = ours(message_event("standup config time:09:30 tz:UTC cutoff:10:30"))
    await feishu.callback(configured, key=ENCRYPT_KEY)
    await slack.slash("/digest", "daily 09:45", secret=SIGNING_SECRET)
    hub = Hub()
    assert feishu.slack is not None
    hub.register(feishu.slack)
    hub.register(feishu.feishu)
    router = feishu.feishu.core.router
    engine = Engine(db=router.db, catalog=router.catalog, send=hub_sender(hub), clock=clock)
    slack.fake.fail_next(
        "chat.postMessage", SlackFailure(500, {"ok": False, "error": "fatal_error"})
    )
    clock.now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    await engine.run_due()
    clock.now = datetime(2026, 11, 23, 10, 31, tzinfo=UTC)
    await engine.run_due()
    await feishu.settle()


async def test_a_whole_session_logs_no_secret(
    session: tuple[FeishuHarness, Harness, Everything], clock: Clock
) -> None:
    """Commands, buttons, forged requests, API errors, rate limits and the scheduler, all at
    DEBUG: no record holds a secret, in any obvious encoding."""
    feishu, slack, log = session
    await drive_slack(slack)
    await drive_feishu(feishu)
    await drive_clock(feishu, slack, clock)
    await feishu.settle()
    names = {record.name for record in log.records}
    # The session reached every library whose logs could hold a secret.
    for expected in ("slack_sdk.web.async_base_client", "bot.slack.adapter", "bot.feishu.adapter",
                     "urllib3.connectionpool", "Lark", "schedules.engine", "sqlalchemy.engine.Engine"):  # fmt: skip
        assert any(n == expected or n.startswith(expected + ".") for n in names), (expected, names)
    assert leaks(log.records) == []


async def test_a_refused_tenant_token_is_logged_without_the_app_secret(
    db_url: str, fakes: tuple[FakeSlack, FakeFeishu], clock: Clock
) -> None:
    """Feishu refusing the tenant token at start-up (a wrong app secret, an outage) is logged
    with Feishu's code and never the secret; the app starts and answers one to one."""
    fake_feishu = fakes[1]
    refused = FeishuFailure(500, {"code": 10014, "msg": "app secret invalid"})
    fake_feishu.fail_next("/open-apis/auth/v3/tenant_access_token/internal", refused)
    with captured() as log:
        async with running(secret_settings(db_url, fakes), fake_feishu, clock=clock) as feishu:
            everywhere_debug(log)
            asked = message_event("task add After the refusal", chat_type="p2p", with_bot=False)
            response = await feishu.callback(ours(asked), key=ENCRYPT_KEY)
            assert response.json() == {"msg": "success"}
            [sent] = fake_feishu.sent()
            assert sent["content"]["header"]["title"]["content"] == "Created T-1: After the refusal"
    ours_said = [r.getMessage() for r in log.records if r.name == "bot.feishu.adapter"]
    assert "Feishu bot info failed (code 10014): group messages will be ignored" in ours_said
    assert leaks(log.records) == []


LINK_CODE = re.compile(r"\b[2-9A-HJ-NP-Z]{4}-?[2-9A-HJ-NP-Z]{4}\b")


async def test_link_codes_never_reach_the_log(
    session: tuple[FeishuHarness, Harness, Everything],
) -> None:
    """A channel code and a personal code, issued on Slack and redeemed on Feishu (and a
    wrong one typed), with every logger at DEBUG: no record holds a code, whatever its case
    or dashes."""
    feishu, slack, log = session
    issued = await slack.slash("/teambot", "link", secret=SIGNING_SECRET)
    channel_code = LINK_CODE.search(issued.json()["text"])
    assert channel_code is not None
    mine = await slack.slash("/teambot", "link me", secret=SIGNING_SECRET)
    person_code = LINK_CODE.search(mine.json()["text"])
    assert person_code is not None
    codes = [channel_code.group(0), person_code.group(0), "ZZZZ9999"]
    typed = codes[0][:4].lower() + "-" + codes[0][4:].lower()
    await feishu.callback(ours(message_event(f"teambot link {typed}")), key=ENCRYPT_KEY)
    await feishu.callback(ours(message_event(f"teambot link me {codes[1]}")), key=ENCRYPT_KEY)
    await feishu.callback(ours(message_event(f"teambot link {codes[2]}")), key=ENCRYPT_KEY)
    await feishu.settle()
    assert [m for m in feishu.fake.sent() if "linked" in json.dumps(m, ensure_ascii=False)]
    forms = {f(c) for c in codes for f in (str, str.lower, lambda c: f"{c[:4]}-{c[4:]}")}
    found = [
        (record.name, form, text_of(record)[:300])
        for record in log.records
        for form in forms
        if form in text_of(record) or form.lower() in text_of(record).lower()
    ]
    assert found == []
