"""Start-up time and resident memory against the floors set by Python and the libraries.

Console: runs `teambot console -c "task list"` (start, open or migrate SQLite,
run one command, exit) and, interleaved with it in the same run, a bare
interpreter that only imports sqlmodel, pydantic_settings and jinja2, and a
bare interpreter that imports nothing. Reports the median and p90 of each, the
ratio, and each one's peak RSS.

Serve (unless --no-serve): starts, one after another and interleaved, a bare
slack-bolt async app served by uvicorn, `teambot serve` with Slack only (HTTP
mode) and `teambot serve` with Slack and Feishu (HTTP callbacks), each on a
fresh SQLite file and a free loopback port, Web API calls going to a fake
Slack and a fake Feishu in this process. Measures the time from the process
start until GET /healthz answers 200, then VmRSS (and the peak, VmHWM) from
/proc/<pid>/status, then ends the process with SIGTERM. The machine is shared,
so compare within a run rather than trusting one absolute figure.

    python bench/startup.py [--runs 20] [--serve-runs 5] [--no-serve]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BASELINE = [sys.executable, "-c", "import sqlmodel, pydantic_settings, jinja2"]
BARE = [sys.executable, "-c", "pass"]
CONSOLE_TARGET_S = 1.0
SERVE_RSS_TARGET_MB = 120.0
STARTUP_LIMIT_S = 60.0
SECRET = "bench-startup-signing-secret"

BARE_BOLT = """
import os
import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
app = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"],
               process_before_response=True)


@app.command("/task")
async def ack_only(ack):
    await ack()


handler = AsyncSlackRequestHandler(app)


async def healthz(request):
    return JSONResponse({"status": "ok"})


web = Starlette(routes=[Route("/healthz", healthz),
                        Route("/slack/events", handler.handle, methods=["POST"])])
