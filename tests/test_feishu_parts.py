"""Feishu's parts without a server: callback checks, event translation, card rendering."""

from __future__ import annotations

import json

import pytest

from bot.feishu.render import CARD_BUDGET, card, escape, markdown, request_bytes
from bot.feishu.translate import command_of
from bot.feishu.verify import Rejected, Verifier, decrypt, encrypt, signature
from commands.types import Button, Lit, Mention, Reply, Rich, Val
from tests.feishu_support import fixture_json

BOT = "ou_bot"


def test_official_decryption_vector() -> None:
    """Feishu's own vector: key "test key" decrypts its sample to "hello world"."""
    vector = fixture_json("feishu_encrypt_test_vector.json")
    assert decrypt(vector["encrypt_key"], vector["encrypt"]) == b"hello world"


def test_generated_fixture_is_signed_and_decrypts_to_the_event() -> None:
    """The shared encrypted fixture: its signature holds and it decrypts to the receive event."""
    sample = fixture_json("feishu_encrypted_event_generated.json")
    headers, body = sample["headers"], sample["body"].encode()
    assert signature(
        timestamp=headers["X-Lark-Request-Timestamp"], nonce=headers["X-Lark-Request-Nonce"],
        encrypt_key=sample["encrypt_key"], body=body,
    ) == headers["X-Lark-Signature"]  # fmt: skip
    verifier = Verifier(
        verification_token=sample["verification_token"], encrypt_key=sample["encrypt_key"]
    )
    opened = verifier.open(headers, body, now=int(headers["X-Lark-Request-Timestamp"]))
    assert opened == fixture_json("feishu_im_message_receive_v1.json")


def test_generated_fixture_is_stale_today() -> None:
    """The same request replayed now, long after its timestamp, is refused."""
    sample = fixture_json("feishu_encrypted_event_generated.json")
    verifier = Verifier(
        verification_token=sample["verification_token"], encrypt_key=sample["encrypt_key"]
    )
    with pytest.raises(Rejected, match="stale timestamp"):
        verifier.open(sample["headers"], sample["body"].encode(), now=1_800_000_000)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "body is not an object"),
        (b'{"token": "t", "type": "url_verification"}', "bad verification token"),
        (b'{"encrypt": "x"}', "encrypted body but no encrypt key configured"),
        (b"\xff\xfe", "body is not JSON"),
    ],
)
def test_plain_callbacks_without_encrypt_key(body: bytes, reason: str) -> None:
    """Without an encrypt key, bodies are plain JSON and still need the right token."""
    with pytest.raises(Rejected, match=reason):
        Verifier(verification_token="right").open({}, body, now=0)


def test_plain_url_check_with_the_right_token() -> None:
    """A plain URL check with the right token opens to its payload."""
    check = {"challenge": "c1", "token": "right", "type": "url_verification"}
    assert Verifier(verification_token="right").open({}, json.dumps(check).encode(), now=0) == check


def test_unsigned_bodies_open_only_as_the_url_check() -> None:
    """Feishu sends the URL check encrypted without signature headers: that opens; an
    unsigned event, even correctly encrypted with our key, is refused as unsigned."""
    verifier = Verifier(verification_token="t", encrypt_key="k")
    check = {"challenge": "c1", "token": "t", "type": "url_verification"}
    sealed_check = json.dumps({"encrypt": encrypt("k", json.dumps(check).encode(), b"i" * 16)})
    assert verifier.open({}, sealed_check.encode(), now=0) == check
    event = {"schema": "2.0", "header": {"token": "t", "event_type": "im.message.receive_v1"}}
    sealed_event = json.dumps({"encrypt": encrypt("k", json.dumps(event).encode(), b"i" * 16)})
    with pytest.raises(Rejected, match="bad signature"):
        verifier.open({}, sealed_event.encode(), now=0)
    with pytest.raises(Rejected):
        verifier.open({}, b'{"encrypt": "x"}', now=0)
    wrong = {**check, "token": "other"}
    sealed_wrong = json.dumps({"encrypt": encrypt("k", json.dumps(wrong).encode(), b"i" * 16)})
    with pytest.raises(Rejected, match="bad verification token"):
        verifier.open({}, sealed_wrong.encode(), now=0)


