"""The Slack edge under slow, failing and hostile conditions, through the real endpoint.

Signed (or forged) requests go into `POST /slack/events` of the real ASGI app; the Web
API and the response_urls are a fake Slack on a loopback port that can hang a method,
answer it with an HTML error page, or stand for a foreign host. What is asserted: the
HTTP answer and how long it took, what reached the fake, the database, and the log.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from bot.hub import DeliveryError
from bot.slack.adapter import SlackStartError
from bot.slack.trust import response_url_allowed
from commands.types import Reply, Rich
from storage.db import Database
from storage.models import Member, Task, Workspace
from tests.chat import snapshot
from tests.conftest import Clock
from tests.fake_slack import Failure, FakeSlack
from tests.slack_support import (
    Harness,
    fixture,
    fixture_json,
    running,
    section,
    settings_for,
    sign,
)

pytestmark = pytest.mark.anyio

FORM = "application/x-www-form-urlencoded"
HTML_503 = "<html><head><title>503 Service Unavailable</title></head><body>down</body></html>"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    server.add_user("W222", "li", locale="zh-CN", tz="Asia/Shanghai")
    server.add_user("W333", "zoe")
    yield server
    server.stop()


@pytest.fixture
def stranger() -> Iterator[FakeSlack]:
    """Another server on loopback: a host that is not Slack's and not the configured API."""
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack, clock: Clock) -> Any:
    async with running(settings_for(db_url, fake), fake, clock=clock) as harness:
        yield harness


def slash_form(fake: FakeSlack, command: str, text: str, **fields: str) -> bytes:
    form = dict(parse_qsl(fixture("slack_slash_command.txt")))
    form.update({
        "channel_id": "C111", "channel_name": "general", "user_id": "W111", "command": command,
        "text": text, "response_url": f"{fake.url}/response/late", "trigger_id": "1.2.abc",
    })  # fmt: skip
    form.update(fields)
    return urlencode(form).encode()


def mention_event(text: str, *, event_id: str = "Ev1", **outer: Any) -> dict[str, Any]:
    payload = fixture_json("slack_app_mention.json")
    payload["event"].update({"text": text, "user": "W111"})
    payload.update({"event_id": event_id, **outer})
    return dict(payload)


def click(value: str, *, response_url: str, ts: str = "111.222", **parts: Any) -> bytes:
    payload = fixture_json("slack_block_actions.json")
    payload["container"].update({"message_ts": ts, "is_ephemeral": False})
    payload["response_url"] = response_url
    payload["actions"][0].update({"action_id": "tb:task_done", "value": value, "action_ts": "5.5"})
    payload.update(parts)
    return urlencode({"payload": json.dumps(payload)}).encode()


async def timed(
    slack: Harness, body: bytes, content_type: str, **sign_kw: Any
) -> tuple[httpx.Response, float]:
    """The endpoint's answer and how long it took; the work that follows is not waited for."""
    headers = {"Content-Type": content_type, **sign(body, **sign_kw)}
    started = time.perf_counter()
    response = await slack.client.post("/slack/events", content=body, headers=headers)
    return response, time.perf_counter() - started


def tasks(db: Database) -> list[Task]:
    with Session(db.engine) as session:
        return list(session.exec(select(Task).order_by(Task.number)).all())  # type: ignore[arg-type]


def workspaces(db: Database) -> list[str]:
    with Session(db.engine) as session:
        return sorted(w.external_id for w in session.exec(select(Workspace)).all())


