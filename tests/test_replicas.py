"""Three `teambot serve` replicas (real processes) on one PostgreSQL database, Slack and
Feishu in HTTP mode, both platforms faked on loopback ports: a Slack or Feishu event
delivered to two replicas is processed once; 1,000 scheduled posts are each posted once
across the replicas; killing a replica mid-load loses no acknowledged command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from sqlalchemy import insert
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import ChannelBinding, Project, StandupConfig, Task, Workspace
from tests.conftest import PgServer
from tests.fake_feishu import FakeFeishu
from tests.fake_slack import FakeSlack
from tests.feishu_support import APP_ID, ENCRYPT_KEY, TOKEN, message_event, sealed
from tests.slack_support import SECRET, fixture, fixture_json, sign
from tests.test_serve_process import free_port

REPLICAS = 3
STARTUP = 30.0

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEAMBOT_TEST_DATABASE_URL"), reason="replicas need PostgreSQL"
)


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path


@pytest.fixture
def pg_url(pg_server: PgServer | None) -> Iterator[str]:
    assert pg_server is not None
    name = pg_server.fresh()
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop(name)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


@pytest.fixture
def feishu() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美"})
    yield server
    server.stop()


def start(tmp_path: Path, n: int, *, url: str, slack: FakeSlack, feishu: FakeFeishu) -> Replica:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEAMBOT_", "SLACK_", "FEISHU_"))
    }
    env.update({
        "TEAMBOT_DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": "fake-app-secret-for-tests",
        "FEISHU_VERIFICATION_TOKEN": TOKEN, "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
        "FEISHU_DOMAIN": feishu.url,
    })  # fmt: skip
    port = free_port()
    log = tmp_path / f"replica-{n}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Replica(proc, f"http://127.0.0.1:{port}", log)


def wait_all_healthy(replicas: list[Replica]) -> None:
    deadline = time.monotonic() + STARTUP
    with httpx.Client(trust_env=False) as client:
        for replica in replicas:
            while True:
                assert replica.proc.poll() is None, replica.log.read_text()
                try:
                    if client.get(f"{replica.base}/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "replicas did not start in time"
                time.sleep(0.05)


@pytest.fixture
def replicas(
    tmp_path: Path, pg_url: str, slack: FakeSlack, feishu: FakeFeishu
) -> Iterator[list[Replica]]:
    running = [start(tmp_path, n, url=pg_url, slack=slack, feishu=feishu) for n in range(REPLICAS)]
    try:
        wait_all_healthy(running)
        yield running
    finally:
        for replica in running:
            if replica.proc.poll() is None:
                replica.proc.terminate()
        for replica in running:
            try:
                replica.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait(timeout=10)


def titles(url: str) -> list[str]:
    db = Database(url)
    try:
        with Session(db.engine) as session:
            return list(session.exec(select(Task.title)).all())
    finally:
        db.dispose()


def slash(slack: FakeSlack, text: str, n: int) -> tuple[bytes, dict[str, str]]:
    form = dict(parse_qsl(fixture("slack_slash_command.txt")))
    form.update({
        "channel_id": "C111", "channel_name": "general", "user_id": "W111", "user_name": "mei",
        "command": "/task", "text": text, "response_url": f"{slack.url}/response/r{n}",
        "trigger_id": f"trigger{n}",
    })  # fmt: skip
    body = urlencode(form).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}


def test_the_same_event_on_two_replicas_is_processed_once(
    replicas: list[Replica], pg_url: str, slack: FakeSlack, feishu: FakeFeishu
) -> None:
    """One Slack app_mention and one Feishu message, each delivered at the same moment to
    two replicas (as after a load balancer retry): one task each, one reply each."""
    mention = fixture_json("slack_app_mention.json")
    mention["event"].update({"text": "<@UBOT> task add from slack", "user": "W111"})
    mention["event_id"] = "Ev_replicas_1"
    slack_body = json.dumps(mention).encode()
    slack_headers = {"Content-Type": "application/json", **sign(slack_body)}
    feishu_body, feishu_headers = sealed(message_event("task add 来自飞书", message_id="om_r1"))
    with ThreadPoolExecutor(4) as pool, httpx.Client(trust_env=False, timeout=10) as client:
        answers = list(pool.map(
            lambda job: client.post(job[0] + job[1], content=job[2], headers=job[3]).status_code,
            [(r.base, "/slack/events", slack_body, slack_headers) for r in replicas[:2]]
            + [(r.base, "/feishu/events", feishu_body, feishu_headers) for r in replicas[1:]],
        ))  # fmt: skip
    assert answers == [200, 200, 200, 200]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        len(slack.called("chat.postMessage")) < 1 or len(feishu.sent()) < 1
    ):
        time.sleep(0.05)
    time.sleep(0.5)  # a double would have arrived by now
    assert sorted(titles(pg_url)) == ["from slack", "来自飞书"]
    assert len(slack.called("chat.postMessage")) == 1
    assert len([m for m in feishu.sent() if m["receive_id"] == "oc_group1"]) == 1


def seed_standups(url: str, *, channels: int) -> None:
    """Standups in `channels` Slack channels whose prompt was due two minutes ago, in a
    zone where it is around noon (so no date boundary is near), answerable for an hour."""
    now = datetime.now(UTC)
    offset = 12 - now.hour
    zone = "Etc/GMT" + (f"{-offset:+d}" if offset else "")  # Etc/GMT-8 is UTC+8
    local = now + timedelta(hours=offset)
    at = (local - timedelta(minutes=2)).time().replace(second=0, microsecond=0)
    cutoff = (local + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    earlier = now - timedelta(days=1)
    db = Database(url)
    try:
        with db.transaction() as session:
            workspace = Workspace(platform="slack", external_id="T111", name="Acme",
                                  created_at=earlier)  # fmt: skip
            session.add(workspace)
            session.flush()
            project = Project(workspace_id=workspace.id or 0, name="big", created_at=earlier)
            session.add(project)
            session.flush()
            session.execute(insert(ChannelBinding), [
                {"workspace_id": workspace.id, "project_id": project.id,
                 "channel_id": f"C{n:05d}", "name": f"team-{n}", "created_at": earlier}
                for n in range(channels)
            ])  # fmt: skip
            ids = session.exec(select(ChannelBinding.id).order_by(col(ChannelBinding.id))).all()
            session.execute(insert(StandupConfig), [
                {"binding_id": binding_id, "at": at, "cutoff": cutoff, "timezone": zone,
                 "days": "mon-sun", "calendar": "none", "enabled": True,
                 "created_at": earlier, "updated_at": earlier}
                for binding_id in ids
            ])  # fmt: skip
    finally:
        db.dispose()


def test_a_thousand_scheduled_posts_across_replicas_are_each_posted_once(
    tmp_path: Path, pg_url: str, slack: FakeSlack, feishu: FakeFeishu
) -> None:
    """1,000 standup prompts fall due; three replicas start at once and race for them
    (each runs the clock at start and every 30 s): every channel gets exactly one."""
    seed_standups(pg_url, channels=1000)
    running = [start(tmp_path, n, url=pg_url, slack=slack, feishu=feishu) for n in range(REPLICAS)]
    try:
        wait_all_healthy(running)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(slack.called("chat.postMessage")) < 1000:
            time.sleep(0.1)
        time.sleep(2)
        posted = Counter(c["channel"] for c in slack.called("chat.postMessage"))
        assert posted == Counter({f"C{n:05d}": 1 for n in range(1000)})
        logs = [r.log.read_text() for r in running]
        assert all("Traceback" not in text for text in logs), logs
    finally:
        for replica in running:
            replica.proc.terminate()
        for replica in running:
            replica.proc.wait(timeout=30)


def test_killing_a_replica_mid_load_loses_no_acknowledged_command(
    replicas: list[Replica], pg_url: str, slack: FakeSlack
) -> None:
    """300 `/task add` commands spread over the replicas, 8 at a time; one replica is
    killed (SIGKILL) a third of the way in. Every command that was acknowledged (HTTP 200)
    is in the database; the ones sent to the dead replica simply failed."""
    acked: list[str] = []
    victim = replicas[0]

    def send(n: int) -> None:
        if n == 100:
            victim.proc.send_signal(signal.SIGKILL)
        replica = replicas[n % REPLICAS]
        body, headers = slash(slack, f"add load {n}", n)
        try:
            with httpx.Client(trust_env=False, timeout=10) as client:
                response = client.post(
                    f"{replica.base}/slack/events", content=body, headers=headers
                )
        except httpx.TransportError:
            return
        if response.status_code == 200 and response.json().get("text", "").startswith("Created"):
            acked.append(f"load {n}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(300)))
    stored = set(titles(pg_url))
    assert len(acked) >= 190  # the two live replicas answered theirs
    assert set(acked) <= stored
    assert victim.proc.wait(timeout=10) == -signal.SIGKILL
