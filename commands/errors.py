"""The one kind of error a person is shown."""

from __future__ import annotations

from typing import Any

# Errors about the state of things (a key that names no task, a refusal, a retro that is
# not open, a code that expired), not about how the command was written: repeating its
# usage would add nothing, so the message stands alone.
STATE_ERRORS = frozenset(
    f"errors.{key}"
    for key in (
        "unknown_task",
        "unknown_milestone",
        "unknown_person",
        "unknown_help",
        "denied",
        "already",
        "already_r",
        "claimed_by",
        "not_done",
        "too_long",
        "too_many_people",
        "milestone_exists",
        "milestone_already_done",
        "raci_unchanged",
        "last_admin",
        "admin_unchanged",
        "link_unknown",
        "link_wrong_kind",
        "link_used",
        "link_expired",
        "link_same_project",
        "link_has_work",
        "link_needs_admin",
        "link_self",
        "link_same_workspace",
        "link_already_one",
        "standup_not_configured",
        "standup_no_meeting",
        "standup_closed",
        "standup_blocker_task",
        "standup_unknown_report",
        "standup_no_question",
        "standup_later_too_late",
        "standup_later_answered",
        "away_none_on",
        "away_past",
        "away_past_cancel",
        "retro_already_open",
        "retro_none_open",
        "retro_unknown_note",
        "retro_voted_twice",
        "retro_no_votes_left",
        "retro_close_denied",
        "retro_facilitator_only",
        "retro_wrong_phase",
        "retro_not_voted",
        "retro_not_action",
        "retro_action_in_group",
        "retro_not_yours",
        "retro_anonymous_author",
        "retro_ownerless",
        "kpi_no_target",
        "digest_not_configured",
    )
)


class CommandError(Exception):
    """An expected failure: bad input, unknown key, missing permission.

    `key` names a message macro (`errors.<name>` unless it has a dot) and
    `params` fills it. `command` is the spec whose usage and example go with
    the message (or a group, whose commands are listed instead); the router fills
    it in when the handler did not. Keys in `STATE_ERRORS` show no usage.
    """

    def __init__(self, key: str, /, *, command: str | None = None, **params: Any) -> None:
        super().__init__(key)
        self.key = key if "." in key else f"errors.{key}"
        self.params = params
        self.command = command

    def __repr__(self) -> str:
        return f"CommandError({self.key!r}, command={self.command!r}, params={self.params!r})"


class Confirm(CommandError):
    """Not a mistake but worth a second look (a due date in the past): nothing is changed,
    and the answer offers `retry` (the command with `!` at its end) as a button labelled by
    the message `button`."""

    def __init__(self, key: str, /, *, retry: str, button: str, **params: Any) -> None:
        super().__init__(key, retry=retry, **params)
        self.retry = retry
        self.button = button
