"""From an `Inbound` to a `Reply`: parse, find the handler, run it in one transaction.

`route` raises `CommandError` for anything the person got wrong (the
transaction is rolled back, nothing changes); `handle` is the boundary that
turns that into an error reply and any other exception into a logged, generic
apology.
"""

from __future__ import annotations

import logging
import random
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from commands import standup_dm
from commands.context import Ctx
from commands.errors import STATE_ERRORS, CommandError, Confirm
from commands.i18n import DEFAULT_LOCALE, LOCALES, Catalog, strip_markers
from commands.parsing import (
    CONTROL,
    LOOKS_LIKE_KEY,
    MAX_PEOPLE,
    Quoted,
    clean_name,
    parse_key,
    tokenize,
)
from commands.permissions import Permission, authorize, who_may
from commands.registry import Args, CommandSpec, Registry, Target
from commands.teambot import group_names
from commands.types import Button, Inbound, Mirror, Notification, Reply, Rich, Tone, Visibility
from storage import repo
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

MAX_TEXT = 4000
UMBRELLA = "teambot"
UNKNOWN = "unknown"  # the command label of text that names no command
HELP_WORDS = {"help", "?", "帮助", "h"}
MAX_NAMED = 3  # people a refusal names as able to help, of each kind, before "and N more"
# A command whose transaction lost a race (a unique key taken by a concurrent command, a
# deadlock) runs again from the start, seeing what the winner committed; a database
# locked by another writer is waited for this long in all.
MAX_KEYS = 20  # task keys one command may act on
RACE_ATTEMPTS = 4
LOCKED_FOR = 30.0
_RACES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


class Duplicate(Exception):
    """This platform event id was processed already."""


@dataclass(frozen=True, slots=True)
class Handled:
    """What `Router.handle` did with one delivery, for an observer (metrics)."""

    platform: str
    command: str  # the spec id ("task.add"), or UNKNOWN when the text named no command
    outcome: str  # ok | user_error | crash | duplicate
    seconds: float


Observer = Callable[[Handled], None]


@dataclass
class _Trace:
    """What `route` learnt before it returned or raised."""

    locale: str
    command: str = UNKNOWN


@dataclass(frozen=True)
class Defaults:
    """Settings for projects created on first use."""

    timezone: str = "UTC"
    locale: str = DEFAULT_LOCALE


def normalize(text: str) -> str:
    """NFKC-fold full-width forms (／ＴＡＳＫ, ：) and drop control, bidi and marker characters."""
    text = unicodedata.normalize("NFKC", strip_markers(text))
    return CONTROL.sub(" ", text).strip()


def lost_race(err: BaseException) -> bool:
    """A transaction that failed only because a concurrent one got there first: a unique
    key it also inserted, a deadlock, a serialization failure. Running it again sees the
    winner's rows and answers from them."""
    if isinstance(err, IntegrityError):
        return True
    if isinstance(err, DBAPIError):
        return getattr(err.orig, "sqlstate", None) in _RACES
    return False


