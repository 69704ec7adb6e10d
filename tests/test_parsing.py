"""The shared command grammar: words, task keys, dates, options and closed choices."""

from __future__ import annotations

from datetime import date, time

import pytest

from commands.errors import CommandError
from commands.parsing import (
    DAY_MONTH,
    KIND,
    MONTH_DAY,
    PRIORITY,
    TASK_OPTIONS,
    Choice,
    Quoted,
    options_named,
    parse_clock,
    parse_date,
    parse_key,
    parse_zone,
    read_date,
    split_options,
    tokenize,
)

# A Monday: "mon" and 周一 therefore mean the Monday of next week.
TODAY = date(2026, 11, 23)


# -- tokenize --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("task add Write SRS", ["task", "add", "Write", "SRS"]),
        ("  task   add\tWrite\nSRS  ", ["task", "add", "Write", "SRS"]),
        ("任务\u3000添加\u3000修复登录页", ["任务", "添加", "修复登录页"]),
        ("", []),
        ("   \u3000 ", []),
        ('task add "Write the SRS" @ana', ["task", "add", "Write the SRS", "@ana"]),
        ("task add “修复 登录页” @li", ["task", "add", "“修复 登录页”", "@li"]),
        ("task add 「月度 报告」", ["task", "add", "「月度 报告」"]),
        ("task add Fix “Save” button", ["task", "add", "Fix", "“Save”", "button"]),
        ("« a b » ‘c’ 『d』", ["« a b »", "‘c’", "『d』"]),
        ("x ms:“Beta 2” due:「周五」", ["x", "ms:Beta 2", "due:周五"]),
        ('task add x ms:"Beta 2" due:fri', ["task", "add", "x", "ms:Beta 2", "due:fri"]),
        ('a"b c"d e', ['a"b', 'c"d', "e"]),
        ('task add "Write the SRS', ["task", "add", "Write the SRS"]),
        ("task add “never closed  here", ["task", "add", "“never", "closed", "here"]),
        ('task add ""', ["task", "add", ""]),
        ("task add don't panic", ["task", "add", "don't", "panic"]),
        ("task add 'two words'", ["task", "add", "'two", "words'"]),
        ('“a "b" c”', ['“a "b" c”']),
    ],
    ids=[
        "spaces",
        "tabs-newlines-runs",
        "full-width-space",
        "empty",
        "only-space",
        "double-quotes",
        "chinese-quotes-kept",
        "corner-brackets-kept",
        "typographic-quotes-kept-in-a-title",
        "other-typographic-pairs",
        "typographic-quotes-after-an-option-colon",
        "quote-opens-mid-word",
        "quotes-mid-word-are-characters",
        "unclosed-double-quote",
        "unpaired-typographic-quote-is-a-character",
        "empty-quotes",
        "apostrophe",
        "single-quotes-do-not-group",
        "other-quotes-inside-chinese-quotes",
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    """tokenize splits on any white space and groups quoted runs into one word."""
    assert tokenize(text) == tokens


# -- parse_key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "prefix", "number"),
    [
        ("T-12", "T", 12),
        ("t-12", "T", 12),
        ("12", "T", 12),
        ("#12", "T", 12),
        (" T-12 ", "T", 12),
        ("T-007", "T", 7),
        ("BUG-3", "BUG", 3),
        ("bug-3", "BUG", 3),
        ("3", "BUG", 3),
    ],
)
def test_parse_key_accepts(token: str, prefix: str, number: int) -> None:
    """parse_key reads T-12, t-12, #12 and 12 as task number 12 of a project with prefix T."""
    assert parse_key(token, prefix=prefix) == number


@pytest.mark.parametrize(
    "token",
    ["X-12", "BUG-12", "abc", "T-", "-12", "T-12x", "T 12", "T-1.5", "1234567890", "", "#"],
)
def test_parse_key_rejects(token: str) -> None:
    """A wrong prefix, garbage or nothing is errors.bad_key naming the input and the prefix."""
    with pytest.raises(CommandError) as caught:
        parse_key(token, prefix="T")
    assert caught.value.key == "errors.bad_key"
    assert caught.value.params == {"value": token, "prefix": "T"}


