"""The local chat: the embedded default, no credentials needed.

You are a member of a channel in a local workspace and type the same
commands as in Slack or Feishu. `@name` mentions anyone (people are known by
their names here; a mention names a person, it does not rename them). Console
commands start with a colon: `:user NAME`, `:channel NAME`, `:dm` (your one-to-one
conversation with the bot, where a DM standup's questions are answered), `:who`, `:help`,
`:quit`.

A console shows what is for its own channels: the clock of an interactive
console runs the schedules of the channels it has been in, so two consoles on
one database each get their own standups and digests. The log goes to a file
(`LOG_FILE` unless given one), never between the lines of the chat.

A reply's picture (a chart) is written to a PNG file, in the system's
temporary directory under `teambot-charts/` unless the console is given a
directory, and its path is printed after the reply.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlmodel import Session, col, select

from bot.logs import LinkCodeFilter
from bot.text import pad, width
from commands.router import Router
from commands.schedule import Scope
from commands.types import Image, Inbound, Lit, Mention, MentionRef, Post, Reply, Rich, Tone, Val
from storage.models import ChannelBinding, Workspace

PLATFORM = "console"
WORKSPACE = "local"
LOG_FILE = Path(tempfile.gettempdir()) / "teambot-console.log"
_MENTION = re.compile(r"@([^\s@:：,，;；]+)")


# -- rendering ------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    color: bool

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def tone(self, tone: Tone, text: str) -> str:
        codes = {Tone.ERROR: "1;31", Tone.WARNING: "1;33", Tone.SUCCESS: "1;32", Tone.INFO: "1"}
        return self._wrap(codes[tone], text)


def _safe(text: str) -> str:
    """Terminal escaping: user text may not carry control sequences."""
    return "".join(ch if ch.isprintable() or ch == " " else "�" for ch in text)


def plain(rich: Rich) -> str:
    out = []
    for span in rich.spans:
        if isinstance(span, Mention):
            out.append("@" + _safe(span.name))
        elif isinstance(span, Val):
            out.append(_safe(span.text))
        else:
            assert isinstance(span, Lit)
            out.append(span.text)
    return "".join(out)


_ICON = {Tone.ERROR: "✗ ", Tone.WARNING: "⚠ ", Tone.SUCCESS: "", Tone.INFO: ""}


def render(reply: Reply, *, style: Style | None = None) -> str:
    """A reply as readable terminal text."""
    style = style or Style(color=False)
    out: list[str] = []
    if reply.title:
        out.append(style.tone(reply.tone, _ICON[reply.tone] + plain(reply.title)))
    for line in reply.lines:
        out.append("  " + plain(line))
    if reply.fields:
        labels = [plain(f.label) for f in reply.fields]
        size = max(width(label) for label in labels)
        for label, field in zip(labels, reply.fields, strict=True):
            out.append(f"  {style.dim(pad(label, size))}  {plain(field.value)}")
    for item in reply.items:
        out.append("  • " + plain(item))
    if reply.table is not None:
        grid = [[plain(c) for c in reply.table.header]] + [
            [plain(c) for c in row] for row in reply.table.rows
        ]
        sizes = [max(width(row[i]) for row in grid) for i in range(len(grid[0]))]
        for n, row in enumerate(grid):
            cells = [pad(cell, sizes[i]) for i, cell in enumerate(row)]
            text = "  " + "  ".join(cells).rstrip()
            out.append(style.bold(text) if n == 0 else text)
    for line in reply.footer:
        out.append(style.dim("  " + plain(line)))
    if reply.buttons:
        actions = " | ".join(
            f"{plain(b.label)}: {b.command}"
            + (f" <{plain(b.asks)}>" if b.asks else "")
            + "".join(f" {key}: <{plain(label)}>" for key, label in b.form)
            for b in reply.buttons
        )
        out.append(style.dim(f"  ▸ {actions}"))
    for note in reply.notifications:
        who = note.platform_user_id
        text = " — ".join(plain(r) for r in (note.reply.title, *note.reply.lines))
        out.append(style.dim(f"  ✉ to @{who}: {text}"))
    for mirror in reply.mirrors:
        out.append(style.dim(f"  ↪ also in {_safe(mirror.platform)} #{_safe(mirror.channel_id)}"))
    for post in reply.posts:
        where = f"#{post.channel_id}" if post.channel_id else f"✉ to @{post.user_id}"
        text = " — ".join(plain(r) for r in (post.reply.title, *post.reply.lines))
        out.append(style.dim(f"  ↪ posted in {_safe(where)}: {text}"))
    return "\n".join(out)


def save_image(image: Image, directory: Path) -> Path:
    """Write a reply's picture as `<name>-<digest>.png`: the same picture lands in
    the same file, and different pictures never overwrite each other."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(image.filename).stem).strip("._") or "image"
    digest = hashlib.sha256(image.png).hexdigest()[:12]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem[:60]}-{digest}.png"
    path.write_bytes(image.png)
    return path


