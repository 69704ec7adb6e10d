"""`teambot …` run in this process through `bot.cli.main()`: its output captured,
its environment and working directory set for the run and put back after it."""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from bot.cli import main


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def teambot(
    *args: str,
    cwd: Path,
    env: dict[str, str],
    stdin: str = "",
    clean: tuple[str, ...] = ("TEAMBOT_", "SLACK_", "FEISHU_"),
) -> Ran:
    """Run `teambot ARGS` in `cwd` with the variables starting with `clean` removed
    and `env` set; standard input is `stdin` (not a terminal: a piped run)."""
    saved_env, saved_cwd, saved_stdin = os.environ.copy(), Path.cwd(), sys.stdin
    out, err = io.StringIO(), io.StringIO()
    for name in [n for n in os.environ if n.upper().startswith(clean)]:
        del os.environ[name]
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Ran(code, out.getvalue(), err.getvalue())
