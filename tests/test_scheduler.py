"""The clock: standups on their local time and work days (Chinese calendar included),
exactly once across engines and restarts, late or skipped after downtime, digests,
milestone alerts and overdue nudges. A controllable clock drives `Engine.run_due`;
posts are collected where the platform adapters would send them."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlmodel import Session, select

from commands.calendar import format_days, parse_days
from commands.i18n import Catalog
from commands.types import Post
from schedules.engine import Engine
from storage.db import Database
from storage.models import RaciAssignment, ScheduleRun, StandupConfig, StandupReport, Task
from tests.chat import Chat
from tests.clock_support import Outbox, at
from tests.conftest import Clock

pytestmark = pytest.mark.anyio

CONFIG = "standup config time:09:30 tz:Asia/Shanghai days:mon-fri cutoff:10:30"


def engine_for(db: Database, catalog: Catalog, clock: Clock, outbox: Outbox, **kw: Any) -> Engine:
    return Engine(db=db, catalog=catalog, send=outbox, clock=clock, name=kw.pop("name", "t"), **kw)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def engine(db: Database, catalog: Catalog, clock: Clock, outbox: Outbox) -> Engine:
    return engine_for(db, catalog, clock, outbox)


def runs(db: Database) -> list[tuple[str, date, str, bool]]:
    with Session(db.engine) as session:
        rows = session.exec(select(ScheduleRun).order_by(ScheduleRun.id)).all()  # type: ignore[arg-type]
        return [(r.schedule_key, r.occurrence.date(), r.status, r.late) for r in rows]


# -- calendars ---------------------------------------------------------------------------


def test_days_parse_and_print() -> None:
    """days: accepts ranges, lists and Chinese names, and prints back short."""
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("周一-周五") == frozenset(range(5))
    assert parse_days("sun-tue") == frozenset({6, 0, 1})
    assert format_days(parse_days("mon,wed,fri")) == "mon,wed,fri"
    assert format_days(parse_days("mon-fri")) == "mon-fri"


# -- standups on the clock ------------------------------------------------------------------


async def test_standup_posts_once_at_its_local_time_on_a_work_day(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """09:30 Asia/Shanghai is 01:30 UTC: nothing at 09:29, the prompt at 09:30, once."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", CONFIG)
    await engine.run_due(at(clock, "2026-11-24T09:29:59+08:00"))
    assert outbox.posts == []
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    [prompt] = outbox.take()
    assert (prompt.platform, prompt.channel_id) == ("console", "general")
    assert prompt.reply.title.plain() == "Standup time, 2026-11-24 (Tue)"
    assert prompt.reply.buttons[0].command == "standup"
    assert [key for key, _ in prompt.reply.buttons[0].form] == ["y", "t", "b"]
    await engine.run_due(at(clock, "2026-11-24T09:31:00+08:00"))
    await engine.run_due(at(clock, "2026-11-24T09:45:00+08:00"))
    assert outbox.posts == []


@pytest.mark.parametrize(
    ("day", "calendar", "posted"),
    [
        ("2026-11-28", "none", False),  # Saturday
        ("2026-11-29", "cn", False),  # Sunday
        ("2026-10-01", "cn", False),  # National Day, a Thursday
        ("2026-10-01", "none", True),
        ("2026-02-14", "cn", True),  # Saturday, a make-up working day (调休)
        ("2026-02-14", "none", False),
        ("2026-11-30", "cn", True),  # an ordinary Monday
    ],
)
async def test_standup_follows_weekends_and_the_chinese_calendar(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, day: str, calendar: str, posted: bool
) -> None:
    """Not on weekends or Chinese public holidays; on a make-up working day with calendar:cn."""
    at(clock, f"{day}T07:00:00+08:00")
    chat.say("mei", f"{CONFIG} calendar:{calendar}")
    await engine.run_due(at(clock, f"{day}T09:30:00+08:00"))
    assert bool(outbox.posts) is posted