# -- parse_date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("today", date(2026, 11, 23)),
        ("Today", date(2026, 11, 23)),
        ("tomorrow", date(2026, 11, 24)),
        ("tmr", date(2026, 11, 24)),
        ("今天", date(2026, 11, 23)),
        ("明天", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        # English weekdays: the next one strictly after today (a Monday).
        ("mon", date(2026, 11, 30)),
        ("tue", date(2026, 11, 24)),
        ("wed", date(2026, 11, 25)),
        ("thu", date(2026, 11, 26)),
        ("fri", date(2026, 11, 27)),
        ("sat", date(2026, 11, 28)),
        ("sun", date(2026, 11, 29)),
        ("monday", date(2026, 11, 30)),
        ("tuesday", date(2026, 11, 24)),
        ("wednesday", date(2026, 11, 25)),
        ("thursday", date(2026, 11, 26)),
        ("friday", date(2026, 11, 27)),
        ("saturday", date(2026, 11, 28)),
        ("sunday", date(2026, 11, 29)),
        ("FRI", date(2026, 11, 27)),
        (" fri ", date(2026, 11, 27)),
        # Chinese weekdays: the same rule.
        ("周一", date(2026, 11, 30)),
        ("周二", date(2026, 11, 24)),
        ("周三", date(2026, 11, 25)),
        ("周四", date(2026, 11, 26)),
        ("周五", date(2026, 11, 27)),
        ("周六", date(2026, 11, 28)),
        ("周日", date(2026, 11, 29)),
        ("周天", date(2026, 11, 29)),
        ("星期三", date(2026, 11, 25)),
        ("星期日", date(2026, 11, 29)),
        ("礼拜五", date(2026, 11, 27)),
        # 下周X is day X of next calendar week; 下下周X the week after.
        ("下周一", date(2026, 11, 30)),
        ("下周二", date(2026, 12, 1)),
        ("下周日", date(2026, 12, 6)),
        ("下下周一", date(2026, 12, 7)),
        ("下星期五", date(2026, 12, 4)),
        # Relative offsets.
        ("+0d", date(2026, 11, 23)),
        ("+3d", date(2026, 11, 26)),
        ("+2w", date(2026, 12, 7)),
        ("+10D", date(2026, 12, 3)),
        # Calendar dates.
        ("2026-12-01", date(2026, 12, 1)),
        ("2027-1-5", date(2027, 1, 5)),
        ("12-01", date(2026, 12, 1)),
        ("11-23", date(2026, 11, 23)),
        ("11-01", date(2027, 11, 1)),
        ("12/24", date(2026, 12, 24)),
        ("1/5", date(2027, 1, 5)),
        ("12月1日", date(2026, 12, 1)),
        ("12月1号", date(2026, 12, 1)),
        ("11月1日", date(2027, 11, 1)),
        ("2027年1月5日", date(2027, 1, 5)),
    ],
)
def test_parse_date(raw: str, expected: date) -> None:
    """parse_date reads every documented form relative to Monday 2026-11-23."""
    assert parse_date(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2026-13-01",
        "13-01",
        "32-13",
        "13/13",
        "someday",
        "",
        "   ",
        "+d",
        "+3",
        "+3m",
        "-3d",
        "周八",
        "上周一",
        "2026/12/01",
        "next friday",
    ],
)
def test_parse_date_rejects(raw: str) -> None:
    """A malformed or impossible date is errors.bad_date carrying the raw input."""
    with pytest.raises(CommandError) as caught:
        parse_date(raw, today=TODAY)
    assert caught.value.key == "errors.bad_date"
    assert caught.value.params == {"value": raw}


