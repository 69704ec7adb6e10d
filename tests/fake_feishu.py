"""A fake Feishu Open API on a free loopback port (token, bot info, contacts, messages,
image uploads, card updates, the tenant query).

Like tests/fake_slack.py: an aiohttp server in its own thread that records every
call and can be told to fail the next call of a path (e.g. 429 with
x-ogw-ratelimit-reset, or a Feishu error code), to answer it with a gateway's HTML
page (`html_failure`), or to hang it for some seconds (`hang`). Multipart bodies
(image uploads) are recorded as {field name: bytes}; `images` lists the uploads
answered, each with the image_key handed out.

The messages it holds (`messages`) follow the open platform's rules, as the pages
for message create, card update and ephemeral cards state them:
- every request body with a card (create, update, ephemeral) at most 30 KB, measured
  on the bytes received (else 230025); a text message's at most 150 KB.
- every card is card JSON 2.0 with only the properties each component documents
  (tests/fake_feishu_cards.py); an unknown tag or property answers 230099 "Failed to
  create card content" with ErrCode 200621 and the property's path, HTTP 400. (The
  message API's pages name 230099 for a card Feishu cannot build; the detail codes in
  its `ext` are the card platform's, 200621 being its "parse card json" family. JSON
  2.0 refuses unknown properties where 1.0 ignored them.)
- create: `uuid` at most 50 characters (else 99992402, field validation, HTTP 400);
  the same uuid within an hour answers the first message and sends nothing new.
- update (`PATCH /open-apis/im/v1/messages/:message_id`): only a card this app sent
  and everyone sees (not an ephemeral one), with `"update_multi": true` in its config
  before and after, within 14 days of sending (else 230031), at most 5 updates a
  second per message (else 230020), 30 KB at most (230025). Other refusals answer
  230001 (invalid request parameter), all with HTTP 400.
- ephemeral card: not in a topic group (话题群, `topic_groups`): the page says the API
  supports only conversation-mode groups; its error table could not be read, so the
  fake answers 230001 (invalid request parameter) with HTTP 400. teambot takes any
  refusal of an ephemeral card the same way (it sends one to one instead).
- permissions: the fake grants exactly the permissions the README's Feishu setup
  lists (`readme_permissions`: in the section "## Feishu / Lark", every list line that
  begins with a permission in backticks, e.g. "- `im:resource` (the chart …)"), so the
  README and what the tests run with cannot drift apart. A call whose endpoint needs a
  permission not granted (NEEDS: any one of the set) answers 99991672, HTTP 400,
  "Access denied. One of the following scopes is required: [...]". Tests revoke one
  with `revoke(name)`.
- tenant query (`GET /open-apis/tenant/v2/tenant/query`): needs `tenant:tenant:readonly`;
  `tenant_key` None (the default) stands for that permission revoked: 99991672.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from tests import fake_feishu_cards
from tests.fake_server import ThreadedServer
from tests.fake_trouble import Trouble

BOT_OPEN_ID = "ou_bot0000000000000000000000000000"
IMAGES = "/open-apis/im/v1/images"
MESSAGES = "/open-apis/im/v1/messages"
EPHEMERAL = "/open-apis/ephemeral/v1/send"
TENANT = "/open-apis/tenant/v2/tenant/query"
CONTACT = "/open-apis/contact/v3/users/"
CHATS = "/open-apis/im/v1/chats/"
README = Path(__file__).resolve().parent.parent / "README.md"
SEND = frozenset({"im:message", "im:message:send_as_bot", "im:message:send"})
# (method, path or path prefix ending in "/") -> any one of these permissions. The
# pages of message create, image upload, contact users and the tenant query name
# theirs; the ephemeral card's names none beyond the bot ability, and the fake asks
# for a message-sending one, as for a card update.
NEEDS: dict[tuple[str, str], frozenset[str]] = {
    ("POST", MESSAGES): SEND,
    ("PATCH", MESSAGES + "/"): frozenset({"im:message", "im:message:send_as_bot"}),
    ("POST", IMAGES): frozenset({"im:resource", "im:resource:upload"}),
    ("POST", EPHEMERAL): frozenset({"im:message", "im:message:send_as_bot"}),
    ("GET", CONTACT): frozenset(
        {
            "contact:user.base:readonly",
            "contact:contact.base:readonly",
            "contact:contact:readonly_as_app",
        }
    ),
    ("GET", TENANT): frozenset({"tenant:tenant:readonly"}),
    ("GET", CHATS): frozenset(
        {"im:chat", "im:chat:readonly", "im:chat.group_info:readonly", "im:chat.members:read"}
    ),
}
_PERMISSION_LINE = re.compile(r"\s*(?:[-*]|\d+\.)\s+`([a-z][a-z0-9_.]*(?::[a-z0-9_.]+)+)`")
UUID_MAX = 50
UUID_WINDOW = 3600.0
CARD_MAX_BYTES = 30 * 1024
TEXT_MAX_BYTES = 150 * 1024
UPDATE_WINDOW = 14 * 86400.0
UPDATES_PER_SECOND = 5
# What a gateway in front of the Open API answers when the service behind it is down.
GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n"
    "<center><h1>{status}</h1></center>\r\n</body>\r\n</html>\r\n"
)


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
    text: str | None = None  # a body that is not JSON (sent as text/html), instead of `body`


def html_failure(status: int = 502) -> Failure:
    """A gateway's HTML error page instead of the Open API's JSON."""
    return Failure(
        status, {}, text=GATEWAY_PAGE.format(status=f"{status} {HTTPStatus(status).phrase}")
    )


def readme_permissions(readme: Path = README) -> frozenset[str]:
    """The permissions the README's Feishu setup lists: in the section "## Feishu / Lark",
    each list line ("- ", "* " or "3. ") that begins with a permission in backticks."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## Feishu / Lark\n", 1)[1].split("\n## ", 1)[0]
    found = (_PERMISSION_LINE.match(line) for line in section.splitlines())
    return frozenset(m[1] for m in found if m)


