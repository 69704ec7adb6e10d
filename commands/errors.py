"""The one kind of error a person is shown."""

from __future__ import annotations

from typing import Any


class CommandError(Exception):
    """An expected failure: bad input, unknown key, missing permission.

    `key` names a message macro (`errors.<name>` unless it has a dot) and
    `params` fills it. `command` is the spec whose usage and example go with
    the message; the router fills it in when the handler did not.
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
