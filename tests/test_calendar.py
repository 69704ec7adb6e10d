"""Work days by country: `calendar:<code>` from the `holidays` package, China's official
schedule (holidays, bridge days, make-up working days 调休) checked against both packages,
and a year the installed data does not know said in /standup status and the digest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import chinese_calendar
import holidays
import pytest
from chinese_calendar import constants

from commands.calendar import (
    BadCalendar,
    day_kind,
    is_workday,
    parse_calendar,
    parse_days,
    unknown_years,
)
from commands.i18n import Catalog
from commands.types import Rich
from schedules.engine import Engine
from storage.db import Database
from tests.chat import Chat
from tests.clock_support import Outbox, at
from tests.conftest import Clock
from tests.fake_feishu import FakeFeishu
from tests.feishu_support import FeishuHarness, feishu_settings, message_event
from tests.feishu_support import running as feishu_running

pytestmark = pytest.mark.anyio

WEEKDAYS = parse_days("mon-fri")


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def engine(db: Database, catalog: Catalog, clock: Clock, outbox: Outbox) -> Engine:
    return Engine(db=db, catalog=catalog, send=outbox, clock=clock, name="t")


def _text(value: Any) -> str:
    return value.plain() if isinstance(value, Rich) else str(value)


def _lines(lines: Any) -> list[str]:
    return [_text(line) for line in lines]


# -- which calendar ------------------------------------------------------------------------


def test_country_codes_are_read_in_any_case_and_regions_with_a_dash() -> None:
    """`DE`, `us`, `US_CA`, `de-by`, `none`: the lower-case code stored."""
    assert parse_calendar("DE") == "de"
    assert parse_calendar("jp") == "jp"
    assert parse_calendar("US_CA") == "us-ca"
    assert parse_calendar("de-BY") == "de-by"
    assert parse_calendar("none") == "none"
    with pytest.raises(BadCalendar) as unknown:
        parse_calendar("xx")
    assert unknown.value.country is None
    with pytest.raises(BadCalendar) as region:
        parse_calendar("us-zz")
    assert region.value.country == "us"
    assert "ca" in region.value.regions


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("standup config calendar:xx", "“xx” is not a calendar: use a country code (cn, us, de, jp, gb, us-ca, …) or none."),
        ("standup config calendar:de-zz", "“de-zz” is not a region of de: use one of de-bb, de-be, de-bw, de-by, de-hb, de-he, de-hh, de-mv, de-ni, de-nw, de-rp, de-sh, de-sl, de-sn, de-st, de-th, or de alone."),
        ("standup config calendar:china", "“china” is not a calendar: use a country code (cn, us, de, jp, gb, us-ca, …) or none."),
    ],
)  # fmt: skip
def test_an_unknown_calendar_is_refused_with_examples(chat: Chat, text: str, answer: str) -> None:
    """An unknown country names a few that exist; an unknown region lists the country's."""
    reply = chat.say("mei", text)
    assert reply.title.plain() == answer
    assert reply.tone.value == "error"


def test_an_unknown_calendar_is_refused_in_chinese_too(chat: Chat) -> None:
    """The same refusal in the project's language."""
    chat.say("mei", "teambot lang zh")
    reply = chat.say("mei", "standup config calendar:xx")
    assert reply.title.plain() == (
        "“xx” 不是可用的日历：请用国家代码（cn、us、de、jp、gb、us-ca……）或 none。"
    )


# -- countries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "calendar", "work"),
    [
        (date(2026, 5, 1), "de", False),  # Tag der Arbeit, a Friday
        (date(2026, 5, 1), "none", True),
        (date(2026, 10, 3), "de", False),  # Tag der Deutschen Einheit, a Saturday anyway
        (date(2026, 1, 6), "de", True),  # Epiphany: only some states
        (date(2026, 1, 6), "de-by", False),  # ... Bavaria among them
        (date(2026, 11, 26), "us", False),  # Thanksgiving, a Thursday
        (date(2026, 11, 27), "us", True),
        (date(2026, 7, 3), "us", False),  # Independence Day observed on the Friday
        (date(2026, 3, 31), "us-ca", False),  # Cesar Chavez Day in California
        (date(2026, 3, 31), "us", True),
        (date(2026, 5, 5), "jp", False),  # Children's Day
        (date(2026, 12, 25), "gb", False),  # Christmas
        (date(2026, 11, 26), "cn", True),
    ],
)
def test_public_holidays_of_a_country_are_days_off(day: date, calendar: str, work: bool) -> None:
    """A country's (or region's) public holiday on a weekday is no work day; others are."""
    assert is_workday(day, days=WEEKDAYS, calendar=calendar) is work


