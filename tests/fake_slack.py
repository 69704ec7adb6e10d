"""A fake Slack Web API (and Socket Mode server) on a free loopback port.

It runs an aiohttp server in its own thread and event loop, records every
call it receives (method, query/form/JSON arguments, headers), answers like
Slack, and can be told to fail the next call of a method (e.g. 429 with
Retry-After). Socket Mode: `apps.connections.open` hands out a WebSocket URL
on the same server; `push()` sends an envelope to the connected client and
`acks` collects what the client answers.

Misbehaving (for the edge's tests): `hang(method, seconds)` holds every call of a
method before answering it; `answer_raw(method, status, text)` answers the next call
with a body that is not JSON (an HTML 503 from a proxy, say). `auth.test` is strict:
it refuses a call without a bot token (`not_authed`) or with a token that is not one
(`invalid_auth`), and answers with the fake's `team_id` (and `enterprise_id`, if set).
Requests to any other path are recorded in `strays` and answered 404: a test can
assert that nothing was sent to a fake that stands for a foreign host.

File uploads (files_upload_v2): `files.getUploadURLExternal` hands out an upload
URL on the same server, the upload there is recorded (fail it with
`fail_next(UPLOAD, ...)`), and `files.completeUploadExternal` shares the file
into a channel: `files` lists what was shared, with the bytes received.

Strict, like the real Slack (tests/slack_contract.py): every message (chat.*, a
`response_url` body, a Socket Mode ack's payload) and every view is validated with
slack_sdk's models and Slack's limits in UTF-16 code units, and refused the way Slack
refuses it (`invalid_blocks`, `invalid_arguments`, `invalid_attachments`, `no_text`,
`msg_too_long`; a response_url answers HTTP 400 with the code). The bot holds exactly
the scopes of the manifest (`bot.slack.manifest.SCOPES`); `revoke(scope)` takes one
away and a method that needs it answers `missing_scope` with `needed` and `provided`.
Every refusal is kept in `refusals`; `stop()` fails the test when any is left there, so
a test that provokes one takes it out (`take_refusals()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from bot.slack.manifest import SCOPES
from tests.fake_server import ThreadedServer
from tests.fake_trouble import Trouble
from tests.slack_contract import SCOPE_OF, Refusal, check_call, check_message

UPLOAD = "upload"  # the method name under which the upload URL's calls are recorded


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    status: int = 200  # what the fake answered


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack(ThreadedServer):
    name = "fake-slack"

    def __init__(
        self, *, bot_user_id: str = "W111", team_id: str = "T111", enterprise_id: str | None = None
    ) -> None:
        super().__init__()
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.enterprise_id = enterprise_id
        self.hangs: dict[str, float] = {}  # method -> seconds each call is held
        self.raw_answers: dict[str, list[tuple[int, str, str]]] = {}  # status, body, type
        self.strays: list[tuple[str, str]] = []  # (HTTP method, path) of unknown routes
        self._released: asyncio.Event | None = None
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (response_url path, payload)
        self.users: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}  # channel id -> member ids, bots included
        self.members_page = 2  # the most conversations.members answers in one page
        self.failures: dict[str, list[Failure]] = {}
        self.periodic: dict[str, tuple[int, Failure]] = {}
        self.counts: dict[str, int] = {}
        self.latency = 0.0  # seconds each Web API call takes (benchmarks set it)
        self.acks: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> filename, length, alt, bytes
        self.files: list[dict[str, Any]] = []  # shared files: the upload plus channel, title
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._ws_ready = threading.Event()
        self.scopes: set[str] = set(SCOPES)
        self.refusals: list[tuple[str, Refusal]] = []  # (method or "response_url", why)

    # -- control from tests --------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def add_user(
        self, user_id: str, name: str, *, tz: str = "UTC", locale: str = "en-US",
        is_bot: bool = False, deleted: bool = False,
    ) -> None:  # fmt: skip
        self.users[user_id] = {
            "id": user_id, "name": name.lower(), "tz": tz, "locale": locale,
            "is_bot": is_bot, "deleted": deleted,
            "profile": {"display_name": name, "real_name": name.title()},
        }  # fmt: skip

    def fail_next(self, method: str, failure: Failure) -> None:
        self.failures.setdefault(method, []).append(failure)

    def fail_every(self, method: str, n: int, failure: Failure) -> None:
        """Answer every n-th call of the method with the failure (a rate limit, say)."""
        self.periodic[method] = (n, failure)

    def hang(self, method: str, seconds: float) -> None:
        """Hold every call of the method for `seconds` (released early when the fake stops)."""
        self.hangs[method] = seconds

    def answer_raw(
        self, method: str, status: int, text: str, *, content_type: str = "text/html"
    ) -> None:
        """Answer the next call of the method with a body that is not Slack's JSON."""
        self.raw_answers.setdefault(method, []).append((status, text, content_type))

    def revoke(self, scope: str) -> None:
        """The app loses a scope (a manifest that lacks it, an admin that removed it)."""
        self.scopes.discard(scope)

    def take_refusals(self) -> list[tuple[str, Refusal]]:
        """What the fake refused so far, handed to the test (and forgotten)."""
        taken, self.refusals[:] = list(self.refusals), []
        return taken

    def stop(self) -> None:
        released = self._released
        if released is not None:
            self._loop.call_soon_threadsafe(released.set)
        super().stop()
        left = self.take_refusals()
        assert not left, f"the strict fake Slack refused what the real one would: {left}"

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to the connected client."""
        assert self._ws_ready.wait(10), "no Socket Mode client connected"
        ws = self._ws
        assert ws is not None
        asyncio.run_coroutine_threadsafe(ws.send_str(json.dumps(envelope)), self._loop).result(10)

    # -- the server --------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{hook}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._socket)
        app.router.add_route("*", "/{path:.*}", self._stray)

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                args.update(dict(parse_qsl(raw.decode())))
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        faulted = await self._channel_trouble(method, args, request)
        if faulted is not None:
            return faulted
        if self.latency:
            await asyncio.sleep(self.latency)
        call = Call(method, args, dict(request.headers))
        self.calls.append(call)
        self.counts[method] = count = self.counts.get(method, 0) + 1
        odd = await self._misbehave(method, request)
        if odd is not None:
            call.status = odd.status
            return odd
        pending = self.failures.get(method)
        failure = pending.pop(0) if pending else None
        every = self.periodic.get(method)
        if failure is None and every is not None and count % every[0] == 0:
            failure = every[1]
        if failure is not None:
            call.status = failure.status
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        refused = self._refusal(method, args)
        if refused is not None:
            return web.json_response(refused)
        return web.json_response(self._answer(method, args))

    def _refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's answer to a call it refuses: a missing scope, or contents it does not take."""
        needed = SCOPE_OF.get(method)
        if needed is not None and needed not in self.scopes:
            self.refusals.append((method, Refusal("missing_scope", f"needs {needed}")))
            return {"ok": False, "error": "missing_scope", "needed": needed,
                    "provided": ",".join(sorted(self.scopes))}  # fmt: skip
        refusal = check_call(method, args)
        if refusal is None:
            return None
        self.refusals.append((method, refusal))
        return {"ok": False, "error": refusal.error}

    async def _misbehave(self, method: str, request: web.Request) -> web.Response | None:
        """A hang, a raw (non-JSON) answer, or auth.test refusing a missing or bad token."""
        seconds = self.hangs.get(method)
        if seconds:
            if self._released is None:
                self._released = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), seconds)
        raw = self.raw_answers.get(method)
        if raw:
            status, text, content_type = raw.pop(0)
            return web.Response(
                status=status, body=text.encode(), headers={"Content-Type": content_type}
            )
        if method == "auth.test":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not token:
                return web.json_response({"ok": False, "error": "not_authed"})
            if not token.startswith("xoxb-"):
                return web.json_response({"ok": False, "error": "invalid_auth"})
        return None

    async def _stray(self, request: web.Request) -> web.Response:
        self.strays.append((request.method, request.path))
        return web.Response(status=404, text="not found")

    # -- one channel's trouble (the clock's tests) --------------------------------------

    @property
    def trouble(self) -> Trouble:
        """Failures and hangs of chat.postMessage for one channel: `trouble.fail(channel,
        *answers)`, `trouble.hang(channel, seconds)`, `trouble.release()`."""
        if not hasattr(self, "_trouble"):
            self._trouble = Trouble(self._loop)
        return self._trouble

    async def _channel_trouble(
        self, method: str, args: dict[str, Any], request: web.Request
    ) -> web.Response | None:
        if method != "chat.postMessage" or not hasattr(self, "_trouble"):
            return None
        answer = await self._trouble.meet(str(args.get("channel", "")), request)
        if answer is not None and answer.status != 499:
            self.calls.append(Call(method, args, dict(request.headers), status=answer.status))
        return answer

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        if method == "auth.test":
            return {"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "teambot",
                    "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": "B111",
                    **({"enterprise_id": self.enterprise_id} if self.enterprise_id else {})}  # fmt: skip
        if method == "users.info":
            user = self.users.get(args.get("user", ""))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.members":
            return self._members(args)
        if method == "chat.postMessage":
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V1"}}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_ids):06d}"
            self.uploads[file_id] = {
                "filename": args.get("filename"), "length": int(args.get("length") or 0),
                "alt_txt": args.get("alt_txt"), "content": None,
            }  # fmt: skip
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            return self._complete(args)
        return {"ok": False, "error": "unknown_method"}

    def _members(self, args: dict[str, Any]) -> dict[str, Any]:
        """A page of a channel's member ids (bots and deactivated accounts included, as
        Slack lists them); the page size is the smaller of `limit` and `members_page`, and
        `response_metadata.next_cursor` is "" on the last page."""
        members = self.members.get(str(args.get("channel", "")))
        if members is None:
            return {"ok": False, "error": "channel_not_found"}
        start = int(args.get("cursor") or 0)
        size = min(int(args.get("limit") or 100), self.members_page)
        end = start + size
        return {"ok": True, "members": members[start:end],
                "response_metadata": {"next_cursor": str(end) if end < len(members) else ""}}  # fmt: skip

    def _complete(self, args: dict[str, Any]) -> dict[str, Any]:
        shared = []
        for item in json.loads(args.get("files") or "[]"):
            upload = self.uploads.get(item.get("id", ""))
            if upload is None or upload["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            self.files.append({
                "id": item["id"], "title": item.get("title"), **upload,
                "channel": args.get("channel_id"), "initial_comment": args.get("initial_comment"),
                "thread_ts": args.get("thread_ts"),
            })  # fmt: skip
            shared.append(
                {"id": item["id"], "name": upload["filename"], "title": item.get("title")}
            )
        return {"ok": True, "files": shared}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: the file's bytes, answered in plain text as Slack does."""
        file_id = request.match_info["file_id"]
        content = await request.read()
        self.calls.append(Call(UPLOAD, {"file_id": file_id, "size": len(content)},
                               dict(request.headers)))  # fmt: skip
        pending = self.failures.get(UPLOAD)
        if pending:
            failure = pending.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if file_id not in self.uploads:
            return web.Response(status=404, text="unknown upload")
        self.uploads[file_id]["content"] = content
        return web.Response(text=f"OK - {len(content)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        """Slack's answer to a response_url: "ok", or HTTP 400 with the error's code."""
        try:
            payload = json.loads(await request.read())
        except ValueError:
            payload = None
        refusal = check_message(payload) if isinstance(payload, dict) else None
        if refusal is not None or not isinstance(payload, dict):
            refusal = refusal or Refusal("invalid_payload", "not a JSON object")
            self.refusals.append(("response_url", refusal))
            return web.Response(status=400, text=refusal.error)
        self.responses.append((request.match_info["hook"], payload))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._ws_ready.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                ack = json.loads(message.data)
                self.acks.append(ack)
                payload = ack.get("payload") if isinstance(ack, dict) else None
                # A slash command's answer in its ack is a message like any other.
                if isinstance(payload, dict) and ("blocks" in payload or "text" in payload):
                    refusal = check_message(payload)
                    if refusal is not None:
                        self.refusals.append(("socket_ack", refusal))
        return ws
