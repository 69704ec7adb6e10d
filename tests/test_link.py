"""/teambot link: a Slack channel and a Feishu group as one project, two accounts as one person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from commands.router import Router
from commands.types import Mirror, Reply, Tone, Val, Visibility
from storage.db import Database
from storage.models import ChannelBinding, LinkCode, Member, Person, Project, ProjectAdmin
from tests.chat import Chat, snapshot
from tests.conftest import Clock

SLACK_CHANNEL = "C111"
FEISHU_GROUP = "oc_222"
CODE = re.compile(r"[2-9A-HJ-NP-Z]{8}")
LINKED_HOW = (
    "the project's 2 channels now share its tasks, RACI and milestones, "
    "and a change made in one is announced in all."
)


@dataclass
class Side:
    """One channel on one platform: who says what there."""

    chat: Chat
    channel: str

    def say(self, user: str, text: str, **extra: object) -> Reply:
        return self.chat.say(user, text, channel=self.channel, **extra)


@pytest.fixture
def slack(router: Router) -> Side:
    return Side(Chat(router, platform="slack", workspace="T1"), SLACK_CHANNEL)


@pytest.fixture
def feishu(router: Router) -> Side:
    return Side(Chat(router, platform="feishu", workspace="tenant1"), FEISHU_GROUP)


def code_of(reply: Reply) -> str:
    """The code a `/teambot link` reply shows: the last value of its title."""
    last = reply.title.spans[-1]
    assert isinstance(last, Val)
    assert CODE.fullmatch(last.text)
    return last.text


def issue(side: Side, user: str = "mei") -> str:
    return code_of(side.say(user, "teambot link"))


@pytest.fixture
def linked(slack: Side, feishu: Side) -> tuple[Side, Side]:
    """Mei's Slack channel (with milestone Beta) and Li's Feishu group share one project."""
    slack.say("mei", "milestone add Beta due:2026-12-20")
    reply = feishu.say("li", f"teambot link {issue(slack)}")
    assert reply.tone is Tone.SUCCESS, reply.text()
    return slack, feishu


def _error(reply: Reply) -> str:
    assert (reply.tone, reply.visibility, reply.mirrors) == (Tone.ERROR, Visibility.EPHEMERAL, ())
    assert reply.lines == ()  # what went wrong is the code or the channel, not the writing
    return reply.title.plain()


# -- issuing ---------------------------------------------------------------------------------


def test_issuing_a_channel_code_needs_an_admin(slack: Side, db: Database, clock: Clock) -> None:
    """Only an admin gets a channel code: 8 unambiguous characters, one row, 15 minutes."""
    slack.say("mei", "task add seed")
    before = snapshot(db)
    denied = slack.say("ana", "teambot link")
    assert denied.title.plain() == "Only project admins can do that: @mei. Nothing was changed."
    assert snapshot(db) == before

    reply = slack.say("mei", "teambot link")
    code = code_of(reply)
    assert (reply.visibility, reply.tone, reply.mirrors) == (Visibility.EPHEMERAL, Tone.INFO, ())
    assert reply.title.plain() == f"Link code for project “C111”: {code}"
    assert [line.plain() for line in reply.lines] == [
        f"In the Slack channel or Feishu group to link, type: /teambot link {code}",
        "It works once, for 15 minutes. That channel then shares this project's tasks, RACI "
        "and milestones, and whoever uses the code becomes an admin of the project.",
    ]
    with Session(db.engine) as session:
        row = session.exec(select(LinkCode)).one()
        mei = session.exec(select(Member).where(Member.platform_user_id == "mei")).one()
    assert (row.code, row.kind, row.project_id, row.member_id) == (
        code,
        "channel",
        slack.chat.project(channel=SLACK_CHANNEL).id,
        mei.id,
    )
    assert (row.created_at, row.expires_at, row.used_at) == (
        clock.now,
        clock.now + timedelta(minutes=15),
        None,
    )


# -- linking channels -------------------------------------------------------------------------


def test_redeeming_binds_the_group_to_the_channels_project(
    slack: Side, feishu: Side, db: Database
) -> None:
    """The Feishu group joins the Slack channel's project; its fresh project is removed."""
    slack.say("mei", "task add seed")
    code = issue(slack)
    reply = feishu.say("li", f"/teambot link {code.lower()}")
    assert (reply.visibility, reply.tone) == (Visibility.CHANNEL, Tone.SUCCESS)
    assert reply.title.plain() == "This channel is now linked with project “C111”."
    assert [line.plain() for line in reply.lines] == [f"@li linked Feishu #oc_222: {LINKED_HOW}"]
    assert reply.mirrors == (Mirror(platform="slack", workspace_id="T1", channel_id="C111"),)
    project = slack.chat.project(channel=SLACK_CHANNEL)
    assert feishu.chat.project(channel=FEISHU_GROUP).id == project.id
    with Session(db.engine) as session:
        assert [p.name for p in session.exec(select(Project)).all()] == ["C111"]
        assert len(session.exec(select(ChannelBinding)).all()) == 2
        assert {a.project_id for a in session.exec(select(ProjectAdmin)).all()} == {project.id}
        assert session.exec(select(LinkCode)).one().used_at is not None