@contextmanager
def write_locked(db_url: str, *, seconds: float) -> Iterator[None]:
    """Another connection holds the database's write lock for `seconds` (SQLite: BEGIN
    IMMEDIATE; PostgreSQL: the claimed-events table locked), released by a timer. The
    block ends when the lock is gone."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), check_same_thread=False)
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")
        release = threading.Timer(seconds, lambda: conn.execute("COMMIT"))
    else:
        engine = create_engine(db_url)
        pg = engine.connect()
        pg.execute(text("LOCK TABLE processed_event IN ACCESS EXCLUSIVE MODE"))
        release = threading.Timer(seconds, pg.commit)
    release.start()
    try:
        yield
    finally:
        release.join(seconds + 5)
        if db_url.startswith("sqlite"):
            conn.close()
        else:
            pg.close()
            engine.dispose()


# -- 1. the signature, first, on the raw bytes -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"\xff{", "application/json"), (b"{", "application/json"), (b'{"a":' * 5000, "application/json"),
     (b"payload=%7B", FORM), (b"payload=%FF%FE", FORM)],
)  # fmt: skip
@pytest.mark.parametrize("forgery", ["other secret", "stale", "unsigned"])
async def test_forged_bodies_are_refused_before_they_are_parsed(
    slack: Harness, db: Database, caplog: pytest.LogCaptureFixture,
    body: bytes, content_type: str, forgery: str,
) -> None:  # fmt: skip
    """A body that does not even parse, forged, stale or unsigned: 401 (not 400, which
    would mean it was parsed first), nothing changed, no Slack call."""
    before = snapshot(db)
    headers = {"Content-Type": content_type}
    if forgery == "other secret":
        headers.update(sign(body, secret="not-the-secret"))
    elif forgery == "stale":
        headers.update(sign(body, timestamp=int(time.time()) - 301))
    response = await slack.client.post("/slack/events", content=body, headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "invalid request"})
    assert snapshot(db) == before
    assert [c.method for c in slack.fake.calls] == ["auth.test"]  # start-up's, nothing since
    assert not [r for r in caplog.records if "does not parse" in r.getMessage()]


async def test_forged_large_bodies_cost_no_parsing(slack: Harness) -> None:
    """A forged 0.9 MB form is refused in a fraction of the time the same body takes when
    it is signed (and so parsed): the signature is checked before any parsing."""
    body = urlencode({f"k{k}": "v" * 8 for k in range(60_000)}).encode()
    assert 0.85e6 < len(body) < 1e6

    async def median(**sign_kw: Any) -> tuple[set[int], float]:
        runs = [await timed(slack, body, FORM, **sign_kw) for _ in range(5)]
        return {r.status_code for r, _ in runs}, statistics.median(t for _, t in runs)

    forged_status, forged = await median(secret="not-the-secret")
    signed_status, signed = await median()
    assert forged_status == {401}
    assert signed_status == {403}  # parsed, then refused: it names no workspace
    assert forged * 3 < signed, (forged, signed)


# -- 2. the installation's identity, pinned at start-up -------------------------------------------


async def test_start_up_pins_the_workspace_with_one_auth_test(slack: Harness) -> None:
    """auth.test is asked once, at start, with the bot token; requests ask it no more."""
    assert [c.method for c in slack.fake.calls] == ["auth.test"]
    assert slack.fake.calls[0].headers["Authorization"] == "Bearer xoxb-test-token"
    await slack.slash("/task", "list")
    await slack.event(mention_event("<@UBOT> task list"))
    assert len(slack.fake.called("auth.test")) == 1


@pytest.mark.parametrize("socket_mode", [False, True])
@pytest.mark.parametrize(
    ("answer", "why"),
    [(Failure(200, {"ok": False, "error": "invalid_auth"}), "refused the bot token"),
     (Failure(200, {"ok": False, "error": "account_inactive"}), "refused the bot token"),
     (Failure(503, {"ok": False, "error": "service_unavailable"}), "did not answer")],
)  # fmt: skip
async def test_a_failed_auth_test_fails_the_start_and_says_why(
    db_url: str, fake: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture,
    socket_mode: bool, answer: Failure, why: str,
) -> None:  # fmt: skip
    """auth.test refusing the token (or not answering, three times) stops the start with
    an error naming auth.test, Slack's reason and the setting to check; nothing is served."""
    for _ in range(3):
        fake.fail_next("auth.test", answer)
    extra = {"slack_app_token": "xapp-1-test"} if socket_mode else {}
    with pytest.raises(SlackStartError) as failed:
        async with running(settings_for(db_url, fake, **extra), fake, clock=clock):
            pass
    message = str(failed.value)
    assert message.startswith(f"Slack start-up failed: auth.test {why} (auth.test: ")
    assert answer.body["error"] in message and "SLACK_BOT_TOKEN" in message
    assert any(r.levelno == logging.ERROR and r.getMessage() == message for r in caplog.records)
    assert fake.called("apps.connections.open") == []


