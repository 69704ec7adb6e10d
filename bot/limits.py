"""Bounds on what a client may take: request bodies, and connections.

Request bodies are capped at 1 MiB, enforced before they are read into memory.
Neither platform sends much: a Slack slash command's text is at most a few
thousand characters, an event carries one message (40,000 characters at most)
and a view submission a few inputs; a Feishu card is at most ~30 KB and a text
message ~150 KB, encrypted as base64 (4/3 of that) inside JSON. 1 MiB is several
times the largest of these and still a small, fixed amount of memory per request.

The ASGI middleware refuses a declared `Content-Length` over the limit with 413
without reading a byte, and reads a body sent without one (chunked) only up to
the limit; a body within it is handed on to the app unchanged.

Connections (`BoundedHttp`, below): a request must arrive within a read time-out,
its head within 64 KiB, and past a cap the connections idle longest are closed.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: 413 for any HTTP request whose body is over `limit` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            await _refuse(send, 400, "bad Content-Length")
            return
        if declared > self.limit:
            log.warning("request refused: %s declares %d bytes", scope.get("path"), declared)
            await _refuse(send, 413, "request body too large")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                log.warning("request refused: %s sent over %d bytes", scope.get("path"), self.limit)
                await _refuse(send, 413, "request body too large")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; 0 when none is declared, None when it is not a number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return 0


async def _refuse(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- connections: how many, and how long a request may take to arrive -----------------------------

# uvicorn bounds neither the time a client takes to send a request nor the size of its head
# (httptools accepts header lines of any length); its keep-alive time-out runs only after a
# response. A connection that sends nothing, or half a request line, stays open for ever, and
# enough of them exhaust the process's open files: accept() fails and every new connection,
# /healthz included, is refused. `BoundedHttp` closes such connections.

READ_TIMEOUT = 5.0  # seconds for a whole request (head and body) to arrive
MAX_HEAD = 64 * 1024  # bytes of request line and headers
MAX_CONNECTIONS = 1000  # open connections; past it the longest idle ones are closed
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept
FD_RESERVE = 200  # open files kept for everything but client connections
# (database pool, outbound HTTP to Slack and Feishu, logs, the listening socket)


class BoundedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read time-out, a head size limit and a cap on
    connections.

    - A request must arrive whole (head and body) within `read_timeout` of the connection
      opening or of its first byte on a kept-alive connection: else 408 and the connection
      is closed. Time spent idle between requests is the keep-alive time-out's business.
    - A head over `max_head` bytes is answered 431 and the connection closed.
    - Past `max_connections`, idle connections (no request in progress: a half-sent head
      counts as idle) are closed to make room, down to nine tenths of the cap: first those
      that never sent a whole request, idle longest first, then kept-alive ones (a proxy's
      or a platform's, which would find theirs closed as they reuse it); when every
      connection has a request in progress, the new one is closed.
    """

    read_timeout: float = READ_TIMEOUT
    max_head: int = MAX_HEAD
    max_connections: int = MAX_CONNECTIONS

    _read_timer: asyncio.TimerHandle | None = None
    _idle_since = 0.0
    _proven = False  # a whole request has arrived on this connection
    _head_bytes = 0
    _in_head = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn: a Transport
        self._idle_since = self.loop.time()
        self._arm()
        if len(self.connections) > self.max_connections:
            _make_room(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head and not self.transport.is_closing():
            log.warning("request refused: its head is over %d bytes", self.max_head)
            self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._proven = True
        self._disarm()
        self._in_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        self._idle_since = self.loop.time()
        super().on_response_complete()

    def idle(self) -> bool:
        """No request in progress: nothing read yet, part of a head, or between requests."""
        return not self.transport.is_closing() and (
            self.cycle is None or self.cycle.response_complete
        )

    def _arm(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app answered already; the rest of the body never came
            return
        self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer `status` with `connection: close` and close; a request waiting for its body
        sees the client gone."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        body = reason.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, body, len(body), body)
        )
        self.transport.close()


_last_cap_warning = 0.0


def _make_room(newcomer: BoundedHttp) -> None:
    """Close idle connections, down to nine tenths of the cap (one sort per tenth of the cap
    accepted, not one per connection): those that never sent a whole request first, idle
    longest first; the newcomer itself when none is idle.

    Connections closed already but not yet gone (their `connection_lost` comes on a later
    turn of the loop) are not counted: a burst of accepts closes only what it must."""
    global _last_cap_warning
    cap = newcomer.max_connections
    live = [c for c in newcomer.connections if not c.transport.is_closing()]
    excess = len(live) - cap
    if excess <= 0:
        return
    idle = [c for c in live if c is not newcomer and isinstance(c, BoundedHttp) and c.idle()]
    oldest = heapq.nsmallest(excess + cap // 10, idle, key=lambda c: (c._proven, c._idle_since))
    for connection in oldest:
        connection.transport.close()
    if not oldest:
        newcomer.transport.close()
    now = newcomer.loop.time()
    if now - _last_cap_warning > 10.0:
        _last_cap_warning = now
        log.warning(
            "%d connections open, over the cap of %d: closed the %d idle longest",
            len(live), cap, len(oldest),
        )  # fmt: skip


def bounded_http(
    *, read_timeout: float = READ_TIMEOUT, max_connections: int = MAX_CONNECTIONS
) -> type[BoundedHttp]:
    """The protocol class for uvicorn's `http` option, with these bounds."""
    return type(
        "BoundedHttp",
        (BoundedHttp,),
        {"read_timeout": read_timeout, "max_connections": max_connections},
    )


def raise_open_file_limit(max_connections: int) -> int:
    """Raise this process's soft open-file limit (often 1024) towards what `max_connections`
    needs, within the hard limit; the number of connections it leaves room for."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if new > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            log.info("open-file limit raised from %d to %d", soft, new)
            soft = new
    if soft == resource.RLIM_INFINITY:
        return max_connections
    room = max(soft - FD_RESERVE, 16)
    if room < max_connections:
        log.warning(
            "open-file limit %d (hard %d) leaves room for %d connections, not %d",
            soft, hard, room, max_connections,
        )  # fmt: skip
    return min(max_connections, room)