def test_the_redeemer_becomes_an_admin(linked: tuple[Side, Side]) -> None:
    """Whoever uses the code administers the shared project, next to its first admin."""
    slack, feishu = linked
    assert feishu.say("li", "teambot admin").title.plain() == "Admins of this project: @mei, @li"
    assert feishu.say("li", "teambot tz Asia/Shanghai").tone is Tone.SUCCESS
    assert slack.chat.project(channel=SLACK_CHANNEL).timezone == "Asia/Shanghai"


def test_linked_channels_share_tasks_raci_and_milestones(linked: tuple[Side, Side]) -> None:
    """Tasks added on either side count up one set of keys; moves and roles show on both."""
    slack, feishu = linked
    assert slack.say("mei", "task add Write SRS @ana ms:Beta").title.plain() == (
        "Created T-1: Write SRS"
    )
    assert feishu.say("li", "task add 评审 SRS @wang ms:beta").title.plain() == (
        "Created T-2: 评审 SRS"
    )
    assert feishu.say("li", "task done T-1").title.plain() == "@li finished T-1: Write SRS ✓"
    assert feishu.say("li", "raci 2 A @li I @zhou").tone is Tone.SUCCESS
    assert [i.plain() for i in slack.say("ana", "task list all").items] == [
        "T-2 评审 SRS · to do · @wang",
        "T-1 Write SRS · done · @ana",
    ]
    assert slack.chat.task(1, channel=SLACK_CHANNEL).status == "done"
    assert slack.chat.roles(2, channel=SLACK_CHANNEL) == {
        "R": ["wang"],
        "A": ["li"],
        "C": [],
        "I": ["zhou"],
    }
    assert [i.plain() for i in slack.say("ana", "milestone list").items] == [
        "Beta · due 2026-12-20 (Sun) · 1/2 done (50%)"
    ]
    assert feishu.say("li", "milestone done Beta").tone is Tone.SUCCESS
    assert slack.say("ana", "milestone list").items[0].plain().endswith("· finished ✓")


def test_mirrors_name_the_other_channels_and_skip_errors_and_lists(
    linked: tuple[Side, Side], router: Router
) -> None:
    """Channel replies name every other channel of the project; errors and lists name none."""
    slack, feishu = linked
    to_feishu = (Mirror(platform="feishu", workspace_id="tenant1", channel_id="oc_222"),)
    to_slack = (Mirror(platform="slack", workspace_id="T1", channel_id="C111"),)
    assert slack.say("mei", "task add Write SRS").mirrors == to_feishu
    assert feishu.say("li", "task start 1").mirrors == to_slack
    assert feishu.say("li", "task list").mirrors == ()
    assert slack.say("mei", "task done 99").mirrors == ()
    assert slack.say("ana", "task delete 1").mirrors == ()  # refused: not an admin
    assert feishu.say("li", "teambot link").mirrors == ()  # the code is ephemeral

    third = Side(Chat(router, platform="slack", workspace="T9"), "C333")
    third.say("zoe", f"teambot link {issue(slack)}")
    assert feishu.say("li", "task comment 1 looks good").mirrors == (
        Mirror(platform="slack", workspace_id="T1", channel_id="C111"),
        Mirror(platform="slack", workspace_id="T9", channel_id="C333"),
    )
    assert slack.chat.say("mei", "task add alone", channel="C444").mirrors == ()


