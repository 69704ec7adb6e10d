"""`teambot serve` as a real process: uvicorn on a free loopback port, a fake Slack Web API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from tests.fake_slack import FakeSlack
from tests.slack_support import SECRET, fixture, sign

STARTUP = 20.0


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    server.add_user("W111", "mei")
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def environment(tmp_path: Path, **slack: str) -> dict[str, str]:
    """This process's environment (PYTHONPATH and all) minus any teambot/platform settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEAMBOT_", "SLACK_", "FEISHU_"))
    }
    env["TEAMBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    env.update(slack)
    return env


def slack_env(tmp_path: Path, fake: FakeSlack) -> dict[str, str]:
    return environment(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.api_url,
    )


def healthy(body: dict[str, Any]) -> bool:
    """/healthz's body of a healthy `serve`: the database ok, and the clock (it runs by
    default) ok or still starting its first round."""
    clock = body.pop("clock", "ok")
    return body == {"status": "ok", "database": "ok"} and clock in ("ok", "starting")


def wait_healthy(client: httpx.Client, proc: subprocess.Popen[bytes], base: str) -> None:
    """Poll /healthz (bounded) until it answers 200 {"status": "ok", "database": "ok",
    "clock": "ok"|"starting"}."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early with {proc.returncode}"
        try:
            response = client.get(f"{base}/healthz", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        assert response.status_code == 200 and healthy(response.json()), response.text
        return
    pytest.fail(f"/healthz did not answer within {STARTUP} s")


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


def slash_body(fake: FakeSlack, command: str, text: str) -> bytes:
    """A slash command form exactly like Slack's, as tests.slack_support.Harness.slash builds it."""
    form = dict(parse_qsl(fixture("slack_slash_command.txt")))
    form.update({
        "channel_id": "C111", "channel_name": "general", "user_id": "W111", "user_name": "w111",
        "command": command, "text": text, "response_url": f"{fake.url}/response/cmd1",
        "trigger_id": "trigger1",
    })  # fmt: skip
    return urlencode(form).encode()


def start_serve(tmp_path: Path, fake: FakeSlack, port: int) -> subprocess.Popen[bytes]:
    """`teambot serve --port <port>`, its output (uvicorn's log) into serve.log."""
    with (tmp_path / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)],
            env=slack_env(tmp_path, fake),
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def created_ack(title: str) -> dict[str, Any]:
    """The ack body of `/task add <title>` creating T-1 with no one responsible yet."""
    block = json.dumps({"command": "task block T-1", "title": "Block", "label": "reason"})
    return {
        "text": f"Created T-1: {title}",
        "response_type": "in_channel",
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"*Created T-1: {title}*", "verbatim": True}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*{k}*\n{v}", "verbatim": True}
                for k, v in (("Status", "to do"), ("Priority", "medium"), ("Due", "not set"),
                             ("R · Responsible", "—"))
            ]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Start", "emoji": True},
                 "action_id": "tb:task_start", "value": "task start T-1", "style": "primary"},
                {"type": "button", "text": {"type": "plain_text", "text": "Done", "emoji": True},
                 "action_id": "tb:task_done", "value": "task done T-1", "style": "primary"},
                {"type": "button", "text": {"type": "plain_text", "text": "Block", "emoji": True},
                 "action_id": "tb:ask:task_block", "value": block, "style": "danger"},
                {"type": "button", "text": {"type": "plain_text", "text": "Claim", "emoji": True},
                 "action_id": "tb:task_claim", "value": "task claim T-1"},
            ]},
        ],
    }  # fmt: skip