@pytest.mark.parametrize(
    ("day", "calendar", "posted"),
    [
        ("2026-05-01", "de", False),
        ("2026-05-04", "de", True),
        ("2026-11-26", "us", False),
        ("2026-11-26", "none", True),
        ("2026-09-20", "cn", True),  # Sunday, a make-up working day (调休)
    ],
)
async def test_the_clock_skips_a_countrys_holidays(
    chat: Chat, engine: Engine, outbox: Outbox, clock: Clock, day: str, calendar: str, posted: bool
) -> None:
    """No prompt on Labour Day in Germany or Thanksgiving in the US; one on a Chinese
    make-up Sunday."""
    at(clock, f"{day}T07:00:00+00:00")
    reply = chat.say("mei", f"standup config time:09:30 tz:UTC calendar:{calendar}")
    assert reply.tone.value == "success"
    await engine.run_due(at(clock, f"{day}T09:30:00+00:00"))
    assert bool(outbox.posts) is posted


def test_config_shows_the_calendar_and_the_next_work_day(chat: Chat, clock: Clock) -> None:
    """After Wednesday 2026-11-25 in the US comes Friday: Thanksgiving is skipped."""
    at(clock, "2026-11-25T12:00:00-05:00")
    reply = chat.say("mei", "standup config tz:America/New_York calendar:US")
    fields = {_text(f.label): _text(f.value) for f in reply.fields}
    assert fields["Days"] == "mon-fri, public holidays of US off"
    assert fields["Next"] == "2026-11-27 (Fri)"
    chat.say("mei", "teambot lang zh")
    status = chat.say("mei", "standup status")
    values = [_text(f.value) for f in status.fields]
    assert "mon-fri，US 的公共假日休息" in values


# -- China: two packages, one schedule ------------------------------------------------------


def _holidays_cn(day: date) -> bool:
    return bool(holidays.country_holidays("CN", years=day.year).is_working_day(day))


def test_both_chinese_sources_agree_on_2024_to_2026() -> None:
    """`chinesecalendar` and `holidays` give the same work days every day of 2024-2026,
    and calendar:cn gives them too (make-up Saturdays and Sundays on, bridge days off)."""
    day = date(2024, 1, 1)
    while day <= date(2026, 12, 31):
        official = chinese_calendar.is_workday(day)
        assert _holidays_cn(day) is official, day
        assert is_workday(day, days=WEEKDAYS, calendar="cn") is official, day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2026, 1, 4), "makeup"),  # Sunday, for the New Year bridge on Friday 2 January
        (date(2026, 2, 14), "makeup"),  # Saturday before the Spring Festival
        (date(2026, 2, 28), "makeup"),  # Saturday after it
        (date(2026, 2, 23), "holiday"),  # Monday, a bridge day of the Spring Festival
        (date(2026, 5, 9), "makeup"),  # Saturday after Labour Day
        (date(2026, 9, 20), "makeup"),  # Sunday before National Day
        (date(2026, 9, 27), "holiday"),  # Sunday of the Mid-Autumn Festival: not a make-up day
        (date(2026, 10, 1), "holiday"),
        (date(2026, 10, 10), "makeup"),  # Saturday after National Day
        (date(2026, 11, 28), None),  # an ordinary Saturday
    ],
)
def test_chinas_2026_schedule(day: date, kind: str | None) -> None:
    """The State Council's 2026 schedule: make-up days 1-4, 2-14, 2-28, 5-9, 9-20, 10-10."""
    assert day_kind(day, calendar="cn") == kind


# -- a year the installed data does not know ---------------------------------------------------


def _first_unknown_chinese_year() -> int:
    """The first year neither installed package has China's official schedule for."""
    last = max(d.year for d in constants.holidays)
    while any(
        d.year == last + 1 for d in holidays.country_holidays("CN", years=last + 1).weekend_workdays
    ):
        last += 1
    return last + 1


