"""What the clock does, independent of how it is woken up.

`Engine.run_due(now)` looks at every schedule in the database, finds the
occurrences due by `now` (and those missed within `LOOKBACK`), and for each one
not yet handled:

1. claims it: inserts a `schedule_run` row keyed by (schedule, occurrence) in
   its own transaction. The unique key means exactly one process, of however
   many replicas and restarts, wins; the others skip it.
2. if it is no longer useful (past its `until`: the standup cutoff, the end of
   the digest's day) the claim is stored as `skipped` and logged, nothing is
   posted; otherwise the posts are built (by `commands`, in one transaction)
   and fanned out concurrently under a bound per platform, marked late when
   posted more than `LATE_AFTER` after their time.
3. each post is tried for at most `Retry.timeout` seconds; one that failed for
   a passing reason (`Undelivered(transient=True)`, or no answer in time) is
   tried again after a growing, jittered wait, with the same idempotency key
   (`Post.key`), while it is still useful (`Post.until`). The run ends as
   `posted` (every post out), `partial` or `failed` (none out).

Only the planning and claiming of a round hold the round lock: the posts of one
round go out while the next round plans, so a post that hangs or waits to be
retried never holds up another schedule's posts.

What is due is decided by one clock per round. With `time_source="database"`
(what `teambot serve` uses) that is the database's clock, read once per round,
so replicas whose own clocks disagree still agree on what is due; the local
clock's distance from it (`skew`) is measured each round and reported.

A crash between the claim and the post loses that post rather than risk
posting it twice. Occurrences are per local day (`occurrence` is the local
date at midnight UTC), so changing a standup's time never posts it twice in
one day. Local times come from `zoneinfo`, so daylight-saving changes move the
UTC instant, never the wall-clock time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from commands.i18n import Catalog
from commands.schedule import Building, Due, Occurrence, ScheduleKind, Scope, one_reading
from commands.schedule_kinds import KINDS
from commands.types import Post
from storage.db import Database
from storage.models import ScheduleRun
from storage.types import utcnow

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=26)
LATE_AFTER = timedelta(minutes=2)
FAN_OUT = 50  # posts in flight per platform
SKIPS_LOGGED = 20  # a long outage of many channels logs a count, not a line each
CLAIM_CHUNK = 2000  # claims per transaction
BUILD_CHUNK = 500  # occurrences claimed and built before their posts start going out
POST_TIMEOUT = 10.0  # seconds one attempt at one post may take
FIRST_WAIT = 1.0  # seconds before the first retry; each further wait doubles ...
LONGEST_WAIT = 300.0  # ... up to this
RECORD_EVERY = 1.0  # seconds between writes of finished runs while a round's posts go out
SKEW_TOLERATED = 30.0  # seconds the local clock may be off the database's before it is reported

Send = Callable[[Post], Awaitable[None]]
TimeSource = Literal["local", "database"]


class Undelivered(Exception):
    """What a sender raises for a post the platform did not take.

    `transient`: worth trying again (a 5xx, no answer, a refused connection, a rate
    limit still in force); `retry_after`: the seconds the platform asked to wait.
    Anything else a sender raises counts as a definite refusal and is not retried.
    """

    def __init__(self, what: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class Retry:
    """How a post is tried: each attempt at most `timeout` seconds; after a passing
    failure the wait is `first` seconds, doubling up to `longest`, each drawn between
    half and all of that (so many posts failing together do not retry together), and
    never shorter than the platform's `retry_after`."""

    timeout: float = POST_TIMEOUT
    first: float = FIRST_WAIT
    longest: float = LONGEST_WAIT

    def wait(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.longest, self.first * 2.0 ** min(attempt - 1, 30))
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), retry_after or 0.0)


@dataclass
class Outcome:
    """What one round did, for logs, metrics and tests."""

    posted: list[str] = field(default_factory=list)  # schedule keys with posts out
    late: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # claimed by someone else
    partial: list[str] = field(default_factory=list)  # some of their posts failed for good
    sent: int = 0
    failed: int = 0  # posts given up
    retries: int = 0  # attempts after the first