def test_serve_answers_healthz_and_a_signed_slash_command(tmp_path: Path, fake: FakeSlack) -> None:
    """The real process: /healthz is ok, a signed /task add is acked in_channel, SIGTERM stops it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_serve(tmp_path, fake, port)
    try:
        with httpx.Client(trust_env=False) as client:
            wait_healthy(client, proc, base)
            body = slash_body(fake, "/task", "add From the process")
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            response = client.post(f"{base}/slack/events", content=body, headers=headers)
        assert response.status_code == 200
        assert response.json() == created_ack("From the process")
    finally:
        code = stop(proc)
    log = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete." in log, log
    assert "Traceback" not in log
    assert code in (0, -signal.SIGTERM)  # the exact status is pinned by the next test


def test_sigterm_ends_serve_with_exit_status_0(tmp_path: Path, fake: FakeSlack) -> None:
    """SIGTERM shuts down gracefully and serve() returns 0, so its and the CLI's cleanup run."""
    port = free_port()
    proc = start_serve(tmp_path, fake, port)
    try:
        with httpx.Client(trust_env=False) as client:
            wait_healthy(client, proc, f"http://127.0.0.1:{port}")
    finally:
        code = stop(proc)
    log = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete." in log, log
    # uvicorn >= 0.29 re-raises a captured SIGTERM after its graceful shutdown, which
    # kills the process (-15) before `serve()`'s `finally: core.close()` and `return 0`.
    assert code == 0


PROBE = """
import json, os, signal, sys, threading, time
import httpx
from bot.cli import main

PORT = sys.argv[1]

def probe():
    deadline = time.monotonic() + {startup}
    healthy = False
    with httpx.Client(trust_env=False) as client:
        while not healthy and time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{{PORT}}/healthz"
                healthy = client.get(url, timeout=1.0).status_code == 200
            except httpx.TransportError:
                time.sleep(0.05)
    roots = sorted({{m.split(".")[0] for m in sys.modules}})
    lark = sorted(m for m in sys.modules if m.startswith("lark"))
    print("PROBE " + json.dumps({{"healthy": healthy, "lark": lark,
                                 "slack_bolt": "slack_bolt" in roots,
                                 "uvicorn": "uvicorn" in roots}}), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=probe, daemon=True).start()
sys.exit(main(["serve", "--port", PORT]))
"""


def test_serving_slack_alone_never_loads_the_feishu_sdk(tmp_path: Path, fake: FakeSlack) -> None:
    """`teambot serve` with Slack settings and no Feishu ones never imports lark_oapi."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE.format(startup=STARTUP), str(port)],
        env=slack_env(tmp_path, fake),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(timeout=STARTUP + 20)
    finally:
        stop(proc)
    [line] = [ln for ln in out.decode().splitlines() if ln.startswith("PROBE ")]
    assert json.loads(line.removeprefix("PROBE ")) == {
        "healthy": True,  # probed while serving, after /healthz answered
        "lark": [],
        "slack_bolt": True,  # the Slack adapter really ran
        "uvicorn": True,  # and so did the server
    }
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    assert "Traceback" not in err.decode()


REASON = (
    "teambot serve: SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode) "
    "nor SLACK_APP_TOKEN (Socket Mode) is"
)


@pytest.fixture(scope="module")
def bot_token_only(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """`teambot serve` with SLACK_BOT_TOKEN set and neither a signing secret nor an app token."""
    tmp_path = tmp_path_factory.mktemp("bot-token-only")
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port())],
        env=environment(tmp_path, SLACK_BOT_TOKEN="xoxb-test"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bot_token_without_secret_or_app_token_is_a_config_error(
    bot_token_only: subprocess.CompletedProcess[str],
) -> None:
    """SLACK_BOT_TOKEN alone: exit 2 with the reason, and no traceback."""
    assert bot_token_only.returncode == 2
    assert "Traceback" not in bot_token_only.stderr
    assert REASON in (bot_token_only.stdout + bot_token_only.stderr).splitlines()


def test_config_error_goes_to_stderr_like_every_other_cli_error(
    bot_token_only: subprocess.CompletedProcess[str],
) -> None:
    """The reason is on stderr (like `bad configuration` and slack-manifest's usage error), not stdout."""
    assert (bot_token_only.returncode, bot_token_only.stdout) == (2, "")
    assert bot_token_only.stderr == REASON + "\n"
