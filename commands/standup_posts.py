"""The standup's clock: when its prompt, reminders and summary are due, and what they say.

On each work day of a standup (its days, less its calendar's holidays) the clock posts
the prompt at `at`, reminds one to one those of the team who have not answered (half an
hour before the cutoff, or halfway when the window is shorter), and posts the summary at
the cutoff. Each is a `ScheduleKind` (see commands/schedule.py): `PROMPT`, `REMINDER`,
`SUMMARY`, keyed `standup:<config>:prompt|reminder|summary`.

`LATER` asks again by DM whoever said "later" (`/standup later`, the button): one
occurrence per stored snooze, keyed `standup:<config>:later:<member>:<n>` (the member's
n-th "later" of the day), due 30 minutes after it was asked, useful until the cutoff, and
sent only while that member has still not answered. A snooze is a one-off, so it sets no
cron job of its own: the clock's re-sync round (every 30 seconds) finds it due.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands import standup_dm
from commands.calendar import is_workday, parse_days
from commands.common import mentions_of
from commands.i18n import Catalog
from commands.schedule import (
    Building,
    Builds,
    Due,
    Occurrence,
    ScheduleKind,
    Scope,
    Wake,
    end_of_day,
    local,
    shared,
)
from commands.standup import (
    BLOCKER_BUTTONS,
    answer_button,
    has_blocker,
    label_of,
    later_buttons,
    roll_call,
    syntax,
    team_on,
)
from commands.standup_questions import Question, answers_of, questions_of
from commands.types import Button, Mention, Post, Reply, Rich, Tone, Visibility
from storage import standup as store
from storage.enums import Role
from storage.models import ChannelBinding, Member, Project, StandupConfig

ONE_DAY = timedelta(days=1)
REMIND_BEFORE = timedelta(minutes=30)
REMINDER_USEFUL = timedelta(minutes=5)  # see _reminder_until


# -- when ----------------------------------------------------------------------------------


def reminder_time(at: time, cutoff: time) -> time:
    """Half an hour before the cutoff, or halfway when the window is shorter."""
    start = datetime.combine(date(2000, 1, 1), at)
    end = datetime.combine(date(2000, 1, 1), cutoff)
    remind = max(end - REMIND_BEFORE, start + (end - start) / 2)
    return remind.time().replace(microsecond=0)


def _reminder_until(remind: datetime, cutoff: datetime) -> datetime:
    """A reminder is still worth sending while people keep at least half of the time it
    meant to give them (from its own time to the cutoff), and at most five minutes:
    30 minutes before a 10:30 cutoff it goes out until 10:25; in a 09:30-09:36 window,
    at 09:33, until 09:34:30. Never before its own time."""
    return cutoff - min(REMINDER_USEFUL, (cutoff - remind) / 2)


@dataclass(frozen=True)
class _Shape:
    """What decides a standup's times; many channels share one."""

    at: time
    cutoff: time
    timezone: str
    days: str
    calendar: str


@lru_cache(maxsize=4096)
def _times(
    shape: _Shape, first: date, last: date
) -> tuple[tuple[str, date, datetime, datetime], ...]:
    """(part, day, due, useful until) of a standup's posts on the local days first..last."""
    tz = ZoneInfo(shape.timezone)
    days = parse_days(shape.days)
    reminder = reminder_time(shape.at, shape.cutoff)
    out = []
    day = first
    while day <= last:
        if is_workday(day, days=days, calendar=shape.calendar):
            cutoff = local(day, shape.cutoff, tz)
            remind = local(day, reminder, tz)
            out += [
                ("prompt", day, local(day, shape.at, tz), cutoff),
                ("reminder", day, remind, _reminder_until(remind, cutoff)),
                ("summary", day, cutoff, end_of_day(day, tz)),
            ]
        day += timedelta(days=1)
    return tuple(out)


_Row = tuple[int, time, time, str, str, str, datetime, int, str]
_PARTS = ("prompt", "reminder", "summary")


def _enabled(session: Session) -> list[_Row]:
    """Every enabled standup's times (`store.enabled_times`), read once per reading: the
    prompt, DM prompt, reminder and summary kinds all plan, and wake, from them."""
    return shared(session, "standup.enabled_times", lambda: store.enabled_times(session))