def test_a_code_works_for_fifteen_minutes(slack: Side, feishu: Side, clock: Clock) -> None:
    """Fourteen minutes after it was issued a code still links."""
    code = issue(slack)
    clock.advance(minutes=14, seconds=59)
    assert feishu.say("li", f"teambot link {code}").tone is Tone.SUCCESS


def test_expired_code_is_refused(slack: Side, feishu: Side, db: Database, clock: Clock) -> None:
    """Sixteen minutes later the code is refused and nothing changes."""
    code = issue(slack)
    clock.advance(minutes=16)
    before = snapshot(db)
    assert _error(feishu.say("li", f"teambot link {code}")) == (
        f"Link code {code} has expired; codes work for 15 minutes. Ask for a new one. "
        "Nothing was changed."
    )
    assert snapshot(db) == before


def test_used_code_is_refused(linked: tuple[Side, Side], db: Database) -> None:
    """A code links one channel: a second channel using it is refused."""
    _, feishu = linked
    with Session(db.engine) as session:
        code = session.exec(select(LinkCode)).one().code
    before = snapshot(db)
    other = Side(feishu.chat, "oc_333")
    assert _error(other.say("wang", f"teambot link {code}")) == (
        f"Link code {code} has been used already; each code works once. Ask for a new one. "
        "Nothing was changed."
    )
    assert snapshot(db) == before


def test_unknown_code_is_refused(slack: Side, feishu: Side, db: Database) -> None:
    """A code nobody issued is refused, whatever it looks like."""
    issue(slack)
    before = snapshot(db)
    for typed in ("ZZZZZZZZ", "hello", "0O1I0O1I"):
        assert _error(feishu.say("li", f"teambot link {typed}")) == (
            f"“{typed}” is not a link code I know. Check it, or ask for a new one: "
            "/teambot link in the channel to join, /teambot link me for a person. "
            "Nothing was changed."
        )
    assert snapshot(db) == before


def test_wrong_kind_of_code_is_refused(slack: Side, feishu: Side, db: Database) -> None:
    """A personal code does not link a channel, and a channel code does not link a person."""
    channel_code = issue(slack)
    person_code = code_of(slack.say("ana", "teambot link me"))
    before = snapshot(db)
    assert _error(feishu.say("li", f"teambot link {person_code}")) == (
        f"{person_code} links a person, not a channel: type /teambot link me {person_code}. "
        "Nothing was changed."
    )
    assert _error(feishu.say("li", f"teambot link me {channel_code}")) == (
        f"{channel_code} links a channel, not a person: type /teambot link {channel_code}. "
        "Nothing was changed."
    )
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("setup", "counts"),
    [
        ("task add Draft plan", "1 task(s) and 0 milestone(s)"),
        ("milestone add Alpha due:+7d", "0 task(s) and 1 milestone(s)"),
    ],
)
def test_a_channel_whose_project_has_work_is_not_linked(
    slack: Side, feishu: Side, db: Database, setup: str, counts: str
) -> None:
    """Linking would orphan the group's own tasks or milestones: refused, nothing changes."""
    feishu.say("li", setup)
    code = issue(slack)
    before = snapshot(db)
    assert _error(feishu.say("li", f"teambot link {code}")) == (
        f"This channel's project “oc_222” has {counts} of its own, which linking would leave "
        "behind. Nothing was changed: link the other way round, with /teambot link here and "
        "the code in the other channel."
    )
    assert snapshot(db) == before


def test_linking_a_used_channel_needs_its_admins_consent(
    slack: Side, feishu: Side, db: Database
) -> None:
    """A member redeeming her own project's code in the team's group (used by others, no
    tasks yet) is refused with the group's admins named: the group keeps its project, its
    admins keep it, and the code stays unused."""
    feishu.say("li", "teambot help")  # li's group: she is its first user, so its admin
    feishu.say("wang", "teambot admin")  # a member
    rogue = Side(slack.chat, "C999")
    code = issue(rogue, "zoe")  # zoe's own channel and project
    before = snapshot(db)
    assert _error(feishu.say("wang", f"teambot link {code}")) == (
        "This channel belongs to project “oc_222” already, and only its admins can link it "
        "elsewhere: ask @li. Nothing was changed."
    )
    assert snapshot(db) == before
    assert feishu.say("li", f"teambot link {code}").tone is Tone.SUCCESS  # its admin may


