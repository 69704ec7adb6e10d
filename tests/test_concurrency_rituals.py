"""Double clicks and duplicate deliveries on standups and retros, for real: `teambot serve`
processes (one, and two replicas) on SQLite and PostgreSQL, signed Slack requests fired
from many threads at once (the cluster of tests/test_concurrency.py). DM answers sent at
once answer each question once; votes never pass the limit; a retro closes once; roster
changes and refreshes keep every choice; "later" and "skip" pressed twice count once."""

# The cluster's fixtures are imported from tests/test_concurrency.py and named as test
# parameters, which ruff reads as redefining them.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.roster import RosterKeeper
from commands.standup_dm import open_for
from storage.db import Database
from storage.models import (
    ChannelBinding,
    Member,
    RetroVote,
    StandupAway,
    StandupConfig,
    StandupDm,
    StandupReport,
    StandupRoster,
    StandupRosterMember,
    StandupSnooze,
    Task,
)
from tests.cluster import TEAM, Answer, Cluster
from tests.fake_slack import FakeSlack
from tests.slack_support import fixture_json, running, settings_for
from tests.test_concurrency import (  # noqa: F401  (fixtures, used by name)
    PEOPLE,
    assert_no_apology,
    channel,
    cluster,
    db,
    fake,
    mention,
    ok,
)


def noon_zone() -> str:
    """A zone where it is around noon now, so a 00:00–23:59 standup is open."""
    hour = datetime.now(UTC).hour
    return "Etc/GMT" + (f"{hour - 12:+d}" if hour != 12 else "")


def standup_here(cluster: Cluster, channel: str, *extra: str) -> None:
    options = f"time:00:00 cutoff:23:59 tz:{noon_zone()} days:mon-sun " + " ".join(extra)
    ok(cluster.slash("U01", channel, "/standup", "config " + options))


def config_of(db: Database, channel: str) -> StandupConfig:
    with Session(db.engine) as session:
        return session.exec(
            select(StandupConfig)
            .join(ChannelBinding, col(ChannelBinding.id) == col(StandupConfig.binding_id))
            .where(ChannelBinding.channel_id == channel)
        ).one()


def member_id(db: Database, user: str) -> int:
    with Session(db.engine) as session:
        found = session.exec(select(Member.id).where(Member.platform_user_id == user)).one()
    assert found is not None
    return found


def dm(cluster: Cluster, user: str, text: str, *, ts: str, event_id: str) -> Answer:
    """A signed `message.im` event: `user` writes `text` in the bot's DM."""
    payload = fixture_json("slack_message_event.json")
    payload["team_id"] = TEAM
    payload["event_id"] = event_id
    payload["event"].update({
        "text": text, "user": user, "channel": "D" + user, "channel_type": "im",
        "ts": ts, "event_ts": ts, "team": TEAM, "client_msg_id": event_id,
    })  # fmt: skip
    payload["event"].pop("blocks", None)
    return cluster.post_event(json.dumps(payload).encode())


def said_in(fake: FakeSlack, where: str, since: int) -> list[str]:
    return [
        str(c.args.get("text", ""))
        for c in fake.calls[since:]
        if c.method == "chat.postMessage" and c.args.get("channel") == where
    ]


# -- 1. DM answers ---------------------------------------------------------------------------


def open_dm(db: Database, channel: str, user: str) -> int:
    """`user`'s DM standup of today, opened as the clock opens it."""
    config = config_of(db, channel)
    who = member_id(db, user)
    now = datetime.now(UTC)
    with db.transaction() as session:
        asked = open_for(
            session,
            config=config,
            member_id=who,
            day=now.astimezone(ZoneInfo(config.timezone)).date(),
            until=now + timedelta(hours=6),
            now=now,
        )
        assert asked.id is not None
        return asked.id


