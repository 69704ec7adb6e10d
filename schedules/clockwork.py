"""APScheduler 3 behind a thin facade: it only decides *when* to wake the engine.

Every schedule time in the database becomes one cron job with a stable id
(`standup:12:prompt`, `digest:3`, `alerts:5`) and its own time zone, as the kinds
of schedules (commands/schedule_kinds.py) say in their `wakes`; the job
asks the engine to handle whatever is due, and the engine's claims make a
second wake-up (another job, another replica, the re-sync) harmless. A re-sync
job rebuilds the jobs from the database every `resync` seconds — that is how a
changed `/standup config` (on this replica or another) reaches the clock — and
also runs the engine, so a firing the process slept through is still handled.
At start the engine runs first: firings missed while the bot was down are
posted late, or skipped when no longer useful.

A wake waits until each post of its round has been tried once; posts that wait
to be retried go on in the engine, so neither a job nor the re-sync is held up
by a post that keeps failing. The jobs fire by this process's clock; the engine
decides what is due by the database's, so a process whose clock is fast finds
nothing due early, and one whose clock is slow posts at the next re-sync.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from typing import Any

from sqlmodel import Session

from commands.schedule import ScheduleKind, Wake, one_reading
from schedules.engine import Engine

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
SYNC_JOB = "teambot:sync"


def job_specs(session: Session, kinds: tuple[ScheduleKind, ...]) -> dict[str, Wake]:
    """Every kind's wake times by job id. Kinds may share a job (milestone alerts and
    nudges wake once per project: `alerts:<project>`) when they agree on its time."""
    specs: dict[str, Wake] = {}
    with one_reading(session):
        for kind in kinds:
            for job_id, spec in kind.wakes(session).items():
                if specs.setdefault(job_id, spec) != spec:  # a mistake in a kind: the first wins
                    log.error("%s wakes %s at %s, another kind at %s", kind.name, job_id, spec,
                              specs[job_id])  # fmt: skip
    return specs


async def wake(clockwork: Clockwork, job_id: str) -> None:
    """What every cron job runs: an engine round for everything due, until each of its
    posts has been tried once."""
    round_ = await clockwork.engine.start_round()
    outcome = await round_.attempted()
    if outcome.skipped:
        log.info("%s: skipped %s", job_id, outcome.skipped)


class Clockwork:
    def __init__(self, engine: Engine, *, resync: float = RESYNC_SECONDS) -> None:
        self.engine = engine
        self.resync = resync
        self.specs: dict[str, Wake] = {}
        self._scheduler: Any = None

    async def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self._scheduler.start()
        await self.sync()
        self._scheduler.add_job(
            self.sync, IntervalTrigger(seconds=self.resync), id=SYNC_JOB, replace_existing=True
        )

    async def sync(self) -> None:
        """Jobs as the database says, then one engine round."""
        specs = await asyncio.to_thread(self._read_specs)
        self.apply(specs)
        await wake(self, SYNC_JOB)

    def _read_specs(self) -> dict[str, Wake]:
        with self.engine.db.transaction() as session:
            return job_specs(session, tuple(self.engine.kinds.values()))

    def apply(self, specs: dict[str, Wake]) -> None:
        from apscheduler.triggers.cron import CronTrigger

        for job_id in set(self.specs) - set(specs):
            self._scheduler.remove_job(job_id)
        for job_id, spec in specs.items():
            if self.specs.get(job_id) == spec:
                continue
            trigger = CronTrigger(
                hour=spec.at.hour,
                minute=spec.at.minute,
                second=spec.at.second,
                day_of_week=spec.weekday,
                timezone=spec.timezone,
            )
            self._scheduler.add_job(
                wake, trigger, args=(self, job_id), id=job_id, replace_existing=True
            )
        self.specs = dict(specs)

    def next_run(self, job_id: str) -> Any:
        job = self._scheduler.get_job(job_id) if self._scheduler else None
        return job.next_run_time if job else None

    def health(self) -> dict[str, Any]:
        """For a health check, without touching the database: whether the clock runs, and
        the engine's view (`Engine.health`): `skew_seconds` (this process's clock minus
        the database's, measured at the last round), `skew_ok` (within 30 s),
        `last_round_at`, `posts_in_flight`."""
        running = self._scheduler is not None and bool(self._scheduler.running)
        return {"running": running, **self.engine.health()}

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        # A round in progress finishes its posts; those waiting to be retried are given up.
        await self.engine.stop()