def locked(err: BaseException) -> bool:
    """SQLite's write lock was held by another writer past the busy time-out."""
    if not isinstance(err, OperationalError):
        return False
    text = str(err.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def pick_locale(*candidates: str | None) -> str:
    for locale in candidates:
        if locale:
            short = locale.replace("_", "-").split("-")[0].lower()
            if short in LOCALES:
                return short
    return DEFAULT_LOCALE


class Router:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        registry: Registry,
        defaults: Defaults | None = None,
        clock: Callable[[], datetime] = utcnow,
        observer: Observer | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.registry = registry
        self.defaults = defaults or Defaults()
        self.clock = clock
        self.observer = observer  # told about every delivery `handle` answers
        self.crashes = 0  # unexpected exceptions answered with an apology

    # -- the boundary ---------------------------------------------------------

    def handle(self, inbound: Inbound) -> Reply | None:
        """The reply to show, or None when this delivery was handled before."""
        started = time.perf_counter()
        trace = _Trace(pick_locale(inbound.user_locale, self.defaults.locale))
        try:
            reply = self._route_until_settled(inbound, trace, started)
        except Duplicate:
            log.info("duplicate delivery dropped: %s %s", inbound.platform, inbound.event_id)
            trace.command = self.command_id(inbound.text)
            self._observe(inbound, trace, "duplicate", started)
            return None
        except CommandError as err:
            self._observe(inbound, trace, "user_error", started)
            return self.error_reply(err, trace.locale)
        except Exception:
            self.crashes += 1
            log.exception(
                "command failed: event=%s platform=%s channel=%s",
                inbound.event_id,
                inbound.platform,
                inbound.channel_id,
                extra={
                    "event_id": inbound.event_id,
                    "platform": inbound.platform,
                    "channel": inbound.channel_id,
                    "command": trace.command,
                },
            )
            self._observe(inbound, trace, "crash", started)
            return Reply(
                title=self.catalog.text(trace.locale, "errors.apology"),
                tone=Tone.ERROR,
                visibility=Visibility.EPHEMERAL,
            )
        self._observe(inbound, trace, "ok", started)
        return reply

    def _route_until_settled(self, inbound: Inbound, trace: _Trace, started: float) -> Reply:
        """`route`, run again when its transaction lost a race or met a locked database:
        nothing of a failed attempt was committed, so the next one starts clean."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.route(inbound, _trace=trace)
            except DBAPIError as err:  # IntegrityError, OperationalError and the rest
                if lost_race(err) and attempt < RACE_ATTEMPTS:
                    log.info("command lost a race (attempt %d): running it again", attempt)
                    time.sleep(random.uniform(0.001, 0.02) * attempt)
                    continue
                if locked(err) and time.perf_counter() - started < LOCKED_FOR:
                    log.warning("database locked by another writer: waiting on (attempt %d)",
                                attempt)  # fmt: skip
                    continue
                raise

    def _observe(self, inbound: Inbound, trace: _Trace, outcome: str, started: float) -> None:
        if self.observer is None:
            return
        seconds = time.perf_counter() - started
        try:
            self.observer(Handled(inbound.platform, trace.command, outcome, seconds))
        except Exception:
            log.exception("the command observer failed")

    def command_id(self, text: str) -> str:
        """The id of the command a text names ("task.add"), or UNKNOWN."""
        try:
            return self.resolve(self._words(text))[0].id
        except CommandError:
            return UNKNOWN

    def error_reply(self, err: CommandError, locale: str) -> Reply:
        """The message; then what helps to write the command right, when something does:
        a group's commands for a word it does not know, the usage of the command meant
        (its example when that shows more), nothing after a state error."""
        if isinstance(err, Confirm):
            button = Button(self.catalog.text(locale, err.button), err.retry, "confirm", "primary")
            return Reply(
                title=self.catalog.text(locale, err.key, **err.params),
                buttons=(button,),
                tone=Tone.WARNING,
                visibility=Visibility.EPHEMERAL,
            )
        lines: tuple[Rich, ...] = ()
        spec = self.registry.specs.get(err.command) if err.command else None
        if err.command in self.registry.groups:
            lines = group_names(self.catalog, locale, self.registry, err.command)
        elif spec is not None and err.key not in STATE_ERRORS:
            example = spec.examples[0] if spec.examples[0] != spec.usage else None
            lines = self.catalog.lines(locale, "errors.usage", usage=spec.usage, example=example)
        return Reply(
            title=self.catalog.text(locale, err.key, **err.params),
            lines=lines,
            tone=Tone.ERROR,
            visibility=Visibility.EPHEMERAL,
        )

    # -- parsing and dispatch ---------------------------------------------------

    def route(self, inbound: Inbound, *, _trace: _Trace | None = None) -> Reply:
        """Run one command; raises `CommandError` with nothing changed."""
        words = self._words(inbound.text)
        people = {w.casefold() for w in words if w.startswith("@") and len(w) > 1}
        if len(people) > MAX_PEOPLE:
            raise CommandError("too_many_people", count=len(people), limit=MAX_PEOPLE)
        with self.db.transaction() as session:
            # The claim commits with the command: a crash rolls it back, so the
            # platform's retry is processed; a redelivery after success is not.
            for event_id in filter(None, (inbound.event_id, *inbound.also_ids)):
                if not repo.claim_event(session, platform=inbound.platform, event_id=event_id):
                    raise Duplicate(event_id)
            ctx = self._context(session, inbound)
            if _trace is not None:
                _trace.locale = ctx.locale
            asked = standup_dm.pending(ctx) if inbound.direct else None
            in_words = asked is not None and standup_dm.answers_in_words(ctx, asked)
            if asked is not None and in_words and self.registry.group_of(words[0]) is None:
                if _trace is not None:
                    _trace.command = "standup.dm"
                return standup_dm.answer(ctx, asked, normalize(inbound.text))
            spec, rest = self.resolve(words)
            if asked is not None and spec.id in standup_dm.ASKING_CHANNELS:
                if _trace is not None:
                    _trace.command = spec.id
                return standup_dm.in_asking_channel(ctx, asked, spec, Args(rest))
            if _trace is not None:
                _trace.command = spec.id
            try:
                reply = self._run(ctx, spec, rest)
            except CommandError as err:
                if err.command is None:
                    err.command = spec.id
                if err.key == "errors.denied" and not err.params.get("admins"):
                    self._name_who_may(ctx, err)
                raise
            return self._mirrored(ctx, reply)

    def _words(self, text: str) -> list[str]:
        text = normalize(text)
        if len(text) > MAX_TEXT:
            raise CommandError("too_long", limit=MAX_TEXT)
        words = tokenize(text)
        if words and words[0].startswith("/"):
            words[0] = words[0][1:]
            if not words[0]:
                words.pop(0)
        if not words:
            raise CommandError("empty", command="teambot.help")
        if words[0].lower() in HELP_WORDS:
            words = [UMBRELLA, "help", *words[1:]]
        return words

    def resolve(self, words: list[str]) -> tuple[CommandSpec, list[str]]:
        group = self.registry.group_of(words[0])
        rest = words[1:]
        if group == UMBRELLA and rest and self.registry.group_of(rest[0]) not in (None, UMBRELLA):
            group = self.registry.group_of(rest[0])
            rest = rest[1:]
        if group is None:
            closest = self.registry.closest(words)
            near = closest.id if closest else self.registry.closest_group(words[0])
            raise CommandError("unknown_command", word=words[0], command=near or "teambot.help")
        if rest:
            spec = self.registry.lookup(group, rest[0])
            if spec is not None:
                return spec, rest[1:]
        fallback = self.registry.groups[group].fallback
        name = fallback(rest) if fallback else None
        if name is None:
            if rest:  # the command meant, when one is close; else what the group can do
                closest = self.registry.closest(rest[:1], group=group)
                raise CommandError(
                    "unknown_subcommand",
                    group=group,
                    word=rest[0],
                    command=closest.id if closest else group,
                )
            help_ = self.registry.lookup(UMBRELLA, "help")
            if help_ is not None:  # a bare group: its help
                return help_, [group]
            raise CommandError("missing_subcommand", group=group, command=group)
        return self.registry.specs[f"{group}.{name}"], rest

    def _name_who_may(self, ctx: Ctx, err: CommandError) -> None:
        """A refusal says who can help: the task's people (for a task) and the admins,
        as mentions, a few of each and how many more."""
        task = ctx.task
        roles = None
        if task is not None and task.id is not None:
            roles = repo.raci_of(ctx.session, task_ids=[task.id])[task.id]
        people = who_may(Permission(err.params["need"]), task=task, roles=roles)
        admins = [
            m for m in sorted(repo.admin_ids(ctx.session, project_id=ctx.project_id))
            if m not in people
        ]  # fmt: skip
        named = ctx.people([*people[:MAX_NAMED], *admins[:MAX_NAMED]])
        err.params.update(
            people=[named[m] for m in people[:MAX_NAMED] if m in named],
            people_more=max(0, len(people) - MAX_NAMED),
            admins=[named[m] for m in admins[:MAX_NAMED] if m in named],
            admins_more=max(0, len(admins) - MAX_NAMED),
        )

    def _context(self, session: Session, inbound: Inbound) -> Ctx:
        """Who asks where: one query for a known channel and member; on first use the
        workspace, binding, project and member are created (the first member is admin)."""
        known = repo.find_context(
            session,
            platform=inbound.platform,
            external_id=inbound.workspace_id,
            channel_id=inbound.channel_id,
            user_id=inbound.user_id,
        )
        if known is None:
            known = self._first_use(session, inbound)
        workspace, project, member = known.workspace, known.project, known.member
        is_admin = known.is_admin
        if member is None:
            member = repo.ensure_member(
                session,
                workspace=workspace,
                platform_user_id=inbound.user_id,
                display_name=clean_name(inbound.user_name),
                timezone=inbound.user_timezone,
                locale=inbound.user_locale,
            )
            assert project.id is not None
            is_admin = member.id in repo.admin_ids(session, project_id=project.id)
        else:
            repo.refresh_member(
                member,
                display_name=clean_name(inbound.user_name),
                timezone=inbound.user_timezone,
                locale=inbound.user_locale,
            )
        try:
            ZoneInfo(project.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            project.timezone = "UTC"
        ctx = Ctx(
            session=session,
            inbound=inbound,
            catalog=self.catalog,
            workspace=workspace,
            project=project,
            binding=known.binding,
            member=member,
            locale=pick_locale(project.locale, member.locale, self.defaults.locale),
            now=self.clock(),
            is_admin=is_admin,
            alone_in=None if known.shared else project.id,
        )
        ctx.know(member, workspace.platform)
        return ctx

    def _first_use(self, session: Session, inbound: Inbound) -> repo.Known:
        """The workspace and the channel's binding and project, created as needed."""
        workspace = repo.ensure_workspace(
            session,
            platform=inbound.platform,
            external_id=inbound.workspace_id,
            name=inbound.workspace_name,
        )
        binding, project, created = repo.bind_channel(
            session,
            workspace=workspace,
            channel_id=inbound.channel_id,
            name=inbound.channel_name,
            timezone=self.defaults.timezone,
            locale=None,
        )
        if not created:  # another request bound the channel first: it may be shared
            return repo.Known(workspace, binding, project, None, is_admin=False, shared=True)
        member = repo.ensure_member(
            session,
            workspace=workspace,
            platform_user_id=inbound.user_id,
            display_name=clean_name(inbound.user_name),
            timezone=inbound.user_timezone,
            locale=inbound.user_locale,
        )
        assert project.id is not None and member.id is not None
        repo.add_admin(session, project_id=project.id, member_id=member.id)
        return repo.Known(workspace, binding, project, member, is_admin=True, shared=False)

    def _mirrored(self, ctx: Ctx, reply: Reply) -> Reply:
        """A change announced in this channel is announced in the project's other channels."""
        if reply.visibility is not Visibility.CHANNEL or reply.tone is Tone.ERROR:
            return reply
        assert ctx.binding.id is not None
        # The binding, not ctx.project: `/teambot link <code>` moves it to another project.
        if ctx.alone_in is not None and ctx.binding.project_id == ctx.alone_in:
            return reply  # the project had no other channel when the command started
        others = repo.other_channels(
            ctx.session, project_id=ctx.binding.project_id, binding_id=ctx.binding.id
        )
        mirrors = tuple(
            Mirror(platform=platform, workspace_id=workspace, channel_id=channel)
            for platform, workspace, channel in others
        )
        return replace(reply, mirrors=mirrors) if mirrors else reply

    def _run(self, ctx: Ctx, spec: CommandSpec, rest: list[str]) -> Reply:
        if spec.target is not Target.TASK:
            if spec.permission is not Permission.MEMBER:
                authorize(spec.permission, member_id=ctx.member_id, is_admin=ctx.is_admin)
            return spec.handler(ctx, Args(rest))
        if not rest:
            raise CommandError("missing_key", command=spec.id)
        numbers, rest = self._keys(ctx, spec, rest)
        if rest and not spec.takes_words:
            raise CommandError("only_keys", value=" ".join(rest))
        if len(numbers) == 1:
            return self._on_task(ctx, spec, numbers[0], rest)
        return self._on_each(ctx, spec, numbers, rest)

    def _keys(self, ctx: Ctx, spec: CommandSpec, words: list[str]) -> tuple[list[int], list[str]]:
        """The task numbers the command names (its leading keys; one unless `several`) and
        the words after them. After the first key, a command that takes text counts only
        keys written with their prefix or `#` (`T-13`, `#13`): `block T-1 2 servers down`."""
        prefix = ctx.project.key_prefix
        numbers = [parse_key(words[0], prefix=prefix)]
        at = 1
        while spec.several and at < len(words) and not isinstance(words[at], Quoted):
            match = LOOKS_LIKE_KEY.match(words[at])
            marked = match is not None and (match.group(1) or words[at].startswith("#"))
            if match is None or (spec.takes_words and not marked):
                break
            number = parse_key(words[at], prefix=prefix)  # a wrong prefix is refused
            if number not in numbers:
                numbers.append(number)
            at += 1
        if len(numbers) > MAX_KEYS:
            raise CommandError("too_many_keys", count=len(numbers), limit=MAX_KEYS)
        return numbers, words[at:]

    def _on_task(self, ctx: Ctx, spec: CommandSpec, number: int, rest: list[str]) -> Reply:
        """Load the task (locked, unless the command only reads), authorize, run."""
        task = repo.find_task(
            ctx.session, project_id=ctx.project_id, number=number, lock=not spec.reads_only
        )
        if task is None:
            raise CommandError("unknown_task", key=f"{ctx.project.key_prefix}-{number}")
        assert task.id is not None
        ctx.task = task
        if spec.permission is not Permission.MEMBER:
            roles = repo.raci_of(ctx.session, task_ids=[task.id])[task.id]
            authorize(
                spec.permission,
                member_id=ctx.member_id,
                is_admin=ctx.is_admin,
                task=task,
                roles=roles,
            )
        return spec.handler(ctx, Args(rest))

    def _on_each(self, ctx: Ctx, spec: CommandSpec, numbers: list[int], rest: list[str]) -> Reply:
        """One command on several tasks: each in its own savepoint, so a key that fails
        (unknown, no permission, already in that state) changes nothing and the others
        still act. Rows are locked in key order (two such commands never wait on each
        other in a circle); the reply lists each key as typed."""
        outcomes: dict[int, Reply | CommandError] = {}
        for number in sorted(numbers):
            try:
                with ctx.session.begin_nested():
                    outcomes[number] = self._on_task(ctx, spec, number, rest)
            except CommandError as err:
                outcomes[number] = err
        items: list[Rich] = []
        failures: list[Rich] = []
        notifications: list[Notification] = []
        for number in numbers:
            outcome = outcomes[number]
            if isinstance(outcome, Reply):
                items.append(outcome.title)
                notifications.extend(outcome.notifications)
                continue
            line = ctx.t(
                "task.several_failed_item",
                key=f"{ctx.project.key_prefix}-{number}",
                reason=ctx.t(outcome.key, **outcome.params),
            )
            items.append(line)
            failures.append(line)
        if len(failures) == len(numbers):
            raise CommandError("several_failed", failures=failures)
        return Reply(
            title=ctx.t("task.several", changed=len(numbers) - len(failures), total=len(numbers)),
            items=tuple(items),
            notifications=tuple(notifications),
            visibility=Visibility.CHANNEL,
            tone=Tone.WARNING if failures else Tone.SUCCESS,
        )
