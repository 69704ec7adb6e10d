"""Console start-up time against the floor set by the libraries it must import.

Runs `teambot console -c "task list"` (start, open or migrate SQLite, run one
command, exit) and, interleaved with it in the same run, a bare interpreter
that only imports sqlmodel, pydantic_settings and jinja2. Reports the median
and p90 of each and their ratio; the machine is shared, so compare the two
rather than trusting one absolute figure.

    python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = [sys.executable, "-c", "import sqlmodel, pydantic_settings, jinja2"]


def teambot_command() -> list[str]:
    exe = shutil.which("teambot", path=str(Path(sys.executable).parent)) or "teambot"
    return [exe, "console", "-c", "task list"]


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TEAMBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
        console = teambot_command()
        timed(console, env, tmp)  # creates and migrates the database once
        samples: dict[str, list[float]] = {"baseline": [], "console": []}
        for _ in range(args.runs):
            samples["baseline"].append(timed(BASELINE, env, tmp))
            samples["console"].append(timed(console, env, tmp))
    for name, values in samples.items():
        values.sort()
        p90 = values[int(0.9 * (len(values) - 1))]
        print(f"{name:9s} median {statistics.median(values):.3f} s  p90 {p90:.3f} s")
    ratio = statistics.median(samples["console"]) / statistics.median(samples["baseline"])
    print(f"console / baseline: {ratio:.2f}x   target: console median under 1 s")


if __name__ == "__main__":
    main()
