"""The console: the real `teambot` command, driven through pipes, files and -c (in this
process through `bot.cli.main()`, and once as its own process)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build_app
from bot.console import Console, Style, logging_to, mentions_in, render
from bot.demo import TOUR, WEEK, _sections, run_demo
from bot.logs import formatter
from bot.settings import Settings
from commands.types import (
    Field,
    Lit,
    Mention,
    Mirror,
    Post,
    Reply,
    Rich,
    Table,
    Tone,
    Val,
    Visibility,
)
from schedules.engine import Engine, Send
from storage.migrate import HEAD
from tests.cli_support import Ran
from tests.cli_support import teambot as run_teambot

ACCEPTANCE = (
    "/task add Write the SRS @ana due:tomorrow prio:high\n"
    "/raci T-1 A @li R @ana C @wang I @zoe\n"
    "/raci T-1\n"
    "/task done T-1\n"
    "/raci matrix\n"
)


def teambot(tmp_path: Path, *args: str, stdin: str = "") -> Ran:
    """`teambot ARGS` in-process, on a database of its own in `tmp_path` (and the
    console's log there too)."""
    if args[:1] == ("console",):
        args = ("console", "--log-file", str(tmp_path / "console.log"), *args[1:])
    return run_teambot(
        *args,
        cwd=tmp_path,
        env={"TEAMBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}"},
        stdin=stdin,
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


def test_acceptance_pipe_in_english_as_its_own_process(tmp_path: Path) -> None:
    """`python -m bot console` with a pipe (the one run as a real process): it prints the
    task, its roles, the finished task and a matrix, and exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEAMBOT_", "SLACK_"))}
    env["TEAMBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'console.db'}"
    env.pop("NO_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--user", "mei",
         "--log-file", str(tmp_path / "console.log")],
        input=ACCEPTANCE, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
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
    """`teambot demo --fast` tours everything built so far without pausing, ends by
    saying what to try next, and exits 0."""
    done = teambot(tmp_path, "demo", "--fast")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    out = blocks(done.stdout)
    assert out["/raci matrix"][0] == "RACI matrix"
    assert out["/teambot lang zh"] == ["本项目已切换为中文。"]
    assert not (tmp_path / "teambot.db").exists()
    ending = done.stdout.split("That was the tour. What to try next:\n", 1)[1].splitlines()
    assert ending[0].startswith("  `teambot console` — your own channel")
    assert len(ending) == 5
    assert "Enter: next" not in done.stdout


def test_the_demo_pauses_before_each_section(tmp_path: Path) -> None:
    """Paced, the demo asks before each section after the first, numbered; `q` runs the
    rest without asking again. The closing words follow the configured language."""
    asked: list[str] = []

    def pause(prompt: str) -> str:
        asked.append(prompt.strip())
        return "q" if len(asked) == 3 else ""

    out = io.StringIO()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", locale="zh")
    assert run_demo(settings, out=out, pause=pause) == 0
    total = len(_sections(TOUR)) + len(_sections(WEEK))
    assert asked == [
        f"（{n}/{total}）回车：继续 · 输入 q 再回车：不再暂停，运行到底" for n in (2, 3, 4)
    ]
    assert "演示到此结束。接下来可以试试：" in out.getvalue()


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


# -- issue 12, bug 10: the console's own bugs -------------------------------------------


def test_a_mention_does_not_rename_the_person(tmp_path: Path) -> None:
    """`@BEN` written by mei names ben; ben keeps the name he speaks under."""
    done = teambot(
        tmp_path,
        "console",
        "--user",
        "mei",
        stdin=":user ben\n/task add Own task\n:user mei\n/task add Review @BEN\n/task list\n",
    )
    assert done.returncode == 0, done.stdout
    assert blocks(done.stdout)["/task list"] == [
        "Open tasks (2)",
        "  • T-1 Own task · to do",
        "  • T-2 Review · to do · @ben",
    ]


def test_user_and_channel_without_a_name_say_how_to_use_them(tmp_path: Path) -> None:
    """`:user` and `:channel` alone answer with their usage, change nothing, and make a
    piped run exit 1."""
    done = teambot(tmp_path, "console", "--user", "mei", stdin=":user\n:channel\n:who\n")
    out = blocks(done.stdout)
    assert out[":user"] == [
        "✗ :user needs a name: :user NAME (e.g. :user ana; :who shows who and where you are)"
    ]
    assert out[":channel"][0].startswith("✗ :channel needs a name: :channel NAME")
    assert out[":who"] == ["you are @mei in #general"]
    assert done.returncode == 1


def test_a_failed_command_makes_scripts_exit_non_zero(tmp_path: Path) -> None:
    """-c, a pipe and a file exit 1 when a command answered with an error, 0 otherwise."""
    assert teambot(tmp_path, "console", "-c", "/task add Fine").returncode == 0
    failed = teambot(tmp_path, "console", "-c", "/task show T-99")
    assert failed.returncode == 1
    assert failed.stdout.startswith("✗ There is no task T-99")
    assert teambot(tmp_path, "console", stdin="/task list\n/task done T-42\n").returncode == 1
    assert teambot(tmp_path, "console", stdin="/task list\n").returncode == 0
    script = tmp_path / "script.txt"
    script.write_text(":nonsense\n", encoding="utf-8")
    assert teambot(tmp_path, "console", str(script)).returncode == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("SLACK_SIGNING_SECRET", "changeme"), ("FEISHU_APP_SECRET", " TODO ")],
)
def test_a_placeholder_secret_is_one_clear_line(tmp_path: Path, name: str, value: str) -> None:
    """A placeholder secret stops teambot with one line naming the variable: no pydantic
    report, no link, not the value."""
    done = run_teambot("console", "-c", "/task list", cwd=tmp_path, env={name: value})
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"teambot: {name}: is a placeholder, not a real secret: set the one the platform "
        "gave you, or leave it unset\n"
    )


def test_several_bad_settings_are_one_line_each(tmp_path: Path) -> None:
    """Each bad setting is named as it is set, once."""
    done = run_teambot(
        "db", "current", cwd=tmp_path,
        env={"TEAMBOT_LOCALE": "fr", "TEAMBOT_TIMEZONE": "Mars/Base"},
    )  # fmt: skip
    assert done.returncode == 2
    assert sorted(done.stderr.splitlines()) == [
        "teambot: TEAMBOT_LOCALE: Input should be 'en' or 'zh'",
        "teambot: TEAMBOT_TIMEZONE: unknown time zone 'Mars/Base'",
    ]


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _printer(console: Console) -> Send:
    async def send(post: Post) -> None:
        console.show_post(post)

    return send


def test_two_consoles_on_one_database_each_get_their_own_standup(tmp_path: Path) -> None:
    """#apollo's standup prompt is posted by #apollo's console and never printed in
    #general's, even when #general's clock runs first (it does not take it)."""
    clock = FixedClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))  # a Monday
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'shared.db'}"), clock=clock)
    try:
        general_out, apollo_out = io.StringIO(), io.StringIO()
        general = Console(router=app.router, user="mei", channel="general", out=general_out,
                          color=False)  # fmt: skip
        apollo = Console(router=app.router, user="li", channel="apollo", out=apollo_out,
                         color=False)  # fmt: skip
        general.run(["/task add Something"], echo=False)
        apollo.run(["/standup config time:09:30 days:mon-fri cutoff:10:30"], echo=False)
        assert general.failures == apollo.failures == 0
        clock.at = datetime(2026, 11, 2, 9, 31, tzinfo=UTC)
        general_out.truncate(0)
        general_out.seek(0)
        apollo_out.truncate(0)
        apollo_out.seek(0)
        for console in (general, apollo):
            engine = Engine(db=app.db, catalog=app.router.catalog, send=_printer(console),
                            clock=clock, scope=console.scope)  # fmt: skip
            asyncio.run(engine.run_due())
        assert general_out.getvalue() == ""
        assert "⏰ teambot → #apollo" in apollo_out.getvalue()
    finally:
        app.close()


