"""The neutral message model: what adapters hand in and what the core hands back.

Text a person reads is `Rich`: a tuple of spans that keeps apart the words
of our templates (`Lit`), values that came from users or the database (`Val`,
which every renderer escapes for its platform) and mentions of members
(`Mention`, which only a renderer turns into a platform mention). A renderer
can therefore never be tricked into pinging `@channel` by a task title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Lit:
    text: str


@dataclass(frozen=True, slots=True)
class Val:
    text: str


@dataclass(frozen=True, slots=True)
class Mention:
    member_id: int
    name: str
    platform: str
    platform_user_id: str


Span = Lit | Val | Mention


@dataclass(frozen=True, slots=True)
class Rich:
    spans: tuple[Span, ...] = ()

    @classmethod
    def lit(cls, text: str) -> Rich:
        return cls((Lit(text),))

    @classmethod
    def val(cls, text: str) -> Rich:
        return cls((Val(text),))

    def plain(self) -> str:
        """The text as a person reads it, with mentions as @name."""
        return "".join(s.text if not isinstance(s, Mention) else f"@{s.name}" for s in self.spans)

    def __bool__(self) -> bool:
        return any(s.text if not isinstance(s, Mention) else True for s in self.spans)


class Visibility(StrEnum):
    EPHEMERAL = "ephemeral"
    CHANNEL = "channel"


class Tone(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class MentionRef:
    """A person mentioned in a command, as the adapter resolved them."""

    platform_user_id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One command from any platform, already verified and deduplicated."""

    platform: str
    workspace_id: str
    channel_id: str
    user_id: str
    text: str
    workspace_name: str = ""
    channel_name: str = ""
    user_name: str = ""
    user_timezone: str | None = None
    user_locale: str | None = None
    # `@key` tokens in `text` name the mention stored under `key`.
    mentions: dict[str, MentionRef] = field(default_factory=dict)
    event_id: str | None = None
    # Further ids of the same delivery (Feishu: the message id, which survives a
    # redelivery under a new event id); any one seen before makes it a duplicate.
    also_ids: tuple[str, ...] = ()
    received_at: datetime | None = None
    # Written one to one with the bot (Slack's `D…` DM, Feishu p2p, the console's `:dm`):
    # a pending DM standup question takes a plain message as its answer.
    direct: bool = False


@dataclass(frozen=True, slots=True)
class Field:
    label: Rich
    value: Rich


@dataclass(frozen=True, slots=True)
class Button:
    """A button that runs `command` through the router as the person who pressed it.

    With `asks`, the platform first asks for a text (a modal, a form field)
    and appends it to the command, e.g. the reason of `task block T-1`. With `form`,
    it asks for several, one field per (key, label), and appends each text given as
    `key: "text"` (commands.parsing.with_answers), e.g. a standup's answers.
    """

    label: Rich
    command: str
    action_id: str
    style: str = "default"
    asks: Rich | None = None
    form: tuple[tuple[str, Rich], ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[Rich, ...]
    rows: tuple[tuple[Rich, ...], ...]


@dataclass(frozen=True, slots=True)
class Notification:
    """A one-to-one message the platform should send to a member."""

    member_id: int
    platform_user_id: str
    platform: str
    reason: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class Mirror:
    """Another channel bound to the same project (maybe on the other platform):
    a change announced in one channel is announced there too."""

    platform: str
    workspace_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class Image:
    """A picture posted with a reply (a chart): PNG bytes, a file name, and the
    alternative text for people who cannot see it."""

    png: bytes = field(repr=False)  # kilobytes: kept out of logs
    filename: str
    alt: Rich


@dataclass(frozen=True, slots=True)
class Reply:
    title: Rich = Rich()
    lines: tuple[Rich, ...] = ()
    fields: tuple[Field, ...] = ()
    items: tuple[Rich, ...] = ()
    table: Table | None = None
    footer: tuple[Rich, ...] = ()
    buttons: tuple[Button, ...] = ()
    visibility: Visibility = Visibility.EPHEMERAL
    tone: Tone = Tone.INFO
    notifications: tuple[Notification, ...] = ()
    mirrors: tuple[Mirror, ...] = ()
    image: Image | None = None
    # Messages of their own the command posts elsewhere (a DM standup's finished report,
    # into the channel that asked); keyed by the delivery like DMs and mirrors.
    posts: tuple[Post, ...] = ()

    def text(self) -> str:
        """Everything a person reads, as plain text (for logs and tests)."""
        parts = [self.title.plain()] if self.title else []
        parts += [line.plain() for line in self.lines]
        parts += [f"{f.label.plain()}: {f.value.plain()}" for f in self.fields]
        parts += [item.plain() for item in self.items]
        if self.table is not None:
            parts.append(" | ".join(h.plain() for h in self.table.header))
            parts += [" | ".join(c.plain() for c in row) for row in self.table.rows]
        parts += [line.plain() for line in self.footer]
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Post:
    """A message the clock sends: into a channel (`channel_id`) or one to one (`user_id`)."""

    platform: str
    reply: Reply
    channel_id: str = ""
    user_id: str = ""
    # Set by the clock: a key unique to (schedule, occurrence, target), so a retried send
    # can never be doubled (Feishu's `uuid`), and the moment retrying stops being useful.
    key: str = ""
    until: datetime | None = None

    @property
    def target(self) -> str:
        return f"{self.platform}:{self.channel_id or '@' + self.user_id}"