async def test_daylight_saving_moves_the_utc_time_not_the_local_time(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """09:00 in New York is 13:00 UTC before 1 November 2026 and 14:00 UTC after."""
    at(clock, "2026-10-29T12:00:00+00:00")
    chat.say("mei", "standup config time:09:00 tz:America/New_York cutoff:10:00")
    await engine.run_due(at(clock, "2026-10-30T12:59:00+00:00"))
    await engine.run_due(at(clock, "2026-10-30T13:00:00+00:00"))
    assert outbox.titles() == ["Standup time, 2026-10-30 (Fri)"]
    outbox.take()
    await engine.run_due(at(clock, "2026-11-02T13:00:00+00:00"))
    assert outbox.posts == []
    await engine.run_due(at(clock, "2026-11-02T14:00:00+00:00"))
    assert outbox.titles() == ["Standup time, 2026-11-02 (Mon)"]


async def test_changing_the_time_after_the_prompt_does_not_post_it_again(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """One prompt per standup per day, even when an admin moves the time that day."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", CONFIG)
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    chat.say("mei", "standup config time:09:50 cutoff:10:30")
    await engine.run_due(at(clock, "2026-11-24T09:50:00+08:00"))
    assert outbox.titles() == ["Standup time, 2026-11-24 (Tue)"]


async def test_reminders_go_to_the_missing_one_to_one_and_the_summary_at_the_cutoff(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, db: Database
) -> None:
    """The team (R/A of open tasks, recent answerers) minus those who answered or are away
    is reminded at 10:00; the 10:30 summary lists answers, the missing, the away, and the
    blockers with the A of the task they name and a button that makes them a task."""
    at(clock, "2026-11-23T08:00:00+08:00")
    chat.say("mei", CONFIG)
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    assert outbox.titles() == ["Standup time, 2026-11-24 (Tue)"]
    outbox.take()
    chat.say("mei", "task add Ship the installer @ana @li @zoe")
    chat.say("mei", "raci T-1 A @wang")
    chat.say("zoe", "standup away 2026-11-24 2026-11-25")
    at(clock, "2026-11-24T09:40:00+08:00")
    assert (
        chat.say("ana", "standup y: wrote docs t: review b: waiting on T-1 review").tone.value
        == "success"
    )
    chat.say("li", "standup t: tests")
    chat.say("li", "standup b: none")
    await engine.run_due(at(clock, "2026-11-24T10:00:00+08:00"))
    posts = outbox.take()
    assert [(p.channel_id, p.user_id) for p in posts] == [("", "wang")]  # prompt: before
    assert posts[0].reply.title.plain() == (
        "Reminder: your standup for 2026-11-24 (Tue) in general closes at 10:30."
    )
    chat.say("mei", "standup y: planning t: more planning b: none")
    at(clock, "2026-11-24T10:30:00+08:00")
    assert chat.say("wang", "standup t: x").title.plain() == (
        "Today's standup closed at 10:30; the summary is out. Nothing was saved."
    )
    await engine.run_due()
    [summary] = outbox.take()
    reply = summary.reply
    assert reply.title.plain() == "Standup summary, 2026-11-24 (Tue)"
    assert [line.plain() for line in reply.lines] == [
        "3 of 4 answered.",
        "Missing (1): @wang",
        "Away (1): @zoe",
        "⚠ Blockers (1):",
        "• @ana: waiting on T-1 review — A: @wang",
    ]
    assert [i.plain() for i in reply.items] == [
        "@ana — yesterday: wrote docs · today: review · ⚠ blocked: waiting on T-1 review",
        "@li — yesterday: — · today: tests",
        "@mei — yesterday: planning · today: more planning",
    ]
    [button] = reply.buttons
    made = chat.say("wang", button.command)
    assert made.title.plain() == "Created T-2: waiting on T-1 review"
    again = chat.say("mei", button.command)  # pressed again, or by someone else: one task
    assert again.title.plain() == "That blocker is a task already: T-2. Nothing was changed."
    with Session(db.engine) as session:
        task = session.exec(select(Task).where(Task.number == 2)).one()
        roles = session.exec(select(RaciAssignment).where(RaciAssignment.task_id == task.id)).all()
        assert [r.role for r in roles] == ["R"]
        report = session.exec(select(StandupReport).where(StandupReport.blockers != "none")).all()
        assert roles[0].member_id == report[0].member_id


@pytest.mark.parametrize(
    ("cutoff", "remind", "until"),
    [
        ("09:31", "09:30:30", "09:30:45"),
        ("09:36", "09:33:00", "09:34:30"),
        ("10:30", "10:00:00", "10:25:00"),
    ],
)
async def test_a_reminder_is_useful_from_its_time_while_half_its_time_is_left(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, db: Database,
    cutoff: str, remind: str, until: str,
) -> None:  # fmt: skip
    """The reminder is due half an hour before the cutoff (halfway in a shorter window) and
    useful while half of its time to the cutoff is left, five minutes at most: in a one- or
    six-minute window it is posted at its time; one back a second after `until` skips it."""
    at(clock, "2026-11-23T08:00:00+08:00")
    chat.say("mei", f"standup config time:09:30 tz:Asia/Shanghai cutoff:{cutoff}")
    chat.say("mei", "task add Ship the installer @ana")
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    outbox.take()
    await engine.run_due(at(clock, f"2026-11-24T{remind}+08:00"))
    [reminder] = outbox.take()
    assert reminder.user_id == "ana"
    assert reminder.reply.title.plain().startswith("Reminder: your standup for 2026-11-24")
    moment = datetime.fromisoformat(f"2026-11-25T{until}+08:00") + timedelta(seconds=1)
    await engine.run_due(at(clock, moment.isoformat()))
    wednesday = {key: status for key, day, status, _ in runs(db) if day == date(2026, 11, 25)}
    assert wednesday["standup:1:reminder"] == "skipped"


async def test_each_post_carries_its_idempotency_key_and_useful_until(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """A post's key (40 hex characters) differs between channels and between days; its
    `until` is the occurrence's: the prompt's is the cutoff."""
    at(clock, "2026-11-23T08:00:00+08:00")
    chat.say("mei", CONFIG, channel="team-a")
    chat.say("mei", CONFIG, channel="team-b")
    await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    await engine.run_due(at(clock, "2026-11-25T09:30:00+08:00"))
    posts = outbox.take()
    keys = {(p.channel_id, p.until): p.key for p in posts}
    assert len(posts) == 4 and len(set(keys.values())) == 4
    assert all(len(key) == 40 and int(key, 16) >= 0 for key in keys.values())
    assert sorted({p.until for p in posts}) == [
        datetime(2026, 11, 24, 2, 30, tzinfo=UTC),
        datetime(2026, 11, 25, 2, 30, tzinfo=UTC),
    ]


async def test_answers_are_editable_until_the_cutoff_part_by_part(
    chat: Chat, clock: Clock, db: Database
) -> None:
    """A second answer replaces only the parts it gives; Chinese labels work."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", CONFIG)
    first = chat.say("ana", "standup 昨天：写文档 今天：评审 阻塞：无")
    assert first.title.plain() == (
        "Saved your standup for 2026-11-24 (Tue). You can change it until 10:30."
    )
    again = chat.say("ana", "standup t: fix the build")
    assert again.title.plain().startswith("Updated your standup")
    with Session(db.engine) as session:
        [report] = session.exec(select(StandupReport)).all()
        assert (report.yesterday, report.today, report.blockers) == (
            "写文档",
            "fix the build",
            "无",
        )


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("standup config time:25:00", "“25:00” is not a time for time: use 09:30, 21:00, 9am, 9:30pm or 下午3点半."),
        ("standup config tz:Mars/Base", "“Mars/Base” is not a time zone: use a name like Asia/Shanghai, Europe/Berlin or UTC."),
        ("standup config calendar:xx", "“xx” is not a calendar: use a country code (cn, us, de, jp, gb, us-ca, …) or none."),
        ("standup config time:10:00 cutoff:09:00", "The cutoff (09:00) must be after the start (10:00) on the same day. Nothing was changed."),
        ("standup y: hello", "This channel has no standup. An admin can set one up: /standup config time:09:30 tz:Asia/Shanghai days:mon-fri cutoff:10:30"),
        ("standup away 2026-12-05 2026-12-01", "Your leave ends (2026-12-01 (Tue)) before it starts (2026-12-05 (Sat)). Nothing was saved."),
    ],
)  # fmt: skip
def test_standup_mistakes_get_a_clear_answer_and_change_nothing(
    chat: Chat, text: str, answer: str
) -> None:
    """Bad times, zones, calendars, a cutoff before the start, no standup, backwards leave."""
    reply = chat.say("mei", text)
    assert reply.title.plain() == answer
    assert reply.tone.value == "error"


