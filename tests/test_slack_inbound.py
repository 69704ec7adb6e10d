"""Slack payloads into what they ask (bot/slack/inbound.py), on the shared fixtures of real
payloads, and on the same payloads bent the way a signed request still may be."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from bot.slack import inbound
from bot.slack.inbound import MAX_EVENT_ID, Pressed, Said
from tests.slack_support import fixture, fixture_json


def command_body() -> dict[str, Any]:
    return dict(parse_qsl(fixture("slack_slash_command.txt").strip()))


def test_a_slash_command_is_claimed_by_its_trigger_id() -> None:
    assert inbound.of_command(command_body()) == Said(
        channel_id="C111", channel_name="random", user_id="W111",
        raw_text="/hello-world Hi", event_id="command:111.111.xxx",
    )  # fmt: skip


def test_a_slash_command_without_a_trigger_is_not_claimed_and_odd_fields_count_as_absent() -> None:
    body: dict[str, Any] = {**command_body(), "channel_id": ["C1"], "text": {"a": 1}}
    del body["trigger_id"]
    said = inbound.of_command(body)
    assert (said.channel_id, said.raw_text, said.event_id) == ("", "/hello-world ", None)


def test_a_mention_is_claimed_by_the_envelope_event_id() -> None:
    body = fixture_json("slack_app_mention.json")
    said = inbound.of_mention(body, body["event"])
    assert said == Said(channel_id="C111", channel_name="C111", user_id="W222",
                        raw_text="<@W111> Hi there!", event_id="Ev111",
                        also_ids=("message:C111:1595926230.009600",))  # fmt: skip
    assert inbound.thread_of(body["event"]) is None
    assert inbound.thread_of({**body["event"], "thread_ts": "1595926230.000100"}) == (
        "1595926230.000100"
    )


def test_a_button_runs_its_value_escaped_and_is_claimed_per_press() -> None:
    body = fixture_json("slack_block_actions.json")
    action = {**body["actions"][0], "value": "task done T-1 <@U999> & co"}
    said = inbound.of_button(body, action)
    assert said.raw_text == "task done T-1 &lt;@U999&gt; &amp; co"  # a value never mentions
    assert said.event_id == "action:111.222:1596530385.194939:W111"
    assert (said.channel_id, said.channel_name, said.user_id) == ("C111", "test-channel", "W111")
    assert inbound.pressed(body) == Pressed("C111", "111.222", is_ephemeral=True)


def test_a_button_in_a_dm_without_a_channel_object_takes_the_container_channel() -> None:
    body = {**fixture_json("slack_block_actions.json"), "channel": "not an object"}
    assert inbound.of_button(body, body["actions"][0]).channel_id == "C111"


def test_a_long_event_id_is_hashed_to_fit_the_column() -> None:
    key = inbound.event_key("action", "x" * 300)
    assert len(key) <= MAX_EVENT_ID and key.startswith("action:sha1:")
    assert key == inbound.event_key("action", "x" * 300)


def test_a_form_carries_what_its_submission_needs_back() -> None:
    body = fixture_json("slack_block_actions.json")
    spec = {"command": "task block T-3", "title": "Block T-3", "label": "Why?"}
    form = inbound.form_of(body, {**body["actions"][0], "value": json.dumps(spec)})
    assert (form.trigger_id, form.user_id, form.title, form.label) == (
        "111.222.valid", "W111", "Block T-3", "Why?",
    )  # fmt: skip
    assert form.meta == {
        "command": "task block T-3", "channel": "C111", "ts": "111.222", "ephemeral": True,
        "response_url": "https://hooks.slack.com/actions/T111/111/random-value",
    }  # fmt: skip


def test_a_submission_runs_the_command_with_the_answer_where_the_form_was_opened() -> None:
    body = fixture_json("slack_view_submission.json")
    meta = {"command": "task block T-3", "channel": "C111", "ts": "111.222",
            "ephemeral": False, "response_url": "https://hooks.slack.com/actions/T111/1/x"}  # fmt: skip
    view = {
        **body["view"],
        "private_metadata": json.dumps(meta),
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input",
                                                   "value": "waiting for <@U1>"}}}},
    }  # fmt: skip
    said, where, response_url = inbound.of_submission(body, view)
    assert said.raw_text == 'task block T-3 "waiting for &lt;@U1&gt;"'  # one word: never a key
    assert said.event_id == "view:V111:1596530361.3wRYuk3R"
    assert (said.channel_id, said.user_id) == ("C111", "W111")
    assert where == Pressed("C111", "111.222", is_ephemeral=False)
    assert response_url == "https://hooks.slack.com/actions/T111/1/x"


def test_a_submission_of_a_form_we_did_not_write_runs_nothing_useful() -> None:
    """The fixture's metadata is not ours (not JSON): no command, no channel, no reply URL."""
    body = fixture_json("slack_view_submission.json")
    said, where, response_url = inbound.of_submission(body, body["view"])
    assert (said.raw_text.strip(), said.channel_id, response_url) == ("", "", "")
    assert where == Pressed("", "", is_ephemeral=False)
