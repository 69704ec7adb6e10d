"""`teambot export`: a small Chinese project written as CSV files and as JSON, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.export import read, write_project
from storage.models import Project
from tests.chat import Chat
from tests.cli_support import Ran
from tests.cli_support import teambot as run_teambot
from tests.conftest import Clock

CHANNEL = "发布"
SCRIPT = [
    ("mei", "/teambot tz Asia/Shanghai"),
    ("mei", "/milestone add Beta due:2026-12-20"),
    ("mei", '/task add 写需求, "初稿" @ana due:2026-12-01 prio:high ms:Beta'),
    ("mei", "/task add +86 电话回访 kind:bug"),
    ("mei", "/task add 临时 任务"),
    ("mei", "/task delete T-3 !"),
    ("mei", "/raci T-1 A @mei C @li I @zoe"),
    ("mei", "/standup config time:16:00 cutoff:23:00 tz:Asia/Shanghai"),
    ("ana", "/standup y: 写了需求 t: 评审 b: 等待接口文档"),
    ("ana", "/task start T-1"),
    ("mei", "/retro start 第一次回顾"),
    ("li", "/retro add well 沟通顺畅"),
    ("ana", "/retro add action 每周同步接口 @li"),
    ("mei", "/retro reveal"),
    ("li", "/retro vote 1"),
    ("mei", "/retro close"),
    ("mei", "/retro start 匿名回顾 anon"),
    ("ana", "/retro add improve 需求变更太多"),
    ("mei", "/kpi target response<=2h"),
    ("mei", "/kpi target bugfix off"),
    ("mei", "/kpi target ontime>=90%"),
]

# What Excel shows, one file per table: UTF-8 with a BOM, CRLF, times in Asia/Shanghai.
CSV = {
    "project.csv": "name,platform,workspace,channels,timezone,locale,key_prefix,created_at\r\n"
    "发布,console,local,console:发布,Asia/Shanghai,,T,2026-11-23 17:00:00\r\n",
    "tasks.csv": "key,title,kind,status,priority,due,milestone,creator,R,A,C,I,blocked_reason,"
    "created_at,started_at,first_response_at,blocked_at,done_at\r\n"
    'T-1,"写需求, 初稿",task,done,high,2026-12-01,Beta,mei,ana,mei,li,zoe,,'
    "2026-11-23 17:21:00,2026-11-23 18:10:00,2026-11-23 18:10:00,,2026-11-23 22:20:00\r\n"
    "T-2,'+86 电话回访,bug,todo,med,,,mei,,,,,,2026-11-23 17:28:00,,,,\r\n"
    "T-4,每周同步接口,task,todo,med,,,mei,li,mei,,,,2026-11-23 18:45:00,,,,\r\n",
    "milestones.csv": "name,due,status,tasks,done,created_at,done_at\r\n"
    "Beta,2026-12-20,open,1,1,2026-11-23 17:14:00,\r\n",
    "raci.csv": "task,role,member\r\n"
    "T-1,R,ana\r\nT-1,A,mei\r\nT-1,C,li\r\nT-1,I,zoe\r\nT-4,R,li\r\nT-4,A,mei\r\n",
    "standups.csv": "day,channel,member,yesterday,today,blockers,answers,created_at,updated_at\r\n"
    "2026-11-23,发布,ana,写了需求,评审,等待接口文档,,2026-11-23 18:03:00,2026-11-23 18:03:00\r\n",
    "retros.csv": "retro,title,status,anonymous,facilitator,created_at,closed_at\r\n"
    "1,第一次回顾,closed,false,mei,2026-11-23 18:17:00,2026-11-23 18:45:00\r\n"
    "2,匿名回顾,open,true,mei,2026-11-23 18:52:00,\r\n",
    "retro_notes.csv": "retro,number,kind,text,author,owner,votes,task,created_at\r\n"
    "1,1,well,沟通顺畅,li,,1,,2026-11-23 18:24:00\r\n"
    "1,2,action,每周同步接口,ana,li,0,T-4,2026-11-23 18:31:00\r\n"
    "2,1,improve,需求变更太多,,,0,,2026-11-23 18:59:00\r\n",
    "kpi_targets.csv": "metric,op,threshold,unit,created_at\r\n"
    "bugfix,off,,percent,2026-11-23 19:13:00\r\n"
    "ontime,>=,90,percent,2026-11-23 19:20:00\r\n"
    "response_avg,<=,2,hours,2026-11-23 19:06:00\r\n",
}  # fmt: skip


def task(key: str, title: str, kind: str, status: str, priority: str, created: str,
         **rest: object) -> dict[str, object]:  # fmt: skip
    out: dict[str, object] = {
        "key": key, "title": title, "kind": kind, "status": status, "priority": priority,
        "due": None, "milestone": None, "creator": "mei", "R": [], "A": [], "C": [], "I": [],
        "blocked_reason": None, "created_at": created, "started_at": None,
        "first_response_at": None, "blocked_at": None, "done_at": None,
    }  # fmt: skip
    out.update(rest)
    return out


JSON = {
    "format": "teambot-export",
    "version": 1,
    "project": {
        "name": "发布", "platform": "console", "workspace": "local", "channels": ["console:发布"],
        "timezone": "Asia/Shanghai", "locale": None, "key_prefix": "T",
        "created_at": "2026-11-23T09:00:00Z",
    },
    "tasks": [
        task("T-1", "写需求, 初稿", "task", "done", "high", "2026-11-23T09:21:00Z",
             due="2026-12-01", milestone="Beta", R=["ana"], A=["mei"], C=["li"], I=["zoe"],
             started_at="2026-11-23T10:10:00Z", first_response_at="2026-11-23T10:10:00Z",
             done_at="2026-11-23T14:20:00Z"),
        task("T-2", "+86 电话回访", "bug", "todo", "med", "2026-11-23T09:28:00Z"),
        task("T-4", "每周同步接口", "task", "todo", "med", "2026-11-23T10:45:00Z",
             R=["li"], A=["mei"]),
    ],
    "milestones": [
        {"name": "Beta", "due": "2026-12-20", "status": "open", "tasks": 1, "done": 1,
         "created_at": "2026-11-23T09:14:00Z", "done_at": None},
    ],
    "raci": [
        {"task": t, "role": r, "member": m}
        for t, r, m in (("T-1", "R", "ana"), ("T-1", "A", "mei"), ("T-1", "C", "li"),
                        ("T-1", "I", "zoe"), ("T-4", "R", "li"), ("T-4", "A", "mei"))
    ],
    "standups": [
        {"day": "2026-11-23", "channel": "发布", "member": "ana", "yesterday": "写了需求",
         "today": "评审", "blockers": "等待接口文档", "answers": "",
         "created_at": "2026-11-23T10:03:00Z",
         "updated_at": "2026-11-23T10:03:00Z"},
    ],
    "retros": [
        {"retro": 1, "title": "第一次回顾", "status": "closed", "anonymous": False,
         "facilitator": "mei", "created_at": "2026-11-23T10:17:00Z",
         "closed_at": "2026-11-23T10:45:00Z"},
        {"retro": 2, "title": "匿名回顾", "status": "open", "anonymous": True,
         "facilitator": "mei", "created_at": "2026-11-23T10:52:00Z", "closed_at": None},
    ],
    "retro_notes": [
        {"retro": 1, "number": 1, "kind": "well", "text": "沟通顺畅", "author": "li",
         "owner": None, "votes": 1, "task": None, "created_at": "2026-11-23T10:24:00Z"},
        {"retro": 1, "number": 2, "kind": "action", "text": "每周同步接口", "author": "ana",
         "owner": "li", "votes": 0, "task": "T-4", "created_at": "2026-11-23T10:31:00Z"},
        {"retro": 2, "number": 1, "kind": "improve", "text": "需求变更太多", "author": None,
         "owner": None, "votes": 0, "task": None, "created_at": "2026-11-23T10:59:00Z"},
    ],
    "kpi_targets": [
        {"metric": "bugfix", "op": "off", "threshold": None, "unit": "percent",
         "created_at": "2026-11-23T11:13:00Z"},
        {"metric": "ontime", "op": ">=", "threshold": 90.0, "unit": "percent",
         "created_at": "2026-11-23T11:20:00Z"},
        {"metric": "response_avg", "op": "<=", "threshold": 2.0, "unit": "hours",
         "created_at": "2026-11-23T11:06:00Z"},
    ],
}  # fmt: skip


@pytest.fixture
def project(chat: Chat, clock: Clock) -> Chat:
    """The fixture project #发布, seven minutes between commands from Monday 09:07 UTC (the
    retro's reveal and the first vote in the same minute)."""
    for who, text in SCRIPT:
        clock.advance(minutes=0 if text == "/retro reveal" else 7)
        chat.say(who, text, channel=CHANNEL)
    clock.advance(hours=3)
    chat.say("ana", "/task done T-1", channel=CHANNEL)
    with Session(chat.db.engine) as session:
        # Projects are created at the wall clock's time; pin it for the exact files.
        session.get_one(Project, chat.project(channel=CHANNEL).id).created_at = datetime(
            2026, 11, 23, 9, 0, tzinfo=UTC
        )
        session.commit()
    return chat