# -- split_options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "options", "rest"),
    [
        ([], {}, []),
        (["Write", "SRS"], {}, ["Write", "SRS"]),
        (
            ["Write", "due:fri", "SRS", "prio:high", "ms:Beta 2", "kind:bug"],
            {"due": "fri", "prio": "high", "ms": "Beta 2", "kind": "bug"},
            ["Write", "SRS"],
        ),
        (
            ["修复", "截止:明天", "优先级:高", "里程碑:内测", "类型:缺陷", "登录页"],
            {"due": "明天", "prio": "高", "ms": "内测", "kind": "缺陷"},
            ["修复", "登录页"],
        ),
        (["到期:周五"], {"due": "周五"}, []),
        (["due：fri", "prio：low"], {"due": "fri", "prio": "low"}, []),
        (["截止：明天"], {"due": "明天"}, []),
        (["DUE:fri", "Prio:high"], {"due": "fri", "prio": "high"}, []),
        (["priority:high", "milestone:Beta"], {"prio": "high", "ms": "Beta"}, []),
        (["周期:week"], {"period": "week"}, []),
        (["ms:a:b"], {"ms": "a:b"}, []),
        (["due: fri "], {"due": "fri"}, []),
        (["http://example.com"], {}, ["http://example.com"]),
        (["12:30", ":fri", "due"], {}, ["12:30", ":fri", "due"]),
        (["due:", "fri", "x"], {"due": "fri"}, ["x"]),
        (["截止：", "明天"], {"due": "明天"}, []),
        (["Note:", "call", "ana"], {}, ["Note:", "call", "ana"]),
        (["注意：登录页", "10:30"], {}, ["注意：登录页", "10:30"]),
        (["mailto:ana@example.com", "tel:+861234"], {}, ["mailto:ana@example.com", "tel:+861234"]),
        ([Quoted("Re:Invoice")], {}, ["Re:Invoice"]),
    ],
    ids=[
        "nothing",
        "no-options",
        "english",
        "chinese-aliases",
        "daoqi-alias",
        "full-width-colon",
        "chinese-name-full-width-colon",
        "case-insensitive-names",
        "long-names",
        "period-alias",
        "value-keeps-colons",
        "value-stripped",
        "url-stays",
        "not-options",
        "space-after-the-colon",
        "space-after-a-chinese-colon",
        "a-word-ending-in-a-colon-is-text",
        "chinese-word-and-colon-is-text",
        "links-are-text",
        "quoted-is-text",
    ],
)
def test_split_options(tokens: list[str], options: dict[str, str], rest: list[str]) -> None:
    """split_options pulls known name:value options out and keeps the other words in order."""
    assert split_options(tokens) == (options, rest)


@pytest.mark.parametrize(
    ("tokens", "option", "suggestion"),
    [
        (["Write", "FAQ", "dur:fri"], "dur", "due"),
        (["pri:high"], "pri", "prio"),
        (["Prioirty:high"], "Prioirty", "priority"),
        (["milstone:Beta"], "milstone", "milestone"),
        (["kinds:bug"], "kinds", "kind"),
        (["dur:", "fri"], "dur", "due"),
        (["优先:高"], "优先", "优先级"),
        (["owner:ana"], "owner", None),
        (["Re:Invoice"], "Re", None),
    ],
)
def test_split_options_refuses_unknown_options(
    tokens: list[str], option: str, suggestion: str | None
) -> None:
    """A word shaped like an option the command does not take is errors.unknown_option,
    with the closest option it takes (by difflib's similarity) when one is close."""
    with pytest.raises(CommandError) as caught:
        split_options(tokens, options_named(*TASK_OPTIONS))
    assert caught.value.key == "errors.unknown_option"
    assert (caught.value.params["option"], caught.value.params["suggestion"]) == (
        option,
        suggestion,
    )
    assert caught.value.params["known"] == "due:, prio:, ms:, kind:"


def test_split_options_takes_only_the_options_given() -> None:
    """An option of another command is refused too: /task list takes ms: only."""
    with pytest.raises(CommandError) as caught:
        split_options(["due:fri"], options_named("ms"))
    assert caught.value.params == {
        "option": "due", "suggestion": None, "known": "ms:", "word": "due:fri",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("tokens", "option"),
    [(["due:"], "due"), (["x", "prio:  "], "prio"), (["里程碑："], "ms"), (["kind:"], "kind")],
)
def test_split_options_empty_value(tokens: list[str], option: str) -> None:
    """An option without a value is errors.empty_option naming the canonical option."""
    with pytest.raises(CommandError) as caught:
        split_options(tokens)
    assert caught.value.key == "errors.empty_option"
    assert caught.value.params == {"option": option}


