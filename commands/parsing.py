"""The small grammar shared by all commands: words, options, keys, dates."""

from __future__ import annotations

import calendar
import difflib
import re
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from commands.errors import CommandError
from commands.i18n import strip_markers

MAX_PEOPLE = 50  # people one command may name, and DM
# Control characters, and the bidirectional overrides and isolates (U+202A-U+202E,
# U+2066-U+2069) that would make a title or a name read differently from what it is.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# Typographic quote pairs: kept in the text (a title keeps “Save”), but a pair groups the
# words between its marks into one word, which is never an option.
_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", "«": "»", "‹": "›"}
_SPACE = re.compile(r"\s")


def clean_name(name: str) -> str:
    """A person's name as a platform gave it, without control, bidi or marker characters."""
    return " ".join(CONTROL.sub(" ", strip_markers(name)).split())


class Quoted(str):
    """A word the person quoted: literal text, never an option."""

    __slots__ = ()


def tokenize(text: str) -> list[str]:
    """Split on white space (full-width too); quotes group words.

    ASCII double quotes are the command language's quoting: at the start of a
    word they group words into one literal word (a `Quoted`, never an option:
    `"Re:Invoice"`) and are dropped; right after an option's colon they group its
    value (`ms:"Beta 2"`); elsewhere they are characters (`id="all"` stays as
    typed). An unclosed ASCII quote runs to the end of the text. Typographic
    quotes (“ ” ‘ ’ 「 」 『 』 « » ‹ ›) are characters of the text, kept: a pair
    that opens a word groups it, marks included, into one literal word; after an
    option's colon a pair delimits the value. An unpaired one is a character.
    Single ASCII quotes are apostrophes.
    """
    tokens: list[str] = []
    current: list[str] = []
    in_token = quoted = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        after_colon = bool(current) and current[-1][-1:] in (":", "：")
        if ch == '"' and (not current or after_colon):
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            quoted = quoted or not current
            current.append(text[i + 1 : end])
            in_token = True
            i = end + 1
            continue
        if ch in _PAIRS and (not current or after_colon):
            end = text.find(_PAIRS[ch], i + 1)
            if end > 0:
                quoted = quoted or not current
                current.append(text[i + 1 : end] if after_colon else text[i : end + 1])
                in_token = True
                i = end + 1
                continue
        if _SPACE.match(ch):
            if in_token:
                word = "".join(current)
                tokens.append(Quoted(word) if quoted else word)
                current, in_token, quoted = [], False, False
        else:
            current.append(ch)
            in_token = True
        i += 1
    if in_token:
        word = "".join(current)
        tokens.append(Quoted(word) if quoted else word)
    return tokens


OPTION_ALIASES = {
    "due": "due",
    "deadline": "due",
    "截止": "due",
    "到期": "due",
    "prio": "prio",
    "priority": "prio",
    "优先级": "prio",
    "ms": "ms",
    "milestone": "ms",
    "里程碑": "ms",
    "kind": "kind",
    "类型": "kind",
    "period": "period",
    "周期": "period",
    "title": "title",
    "标题": "title",
}
TASK_OPTIONS = ("due", "prio", "ms", "kind")
_OPTION = re.compile(r"^([A-Za-z]+|[\u4e00-\u9fff]+)[:：](.*)$", re.S)
_LATIN = re.compile(r"^[A-Za-z]+$")
_SCHEMES = {"mailto", "tel", "urn", "data"}  # `mailto:a@b.c` is a link, not an option


def options_named(*names: str) -> dict[str, str]:
    """The aliases of some canonical options (`options_named("ms")`), for `split_options`."""
    return {alias: name for alias, name in OPTION_ALIASES.items() if name in names}


