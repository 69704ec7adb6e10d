"""What the real Feishu accepts: request bodies of at most 30 KB, card JSON 2.0 with only
documented properties, the permissions the README lists, no ephemeral cards in topic groups.

Cards go through the real adapter (or the real ASGI app with encrypted, signed callbacks)
into the strict fake Feishu; the rule checked on every cut or split reply is that what is
shown plus what the `… (+N)` notes count is what there is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.feishu.api import uuid_for
from bot.feishu.render import CARD_BUDGET, MAX_CARDS, card, cards, request_bytes
from commands.types import Button, Field, Image, Reply, Rich, Table
from storage.db import Database
from storage.models import RetroNote, Task
from tests.conftest import Clock
from tests.fake_feishu import EPHEMERAL, IMAGES, MESSAGES, FakeFeishu, readme_permissions
from tests.feishu_support import (
    FeishuHarness,
    card_event,
    feishu_settings,
    message_event,
    running,
)

pytestmark = pytest.mark.anyio

NOTE = re.compile(r"… \(\+(\d+)\)")
DONE = Button(Rich.lit("Done"), "task done T-1", "task_done", "primary")


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


def counted(built: dict[str, Any]) -> tuple[int, int]:
    """(units shown, units the notes count) of a card: a markdown element shows one unit a
    line (lines, fields, list items; none of the replies here has a newline in a unit),
    a table its rows; the footer (notation) is not a unit."""
    shown = noted = 0
    for element in built["body"]["elements"]:
        if element["tag"] == "table":
            shown += len(element["rows"])
        elif element["tag"] == "markdown":
            note = NOTE.fullmatch(element["content"])
            if note and element.get("text_size") == "notation":
                noted += int(note[1])
            elif element.get("text_size") != "notation":
                shown += element["content"].count("\n") + 1
    return shown, noted


def units(reply: Reply) -> int:
    rows = len(reply.table.rows) if reply.table is not None else 0
    return len(reply.lines) + len(reply.fields) + len(reply.items) + rows


STANDUP = Reply(  # 10 people, each a ~990-character blocker: a 31 KB request as one card
    title=Rich.lit("Standup"),
    fields=tuple(Field(Rich.val(f"成员{n}"), Rich.val("阻塞" * 495)) for n in range(10)),
)
TOO_BIG = {
    "standup": STANDUP,
    "list items": Reply(title=Rich.lit("Retro"), buttons=(DONE,),
                        items=tuple(Rich.val(f"note {n} " + "好" * 120) for n in range(154))),
    "table rows": Reply(title=Rich.lit("Table"), table=Table(
        (Rich.lit("key"), Rich.lit("title")),
        tuple((Rich.val(f"T-{n}"), Rich.val('引号"与\\反斜杠' * 12)) for n in range(3000)),
    )),
    "long lines": Reply(title=Rich.lit("Lines"),
                        lines=tuple(Rich.val("行" * 900 + f" {n}") for n in range(120))),
    "many fields": Reply(title=Rich.lit("Fields"), footer=(Rich.lit("footer"),),
                         fields=tuple(Field(Rich.val(f"f{n}"), Rich.val("v" * 300))
                                      for n in range(400))),
}  # fmt: skip


@pytest.mark.parametrize("name", TOO_BIG)
def test_one_card_is_cut_under_the_body_limit_with_an_honest_count(name: str) -> None:
    """card() (an update, an ephemeral card, a callback answer): within CARD_BUDGET as a
    request carries it; shown + noted = every line, field, item and row of the reply."""
    reply = TOO_BIG[name]
    built = card(reply, ping=True)
    assert request_bytes(built) <= CARD_BUDGET
    assert sum(counted(built)) == units(reply)
    assert counted(built)[1] > 0


async def test_a_31_kb_standup_summary_arrives_whole_in_two_messages(
    feishu: FeishuHarness,
) -> None:
    """The summary's one card would be a 31 KB request (230025 from Feishu): it goes as two
    cards, "(1/2)" and "(2/2)", all 10 blockers shown, the second with a uuid of its own."""
    assert request_bytes(card(STANDUP)) <= CARD_BUDGET  # cut as one card, it would fit…
    assert len(cards(STANDUP)) == 2  # …but a new message shows everything
    await feishu.feishu.send(channel="oc_group1", reply=STANDUP, kind="scheduled",
                             dedupe_key="standup-2026-03-02")  # fmt: skip
    sent = feishu.fake.delivered("oc_group1")
    assert [m.content["header"]["title"]["content"] for m in sent] == [
        "Standup (1/2)", "Standup (2/2)"
    ]  # fmt: skip
    assert [m.uuid for m in sent] == ["standup-2026-03-02", uuid_for("standup-2026-03-02#2")]
    assert [counted(m.content) for m in sent] == [(9, 0), (1, 0)]
    shown = "\n".join(e["content"] for m in sent for e in m.content["body"]["elements"])
    assert all(f"**成员{n}**：" in shown for n in range(10))


@pytest.mark.parametrize("name", TOO_BIG)
async def test_a_reply_too_big_for_one_card_is_split_and_every_part_is_taken(
    feishu: FeishuHarness, name: str
) -> None:
    """send(): each part a message Feishu takes (30 KB bodies, documented properties);
    across the parts, shown + noted = all, with notes only past MAX_CARDS cards; the
    buttons and footer on the last part only; sent again, nothing is doubled."""
    reply = TOO_BIG[name]
    await feishu.feishu.send(channel="oc_group1", reply=reply, dedupe_key=f"split-{name}")
    sent = feishu.fake.delivered("oc_group1")
    assert 2 <= len(sent) <= MAX_CARDS
    totals = [counted(m.content) for m in sent]
    assert sum(s + n for s, n in totals) == units(reply)
    assert all(n == 0 for _, n in totals[:-1])
    if len(sent) < MAX_CARDS:
        assert totals[-1][1] == 0
    tags = [[e["tag"] for e in m.content["body"]["elements"]] for m in sent]
    assert all("column_set" not in t for t in tags[:-1])
    assert ("column_set" in tags[-1]) == bool(reply.buttons)
    await feishu.feishu.send(channel="oc_group1", reply=reply, dedupe_key=f"split-{name}")
    assert len(feishu.fake.delivered("oc_group1")) == len(sent)


async def start_retro_with_notes(
    feishu: FeishuHarness, db: Database, count: int, **chat: Any
) -> None:
    """A retro with `count` notes: the first added by command, the rest written alongside
    it (154 callbacks would test nothing more)."""
    await feishu.callback(message_event("retro start Sprint 9", **chat))
    await feishu.callback(message_event("retro add well 第1条：发布顺利", **chat))
    with Session(db.engine) as session:
        first = session.exec(select(RetroNote)).one()
        for n in range(2, count + 1):
            session.add(RetroNote(retro_id=first.retro_id, number=n, kind="well",
                                  text=f"第{n}条：" + "进展顺利" * 20, author_id=first.author_id))  # fmt: skip
        session.commit()
    await feishu.callback(message_event("retro reveal", **chat))  # the notes are shown from now on


async def test_retro_list_of_154_notes_in_a_group_says_how_many_it_does_not_show(
    feishu: FeishuHarness, db: Database
) -> None:
    """/retro list with 154 notes, answered with one ephemeral card: the notes it shows
    plus its note's count are all 154 notes (and the heading); before, ~59 were shown and
    nothing said so."""
    await start_retro_with_notes(feishu, db, 154)
    before = len([c for c in feishu.fake.calls if c.path == EPHEMERAL])  # the note's answer
    await feishu.callback(message_event("retro list"))
    [listed] = [c.body["card"] for c in feishu.fake.calls if c.path == EPHEMERAL][before:]
    shown, noted = counted(listed)
    assert shown + noted == 154 + 1  # the notes and their kind's heading
    assert noted > 0
    notes = [line for e in listed["body"]["elements"] for line in e["content"].split("\n")
             if e["tag"] == "markdown" and re.match(r"#\d+ ", line)]  # fmt: skip
    assert len(notes) == shown - 1


async def test_retro_list_of_154_notes_one_to_one_shows_them_all(
    feishu: FeishuHarness, db: Database
) -> None:
    """One to one the answer is a message create: split over several cards, every note."""
    p2p = {"chat_type": "p2p", "chat_id": "oc_p2p_mei", "with_bot": False}
    await start_retro_with_notes(feishu, db, 154, **p2p)
    before = len(feishu.fake.delivered("oc_p2p_mei"))
    await feishu.callback(message_event("retro list", **p2p))
    sent = feishu.fake.delivered("oc_p2p_mei")[before:]
    assert len(sent) > 1
    assert [counted(m.content) for m in sent][-1][1] == 0
    numbers = [int(n) for m in sent for e in m.content["body"]["elements"]
               if e["tag"] == "markdown" for n in re.findall(r"#(\d+) ", e["content"])]  # fmt: skip
    assert numbers == list(range(1, 155))


# -- permissions, from the README ------------------------------------------------------------


def test_the_fake_grants_what_the_readme_lists() -> None:
    """The README's Feishu setup lists every permission teambot uses, the chart's too."""
    assert readme_permissions() == {
        "im:message:send_as_bot", "im:message.group_at_msg:readonly",
        "im:message.p2p_msg:readonly", "im:resource", "tenant:tenant:readonly",
        "contact:user.base:readonly", "im:chat.members:read",
    }  # fmt: skip


CHART = Reply(title=Rich.lit("Weekly digest"), lines=(Rich.lit("Burndown"),),
              image=Image(b"\x89PNG fake", "burndown.png", Rich.lit("A burndown chart")))  # fmt: skip


async def test_following_the_readme_a_digest_arrives_with_its_chart(
    feishu: FeishuHarness,
) -> None:
    """With the README's permissions the upload is taken and the card shows the image."""
    await feishu.feishu.send(channel="oc_group1", reply=CHART)
    [message] = feishu.fake.delivered("oc_group1")
    assert [e["tag"] for e in message.content["body"]["elements"]] == ["markdown", "img"]