def test_one_dm_message_delivered_twice_at_once_answers_one_question(
    cluster: Cluster, db: Database, fake: FakeSlack, channel: str
) -> None:
    """The same DM message arriving twice at the same moment under two event ids (Slack's
    retry, the messages tab and an app mention): the first question is answered once, the
    second is asked once, nothing more."""
    standup_here(cluster, channel, "mode:dm")
    ok(cluster.slash("U02", channel, "/standup", "members"))  # U02 known to the workspace
    dm_id = open_dm(db, channel, "U02")
    since = len(fake.calls)
    answers = cluster.at_once([
        lambda: dm(cluster, "U02", "wrote the parser", ts="1700000000.000100", event_id="EvA"),
        lambda: dm(cluster, "U02", "wrote the parser", ts="1700000000.000100", event_id="EvB"),
    ])  # fmt: skip
    assert all(a.status == 200 for a in answers)
    cluster.settle()
    with Session(db.engine) as session:
        asked = session.get(StandupDm, dm_id)
        assert asked is not None
        assert (asked.step, list(asked.answers.values())) == (1, ["wrote the parser"])
    assert len(said_in(fake, "DU02", since)) == 1
    assert_no_apology(cluster, answers)


def test_three_dm_answers_sent_at_once_fill_each_question_once(
    cluster: Cluster, db: Database, fake: FakeSlack, channel: str
) -> None:
    """Three answers sent at the same moment (a double send, a quick typist): each of the
    three questions takes one of them, one report is saved and posted once."""
    standup_here(cluster, channel, "mode:dm", "post:each")
    ok(cluster.slash("U03", channel, "/standup", "members"))
    dm_id = open_dm(db, channel, "U03")
    since = len(fake.calls)
    texts = ["answer one", "answer two", "answer three"]
    answers = cluster.at_once([
        (lambda n=n, t=t: dm(cluster, "U03", t, ts=f"1700000001.00010{n}", event_id=f"EvT{n}"))
        for n, t in enumerate(texts)
    ])  # fmt: skip
    cluster.settle()
    with Session(db.engine) as session:
        asked = session.get(StandupDm, dm_id)
        assert asked is not None and asked.finished_at is not None
        assert sorted(asked.answers.values()) == sorted(texts)
        reports = session.exec(
            select(StandupReport).where(StandupReport.config_id == asked.config_id)
        ).all()
    assert len(reports) == 1
    assert sorted([reports[0].yesterday, reports[0].today, reports[0].blockers]) == sorted(texts)
    assert len(said_in(fake, channel, since)) == 1  # the report, posted once
    assert_no_apology(cluster, answers)


# -- 2. retros ---------------------------------------------------------------------------------


def retro_in_vote(cluster: Cluster, channel: str, notes: int) -> None:
    ok(cluster.slash("U01", channel, "/retro", "start Sprint"))
    for n in range(notes):
        ok(cluster.slash("U01", channel, "/retro", f"add well thing {n}"))
    ok(cluster.slash("U01", channel, "/retro", "reveal"))


def votes_of(db: Database, user: str) -> int:
    who = member_id(db, user)
    with Session(db.engine) as session:
        return len(session.exec(select(RetroVote).where(RetroVote.voter_id == who)).all())


