"""Real `teambot serve` processes on one database, a fake Slack on a loopback port, and
signed requests fired from many threads at once: what double clicks and replicas do.

A `Cluster` is one database (a migrated SQLite file or a fresh PostgreSQL database) and
one or more replicas serving it; commands are signed Slack slash commands and button
presses, sent to the replicas in turn. Replies are read from what the people would see:
the ack of a slash command, or the fake Slack's `response_url` and `chat.*` calls.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
from prometheus_client.parser import text_string_to_metric_families

from storage.db import Database
from tests.conftest import PgServer
from tests.fake_slack import FakeSlack
from tests.slack_support import SECRET, fixture, fixture_json, sign
from tests.test_replicas import Replica, wait_all_healthy
from tests.test_serve_process import free_port

T = TypeVar("T")
APOLOGIES = ("Sorry, something went wrong", "抱歉，我们这边出了点问题")
TEAM = "T111"


@dataclass
class Answer:
    """What one request got back: the HTTP status and the ack's JSON (if any)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))


class Cluster:
    def __init__(self, *, url: str, fake: FakeSlack, workdir: Path) -> None:
        self.url = url
        self.fake = fake
        self.workdir = workdir
        self.replicas: list[Replica] = []
        self._turn = itertools.count()
        self._lock = threading.Lock()

    # -- processes -------------------------------------------------------------------

    def start(self, count: int) -> None:
        for n in range(count):
            self.replicas.append(self._start_one(n))
        wait_all_healthy(self.replicas)

    def _start_one(self, n: int) -> Replica:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TEAMBOT_", "SLACK_", "FEISHU_"))
        }
        env.update({
            "TEAMBOT_DATABASE_URL": self.url, "TEAMBOT_SCHEDULER": "false",
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.fake.api_url,
        })  # fmt: skip
        port = free_port()
        log = self.workdir / f"replica-{n}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(port)],
                env=env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return Replica(proc, f"http://127.0.0.1:{port}", log)

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.proc.poll() is None:
                replica.proc.terminate()
        for replica in self.replicas:
            try:
                replica.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(r.log.read_text(errors="replace") for r in self.replicas)

    # -- requests ------------------------------------------------------------------------

    def _next(self) -> Replica:
        with self._lock:
            return self.replicas[next(self._turn) % len(self.replicas)]

    def _post(self, body: bytes, content_type: str) -> Answer:
        replica = self._next()
        headers = {"Content-Type": content_type, **sign(body)}
        with httpx.Client(trust_env=False, timeout=30) as client:
            response = client.post(f"{replica.base}/slack/events", content=body, headers=headers)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        return Answer(response.status_code, data if isinstance(data, dict) else {})

    def slash(self, user: str, channel: str, command: str, text: str) -> Answer:
        """A signed slash command exactly like Slack's (a fresh trigger id each time)."""
        form = dict(parse_qsl(fixture("slack_slash_command.txt")))
        hook = uuid.uuid4().hex
        form.update({
            "team_id": TEAM, "channel_id": channel, "channel_name": channel.lower(),
            "user_id": user, "user_name": user.lower(), "command": command, "text": text,
            "response_url": f"{self.fake.url}/response/{hook}", "trigger_id": hook,
        })  # fmt: skip
        return self._post(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def press(self, user: str, channel: str, command: str, *, message_ts: str = "1.0") -> Answer:
        """A signed press of a card button that runs `command` (each press its own action_ts)."""
        payload = fixture_json("slack_block_actions.json")
        hook = uuid.uuid4().hex
        payload.update({
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "team": {"id": TEAM, "domain": "acme"},
            "channel": {"id": channel, "name": channel.lower()},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                          "is_ephemeral": False},
            "response_url": f"{self.fake.url}/response/{hook}", "trigger_id": hook,
        })  # fmt: skip
        payload["actions"] = [{
            "action_id": "tb:" + command.split()[1] if " " in command else "tb:x",
            "block_id": "b", "type": "button", "value": command,
            "text": {"type": "plain_text", "text": "press", "emoji": True},
            "action_ts": f"{time.time():.6f}.{hook[:6]}",
        }]  # fmt: skip
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._post(body, "application/x-www-form-urlencoded")

    def post_event(self, body: bytes) -> Answer:
        """A signed Events API delivery (`event_callback` JSON)."""
        return self._post(body, "application/json")

    def at_once(self, jobs: Iterable[Callable[[], T]]) -> list[T]:
        """Run every job in its own thread, released together by a barrier."""
        todo = list(jobs)
        barrier = threading.Barrier(len(todo))

        def run(job: Callable[[], T]) -> T:
            barrier.wait(timeout=30)
            return job()

        with ThreadPoolExecutor(len(todo)) as pool:
            return list(pool.map(run, todo))

    # -- what came out -------------------------------------------------------------------

    def crashes(self) -> float:
        """Commands answered with the apology, summed over the replicas' /metrics."""
        total = 0.0
        with httpx.Client(trust_env=False, timeout=10) as client:
            for replica in self.replicas:
                text = client.get(f"{replica.base}/metrics").text
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        if (
                            sample.name == "teambot_commands_total"
                            and sample.labels.get("outcome") == "crash"
                        ):
                            total += sample.value
        return total

    def settle(self, seconds: float = 0.5) -> None:
        """Wait until the fake has seen no new call for `seconds` (replies and DMs sent
        after the ack), at most 20 s."""
        deadline = time.monotonic() + 20
        seen = -1
        while time.monotonic() < deadline:
            now = len(self.fake.calls) + len(self.fake.responses)
            if now == seen:
                return
            seen = now
            time.sleep(seconds)

    def mark(self) -> tuple[int, int]:
        """Where the fake's records stand now (for `said(since=…)`)."""
        return len(self.fake.calls), len(self.fake.responses)

    def said(self, since: tuple[int, int] = (0, 0)) -> list[str]:
        """Every text people were shown through Slack (response_url answers and messages),
        since a `mark()`."""
        texts = [str(p.get("text", "")) for _, p in self.fake.responses[since[1] :]]
        texts += [str(c.args.get("text", "")) for c in self.fake.calls[since[0] :]]
        return texts

    def apologies(self, answers: Iterable[Answer] = ()) -> list[str]:
        return [
            t
            for t in [a.text for a in answers] + self.said()
            if any(sorry in t for sorry in APOLOGIES)
        ]

    def dms_to(self, user: str) -> list[dict[str, Any]]:
        return [c for c in self.fake.called("chat.postMessage") if c.get("channel") == user]


def database_for(
    backend: str, *, workdir: Path, sqlite_template: Path, pg_server: PgServer | None
) -> tuple[str, Callable[[], None]]:
    """A fresh migrated database of `backend`, and how to drop it."""
    if backend == "sqlite":
        path = workdir / "cluster.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}", lambda: None
    assert pg_server is not None
    name = pg_server.fresh()
    return pg_server.url_for(name), lambda: pg_server.drop(name)


def open_db(url: str) -> Database:
    return Database(url)