def test_only_admins_configure_and_anyone_answers(chat: Chat, clock: Clock) -> None:
    """A member who is not an admin cannot change the schedule."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", "task add first")  # mei is the project's first admin
    assert chat.say("ana", CONFIG).tone.value == "error"
    assert chat.say("mei", CONFIG).tone.value == "success"
    assert chat.say("ana", "standup t: work").tone.value == "success"
    assert chat.say("ana", "standup off").tone.value == "error"


def _when(chat: Chat) -> str:
    with Session(chat.db.engine) as session:
        config = session.exec(select(StandupConfig)).one()
        return f"{config.at:%H:%M}-{config.cutoff:%H:%M}"


def test_changing_the_time_keeps_a_cutoff_chosen_earlier(chat: Chat) -> None:
    """`/standup config time:` keeps the cutoff; only a start at or past it moves it to the
    default (start + 1 h); an explicit cutoff before the start is refused."""
    chat.say("mei", "standup config time:09:30 cutoff:11:00")
    chat.say("mei", "standup config time:09:00")
    assert _when(chat) == "09:00-11:00"
    reply = chat.say("mei", "standup config time:08:30 tz:Asia/Shanghai")
    assert _when(chat) == "08:30-11:00"
    assert "08:30" in reply.fields[0].value.plain()
    chat.say("mei", "standup config time:11:30")
    assert _when(chat) == "11:30-12:30"
    refused = chat.say("mei", "standup config time:10:00 cutoff:09:00")
    assert refused.title.plain() == (
        "The cutoff (09:00) must be after the start (10:00) on the same day. Nothing was changed."
    )
    assert _when(chat) == "11:30-12:30"


# -- downtime and restarts --------------------------------------------------------------------


async def test_a_restart_after_a_missed_prompt_posts_it_late_once(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, db: Database
) -> None:
    """Down at 09:30, back at 10:05 (before the 10:30 cutoff): the prompt is posted, marked
    late, together with the 10:00 reminder round; a second restart posts nothing."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", CONFIG)
    await engine.run_due(at(clock, "2026-11-24T10:05:00+08:00"))
    assert outbox.titles() == ["Standup time, 2026-11-24 (Tue) (posted late)"]
    outbox.take()
    await engine.run_due()
    assert outbox.posts == []
    assert [(key, status, late) for key, _, status, late in runs(db)] == [
        ("standup:1:prompt", "posted", True),
        ("standup:1:reminder", "posted", True),
    ]


