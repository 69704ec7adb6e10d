"""Double clicks and races, for real: `teambot serve` processes (one, and two replicas) on
SQLite and on PostgreSQL, signed Slack requests fired from many threads at the same
moment. A task's move, claim and RACI change happen once however many presses race; a
project keeps an admin; a standup answer sent twice is merged; and no command of any
kind answers a race with the apology (counted on every replica's /metrics)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import (
    ChannelBinding,
    ProjectAdmin,
    RaciAssignment,
    StandupConfig,
    StandupReport,
    Task,
    TaskEvent,
)
from tests.cluster import Answer, Cluster, database_for
from tests.conftest import PgServer
from tests.fake_slack import FakeSlack

PG = bool(os.environ.get("TEAMBOT_TEST_DATABASE_URL", "").strip())
SETUPS = [("sqlite", 1), ("sqlite", 2)] + ([("postgresql", 1), ("postgresql", 2)] if PG else [])
PEOPLE = [f"U{n:02d}" for n in range(1, 31)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_user_id="UBOT").start()
    for user in PEOPLE:
        server.add_user(user, "p" + user[1:])
    yield server
    server.stop()


@pytest.fixture(scope="module", params=SETUPS, ids=[f"{b}-x{n}" for b, n in SETUPS])
def cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    pg_server: PgServer | None,
    fake: FakeSlack,
) -> Iterator[Cluster]:
    backend, replicas = request.param
    workdir = tmp_path_factory.mktemp(f"cluster-{backend}-{replicas}")
    url, drop = database_for(
        backend, workdir=workdir, sqlite_template=sqlite_template, pg_server=pg_server
    )
    running = Cluster(url=url, fake=fake, workdir=workdir)
    try:
        running.start(replicas)
        yield running
    finally:
        running.stop()
        drop()
    assert "Traceback" not in running.logs(), running.logs()


@pytest.fixture
def db(cluster: Cluster) -> Iterator[Database]:
    database = Database(cluster.url)
    yield database
    database.dispose()


_channels = iter(range(1, 10_000))


@pytest.fixture
def channel(cluster: Cluster) -> str:
    """A channel nobody has used yet (every test works in channels of its own)."""
    return f"C{next(_channels):05d}"


def mention(user: str) -> str:
    return f"<@{user}|p{user[1:]}>"


def task_of(db: Database, channel: str, number: int) -> Task:
    with Session(db.engine) as session:
        return session.exec(
            select(Task)
            .join(ChannelBinding, col(ChannelBinding.project_id) == col(Task.project_id))
            .where(ChannelBinding.channel_id == channel, Task.number == number)
        ).one()


def events(db: Database, task: Task, kind: str) -> list[dict[str, Any]]:
    with Session(db.engine) as session:
        rows = session.exec(
            select(TaskEvent.data).where(TaskEvent.task_id == task.id, TaskEvent.kind == kind)
        ).all()
    return [dict(r) for r in rows]


def roles(db: Database, task: Task, role: str) -> list[int]:
    with Session(db.engine) as session:
        return list(
            session.exec(
                select(RaciAssignment.member_id).where(
                    RaciAssignment.task_id == task.id, RaciAssignment.role == role
                )
            ).all()
        )


def ok(answer: Answer) -> Answer:
    assert answer.status == 200, answer
    return answer


def assert_no_apology(cluster: Cluster, answers: list[Answer]) -> None:
    cluster.settle()
    assert cluster.apologies(answers) == []


# -- one task, many hands ---------------------------------------------------------------


def test_twenty_done_presses_at_once_finish_the_task_once(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """20 presses of Done on one task at the same moment: one transition, one audit event,
    one DM to its I person; the other presses are told it is done already."""
    ok(cluster.slash("U01", channel, "/task", "add Ship the release"))
    ok(cluster.slash("U01", channel, "/raci", f"T-1 I {mention('U09')}"))
    cluster.settle()
    dms_before = len(cluster.dms_to("U09"))
    mark = cluster.mark()
    answers = cluster.at_once([lambda: cluster.press("U01", channel, "task done T-1")] * 20)
    assert all(a.status == 200 for a in answers)
    cluster.settle()
    task = task_of(db, channel, 1)
    assert task.status == "done"
    assert [e["new"] for e in events(db, task, "status")] == ["done"]
    assert len(cluster.dms_to("U09")) - dms_before == 1
    told = [t for t in cluster.said(since=mark) if "T-1 is already done" in t]
    assert len(told) == 19
    assert_no_apology(cluster, answers)


def test_a_double_click_on_twenty_cards_moves_each_task_once(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Each of 20 tasks gets Done twice at once (a double click): each is finished once."""
    for n in range(20):
        ok(cluster.slash("U01", channel, "/task", f"add Card {n}"))
    jobs = [
        (lambda key=f"T-{n + 1}": cluster.press("U01", channel, f"task done {key}"))
        for n in range(20)
        for _ in range(2)
    ]
    answers = cluster.at_once(jobs)
    for n in range(1, 21):
        task = task_of(db, channel, n)
        assert [e["new"] for e in events(db, task, "status")] == ["done"], f"T-{n}"
    assert_no_apology(cluster, answers)


