"""`teambot demo`: a scripted tour of what teambot does, on a throw-away database."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.app import build_app
from bot.console import Console, wants_color
from bot.settings import Settings

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
/standup
"""


def run_demo(settings: Settings, *, out: TextIO | None = None) -> int:
    """Run the tour; exit status 1 if any step hit an unexpected error."""
    stream = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="teambot-demo-") as tmp:
        demo_settings = settings.model_copy(
            update={"database_url": f"sqlite:///{Path(tmp) / 'demo.db'}"}
        )
        app = build_app(demo_settings)
        try:
            console = Console(
                router=app.router,
                user="mei",
                channel="launch",
                out=stream,
                color=wants_color(stream),
            )
            for line in TOUR.splitlines():
                if line.startswith("# "):
                    print(console.style.dim(f"\n{line}"), file=stream)
                else:
                    console.run([line], echo=True)
        finally:
            app.close()
    return 1 if app.router.crashes else 0
