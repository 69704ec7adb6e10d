"""Feishu's parts without an HTTP server: event translation (translate.command_of), card
rendering and escaping (render), the callback checks (verify.Verifier), and the long
connection (FEISHU_MODE=ws) driven through lark-oapi's own event dispatcher.

The long connection is tested with lark-oapi's network step, `lark_oapi.ws.client.Client
._connect`, replaced by a no-op coroutine (the one stub, at the SDK boundary); everything
else — the ws thread, its event loop, the SDK's EventDispatcherHandler and models — is real.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from sqlmodel import Session, select

from bot.feishu.render import CARD_BUDGET, card, escape, markdown, request_bytes
from bot.feishu.translate import FeishuCommand, command_of
from bot.feishu.verify import Rejected, Verifier, encrypt, signature
from commands.types import Button, Field, Lit, Mention, MentionRef, Reply, Rich, Tone, Val
from storage.db import Database
from storage.models import Task
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.feishu_support import (
    FeishuHarness,
    button,
    card_event,
    from_the_sdk,
    message_event,
    running_long_connection,
    task_card,
)

BOT = "ou_bot"
KEY = "unit-encrypt-key"
TOKEN = "unit-token"
NOW = 1_800_000_000


# -- translate.command_of -------------------------------------------------------------------


def event(text: str, *, chat_type: str | None = "group", mentions: list[tuple[str, str]] = (),
          message_type: str = "text", sender_type: str | None = "user",
          content: str | None = None) -> dict[str, Any]:  # fmt: skip
    message: dict[str, Any] = {
        "message_id": "om_1", "chat_id": "oc_1", "message_type": message_type,
        "content": content if content is not None else json.dumps({"text": text}),
        "mentions": [{"key": f"@_user_{n}", "id": {"open_id": oid}, "name": name}
                     for n, (oid, name) in enumerate(mentions, start=1)],
    }  # fmt: skip
    if chat_type is not None:
        message["chat_type"] = chat_type
    sender: dict[str, Any] = {"sender_id": {"open_id": "ou_me"}}
    if sender_type is not None:
        sender["sender_type"] = sender_type
    return {"sender": sender, "message": message}


def test_the_bots_placeholder_is_removed_and_other_people_become_mentions() -> None:
    """`@_user_1` (the bot) disappears; `@_user_2` becomes `@ou_li` with 李's name."""
    found = command_of(
        event("@_user_1 task assign T-1 @_user_2", mentions=[(BOT, "teambot"), ("ou_li", "李")]),
        bot_open_id=BOT,
    )
    assert found == FeishuCommand(
        text="task assign T-1 @ou_li",
        mentions={"ou_li": MentionRef(platform_user_id="ou_li", display_name="李")},
        chat_id="oc_1", chat_type="group", message_id="om_1", sender_open_id="ou_me",
    )  # fmt: skip


def test_a_placeholder_is_removed_only_when_it_is_the_bot() -> None:
    """The same `@_user_1` is the bot's (removed) or a person's (kept) by its open_id; a group message mentioning only someone else is not for us."""
    as_bot = command_of(event("task add 写 @_user_1", chat_type="p2p", mentions=[(BOT, "bot")]),
                        bot_open_id=BOT)  # fmt: skip
    as_person = command_of(
        event("task add 写 @_user_1", chat_type="p2p", mentions=[("ou_li", "李")]),
        bot_open_id=BOT,
    )
    assert as_bot is not None and (as_bot.text, as_bot.mentions) == ("task add 写", {})
    assert as_person is not None and as_person.text == "task add 写 @ou_li"
    assert list(as_person.mentions) == ["ou_li"]
    assert (
        command_of(event("@_user_1 task list", mentions=[("ou_li", "李")]), bot_open_id=BOT) is None
    )


