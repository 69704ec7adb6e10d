"""`teambot demo`: a scripted tour of what teambot does, on a throw-away database.

On a terminal it pauses before each section (Enter goes on; `--fast` never
pauses) and ends by saying what to try next."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.app import build_app
from bot.console import Console, wants_color
from bot.settings import Settings
from commands.i18n import Catalog
from commands.types import Post
from schedules.engine import Engine, Send
from storage.types import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Lines starting with ":" switch person or channel; "#" lines are narration.
TOUR = """\
# A project manager opens #launch: the first person in a channel is its admin.
/teambot help task
/milestone add Beta due:+2w
/task add Write the SRS @ana due:+3d prio:high ms:Beta
/task add Fix login timeout @li due:tomorrow kind:bug ms:Beta
/task add Vendor contract review due:fri kind:risk
# RACI: exactly one Accountable per task; setting A again replaces the old one.
/raci T-1 A @mei R @ana C @wang I @zoe
/raci T-2 A @mei
/raci T-2 A @li C @wang I @mei
/raci T-1 A @li A @wang
/raci matrix
/raci check
# Ana works on her task; a stranger may not touch it.
:user ana
/task start T-1
/task comment T-1 First draft is in the shared folder
:user bob
/task done T-1
/task claim T-3
# Blocking tells the C and I people; finishing tells the I people.
:user li
/task block T-2 waiting for the staging database
:user ana
/task done T-1
/task list all
/milestone show Beta
# Mistakes get an answer with usage and change nothing.
/task add Broken due:2026-02-30
/task show T-99
/tsak list
# The same team in Chinese.
:user mei
/teambot lang zh
/task add 准备发布说明 @ana due:下周一
/task list
/raci check
/milestone list
"""


# The simulated week: "@ <date> <hh:mm>" moves the fake clock (Asia/Shanghai)
# there and lets the scheduler post whatever is due by then.
WEEK = """\
# A simulated week of #release on a fake clock, in seconds (Asia/Shanghai time).
:user mei
:channel release
/teambot tz Asia/Shanghai
/standup config time:09:30 days:mon-fri cutoff:10:30 calendar:cn
/digest weekly wed 18:00
/milestone add RC due:2026-09-30
/task add Release checklist @ana ms:RC
/task add Installer signing @li ms:RC
/raci T-1 A @mei
/raci T-2 A @mei
@ 2026-09-28 09:30
:user ana
/standup y: drafted the checklist t: review it with QA b: none
:user li
/standup y: built the installer t: sign it b: waiting for the signing certificate
@ 2026-09-28 10:00
# Mei has not answered: she gets a one-to-one reminder. At 10:30 the summary.
@ 2026-09-28 10:30
# Ana turns Li's blocker into a task with one click (the summary's button).
:user ana
/standup task 2
@ 2026-09-29 09:00
@ 2026-09-29 09:30
:user ana
/standup t: QA sign-off
:user li
/standup away 2026-09-30 2026-09-30
@ 2026-09-29 10:00
@ 2026-09-29 10:30
# Tuesday afternoon: the retrospective: private notes, reveal, votes, actions into tasks.
@ 2026-09-29 16:00
:user mei
/retro start Week 40 template:ssc
:user ana
/retro add continue QA finding the bugs early
/retro add stop ordering the signing certificate late
:user li
/retro add start a release checklist
:user mei
/retro reveal
:user li
/retro vote 2
/retro vote 3
:user mei
/retro discuss
/retro action Order certificates a month ahead @li due:2026-10-09
/retro close
@ 2026-09-30 09:00
@ 2026-09-30 09:30
:user ana
/task done T-1
@ 2026-09-30 10:00
@ 2026-09-30 10:30
@ 2026-09-30 18:00
# 1 October is National Day (国庆节): with calendar:cn no standup on public holidays.
@ 2026-10-01 09:00
@ 2026-10-01 09:30
@ 2026-10-02 09:30
"""


def run_demo(
    settings: Settings,
    *,
    out: TextIO | None = None,
    pause: Callable[[str], str] | None = None,
) -> int:
    """Run the tour and the simulated week; exit status 1 if any step hit an
    unexpected error.

    With `pause` (it shows a prompt and returns what was typed), the demo stops
    before each section until Enter; `q` runs the rest without stopping. It ends by
    saying what to try next."""
    stream = out or sys.stdout
    sections = _sections(TOUR) + _sections(WEEK)
    catalog = Catalog()
    locale = settings.locale
    with tempfile.TemporaryDirectory(prefix="teambot-demo-") as tmp:
        demo_settings = settings.model_copy(
            update={"database_url": f"sqlite:///{Path(tmp) / 'demo.db'}"}
        )
        clock = DemoClock()
        app = build_app(demo_settings, clock=clock)
        chart_dir = Path(tempfile.gettempdir()) / "teambot-demo-charts"
        try:
            console = Console(
                router=app.router,
                user="mei",
                channel="launch",
                out=stream,
                color=wants_color(stream),
                chart_dir=chart_dir,
            )
            engine = Engine(
                db=app.db, catalog=app.router.catalog, send=_printer(console), clock=clock,
                default_locale=app.router.defaults.locale,
            )  # fmt: skip
            tour = len(_sections(TOUR))
            for number, section in enumerate(sections, 1):
                if pause is not None and number > 1:
                    prompt = catalog.text(locale, "demo.section", number=number,
                                          total=len(sections)).plain()  # fmt: skip
                    if pause(console.style.dim(f"\n{prompt} ")).strip().lower() == "q":
                        pause = None
                if number == tour + 1:
                    clock.fake = datetime(2026, 9, 28, 8, 0, tzinfo=SHANGHAI)
                for line in section:
                    if line.startswith("@ "):
                        when = line[2:].strip()
                        clock.fake = datetime.fromisoformat(when).replace(tzinfo=SHANGHAI)
                        print(console.style.bold(f"\n🕘 {when}"), file=stream)
                        asyncio.run(engine.run_due())
                    else:
                        _step(console, line, stream)
        finally:
            app.close()
    print(console.style.bold("\n" + catalog.text(locale, "demo.next_title").plain()), file=stream)
    for step in catalog.lines(locale, "demo.next", directory=str(chart_dir)):
        print("  " + step.plain(), file=stream)
    return 1 if app.router.crashes else 0


def _sections(script: str) -> list[list[str]]:
    """The script cut before each narration line ("# …"): one section per story."""
    out: list[list[str]] = []
    for line in script.splitlines():
        if line.startswith("# ") or not out:
            out.append([])
        out[-1].append(line)
    return out


class DemoClock:
    """Real time for the tour, a fake one for the simulated week."""

    def __init__(self) -> None:
        self.fake: datetime | None = None

    def __call__(self) -> datetime:
        return self.fake.astimezone(UTC) if self.fake else utcnow()


def _step(console: Console, line: str, stream: TextIO) -> None:
    if line.startswith("# "):
        print(console.style.dim(f"\n{line}"), file=stream)
    else:
        console.run([line], echo=True)


def _printer(console: Console) -> Send:
    async def send(post: Post) -> None:
        console.show_post(post)

    return send