async def test_requests_for_another_workspace_are_refused_and_change_nothing(
    slack: Harness, db: Database, stranger: FakeSlack
) -> None:
    """A signed slash command, event, button press or form of workspace T222 (the app is
    installed in T111): 403 without retries, nothing stored, no Slack call, no response."""
    await slack.slash("/task", "add Ours")
    before = snapshot(db)
    calls = len(slack.fake.calls)
    submission = fixture_json("slack_view_submission.json")
    submission["view"].update({
        "callback_id": "tb:ask", "app_installed_team_id": "T222",
        "private_metadata": json.dumps({"command": "task block T-1", "channel": "C111",
                                        "response_url": f"{slack.fake.url}/response/form"}),
        "state": {"values": {"answer": {"answer": {"type": "plain_text_input", "value": "x"}}}},
    })  # fmt: skip
    requests = [
        (slash_form(slack.fake, "/task", "done T-1", team_id="T222"), FORM),
        (json.dumps(mention_event("<@UBOT> task done T-1", team_id="T222",
                                  authorizations=[{"team_id": "T222", "enterprise_id": None}]))
         .encode(), "application/json"),
        (click("task done T-1", response_url=f"{slack.fake.url}/response/press",
               team={"id": "T222"}, user={"id": "W111", "team_id": "T222"}), FORM),
        (urlencode({"payload": json.dumps(submission)}).encode(), FORM),
    ]  # fmt: skip
    for body, content_type in requests:
        response = await slack.post(body, content_type)
        assert (response.status_code, response.json()) == (403, {"error": "unknown workspace"})
        assert response.headers["x-slack-no-retry"] == "1"
    assert snapshot(db) == before
    assert len(slack.fake.calls) == calls
    assert slack.fake.responses == []


async def test_shared_channel_event_delivered_to_this_installation_acts_in_its_workspace(
    slack: Harness, db: Database
) -> None:
    """Slack Connect: a mention in a shared channel can carry the other organisation's
    team_id while `authorizations` names this installation; it runs, in T111's data."""
    event = mention_event(
        "<@UBOT> task add From the shared channel", team_id="T999", is_ext_shared_channel=True,
        authorizations=[{"team_id": "T111", "enterprise_id": None, "is_bot": True}],
    )  # fmt: skip
    response = await slack.event(event)
    assert response.status_code == 200
    assert [t.title for t in tasks(db)] == ["From the shared channel"]
    assert workspaces(db) == ["T111"]


