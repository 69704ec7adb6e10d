"""Standup fan-out to 10,000 Slack channels: the real engine and Slack adapter, in one run.

Seeds 10,000 Slack channels with a standup due at the same minute (Monday
09:30 UTC) and runs `schedules.engine.Engine.run_due` at that minute, posts
going out through teambot's Slack adapter (`bot.scheduling.hub_sender`, one
shared aiohttp session) to a fake Slack Web API on a loopback port that takes
20 ms per call and answers 429 (Retry-After: 0) to one chat.postMessage in 200.
The fake runs in its own process, so that its work does not share this
process's GIL; it checks each distinct message's contents once, as the strict
fake of the tests checks every one (`--check-every-post` does that too).

In the same run, with the same fake:
- floor, timers only: `FAN_OUT` tasks sleeping the latency once per post, no
  network: what the event loop's timers give on this machine right now;
- floor, raw aiohttp: one shared session, the same bound, nothing but the
  10,000 posts: what the machine and the fake allow;
- the engine with a fresh slack_sdk `AsyncWebClient` per post (no shared
  session: a new connection per call) instead of the adapter;
- the engine with a sender that returns at once: the engine's own cost.
Each engine round gets a fresh copy of the seeded database. Every round that
posts is checked: exactly one successful chat.postMessage per channel.
--profile adds one cProfiled teambot round (event loop and worker threads).

Ideal = posts / FAN_OUT x latency (10,000 / 50 x 20 ms = 4.0 s).

    python bench/fanout.py [--channels 10000] [--runs 3] [--profile] [--backends sqlite postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, web
from sqlalchemy import create_engine, insert, text
from sqlmodel import col, select

from bot.app import build_app
from bot.core import Core
from bot.hub import Hub
from bot.scheduling import hub_sender
from bot.settings import Settings
from bot.slack.setup import adapter as slack_adapter
from commands.types import Post
from schedules import engine as engine_module
from schedules.engine import FAN_OUT, Engine, Send
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ChannelBinding, Project, StandupConfig, Workspace
from tests.fake_slack import Failure, FakeSlack

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # a Monday, the minute every standup is due
CREATED = datetime(2026, 11, 1, tzinfo=UTC)
TOKEN = "xoxb-bench-fanout"
SECRET = "bench-fanout-signing-secret"
TARGET = 1.2  # within 1.2x of ideal


# -- the fake, in a process of its own ----------------------------------------------------


class BenchFake(FakeSlack):
    """FakeSlack plus /bench/posts (what chat.postMessage answered, and when) and /bench/reset."""

    def __init__(self, *, check_every_post: bool = False) -> None:
        super().__init__()
        self.spans: list[tuple[float, float]] = []  # chat.postMessage: arrival, answer
        self.check_every_post = check_every_post
        self.checked: set[tuple[str, str]] = set()  # (method, contents but the channel) taken

    def _refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's checks on a call's contents, once for each distinct message: the strict
        fake checks every post with slack_sdk's models (~0.15 ms of CPU for a standup
        prompt, 1.5 s for 10,000 of them, on the two CPUs this process shares with the
        engine). `--check-every-post` checks each one, as the tests do."""
        if self.check_every_post:
            return super()._refusal(method, args)
        contents = {name: value for name, value in args.items() if name != "channel"}
        key = (method, json.dumps(contents, sort_keys=True))
        if key in self.checked:
            return None
        refused = super()._refusal(method, args)
        if refused is None:
            self.checked.add(key)
        return refused

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/bench/posts", self._posts)
        app.router.add_post("/bench/reset", self._reset)
        super().routes(app)

    async def _api(self, request: web.Request) -> web.Response:
        arrival = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process
        response = await super()._api(request)
        if request.match_info["method"] == "chat.postMessage":
            self.spans.append((arrival, time.monotonic()))
        return response

    async def _posts(self, request: web.Request) -> web.Response:
        posts = [[c.args.get("channel"), c.status] for c in self.calls
                 if c.method == "chat.postMessage"]  # fmt: skip
        first = min((s[0] for s in self.spans), default=0.0)
        last = max((s[1] for s in self.spans), default=0.0)
        return web.json_response({"posts": posts, "first": first, "last": last})

    async def _reset(self, request: web.Request) -> web.Response:
        self.calls.clear()
        self.counts.clear()
        self.spans.clear()
        return web.json_response({"ok": True})


