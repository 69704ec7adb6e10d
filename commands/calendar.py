"""Which days are work days for a standup: weekdays chosen by the team, and
optionally a country's public holidays (days off) and its make-up working days
on weekends (China's 调休, Russia's transfers...).

`calendar:none` is weekdays only. `calendar:<code>` is an ISO 3166 country
(`de`, `us`, `jp`) or one of its regions (`us-ca`, `de-by`), from the
maintained `holidays` package. For China (`cn`) the official schedule the State
Council announces each year (public holidays, bridge days and make-up working
days) comes from `chinesecalendar` for the years it knows and from `holidays`
for a year only it knows; the two agree on 2024-2026 (tests/test_calendar.py).

A year whose official schedule the installed data does not know (China's next
year before its announcement and package upgrade; any country outside the
package's range) is not refused: the statutory holidays are still off, make-up
days are unknown, and `unknown_years` says so for `/standup status` and the
digest; a log line says it once too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from functools import cache
from typing import Literal

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHINESE_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
NONE = "none"
EXAMPLES = ("cn", "us", "de", "jp", "gb", "us-ca")
MAX_CODE = 8  # StandupConfig.calendar's column

DayKind = Literal["holiday", "makeup"]


class BadDays(ValueError):
    """A `days:` value that names no weekdays."""


class BadCalendar(ValueError):
    """A `calendar:` value that names no country; `regions` lists the country's
    regions when the country is known and only the region is not."""

    def __init__(self, value: str, *, country: str | None = None, regions: tuple[str, ...] = ()):
        super().__init__(value)
        self.value = value
        self.country = country
        self.regions = regions


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri`, `mon,wed,fri`, `sun-thu`, `周一-周五`: weekday numbers (Monday 0)."""
    names = {name: i for i, name in enumerate(WEEKDAYS)}
    names |= {name: i for i, name in enumerate(CHINESE_WEEKDAYS)}
    names |= {"weekdays": -1, "工作日": -1, "daily": -2, "每天": -2}
    out: set[int] = set()
    for part in text.lower().replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if part in ("weekdays", "工作日"):
            out |= set(range(5))
            continue
        if part in ("daily", "每天"):
            out |= set(range(7))
            continue
        first, _, last = part.partition("-")
        if first not in names or (last and last not in names):
            raise BadDays(text)
        start = names[first]
        end = names[last] if last else start
        if start < 0 or end < 0:
            raise BadDays(text)
        day = start
        out.add(day)
        while day != end:
            day = (day + 1) % 7
            out.add(day)
    if not out:
        raise BadDays(text)
    return frozenset(out)


def format_days(days: frozenset[int]) -> str:
    """The short form stored and shown: runs of days as `mon-fri`, others by comma."""
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        WEEKDAYS[r[0]] if len(r) == 1 else f"{WEEKDAYS[r[0]]}-{WEEKDAYS[r[-1]]}" for r in runs
    )


# -- which calendar --------------------------------------------------------------------


@cache
def _countries() -> dict[str, tuple[str, ...]]:
    """Two-letter country codes the installed `holidays` knows, with their region codes
    (the package also lists three-letter aliases and named regions: left out)."""
    import holidays

    return {
        code.lower(): tuple(
            sub.lower() for sub in subs if sub.isascii() and len(sub) <= MAX_CODE - 3
        )
        for code, subs in holidays.list_supported_countries().items()
        if len(code) == 2
    }


def parse_calendar(text: str) -> str:
    """`none`, `cn`, `DE`, `us-ca`, `US_CA`: the code stored (lower case), or BadCalendar."""
    code = text.strip().lower().replace("_", "-")
    if code in (NONE, "off", "无"):
        return NONE
    country, _, region = code.partition("-")
    countries = _countries()
    if country not in countries:
        raise BadCalendar(text)
    if region and region not in countries[country]:
        raise BadCalendar(text, country=country, regions=countries[country])
    return code


# -- days ------------------------------------------------------------------------------


@cache
def _official(code: str, year: int) -> tuple[frozenset[date], frozenset[date]] | None:
    """Days off and weekend working days of `code` in `year`, or None when the
    installed data does not know the year."""
    import holidays

    country, _, region = code.partition("-")
    try:
        table = holidays.country_holidays(
            country.upper(), subdiv=region.upper() or None, years=year
        )
    except NotImplementedError:  # a code stored under a release that knew it
        return None
    if not table.start_year <= year <= table.end_year:
        return None
    makeup = frozenset(d for d in table.weekend_workdays if d.year == year)
    if country == "cn":
        known = _cn_package(year)
        if known is not None:
            return known
        if not makeup:  # holidays computed by rule, not the announced schedule
            return None
    return frozenset(table), makeup


def _cn_package(year: int) -> tuple[frozenset[date], frozenset[date]] | None:
    """China's schedule for `year` from `chinesecalendar`, when it knows the year."""
    from chinese_calendar import constants

    off = frozenset(d for d in constants.holidays if d.year == year)
    makeup = frozenset(d for d in constants.workdays if d.year == year and d.weekday() >= 5)
    return (off, makeup) if off else None


@cache
def _statutory(code: str, year: int) -> frozenset[date]:
    """For a year not officially known: the holidays fixed by law or rule alone, without
    the bridge days a government announces (China's observed days are such guesses)."""
    import holidays

    country, _, region = code.partition("-")
    try:
        table = holidays.country_holidays(
            country.upper(), subdiv=region.upper() or None, years=year, observed=False
        )
    except NotImplementedError:
        return frozenset()
    return frozenset(table)


@cache
def _warn_unknown_year(code: str, year: int) -> None:
    log.warning(
        "the %s holiday calendar installed does not know %d yet: statutory holidays only, "
        "no make-up working days; upgrade holidays and chinesecalendar once it is announced",
        code,
        year,
    )


def day_kind(day: date, *, calendar: str) -> DayKind | None:
    """'holiday' for an official day off, 'makeup' for a working day on a weekend,
    None for an ordinary day."""
    if calendar == NONE:
        return None
    official = _official(calendar, day.year)
    if official is None:
        _warn_unknown_year(calendar, day.year)
        return "holiday" if day in _statutory(calendar, day.year) else None
    off, makeup = official
    if day in makeup:
        return "makeup"
    if day in off:
        return "holiday"
    return None


def is_workday(day: date, *, days: frozenset[int], calendar: str) -> bool:
    kind = day_kind(day, calendar=calendar)
    if kind == "holiday":
        return False
    if kind == "makeup":
        return True
    return day.weekday() in days


def unknown_years(calendar: str, years: Iterable[int]) -> list[int]:
    """Those of `years` whose official schedule the installed calendar does not know."""
    if calendar == NONE:
        return []
    return sorted({year for year in years if _official(calendar, year) is None})