def test_a_channel_nobody_used_is_free_to_link(slack: Side, feishu: Side, db: Database) -> None:
    """The code's first use in a new group binds it (its first command makes the redeemer
    its admin), and the group's empty project is gone."""
    reply = feishu.say("wang", f"teambot link {issue(slack)}")
    assert reply.tone is Tone.SUCCESS, reply.text()
    with Session(db.engine) as session:
        assert [p.name for p in session.exec(select(Project)).all()] == ["C111"]


@pytest.mark.parametrize(
    "setup",
    ["retro start Kickoff", "kpi target bugfix>=90%", "standup away 2026-12-24"],
)
def test_a_project_with_other_records_is_refused_not_broken(
    slack: Side, feishu: Side, db: Database, setup: str
) -> None:
    """A group whose project holds no task but a retro, a KPI target or someone's leave is
    refused by name (the link never deletes data, and a foreign key never answers)."""
    assert feishu.say("li", setup).tone is not Tone.ERROR
    code = issue(slack)
    before = snapshot(db)
    assert _error(feishu.say("li", f"teambot link {code}")) == (
        "This channel's project “oc_222” has 0 task(s), 0 milestone(s) and 1 other record(s) "
        "(retros, KPI targets, leave) of its own, which linking would leave behind. Nothing "
        "was changed: link the other way round, with /teambot link here and the code in the "
        "other channel."
    )
    assert snapshot(db) == before


def test_a_channel_already_in_the_project_is_not_linked_again(
    linked: tuple[Side, Side], db: Database
) -> None:
    """Using a code in its own channel, or in one linked already, is refused."""
    slack, feishu = linked
    for side in (slack, feishu):
        code = issue(slack)
        before = snapshot(db)
        assert _error(side.say("li", f"teambot link {code}")) == (
            "This channel already belongs to project “C111”: use the code in the channel that "
            "should join it. Nothing was changed."
        )
        assert snapshot(db) == before


def test_leaving_a_project_another_channel_uses_keeps_it(
    slack: Side, feishu: Side, db: Database
) -> None:
    """Moving a channel out of an empty project that another channel still uses keeps it."""
    group_code = issue(feishu, "li")
    Side(feishu.chat, "oc_333").say("wang", f"teambot link {group_code}")
    feishu.say("li", f"teambot link {issue(slack)}")
    with Session(db.engine) as session:
        bindings = {b.channel_id: b.project_id for b in session.exec(select(ChannelBinding))}
        names = {p.id: p.name for p in session.exec(select(Project))}
    assert {channel: names[project] for channel, project in bindings.items()} == {
        "C111": "C111",
        "oc_222": "C111",
        "oc_333": "oc_222",
    }


def test_link_reply_speaks_the_members_language(slack: Side, feishu: Side) -> None:
    """A Feishu member who reads Chinese gets the confirmation in Chinese."""
    reply = feishu.say("li", f"teambot link {issue(slack)}", user_locale="zh-CN")
    assert reply.title.plain() == "本频道已关联到项目“C111”。"
    assert [line.plain() for line in reply.lines] == [
        "@li 关联了 飞书 #oc_222：项目的 2 个频道现在共享任务、RACI 和里程碑，"
        "在任一频道里的改动都会通知到所有频道。"
    ]


# -- linking people ---------------------------------------------------------------------------


def test_personal_code_is_for_any_member(slack: Side, db: Database, clock: Clock) -> None:
    """`link me` gives anyone a personal code, tied to them and to no project."""
    slack.say("mei", "task add seed")
    reply = slack.say("ana", "teambot link me")
    code = code_of(reply)
    assert reply.visibility is Visibility.EPHEMERAL
    assert reply.title.plain() == f"Your personal link code: {code}"
    assert [line.plain() for line in reply.lines] == [
        f"With your account on the other platform, type: /teambot link me {code}",
        "It works once, for 15 minutes. Both accounts then count as one person: "
        "/task list mine shows the tasks of either. Keep the code to yourself.",
    ]
    with Session(db.engine) as session:
        row = session.exec(select(LinkCode)).one()
        ana = session.exec(select(Member).where(Member.platform_user_id == "ana")).one()
    assert (row.kind, row.project_id, row.member_id, row.expires_at) == (
        "person",
        None,
        ana.id,
        clock.now + timedelta(minutes=15),
    )