@pytest.mark.parametrize(
    ("tokens", "option"),
    [
        (["due:fri", "due:mon"], "due"),
        (["due:fri", "截止:明天"], "due"),
        (["prio:high", "x", "priority:low"], "prio"),
        (["ms:Beta", "里程碑：内测"], "ms"),
        (["kind:bug", "kind:bug"], "kind"),
        (["period:week", "周期:month"], "period"),
    ],
)
def test_split_options_repeated(tokens: list[str], option: str) -> None:
    """The same option twice, under any of its names, is errors.repeated_option."""
    with pytest.raises(CommandError) as caught:
        split_options(tokens)
    assert caught.value.key == "errors.repeated_option"
    assert caught.value.params == {"option": option}


# -- choices ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("high", "high"),
        ("HIGH", "high"),
        ("h", "high"),
        ("urgent", "high"),
        ("p1", "high"),
        ("高", "high"),
        (" high ", "high"),
        ("med", "med"),
        ("medium", "med"),
        ("m", "med"),
        ("normal", "med"),
        ("p2", "med"),
        ("中", "med"),
        ("low", "low"),
        ("l", "low"),
        ("p3", "low"),
        ("低", "low"),
    ],
)
def test_priority_choice(raw: str, value: str) -> None:
    """PRIORITY maps its English, short and Chinese spellings to high, med or low."""
    assert PRIORITY.parse(raw) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("task", "task"),
        ("Task", "task"),
        ("任务", "task"),
        ("bug", "bug"),
        ("BUG", "bug"),
        ("缺陷", "bug"),
        ("故障", "bug"),
        ("risk", "risk"),
        ("风险", "risk"),
    ],
)
def test_kind_choice(raw: str, value: str) -> None:
    """KIND maps its English and Chinese spellings to task, bug or risk."""
    assert KIND.parse(raw) == value


@pytest.mark.parametrize(
    ("choice", "raw", "allowed"),
    [
        (PRIORITY, "critical", ["high", "low", "med"]),
        (PRIORITY, "", ["high", "low", "med"]),
        (PRIORITY, "p4", ["high", "low", "med"]),
        (PRIORITY, "最高", ["high", "low", "med"]),
        (KIND, "epic", ["bug", "risk", "task"]),
        (KIND, "bugs", ["bug", "risk", "task"]),
        (KIND, "需求", ["bug", "risk", "task"]),
    ],
)
def test_choice_rejects(choice: Choice, raw: str, allowed: list[str]) -> None:
    """An unknown word is errors.bad_choice listing the canonical values, sorted."""
    with pytest.raises(CommandError) as caught:
        choice.parse(raw)
    assert caught.value.key == "errors.bad_choice"
    assert caught.value.params == {"option": choice.name, "value": raw, "allowed": allowed}


@pytest.mark.parametrize(
    ("raw", "today", "expected"),
    [
        ("02-29", date(2026, 11, 23), date(2028, 2, 29)),
        ("2月29日", date(2028, 3, 1), date(2032, 2, 29)),
        ("02-29", date(2028, 2, 29), date(2028, 2, 29)),
    ],
)
def test_leap_day_without_year_is_the_next_one(raw: str, today: date, expected: date) -> None:
    """A 29 February without a year waits for the next leap year instead of failing."""
    assert parse_date(raw, today=today) == expected


def test_quotes_inside_a_word_stay_as_typed() -> None:
    """`<at user_id="all">` keeps its quotes: only a word's start or an option's colon opens a quote."""
    assert tokenize('task add <at user_id="all"></at> 全员') == [
        "task", "add", '<at', 'user_id="all"></at>', "全员",
    ]  # fmt: skip