# -- the chat loop ------------------------------------------------------------------


def mentions_in(text: str) -> dict[str, MentionRef]:
    """In the console everyone is known by name: `@ana` mentions the member "ana".

    A mention carries no display name: the text after `@` is how the writer typed
    it, not the person's name, so `@Ben` never renames ben (a person's name is the
    one they speak under, `--user`/`:user`). Someone first seen in a mention is
    known by the lower-case name until they speak."""
    return {
        name: MentionRef(platform_user_id=name.lower())
        for name in _MENTION.findall(text)
        if name.lower() not in ("me", "我")
    }


class Console:
    def __init__(
        self, *, router: Router, user: str, channel: str, out: TextIO, color: bool,
        chart_dir: Path | None = None,
    ) -> None:  # fmt: skip
        self.router = router
        self.user = user
        self.channel = channel
        self.out = out
        self.style = Style(color=color)
        self.chart_dir = chart_dir or Path(tempfile.gettempdir()) / "teambot-charts"
        self.failures = 0
        self.channels = {channel}  # every channel this console has been in
        self.direct = False  # in the person's DM with the bot (`:dm`), not in #channel

    def scope(self, session: Session) -> Scope:
        """The schedules this console's clock runs: those of the channels it has been in."""
        rows = session.exec(
            select(ChannelBinding.id, ChannelBinding.project_id)
            .join(Workspace, col(Workspace.id) == ChannelBinding.workspace_id)
            .where(
                Workspace.platform == PLATFORM,
                Workspace.external_id == WORKSPACE,
                col(ChannelBinding.channel_id).in_(sorted(self.channels)),
            )
        ).all()
        return Scope(
            bindings=frozenset(b for b, _ in rows if b is not None),
            projects=frozenset(p for _, p in rows),
        )

    @property
    def where(self) -> str:
        return f"✉ dm-{self.user.lower()}" if self.direct else f"#{self.channel}"

    def inbound(self, text: str) -> Inbound:
        channel = f"dm-{self.user.lower()}" if self.direct else self.channel
        return Inbound(
            platform=PLATFORM,
            workspace_id=WORKSPACE,
            workspace_name="local",
            channel_id=channel,
            channel_name=channel,
            direct=self.direct,
            user_id=self.user.lower(),
            user_name=self.user,
            text=text,
            mentions=mentions_in(text),
        )

    def say(self, text: str) -> Reply:
        reply = self.router.handle(self.inbound(text))
        assert reply is not None  # the console sends no event ids, so nothing is a duplicate
        if reply.tone is Tone.ERROR:
            self.failures += 1
        self.show(reply)
        return reply

    def show(self, reply: Reply) -> None:
        """Print a reply; its picture goes to a file, whose path follows the text."""
        print(render(reply, style=self.style), file=self.out)
        if reply.image is not None:
            path = save_image(reply.image, self.chart_dir)
            alt = plain(reply.image.alt)
            print(self.style.dim(f"  🖼 {alt + ': ' if alt else ''}{path}"), file=self.out)

    def show_post(self, post: Post) -> None:
        """What the clock posts into one of this console's channels, or to one person."""
        if post.channel_id and post.channel_id not in self.channels:
            return
        where = f"#{post.channel_id}" if post.channel_id else f"✉ to @{post.user_id}"
        print(self.style.dim(f"\n⏰ teambot → {where}"), file=self.out)
        self.show(post.reply)

    def meta(self, line: str) -> bool:
        """Handle a `:command`; returns False when the console should stop."""
        word, _, arg = line[1:].strip().partition(" ")
        arg = arg.strip().lstrip("@#")
        if word in ("q", "quit", "exit"):
            return False
        if word in ("user", "channel") and not arg:
            self.failures += 1
            example = "ana" if word == "user" else "ops"
            print(
                self.style.tone(Tone.ERROR, f"✗ :{word} needs a name: :{word} NAME")
                + self.style.dim(f" (e.g. :{word} {example}; :who shows who and where you are)"),
                file=self.out,
            )
            return True
        if word == "user":
            self.user = arg
        elif word == "channel":
            self.channel = arg
            self.channels.add(arg)
            self.direct = False
        elif word == "dm":
            self.direct = True
        elif word in ("help", "h", "?"):
            print(_CONSOLE_HELP, file=self.out)
            return True
        elif word != "who":
            self.failures += 1
            print(
                self.style.tone(Tone.ERROR, f"✗ unknown console command :{word} (try :help)"),
                file=self.out,
            )
            return True
        print(self.style.dim(f"you are @{self.user} in {self.where}"), file=self.out)
        return True

    def run(self, lines: Iterable[str], *, echo: bool) -> None:
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if echo:
                print(self.style.bold(f"\n@{self.user} in {self.where} › {line}"), file=self.out)
            if line.startswith(":"):
                if not self.meta(line):
                    return
                continue
            self.say(line)

    def interactive(self) -> None:
        with contextlib.suppress(ImportError):  # not on every platform
            import readline  # noqa: F401  (line editing and history for input())
        print(self.style.dim(_BANNER.format(user=self.user, channel=self.channel)), file=self.out)
        while True:
            try:
                line = input(f"@{self.user} {self.where}> ")
            except (EOFError, KeyboardInterrupt):
                print(file=self.out)
                return
            line = line.strip()
            if line.startswith(":"):
                if not self.meta(line):
                    return
            elif line:
                self.say(line)