def test_linked_person_sees_their_tasks_from_both_sides(
    linked: tuple[Side, Side], db: Database
) -> None:
    """After `link me`, `task list mine` on either side lists what both accounts are R or A on."""
    slack, feishu = linked
    slack.say("mei", "task add Slack side @ana")
    feishu.say("li", "task add Feishu side @anna")
    feishu.say("li", "task add Review plan @wang")
    feishu.say("li", "raci 3 A @anna")
    mine = feishu.say("anna", "task list mine")
    assert [i.plain() for i in mine.items] == [
        "T-2 Feishu side · to do · @anna",
        "T-3 Review plan · to do · @wang",
    ]

    code = code_of(slack.say("ana", "teambot link me"))
    reply = feishu.say("anna", f"teambot link me {code}")
    assert (reply.visibility, reply.tone, reply.mirrors) == (
        Visibility.EPHEMERAL,
        Tone.SUCCESS,
        (),
    )
    assert reply.title.plain() == "You and @ana (Slack) are now linked as one person."
    assert [line.plain() for line in reply.lines] == [
        "/task list mine now shows the tasks of both accounts."
    ]
    assert [
        (n.platform, n.platform_user_id, n.reply.title.plain()) for n in reply.notifications
    ] == [("slack", "ana", "You and @anna (Feishu) are now linked as one person.")]
    expected = [
        "T-1 Slack side · to do · @ana",
        "T-2 Feishu side · to do · @anna",
        "T-3 Review plan · to do · @wang",
    ]
    assert [i.plain() for i in feishu.say("anna", "task list mine").items] == expected
    assert [i.plain() for i in slack.say("ana", "task list mine").items] == expected
    assert [i.plain() for i in slack.say("mei", "task list mine").items] == []
    with Session(db.engine) as session:
        people = session.exec(select(Member.display_name, Member.person_id)).all()
        persons = session.exec(select(Person.id)).all()
    assert len(persons) == 1
    assert sorted(name for name, person in people if person == persons[0]) == ["ana", "anna"]


def test_linking_oneself_or_within_a_workspace_is_refused(slack: Side, db: Database) -> None:
    """A personal code is not used by its own member, nor by someone in the same workspace."""
    code = code_of(slack.say("ana", "teambot link me"))
    before = snapshot(db)
    assert _error(slack.say("ana", f"teambot link me {code}")) == (
        "That is your own code: use it with your account on the other platform. "
        "Nothing was changed."
    )
    assert _error(slack.say("bob", f"teambot link me {code}")) == (
        "@ana is in this same workspace: a personal code links accounts on different platforms "
        "or workspaces. Nothing was changed."
    )
    assert snapshot(db) == before


def test_linking_two_persons_merges_them(router: Router, feishu: Side, db: Database) -> None:
    """Two accounts that each have a linked person become one person, with all four members."""
    slack_a = Side(Chat(router, platform="slack", workspace="T1"), "C1")
    slack_b = Side(Chat(router, platform="slack", workspace="T2"), "C2")
    feishu_b = Side(Chat(router, platform="feishu", workspace="tenant2"), "oc_2")
    feishu.say("anna", f"teambot link me {code_of(slack_a.say('ana', 'teambot link me'))}")
    feishu_b.say("annie", f"teambot link me {code_of(slack_b.say('ann', 'teambot link me'))}")
    reply = slack_b.say("ann", f"teambot link me {code_of(feishu.say('anna', 'teambot link me'))}")
    assert reply.title.plain() == "You and @anna (Feishu) are now linked as one person."
    with Session(db.engine) as session:
        members = session.exec(select(Member)).all()
        persons = session.exec(select(Person.id)).all()
    assert len(persons) == 1
    assert sorted(m.display_name for m in members if m.person_id == persons[0]) == [
        "ana",
        "ann",
        "anna",
        "annie",
    ]
    code = code_of(slack_a.say("ana", "teambot link me"))
    before = snapshot(db)
    assert _error(feishu_b.say("annie", f"teambot link me {code}")) == (
        "You and @ana are already linked as one person. Nothing was changed."
    )
    assert snapshot(db) == before
