"""Which days are work days for a standup: weekdays chosen by the team, and
optionally the official Chinese calendar (public holidays off, make-up working
days 调休 on), from the maintained `chinesecalendar` package.

The package covers the years the State Council has announced; for a year it
does not know yet we fall back to the plain weekday rule and log it once.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import cache

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHINESE_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
CALENDARS = ("none", "cn")


class BadDays(ValueError):
    """A `days:` value that names no weekdays."""


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


def cn_years() -> tuple[int, int]:
    """The first and last year the installed Chinese calendar knows."""
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays]
    return min(years), max(years)


@cache
def _warn_unknown_year(year: int) -> None:
    first, last = cn_years()
    log.warning(
        "the Chinese holiday calendar covers %d-%d, not %d: using weekdays only; "
        "upgrade chinesecalendar when the new year's holidays are announced",
        first,
        last,
        year,
    )


def cn_day(day: date) -> str | None:
    """'holiday' for an official day off, 'makeup' for a make-up working day on a
    weekend, None for an ordinary day or a year the calendar does not cover."""
    import chinese_calendar

    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return None
    if on_holiday and name is not None:
        return "holiday"
    if not on_holiday and day.weekday() >= 5:
        return "makeup"
    return None


def is_workday(day: date, *, days: frozenset[int], calendar: str) -> bool:
    if calendar == "cn":
        special = cn_day(day)
        if special == "holiday":
            return False
        if special == "makeup":
            return True
    return day.weekday() in days