@dataclass(frozen=True)
class Firing:
    """One occurrence a round handled, for an observer (metrics)."""

    key: str  # the schedule
    outcome: str  # posted | late | partial | skipped | lost | failed
    lag: float | None  # seconds from its due time to the round; None when lost to another


@dataclass(frozen=True)
class Delivery:
    """A scheduled post tried again (`retry`) or at its end (`posted`, `failed`)."""

    key: str  # the schedule
    platform: str
    outcome: str  # retry | posted | failed


@dataclass(frozen=True)
class ClockReading:
    """The local clock against the database's, measured at the start of a round."""

    skew: float  # seconds the local clock is ahead (negative: behind)


ClockEvent = Firing | Delivery | ClockReading
ClockObserver = Callable[[ClockEvent], None]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def post_key(occurrence: Occurrence, post: Post) -> str:
    """The post's idempotency key: the same for every attempt at one schedule's occurrence
    to one target, and at most 40 characters (Feishu's `uuid` takes 50)."""
    parts = (occurrence.key, occurrence.occurrence.isoformat(), post.target)
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def plan(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    scope: Scope | None = None,
    kinds: tuple[ScheduleKind, ...] = KINDS,
) -> list[Occurrence]:
    """Every occurrence of every schedule of every kind (in `scope`, when given) with its
    time in (start, end]."""
    out: list[Occurrence] = []
    with one_reading(session):
        for kind in kinds:
            out += kind.occurrences(session, start=start, end=end, scope=scope)
    return sorted((o for o in out if start < o.at <= end), key=lambda o: (o.at, o.key))


@dataclass
class _Run:
    occurrence: Occurrence
    run_id: int
    late: bool
    posts: list[Post]
    left: int = 0  # posts not yet out nor given up
    sent: int = 0
    failed: int = 0


class Round:
    """One round's posts on their way. `attempted()` returns once every post has been
    tried once; `finished()` once every post is out or given up and every run is
    recorded, with what the round did."""

    def __init__(self) -> None:
        self.outcome = Outcome()
        self._untried = 0
        self._building = True
        self._attempted = asyncio.Event()
        self._settled: asyncio.Future[None] | None = None

    async def attempted(self) -> Outcome:
        await self._attempted.wait()
        return self.outcome

    async def finished(self) -> Outcome:
        if self._settled is not None:
            await asyncio.shield(self._settled)
        return self.outcome

    def _spawned(self) -> None:
        self._untried += 1

    def _tried(self) -> None:
        self._untried -= 1
        if not self._building and self._untried == 0:
            self._attempted.set()

    def _built(self) -> None:
        self._building = False
        if self._untried == 0:
            self._attempted.set()


