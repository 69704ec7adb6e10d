"""Running `teambot serve`'s real ASGI app against a fake Slack, with signed requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from bot.app import build_app
from bot.core import Core
from bot.serve import build_web_app
from bot.settings import Settings
from bot.slack.adapter import SlackAdapter
from bot.slack.setup import adapter as slack_adapter
from tests.fake_slack import FakeSlack
from tests.slack_contract import assert_valid_message

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret of Slack's own test vector
FIXTURES = Path(__file__).parent / "fixtures" / "slack"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> Any:
    return json.loads(fixture(name))


def sign(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature of the raw bytes (any bytes: slack-sdk's signer decodes UTF-8)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


class Harness:
    def __init__(self, *, client: httpx.AsyncClient, fake: FakeSlack, slack: SlackAdapter) -> None:
        self.client = client
        self.fake = fake
        self.slack = slack
        self._n = 0

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        **sign_kw: Any,
    ) -> httpx.Response:
        all_headers = {"Content-Type": content_type, **sign(body, **sign_kw), **(headers or {})}
        response = await self.client.post("/slack/events", content=body, headers=all_headers)
        await self.slack.background.drain()
        return response

    async def slash(
        self, command: str, text: str, *, user: str = "W111", channel: str = "C111",
        channel_name: str = "general", **sign_kw: Any,
    ) -> httpx.Response:  # fmt: skip
        self._n += 1
        form = dict(parse_qsl(fixture("slack_slash_command.txt")))
        form.update({
            "channel_id": channel, "channel_name": channel_name, "user_id": user,
            "user_name": user.lower(), "command": command, "text": text,
            "response_url": f"{self.fake.url}/response/cmd{self._n}",
            # Unique across harnesses: a trigger_id is claimed in the database like an event id.
            "trigger_id": f"trigger{self._n}.{uuid.uuid4().hex[:12]}",
        })  # fmt: skip
        response = await self.post(
            urlencode(form).encode(), "application/x-www-form-urlencoded", **sign_kw
        )
        if response.status_code == 200 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            # The answer in the ack never reaches the fake: it is held to the same contract.
            assert_valid_message(response.json())
        return response

    async def event(
        self, payload: dict[str, Any], *, headers: dict[str, str] | None = None, **sign_kw: Any
    ) -> httpx.Response:
        return await self.post(
            json.dumps(payload).encode(), "application/json", headers=headers, **sign_kw
        )

    async def interact(self, payload: dict[str, Any], **sign_kw: Any) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, "application/x-www-form-urlencoded", **sign_kw)


def settings_for(db_url: str, fake: FakeSlack, **extra: Any) -> Settings:
    return Settings(
        database_url=db_url,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
        **extra,
    )


@asynccontextmanager
async def running(settings: Settings, fake: FakeSlack, **build: Any) -> AsyncIterator[Harness]:
    app = build_app(settings, **build)
    core = Core(app.router)
    slack = slack_adapter(settings, core)
    assert slack is not None
    web = build_web_app(core=core, adapters=[slack] if slack else [])
    try:
        async with web.router.lifespan_context(web):
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://teambot") as client:
                yield Harness(client=client, fake=fake, slack=slack)
    finally:
        core.close()
        app.close()


# -- expected Block Kit, written out the way Slack receives it ---------------------------------


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def fields(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}", "verbatim": True} for k, v in pairs],
    }


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        out["style"] = style
    return out
