"""Every kind of schedule the clock runs, listed once (see commands/schedule.py).

The order is the order in which a round builds what is due of each kind; names are
unique (the engine refuses duplicates).
"""

from __future__ import annotations

from commands import alerts, digest, standup_posts
from commands.schedule import ScheduleKind

KINDS: tuple[ScheduleKind, ...] = (
    standup_posts.PROMPT,
    standup_posts.DM_PROMPT,
    standup_posts.REMINDER,
    standup_posts.SUMMARY,
    standup_posts.LATER,
    digest.KIND,
    alerts.MILESTONE_KIND,
    alerts.NUDGES_KIND,
)
