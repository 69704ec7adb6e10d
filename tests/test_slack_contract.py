"""The strict fake Slack refuses what the real Slack refuses (tests/slack_contract.py).

Calls go to the fake over HTTP as slack-sdk and teambot send them (JSON or form-encoded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.slack.manifest import SCOPES
from tests.fake_slack import FakeSlack
from tests.slack_contract import Refusal, check_blocks, check_view, utf16

EMOJI = "\N{GRINNING FACE}"  # outside the BMP: 1 Python character, 2 UTF-16 code units


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    yield server
    server.stop()


def call(fake: FakeSlack, method: str, args: dict[str, Any], *, form: bool = False) -> Any:
    headers = {"Authorization": "Bearer xoxb-test"}
    if form:
        encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}
        answer = httpx.post(f"{fake.api_url}{method}", data=encoded, headers=headers)
    else:
        answer = httpx.post(f"{fake.api_url}{method}", json=args, headers=headers)
    assert answer.status_code == 200
    return answer.json()


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def test_utf16_counts_what_slack_counts() -> None:
    """ASCII and CJK count 1 a character, an emoji outside the BMP 2."""
    assert [utf16("abc"), utf16("中文"), utf16(EMOJI), utf16("é")] == [3, 2, 2, 1]


@pytest.mark.parametrize("form", [False, True])
def test_a_valid_message_is_taken(fake: FakeSlack, form: bool) -> None:
    """Blocks within every limit, sent as JSON or form-encoded: ok."""
    answer = call(fake, "chat.postMessage", {"channel": "C1", "text": "hi",
                                             "blocks": [section("x" * 3000)]}, form=form)  # fmt: skip
    assert answer["ok"] is True
    assert fake.refusals == []


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}], "unknown block type"),
        ([{"type": "section"}], "text or fields attribute must be specified"),
        ([section("")], "empty"),
        ([{**section("x"), "colour": "red"}], "blocks[0].colour: not a Block Kit property"),
        ([section("x" * 3001)], "3000"),
        ([section("x")] * 51, "51 blocks, more than 50"),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
            "cannot exceed 10 elements",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "text": {"type": "plain_text", "text": EMOJI * 38},
                        }
                    ],
                }
            ],
            "76 UTF-16 code units, more than 75",
        ),
        ([{"type": "header", "text": {"type": "plain_text", "text": EMOJI * 76}}], "152"),
        ("[not json", "not an array"),
    ],
)
def test_the_fake_refuses_invalid_blocks(fake: FakeSlack, blocks: Any, why: str) -> None:
    """An unknown type, a missing or unknown property, an empty or over-long text, too many
    blocks or elements: `invalid_blocks`, HTTP 200, as Slack answers."""
    answer = call(fake, "chat.postMessage", {"channel": "C1", "text": "hi", "blocks": blocks})
    assert answer == {"ok": False, "error": "invalid_blocks"}
    [(method, refusal)] = fake.take_refusals()
    assert (method, refusal.error) == ("chat.postMessage", "invalid_blocks")
    assert why in refusal.why


def test_an_over_long_text_is_counted_in_utf16(fake: FakeSlack) -> None:
    """1500 emoji are 1500 Python characters (slack_sdk's model takes them) but 3000 UTF-16
    code units; 1501 are 3002: Slack refuses the section."""
    assert check_blocks([section(EMOJI * 1500)]) is None
    answer = call(fake, "chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "hi",
                                               "blocks": [section(EMOJI * 1501)]})  # fmt: skip
    assert answer == {"ok": False, "error": "invalid_blocks"}
    [(_, refusal)] = fake.take_refusals()
    assert refusal == Refusal(
        "invalid_blocks", "blocks[0].text.text: 3002 UTF-16 code units, more than 3000"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"channel": "C1"}, "no_text"),
        ({"channel": "C1", "text": ""}, "no_text"),
        ({"channel": "C1", "text": EMOJI * 20001}, "msg_too_long"),
        ({"channel": "C1", "text": "x", "attachments": "{}"}, "invalid_attachments"),
        ({"channel": "C1", "text": "x", "attachments": [{"color": "good"}]}, "invalid_attachments"),
    ],
)
def test_the_fake_refuses_messages_without_text_or_too_long(
    fake: FakeSlack, args: dict[str, Any], error: str
) -> None:
    """Nothing to show: no_text; over 40000 UTF-16 code units: msg_too_long; attachments
    that are not attachments: invalid_attachments."""
    assert call(fake, "chat.postMessage", args) == {"ok": False, "error": error}
    assert [r.error for _, r in fake.take_refusals()] == [error]


def test_valid_attachments_are_taken(fake: FakeSlack) -> None:
    """Legacy attachments with text, and attachments holding blocks, pass."""
    attachments = [{"text": "x", "color": "good"}, {"blocks": [section("y")]}]
    assert call(fake, "chat.postMessage", {"channel": "C1", "attachments": attachments})["ok"]


def modal(**overrides: Any) -> dict[str, Any]:
    view = {
        "type": "modal",
        "callback_id": "tb:ask",
        "title": {"type": "plain_text", "text": "Block"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [{"type": "input", "block_id": "answer",
                    "label": {"type": "plain_text", "text": "reason"},
                    "element": {"type": "plain_text_input", "action_id": "answer"}}],
    }  # fmt: skip
    return {**view, **overrides}


@pytest.mark.parametrize(
    ("view", "why"),
    [
        (modal(title={"type": "plain_text", "text": "x" * 25}), "title"),
        (modal(title={"type": "plain_text", "text": EMOJI * 13}), "26 UTF-16 code units"),
        (modal(blocks=[]), "between 1 and 100 blocks"),
        (modal(private_metadata="m" * 3001), "private_metadata"),
        ("not a view", "not an object"),
    ],
)
def test_the_fake_refuses_an_invalid_view(fake: FakeSlack, view: Any, why: str) -> None:
    """views.open with a title over 24 (UTF-16), no blocks, over-long metadata: invalid_arguments."""
    assert check_view(modal()) is None
    answer = call(fake, "views.open", {"trigger_id": "t", "view": view}, form=True)
    assert answer == {"ok": False, "error": "invalid_arguments"}
    [(_, refusal)] = fake.take_refusals()
    assert why in refusal.why


def test_response_url_refuses_like_slack(fake: FakeSlack) -> None:
    """A response_url answers "ok", or HTTP 400 with the error's code; a refused answer is
    not recorded as shown."""
    good = httpx.post(f"{fake.url}/response/r1", json={"text": "hi", "blocks": [section("x")]})
    assert (good.status_code, good.text) == (200, "ok")
    bad = httpx.post(f"{fake.url}/response/r2", json={"blocks": [section("x" * 3001)]})
    assert (bad.status_code, bad.text) == (400, "invalid_blocks")
    assert [hook for hook, _ in fake.responses] == ["r1"]
    assert [r.error for _, r in fake.take_refusals()] == ["invalid_blocks"]


def test_the_fake_grants_exactly_the_manifests_scopes(fake: FakeSlack) -> None:
    """The scopes are the manifest's; a revoked one answers missing_scope with needed/provided."""
    assert fake.scopes == set(SCOPES)
    assert call(fake, "users.info", {"user": "U1"})["error"] == "user_not_found"
    fake.revoke("chat:write")
    answer = call(fake, "chat.postMessage", {"channel": "C1", "text": "hi"})
    assert answer == {
        "ok": False,
        "error": "missing_scope",
        "needed": "chat:write",
        "provided": ",".join(sorted(set(SCOPES) - {"chat:write"})),
    }
    [(method, refusal)] = fake.take_refusals()
    assert (method, refusal.error) == ("chat.postMessage", "missing_scope")


def test_a_refusal_left_unseen_fails_the_test() -> None:
    """stop() fails when the fake refused something the test did not take out."""
    server = FakeSlack().start()
    call(server, "chat.postMessage", {"channel": "C1"})
    with pytest.raises(AssertionError, match="no_text"):
        server.stop()