def test_votes_clicked_at_once_never_pass_the_limit(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """One person votes for five notes and for one of them twice, all at the same moment:
    three votes are counted, the rest are told why not."""
    retro_in_vote(cluster, channel, 5)
    ok(cluster.slash("U04", channel, "/retro", "list"))
    jobs = [(lambda n=n: cluster.press("U04", channel, f"retro vote {n}")) for n in range(1, 6)]
    jobs.append(lambda: cluster.press("U04", channel, "retro vote 1"))
    answers = cluster.at_once(jobs)
    cluster.settle()
    assert votes_of(db, "U04") == 3
    assert_no_apology(cluster, answers)


def test_unvote_and_vote_twice_at_once_leave_one_vote_each_way(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Vote 1 twice at once makes one vote; unvote 1 twice at once takes it back once."""
    retro_in_vote(cluster, channel, 2)
    ok(cluster.slash("U05", channel, "/retro", "list"))
    answers = cluster.at_once([lambda: cluster.press("U05", channel, "retro vote 1")] * 2)
    assert votes_of(db, "U05") == 1
    answers += cluster.at_once([lambda: cluster.press("U05", channel, "retro unvote 1")] * 2)
    assert votes_of(db, "U05") == 0
    assert_no_apology(cluster, answers)


def test_two_admins_closing_a_retro_at_once_make_its_tasks_once(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Two admins close a retro with two actions at the same moment: two tasks, made once."""
    retro_in_vote(cluster, channel, 1)
    ok(cluster.slash("U01", channel, "/teambot", f"admin add {mention('U02')}"))
    ok(cluster.slash("U01", channel, "/retro", f"action fix the build {mention('U02')}"))
    ok(cluster.slash("U01", channel, "/retro", f"action write docs {mention('U03')}"))
    answers = cluster.at_once([
        lambda: cluster.slash("U01", channel, "/retro", "close"),
        lambda: cluster.slash("U02", channel, "/retro", "close"),
    ])  # fmt: skip
    with Session(db.engine) as session:
        titles = session.exec(
            select(Task.title)
            .join(ChannelBinding, col(ChannelBinding.project_id) == col(Task.project_id))
            .where(ChannelBinding.channel_id == channel)
        ).all()
    assert sorted(titles) == ["fix the build", "write docs"]
    assert_no_apology(cluster, answers)


def test_group_racing_votes_keeps_every_vote_on_the_group(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Notes 1 and 2 grouped while three people vote for note 2: every vote ends on the
    group (note 1), none is lost or doubled."""
    retro_in_vote(cluster, channel, 3)
    voters = ["U06", "U07", "U08"]
    for user in voters:
        ok(cluster.slash(user, channel, "/retro", "list"))
    jobs = [lambda: cluster.slash("U01", channel, "/retro", "group 1 2")]
    jobs += [(lambda u=u: cluster.press(u, channel, "retro vote 2")) for u in voters]
    answers = cluster.at_once(jobs)
    assert [votes_of(db, u) for u in voters] == [1, 1, 1]
    assert_no_apology(cluster, answers)


# -- 3. the roster -------------------------------------------------------------------------------


def roster_rows(db: Database, config_id: int) -> dict[str, tuple[bool, str]]:
    with Session(db.engine) as session:
        rows = session.exec(
            select(Member.platform_user_id, StandupRosterMember.listed, StandupRosterMember.choice)
            .join(Member, col(Member.id) == col(StandupRosterMember.member_id))
            .where(StandupRosterMember.config_id == config_id)
        ).all()
    return {user: (listed, choice) for user, listed, choice in rows}


def test_two_admins_adding_the_same_person_at_once(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Two admins add the same two people at the same moment: each is on the roster once,
    both admins are answered."""
    standup_here(cluster, channel)
    ok(cluster.slash("U01", channel, "/teambot", f"admin add {mention('U02')}"))
    for user in ("U10", "U11"):
        ok(cluster.slash(user, channel, "/standup", "members"))
    text = f"members add {mention('U10')} {mention('U11')}"
    answers = cluster.at_once([
        lambda: cluster.slash("U01", channel, "/standup", text),
        lambda: cluster.slash("U02", channel, "/standup", text),
    ])  # fmt: skip
    rows = roster_rows(db, config_of(db, channel).id or 0)
    assert rows == {"U10": (False, "added"), "U11": (False, "added")}
    assert_no_apology(cluster, answers)


def refresh_at_once(cluster: Cluster, fake: FakeSlack, *, replicas: int, also: list[Any]) -> None:
    """`replicas` roster refreshers (each a replica's, with its own Slack adapter and
    engine) and the `also` jobs, all at the same moment."""
    barrier = threading.Barrier(replicas + len(also))
    failures: list[BaseException] = []

    async def one() -> None:
        async with running(settings_for(cluster.url, fake), fake) as harness:
            keeper = RosterKeeper(
                db=harness.slack.core.router.db,
                hub=harness.slack.hub,
                clock=lambda: datetime.now(UTC),
            )
            await asyncio.to_thread(barrier.wait, 30)
            await keeper.refresh_due()

    def refresher() -> None:
        try:
            asyncio.run(one())
        except BaseException as err:  # reported below, in the test's thread
            failures.append(err)

    def job(run: Any) -> None:
        barrier.wait(30)
        run()

    threads = [threading.Thread(target=refresher) for _ in range(replicas)]
    threads += [threading.Thread(target=job, args=(run,)) for run in also]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []


def test_two_replicas_refreshing_while_an_admin_removes_someone(
    cluster: Cluster, db: Database, fake: FakeSlack, channel: str
) -> None:
    """Two replicas refresh a new standup's roster from Slack at the same moment while an
    admin removes one of its people: one list stored, the removal kept, no crash."""
    standup_here(cluster, channel)
    fake.members[channel] = ["U12", "U13", "U14"]
    ok(cluster.slash("U13", channel, "/standup", "members"))  # known, so it can be named
    answers: list[Answer] = []
    remove = f"members remove {mention('U13')}"
    refresh_at_once(
        cluster,
        fake,
        replicas=2,
        also=[lambda: answers.append(cluster.slash("U01", channel, "/standup", remove))],
    )
    config_id = config_of(db, channel).id or 0
    rows = roster_rows(db, config_id)
    assert rows == {"U12": (True, ""), "U13": (True, "removed"), "U14": (True, "")}
    with Session(db.engine) as session:
        assert len(session.exec(select(StandupRoster)).all()) >= 1
    assert [a.status for a in answers] == [200]
    assert_no_apology(cluster, answers)


def test_many_rosters_refreshed_by_two_replicas_at_once(
    cluster: Cluster, db: Database, fake: FakeSlack, channel: str
) -> None:
    """Ten standups whose rosters were never fetched, with people never seen before, and two
    replicas refreshing at the same moment: every roster stored once, neither replica fails."""
    names = [f"{channel}R{n}" for n in range(10)]
    for n, name in enumerate(names):
        standup_here(cluster, name)
        fake.members[name] = [f"U{20 + n}", f"U{21 + n}", "U30"]
    refresh_at_once(cluster, fake, replicas=2, also=[])
    for n, name in enumerate(names):
        rows = roster_rows(db, config_of(db, name).id or 0)
        listed = sorted(u for u, (on, _) in rows.items() if on)
        assert listed == sorted({f"U{20 + n}", f"U{21 + n}", "U30"}), name


# -- 4. later and skip ---------------------------------------------------------------------------


def test_later_pressed_twice_at_once_asks_again_once(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Later pressed twice at the same moment (a double click): one snooze, so one DM in
    half an hour; both presses are told when."""
    standup_here(cluster, channel)
    ok(cluster.slash("U16", channel, "/standup", "members"))
    answers = cluster.at_once([lambda: cluster.press("U16", channel, "standup later")] * 2)
    who = member_id(db, "U16")
    with Session(db.engine) as session:
        snoozes = session.exec(select(StandupSnooze).where(StandupSnooze.member_id == who)).all()
    assert len(snoozes) == 1
    cluster.settle()
    told = [t for t in cluster.said() if "ask you again" in t.lower()]
    assert len(told) >= 2, cluster.said()
    assert_no_apology(cluster, answers)


def test_skip_pressed_twice_at_once_is_one_day_away(
    cluster: Cluster, db: Database, channel: str
) -> None:
    """Skip today pressed twice at the same moment: one day of leave recorded."""
    standup_here(cluster, channel)
    ok(cluster.slash("U17", channel, "/standup", "members"))
    answers = cluster.at_once([lambda: cluster.press("U17", channel, "standup skip")] * 2)
    who = member_id(db, "U17")
    with Session(db.engine) as session:
        away = session.exec(select(StandupAway).where(StandupAway.member_id == who)).all()
    assert len(away) == 1
    assert_no_apology(cluster, answers)