def split_options(
    tokens: list[str], aliases: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Pull `name:value` options out of the tokens; the rest keep their order.

    `aliases` maps the names a command accepts to canonical ones (default: every
    option of OPTION_ALIASES). `name: value` (a space after the colon) is one
    option. A word shaped like an option whose name the command does not take is
    refused, naming the closest option it takes, so a typo (`dur:fri`) never ends
    up in a title. Words that are clearly not options stay words: quoted words,
    links (`https://…`, `mailto:…`), times (`10:30`), a word that only ends in a
    colon (`Note:`) unless its name is close to an option, and Chinese words before a
    colon (`注意：…`) unless close to a Chinese option name.
    """
    names = OPTION_ALIASES if aliases is None else aliases
    options: dict[str, str] = {}
    rest: list[str] = []
    pending = list(reversed(tokens))
    while pending:
        token = pending.pop()
        match = None if isinstance(token, Quoted) else _OPTION.match(token)
        if match is None or match.group(2).startswith("/"):
            rest.append(token)
            continue
        typed, value = match.group(1), match.group(2).strip()
        name = names.get(typed.lower())
        if name is None:
            refuse_unknown(typed, value, names)
            rest.append(token)
            continue
        if not value and pending and not _takes_no_value(pending[-1]):
            value = pending.pop().strip()  # `due: fri`
        if not value:
            raise CommandError("empty_option", option=name)
        if name in options:
            raise CommandError("repeated_option", option=name)
        options[name] = value
    return options, rest


def with_answer(command: str, answer: str) -> str:
    """A button's command with the text its form asked for (a block's reason, a new
    title) as one quoted word, so nothing in it is read as the command's own syntax: a
    reason that starts with a key (`T-5 must land first`) blocks no other task, a title
    holding `prio:high` sets no priority. ASCII double quotes in the answer become
    typographic ones (kept as text); an empty answer adds nothing."""
    answer = answer.strip()
    if not answer:
        return command
    return f'{command} "{answer.replace(chr(34), "”")}"'


def with_answers(command: str, answers: list[tuple[str, str]]) -> str:
    """A button's command with the texts of its form's fields, each as `key: "text"` (the
    text one quoted word, as in `with_answer`); empty fields add nothing."""
    out = command
    for key, answer in answers:
        answer = answer.strip()
        if answer:
            out += f' {key}: "{answer.replace(chr(34), "”")}"'
    return out


def _takes_no_value(word: str) -> bool:
    """A word that cannot be the value of a `name: ` before it: an option, a mention."""
    return word.startswith("@") or (not isinstance(word, Quoted) and bool(_OPTION.match(word)))


def refuse_unknown(typed: str, value: str, names: dict[str, str]) -> None:
    """Raise for a word that looks like an option the command does not take; return if it
    is ordinary text (see `split_options`)."""
    latin = bool(_LATIN.match(typed))
    if typed.lower() in _SCHEMES:
        return
    same_script = [alias for alias in names if bool(_LATIN.match(alias)) == latin]
    close = difflib.get_close_matches(typed.lower(), same_script, n=1, cutoff=0.6 if latin else 0.5)
    if not close and (not latin or not value):
        return
    known = sorted({name for name in names.values()}, key=list(names.values()).index)
    raise CommandError(
        "unknown_option",
        option=typed,
        suggestion=close[0] if close else None,
        known=", ".join(f"{k}:" for k in known),
        word=f"{typed}:{value}",
    )


_KEY = re.compile(r"^#?(?:([A-Za-z]{1,8})-)?(\d{1,9})$")
LOOKS_LIKE_KEY = _KEY


def parse_key(token: str, *, prefix: str) -> int:
    """`T-12`, `t-12`, `#12` and `12` all name task 12."""
    match = _KEY.match(token.strip())
    if match is None or (match.group(1) and match.group(1).upper() != prefix.upper()):
        raise CommandError("bad_key", value=token, prefix=prefix)
    return int(match.group(2))


_WEEKDAYS_EN = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_ZH_WEEKDAY = re.compile(r"^(下下|下)?(?:周|星期|礼拜)([一二三四五六日天七])$")
_RELATIVE = re.compile(r"^\+(\d{1,4})([dw])$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")  # the tail of an ISO date: month-day
_NUMERIC = re.compile(r"^(\d{1,2})([/.])(\d{1,2})\.?$")  # 5/12, 05/12, 5.12, 5.12.
_ZH_DATE = re.compile(r"^(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]$")
_NAMED = {
    "today": 0,
    "今天": 0,
    "今日": 0,
    "tomorrow": 1,
    "tmr": 1,
    "明天": 1,
    "明日": 1,
    "后天": 2,
}


def _next_weekday(today: date, weekday: int) -> date:
    """The next such weekday after today (a week ahead if today is one)."""
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _make(year: int | None, month: int, day: int, raw: str) -> date:
    """The date, or an error that says what is wrong with it (February 2026 has 28 days)."""
    if not 1 <= month <= 12 or day < 1:
        raise CommandError("bad_date", value=raw)
    longest = calendar.monthrange(year or 2028, month)[1]  # without a year: 29 February
    if day > longest:
        raise CommandError("bad_day", value=raw, month=month, year=year, days=longest)
    return date(year or 2028, month, day)


def _next_such_day(month: int, day: int, raw: str, today: date) -> date:
    """A month and day without a year: the next such date, today or later (02-29 waits
    for the next leap year)."""
    _make(None, month, day, raw)
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise CommandError("bad_date", value=raw)  # pragma: no cover - every date recurs


DAY_MONTH, MONTH_DAY = "dm", "md"


def read_date(raw: str, *, today: date, order: str = MONTH_DAY) -> tuple[date, bool]:
    """A date in the forms of README "Dates", relative to `today` (the project's time zone),
    and whether the text could have meant another date.

    `5/12`, `05/12` and `5.12` are read in `order` (DAY_MONTH: 5 December; MONTH_DAY: 12
    May); when only the other order makes a date (`24/12`), that one; either way without a
    year it is the next such day. Such a form is ambiguous when both orders make a date.
    `12-01` is the tail of an ISO date, month-day, in every locale."""
    text = raw.strip().lower()
    if match := _NUMERIC.match(text):
        first, second = int(match.group(1)), int(match.group(3))
        readings = [(second, first), (first, second)]  # (month, day) per order
        if order == MONTH_DAY:
            readings.reverse()
        valid = [r for r in readings if 1 <= r[0] <= 12 and 1 <= r[1] <= 31]
        if not valid:
            raise CommandError("bad_date", value=raw)
        month, day = valid[0]
        return _next_such_day(month, day, raw, today), len(valid) == 2 and first != second
    return parse_date(raw, today=today), False


def parse_date(raw: str, *, today: date) -> date:
    """A date in an unambiguous form (see `read_date`), relative to `today`."""
    text = raw.strip().lower()
    if text in _NAMED:
        return today + timedelta(days=_NAMED[text])
    if text in _WEEKDAYS_EN:
        return _next_weekday(today, _WEEKDAYS_EN[text])
    if match := _ZH_WEEKDAY.match(text):
        weekday = _WEEKDAYS_ZH[match.group(2)]
        if not match.group(1):
            return _next_weekday(today, weekday)
        weeks = len(match.group(1))  # 下 = next week, 下下 = the week after
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
        return monday + timedelta(days=weekday)
    if match := _RELATIVE.match(text):
        count = int(match.group(1))
        return today + (timedelta(days=count) if match.group(2) == "d" else timedelta(weeks=count))
    if match := _ISO.match(text):
        return _make(int(match.group(1)), int(match.group(2)), int(match.group(3)), raw)
    if (match := _MONTH_DAY.match(text)) or (match := _ZH_DATE.match(text)):
        groups = match.groups()
        explicit_year = groups[0] if len(groups) == 3 else None
        month, day = int(groups[-2]), int(groups[-1])
        if explicit_year:
            return _make(int(explicit_year), month, day, raw)
        return _next_such_day(month, day, raw, today)
    if _NUMERIC.match(text):
        return read_date(raw, today=today, order=MONTH_DAY)[0]
    raise CommandError("bad_date", value=raw)


# -- clock times and time zones ---------------------------------------------------------

_CLOCK = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(am|pm|a\.m\.|p\.m\.)?$")
_ZH_CLOCK = re.compile(
    r"^(凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?(\d{1,2})[点時时](半|一刻|三刻|(\d{1,2})分?)?$"
)
_ZH_AFTERNOON = {"下午", "傍晚", "晚上"}


def parse_clock(raw: str, *, option: str) -> time:
    """A time of day: `21:00`, `09:30`, `9.30`, `9am`, `9:30pm`, `12am` (midnight), `9点`,
    `9点15`, `上午9点`, `下午3点半`, `晚上8点一刻`. Without am/pm or 上午/下午, 24-hour."""
    text = raw.strip().lower().replace(" ", "")
    hour: int | None = None
    minute = 0
    if match := _CLOCK.match(text):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        half = (match.group(3) or "")[:1]
        if half and not 1 <= hour <= 12:
            hour = None
        elif half:
            hour = hour % 12 + (12 if half == "p" else 0)
        elif match.group(2) is None:
            hour = None  # a bare number is not a time
    elif match := _ZH_CLOCK.match(text):
        hour = int(match.group(2))
        tail = match.group(3) or ""
        minute = {"半": 30, "一刻": 15, "三刻": 45}.get(tail, int(match.group(4) or 0))
        if match.group(1) in _ZH_AFTERNOON and 1 <= hour < 12:
            hour += 12
        elif match.group(1) == "中午" and hour < 3:
            hour += 12 if hour else 0
    if hour is None or hour > 23 or minute > 59:
        raise CommandError("bad_time", option=option, value=raw)
    return time(hour, minute)


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def parse_zone(raw: str) -> str:
    """An IANA time zone name (`Asia/Shanghai`, `utc`; any letter case), as spelt by IANA."""
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        found = _zones_by_lower_name().get(name.lower())
        if found is None:
            raise CommandError("bad_timezone", value=raw) from None
        return found
    return name


@dataclass(frozen=True, slots=True)
class Choice:
    """A closed set of words with aliases, e.g. priorities."""

    name: str
    values: dict[str, str]

    def parse(self, raw: str) -> str:
        value = self.values.get(raw.strip().lower())
        if value is None:
            raise CommandError(
                "bad_choice", option=self.name, value=raw, allowed=sorted(set(self.values.values()))
            )
        return value


PRIORITY = Choice(
    "prio",
    {
        "high": "high",
        "h": "high",
        "高": "high",
        "urgent": "high",
        "p1": "high",
        "med": "med",
        "medium": "med",
        "m": "med",
        "normal": "med",
        "中": "med",
        "p2": "med",
        "low": "low",
        "l": "low",
        "低": "low",
        "p3": "low",
    },
)
KIND = Choice(
    "kind",
    {
        "task": "task",
        "任务": "task",
        "bug": "bug",
        "缺陷": "bug",
        "故障": "bug",
        "risk": "risk",
        "风险": "risk",
    },
)