def test_a_year_not_announced_yet_keeps_the_statutory_holidays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past both packages' data: New Year's Day and National Day still off, ordinary
    weekdays on, no make-up days, the year reported unknown and logged once."""
    year = _first_unknown_chinese_year()
    assert year >= 2027
    assert unknown_years("cn", [year - 1, year]) == [year]
    assert unknown_years("de", [year]) == []
    assert unknown_years("none", [year]) == []
    assert not is_workday(date(year, 10, 1), days=WEEKDAYS, calendar="cn")
    monday = date(year, 3, 1) + timedelta(days=-date(year, 3, 1).weekday() + 7)
    assert is_workday(monday, days=WEEKDAYS, calendar="cn")
    assert "does not know" in caplog.text


def test_status_says_when_next_years_calendar_is_not_known(chat: Chat, clock: Clock) -> None:
    """In December the status warns about the coming year; mid-year it says nothing; in
    both languages."""
    year = _first_unknown_chinese_year()
    at(clock, f"{year - 1}-06-10T08:00:00+08:00")
    chat.say("mei", "standup config tz:Asia/Shanghai calendar:cn")
    assert not any(
        "does not know" in line for line in _lines(chat.say("mei", "standup status").lines)
    )
    at(clock, f"{year - 1}-12-15T08:00:00+08:00")
    lines = _lines(chat.say("mei", "standup status").lines)
    assert lines[-1] == (
        f"⚠ The installed CN holiday calendar does not know {year} yet: only statutory holidays "
        "count as days off there; bridge days and make-up working days are unknown until the "
        "deployment upgrades the holidays and chinesecalendar packages."
    )
    chat.say("mei", "teambot lang zh")
    at(clock, f"{year}-01-05T08:00:00+08:00")
    lines = _lines(chat.say("mei", "standup status").lines)
    assert lines[-1] == (
        f"⚠ 已安装的 CN 节假日日历还没有 {year} 年的安排：届时只按法定节假日休息，"
        "调休和补班日未知，需部署方升级 holidays 和 chinesecalendar 包后才准确。"
    )


def test_the_digest_says_when_its_chart_rests_on_an_unknown_year(chat: Chat, clock: Clock) -> None:
    """The burndown's work days come from the calendar: an unknown year gets the same line."""
    year = _first_unknown_chinese_year()
    at(clock, f"{year}-01-12T08:00:00+08:00")
    chat.say("mei", "teambot tz Asia/Shanghai")
    chat.say("mei", "standup config calendar:cn")
    chat.say("mei", "task add write the plan")
    at(clock, f"{year}-01-12T10:00:00+08:00")
    digest = chat.say("mei", "digest now")
    assert digest.image is not None
    assert _lines(digest.lines)[-1].startswith(
        f"⚠ The installed CN holiday calendar does not know {year} yet"
    )
    chat.say("mei", "standup config calendar:de")
    assert not _lines(chat.say("mei", "digest now").lines)[-1].startswith("⚠")


@pytest.fixture
def feishu_fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    server.users.update({"ou_mei": "美"})
    yield server
    server.stop()


@pytest.fixture
async def feishu(
    db_url: str, feishu_fake: FakeFeishu, clock: Clock
) -> AsyncIterator[FeishuHarness]:
    settings = feishu_settings(db_url, feishu_fake)
    async with feishu_running(settings, feishu_fake, clock=clock) as harness:
        yield harness


async def test_feishu_status_card_says_the_year_is_unknown(
    feishu: FeishuHarness, clock: Clock
) -> None:
    """Through Feishu's endpoint, in Chinese: the status card carries the line."""
    year = _first_unknown_chinese_year()
    clock.now = datetime(year - 1, 12, 15, 0, 0, tzinfo=UTC)
    await feishu.callback(message_event("teambot lang zh"))
    await feishu.callback(message_event("standup config tz:Asia/Shanghai calendar:CN"))
    await feishu.callback(message_event("standup status"))
    await feishu.settle()
    card = feishu.fake.sent("/open-apis/ephemeral/v1/send")[-1]["card"]
    texts = [e["content"] for e in card["body"]["elements"] if e["tag"] == "markdown"]
    assert texts[3] == (
        f"⚠ 已安装的 CN 节假日日历还没有 {year} 年的安排：届时只按法定节假日休息，"
        "调休和补班日未知，需部署方升级 holidays 和 chinesecalendar 包后才准确。"
    )
    assert "按中国法定节假日" in texts[4]


def test_a_code_the_installed_package_no_longer_knows_stops_nothing() -> None:
    """A code saved under another release (`zz`, `us-zz`): weekdays only, year unknown."""
    assert is_workday(date(2026, 1, 1), days=WEEKDAYS, calendar="zz")
    assert day_kind(date(2026, 1, 1), calendar="us-zz") is None
    assert unknown_years("zz", [2026]) == [2026]