async def test_without_im_resource_the_digest_goes_without_its_chart_and_says_why(
    feishu: FeishuHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """im:resource revoked: the upload is refused (99991672), the card goes without the
    picture, and the log names the code."""
    feishu.fake.revoke("im:resource")
    with caplog.at_level(logging.ERROR, logger="bot.feishu.adapter"):
        await feishu.feishu.send(channel="oc_group1", reply=CHART)
    [message] = feishu.fake.delivered("oc_group1")
    assert [e["tag"] for e in message.content["body"]["elements"]] == ["markdown"]
    assert "Feishu image upload failed (code 99991672)" in caplog.text


def test_the_strict_fake_refuses_an_oversize_body_an_unknown_property_and_a_missing_permission(
    fake: FakeFeishu,
) -> None:
    """230025 for a body over 30 KB (a card whose JSON is under it, but not once encoded
    again as `content`); 230099 naming an undocumented property or tag; 99991672 naming
    the scopes when the permission is revoked; 230001 for an ephemeral card in a topic
    group."""
    client = httpx.Client(base_url=fake.url, trust_env=False)

    def create(built: dict[str, Any]) -> httpx.Response:
        body = {"receive_id": "oc_x", "msg_type": "interactive",
                "content": json.dumps(built, ensure_ascii=False)}  # fmt: skip
        return client.post(f"{MESSAGES}?receive_id_type=chat_id", json=body)

    def shape(elements: list[dict[str, Any]]) -> dict[str, Any]:
        return {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": elements}}

    quoted = shape([{"tag": "markdown", "content": '"' * 10_000}])
    assert len(json.dumps(quoted).encode()) < 30 * 1024  # the card alone is under 30 KB
    assert (create(quoted).status_code, create(quoted).json()["code"]) == (400, 230025)
    assert create(shape([{"tag": "markdown", "content": "ok"}])).json()["code"] == 0
    colour = create(shape([{"tag": "markdown", "content": "x", "colour": "red"}])).json()
    assert colour["code"] == 230099 and "body.elements[0].colour" in colour["msg"]
    assert create(shape([{"tag": "action", "actions": []}])).json()["code"] == 230099
    old = create({"config": {"update_multi": True}, "elements": []}).json()
    assert old["code"] == 230099
    fake.revoke("im:message:send_as_bot")
    denied = create(shape([]))
    assert denied.status_code == 400 and denied.json()["code"] == 99991672
    assert "im:message:send_as_bot" in denied.json()["msg"]
    fake.topic_groups.add("oc_topic")
    fake.permissions.add("im:message:send_as_bot")
    topic = client.post(EPHEMERAL, json={"chat_id": "oc_topic", "open_id": "ou_mei",
                                         "msg_type": "interactive", "card": shape([])})  # fmt: skip
    assert (topic.status_code, topic.json()["code"]) == (400, 230001)
    fake.revoke("im:resource")
    upload = client.post(IMAGES, files={"image_type": (None, "message"), "image": b"png"})
    assert upload.json()["code"] == 99991672
    client.close()


# -- topic groups ----------------------------------------------------------------------------


async def test_in_a_topic_group_private_answers_go_one_to_one_and_their_buttons_act_there(
    feishu: FeishuHarness, db: Database
) -> None:
    """A topic group takes no ephemeral cards: `task show`, `help` and a mistake go to the
    asker's one-to-one chat; the DM card's buttons name the group, and pressing one there
    (an encrypted, signed callback from the p2p chat) acts on the group's T-1, and the
    updated DM card still names the group."""
    fake = feishu.fake
    fake.topic_groups.add("oc_topic")
    await feishu.callback(message_event("task add 上线", chat_id="oc_topic"))
    for text in ("task show T-1", "help", "task done T-99"):
        await feishu.callback(message_event(text, chat_id="oc_topic"))
    refused = [c for c in fake.calls if c.path == EPHEMERAL]
    assert [c.body["chat_id"] for c in refused] == ["oc_topic"] * 3
    dms = fake.delivered("ou_mei")
    assert len(dms) == 3
    shown = dms[0]
    values = [
        b["behaviors"][0]["value"]
        for e in shown.content["body"]["elements"] if e["tag"] == "column_set"
        for column in e["columns"] for b in column["elements"]
    ]  # fmt: skip
    assert values and all(v["chat"] == "oc_topic" for v in values)
    [start] = [v for v in values if v["command"] == "task start T-1"]
    press = card_event("task start T-1", chat_id="oc_p2p_mei", message_id=shown.message_id,
                       value=start)  # fmt: skip
    answer = (await feishu.callback(press)).json()
    assert answer["toast"]["type"] == "success"
    with Session(db.engine) as session:
        assert [t.status for t in session.exec(select(Task)).all()] == ["doing"]
    again = [
        b["behaviors"][0]["value"]["chat"]
        for e in answer["card"]["data"]["body"]["elements"] if e["tag"] == "column_set"
        for column in e["columns"] for b in column["elements"]
    ]  # fmt: skip
    assert again and set(again) == {"oc_topic"}


async def test_a_button_value_naming_a_malformed_chat_is_not_followed(
    feishu: FeishuHarness, db: Database
) -> None:
    """Only a well-formed `oc_…` id is taken from a button's value; anything else leaves
    the press in the chat it came from."""
    await feishu.callback(message_event("task add 上线"))
    press = card_event("task start T-1", value={"command": "task start T-1",
                                                "chat": "oc_../../x y"})  # fmt: skip
    answer = (await feishu.callback(press)).json()
    assert answer["toast"]["type"] == "success"
    with Session(db.engine) as session:
        assert [t.status for t in session.exec(select(Task)).all()] == ["doing"]