def chat_rate_limited() -> Failure:
    """Feishu's limit of 5 messages a second to one chat or person: HTTP 400, code 230020."""
    return Failure(400, {"code": 230020, "msg": "This operation triggers the frequency limit."})


@dataclass
class Message:
    """A message the fake holds: what was created, and when it was sent and updated."""

    message_id: str
    msg_type: str
    receive_id: str
    content: Any  # decoded JSON
    uuid: str | None
    sent_at: float  # time.time()
    ephemeral: bool = False
    updated_at: list[float] = field(default_factory=list)


class FakeFeishu(ThreadedServer):
    name = "fake-feishu"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.users: dict[str, str] = {}
        self.failures: dict[str, list[Failure]] = {}
        self.images: list[dict[str, Any]] = []  # image_type, image (bytes), image_key
        self._ids = itertools.count(1)
        self.messages: dict[str, Message] = {}
        self._uuids: dict[str, str] = {}  # uuid -> message_id of the message it sent
        self.hangs: dict[str, list[float]] = {}
        self.tenant_key: str | None = None  # set: the app may read its tenant
        self.tenant_name = "teambot tests"
        self.permissions: set[str] = set(readme_permissions())
        self.topic_groups: set[str] = set()  # chat ids of topic groups (话题群)
        # chat id -> (open_id, name, is_bot) of its members; the member list leaves bots out
        self.chat_members: dict[str, list[tuple[str, str, bool]]] = {}
        self.members_page = 2  # the most one page of chat members holds here

    def revoke(self, *permissions: str) -> None:
        """Take permissions away from the app (as if the README had not listed them)."""
        self.permissions.difference_update(permissions)

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
        size = request.content_length or 0
        if request.content_type == "multipart/form-data":
            body: Any = await self._form(request)
        else:
            raw = await request.read()
            size = len(raw)
            body = json.loads(raw) if raw else None
        faulted = await self._chat_trouble(path, body, request)
        if faulted is not None:
            return faulted
        self.calls.append(
            Call(request.method, path, dict(request.query), body, dict(request.headers))
        )
        await self._held(path)
        pending = self.failures.get(path)
        if pending:
            return self._failure(pending.pop(0))
        denied = self._denied(request.method, path)
        if denied is not None:
            return denied
        if path == IMAGES and request.method == "POST":
            return web.json_response(self._image(body))
        routed = self._route(request.method, path, body, size, dict(request.query))
        if routed is not None:
            return routed
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

    # -- slow paths, gateway pages ------------------------------------------------------

    def hang(self, path: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `path` are answered only after `seconds`."""
        self.hangs.setdefault(path, []).extend([seconds] * times)

    async def _held(self, path: str) -> None:
        pending = self.hangs.get(path)
        if pending:
            await asyncio.sleep(pending.pop(0))

    @staticmethod
    def _failure(failure: Failure) -> web.Response:
        if failure.text is not None:
            return web.Response(text=failure.text, status=failure.status,
                                headers=failure.headers, content_type="text/html")  # fmt: skip
        return web.json_response(failure.body, status=failure.status, headers=failure.headers)

    # -- messages, card updates, the tenant -------------------------------------------

    def delivered(self, receive_id: str | None = None) -> list[Message]:
        """The messages that exist (a repeated uuid adds none), in the order they were sent."""
        return [
            m
            for m in self.messages.values()
            if not m.ephemeral and (receive_id is None or m.receive_id == receive_id)
        ]

    def updates(self) -> list[tuple[str, Any]]:
        """(message_id, decoded card) of every update request, answered or refused."""
        return [
            (c.path.rsplit("/", 1)[1], _decoded(c.body))
            for c in self.calls
            if c.method == "PATCH" and c.path.startswith(MESSAGES + "/")
        ]

    def age(self, message_id: str, *, days: float) -> None:
        """Make a message `days` older than it is (the 14-day update window)."""
        self.messages[message_id].sent_at -= days * 86400

    def _denied(self, method: str, path: str) -> web.Response | None:
        """99991672 when the endpoint needs a permission the app was not granted."""
        granted = set(self.permissions)
        if self.tenant_key is None:
            granted.discard("tenant:tenant:readonly")
        for (verb, where), needs in NEEDS.items():
            matches = path.startswith(where) if where.endswith("/") else path == where
            if verb == method and matches and not needs & granted:
                scopes = ", ".join(sorted(needs))
                return _refused(99991672, "Access denied. One of the following scopes is "
                                f"required: [{scopes}].")  # fmt: skip
        return None

    def _route(
        self, method: str, path: str, body: Any, size: int, query: dict[str, str]
    ) -> web.Response | None:
        if method == "POST" and path == MESSAGES:
            return self._create(body, size)
        if method == "POST" and path == EPHEMERAL:
            return self._ephemeral(body, size)
        if method == "PATCH" and path.startswith(MESSAGES + "/"):
            return self._update(path.rsplit("/", 1)[1], body, size)
        if method == "GET" and path == TENANT:
            return self._tenant()
        if method == "GET" and path.startswith(CHATS) and path.endswith("/members"):
            return self._members(path.removeprefix(CHATS).removesuffix("/members"), query)
        return None

    def _members(self, chat_id: str, query: dict[str, str]) -> web.Response:
        """A page of the group's members, as the page "获取群成员列表" describes: bots
        are not listed, `page_token` and `has_more` page on (page_size at most 100)."""
        members = self.chat_members.get(chat_id)
        if members is None:
            return _refused(232011, "operator not in chat")  # the page's "not in the chat"
        if query.get("member_id_type", "open_id") != "open_id":
            return _refused(232001, "invalid member_id_type")
        people = [(open_id, name) for open_id, name, bot in members if not bot]
        start = int(query.get("page_token") or 0)
        end = start + min(int(query.get("page_size") or 20), 100, self.members_page)
        more = end < len(people)
        return _ok({
            "items": [{"member_id_type": "open_id", "member_id": open_id, "name": name,
                       "tenant_key": "t1"} for open_id, name in people[start:end]],
            "page_token": str(end) if more else "", "has_more": more,
            "member_total": len(people),
        })  # fmt: skip

    def _create(self, body: Any, size: int) -> web.Response:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("receive_id", "msg_type", "content")
        ):
            return _refused(99992402, "field validation failed")
        uuid = body.get("uuid")
        if uuid is not None and (not isinstance(uuid, str) or len(uuid) > UUID_MAX):
            return _refused(99992402, "field validation failed")
        limit = TEXT_MAX_BYTES if body["msg_type"] == "text" else CARD_MAX_BYTES
        if size > limit:
            return _too_long()
        try:
            content = json.loads(body["content"])
        except ValueError:
            return _refused(230001, "Your request contains an invalid request parameter.")
        if body["msg_type"] == "interactive" and (bad := _bad_card(content)) is not None:
            return bad
        now = time.time()
        first = self.messages.get(self._uuids.get(uuid or "", ""))
        if first is not None and now - first.sent_at < UUID_WINDOW:
            return _ok({"message_id": first.message_id})
        message = Message(f"om_sent{next(self._ids)}", body["msg_type"], body["receive_id"],
                          content, uuid, now)  # fmt: skip
        self.messages[message.message_id] = message
        if uuid:
            self._uuids[uuid] = message.message_id
        return _ok({"message_id": message.message_id})

    def _ephemeral(self, body: Any, size: int) -> web.Response:
        if not isinstance(body, dict) or not isinstance(body.get("card"), dict):
            return _refused(99992402, "field validation failed")
        if size > CARD_MAX_BYTES:
            return _too_long()
        if body.get("chat_id") in self.topic_groups:
            return _refused(230001, "Your request contains an invalid request parameter: "
                            "topic groups do not support ephemeral cards.")  # fmt: skip
        if (bad := _bad_card(body["card"])) is not None:
            return bad
        message = Message(f"om_sent{next(self._ids)}", "interactive", str(body.get("open_id")),
                          body["card"], None, time.time(), ephemeral=True)  # fmt: skip
        self.messages[message.message_id] = message
        return _ok({"message_id": message.message_id})

    def _update(self, message_id: str, body: Any, size: int) -> web.Response:
        message = self.messages.get(message_id)
        invalid = _refused(230001, "Your request contains an invalid request parameter.")
        if message is None or message.ephemeral or message.msg_type != "interactive":
            return invalid
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return invalid
        if size > CARD_MAX_BYTES:
            return _too_long()
        try:
            card = json.loads(body["content"])
        except ValueError:
            return invalid
        if (bad := _bad_card(card)) is not None:
            return bad
        if not (_shared(message.content) and _shared(card)):
            return invalid
        now = time.time()
        if now - message.sent_at > UPDATE_WINDOW:
            return _refused(230031, "Message can only be modified within 14 days after sending.")
        if len([t for t in message.updated_at if now - t < 1.0]) >= UPDATES_PER_SECOND:
            return _refused(230020, "This operation triggers the frequency limit.")
        message.content = card
        message.updated_at.append(now)
        return _ok({})

    def _tenant(self) -> web.Response:
        if self.tenant_key is None:
            return _refused(99991672, "Access denied. One of the following scopes is required: "
                            "[tenant:tenant:readonly].")  # fmt: skip
        tenant = {"name": self.tenant_name, "tenant_key": self.tenant_key, "tenant_tag": 0}
        return _ok({"tenant": tenant})


def _ok(data: dict[str, Any]) -> web.Response:
    return web.json_response({"code": 0, "msg": "success", "data": data})


def _refused(code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=400)


def _too_long() -> web.Response:
    return _refused(230025, "The length of the message content reaches its limit.")


def _bad_card(card: Any) -> web.Response | None:
    """230099 for a card with a tag or property card JSON 2.0 does not document."""
    where = fake_feishu_cards.problem(card)
    if where is None:
        return None
    return _refused(230099, "Failed to create card content, ext=ErrCode: 200621; "
                    f"ErrMsg: unsupported property; ErrorValue: {where}; ")  # fmt: skip


def _shared(card: Any) -> bool:
    """A card everyone sees the same (`config.update_multi`: true), the only kind updated."""
    config = card.get("config") if isinstance(card, dict) else None
    return isinstance(config, dict) and config.get("update_multi") is True


def _decoded(body: Any) -> Any:
    content = body.get("content") if isinstance(body, dict) else None
    try:
        return json.loads(content) if isinstance(content, str) else None
    except ValueError:
        return None