def test_placeholders_with_more_digits_are_not_confused() -> None:
    """`@_user_10` is its own placeholder, not `@_user_1` followed by "0"."""
    people = [(BOT, "bot")] + [(f"ou_{n}", f"n{n}") for n in range(2, 11)]
    found = command_of(event("@_user_1 task assign T-1 @_user_10", mentions=people),
                       bot_open_id=BOT)  # fmt: skip
    assert found is not None
    assert (found.text, list(found.mentions)) == ("task assign T-1 @ou_10", ["ou_10"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"text": "task list", "chat_type": "p2p"}, "task list"),
        ({"text": "task list"}, None),
        ({"text": "task list", "chat_type": None}, None),  # no chat_type: a group
        ({"text": "@_user_1 task list", "chat_type": None, "mentions": [(BOT, "b")]}, "task list"),
        ({"text": "@_user_1", "mentions": [(BOT, "b")]}, None),  # only the mention
        ({"text": "@_user_1 ", "chat_type": "p2p", "mentions": [(BOT, "b")]}, None),
    ],
    ids=["p2p", "group-unaddressed", "default-group", "default-group-addressed", "only-mention",
         "p2p-only-mention"],
)  # fmt: skip
def test_p2p_text_is_always_a_command_group_text_only_when_it_mentions_the_bot(
    kwargs: dict[str, Any], expected: str | None
) -> None:
    """One-to-one: every text; group (also when chat_type is missing): only with the bot's mention; nothing left after the mention is no command."""
    found = command_of(event(**kwargs), bot_open_id=BOT)
    assert (found.text if found else None) == expected


def test_without_the_bots_open_id_group_messages_are_ignored() -> None:
    """If bot info could not be fetched, no group message counts as addressed to the bot."""
    assert command_of(event("@_user_1 task list", mentions=[(BOT, "b")]), bot_open_id=None) is None
    found = command_of(event("task list", chat_type="p2p"), bot_open_id=None)
    assert found is not None and found.text == "task list"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "task list", "chat_type": "p2p", "message_type": "image"},
        {"text": "task list", "chat_type": "p2p", "message_type": "post"},
        {"text": "task list", "chat_type": "p2p", "message_type": "interactive"},
        {"text": "task list", "chat_type": "p2p", "sender_type": "app"},
        {"text": "task list", "chat_type": "p2p", "sender_type": "bot"},
    ],
    ids=["image", "post", "interactive", "app-sender", "bot-sender"],
)
def test_non_text_messages_and_bot_senders_are_ignored(kwargs: dict[str, Any]) -> None:
    """Only text from people is a command; the bot's own and other apps' messages never are."""
    assert command_of(event(**kwargs), bot_open_id=BOT) is None


def test_a_missing_sender_type_counts_as_a_person() -> None:
    """An event without sender_type is treated as sent by a user."""
    found = command_of(event("task list", chat_type="p2p", sender_type=None), bot_open_id=BOT)
    assert found is not None and found.text == "task list"


def test_at_all_becomes_the_words_at_all_and_no_mention() -> None:
    """`@_all` is the plain word "@all", never a MentionRef (so never anyone's ping)."""
    found = command_of(event("@_user_1 task comment T-1 @_all 看这里", mentions=[(BOT, "b")]),
                       bot_open_id=BOT)  # fmt: skip
    assert found is not None
    assert (found.text, found.mentions) == ("task comment T-1 @all 看这里", {})


@pytest.mark.parametrize(
    "content",
    ['{"text": "task list"', "not json", "[1, 2]", '"task list"', '{"text": 7}', '{"title": "x"}'],
    ids=["truncated", "not-json", "array", "string", "text-not-string", "no-text"],
)
def test_malformed_content_is_no_command(content: str) -> None:
    """Content that is not a JSON object with a text string gives None, never an exception."""
    assert command_of(event("", chat_type="p2p", content=content), bot_open_id=BOT) is None


def test_a_placeholder_without_its_mention_entry_is_dropped() -> None:
    """`@_user_3` with no entry in mentions[] is removed, not turned into a mention."""
    found = command_of(event("@_user_1 task add 写 @_user_3", mentions=[(BOT, "b")]),
                       bot_open_id=BOT)  # fmt: skip
    assert found is not None and (found.text, found.mentions) == ("task add 写", {})


# -- render ---------------------------------------------------------------------------------------


