"""Slack ack latency: teambot's slash commands against bare slack-bolt apps, in one run.

Sends correctly signed `/task` slash commands, one after another, into four
ASGI apps in this process (no network between client and app, so what is
measured is the app): a bare slack-bolt async app that only acks, once with
bolt's defaults (the ack is polled every 10 ms) and once with
`process_before_response=True`; and teambot's real `/slack/events` answering
`/task list` and `/task add` on SQLite, Web API calls going to a fake Slack
on a free loopback port.

    python bench/slack_ack.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_app
from bot.core import Core
from bot.serve import build_web_app
from bot.settings import Settings
from bot.slack.setup import adapter as slack_adapter
from tests.fake_slack import FakeSlack
from tests.slack_support import SECRET, sign

_triggers = itertools.count(1)


def body(text: str) -> bytes:
    # Each request its own trigger_id: teambot runs a repeated one only once.
    return urlencode({
        "team_id": "T111", "channel_id": "C111", "channel_name": "bench", "user_id": "W111",
        "user_name": "mei", "command": "/task", "text": text,
        "response_url": "http://127.0.0.1:9/unused", "trigger_id": f"bench.{next(_triggers)}",
    }).encode()  # fmt: skip


def bare(fake: FakeSlack, *, before_response: bool) -> Starlette:
    client = AsyncWebClient(token="xoxb-bench", base_url=fake.api_url)
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=before_response)

    @app.command("/task")
    async def ack_only(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(app)
    return Starlette(routes=[Route("/slack/events", handler.handle, methods=["POST"])])


async def measure(web: Any, text: str, n: int) -> list[float]:
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        samples = []
        for i in range(n + 10):
            payload = body(text.format(i=i))
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(payload)}
            start = time.perf_counter()
            response = await client.post("/slack/events", content=payload, headers=headers)
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, response.text
            if i >= 10:  # the first requests warm caches (auth.test, users.info, SQL)
                samples.append(elapsed)
    return samples


def report(name: str, samples: list[float], baseline: float | None) -> float:
    samples.sort()
    median = statistics.median(samples)
    p99 = samples[int(0.99 * (len(samples) - 1))]
    rate = len(samples) / sum(samples)
    ratio = f"  {rate / baseline:5.2f}x of bare+pbr" if baseline else ""
    print(
        f"{name:34s} median {median * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms  {rate:7.0f}/s{ratio}"
    )
    return rate


async def main(n: int) -> None:
    fake = FakeSlack().start()
    fake.add_user("W111", "mei")
    try:
        runs: list[tuple[str, Callable[[], Awaitable[list[float]]]]] = []
        default = bare(fake, before_response=False)
        pbr = bare(fake, before_response=True)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=f"sqlite:///{tmp}/bench.db",
                slack_bot_token="xoxb-bench",
                slack_signing_secret=SECRET,
                slack_api_url=fake.api_url,
            )
            app = build_app(settings)
            core = Core(app.router)
            slack = slack_adapter(settings, core)
            web = build_web_app(core=core, adapters=[slack] if slack else [])
            async with web.router.lifespan_context(web):
                runs = [
                    ("bare bolt, default ack polling", lambda: measure(default, "x", n)),
                    ("bare bolt, process_before_response", lambda: measure(pbr, "x", n)),
                    ("teambot /task list", lambda: measure(web, "list", n)),
                    ("teambot /task add", lambda: measure(web, "add Task {i}", n)),
                ]
                results = {name: await run() for name, run in runs}
            core.close()
            app.close()
        print(f"{n} sequential signed slash commands per app, in-process ASGI, SQLite")
        baseline = report(runs[1][0], results[runs[1][0]], None)
        for name, _ in (runs[0], runs[2], runs[3]):
            report(name, results[name], baseline)
    finally:
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