async def test_another_enterprise_is_refused_when_the_install_has_one(
    db_url: str, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """Installed in an Enterprise Grid org (auth.test names E111): a request of T111 that
    names another org is refused; its own org is served."""
    fake.enterprise_id = "E111"
    async with running(settings_for(db_url, fake), fake, clock=clock) as slack:
        other = await slack.post(
            slash_form(fake, "/task", "add Theirs", enterprise_id="E999"), FORM
        )
        ours = await slack.post(slash_form(fake, "/task", "add Ours", trigger_id="2.3.def"), FORM)
    assert (other.status_code, ours.status_code) == (403, 200)
    assert [t.title for t in tasks(db)] == ["Ours"]


async def test_socket_mode_envelope_for_another_workspace_is_acked_and_ignored(
    db_url: str, fake: FakeSlack, clock: Clock, db: Database
) -> None:
    """Over Socket Mode (no signatures) a slash command of T222 is acked, so Slack does
    not send it again, and runs nothing."""
    frames = fixture_json("slack_socket_mode_envelopes.json")["envelopes"]
    frame = next(e for e in frames if e["type"] == "slash_commands")
    frame["payload"].update({"command": "/task", "text": "add Over the socket", "team_id": "T222"})
    settings = settings_for(db_url, fake, slack_app_token="xapp-1-test")
    async with running(settings, fake, clock=clock) as slack:
        fake.push(frame)
        with anyio.fail_after(5):
            while not fake.acks:
                await anyio.sleep(0.02)
        await slack.slack.background.drain()
    assert fake.acks == [{"envelope_id": frame["envelope_id"]}]
    assert tasks(db) == []


# -- 3. response_url: Slack's hosts only ------------------------------------------------------------


async def test_a_response_url_on_a_foreign_host_is_never_fetched(
    slack: Harness, stranger: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """A press whose answer goes to its response_url, pointing at another host: nothing is
    sent there, the refusal is logged; the same press with Slack's (the fake's) URL is
    answered there."""
    await slack.post(click("task done T-9", response_url=f"{stranger.url}/response/x"), FORM)
    assert (stranger.responses, stranger.strays, stranger.calls) == ([], [], [])
    assert any("response_url refused" in r.getMessage() for r in caplog.records)
    payload = click("task done T-9", response_url=f"{slack.fake.url}/response/ok", ts="1.3")
    await slack.post(payload, FORM)
    assert [hook for hook, _ in slack.fake.responses] == ["ok"]


def test_which_response_urls_are_followed() -> None:
    """https on *.slack.com (default port, no credentials), or the configured API's own
    scheme, host and port; nothing else."""
    api = "http://127.0.0.1:8111/api/"
    followed = {
        "https://hooks.slack.com/commands/T1/2/abc": True,
        "https://hooks.slack.com:443/actions/T1/2/abc": True,
        "https://acme.enterprise.slack.com/x": True,
        "http://127.0.0.1:8111/response/1": True,
        "http://hooks.slack.com/commands/T1/2/abc": False,
        "https://hooks.slack.com:8443/commands": False,
        "https://user:pw@hooks.slack.com/commands": False,
        "https://hooks.slack.com.evil.test/commands": False,
        "https://evilslack.com/commands": False,
        "https://hooks.slack.com\\@evil.test/": False,
        "http://127.0.0.1:8112/response/1": False,
        "http://localhost:8111/response/1": False,
        "https://127.0.0.1:8111/response/1": False,
        "/response/1": False,
        "": False,
        "http://[::1": False,
    }
    assert {url: response_url_allowed(url, api_url=api) is not None for url in followed} == followed


# -- 4. slash commands deduplicated by trigger_id ---------------------------------------------------


async def test_a_repeated_slash_command_runs_once(slack: Harness, db: Database) -> None:
    """The same slash command delivered twice (same trigger_id): one task; the repeat is
    acknowledged with an empty 200."""
    body = slash_form(slack.fake, "/task", "add Only once")
    first = await slack.post(body, FORM)
    again = await slack.post(body, FORM)
    assert first.json()["text"] == "Created T-1: Only once"
    assert (again.status_code, again.content) == (200, b"")
    assert [t.title for t in tasks(db)] == ["Only once"]


# -- 5. name look-ups: bounded, concurrent, capped, tolerant ---------------------------------------


@pytest.mark.parametrize("content_type", ["text/html", "application/json"])
async def test_users_info_answering_an_html_503_falls_back_to_the_id(
    slack: Harness, db: Database, content_type: str
) -> None:
    """users.info answering a proxy's HTML 503 (even labelled as JSON): the command runs
    and is answered in the ack; the asker is known by their id."""
    slack.fake.answer_raw("users.info", 503, HTML_503, content_type=content_type)
    response = await slack.slash("/task", "add Despite Slack", user="W444")
    assert response.status_code == 200
    assert response.json()["blocks"][0] == section("*Created T-1: Despite Slack*")
    with Session(db.engine) as session:
        names = session.exec(select(Member.display_name)).all()
    assert list(names) == ["W444"]


async def test_a_hanging_users_info_costs_the_ack_at_most_a_second(
    slack: Harness, db: Database
) -> None:
    """users.info hanging for 5 s: the slash command is answered (in the ack) within
    about a second, with the asker's id for a name."""
    slack.fake.hang("users.info", 5)
    response, took = await timed(
        slack, slash_form(slack.fake, "/task", "add Quick", user_id="W444"), FORM
    )
    assert took < 2.0, took
    assert response.json()["blocks"][0] == section("*Created T-1: Quick*")
    await slack.slack.background.drain()
    assert [t.title for t in tasks(db)] == ["Quick"]


async def test_three_hundred_mentions_are_looked_up_fifty_at_a_time_at_once(
    slack: Harness,
) -> None:
    """An app_mention naming 300 people nobody looked up yet, users.info taking 50 ms each:
    the ack comes in well under Slack's 3 s, with at most 50 look-ups besides the asker's."""
    slack.fake.latency = 0.05
    people = " ".join(f"<@U{k:05d}>" for k in range(300))
    body = json.dumps(mention_event(f"<@UBOT> task comment T-99 {people}")).encode()
    response, took = await timed(slack, body, "application/json")
    assert response.status_code == 200
    assert took < 2.0, took
    looked_up = [c["user"] for c in slack.fake.called("users.info")]
    assert len(looked_up) == 51 and len(set(looked_up)) == 51 and "W111" in looked_up
    await slack.slack.background.drain()
    # The asker is known now: 60 new people, 50 look-ups.
    people = " ".join(f"<@U{k:05d}>" for k in range(1000, 1060))
    await slack.event(mention_event(f"<@UBOT> task comment T-99 {people}", event_id="Ev2"))
    assert len(slack.fake.called("users.info")) == 51 + 50


# -- 6. an ack within 3 s, whatever the work takes ----------------------------------------------


@pytest.mark.parametrize(
    ("user", "text", "working", "answer"),
    [("W111", "add Locked out <@W333|zoe>", "Working on it: the answer follows here in a moment.",
      {"response_type": "in_channel", "text": "Created T-1: Locked out"}),
     ("W222", "add 锁住了 <@W333|zoe>", "正在处理，结果稍后发到这里。",
      {"response_type": "in_channel", "text": "已创建 T-1：锁住了"})],
)  # fmt: skip
async def test_slash_command_on_a_locked_database_is_acked_in_time_and_answered_later(
    slack: Harness, db_url: str, db: Database,
    user: str, text: str, working: str, answer: dict[str, str],
) -> None:  # fmt: skip
    """The database write-locked for 4 s: the ack comes before 3 s, ephemeral, saying the
    answer follows, in the asker's language; the reply then arrives at the response_url
    as it would have in the ack; the task is stored and its R gets a DM."""
    await slack.slash("/task", "list", user=user)  # the project exists, the profile is known
    slack.fake.calls.clear()
    with write_locked(db_url, seconds=4):
        body = slash_form(slack.fake, "/task", text, user_id=user)
        response, took = await timed(slack, body, FORM)
        assert took < 3.0, took
        assert response.json() == {
            "response_type": "ephemeral", "text": working, "blocks": [section(f"*{working}*")],
        }  # fmt: skip
        await slack.slack.background.drain()
    [(hook, late)] = slack.fake.responses
    assert hook == "late"
    assert {k: late[k] for k in ("response_type", "text")} == answer
    assert late["blocks"][0] == section(f"*{answer['text']}*")
    assert [t.title for t in tasks(db)] == [answer["text"].split(" T-1")[1][1:].strip()]
    assert [c["channel"] for c in slack.fake.called("chat.postMessage")] == ["W333"]


async def test_an_ephemeral_late_answer_follows_as_ephemeral(slack: Harness, db_url: str) -> None:
    """A mistake answered late (no such task) follows through response_url, ephemeral."""
    await slack.slash("/task", "list")
    with write_locked(db_url, seconds=4):
        response, took = await timed(slack, slash_form(slack.fake, "/task", "done T-9"), FORM)
        assert took < 3.0 and response.json()["response_type"] == "ephemeral"
        await slack.slack.background.drain()
    [(_, late)] = slack.fake.responses
    assert late["response_type"] == "ephemeral"
    assert late["blocks"][0] == section(":x: *There is no task T-9 in this project.*")


async def test_button_press_on_a_locked_database_is_acked_in_time_and_updates_the_card(
    slack: Harness, db_url: str, db: Database
) -> None:
    """Done pressed while the database is write-locked for 4 s: an empty ack before 3 s;
    then the task is done, the card replaced (chat.update) and the I person told."""
    await slack.slash("/task", "add Ship it")
    await slack.slash("/raci", "T-1 I <@W333|zoe>")
    slack.fake.calls.clear()
    with write_locked(db_url, seconds=4):
        body = click("task done T-1", response_url=f"{slack.fake.url}/response/press")
        response, took = await timed(slack, body, FORM)
        assert took < 3.0, took
        assert (response.status_code, response.content) == (200, b"")
        await slack.slack.background.drain()
    assert tasks(db)[0].status == "done"
    [update] = slack.fake.called("chat.update")
    assert (update["ts"], update["text"]) == ("111.222", "@mei finished T-1: Ship it ✓")
    assert [c["channel"] for c in slack.fake.called("chat.postMessage")] == ["W333"]


async def test_mention_on_a_locked_database_is_acked_in_time_and_answered_later(
    slack: Harness, db_url: str, db: Database
) -> None:
    """A mention while the database is write-locked for 4 s: acked before 3 s; the reply
    is posted to the channel once the command ran."""
    await slack.slash("/task", "list")
    slack.fake.calls.clear()
    with write_locked(db_url, seconds=4):
        body = json.dumps(mention_event("<@UBOT> task add Mentioned late")).encode()
        response, took = await timed(slack, body, "application/json")
        assert took < 3.0, took
        assert response.status_code == 200
        await slack.slack.background.drain()
    assert [t.title for t in tasks(db)] == ["Mentioned late"]
    [post] = slack.fake.called("chat.postMessage")
    assert (post["channel"], post["text"]) == ("C111", "Created T-1: Mentioned late")


# -- 7. outbound failures, said neutrally ----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("trouble", "transient"),
    [("html 503", True), ("json 500", True), ("json 502", True), ("hang", True),
     ("429 in force", True), ("refused", True), ("channel_not_found", False),
     ("not_in_channel", False)],
)  # fmt: skip
async def test_send_raises_a_neutral_delivery_error(
    slack: Harness, trouble: str, transient: bool
) -> None:
    """send() (scheduled posts, mirrors, DMs) says what went wrong as a DeliveryError:
    transient for 5xx, HTML, time-outs, refused connections and a 429 still in force
    after its waits; not for a refusal. A 5xx is not retried here (one call)."""
    fake, adapter = slack.fake, slack.slack
    assert adapter.web is not None
    adapter.web.timeout = 0.5
    if trouble == "html 503":
        fake.answer_raw("chat.postMessage", 503, HTML_503)
    elif trouble.startswith("json 5"):
        status = int(trouble[-3:])
        fake.fail_next("chat.postMessage", Failure(status, {"ok": False, "error": "fatal_error"}))
    elif trouble == "hang":
        fake.hang("chat.postMessage", 3)
    elif trouble == "429 in force":
        fake.fail_every("chat.postMessage", 1,
                        Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))  # fmt: skip
    elif trouble == "refused":
        adapter.web.base_url = f"http://127.0.0.1:{closed_port()}/api/"
    else:
        fake.fail_next("chat.postMessage", Failure(200, {"ok": False, "error": trouble}))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        await adapter.send(channel="C111", reply=Reply(title=Rich.lit("Hi")), kind="scheduled")
    assert (failed.value.platform, failed.value.transient) == ("slack", transient)
    assert failed.value.what.startswith("chat.postMessage: ")
    posts = len(fake.called("chat.postMessage"))
    if trouble == "429 in force":
        assert (posts, failed.value.retry_after) == (7, 0.0)  # the first try and six waits
    elif trouble == "refused":
        assert posts == 0
    else:
        assert posts == 1
    assert time.monotonic() - started < 5
    assert (
        adapter.core.metrics.value(
            "teambot_posts_total", platform="slack", kind="scheduled", outcome="error"
        )
        == 1
    )