# -- clock times and zones ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("21:00", time(21, 0)),
        ("09:30", time(9, 30)),
        ("9:30", time(9, 30)),
        ("9.30", time(9, 30)),
        ("9am", time(9, 0)),
        ("9AM", time(9, 0)),
        ("9:30pm", time(21, 30)),
        ("9p.m.", time(21, 0)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("9点", time(9, 0)),
        ("9点15", time(9, 15)),
        ("9点15分", time(9, 15)),
        ("上午9点", time(9, 0)),
        ("下午3点半", time(15, 30)),
        ("晚上8点一刻", time(20, 15)),
        ("中午12点", time(12, 0)),
        ("中午1点", time(13, 0)),
        ("下午15点", time(15, 0)),
    ],
)
def test_parse_clock(raw: str, expected: time) -> None:
    """One reader for times of day: 24-hour, am/pm, and Chinese 点 with 上午/下午/半/一刻."""
    assert parse_clock(raw, option="time") == expected


@pytest.mark.parametrize("raw", ["9", "25:00", "9:60", "13pm", "0am", "noon", "", "9点61分"])
def test_parse_clock_rejects(raw: str) -> None:
    """A bare number, an impossible hour or minute, or words are errors.bad_time."""
    with pytest.raises(CommandError) as caught:
        parse_clock(raw, option="time")
    assert (caught.value.key, caught.value.params) == (
        "errors.bad_time",
        {"option": "time", "value": raw},
    )


def test_parse_zone_is_case_blind_and_refuses_unknown_zones() -> None:
    """`asia/shanghai` is Asia/Shanghai; an unknown name is errors.bad_timezone."""
    assert (parse_zone("asia/shanghai"), parse_zone("UTC")) == ("Asia/Shanghai", "UTC")
    with pytest.raises(CommandError) as caught:
        parse_zone("Mars/Base")
    assert caught.value.key == "errors.bad_timezone"


@pytest.mark.parametrize(
    ("raw", "month", "year", "days"),
    [
        ("2026-02-30", 2, 2026, 28),
        ("2028-02-30", 2, 2028, 29),
        ("02-30", 2, None, 29),
        ("2月30日", 2, None, 29),
        ("2026年4月31日", 4, 2026, 30),
        ("31/4", 4, None, 30),
    ],
)
def test_a_day_the_month_does_not_have_says_so(
    raw: str, month: int, year: int | None, days: int
) -> None:
    """2026-02-30 is errors.bad_day: February 2026 has 28 days."""
    with pytest.raises(CommandError) as caught:
        read_date(raw, today=TODAY, order=DAY_MONTH)
    assert (caught.value.key, caught.value.params) == (
        "errors.bad_day",
        {"value": raw, "month": month, "year": year, "days": days},
    )


@pytest.mark.parametrize(
    ("raw", "order", "expected", "ambiguous"),
    [
        ("05/12", DAY_MONTH, date(2026, 12, 5), True),
        ("05/12", MONTH_DAY, date(2027, 5, 12), True),
        ("5.12", DAY_MONTH, date(2026, 12, 5), True),
        ("5.12.", DAY_MONTH, date(2026, 12, 5), True),
        ("24/12", MONTH_DAY, date(2026, 12, 24), False),
        ("12/24", DAY_MONTH, date(2026, 12, 24), False),
        ("3/3", DAY_MONTH, date(2027, 3, 3), False),
        ("12-01", DAY_MONTH, date(2026, 12, 1), False),
        ("12-01", MONTH_DAY, date(2026, 12, 1), False),
        ("2026-12-05", DAY_MONTH, date(2026, 12, 5), False),
        ("fri", DAY_MONTH, date(2026, 11, 27), False),
    ],
)
def test_read_date_follows_the_order_and_says_when_it_could_mean_two_days(
    raw: str, order: str, expected: date, ambiguous: bool
) -> None:
    """Slash and dot forms are read in the locale's order; 12-01 is ISO month-day always."""
    assert read_date(raw, today=TODAY, order=order) == (expected, ambiguous)


def test_a_day_without_a_year_counts_today() -> None:
    """On 1 December, 12-01 is today, not a year away; on 2 December it is next year's."""
    assert parse_date("12-01", today=date(2026, 12, 1)) == date(2026, 12, 1)
    assert parse_date("12-01", today=date(2026, 12, 2)) == date(2027, 12, 1)
