"""What the Slack edge trusts, each decided by one small function.

- `signed_by_slack`: the v0 signature (HMAC-SHA256 of `v0:<timestamp>:<raw body>` with
  the signing secret, compared in constant time) and a 5-minute window, on the bytes as
  they arrived, before anything parses them.
- `Installation.refusal`: a request is for the workspace teambot was installed in (its
  team id, and its Enterprise Grid org when it has one, from `auth.test` at start-up).
- `response_url_allowed`: a `response_url` is followed only to Slack's own hosts (https,
  `*.slack.com`) or to the configured Web API host (what tests point at a fake).
- `well_formed`: a signed body that bolt's middleware can read without raising.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

MAX_SKEW = 300  # seconds: Slack's replay window


def signed_by_slack(
    secret: str, *, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> bool:
    """True when `signature` is Slack's v0 signature of `body` at `timestamp`, and the
    timestamp is within five minutes of `now`."""
    if not timestamp or not signature or not secret:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > MAX_SKEW:
        return False
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    expected = b"v0=" + digest.hexdigest().encode()
    # Header values arrive decoded as latin-1: compare the bytes that were sent.
    return hmac.compare_digest(expected, signature.encode("latin-1", "replace"))


@dataclass(frozen=True)
class Installation:
    """The workspace (and Enterprise Grid org, if any) the bot token belongs to."""

    team_id: str
    enterprise_id: str | None
    bot_user_id: str | None
    bot_id: str | None

    def refusal(self, body: Mapping[str, Any]) -> str | None:
        """Why a request is not for this installation, or None when it is.

        Slash commands name the workspace in `team_id`. Events name it in `team_id` and
        the installation they are delivered to in `authorizations`: in a Slack Connect
        channel `team_id` can be the other organisation's, so either naming us will do.
        Interactivity names the installation in `view.app_installed_team_id`, else
        `team.id`, else `user.team_id` (bolt's order; anything else, `team_id`); the
        person who pressed may belong to another organisation (a shared channel), and
        acts in this workspace's data. A request that names no workspace is refused.
        """
        if body.get("type") == "event_callback":
            claims = [(body.get("team_id"), body.get("enterprise_id"))]
            for grant in _objects(body.get("authorizations")):
                claims.append((grant.get("team_id"), grant.get("enterprise_id")))
            if any(self._ours(team, org) for team, org in claims):
                return None
            return "the event is for another workspace"
        if "command" in body:
            team, org = body.get("team_id"), body.get("enterprise_id")
        else:
            view, user = _object(body.get("view")), _object(body.get("user"))
            named = body.get("team")
            team_obj = _object(named)
            team = (
                view.get("app_installed_team_id")
                or (named if isinstance(named, str) else team_obj.get("id"))
                or user.get("team_id")
                or body.get("team_id")
            )
            org = team_obj.get("enterprise_id") or _object(body.get("enterprise")).get("id")
        if self._ours(team, org):
            return None
        return "the request is for another workspace"

    def _ours(self, team: Any, org: Any) -> bool:
        if team != self.team_id:
            return False
        # A team id is unique across Slack; the org is checked too when both name one.
        named = isinstance(org, str) and bool(org)
        return not (self.enterprise_id and named and org != self.enterprise_id)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> Iterable[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def response_url_allowed(url: str, *, api_url: str) -> URL | None:
    """The URL to post to when `url` is a Slack host (https, `*.slack.com`, default port,
    no credentials) or the configured Web API's own scheme, host and port; else None.

    The URL is parsed once, by the library that will fetch it, so what is checked is
    what is fetched."""
    try:
        target = URL(url)
        api = URL(api_url)
    except (ValueError, TypeError):
        return None
    if not target.is_absolute() or target.user is not None or target.password is not None:
        return None
    host = (target.host or "").lower()
    if target.scheme == "https" and host.endswith(".slack.com") and target.port == 443:
        return target
    if (target.scheme, host, target.port) == (api.scheme, (api.host or "").lower(), api.port):
        return target
    return None


def well_formed(body: Any) -> bool:
    """An object whose parts that bolt's middleware and matchers take for granted are
    of the right type (they raise on anything else, and bolt answers 500)."""
    if not isinstance(body, dict):
        return False
    shapes = {"event": dict, "view": dict, "command": str, "callback_id": str}
    if any(key in body and not isinstance(body[key], kind) for key, kind in shapes.items()):
        return False
    view = body.get("view")
    if view is not None and "callback_id" in view:
        # A workflow step's submission is read from `workflow_step`.
        kind = view.get("type")
        if kind is None or (kind == "workflow_step" and "workflow_step" not in body):
            return False
    if body.get("type") in ("block_actions", "interactive_message") and "actions" in body:
        actions = body["actions"]
        first = actions[0] if isinstance(actions, list) and actions else None
        return isinstance(first, dict) and isinstance(first.get("action_id"), str)
    return True
