"""A fake Feishu Open API on a free loopback port (token, bot info, contacts, messages,
image uploads).

Like tests/fake_slack.py: an aiohttp server in its own thread that records every
call and can be told to fail the next call of a path (e.g. 429 with
x-ogw-ratelimit-reset, or a Feishu error code). Multipart bodies (image uploads)
are recorded as {field name: bytes}; `images` lists the uploads answered, each
with the image_key handed out.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fake_server import ThreadedServer
from tests.fake_trouble import Trouble

BOT_OPEN_ID = "ou_bot0000000000000000000000000000"
IMAGES = "/open-apis/im/v1/images"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeFeishu(ThreadedServer):
    name = "fake-feishu"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.users: dict[str, str] = {}
        self.failures: dict[str, list[Failure]] = {}
        self.images: list[dict[str, Any]] = []  # image_type, image (bytes), image_key
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{path:.*}", self._handle)

    def fail_next(self, path: str, failure: Failure) -> None:
        self.failures.setdefault(path, []).append(failure)

    def sent(self, path: str = "/open-apis/im/v1/messages") -> list[dict[str, Any]]:
        """Bodies posted to a path; message `content` is decoded from its JSON string."""
        out = []
        for call in self.calls:
            if call.path == path and call.method == "POST":
                body = dict(call.body)
                if isinstance(body.get("content"), str):
                    body["content"] = json.loads(body["content"])
                out.append({"query": call.query, **body})
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        if request.content_type == "multipart/form-data":
            body: Any = await self._form(request)
        else:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        faulted = await self._chat_trouble(path, body, request)
        if faulted is not None:
            return faulted
        self.calls.append(
            Call(request.method, path, dict(request.query), body, dict(request.headers))
        )
        pending = self.failures.get(path)
        if pending:
            failure = pending.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if path == IMAGES and request.method == "POST":
            return web.json_response(self._image(body))
        return web.json_response(self._answer(path))

    # -- one chat's trouble (the clock's tests) ------------------------------------------

    @property
    def trouble(self) -> Trouble:
        """Failures and hangs of message creation for one receive_id: `trouble.fail(chat,
        *answers)`, `trouble.hang(chat, seconds)`, `trouble.release()`. A failed call is
        recorded in `failed`, not in `calls`; a held one in `calls` once it is answered."""
        if not hasattr(self, "_trouble"):
            self._trouble = Trouble(self._loop)
            self.failed: list[Call] = []
        return self._trouble

    async def _chat_trouble(
        self, path: str, body: Any, request: web.Request
    ) -> web.Response | None:
        if path != "/open-apis/im/v1/messages" or not hasattr(self, "_trouble"):
            return None
        receive_id = str(body.get("receive_id", "")) if isinstance(body, dict) else ""
        answer = await self._trouble.meet(receive_id, request)
        if answer is not None and answer.status != 499:
            self.failed.append(
                Call(request.method, path, dict(request.query), body, dict(request.headers))
            )
        return answer

    @staticmethod
    async def _form(request: web.Request) -> dict[str, bytes]:
        """Every part as raw bytes (the SDK sends the image without a file name)."""
        form: dict[str, bytes] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader) and part.name
            form[part.name] = await part.read()
        return form

    def _image(self, form: Any) -> dict[str, Any]:
        if (
            not isinstance(form, dict)
            or form.get("image_type") != b"message"
            or not form.get("image")
        ):
            return {"code": 234001, "msg": "Invalid request param."}
        key = f"img_v3_fake{next(self._ids)}"
        self.images.append({"image_type": "message", "image": form["image"], "image_key": key})
        return {"code": 0, "msg": "ok", "data": {"image_key": key}}

    def _answer(self, path: str) -> dict[str, Any]:
        if path == "/open-apis/auth/v3/tenant_access_token/internal":
            return {"code": 0, "msg": "ok", "tenant_access_token": "t-fake-token", "expire": 7200}
        if path == "/open-apis/bot/v3/info":
            return {"code": 0, "msg": "ok", "bot": {"open_id": BOT_OPEN_ID, "app_name": "teambot"}}
        if path.startswith("/open-apis/contact/v3/users/"):
            name = self.users.get(path.rsplit("/", 1)[1])
            if name is None:
                return {"code": 41050, "msg": "no user authority"}
            return {"code": 0, "msg": "ok", "data": {"user": {"name": name}}}
        if path in ("/open-apis/im/v1/messages", "/open-apis/ephemeral/v1/send"):
            return {"code": 0, "msg": "ok", "data": {"message_id": f"om_sent{next(self._ids)}"}}
        return {"code": 404, "msg": f"unknown path {path}"}