class _LoopState:
    """What belongs to the event loop the engine runs on (the demo runs one per step)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.gates: dict[str, asyncio.Semaphore] = {}
        self.stopping = asyncio.Event()
        self.rounds: set[asyncio.Future[None]] = set()


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Engine:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        send: Send,
        default_locale: str = "en",
        clock: Callable[[], datetime] = utcnow,
        time_source: TimeSource = "local",
        fan_out: int = FAN_OUT,
        retry: Retry | None = None,
        name: str | None = None,
        charts: bool = True,
        observer: ClockObserver | None = None,
        scope: Callable[[Session], Scope] | None = None,
        kinds: tuple[ScheduleKind, ...] = KINDS,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.send = send
        self.default_locale = default_locale
        self.clock = clock  # this process's clock (tests inject their own)
        self.time_source = time_source  # whose clock decides what is due
        self.fan_out = fan_out
        self.retry = retry or Retry()
        self.name = name or instance_name()
        self.charts = charts
        self.observer = observer  # told of every occurrence handled, post ended, clock read
        self.scope = scope  # what this clock serves, read each round (None: everything)
        self.kinds = {kind.name: kind for kind in kinds}  # what it runs
        if len(self.kinds) != len(kinds):
            raise ValueError("two schedule kinds of one name")
        self.skew: float | None = None  # seconds the clock is ahead of the database's
        self.skew_measured: datetime | None = None
        self.last_round: datetime | None = None
        self.in_flight = 0  # posts being sent or waiting to be retried
        self._lock = asyncio.Lock()
        self._per_loop: _LoopState | None = None

    def busy(self) -> asyncio.Lock:
        """Held while a round plans, claims and builds: `async with engine.busy()` waits
        for that (its posts may still be going out: `stop()` waits for them)."""
        return self._lock

    def now(self) -> datetime:
        """The time that decides what is due: the clock, set right by the skew measured at
        the last round when the database keeps the time."""
        if self.time_source == "database" and self.skew is not None:
            return self.clock() - timedelta(seconds=self.skew)
        return self.clock()

    def health(self) -> dict[str, Any]:
        """The clock's state for a health check, without touching the database."""
        return {
            "time_source": self.time_source,
            "skew_seconds": None if self.skew is None else round(self.skew, 3),
            "skew_ok": self.skew is None or abs(self.skew) <= SKEW_TOLERATED,
            "skew_measured_at": _iso(self.skew_measured),
            "last_round_at": _iso(self.last_round),
            "posts_in_flight": self.in_flight,
        }

    async def stop(self) -> None:
        """Stop retrying (a post waiting for its next attempt is given up and recorded as
        failed), then wait for the round being planned and for every post in flight."""
        state = self._state()
        state.stopping.set()
        async with self._lock:
            pass
        while state.rounds:
            await asyncio.gather(*list(state.rounds), return_exceptions=True)

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._per_loop is None or self._per_loop.loop is not loop:
            self._per_loop = _LoopState(loop)
        return self._per_loop

    # -- the whole round -------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> Outcome:
        """Handle everything due by `now` (default: `self.now()`, the database's time
        when it keeps the time) that nobody has handled yet, and wait until every post
        is out or given up."""
        return await (await self.start_round(now)).finished()

    async def start_round(self, now: datetime | None = None) -> Round:
        """Plan, claim and build what is due, and start its posts. Occurrences are claimed
        and built in chunks in a worker thread while the posts of the chunks already
        built are being sent: building never waits for sending, nor the reverse. Only
        this part holds the round lock; the posts go on after it returns."""
        state = self._state()
        round_ = Round()
        runs: list[_Run] = []
        posts: list[asyncio.Future[None]] = []
        async with self._lock:  # one round plans at a time in this process
            if now is None:
                now = await self._round_time()
            self.last_round = now
            try:
                due = await asyncio.to_thread(self._unhandled, now)
                if due:
                    await self._pipeline(due, now, round_, runs, posts)
            finally:  # posts already started go on, and are recorded, whatever failed here
                round_._built()
                if runs:
                    settled = asyncio.ensure_future(self._settle(round_, runs, posts, now))
                    round_._settled = settled
                    state.rounds.add(settled)
                    settled.add_done_callback(state.rounds.discard)
            skipped = len(round_.outcome.skipped)
            if skipped > SKIPS_LOGGED:
                log.warning("skipped %d missed firings in all (the first %d are logged above)",
                            skipped, SKIPS_LOGGED)  # fmt: skip
        return round_

    async def _round_time(self) -> datetime:
        if self.time_source == "database":
            skew = await asyncio.to_thread(self._measure_skew)
            self._observe_event(ClockReading(skew))
        return self.now()

    def _measure_skew(self) -> float:
        """Read the database's clock once; the local clock's distance from it, taken at the
        middle of the query, becomes `skew`."""
        dialect = self.db.engine.dialect.name
        query = {
            "postgresql": "SELECT clock_timestamp()",
            "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
        }.get(dialect, "SELECT CURRENT_TIMESTAMP")
        with self.db.engine.connect() as conn:
            before = self.clock()
            value = conn.execute(text(query)).scalar_one()
            after = self.clock()
        database = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        database = database.replace(tzinfo=UTC) if database.tzinfo is None else database
        skew = (before + (after - before) / 2 - database).total_seconds()
        if abs(skew) > SKEW_TOLERATED and (self.skew is None or abs(self.skew) <= SKEW_TOLERATED):
            log.warning("this process's clock is %+.1f s off the database's; the clock goes by "
                        "the database's", skew)  # fmt: skip
        self.skew, self.skew_measured = skew, database
        return skew

    async def _pipeline(
        self,
        due: list[Occurrence],
        now: datetime,
        round_: Round,
        runs: list[_Run],
        posts: list[asyncio.Future[None]],
    ) -> None:
        loop = asyncio.get_running_loop()
        built: asyncio.Queue[list[_Run] | None] = asyncio.Queue()
        outcome = round_.outcome

        def produce() -> None:
            try:
                for start in range(0, len(due), BUILD_CHUNK):
                    chunk = self._claim_and_build(due[start : start + BUILD_CHUNK], now, outcome)
                    loop.call_soon_threadsafe(built.put_nowait, chunk)
            finally:
                loop.call_soon_threadsafe(built.put_nowait, None)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        while (chunk := await built.get()) is not None:
            for run in chunk:
                runs.append(run)
                run.left = len(run.posts)
                for post in run.posts:
                    round_._spawned()
                    posts.append(asyncio.ensure_future(self._post(run, post, round_)))
        await producer

    async def _settle(
        self, round_: Round, runs: list[_Run], posts: list[asyncio.Future[None]], now: datetime
    ) -> None:
        """Record each run once its posts are out or given up: those finished together are
        written together, at most every RECORD_EVERY seconds while others go on."""
        pending: set[asyncio.Future[None]] = set(posts)
        open_runs = runs
        while open_runs:
            if pending:
                _, pending = await asyncio.wait(pending, timeout=RECORD_EVERY)
            ended = [run for run in open_runs if run.left == 0]
            open_runs = [run for run in open_runs if run.left]
            if not ended:
                continue
            statuses = self._results(ended, now, round_.outcome)
            try:
                await asyncio.to_thread(self._finish, statuses)
            except Exception:  # the claims stand: nothing is posted twice
                log.exception("recording %d scheduled runs failed", len(statuses))
            else:
                log.info("recorded %d scheduled runs: %s", len(statuses),
                         dict(Counter(statuses.values())))  # fmt: skip

    def _results(self, runs: list[_Run], now: datetime, outcome: Outcome) -> dict[int, str]:
        statuses = {}
        for run in runs:
            outcome.sent += run.sent
            outcome.failed += run.failed
            key = run.occurrence.key
            status = "posted" if not run.failed else "partial" if run.sent else "failed"
            if status != "failed":
                (outcome.late if run.late else outcome.posted).append(key)
            if status == "partial":
                outcome.partial.append(key)
            if run.late and status != "failed":
                log.info("posted late: %s for %s", key, run.occurrence.day)
            statuses[run.run_id] = status
            self._observe(run.occurrence, "late" if run.late and status == "posted" else status,
                          now)  # fmt: skip
        return statuses

    # -- one post ---------------------------------------------------------------------

    async def _post(self, run: _Run, post: Post, round_: Round) -> None:
        """Try the post until it is out, refused, no longer useful, or the engine stops."""
        state = self._state()
        gate = state.gates.get(post.platform)
        if gate is None:
            gate = state.gates[post.platform] = asyncio.Semaphore(self.fan_out)
        key = run.occurrence.key
        self.in_flight += 1
        attempts = 0
        try:
            while True:
                attempts += 1
                async with gate:
                    try:
                        failure = await self._attempt(post)
                    finally:
                        if attempts == 1:
                            round_._tried()
                if failure is None:
                    run.sent += 1
                    self._observe_event(Delivery(key, post.platform, "posted"))
                    return
                why, transient, after, crash = failure
                wait = self.retry.wait(attempts, after)
                next_try = self.now() + timedelta(seconds=wait)
                useful = post.until is not None and next_try <= post.until
                if transient and useful and not state.stopping.is_set():
                    round_.outcome.retries += 1
                    self._observe_event(Delivery(key, post.platform, "retry"))
                    log.info("post to %s (%s) failed (%s); trying again in %.1f s",
                             post.target, key, why, wait)  # fmt: skip
                    await self._pause(state, wait)
                    if not state.stopping.is_set():
                        continue
                    why = f"{why}; stopped before trying again"
                elif transient and not useful:
                    why = f"{why}; no longer useful after {_iso(post.until)}"
                run.failed += 1
                self._observe_event(Delivery(key, post.platform, "failed"))
                log.error("post failed: %s (%s for %s) after %d attempt(s): %s",
                          post.target, key, run.occurrence.day, attempts, why,
                          exc_info=crash)  # fmt: skip
                return
        finally:
            self.in_flight -= 1
            run.left -= 1

    async def _attempt(
        self, post: Post
    ) -> tuple[str, bool, float | None, BaseException | None] | None:
        """One attempt at a post: None when it is out, else (why, transient, retry_after,
        the exception when it was not one a sender means to raise)."""
        try:
            async with asyncio.timeout(self.retry.timeout):
                await self.send(post)
        except Undelivered as err:
            return err.what, err.transient, err.retry_after, None
        except TimeoutError:
            return f"no answer within {self.retry.timeout:g} s", True, None, None
        except Exception as err:
            return type(err).__name__, False, None, err
        return None

    @staticmethod
    async def _pause(state: _LoopState, seconds: float) -> None:
        """Wait, or less when the engine stops."""
        try:
            async with asyncio.timeout(seconds):
                await state.stopping.wait()
        except TimeoutError:
            pass

    # -- observing --------------------------------------------------------------------

    def _observe(self, occurrence: Occurrence, outcome: str, now: datetime | None) -> None:
        lag = None if now is None else (now - occurrence.at).total_seconds()
        self._observe_event(Firing(occurrence.key, outcome, lag))

    def _observe_event(self, event: ClockEvent) -> None:
        if self.observer is None:
            return
        try:
            self.observer(event)
        except Exception:
            log.exception("the clock's observer failed")

    def _unhandled(self, now: datetime) -> list[Occurrence]:
        with self.db.transaction() as session:
            scope = None if self.scope is None else self.scope(session)
            due = plan(
                session,
                start=now - LOOKBACK,
                end=now,
                scope=scope,
                kinds=tuple(self.kinds.values()),
            )
            if not due:
                return []
            days = [o.occurrence for o in due]
            done = set(
                session.exec(
                    select(ScheduleRun.schedule_key, ScheduleRun.occurrence).where(
                        col(ScheduleRun.occurrence) >= min(days),
                        col(ScheduleRun.occurrence) <= max(days),
                    )
                ).all()
            )
        todo = [o for o in due if (o.key, o.occurrence) not in done]
        # What is still useful goes first, so its posts start at once; the claims that
        # only record skipped firings follow.
        return sorted(todo, key=lambda o: (now > o.until, o.at, o.key))

    def _claim_and_build(
        self, due: list[Occurrence], now: datetime, outcome: Outcome
    ) -> list[_Run]:
        won = self._claim_all(due, now)
        runs: list[_Run] = []
        batches: dict[str, list[tuple[Due, int]]] = {}
        for occurrence in due:
            run_id = won.get((occurrence.key, occurrence.occurrence))
            if run_id is None:
                outcome.lost.append(occurrence.key)
                self._observe(occurrence, "lost", None)
                continue
            late = now - occurrence.at > LATE_AFTER
            if now > occurrence.until:
                outcome.skipped.append(occurrence.key)
                self._observe(occurrence, "skipped", now)
                if len(outcome.skipped) <= SKIPS_LOGGED:
                    log.warning(
                        "skipped a missed firing: %s for %s was due %s, useful until %s",
                        occurrence.key,
                        occurrence.day,
                        occurrence.at.isoformat(),
                        occurrence.until.isoformat(),
                    )
                continue
            kind = self.kinds[occurrence.kind]
            if kind.batched:
                batches.setdefault(kind.name, []).append((Due(occurrence, late), run_id))
                continue
            runs += self._build(kind, [(Due(occurrence, late), run_id)], now, outcome)
        built = []
        for name, batch in batches.items():
            built += self._build(self.kinds[name], batch, now, outcome)
        return built + runs

    def _build(
        self, kind: ScheduleKind, due: list[tuple[Due, int]], now: datetime, outcome: Outcome
    ) -> list[_Run]:
        """The runs of claimed occurrences of one kind, their posts built in one transaction
        and keyed; when building fails, each of them is recorded as failed."""
        building = Building(self.catalog, now, self.default_locale, self.charts)
        try:
            with self.db.transaction() as session:
                posts = kind.posts(session, building, [d for d, _ in due])
            if len(posts) != len(due):
                raise ValueError(f"{kind.name} built {len(posts)} runs for {len(due)}")
        except Exception:
            first = due[0][0].occurrence
            more = f" (and {len(due) - 1} more of its kind)" if len(due) > 1 else ""
            log.exception("building %s for %s failed%s", first.key, first.day, more)
            for d, _ in due:
                outcome.failed += 1
                self._observe(d.occurrence, "failed", now)
            self._finish({run_id: "failed" for _, run_id in due})
            return []
        return [
            _Run(
                d.occurrence,
                run_id,
                d.late,
                [
                    replace(post, key=post_key(d.occurrence, post), until=d.occurrence.until)
                    for post in built
                ],
            )
            for (d, run_id), built in zip(due, posts, strict=True)
        ]

    def _claim_all(self, due: list[Occurrence], now: datetime) -> dict[tuple[str, datetime], int]:
        """Insert the claims, many per statement; the unique key lets exactly one process
        win each. Returns the run ids this process won. Those no longer useful are
        claimed as `skipped`, so no one posts them later either."""
        rows = [
            {
                "schedule_key": o.key,
                "occurrence": o.occurrence,
                "claimed_by": self.name,
                "claimed_at": now,
                "status": "claimed" if now <= o.until else "skipped",
                "late": now - o.at > LATE_AFTER,
                "finished_at": None if now <= o.until else now,
            }
            for o in due
        ]
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = self.db.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = ScheduleRun.__table__  # type: ignore[attr-defined]
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["schedule_key", "occurrence"])
            .returning(table.c.id, table.c.schedule_key, table.c.occurrence)
        )
        won: dict[tuple[str, datetime], int] = {}
        for start in range(0, len(rows), CLAIM_CHUNK):
            with self.db.transaction() as session:
                result = session.connection().execute(statement, rows[start : start + CLAIM_CHUNK])
                for run_id, key, occurrence in result:
                    won[(key, occurrence)] = run_id
        return won

    def _finish(self, statuses: dict[int, str]) -> None:
        by_status: dict[str, list[int]] = {}
        for run_id, status in statuses.items():
            by_status.setdefault(status, []).append(run_id)
        finished = self.now()
        with self.db.transaction() as session:
            for status, ids in by_status.items():
                for start in range(0, len(ids), CLAIM_CHUNK):
                    session.execute(
                        update(ScheduleRun)
                        .where(col(ScheduleRun.id).in_(ids[start : start + CLAIM_CHUNK]))
                        .values(status=status, finished_at=finished)
                    )
