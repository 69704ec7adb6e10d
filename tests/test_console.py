"""The console: the real `teambot` command, driven through pipes, files and -c."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.console import Style, mentions_in, render
from commands.types import Field, Lit, Mention, Mirror, Reply, Rich, Table, Tone, Val, Visibility
from storage.migrate import HEAD

ACCEPTANCE = (
    "/task add Write the SRS @ana due:tomorrow prio:high\n"
    "/raci T-1 A @li R @ana C @wang I @zoe\n"
    "/raci T-1\n"
    "/task done T-1\n"
    "/raci matrix\n"
)


def teambot(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEAMBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}"}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def blocks(output: str) -> dict[str, list[str]]:
    """Echoed command -> the lines printed for it."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if " › " in line and line.startswith("@"):
            current = out.setdefault(line.split(" › ", 1)[1], [])
        elif line.strip():
            current.append(line)
    return out


def test_acceptance_pipe_in_english(tmp_path: Path) -> None:
    """The issue's pipe prints the task, its roles, the finished task and a matrix."""
    done = teambot(tmp_path, "console", "--user", "mei", stdin=ACCEPTANCE)
    assert done.returncode == 0
    assert "Traceback" not in done.stdout + done.stderr
    out = blocks(done.stdout)
    assert out["/task add Write the SRS @ana due:tomorrow prio:high"][0] == (
        "Created T-1: Write the SRS"
    )
    assert out["/raci T-1"][1:5] == [
        "  R · Responsible  @ana",
        "  A · Accountable  @li",
        "  C · Consulted    @wang",
        "  I · Informed     @zoe",
    ]
    assert out["/task done T-1"][0] == "@mei finished T-1: Write the SRS ✓"
    assert out["/raci matrix"][:7] == [
        "RACI matrix",
        "  • T-1✓ Write the SRS",
        "  person  T-1✓",
        "  @ana    R",
        "  @li     A",
        "  @wang   C",
        "  @zoe    I",
    ]


def test_acceptance_pipe_in_chinese(tmp_path: Path) -> None:
    """The same pipe after `/teambot lang zh` answers in Chinese."""
    done = teambot(tmp_path, "console", "--user", "mei", stdin="/teambot lang zh\n" + ACCEPTANCE)
    assert done.returncode == 0
    assert "Traceback" not in done.stdout + done.stderr
    out = blocks(done.stdout)
    assert (
        out["/task add Write the SRS @ana due:tomorrow prio:high"][0] == "已创建 T-1：Write the SRS"
    )
    assert out["/raci T-1"][0] == "T-1 的 RACI：Write the SRS"
    assert out["/raci T-1"][2] == "  A · 负责  @li"
    assert out["/task done T-1"][0] == "@mei 完成了 T-1：Write the SRS ✓"
    assert out["/raci matrix"][:3] == ["RACI 矩阵", "  • T-1✓ Write the SRS", "  成员   T-1✓"]


def test_dash_c_runs_one_command_and_state_persists(tmp_path: Path) -> None:
    """-c runs one command without echo; the SQLite file keeps the state between runs."""
    first = teambot(tmp_path, "console", "--user", "mei", "-c", "task add Persist me")
    assert first.stdout.splitlines()[0] == "Created T-1: Persist me"
    second = teambot(tmp_path, "console", "-c", "task list")
    assert second.stdout.splitlines()[:2] == ["Open tasks (1)", "  • T-1 Persist me · to do"]


def test_file_and_console_commands_switch_user_and_channel(tmp_path: Path) -> None:
    """A script file can switch person and channel; each channel is its own project."""
    script = tmp_path / "script.txt"
    script.write_text(
        "# comments are skipped\n"
        "task add In general\n"
        ":channel ops\n"
        ":user bob\n"
        "task add In ops\n"
        "teambot admin\n",
        encoding="utf-8",
    )
    done = teambot(tmp_path, "console", "--user", "mei", str(script))
    out = blocks(done.stdout)
    assert out["task add In ops"][0] == "Created T-1: In ops"
    assert out["teambot admin"] == ["Admins of this project: @bob"]
    assert ":user bob" in out and out[":user bob"] == ["you are @bob in #ops"]


def test_db_upgrade_command(tmp_path: Path) -> None:
    """`teambot db upgrade` migrates a new database and then reports it current."""
    first = teambot(tmp_path, "db", "upgrade")
    assert first.stdout.strip() == f"schema at {HEAD}"
    again = teambot(tmp_path, "db", "upgrade")
    assert again.stdout.strip() == f"schema at {HEAD} (already current)"


def test_demo_runs_the_tour_and_exits_zero(tmp_path: Path) -> None:
    """`teambot demo` tours everything built so far and exits 0."""
    done = teambot(tmp_path, "demo")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    out = blocks(done.stdout)
    assert out["/raci matrix"][0] == "RACI matrix"
    assert out["/teambot lang zh"] == ["本项目已切换为中文。"]
    assert not (tmp_path / "teambot.db").exists()


def test_mentions_are_names() -> None:
    """In the console `@ana` is the member ana; `@me` is left to the router."""
    assert mentions_in("task add x @Ana @me, @li") == {
        "Ana": mentions_in("@Ana")["Ana"],
        "li": mentions_in("@li")["li"],
    }
    assert mentions_in("@Ana")["Ana"].platform_user_id == "ana"


def test_render_aligns_chinese_and_neutralises_terminal_escapes() -> None:
    """Tables line up with wide characters; user values cannot move the cursor."""
    ana = Mention(1, "安娜", "console", "ana")
    reply = Reply(
        title=Rich((Lit("Task: "), Val("evil\x1b[2J"))),
        fields=(Field(Rich.lit("状态"), Rich.val("待办")), Field(Rich.lit("Due"), Rich.val("x"))),
        table=Table((Rich.lit("成员"), Rich.lit("T-1")), ((Rich((ana,)), Rich.lit("R")),)),
        tone=Tone.INFO,
    )
    assert render(reply, style=Style(color=False)).splitlines() == [
        "Task: evil�[2J",
        "  状态  待办",
        "  Due   x",
        "  成员   T-1",
        "  @安娜  R",
    ]


def test_render_names_the_channels_a_change_is_mirrored_to() -> None:
    """Each mirror is one short line after the reply: platform and channel."""
    reply = Reply(
        title=Rich.lit("Created T-1: x"),
        visibility=Visibility.CHANNEL,
        mirrors=(
            Mirror(platform="slack", workspace_id="T1", channel_id="C111"),
            Mirror(platform="feishu", workspace_id="t1", channel_id="oc_2\x1b[2J"),
        ),
    )
    assert render(reply, style=Style(color=False)).splitlines() == [
        "Created T-1: x",
        "  ↪ also in slack #C111",
        "  ↪ also in feishu #oc_2�[2J",
    ]


@pytest.mark.parametrize("tone", list(Tone))
def test_render_colours_only_when_asked(tone: Tone) -> None:
    """Colour codes appear with color=True and never without."""
    reply = Reply(title=Rich.lit("hello"), tone=tone)
    assert "\x1b[" not in render(reply, style=Style(color=False))
    assert "\x1b[" in render(reply, style=Style(color=True))