def test_csv_files_byte_for_byte(project: Chat, tmp_path: Path) -> None:
    """One CSV per table in `1-发布/`: BOM, CRLF, local times, `'` before a formula start,
    no deleted task, no author in the anonymous retro, `off` for a default switched off."""
    [(info, tables)] = read(project.db)
    written = write_project(info, tables, fmt="csv", out=tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        f"1-发布/{name}" for name in CSV
    ]
    for path in written:
        assert path.read_bytes() == b"\xef\xbb\xbf" + CSV[path.name].encode("utf-8"), path.name


def test_json_document(project: Chat, tmp_path: Path) -> None:
    """One JSON file per project, UTF-8 (Chinese as is), times in UTC, lists for people."""
    [(info, tables)] = read(project.db)
    [path] = write_project(info, tables, fmt="json", out=tmp_path)
    assert path == tmp_path / "1-发布.json"
    raw = path.read_text(encoding="utf-8")
    assert json.loads(raw) == JSON
    assert '"name": "发布"' in raw.splitlines()[4]
    assert raw.endswith("}\n")


def test_chat_summary_counts_what_the_export_writes(project: Chat) -> None:
    """/teambot export counts exactly the rows the files hold."""
    reply = project.say("mei", "/teambot export json", channel=CHANNEL)
    assert [(f.label.plain(), f.value.plain()) for f in reply.fields] == [
        ("Tasks", "3"),
        ("Milestones", "1"),
        ("RACI roles", "6"),
        ("Standup reports", "1"),
        ("Retros", "2"),
        ("Retro notes", "3"),
        ("KPI targets", "3"),
    ]