def test_values_and_words_are_escaped_for_card_markdown() -> None:
    """`<at user_id="all">` (and `<at id=…>`, `&`) typed by a user is shown, never parsed."""
    rich = Rich((Lit("T-1: "), Val('<at user_id="all"></at> <at id=ou_x></at> & <b>')))
    assert markdown(rich, ping=True) == (
        'T-1: &lt;at user_id="all"&gt;&lt;/at&gt; &lt;at id=ou_x&gt;&lt;/at&gt; &amp; &lt;b&gt;'
    )
    assert escape("&lt;") == "&amp;lt;"  # escaping is not undone by pre-escaped input


def test_a_title_cannot_become_a_link_in_card_markdown() -> None:
    """`[text](url)` typed by a user keeps its brackets as characters, so it is no link."""
    rich = Rich((Lit("T-1: "), Val("[点我](https://example.invalid/x)")))
    assert markdown(rich, ping=False) == "T-1: &#91;点我&#93;(https://example.invalid/x)"


@pytest.mark.parametrize(
    ("mention", "ping", "expected"),
    [
        (Mention(1, "李", "feishu", "ou_li"), True, "<at id=ou_li></at>"),
        (Mention(1, "李", "feishu", "ou_li"), False, "**李**"),
        (Mention(2, "mei", "slack", "W111"), True, "**mei**"),
        (Mention(3, "王", "feishu", "on_union"), True, "**王**"),
        (Mention(4, "u", "feishu", "ou_x></at><at id=all"), False, "**u**"),
        (Mention(5, '<at user_id="all">', "feishu", "u_1"), True, '**&lt;at user_id="all"&gt;**'),
    ],
    ids=["feishu-ping", "feishu-no-ping", "slack-member", "not-an-open-id", "hostile-id-no-ping",
         "hostile-name"],
)  # fmt: skip
def test_mentions_ping_only_feishu_open_ids_and_only_when_wanted(
    mention: Mention, ping: bool, expected: str
) -> None:
    """`<at id=ou_…></at>` only with ping=True for a Feishu ou_ id; otherwise the escaped name."""
    assert markdown(Rich((mention,)), ping=ping) == expected


@pytest.mark.parametrize(
    ("tone", "template"),
    [(Tone.INFO, "blue"), (Tone.SUCCESS, "green"), (Tone.WARNING, "orange"), (Tone.ERROR, "red")],
)
def test_header_is_always_plain_text_with_the_tones_template(tone: Tone, template: str) -> None:
    """The header title is a plain_text object (Feishu never parses it), shown as typed."""
    title = Rich((Lit("Created T-1: "), Val('<at user_id="all"></at> **x**')))
    built = card(Reply(title=title, tone=tone))
    assert built == {
        "schema": "2.0",
        "config": {"update_multi": True,
                   "summary": {"content": 'Created T-1: <at user_id="all"></at> **x**'}},
        "header": {"title": {"tag": "plain_text",
                             "content": 'Created T-1: <at user_id="all"></at> **x**'},
                   "template": template},
        "body": {"elements": []},
    }  # fmt: skip


def test_fields_buttons_and_the_block_form_in_card_json_2() -> None:
    """Fields are one markdown block, plain buttons a column_set of callbacks, an asking button a form with input "answer" and a submit button."""
    reply = Reply(
        title=Rich.lit("Created T-1: x"),
        fields=(Field(Rich.lit("Status"), Rich.lit("to do")),
                Field(Rich.lit("R · Responsible"), Rich((Mention(1, "李", "feishu", "ou_li"),)))),
        buttons=(Button(Rich.lit("Start"), "task start T-1", "task_start", "primary"),
                 Button(Rich.lit("Claim"), "task claim T-1", "task_claim"),
                 Button(Rich.lit("Block"), "task block T-1", "task_block", "danger",
                        asks=Rich.lit("reason"))),
        tone=Tone.SUCCESS,
    )  # fmt: skip
    assert card(reply)["body"]["elements"] == [
        {"tag": "markdown", "content": "**Status**：to do\n**R · Responsible**：**李**"},
        {"tag": "column_set", "flex_mode": "flow", "columns": [
            {"tag": "column", "width": "auto", "elements": [{
                "tag": "button", "text": {"tag": "plain_text", "content": "Start"},
                "type": "primary",
                "behaviors": [{"type": "callback", "value": {"command": "task start T-1"}}]}]},
            {"tag": "column", "width": "auto", "elements": [{
                "tag": "button", "text": {"tag": "plain_text", "content": "Claim"},
                "type": "default",
                "behaviors": [{"type": "callback", "value": {"command": "task claim T-1"}}]}]},
        ]},
        {"tag": "form", "name": "form_task_block", "elements": [
            {"tag": "input", "name": "answer",
             "placeholder": {"tag": "plain_text", "content": "reason"}, "max_length": 500},
            {"tag": "button", "text": {"tag": "plain_text", "content": "Block"}, "type": "danger",
             "behaviors": [{"type": "callback", "value": {"command": "task block T-1"}}],
             "form_action_type": "submit", "name": "submit_task_block"},
        ]},
    ]  # fmt: skip
    assert "<at id=ou_li></at>" in card(reply, ping=True)["body"]["elements"][0]["content"]