async def test_after_the_cutoff_a_missed_prompt_is_skipped_and_the_summary_posted_late(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Back at 11:00: the prompt and the reminder are no longer useful — skipped and logged,
    never posted; the summary is posted late. Never twice."""
    at(clock, "2026-11-24T08:00:00+08:00")
    chat.say("mei", CONFIG)
    await engine.run_due(at(clock, "2026-11-24T11:00:00+08:00"))
    assert outbox.titles() == ["Standup summary, 2026-11-24 (Tue) (posted late)"]
    assert sorted((key, status) for key, _, status, _ in runs(db)) == [
        ("standup:1:prompt", "skipped"),
        ("standup:1:reminder", "skipped"),
        ("standup:1:summary", "posted"),
    ]
    assert "skipped a missed firing: standup:1:prompt" in caplog.text
    outbox.take()
    await engine.run_due(at(clock, "2026-11-24T11:30:00+08:00"))
    assert outbox.posts == []


async def test_two_engines_on_one_database_post_every_occurrence_exactly_once(
    chat: Chat, db_url: str, catalog: Catalog, clock: Clock, outbox: Outbox
) -> None:
    """Two schedulers (each its own connection pool, as two replicas) racing over 30
    channels' standups, over several rounds, post each prompt exactly once."""
    at(clock, "2026-11-24T08:00:00+08:00")
    for n in range(30):
        chat.say("mei", CONFIG, channel=f"team-{n}")
    first, second = Database(db_url), Database(db_url)
    try:
        one = engine_for(first, catalog, clock, outbox, name="replica-1")
        two = engine_for(second, catalog, clock, outbox, name="replica-2")
        moment = at(clock, "2026-11-24T09:30:00+08:00")
        for _ in range(3):
            outcomes = await asyncio.gather(one.run_due(moment), two.run_due(moment))
            moment += timedelta(seconds=20)
        assert sum(len(o.posted) for o in outcomes) == 0  # the later rounds found it all done
    finally:
        first.dispose()
        second.dispose()
    counts = Counter(p.channel_id for p in outbox.posts)
    assert counts == Counter({f"team-{n}": 1 for n in range(30)})
    assert {p.reply.title.plain() for p in outbox.posts} == {"Standup time, 2026-11-24 (Tue)"}


async def test_one_failing_channel_does_not_stop_the_others(
    chat: Chat, db: Database, catalog: Catalog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A platform error on one channel is logged; every other channel gets its post."""
    delivered: list[str] = []

    async def flaky(post: Post) -> None:
        if post.channel_id == "team-3":
            raise RuntimeError("channel_not_found")
        await asyncio.sleep(0.01)
        delivered.append(post.channel_id)

    at(clock, "2026-11-24T08:00:00+08:00")
    for n in range(6):
        chat.say("mei", CONFIG, channel=f"team-{n}")
    engine = Engine(db=db, catalog=catalog, send=flaky, clock=clock, fan_out=2)
    outcome = await engine.run_due(at(clock, "2026-11-24T09:30:00+08:00"))
    assert sorted(delivered) == [f"team-{n}" for n in range(6) if n != 3]
    assert (outcome.sent, outcome.failed) == (5, 1)
    assert "post failed: console:team-3" in caplog.text


# -- digests, milestone alerts, nudges ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("digest weekly monday 9am", "every Monday at 09:00 (UTC), covering the last 7 days"),
        ("digest weekly 周五 下午3点半", "every Friday at 15:30 (UTC), covering the last 7 days"),
        (
            "digest daily 9:30pm tz:asia/shanghai",
            "every day at 21:30 (Asia/Shanghai), covering the last 24 hours",
        ),
    ],
)
def test_digest_times_read_like_people_write_them(chat: Chat, text: str, when: str) -> None:
    """`/digest weekly monday 9am` and its kin are schedules, read by the one clock reader."""
    reply = chat.say("mei", text)
    assert reply.tone.value == "success"
    assert reply.fields[0].value.plain() == when


async def test_weekly_digest_posts_kpis_and_a_burndown_png(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, tmp_path: Any
) -> None:
    """Monday 09:00: the KPIs of the last 7 days with a real PNG chart of the milestone."""
    at(clock, "2026-11-16T10:00:00+08:00")
    chat.say("mei", "teambot tz Asia/Shanghai")
    chat.say("mei", "milestone add Beta due:2026-12-04")
    for n in range(6):
        chat.say("mei", f"task add job {n} @ana ms:Beta")
    at(clock, "2026-11-19T10:00:00+08:00")
    chat.say("ana", "task done 1")
    chat.say("ana", "task done 2")
    assert chat.say("mei", "digest weekly mon 09:00").tone.value == "success"
    await engine.run_due(at(clock, "2026-11-23T09:00:00+08:00"))
    [post] = outbox.take()
    reply = post.reply
    assert reply.title.plain() == "Weekly KPI digest"
    assert reply.image is not None and reply.image.png.startswith(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / reply.image.filename
    path.write_bytes(reply.image.png)
    with PILImage.open(path) as picture:
        assert picture.size == (800, 400)
        colours = {c for _, c in picture.convert("RGB").getcolors(1 << 20) or []}
        assert len(colours) > 3  # lines drawn, not a blank page
    assert reply.image.alt.plain() == (
        "Burndown of milestone Beta, 2026-11-16 (Mon) – 2026-12-04 (Fri): 4 of 6 tasks open"
    )
    lines = [line.plain() for line in reply.lines]
    assert "Tasks done: 2 · no target" in lines
    assert lines[-1] == (
        "Chart: blue = open tasks at the end of each day, green = all tasks in scope, "
        "dashed grey = the ideal burn-down over work days (it steps up when tasks are added), "
        "orange = today, red = the due date."
    )


async def test_a_digest_with_nothing_new_says_so_in_one_line(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """No task created, done, blocked, no standup or retro in the period: one line."""
    at(clock, "2026-11-01T10:00:00+00:00")
    chat.say("mei", "task add old news")
    chat.say("mei", "digest daily 18:00")
    await engine.run_due(at(clock, "2026-11-10T18:00:00+00:00"))
    [post] = outbox.take()
    assert post.reply.image is None
    assert post.reply.lines == () and post.reply.items == ()
    assert post.reply.title


async def test_milestone_alerts_7_3_1_0_days_and_overdue_in_every_channel(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """Alerts at 09:00 on the days 7, 3 and 1 before, on the day and the day after, in every
    channel of the project, with progress and the open tasks' A; each exactly once."""
    at(clock, "2026-11-20T08:00:00+00:00")
    chat.say("mei", "milestone add GA due:2026-12-01")
    chat.say("mei", "task add Release notes @ana ms:GA")
    chat.say("mei", "raci T-1 A @mei")
    seen: list[tuple[str, str]] = []
    day = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    while day <= datetime(2026, 12, 4, 9, 0, tzinfo=UTC):
        await engine.run_due(day)
        await engine.run_due(day + timedelta(hours=3))
        seen += [(day.date().isoformat(), p.reply.title.plain()) for p in outbox.take()]
        day += timedelta(days=1)
    assert seen == [
        ("2026-11-24", "Milestone GA is due in 7 days (2026-12-01 (Tue))"),
        ("2026-11-28", "Milestone GA is due in 3 days (2026-12-01 (Tue))"),
        ("2026-11-30", "Milestone GA is due tomorrow (2026-12-01 (Tue))"),
        ("2026-12-01", "Milestone GA is due today"),
        ("2026-12-02", "Milestone GA is overdue: it was due 2026-12-01 (Tue)"),
    ]


async def test_alert_lists_progress_and_open_tasks_with_their_a(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """The alert shows done/total and each open task with its A (or how to set one)."""
    at(clock, "2026-11-20T08:00:00+00:00")
    chat.say("mei", "milestone add GA due:2026-11-27")
    chat.say("mei", "task add Release notes @ana ms:GA")
    chat.say("mei", "task add Installer ms:GA")
    chat.say("mei", "task add Done already ms:GA")
    chat.say("mei", "raci T-1 A @mei")
    chat.say("mei", "task done T-3")
    await engine.run_due(at(clock, "2026-11-20T09:00:00+00:00"))
    [alert] = outbox.take()
    assert [line.plain() for line in alert.reply.lines] == ["Progress: 1/3 tasks done (33%)"]
    assert [i.plain() for i in alert.reply.items] == [
        "T-1 Release notes · to do · A: @mei",
        "T-2 Installer · to do · A: none (set one: /raci T-2 A @someone)",
    ]


async def test_overdue_nudges_are_off_by_default_and_reach_r_and_a_when_on(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    """No nudges until `/digest nudges on`; then one DM per R or A of overdue tasks."""
    at(clock, "2026-11-20T08:00:00+00:00")
    chat.say("mei", "task add Late one @ana due:2026-11-21")
    chat.say("mei", "raci T-1 A @li")
    await engine.run_due(at(clock, "2026-11-23T09:00:00+00:00"))
    assert outbox.posts == []
    chat.say("mei", "digest nudges on")
    await engine.run_due(at(clock, "2026-11-24T09:00:00+00:00"))
    posts = outbox.take()
    assert sorted(p.user_id for p in posts) == ["ana", "li"]
    ana = next(p for p in posts if p.user_id == "ana")
    assert [i.plain() for i in ana.reply.items] == [
        "T-1 Late one · due 2026-11-21 (Sat) (3 day(s) overdue) · you are R (Responsible)"
    ]