def teambot(db_url: str, cwd: Path, *args: str) -> Ran:
    return run_teambot(*args, cwd=cwd, env={"TEAMBOT_DATABASE_URL": db_url})


def test_the_cli_writes_the_same_files(project: Chat, db_url: str, tmp_path: Path) -> None:
    """`teambot export --format csv --project 发布 --out DIR` lists and writes the files;
    `--project-id` and `--all` pick the same project; an unknown name exits 1."""
    done = teambot(db_url, tmp_path, "export", "--format", "csv", "--project", "发布",
                   "--out", "out")  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.splitlines() == [f"out/1-发布/{name}" for name in CSV]
    assert (tmp_path / "out/1-发布/tasks.csv").read_bytes()[3:].decode() == CSV["tasks.csv"]
    by_id = teambot(db_url, tmp_path, "export", "--format", "json", "--project-id", "1")
    assert by_id.stdout == "1-发布.json\n"
    assert json.loads((tmp_path / "1-发布.json").read_text(encoding="utf-8")) == JSON
    every = teambot(db_url, tmp_path, "export", "--format", "json", "--all", "--out", "all")
    assert every.stdout == "all/1-发布.json\n"
    missing = teambot(db_url, tmp_path, "export", "--format", "json", "--project", "无")
    assert missing.returncode == 1
    assert missing.stderr == ("teambot export: no project named '无'; projects (id name): 1 发布\n")


def test_the_cli_needs_a_format_and_a_choice_of_projects(tmp_path: Path) -> None:
    """Without --format, or without --project/--project-id/--all, argparse says what is missing."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    no_format = teambot(url, tmp_path, "export", "--all")
    assert no_format.returncode == 2
    assert "the following arguments are required: --format" in no_format.stderr
    no_project = teambot(url, tmp_path, "export", "--format", "csv")
    assert no_project.returncode == 2
    assert "one of the arguments --project --project-id --all is required" in no_project.stderr


def test_the_cli_refuses_a_database_behind_the_code(tmp_path: Path) -> None:
    """Export only reads: it does not migrate; it names the command that does."""
    done = teambot(f"sqlite:///{tmp_path / 'old.db'}", tmp_path, "export", "--format", "csv",
                   "--all")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("teambot export: the database schema is at nothing, not ")
    assert done.stderr.endswith(": run `teambot db upgrade` first\n")


def test_the_answers_to_a_teams_own_questions_are_exported(chat: Chat, tmp_path: Path) -> None:
    """A report to the team's own questions carries its answers, in order, as a JSON list."""
    chat.say("mei", "/standup config time:08:30 cutoff:23:30")
    chat.say("mei", '/standup questions set "Shipped?" | "Next?" | !"Blocked by?"')
    chat.say("ana", "/standup 1: the parser 3: waiting, for CI")
    [(info, tables)] = read(chat.db)
    [path] = write_project(info, tables, fmt="json", out=tmp_path)
    [report] = json.loads(path.read_text(encoding="utf-8"))["standups"]
    assert json.loads(report["answers"]) == ["the parser", "", "waiting, for CI"]
    assert report["blockers"] == "waiting, for CI"