def event(text: str, *, chat_type: str = "group", mentions: list[tuple[str, str]] = (),
          message_type: str = "text", sender_type: str = "user", content: str | None = None) -> dict:  # fmt: skip
    return {
        "sender": {"sender_id": {"open_id": "ou_me"}, "sender_type": sender_type},
        "message": {
            "message_id": "om_1", "chat_id": "oc_1", "chat_type": chat_type,
            "message_type": message_type,
            "content": content if content is not None else json.dumps({"text": text}),
            "mentions": [{"key": f"@_user_{n}", "id": {"open_id": oid}, "name": name}
                         for n, (oid, name) in enumerate(mentions, start=1)],
        },
    }  # fmt: skip


def test_the_bots_mention_is_removed_and_others_become_arguments() -> None:
    """`@_user_1` (the bot) goes; `@_user_2` becomes `@ou_li` with its name."""
    found = command_of(event("@_user_1 task assign 1 @_user_2", mentions=[(BOT, "teambot"),
                                                                          ("ou_li", "李")]),
                       bot_open_id=BOT)  # fmt: skip
    assert found is not None
    assert found.text == "task assign 1 @ou_li"
    assert found.mentions["ou_li"].display_name == "李"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"text": "task list", "chat_type": "p2p"}, "task list"),
        ({"text": "task list"}, None),  # a group message that does not mention the bot
        ({"text": "@_user_1 hi", "mentions": [("ou_other", "x")]}, None),  # mentions someone else
        ({"text": "x", "chat_type": "p2p", "message_type": "image"}, None),
        ({"text": "x", "chat_type": "p2p", "sender_type": "app"}, None),
        ({"text": "", "chat_type": "p2p", "content": "not json"}, None),
        ({"text": "@_user_1", "mentions": [(BOT, "teambot")]}, None),  # only the mention
        ({"text": "@_user_1 task add @_all", "mentions": [(BOT, "teambot")]}, "task add @all"),
    ],
)
def test_what_counts_as_a_command(kwargs: dict, expected: str | None) -> None:
    """Groups need the bot's mention; p2p text always counts; other messages never do."""
    found = command_of(event(**kwargs), bot_open_id=BOT)
    assert (found.text if found else None) == expected
    if found is not None:
        assert "all" not in found.mentions


def test_user_values_are_escaped_in_card_markdown() -> None:
    """`<at user_id="all">` in a value is shown, never parsed as a mention."""
    rich = Rich((Lit("T-1: "), Val('<at user_id="all"></at> & <b>')))
    assert markdown(rich, ping=True) == 'T-1: &lt;at user_id="all"&gt;&lt;/at&gt; &amp; &lt;b&gt;'
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


@pytest.mark.parametrize(
    ("mention", "ping", "expected"),
    [
        (Mention(1, "李", "feishu", "ou_li"), True, "<at id=ou_li></at>"),
        (Mention(1, "李", "feishu", "ou_li"), False, "**李**"),
        (Mention(2, "mei<x>", "slack", "W111"), True, "**mei&lt;x&gt;**"),
    ],
)
def test_mentions_ping_only_feishu_members_where_wanted(
    mention: Mention, ping: bool, expected: str
) -> None:
    """A Feishu member is an <at> only with ping; members of other platforms are names."""
    assert markdown(Rich((mention,)), ping=ping) == expected


def test_card_header_is_plain_text_and_a_long_list_stays_under_the_size_limit() -> None:
    """The header never parses markup; a huge list is cut with a "… (+N)" note."""
    reply = Reply(
        title=Rich((Val("<at user_id=all>"),)),
        items=tuple(Rich.val("x" * 400) for _ in range(200)),
        buttons=(Button(Rich.lit("Done"), "task done T-1", "task_done", "primary"),),
    )
    built = card(reply)
    assert built["header"]["title"] == {"tag": "plain_text", "content": "<at user_id=all>"}
    assert request_bytes(built) <= CARD_BUDGET
    notes = [e["content"] for e in built["body"]["elements"] if e.get("text_size") == "notation"]
    assert len(notes) == 1 and notes[0].startswith("… (+")
    assert built["body"]["elements"][-1]["tag"] == "column_set"