_BANNER = (
    "teambot console — you are @{user} in #{channel}. Type /teambot help for commands,\n"
    ":help for console commands, :quit to leave."
)
_CONSOLE_HELP = """console commands:
  :user NAME      speak as another person (e.g. :user ana)
  :channel NAME   move to another channel (each channel is its own project)
  :dm             move to your one-to-one chat with the bot (DM standups are answered
                  there; :channel NAME goes back)
  :who            who and where you are
  :quit           leave (Ctrl-D works too)"""


def default_user() -> str:
    try:
        return getpass.getuser() or "me"
    except (KeyError, OSError):
        return "me"


def wants_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def main_loop(console: Console, *, command: str | None, source: TextIO | None) -> int:
    """-c runs one command; a file or a pipe runs its lines; a terminal chats.

    A script (-c, a file, a pipe) exits 1 when any of its commands failed (an
    answer in the error tone, or a console command it could not do), else 0."""
    if command is not None:
        console.run(command.splitlines(), echo=False)
    elif source is not None:
        console.run(source, echo=True)
    elif sys.stdin.isatty():
        from bot.scheduling import BackgroundClock

        # Standups, digests and alerts of this console's channels arrive between your lines.
        clock = BackgroundClock(console.router, console.show_post, scope=console.scope)
        clock.start()
        try:
            console.interactive()
        finally:
            clock.stop()
        return 0
    else:
        console.run(sys.stdin, echo=True)
    return 1 if console.failures else 0


class LogCount(logging.Handler):
    """Counts the warnings and errors logged while the console runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextlib.contextmanager
def logging_to(path: Path, formatter: logging.Formatter) -> Iterator[LogCount]:
    """While the console runs, the log (warnings and worse) goes to `path` and nowhere
    else: a chat transcript, piped or on a terminal, holds only the chat."""
    root = logging.getLogger()
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8", delay=True)
    to_file.setLevel(logging.WARNING)
    to_file.setFormatter(formatter)
    to_file.addFilter(LinkCodeFilter())
    counter = LogCount()
    saved = root.handlers[:], root.level
    # Handlers that write to the terminal (a configured stderr handler) step aside.
    keep = [h for h in root.handlers if not _writes_to_terminal(h)]
    root.handlers = [*keep, to_file, counter]
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    try:
        yield counter
    finally:
        root.handlers, level = saved
        root.setLevel(level)
        to_file.close()


def _writes_to_terminal(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return type(handler) is logging.StreamHandler and stream in (sys.stderr, sys.stdout)
