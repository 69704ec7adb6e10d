"""Dates a person gives a command: read in the project's order, echoed back when they
could mean two days, and confirmed when they are past or far away."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from commands.context import Ctx
from commands.errors import Confirm
from commands.parsing import DAY_MONTH, MONTH_DAY, read_date
from commands.types import Rich

FAR_DAYS = 183  # about six months: further ahead asks for confirmation
CONFIRM = "!"  # the last word of a command that confirms its date
# Zones whose people write the month first (5/12 is 12 May); elsewhere English is day first.
MONTH_FIRST_ZONES = ("America/", "US/", "Canada/", "Pacific/Honolulu")
_MENTION = re.compile(r"(?<!\S)@(\S+)")


def date_order(ctx: Ctx) -> str:
    """Chinese: month first (12月5日, 12/5); English: day first (5/12 is 5 December), but
    month first where the project's zone is in North America."""
    if ctx.locale == "zh" or ctx.project.timezone.startswith(MONTH_FIRST_ZONES):
        return MONTH_DAY
    return DAY_MONTH


def confirmed(words: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether the command ends with `!` (its date is meant as typed), and the other words."""
    if words and words[-1] == CONFIRM:
        return True, list(words[:-1])
    return False, list(words)


def read_day(ctx: Ctx, raw: str, *, sure: bool) -> tuple[date, tuple[Rich, ...]]:
    """The date `raw` names, and a line saying how it was read when it could mean two days.

    A past date, or one more than FAR_DAYS ahead, raises `Confirm` unless `sure`."""
    order = date_order(ctx)
    day, ambiguous = read_date(raw, today=ctx.today, order=order)
    days = (day - ctx.today).days
    if not sure and (days < 0 or days > FAR_DAYS):
        raise Confirm(
            "dates.confirm", retry=_retry(ctx), button="dates.btn_confirm", day=day, days=days
        )
    notes = (ctx.t("dates.read_as", raw=raw, day=day, order=order),) if ambiguous else ()
    return day, notes


def _retry(ctx: Ctx) -> str:
    """The command as typed, with `!` at its end; mentions as names, which the router
    resolves (a platform's mention token means nothing in a button's command)."""

    def by_name(match: re.Match[str]) -> str:
        ref = ctx.inbound.mentions.get(match.group(1))
        if ref is None or not ref.display_name:
            return match.group(0)
        name = ref.display_name
        return f'"@{name}"' if any(c.isspace() for c in name) else f"@{name}"

    text = _MENTION.sub(by_name, ctx.inbound.text.strip())
    return f"{text.removeprefix('/')} {CONFIRM}"