def serve_fake(latency: float, every: int, *, check_every_post: bool) -> None:
    """The child process: print the fake's URL, serve until stdin closes."""
    fake = BenchFake(check_every_post=check_every_post)
    fake.latency = latency
    if every:
        limited = Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
        fake.fail_every("chat.postMessage", every, limited)
    fake.start()
    print(fake.url, flush=True)
    sys.stdin.read()
    fake.stop()


class FakeProcess:
    def __init__(self, *, latency: float, every: int, check_every_post: bool = False) -> None:
        every_post = ["--check-every-post"] if check_every_post else []
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", "--latency", str(latency),
             "--rate-limit-every", str(every), *every_post],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("the fake Slack did not start")
        self.api_url = f"{self.url}/api/"

    def _call(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._call("/bench/reset", "POST")

    def cpu(self) -> float:
        """CPU seconds (user + system) the fake's process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def posts(self) -> dict[str, Any]:
        return self._call("/bench/posts")  # type: ignore[no-any-return]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # our own child, by its pid
            self.proc.wait(timeout=10)


# -- the database ----------------------------------------------------------------------------


def seed(db: Database, *, channels: int) -> None:
    """One Slack project bound to many channels, each with a 09:30 UTC standup, bulk-inserted
    (as tests/test_fanout.py does)."""
    with db.transaction() as session:
        workspace = Workspace(platform="slack", external_id="T111", name="Acme", created_at=CREATED)
        session.add(workspace)
        session.flush()
        project = Project(workspace_id=workspace.id or 0, name="big", created_at=CREATED)
        session.add(project)
        session.flush()
        session.execute(
            insert(ChannelBinding),
            [{"workspace_id": workspace.id, "project_id": project.id, "channel_id": f"C{n:05d}",
              "name": f"team-{n}", "created_at": CREATED} for n in range(channels)],
        )  # fmt: skip
        ids = session.exec(select(ChannelBinding.id).order_by(col(ChannelBinding.id))).all()
        session.execute(
            insert(StandupConfig),
            [{"binding_id": binding_id, "at": clock_time(9, 30), "cutoff": clock_time(10, 30),
              "timezone": "UTC", "days": "mon-fri", "calendar": "none", "enabled": True,
              "created_at": CREATED, "updated_at": CREATED} for binding_id in ids],
        )  # fmt: skip


class Databases:
    """A fresh seeded database for every round: a copy of a seeded SQLite file, or a
    PostgreSQL database `bench_fanout` dropped and seeded again."""

    def __init__(self, *, backend: str, channels: int, tmp: Path, pg_server: str) -> None:
        self.backend = backend
        self.channels = channels
        self.tmp = tmp
        self.pg_server = pg_server.rstrip("/")
        self.rounds = 0
        if backend == "sqlite":
            self.template = tmp / "template.db"
            db = Database(f"sqlite:///{self.template}")
            upgrade(db)
            seed(db, channels=channels)
            db.dispose()

    def fresh(self) -> str:
        self.rounds += 1
        if self.backend == "sqlite":
            path = self.tmp / f"round{self.rounds}.db"
            shutil.copy(self.template, path)
            return f"sqlite:///{path}"
        admin = create_engine(f"{self.pg_server}/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "bench_fanout" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "bench_fanout"'))
        admin.dispose()
        url = f"{self.pg_server}/bench_fanout"
        db = Database(url)
        upgrade(db)
        seed(db, channels=self.channels)
        db.dispose()
        return url

    def drop(self) -> None:
        if self.backend == "postgresql" and self.rounds:
            admin = create_engine(f"{self.pg_server}/test", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text('DROP DATABASE IF EXISTS "bench_fanout" WITH (FORCE)'))
            admin.dispose()


# -- the rounds ------------------------------------------------------------------------------


@dataclass
class Round:
    name: str
    total: float  # run_due, or the whole floor
    before: float = 0.0  # run_due start to the first post: plan, claims, builds
    send: float = 0.0  # first post started to last post answered (this process)
    after: float = 0.0  # last post answered to run_due's end: statuses written
    fake_send: float = 0.0  # first chat.postMessage arrived to last answered (the fake)
    delivered: int = 0
    lost: int = 0
    doubled: int = 0
    limited: int = 0  # 429s the fake answered (each retried)
    cpu: float = 0.0  # CPU seconds this process used in the round (all threads)
    fake_cpu: float = 0.0  # CPU seconds the fake used in the round
    extra: dict[str, Any] = field(default_factory=dict)


class SendClock:
    """Wraps a sender: when the first post started and the last one ended."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.first = 0.0
        self.last = 0.0

    async def __call__(self, post: Post) -> None:
        if not self.first:
            self.first = time.monotonic()
        try:
            await self.send(post)
        finally:
            self.last = time.monotonic()


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU used by this process and by the fake between start() and stop()."""

    def __init__(self, fake: FakeProcess) -> None:
        self.fake = fake
        self.start()

    def start(self) -> None:
        self.own, self.theirs = own_cpu(), self.fake.cpu()

    def stop(self, result: Round) -> None:
        result.cpu = own_cpu() - self.own
        result.fake_cpu = self.fake.cpu() - self.theirs


def check(fake: FakeProcess, result: Round, channels: int) -> Round:
    seen = fake.posts()
    ok = Counter(channel for channel, status in seen["posts"] if status == 200)
    result.delivered = sum(ok.values())
    result.lost = sum(1 for n in range(channels) if ok[f"C{n:05d}"] == 0)
    result.doubled = sum(1 for count in ok.values() if count > 1)
    result.limited = sum(1 for _, status in seen["posts"] if status == 429)
    result.fake_send = seen["last"] - seen["first"]
    return result


async def floor(fake: FakeProcess, *, channels: int, bound: int) -> Round:
    """Raw aiohttp, one session, `bound` posts in flight, 429s retried after Retry-After."""
    fake.reset()
    body = {"text": "Standup for Monday, 30 November", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Standup* " + "x" * 300}},
    ], "unfurl_links": False, "unfurl_media": False}  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}"}
    gate = asyncio.Semaphore(bound)
    meter = CpuMeter(fake)
    async with ClientSession() as session:

        async def one(n: int) -> None:
            async with gate:
                for _ in range(4):
                    payload = {**body, "channel": f"C{n:05d}"}
                    url = f"{fake.api_url}chat.postMessage"
                    async with session.post(url, headers=headers, json=payload) as r:
                        await r.read()
                        if r.status != 429:
                            return
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))

        began = time.monotonic()
        await asyncio.gather(*(one(n) for n in range(channels)))
        total = time.monotonic() - began
    result = Round("floor: raw aiohttp, shared session", total, send=total)
    meter.stop(result)
    return check(fake, result, channels)


async def sleep_floor(*, channels: int, bound: int, latency: float) -> Round:
    """No network: `bound` tasks, each sleeping `latency` once per post it owns. What the
    event loop's timers alone give on this machine right now (the scheduler's noise)."""
    per_task = [channels // bound + (1 if i < channels % bound else 0) for i in range(bound)]

    async def worker(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(latency)

    began = time.monotonic()
    cpu = own_cpu()
    await asyncio.gather(*(worker(n) for n in per_task))
    total = time.monotonic() - began
    result = Round("floor: timers only (no network)", total, send=total, cpu=own_cpu() - cpu)
    result.delivered = channels  # nothing is posted: counts are not checked for this one
    result.extra["no_posts"] = True
    return result


async def instant(post: Post) -> None:
    """A sender that returns at once: the engine alone (plan, claims, builds, statuses)."""


def client_per_call_sender(api_url: str, retry_handlers: list[Any]) -> Send:
    """The adapter's exact payload and retry handlers, through a new AsyncWebClient (and so
    a new aiohttp session and connection) per post."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.render import SlackStyle, blocks, fallback_text

    async def send(post: Post) -> None:
        client = AsyncWebClient(token=TOKEN, base_url=api_url, retry_handlers=retry_handlers)
        await client.chat_postMessage(
            channel=post.channel_id or "",
            text=fallback_text(post.reply),
            blocks=blocks(post.reply, SlackStyle(ping=False)),
            unfurl_links=False,
            unfurl_media=False,
        )

    return send