def test_an_oversized_list_is_cut_between_items_under_the_byte_limit() -> None:
    """300 long items: whole items are dropped (a "… (+N)" note says how many) so the card, as a request body carries it, stays within CARD_BUDGET; the buttons stay last."""
    items = tuple(Rich((Lit(f"T-{n} "), Val("长" * 190 + "&"))) for n in range(1, 301))
    reply = Reply(title=Rich.lit("All tasks (300)"), items=items,
                  buttons=(Button(Rich.lit("Done"), "task done T-1", "task_done", "primary"),))  # fmt: skip
    built = card(reply)
    assert request_bytes(built) <= CARD_BUDGET
    elements = built["body"]["elements"]
    shown = [line for e in elements[:-2] for line in e["content"].split("\n")]
    assert shown == [f"- T-{n} {'长' * 190}&amp;" for n in range(1, len(shown) + 1)]
    assert elements[-2] == {"tag": "markdown", "content": f"… (+{300 - len(shown)})",
                            "text_size": "notation"}  # fmt: skip
    assert elements[-1]["tag"] == "column_set"


# -- verify.Verifier ------------------------------------------------------------------------------


def sealed_raw(plain: bytes, *, key: str = KEY, ts: str = str(NOW),
               nonce: str = "n1") -> tuple[dict[str, str], bytes]:  # fmt: skip
    body = json.dumps({"encrypt": encrypt(key, plain, bytes(range(16)))}).encode()
    headers = {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature(timestamp=ts, nonce=nonce, encrypt_key=key, body=body),
    }
    return headers, body


def refusal(verifier: Verifier, headers: dict[str, str], body: bytes) -> str:
    """The reason a callback is Rejected (failing the test if it is not)."""
    with pytest.raises(Rejected) as caught:
        verifier.open(headers, body, now=NOW)
    return str(caught.value)


def v2(token: str = TOKEN, **header: Any) -> dict[str, Any]:
    return {"schema": "2.0", "header": {"event_id": "e1", "token": token, **header}, "event": {}}


def test_an_encrypted_signed_event_opens_with_any_header_case() -> None:
    """Canonical (X-Lark-…) and lower-case (what Starlette gives) header names both work."""
    headers, body = sealed_raw(json.dumps(v2()).encode())
    verifier = Verifier(verification_token=TOKEN, encrypt_key=KEY)
    lower = {k.lower(): v for k, v in headers.items()}
    assert verifier.open(headers, body, now=NOW) == v2()
    assert verifier.open(lower, body, now=NOW) == v2()