def _occurrences(
    part: str, session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    every = shared(
        session,
        ("standup.occurrences", start, end, scope),
        lambda: _all_occurrences(session, start=start, end=end, scope=scope),
    )
    return every[part]


def _all_occurrences(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> dict[str, list[Occurrence]]:
    """The prompt, reminder and summary occurrences of every enabled standup, in one pass
    over them: by part, each in the order of its standups and days."""
    out: dict[str, list[Occurrence]] = {part: [] for part in _PARTS}
    for (
        config_id,
        at,
        cutoff,
        zone,
        days,
        calendar,
        updated_at,
        binding,
        mode,
    ) in _enabled(session):
        if scope is not None and binding not in scope.bindings:
            continue
        tz = ZoneInfo(zone)
        first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
        # A schedule counts from when it was set: nothing is "missed" before that.
        for part, day, due, until in _times(_Shape(at, cutoff, zone, days, calendar), first, last):
            if part == "prompt" and mode == "dm":
                continue  # asked one to one instead: DM_PROMPT
            if start < due <= end and due >= updated_at:
                key = f"standup:{config_id}:{part}"
                out[part].append(Occurrence("standup_" + part, key, config_id, day, due, until))
    return out


def _wakes(part: str, session: Session) -> dict[str, Wake]:
    return shared(session, "standup.wakes", lambda: _all_wakes(session))[part]


def _all_wakes(session: Session) -> dict[str, dict[str, Wake]]:
    out: dict[str, dict[str, Wake]] = {part: {} for part in _PARTS}
    for config_id, at, cutoff, zone, *_, mode in _enabled(session):
        if mode != "dm":
            out["prompt"][f"standup:{config_id}:prompt"] = Wake(at, zone)
        out["reminder"][f"standup:{config_id}:reminder"] = Wake(reminder_time(at, cutoff), zone)
        out["summary"][f"standup:{config_id}:summary"] = Wake(cutoff, zone)
    return out


# -- where and what ------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a standup lives, with the words to use there."""

    config: StandupConfig
    binding: ChannelBinding
    project: Project
    platform: str
    locale: str


def places_of(session: Session, *, config_ids: list[int], default_locale: str) -> dict[int, Place]:
    """The enabled standups among `config_ids`, with their channel, project and platform."""
    return {
        config.id: Place(config, binding, project, platform, project.locale or default_locale)
        for config, binding, project, platform in store.places(session, config_ids=config_ids)
        if config.enabled and config.id is not None
    }


def place_of(session: Session, *, config_id: int, default_locale: str) -> Place | None:
    return places_of(session, config_ids=[config_id], default_locale=default_locale).get(config_id)


def prompt_post(catalog: Catalog, place: Place, *, day: date, late: bool) -> Post:
    t, loc = catalog.text, place.locale
    questions = questions_of(place.config)
    reply = Reply(
        title=t(loc, "standup.prompt_title", day=day, late=late),
        lines=(
            t(loc, "standup.prompt_cutoff", cutoff=place.config.cutoff.strftime("%H:%M")),
            *syntax(catalog, loc, questions),
        ),
        buttons=(answer_button(catalog, loc, questions), *later_buttons(catalog, loc)),
        visibility=Visibility.CHANNEL,
    )
    return Post(platform=place.platform, reply=reply, channel_id=place.binding.channel_id)


def reminder_posts(
    session: Session, catalog: Catalog, place: Place, *, day: date, now: datetime, late: bool
) -> list[Post]:
    roll = roll_call(session, config=place.config, day=day, now=now)
    people = mentions_of(session, roll.missing)
    cutoff = place.config.cutoff.strftime("%H:%M")
    questions = questions_of(place.config)
    out = []
    for member_id in roll.missing:
        person = people[member_id]
        if person.platform != place.platform:
            continue
        # In either mode the reminder opens the member's DM standup: whatever they answer
        # in the DM (`/standup y: …`, the form, plain words) lands in this channel's standup.
        asked = standup_dm.open_for(
            session, config=place.config, member_id=member_id, day=day,
            until=local(day, place.config.cutoff, ZoneInfo(place.config.timezone)), now=now,
        )  # fmt: skip
        if asked.finished_at is not None:
            continue  # skipped the day
        if place.config.mode == "dm":
            lead = catalog.text(
                place.locale, "standup.dm_reminder", day=day, cutoff=cutoff,
                channel=place.binding.name,
            )  # fmt: skip
            reply = standup_dm.ask(catalog, place.locale, config=place.config,
                                   channel=place.binding.name, asked=asked, lead=lead)  # fmt: skip
            out.append(Post(platform=person.platform, reply=reply, user_id=person.platform_user_id))
            continue
        reply = Reply(
            title=catalog.text(
                place.locale, "standup.reminder", day=day, cutoff=cutoff, channel=place.binding.name
            ),
            lines=syntax(catalog, place.locale, questions),
            buttons=(
                answer_button(catalog, place.locale, questions),
                *later_buttons(catalog, place.locale),
            ),
        )
        out.append(Post(platform=person.platform, reply=reply, user_id=person.platform_user_id))
    return out


_TASK_KEY = re.compile(r"(?:^|\W)(?:([A-Za-z]{1,8})-)(\d{1,9})\b")


def summary_post(
    session: Session, catalog: Catalog, place: Place, *, day: date, now: datetime, late: bool
) -> Post:
    t, loc = catalog.text, place.locale
    roll = roll_call(session, config=place.config, day=day, now=now)
    people = mentions_of(session, roll.answered + roll.missing + roll.away)
    items: list[Rich] = []
    blockers: list[Rich] = []
    buttons: list[Button] = []
    questions = questions_of(place.config)
    own = any(q.own for q in questions)
    for report in roll.reports:
        who = people[report.member_id]
        if own:
            answers = [
                (label_of(catalog, loc, q), text, q.blocker and has_blocker(text))
                for q, text in zip(questions, answers_of(report, questions), strict=True)
                if not q.blocker or has_blocker(text)
            ]
            items.append(t(loc, "standup.summary_answers", who=who, answers=answers))
        else:
            items.append(
                t(
                    loc,
                    "standup.summary_item",
                    who=who,
                    yesterday=report.yesterday,
                    today=report.today,
                    blockers=report.blockers if has_blocker(report.blockers) else "",
                )
            )
        if has_blocker(report.blockers):
            accountable = _accountable_for(session, place.project, report.blockers)
            blockers.append(
                t(loc, "standup.blocker_item", who=who, text=report.blockers, a=accountable)
            )
            if len(buttons) < BLOCKER_BUTTONS:
                buttons.append(
                    Button(
                        t(loc, "standup.btn_make_task", who=who.name),
                        f"standup task {report.id}",
                        f"standup_task_{report.id}",
                    )
                )
    lines = [
        t(
            loc,
            "standup.summary_count",
            answered=len(roll.answered),
            team=len(roll.answered) + len(roll.missing),
        ),
        t(loc, "standup.status_missing", people=[people[i] for i in roll.missing]),
    ]
    if roll.away:
        lines.append(t(loc, "standup.status_away", people=[people[i] for i in roll.away]))
    if blockers:
        lines.append(t(loc, "standup.blockers_title", count=len(blockers)))
        lines.extend(blockers)
    reply = Reply(
        title=t(loc, "standup.summary_title", day=day, late=late),
        lines=tuple(lines),
        items=tuple(items),
        footer=() if items else (t(loc, "standup.summary_nobody"),),
        buttons=tuple(buttons),
        visibility=Visibility.CHANNEL,
        tone=Tone.WARNING if blockers else Tone.INFO,
    )
    return Post(platform=place.platform, reply=reply, channel_id=place.binding.channel_id)


def _accountable_for(session: Session, project: Project, text: str) -> list[Mention]:
    """The A of every task of the project a blocker names (`T-12`)."""
    numbers = {
        int(m.group(2))
        for m in _TASK_KEY.finditer(text)
        if m.group(1).upper() == project.key_prefix.upper()
    }
    if not numbers or project.id is None:
        return []
    ids = store.task_owners(
        session, project_id=project.id, numbers=sorted(numbers), role=Role.A.value
    )
    people = mentions_of(session, sorted(set(ids)))
    return [people[i] for i in sorted(people)]


def later_post(
    session: Session, catalog: Catalog, place: Place, *, member_id: int, day: date, now: datetime
) -> list[Post]:
    """The DM of a "later": the questions again, while the member has not answered (and
    has not skipped or gone away since)."""
    roll = roll_call(session, config=place.config, day=day, now=now)
    if member_id in roll.answered or member_id in roll.away:
        return []
    person = mentions_of(session, [member_id]).get(member_id)
    if person is None or person.platform != place.platform:
        return []
    questions = questions_of(place.config)
    reply = Reply(
        title=catalog.text(
            place.locale,
            "standup.later_ask",
            day=day,
            cutoff=place.config.cutoff.strftime("%H:%M"),
            channel=place.binding.name,
        ),
        lines=syntax(catalog, place.locale, questions),
        buttons=(
            answer_button(catalog, place.locale, questions),
            *later_buttons(catalog, place.locale),
        ),
    )
    return [Post(platform=person.platform, reply=reply, user_id=person.platform_user_id)]


def _later_occurrences(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    out = []
    for snooze, binding in store.snoozes_due(session, start=start, end=end):
        if scope is not None and binding not in scope.bindings:
            continue
        place = places_of(session, config_ids=[snooze.config_id], default_locale="en").get(
            snooze.config_id
        )
        if place is None:
            continue
        cutoff = local(snooze.day, place.config.cutoff, ZoneInfo(place.config.timezone))
        out.append(
            Occurrence(
                LATER_NAME,
                f"standup:{snooze.config_id}:later:{snooze.member_id}:{snooze.number}",
                snooze.config_id,
                snooze.day,
                snooze.due,
                cutoff,
                part=str(snooze.member_id),
            )
        )
    return out


def _later_wakes(session: Session) -> dict[str, Wake]:
    return {}  # one-offs: the re-sync round finds them (see the module's docstring)


def _per_place(
    build: Callable[[Session, Building, Place, Due], list[Post]],
) -> Builds:
    """A kind's builder that reads each due occurrence's standup (`place_of`) and builds its
    posts with `build`; nothing for a standup gone since it was planned."""

    def posts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
        out = []
        for d in due:
            place = place_of(
                session, config_id=d.occurrence.ref, default_locale=building.default_locale
            )
            out.append([] if place is None else build(session, building, place, d))
        return out

    return posts


_laters = _per_place(
    lambda session, b, place, d: later_post(
        session, b.catalog, place, member_id=int(d.occurrence.part), day=d.occurrence.day,
        now=b.now,
    )
)  # fmt: skip


# -- the kinds -----------------------------------------------------------------------------


def _prompts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    """Every due prompt at once: one query for every channel's place, and one rendering
    per wording (the same prompt goes to every channel of a locale, cutoff and questions)."""
    places = places_of(
        session,
        config_ids=[d.occurrence.ref for d in due],
        default_locale=building.default_locale,
    )
    memo: dict[tuple[str, date, time, bool, tuple[Question, ...]], Post] = {}
    out: list[list[Post]] = []
    for d in due:
        place = places.get(d.occurrence.ref)
        if place is None:
            out.append([])
            continue
        # The questions are part of the wording: channels may ask their own.
        wording = (
            place.locale, d.occurrence.day, place.config.cutoff, d.late,
            questions_of(place.config),
        )  # fmt: skip
        if wording not in memo:
            memo[wording] = prompt_post(building.catalog, place, day=d.occurrence.day, late=d.late)
        reply = memo[wording].reply
        out.append(
            [Post(platform=place.platform, reply=reply, channel_id=place.binding.channel_id)]
        )
    return out


_reminders = _per_place(
    lambda session, b, place, d: reminder_posts(
        session, b.catalog, place, day=d.occurrence.day, now=b.now, late=d.late
    )
)
_summaries = _per_place(
    lambda session, b, place, d: [
        summary_post(session, b.catalog, place, day=d.occurrence.day, now=b.now, late=d.late)
    ]
)


def _kind(part: str, posts: Builds, *, batched: bool = False) -> ScheduleKind:
    def occurrences(
        session: Session, *, start: datetime, end: datetime, scope: Scope | None
    ) -> list[Occurrence]:
        return _occurrences(part, session, start=start, end=end, scope=scope)

    def wakes(session: Session) -> dict[str, Wake]:
        return _wakes(part, session)

    return ScheduleKind(
        name="standup_" + part,
        occurrences=occurrences,
        wakes=wakes,
        posts=posts,
        batched=batched,
    )


# -- DM mode: each member asked at the standup's time in their own zone --------------------


def _dm_occurrences(
    session: Session, *, start: datetime, end: datetime, scope: Scope | None
) -> list[Occurrence]:
    """Per member of a DM-mode standup's team (not away), on each work day of the standup:
    the first question at `at` in the member's own zone (the standup's zone when unknown),
    while that is before the cutoff; and a question snoozed with "later", again. Keys
    `standup:<config>:dm:<member>` and `standup:<config>:dm:<member>:later<n>`."""
    out: list[Occurrence] = []
    for (
        config_id,
        at,
        cutoff,
        zone,
        days,
        calendar,
        updated_at,
        binding,
        mode,
    ) in _enabled(session):
        if mode != "dm" or (scope is not None and binding not in scope.bindings):
            continue
        config = session.get(StandupConfig, config_id)
        assert config is not None
        tz = ZoneInfo(zone)
        # A member's 09:30 may fall on the standup's previous or next local day.
        day = (start - ONE_DAY).astimezone(tz).date()
        last = (end + ONE_DAY).astimezone(tz).date()
        while day <= last:
            if is_workday(day, days=parse_days(days), calendar=calendar):
                until = local(day, cutoff, tz)
                team, away = team_on(session, config=config, day=day)
                zones = store.zones_of(session, member_ids=team)
                for member_id in team:
                    if member_id in away:
                        continue
                    mine = standup_dm.zone_of_name(zones.get(member_id), zone)
                    due = local(day, at, mine)
                    if start < due <= end and due < until and due >= updated_at:
                        out.append(
                            Occurrence(
                                DM_PROMPT_NAME, f"standup:{config_id}:dm:{member_id}",
                                config_id, day, due, until, part=str(member_id),
                            )
                        )  # fmt: skip
            day += ONE_DAY
    for asked in store.dm_snoozed(session, start=start, end=end):
        assert asked.snoozed_until is not None
        key = f"standup:{asked.config_id}:dm:{asked.member_id}:later{asked.snoozes}"
        out.append(
            Occurrence(
                DM_PROMPT_NAME, key, asked.config_id, asked.day, asked.snoozed_until,
                asked.until, part=f"{asked.member_id}:later",
            )
        )  # fmt: skip
    return out


def _dm_wakes(session: Session) -> dict[str, Wake]:
    """One wake per zone the members of a DM-mode standup's workspace live in (and the
    standup's own): `standup:<config>:dm@<zone>`. Snoozed questions are asked by the
    clock's regular rounds."""
    out = {}
    for config_id, at, _cutoff, zone, *_rest, binding, mode in _enabled(session):
        if mode != "dm":
            continue
        for name in {zone} | store.workspace_zones(session, binding_id=binding):
            try:
                ZoneInfo(name)
            except (ValueError, KeyError):
                continue
            out[f"standup:{config_id}:dm@{name}"] = Wake(at, name)
    return out


def _dm_prompts(session: Session, building: Building, due: Sequence[Due]) -> list[list[Post]]:
    out: list[list[Post]] = []
    for d in due:
        place = place_of(
            session, config_id=d.occurrence.ref, default_locale=building.default_locale
        )
        member_id_text, _, again = d.occurrence.part.partition(":")
        member = session.get(Member, int(member_id_text))
        if place is None or place.config.mode != "dm" or member is None:
            out.append([])
            continue
        asked = standup_dm.open_for(
            session, config=place.config, member_id=int(member_id_text), day=d.occurrence.day,
            until=d.occurrence.until, now=building.now,
        )  # fmt: skip
        if asked.finished_at is not None or (not again and asked.step > 0):
            out.append([])  # done, skipped, or already answering (a reminder asked first)
            continue
        catalog, loc, channel = building.catalog, place.locale, place.binding.name
        if again:
            asked.snoozed_until = None
            session.add(asked)
            lead = catalog.text(loc, "standup.dm_again")
        else:
            lead = standup_dm.intro(catalog, loc, config=place.config, channel=channel,
                                    day=d.occurrence.day)  # fmt: skip
        reply = standup_dm.ask(catalog, loc, config=place.config, channel=channel, asked=asked,
                               lead=lead)  # fmt: skip
        out.append([Post(platform=place.platform, reply=reply, user_id=member.platform_user_id)])
    return out


DM_PROMPT_NAME = "standup_dm"
DM_PROMPT = ScheduleKind(
    name=DM_PROMPT_NAME, occurrences=_dm_occurrences, wakes=_dm_wakes, posts=_dm_prompts
)
PROMPT = _kind("prompt", _prompts, batched=True)
REMINDER = _kind("reminder", _reminders)
SUMMARY = _kind("summary", _summaries)

LATER_NAME = "standup_later"
LATER = ScheduleKind(
    name=LATER_NAME, occurrences=_later_occurrences, wakes=_later_wakes, posts=_laters
)
