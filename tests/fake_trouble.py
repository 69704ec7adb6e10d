"""Trouble in one place on a fake platform: answers that fail, and calls that hang.

The fakes (tests/fake_slack.py, tests/fake_feishu.py) ask `meet()` before taking a
message to a channel or chat; it holds the call while that place hangs, and hands
out the failures queued for it, one per call.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Page:
    """A raw answer: a status and a body that need not be JSON (a gateway's error page)."""

    status: int
    text: str = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    content_type: str = "text/html"


@dataclass
class Answer:
    """A JSON answer with a status (and headers: `Retry-After`, say)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Trouble:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop  # the fake's own loop
        self._failures: dict[str, list[Answer | Page]] = {}
        self._hangs: dict[str, float] = {}
        self._released = asyncio.Event()  # waited on and set on the fake's loop only
        self.abandoned: list[str] = []  # held calls whose client gave up: never taken

    def fail(self, place: str, *answers: Answer | Page) -> None:
        self._failures.setdefault(place, []).extend(answers)

    def hang(self, place: str, seconds: float) -> None:
        self._hangs[place] = seconds

    def release(self) -> None:
        """Answer the held calls now, and hold no more."""
        self._hangs.clear()
        self._loop.call_soon_threadsafe(self._released.set)

    async def meet(self, place: str, request: web.Request) -> web.Response | None:
        """None to go on as usual; else the answer to give instead. A call held while its
        client gave up is answered into the void and recorded in `abandoned`."""
        hang = self._hangs.get(place)
        if hang is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), hang)
            if request.transport is None or request.transport.is_closing():
                self.abandoned.append(place)
                return web.Response(status=499)
        pending = self._failures.get(place)
        if not pending:
            return None
        answer = pending.pop(0)
        if isinstance(answer, Page):
            return web.Response(
                status=answer.status, text=answer.text, content_type=answer.content_type
            )
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)