def test_five_people_claiming_at_once_leave_one_r(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """/task claim by 5 people at once: one becomes R; the others are told who has it."""
    ok(cluster.slash("U01", channel, "/task", "add Up for grabs"))
    claimers = PEOPLE[1:6]
    answers = cluster.at_once(
        [(lambda u=u: cluster.slash(u, channel, "/task", "claim T-1")) for u in claimers]
    )
    task = task_of(db, channel, 1)
    assert len(roles(db, task, "R")) == 1
    assert len(events(db, task, "claim")) == 1
    took = [a for a in answers if "took T-1" in a.text]
    refused = [a for a in answers if "is taken already" in a.text]
    assert (len(took), len(refused)) == (1, 4), [a.text for a in answers]
    assert_no_apology(cluster, answers)


def test_two_people_setting_different_as_at_once(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Two admins set a different A on each of 10 tasks at the same moment: each task ends
    with exactly one A, and nobody gets the apology."""
    ok(cluster.slash("U01", channel, "/task", "add warm up"))  # U01: the project's admin
    ok(cluster.slash("U01", channel, "/teambot", f"admin add {mention('U02')}"))
    for n in range(10):
        ok(cluster.slash("U01", channel, "/task", f"add Owner wanted {n}"))
    jobs = []
    for n in range(2, 12):
        jobs.append(lambda n=n: cluster.slash("U01", channel, "/raci", f"T-{n} A {mention('U03')}"))
        jobs.append(lambda n=n: cluster.slash("U02", channel, "/raci", f"T-{n} A {mention('U04')}"))
    answers = cluster.at_once(jobs)
    for n in range(2, 12):
        assert len(roles(db, task_of(db, channel, n), "A")) == 1
    assert all(a.status == 200 and a.text for a in answers)
    assert_no_apology(cluster, answers)
    assert cluster.crashes() == 0


# -- the project's admins ------------------------------------------------------------------


def test_a_new_channels_first_commands_at_once_make_one_project(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Ten people's first commands in a channel nobody used, at the same moment: one
    project with one admin (whoever came first), every command answered, ten tasks."""
    answers = cluster.at_once(
        [
            (lambda u=u: cluster.slash(u, channel, "/task", f"add first from {u}"))
            for u in PEOPLE[:10]
        ]
    )
    assert all(a.status == 200 and a.text.startswith("Created T-") for a in answers)
    with Session(db.engine) as session:
        projects = session.exec(
            select(ChannelBinding.project_id).where(ChannelBinding.channel_id == channel)
        ).all()
        assert len(projects) == 1
        admins = session.exec(
            select(ProjectAdmin.member_id).where(ProjectAdmin.project_id == projects[0])
        ).all()
        numbers = session.exec(select(Task.number).where(Task.project_id == projects[0])).all()
    assert len(admins) == 1
    assert sorted(numbers) == list(range(1, 11))
    assert_no_apology(cluster, answers)


def test_two_admins_removing_each_other_at_once_leave_one(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """In 10 projects, two admins remove each other at the same moment: every project
    keeps exactly one admin (the one who came second is no admin any more)."""
    channels = [f"{channel}A{n}" for n in range(10)]
    for name in channels:
        ok(cluster.slash("U01", name, "/teambot", f"admin add {mention('U02')}"))
    jobs = []
    for name in channels:
        jobs.append(
            lambda c=name: cluster.slash("U01", c, "/teambot", f"admin remove {mention('U02')}")
        )
        jobs.append(
            lambda c=name: cluster.slash("U02", c, "/teambot", f"admin remove {mention('U01')}")
        )
    answers = cluster.at_once(jobs)
    with Session(db.engine) as session:
        counts = session.exec(
            select(ChannelBinding.channel_id, func.count(col(ProjectAdmin.member_id)))
            .join(ProjectAdmin, col(ProjectAdmin.project_id) == col(ChannelBinding.project_id))
            .where(col(ChannelBinding.channel_id).in_(channels))
            .group_by(col(ChannelBinding.channel_id))
        ).all()
    assert dict(counts) == {name: 1 for name in channels}
    refused = [a for a in answers if a.text.startswith("Only project admins")]
    assert len(refused) == 10
    assert_no_apology(cluster, answers)


# -- standups ------------------------------------------------------------------------------


def test_a_first_standup_answer_sent_twice_at_once_is_merged(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Ten people each send their first answer in two parts at the same moment (y: and t:):
    one report each, holding both parts; nobody gets the apology."""
    hour = datetime.now(UTC).hour
    zone = "Etc/GMT" + (f"{hour - 12:+d}" if hour != 12 else "")  # around noon there
    ok(
        cluster.slash(
            "U01", channel, "/standup", f"config time:00:00 cutoff:23:59 tz:{zone} days:mon-sun"
        )
    )
    people = PEOPLE[1:11]
    jobs = []
    for user in people:
        jobs.append(lambda u=user: cluster.slash(u, channel, "/standup", f"y: wrote {u}"))
        jobs.append(lambda u=user: cluster.slash(u, channel, "/standup", f"t: test {u}"))
    answers = cluster.at_once(jobs)
    with Session(db.engine) as session:
        reports = session.exec(
            select(StandupReport.yesterday, StandupReport.today)
            .join(StandupConfig, col(StandupConfig.id) == col(StandupReport.config_id))
            .join(ChannelBinding, col(ChannelBinding.id) == col(StandupConfig.binding_id))
            .where(ChannelBinding.channel_id == channel)
        ).all()
    assert sorted(reports) == sorted((f"wrote {u}", f"test {u}") for u in people)
    assert all(a.status == 200 and "your standup" in a.text for a in answers), [
        a.text for a in answers
    ]
    assert_no_apology(cluster, answers)


# -- every command that changes something, many times at once -----------------------------

SETUP = [
    ("U01", "/task", "add first task"),
    ("U01", "/task", "add second task"),
    ("U01", "/task", "add third task"),
    ("U01", "/milestone", "add Beta due:+30d"),
    ("U01", "/retro", "start Sprint 1"),
    ("U01", "/retro", "add well the deploy went fine"),
]
MUTATING = [
    ("/task", "add concurrent task"),
    ("/task", "start T-1"),
    ("/task", "block T-2 waiting for keys"),
    ("/task", "done T-3"),
    ("/task", "reopen T-3"),
    ("/task", "assign T-1 <@U05|p05>"),
    ("/task", "claim T-2"),
    ("/task", "due T-1 +3d"),
    ("/task", "comment T-1 looks good"),
    ("/task", "delete T-2 !"),
    ("/raci", "T-1 A <@U06|p06> C <@U07|p07>"),
    ("/raci", "T-1 I <@U08|p08>"),
    ("/milestone", "add Gamma due:+40d"),
    ("/milestone", "done Beta"),
    ("/teambot", "admin add <@U04|p04>"),
    ("/teambot", "lang zh"),
    ("/teambot", "tz Asia/Shanghai"),
    ("/teambot", "link"),
    ("/teambot", "link me"),
    ("/kpi", "target bugfix>=90%"),
    ("/digest", "weekly mon 09:00"),
    ("/digest", "nudges on"),
    ("/standup", "config time:09:30 cutoff:10:30"),
    ("/standup", "away 2026-12-24 2026-12-26"),
    ("/standup", "off"),
    ("/retro", "add improve fewer meetings"),
    ("/retro", "vote 1"),
    ("/retro", "start Sprint 2"),
    ("/retro", "close"),
]


def test_every_change_fired_at_once_never_apologises(cluster: Cluster, channel: str) -> None:
    """Every command that changes something, five times at the same moment by the project's
    admin and once by another member, all of them together: each answer is an ordinary
    reply (a change, or why not), and no replica counts a crash."""
    for user, setup_command, setup_text in SETUP:
        ok(cluster.slash(user, channel, setup_command, setup_text))
    before = cluster.crashes()
    jobs = [
        (lambda u=user, c=command, t=text: (c, t, cluster.slash(u, channel, c, t)))
        for command, text in MUTATING
        for user in ["U01"] * 5 + ["U03"]
    ]
    results = cluster.at_once(jobs)
    bad = [(c, t, a.status, a.text) for c, t, a in results if a.status != 200 or not a.text]
    assert bad == []
    assert_no_apology(cluster, [a for _, _, a in results])
    assert cluster.crashes() == before
