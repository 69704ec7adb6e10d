"""Slack ack time when things are slow or hostile: what Slack's 3-second budget sees.

Runs teambot's real `/slack/events` (SQLite in a temporary directory, the Web API on a
fake Slack on a free loopback port) and times the HTTP answer, not the work that
follows it, for:

- `users.info` answering an HTML 503 (a proxy in front of Slack);
- `users.info` hanging (`--hang` seconds);
- an `app_mention` naming 300 people nobody has looked up yet, `users.info` taking
  `--lookup-ms` each;
- `/task add` and a "Done" button press while another connection holds SQLite's write
  lock for `--lock` seconds;
- unsigned bodies of 0.9 MB (`--unsigned` of them): refused, and how fast.

    python bench/slack_slow.py [--hang 10] [--lock 4] [--lookup-ms 45] [--unsigned 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_slack import FakeSlack
from tests.slack_support import Harness, fixture, fixture_json, running, settings_for, sign

FORM = "application/x-www-form-urlencoded"


def slash_body(fake: FakeSlack, text: str, *, user: str, n: int) -> bytes:
    form = dict(parse_qsl(fixture("slack_slash_command.txt")))
    form.update({
        "channel_id": "C111", "channel_name": "bench", "user_id": user, "command": "/task",
        "text": text, "response_url": f"{fake.url}/response/bench{n}", "trigger_id": f"bench.{n}",
    })  # fmt: skip
    return urlencode(form).encode()


async def timed(slack: Harness, body: bytes, content_type: str, *, signed: bool = True) -> Any:
    headers = {"Content-Type": content_type, **(sign(body) if signed else {})}
    started = time.perf_counter()
    response = await slack.client.post("/slack/events", content=body, headers=headers)
    return response.status_code, time.perf_counter() - started


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another writer: BEGIN IMMEDIATE on the file, COMMIT after `seconds`."""
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(5)
    return thread


def line(what: str, status: Any, seconds: float, extra: str = "") -> None:
    print(f"{what:<52} HTTP {status}  ack after {seconds:7.3f} s  {extra}")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        fake = FakeSlack(bot_user_id="UBOT").start()
        fake.add_user("W111", "mei")
        try:
            settings = settings_for(f"sqlite:///{db_path}", fake)
            async with running(settings, fake) as slack:
                await run_cases(slack, fake, db_path, args)
        finally:
            fake.stop()


async def run_cases(
    slack: Harness, fake: FakeSlack, db_path: Path, args: argparse.Namespace
) -> None:
    n = 0

    def next_n() -> int:
        nonlocal n
        n += 1
        return n

    # warm up: the caller's profile, the channel's project, the templates
    status, _ = await timed(slack, slash_body(fake, "add Warm up", user="W111", n=next_n()), FORM)
    assert status == 200
    await slack.slack.background.drain()

    # A gateway's error page, labelled as JSON (as some proxies do).
    fake.answer_raw("users.info", 503, "<html><body><h1>503 Service Unavailable</h1></body></html>",
                    content_type="application/json")  # fmt: skip
    status, took = await timed(slack, slash_body(fake, "list", user="W501", n=next_n()), FORM)
    line("users.info answers an HTML 503", status, took)
    await slack.slack.background.drain()

    fake.hang("users.info", args.hang)
    status, took = await timed(slack, slash_body(fake, "list", user="W502", n=next_n()), FORM)
    line(f"users.info hangs {args.hang:g} s", status, took)
    fake.hangs.clear()
    await slack.slack.background.drain()

    fake.latency = args.lookup_ms / 1000
    mentions = " ".join(f"<@U{k:05d}>" for k in range(300))
    payload = fixture_json("slack_app_mention.json")
    payload["event"].update({"text": f"<@UBOT> task comment T-99 {mentions}", "user": "W111"})
    payload["event_id"] = "EvBench300"
    before = len(fake.called("users.info"))
    status, took = await timed(slack, json.dumps(payload).encode(), "application/json")
    asked = len(fake.called("users.info")) - before
    line(f"app_mention naming 300 people, users.info {args.lookup_ms} ms", status, took,
         f"users.info calls during the request: {asked}")  # fmt: skip
    await slack.slack.background.drain()
    fake.latency = 0.0

    holder = hold_write_lock(db_path, args.lock)
    status, took = await timed(slack, slash_body(fake, "add Locked", user="W111", n=next_n()), FORM)
    line(f"/task add, SQLite write-locked {args.lock:g} s", status, took)
    holder.join()
    await slack.slack.background.drain()

    press = fixture_json("slack_block_actions.json")
    press["container"].update({"message_ts": "1.2", "is_ephemeral": False})
    press["response_url"] = f"{fake.url}/response/press"
    press["actions"][0].update({"action_id": "tb:task_done", "value": "task done T-1",
                                "action_ts": "9.9"})  # fmt: skip
    holder = hold_write_lock(db_path, args.lock)
    body = urlencode({"payload": json.dumps(press)}).encode()
    status, took = await timed(slack, body, FORM)
    line(f"Done button, SQLite write-locked {args.lock:g} s", status, took)
    holder.join()
    await slack.slack.background.drain()

    big = urlencode({"text": "x" * 20, **{f"k{k}": "v" * 8 for k in range(57_000)}}).encode()
    samples, statuses = [], set()
    for _ in range(args.unsigned):
        status, took = await timed(slack, big, FORM, signed=False)
        statuses.add(status)
        samples.append(took)
    line(f"unsigned {len(big) / 1e6:.2f} MB form, median of {args.unsigned}",
         "/".join(map(str, sorted(statuses))), statistics.median(samples))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hang", type=float, default=10.0)
    parser.add_argument("--lock", type=float, default=4.0)
    parser.add_argument("--lookup-ms", type=int, default=45)
    parser.add_argument("--unsigned", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