async def test_a_dm_that_meets_a_passing_failure_is_sent_again(
    slack: Harness, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A DM answered once with an HTML 503 is sent again and arrives; nothing is logged as
    lost and the command stands."""
    slack.slack.hub.retry_waits = (0.05, 0.05, 0.05)
    slack.fake.answer_raw("chat.postMessage", 503, HTML_503)
    await slack.slash("/task", "add For zoe <@W333|zoe>")
    assert [t.title for t in tasks(db)] == ["For zoe"]
    to_zoe = [c for c in slack.fake.calls if c.method == "chat.postMessage"
              and c.args.get("channel") == "W333"]  # fmt: skip
    assert [c.status for c in to_zoe][-1] == 200 and len(to_zoe) == 2
    assert not [r for r in caplog.records if r.getMessage().startswith("DM failed")]


async def test_a_failed_dm_is_logged_with_its_kind_of_failure(
    slack: Harness, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A DM answered with an HTML 503 every time is tried four times, then logged once (user,
    what failed, transient, attempts); the command stands."""
    slack.slack.hub.retry_waits = (0.05, 0.05, 0.05)
    for _ in range(4):
        slack.fake.answer_raw("chat.postMessage", 503, HTML_503)
    await slack.slash("/task", "add For zoe <@W333|zoe>")
    assert [t.title for t in tasks(db)] == ["For zoe"]
    [logged] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DM failed")]
    assert logged == (
        "DM failed: user=W333 error=chat.postMessage: HTTP 503, not JSON transient=True attempts=4"
    )