uvicorn.run(web, host="127.0.0.1", port=int(os.environ["TEAMBOT_PORT"]), log_level="info")
"""


def teambot_exe() -> str:
    return shutil.which("teambot", path=str(Path(sys.executable).parent)) or "teambot"


def teambot_command() -> list[str]:
    return [teambot_exe(), "console", "-c", "task list"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any teambot or platform settings, plus `extra`."""
    prefixes = ("TEAMBOT_", "SLACK_", "FEISHU_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def run_once(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(seconds from start to exit, peak RSS in MB) of one short-lived process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited with {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def status_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a running process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def serve_once(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, float]:
    """Start a server, wait for /healthz 200: (seconds to it, VmRSS MB, VmHWM MB); then
    SIGTERM (to this process only, which we started) and wait for it to exit."""
    port = env["TEAMBOT_PORT"]
    url = f"http://127.0.0.1:{port}/healthz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[:3]} exited early with {proc.returncode}")
            if time.perf_counter() - start > STARTUP_LIMIT_S:
                raise RuntimeError(f"{cmd[:3]}: /healthz did not answer")
            try:
                with opener.open(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.01)
        elapsed = time.perf_counter() - start
        rss, hwm = status_mb(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return elapsed, rss, hwm


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def console_part(runs: int) -> dict[str, dict[str, list[float]]]:
    names = ("bare interpreter", "baseline", "console")
    out: dict[str, dict[str, list[float]]] = {n: {"time": [], "rss": []} for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(TEAMBOT_DATABASE_URL=f"sqlite:///{tmp}/bench.db")
        commands = dict(zip(names, (BARE, BASELINE, teambot_command()), strict=True))
        run_once(commands["console"], env, tmp)  # creates and migrates the database once
        for _ in range(runs):
            for name, cmd in commands.items():
                seconds, rss = run_once(cmd, env, tmp)
                out[name]["time"].append(seconds)
                out[name]["rss"].append(rss)
    return out


def serve_part(runs: int) -> dict[str, dict[str, list[float]]]:
    from tests.fake_feishu import FakeFeishu
    from tests.fake_slack import FakeSlack

    slack, feishu = FakeSlack().start(), FakeFeishu().start()
    names = ("bare bolt + uvicorn", "teambot serve: Slack", "teambot serve: Slack + Feishu")
    out: dict[str, dict[str, list[float]]] = {n: {"time": [], "rss": [], "hwm": []} for n in names}
    slack_env = {"SLACK_BOT_TOKEN": "xoxb-bench-startup", "SLACK_SIGNING_SECRET": SECRET,
                 "SLACK_API_URL": slack.api_url}  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(runs):
                feishu_env = {
                    "FEISHU_APP_ID": f"cli_bench{i:04d}",
                    "FEISHU_APP_SECRET": "bench-app-secret",
                    "FEISHU_VERIFICATION_TOKEN": "bench-verification-token",
                    "FEISHU_ENCRYPT_KEY": "bench-encrypt-key",
                    "FEISHU_DOMAIN": feishu.url,
                }
                plans = {
                    names[0]: ([sys.executable, "-c", BARE_BOLT], {}),
                    names[1]: ([teambot_exe(), "serve"], {}),
                    names[2]: ([teambot_exe(), "serve"], feishu_env),
                }
                for n, (name, (cmd, extra)) in enumerate(plans.items()):
                    env = clean_env(
                        TEAMBOT_DATABASE_URL=f"sqlite:///{tmp}/serve-{i}-{n}.db",  # fresh
                        TEAMBOT_PORT=str(free_port()),
                        **slack_env,
                        **extra,
                    )
                    seconds, rss, hwm = serve_once(cmd, env, tmp)
                    for key, value in (("time", seconds), ("rss", rss), ("hwm", hwm)):
                        out[name][key].append(value)
    finally:
        slack.stop()
        feishu.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="console runs")
    parser.add_argument("--serve-runs", type=int, default=5, help="starts of each server")
    parser.add_argument("--no-serve", action="store_true", help="the console part only")
    args = parser.parse_args()
    console = console_part(args.runs)
    serve = None if args.no_serve else serve_part(args.serve_runs)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; medians of {args.runs} console runs "
          f"and {args.serve_runs} server starts, interleaved\n")  # fmt: skip
    print("| process | start (median) | p90 | peak RSS (median) |")
    print("| --- | --- | --- | --- |")
    for name, label in (("bare interpreter", "bare interpreter (`python -c pass`)"),
                        ("baseline", "baseline: imports sqlmodel, pydantic_settings, jinja2"),
                        ("console", '`teambot console -c "task list"`')):  # fmt: skip
        median, p90 = summary(console[name]["time"])
        rss = statistics.median(console[name]["rss"])
        print(f"| {label} | {median:.3f} s | {p90:.3f} s | {rss:.0f} MB |")
    ratio = statistics.median(console["console"]["time"]) / statistics.median(
        console["baseline"]["time"]
    )
    console_s = statistics.median(console["console"]["time"])
    met = "met" if console_s < CONSOLE_TARGET_S else "NOT met"
    print(f"\nconsole / baseline: {ratio:.2f}x   target: console median under 1 s: {met}")
    if serve is None:
        return
    print("\n| server | to /healthz 200 (median) | p90 | RSS at ready (median) | peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in serve.items():
        median, p90 = summary(values["time"])
        rss, hwm = statistics.median(values["rss"]), statistics.median(values["hwm"])
        print(f"| {name} | {median:.2f} s | {p90:.2f} s | {rss:.0f} MB | {hwm:.0f} MB |")
    bare = serve["bare bolt + uvicorn"]
    names = list(serve)
    for name in names[1:]:
        time_ratio = statistics.median(serve[name]["time"]) / statistics.median(bare["time"])
        rss_ratio = statistics.median(serve[name]["rss"]) / statistics.median(bare["rss"])
        print(f"\n{name} / bare bolt: start {time_ratio:.2f}x, RSS {rss_ratio:.2f}x")
    slack_rss = statistics.median(serve[names[1]]["rss"])
    met = "met" if slack_rss < SERVE_RSS_TARGET_MB else "NOT met"
    print(f"\ntarget: serve with Slack only under {SERVE_RSS_TARGET_MB:.0f} MB RSS: {met} "
          f"({slack_rss:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