@pytest.mark.parametrize(
    "missing",
    ["X-Lark-Signature", "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "all"],
)
def test_missing_signature_headers_are_refused(missing: str) -> None:
    """With an encrypt key, a request lacking any of the three headers is refused."""
    headers, body = sealed_raw(json.dumps(v2()).encode())
    kept = {} if missing == "all" else {k: v for k, v in headers.items() if k != missing}
    verifier = Verifier(verification_token=TOKEN, encrypt_key=KEY)
    assert refusal(verifier, kept, body) == "bad signature"


def test_a_signed_request_without_a_timestamp_is_refused() -> None:
    """Signed over an empty timestamp: still refused, for having no timestamp."""
    headers, body = sealed_raw(json.dumps(v2()).encode(), ts="")
    verifier = Verifier(verification_token=TOKEN, encrypt_key=KEY)
    assert refusal(verifier, headers, body) == "no timestamp"


@pytest.mark.parametrize(("skew", "accepted"), [(300, True), (-300, True), (301, False),
                                                 (-301, False)])  # fmt: skip
def test_the_replay_window_is_five_minutes_either_way(skew: int, accepted: bool) -> None:
    """A timestamp up to 300 s off now (past or future) is accepted; 301 s is refused."""
    headers, body = sealed_raw(json.dumps(v2()).encode(), ts=str(NOW + skew))
    verifier = Verifier(verification_token=TOKEN, encrypt_key=KEY)
    if accepted:
        assert verifier.open(headers, body, now=NOW) == v2()
    else:
        assert refusal(verifier, headers, body) == "stale timestamp"


@pytest.mark.parametrize(
    ("plain", "reason"),
    [
        (b"[1, 2]", "payload is not an object"),
        (b'"a string"', "payload is not an object"),
        (b"null", "payload is not an object"),
        (b"\xff\xfe not utf-8", "decrypted body is not JSON"),
        (b"{not json", "decrypted body is not JSON"),
    ],
)
def test_encrypted_payloads_that_are_not_objects_are_refused(plain: bytes, reason: str) -> None:
    """Correctly encrypted and signed, but the plaintext is no JSON object: refused."""
    headers, body = sealed_raw(plain)
    verifier = Verifier(verification_token=TOKEN, encrypt_key=KEY)
    assert refusal(verifier, headers, body) == reason


@pytest.mark.parametrize(
    ("outer", "reason"),
    [
        ({"encrypt": 5}, "encrypt key set but body not encrypted"),
        (v2(), "encrypt key set but body not encrypted"),
        ({"encrypt": "not base64!"}, "encrypt is not base64"),
        ({"encrypt": "AAAA"}, "encrypt has a bad length"),
    ],
)
def test_signed_bodies_without_a_usable_encrypt_field_are_refused(
    outer: dict[str, Any], reason: str
) -> None:
    """Signed correctly, but no (valid) `encrypt` string: refused, never an exception."""
    body = json.dumps(outer).encode()
    headers = {
        "X-Lark-Request-Timestamp": str(NOW), "X-Lark-Request-Nonce": "n",
        "X-Lark-Signature": signature(timestamp=str(NOW), nonce="n", encrypt_key=KEY, body=body),
    }  # fmt: skip
    verifier = Verifier(verification_token=TOKEN, encrypt_key=KEY)
    assert refusal(verifier, headers, body) == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "body is not an object"),
        (b"7", "body is not an object"),
        (b'"x"', "body is not an object"),
        (b"null", "body is not an object"),
        (b"", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b'{"encrypt": "x"}', "encrypted body but no encrypt key configured"),
        (b'{"type": "url_verification", "challenge": "c"}', "bad verification token"),
        (b'{"token": 5, "type": "url_verification"}', "bad verification token"),
        (b'{"schema": "2.0", "header": null, "token": "unit-token"}', "header is not an object"),
        (b'{"schema": "2.0", "header": {"token": "other"}}', "bad verification token"),
    ],
    ids=["array", "number", "string", "null", "empty", "not-utf8", "encrypted", "no-token",
         "token-not-string", "header-null", "wrong-header-token"],
)  # fmt: skip
def test_plain_bodies_without_an_encrypt_key(body: bytes, reason: str) -> None:
    """Without an encrypt key bodies are plain JSON objects and still need the right token."""
    assert refusal(Verifier(verification_token=TOKEN), {}, body) == reason


@pytest.mark.parametrize(
    "header", ["a string", ["a", "list"], 7, True], ids=["str", "list", "int", "bool"]
)
def test_a_non_object_header_is_refused_not_an_exception(header: Any) -> None:
    """A plain body whose "header" is not an object is Rejected (→ 401), never an AttributeError (→ 500)."""
    body = json.dumps({"schema": "2.0", "header": header, "token": TOKEN}).encode()
    assert refusal(Verifier(verification_token=TOKEN), {}, body)  # any reason: the fix's wording