async def engine_round(
    name: str,
    fake: FakeProcess,
    dbs: Databases,
    *,
    per_call: bool = False,
    no_network: bool = False,
    profile: bool = False,
) -> Round:
    """One run_due at the minute every standup is due, on a fresh database."""
    url = dbs.fresh()
    fake.reset()
    settings = Settings(
        database_url=url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
        scheduler=False,
    )
    app = build_app(settings, clock=lambda: NOW)
    core = Core(app.router)
    hub = Hub()
    slack = slack_adapter(settings, core, hub)
    assert slack is not None
    await slack.start()
    profiles: list[cProfile.Profile] = []
    original = asyncio.to_thread
    try:
        assert slack.client is not None
        send: Send = hub_sender(hub)
        if per_call:
            send = client_per_call_sender(fake.api_url, slack.client.retry_handlers)
        elif no_network:
            send = instant
        clock = SendClock(send)
        engine = Engine(db=app.db, catalog=app.router.catalog, send=clock, clock=lambda: NOW)
        if profile:  # the engine's database work runs in worker threads: profile it there

            async def profiled(func: Callable[..., Any], /, *args: Any, **kw: Any) -> Any:
                def run() -> Any:
                    prof = cProfile.Profile()
                    profiles.append(prof)
                    return prof.runcall(func, *args, **kw)

                return await original(run)

            engine_module.asyncio.to_thread = profiled  # type: ignore[attr-defined]
            main = cProfile.Profile()
            profiles.insert(0, main)
            main.enable()
        meter = CpuMeter(fake)
        began = time.monotonic()
        outcome = await engine.run_due(NOW)
        ended = time.monotonic()
        used = Round("cpu", 0.0)
        meter.stop(used)
        if profile:
            main.disable()
    finally:
        engine_module.asyncio.to_thread = original  # type: ignore[attr-defined]
        await slack.stop()
        core.close()
        app.close()
    result = Round(
        name,
        ended - began,
        before=clock.first - began,
        send=clock.last - clock.first,
        after=ended - clock.last,
        cpu=used.cpu,
        fake_cpu=used.fake_cpu,
        extra={"sent": outcome.sent, "failed": outcome.failed, "profiles": profiles},
    )
    if no_network:
        ok = outcome.sent == dbs.channels and not outcome.failed
        result.delivered = outcome.sent
        result.lost = 0 if ok else dbs.channels - outcome.sent
        result.extra["no_posts"] = True
        return result
    return check(fake, result, dbs.channels)