def test_a_post_for_another_channel_is_not_printed(tmp_path: Path) -> None:
    """show_post prints a post into one of the console's channels, not into another's."""
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'show.db'}"))
    out = io.StringIO()
    console = Console(router=app.router, user="mei", channel="general", out=out, color=False)
    post = Post(platform="console", reply=Reply(title=Rich.lit("x")), channel_id="apollo")
    try:
        console.show_post(post)
        assert out.getvalue() == ""
        console.meta(":channel apollo")
        console.meta(":channel general")
        out.truncate(0)
        out.seek(0)
        console.show_post(post)  # apollo is one of its channels now
        assert out.getvalue() == "\n⏰ teambot → #apollo\nx\n"
    finally:
        app.close()


def test_the_log_goes_to_its_file_not_between_the_chat_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While the console runs, a clock's warning (a missed standup) is written to the log
    file and counted; nothing of it reaches the terminal."""
    clock = FixedClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'log.db'}"), clock=clock)
    log_file = tmp_path / "console.log"
    root = logging.getLogger()
    terminal = logging.StreamHandler(sys.stderr)  # what `configure` puts on the root logger
    root.addHandler(terminal)
    try:
        console = Console(router=app.router, user="mei", channel="general", out=sys.stdout,
                          color=False)  # fmt: skip
        with logging_to(log_file, formatter("text")) as logged:
            console.run(["/standup config time:09:30 cutoff:10:30"], echo=False)
            clock.at = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)  # past the cutoff: skipped
            engine = Engine(db=app.db, catalog=app.router.catalog, send=_printer(console),
                            clock=clock, scope=console.scope)  # fmt: skip
            asyncio.run(engine.run_due())
        assert terminal in root.handlers  # put back afterwards
    finally:
        root.removeHandler(terminal)
        app.close()
    printed = capsys.readouterr()
    assert "WARNING" not in printed.out + printed.err
    assert logged.count >= 1
    assert "WARNING schedules.engine: skipped a missed firing" in log_file.read_text("utf-8")


def test_a_run_that_logged_says_where_once_at_the_end(tmp_path: Path) -> None:
    """A clean run says nothing about the log; its file is not even created."""
    done = teambot(tmp_path, "console", "-c", "/task list")
    assert done.stderr == ""
    assert not (tmp_path / "console.log").exists()


def test_console_dm_standup_is_asked_and_answered_in_the_dm(tmp_path: Path) -> None:
    """mode:dm in the console: the clock's question shows as `✉ to @ana`; `:user ana` then
    `:dm` answers in her DM, one question at a time; the finished report is posted in
    #general and counted by /standup status there."""
    clock = FixedClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))  # a Monday
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'dm.db'}"), clock=clock)
    try:
        out = io.StringIO()
        console = Console(router=app.router, user="mei", channel="general", out=out,
                          color=False)  # fmt: skip
        console.run(["/standup config time:09:30 cutoff:11:00 mode:dm",
                     ":user ana", "/task add Docs @me"], echo=False)  # fmt: skip
        clock.at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        engine = Engine(db=app.db, catalog=app.router.catalog, send=_printer(console),
                        clock=clock, scope=console.scope)  # fmt: skip
        asyncio.run(engine.run_due())
        assert "⏰ teambot → ✉ to @ana\nWhat did you do yesterday?" in out.getvalue()
        out.truncate(0)
        out.seek(0)
        console.run([":dm", "wrote docs", "review", "none", ":channel general",
                     "/standup status"], echo=True)  # fmt: skip
        shown = blocks(out.getvalue())
        assert shown["wrote docs"][0] == "What will you do today?"
        assert shown["review"][0] == "Anything blocking you? (or none)"
        assert shown["none"][0].startswith("Thanks! Your standup for 2026-11-02 (Mon) is saved")
        assert any("↪ posted in #general: Standup of @ana" in s for s in shown["none"])
        assert "Answered (1): @ana" in "\n".join(shown["/standup status"])
        assert console.failures == 0
    finally:
        app.close()