def test_plain_events_use_their_own_create_time_as_the_replay_window() -> None:
    """Unsigned (no encrypt key) events older than 5 minutes by header.create_time are stale; a fresh one and a URL check (no header) open."""
    verifier = Verifier(verification_token=TOKEN)
    fresh = v2(create_time=str((NOW - 299) * 1000))
    old = v2(create_time=str((NOW - 301) * 1000))
    check = {"challenge": "c1", "token": TOKEN, "type": "url_verification"}
    assert verifier.open({}, json.dumps(fresh).encode(), now=NOW) == fresh
    assert verifier.open({}, json.dumps(check).encode(), now=NOW) == check
    assert refusal(verifier, {}, json.dumps(old).encode()) == "stale event"


# -- the long connection (FEISHU_MODE=ws) -------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美"})
    yield server
    server.stop()


@pytest.fixture
async def ws(
    db_url: str, fake: FakeFeishu, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FeishuHarness]:
    """The app in FEISHU_MODE=ws, lark-oapi's connect step (its only network step) a no-op."""
    async with running_long_connection(db_url, fake, monkeypatch, clock=clock) as harness:
        yield harness


def statuses(db: Database) -> list[tuple[str, str]]:
    with Session(db.engine) as session:
        return [(t.title, t.status) for t in session.exec(select(Task).order_by(Task.number))]  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_long_connection_runs_beside_the_server_and_delivers_messages(
    ws: FeishuHarness, db: Database
) -> None:
    """FEISHU_MODE=ws (SDK connect step stubbed): the ws thread runs without blocking /healthz (< 2 s), no /feishu/events route, an SDK-dispatched message creates the task and posts its card."""
    thread = ws.feishu._ws_thread
    assert thread is not None and thread.is_alive()
    with anyio.fail_after(2):
        health = await ws.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
    assert thread.is_alive()
    missing = await ws.client.post("/feishu/events", content=b"{}")
    assert missing.status_code == 404

    answer = await from_the_sdk(ws, message_event("task add 长连接", message_id="om_ws1"))
    assert answer is None  # the SDK gets its handler back at once; our loop does the work
    with anyio.fail_after(5):
        while not ws.fake.sent():
            await anyio.sleep(0.02)
    await ws.settle()
    assert ws.fake.sent() == [{
        "query": {"receive_id_type": "chat_id"},
        "receive_id": "oc_group1",
        "msg_type": "interactive",
        "uuid": "reply-om_ws1",
        "content": task_card(
            "Created T-1: 长连接", "green",
            "**Status**：to do\n**Priority**：medium\n**Due**：not set\n**R · Responsible**：—",
            [button("Start", "task start T-1"), button("Done", "task done T-1"),
             button("Claim", "task claim T-1", "default")],
        ),
    }]  # fmt: skip
    assert statuses(db) == [("长连接", "todo")]


@pytest.mark.anyio
async def test_long_connection_card_action_returns_the_card_update_to_the_sdk(
    ws: FeishuHarness, db: Database
) -> None:
    """FEISHU_MODE=ws (SDK connect step stubbed): a card.action.trigger dispatched by the SDK returns a P2CardActionTriggerResponse whose JSON is the toast and updated raw card."""
    import lark_oapi as lark
    from lark_oapi.event.callback.model.p2_card_action_trigger import (
        P2CardActionTriggerResponse,
    )

    await from_the_sdk(ws, message_event("task add 长连接"))
    with anyio.fail_after(5):
        while not ws.fake.sent():  # the reply to the message is out: it was handled
            await anyio.sleep(0.02)
    await ws.settle()
    assert statuses(db) == [("长连接", "todo")]

    result = await from_the_sdk(ws, card_event("task start T-1"))
    assert isinstance(result, P2CardActionTriggerResponse)
    assert json.loads(lark.JSON.marshal(result)) == {
        "toast": {"type": "success", "content": "@美 started T-1: 长连接"},
        "card": {"type": "raw", "data": task_card(
            "@美 started T-1: 长连接", "blue",
            "**Status**：in progress\n**Priority**：medium\n**Due**：not set\n"
            "**R · Responsible**：—",
            [button("Done", "task done T-1"), button("Claim", "task claim T-1", "default")],
        )},
    }  # fmt: skip
    assert statuses(db) == [("长连接", "doing")]