def profile_report(profiles: list[cProfile.Profile], top: int) -> str:
    """The event loop's profile (the send phase) by own time, and the worker threads'
    (the engine's database work: plan, claims, builds, statuses) by cumulative time."""
    out = io.StringIO()
    loop, *workers = profiles
    out.write("Event loop (sending), by own time:\n")
    pstats.Stats(loop, stream=out).sort_stats("tottime").print_stats(top)
    if workers:
        out.write("Worker threads (the engine's database work), by cumulative time:\n")
        stats = pstats.Stats(workers[0], stream=out)
        for prof in workers[1:]:
            stats.add(prof)
        stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# -- the report ------------------------------------------------------------------------------


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def report(rounds: list[list[Round]], *, channels: int, bound: int, latency: float) -> None:
    ideal = channels / bound * latency
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{channels:,} channels, fan-out bound {bound}, fake latency {latency * 1000:.0f} ms, "
          f"ideal {ideal:.2f} s; medians of {len(rounds)} run(s); {os.cpu_count()} CPUs, "
          f"load average {load}\n")  # fmt: skip
    print("| path | run_due total | to the first post | sending: first → last post "
          "| after the last | total / ideal | CPU: bench / fake | posts: one each? |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    names = [r.name for r in rounds[0]]
    for i, name in enumerate(names):
        runs = [rs[i] for rs in rounds]

        def med(attr: str, runs: list[Round] = runs) -> float:
            return statistics.median(getattr(r, attr) for r in runs)

        last = runs[-1]
        if all(r.lost == 0 and r.doubled == 0 and r.delivered == channels for r in runs):
            verdict = f"yes: {last.delivered:,} delivered, 0 lost, 0 doubled"
            verdict += f", {last.limited} × 429 retried" if last.limited else ""
        else:
            verdict = f"NO: delivered {last.delivered}, lost {last.lost}, doubled {last.doubled}"
        if last.extra.get("no_posts"):
            verdict = "(nothing posted)" if name.startswith("floor") else (
                f"(run_due sent {last.delivered:,}, none failed)" if last.lost == 0
                else f"NO: {last.delivered:,} sent")  # fmt: skip
        engine = not name.startswith("floor")
        dash = "—"
        print(f"| {name} | {fmt(med('total')) if engine else dash} "
              f"| {fmt(med('before')) if engine else dash} | {fmt(med('send'))} "
              f"| {fmt(med('after')) if engine else dash} | {med('total') / ideal:.2f}x "
              f"| {med('cpu'):.1f} s / {med('fake_cpu'):.1f} s | {verdict} |")  # fmt: skip
    at = names.index("teambot: engine + Slack adapter (shared session)")
    adapter = statistics.median(rs[at].total for rs in rounds)
    floor_ = statistics.median(rs[names.index("floor: raw aiohttp, shared session")].total
                               for rs in rounds)  # fmt: skip
    met = "met" if adapter <= TARGET * ideal else "NOT met"
    print(f"\nteambot / raw-aiohttp floor: {adapter / floor_:.2f}x. "
          f"target: run_due within {TARGET}x of ideal ({TARGET * ideal:.2f} s): "
          f"{met} ({adapter / ideal:.2f}x)")  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    fake = FakeProcess(latency=args.latency, every=args.rate_limit_every,
                       check_every_post=args.check_every_post)  # fmt: skip
    try:
        for backend in args.backends:
            with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
                dbs = Databases(backend=backend, channels=args.channels, tmp=Path(tmp),
                                pg_server=args.pg_server)  # fmt: skip
                try:
                    rounds = []
                    for i in range(args.runs):
                        print(f"{backend}: run {i + 1} of {args.runs} ...", file=sys.stderr,
                              flush=True)  # fmt: skip
                        rounds.append([
                            await sleep_floor(channels=args.channels, bound=FAN_OUT,
                                              latency=args.latency),
                            await floor(fake, channels=args.channels, bound=FAN_OUT),
                            await engine_round("teambot: engine + Slack adapter (shared session)",
                                               fake, dbs),
                            await engine_round("engine + a new AsyncWebClient per post",
                                               fake, dbs, per_call=True),
                            await engine_round("engine alone: a sender that returns at once",
                                               fake, dbs, no_network=True),
                        ])  # fmt: skip
                    print(f"\n### {backend}")
                    report(rounds, channels=args.channels, bound=FAN_OUT, latency=args.latency)
                    if args.profile:
                        profiled = await engine_round("profiled", fake, dbs, profile=True)
                        print(f"\ncProfile of one teambot round ({fmt(profiled.total)} under "
                              f"the profiler; first post after {fmt(profiled.before)}, "
                              f"sending {fmt(profiled.send)}):\n")  # fmt: skip
                        print(profile_report(profiled.extra["profiles"], args.profile_top))
                finally:
                    dbs.drop()
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per API call")
    parser.add_argument("--rate-limit-every", type=int, default=200,
                        help="answer 429 to every n-th chat.postMessage (0: never)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="rounds of each path (median)")
    parser.add_argument("--backends", nargs="+", default=["sqlite"],
                        choices=["sqlite", "postgresql"])  # fmt: skip
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database ($BENCH_PG_SERVER)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one more teambot round")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--check-every-post",
        action="store_true",
        help="the fake checks every post's contents, not each distinct one once",
    )
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.latency, args.rate_limit_every, check_every_post=args.check_every_post)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
