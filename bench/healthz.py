"""/healthz under stress: a write-locked SQLite file, and 1,100 idle sockets.

Starts `teambot serve` as a real process (SQLite, Slack in HTTP mode against a fake
Slack served from this process) and times `GET /healthz` and a signed slash command.

    python bench/healthz.py locked [--hold 10]
    python bench/healthz.py idle [--sockets 1100] [--nofile 1024] [--hard-nofile 1024]

`locked`: another connection holds SQLite's write lock (`BEGIN IMMEDIATE`) for --hold
seconds while a slash command waits for it; /healthz is asked every 0.5 s meanwhile.

`idle`: the server starts with the open-file limit --nofile (soft; --hard-nofile, when
given, as the hard limit too), then this process opens --sockets connections to it
that send nothing (half of them) or half a request line (the other half); /healthz and
a slash command are timed, then how long the server takes to close the idle sockets.
"""

from __future__ import annotations

import argparse
import os
import resource
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_slack import FakeSlack  # noqa: E402
from tests.slack_support import SECRET, fixture, sign  # noqa: E402

STARTUP = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start(workdir: Path, fake: FakeSlack, port: int, limits: tuple[int, int] | None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEAMBOT_", "SLACK_"))}
    env.update({
        "TEAMBOT_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    })  # fmt: skip

    def child_limits() -> None:
        if limits is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, preexec_fn=child_limits,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP
    with httpx.Client(trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit((workdir / "serve.log").read_text())
            try:
                if client.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    return proc, base
            except httpx.TransportError:
                time.sleep(0.05)
    raise SystemExit("serve did not become healthy")


def slash(fake: FakeSlack, n: int) -> tuple[bytes, dict[str, str]]:
    form = dict(parse_qsl(fixture("slack_slash_command.txt")))
    form.update({
        "channel_id": "C111", "channel_name": "general", "user_id": "W111", "user_name": "w111",
        "command": "/task", "text": f"add Bench {n}", "response_url": f"{fake.url}/response/{n}",
        "trigger_id": f"bench{n}",
    })  # fmt: skip
    body = urlencode(form).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}


def timed(fn):
    start = time.monotonic()
    try:
        result = fn()
    except httpx.HTTPError as err:
        result = type(err).__name__
    return time.monotonic() - start, result


def show(what: str, seconds: float, result: object) -> None:
    if isinstance(result, httpx.Response):
        result = f"{result.status_code} {result.text[:120]}"
    print(f"{what:<34} {seconds:7.3f} s  {result}", flush=True)


def bench_locked(args: argparse.Namespace, fake: FakeSlack, workdir: Path) -> None:
    proc, base = start(workdir, fake, free_port(), None)
    try:
        locker = sqlite3.connect(
            workdir / "bench.db", isolation_level=None, check_same_thread=False
        )
        locker.execute("BEGIN IMMEDIATE")
        released = threading.Event()

        def release() -> None:
            time.sleep(args.hold)
            locker.execute("ROLLBACK")
            released.set()

        threading.Thread(target=release, daemon=True).start()
        held_at = time.monotonic()
        with httpx.Client(trust_env=False, timeout=30.0) as client:
            body, headers = slash(fake, 1)
            command: list[tuple[float, object]] = []

            def send() -> None:
                post = lambda: client.post(f"{base}/slack/events", content=body, headers=headers)  # noqa: E731
                command.append(timed(post))

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            time.sleep(0.2)  # the command is waiting for the lock
            while not released.is_set() or time.monotonic() - held_at < args.hold + 1.5:
                at = time.monotonic() - held_at
                seconds, result = timed(lambda: client.get(f"{base}/healthz"))
                show(f"/healthz asked at {at:5.2f} s", seconds, result)
                time.sleep(0.5)
            sender.join(30)
            show("slash command sent at 0.00 s", *command[0])
    finally:
        proc.terminate()
        proc.wait(20)


def bench_idle(args: argparse.Namespace, fake: FakeSlack, workdir: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sockets + 1000), hard))
    limits = (args.nofile, args.hard_nofile or hard)
    port = free_port()
    proc, base = start(workdir, fake, port, limits)
    idle: list[socket.socket] = []
    try:
        opened = time.monotonic()
        for n in range(args.sockets):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2:
                sock.sendall(b"GET /healthz HT")
            idle.append(sock)
        print(f"{args.sockets} idle sockets open in {time.monotonic() - opened:.2f} s "
              f"(server open-file limit {limits[0]} soft, {limits[1]} hard)")  # fmt: skip
        with httpx.Client(trust_env=False, timeout=15.0) as client:
            show("/healthz", *timed(lambda: client.get(f"{base}/healthz")))
            body, headers = slash(fake, 1)
            show(
                "slash command",
                *timed(lambda: client.post(f"{base}/slack/events", content=body, headers=headers)),
            )
        watch = selectors.DefaultSelector()
        for sock in idle:
            watch.register(sock, selectors.EVENT_READ)
        still_open = len(idle)
        deadline = opened + args.wait
        while still_open and time.monotonic() < deadline:
            for key, _ in watch.select(0.2):
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data or data.startswith(b"HTTP/1.1 408"):
                    watch.unregister(key.fileobj)
                    still_open -= 1
        open_socks = [None] * still_open
        closed = args.sockets - len(open_socks)
        print(f"closed by the server {time.monotonic() - opened:6.2f} s after opening: "
              f"{closed} of {args.sockets}")  # fmt: skip
    finally:
        for sock in idle:
            sock.close()
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    locked = sub.add_parser("locked")
    locked.add_argument("--hold", type=float, default=10.0)
    idle = sub.add_parser("idle")
    idle.add_argument("--sockets", type=int, default=1100)
    idle.add_argument("--nofile", type=int, default=1024)
    idle.add_argument("--hard-nofile", type=int, default=0)
    idle.add_argument("--wait", type=float, default=20.0, help="how long to watch the sockets")
    args = parser.parse_args()
    fake = FakeSlack(bot_user_id="UBOT").start()
    fake.add_user("W111", "mei")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (bench_locked if args.what == "locked" else bench_idle)(args, fake, Path(tmp))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
