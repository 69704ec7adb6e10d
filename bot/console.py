"""The local chat: the embedded default, no credentials needed.

You are a member of a channel in a local workspace and type the same
commands as in Slack or Feishu. `@name` mentions anyone (people are known by
their names here). Console commands start with a colon: `:user NAME`,
`:channel NAME`, `:who`, `:help`, `:quit`.

A reply's picture (a chart) is written to a PNG file, in the system's
temporary directory under `teambot-charts/` unless the console is given a
directory, and its path is printed after the reply.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.text import pad, width
from commands.router import Router
from commands.types import Image, Inbound, Lit, Mention, MentionRef, Post, Reply, Rich, Tone, Val

PLATFORM = "console"
WORKSPACE = "local"
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
            f"{plain(b.label)}: {b.command}" + (f" <{plain(b.asks)}>" if b.asks else "")
            for b in reply.buttons
        )
        out.append(style.dim(f"  ▸ {actions}"))
    for note in reply.notifications:
        who = note.platform_user_id
        text = " — ".join(plain(r) for r in (note.reply.title, *note.reply.lines))
        out.append(style.dim(f"  ✉ to @{who}: {text}"))
    for mirror in reply.mirrors:
        out.append(style.dim(f"  ↪ also in {_safe(mirror.platform)} #{_safe(mirror.channel_id)}"))
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
    """In the console everyone is known by name: `@ana` mentions the member "ana"."""
    return {
        name: MentionRef(platform_user_id=name.lower(), display_name=name)
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

    def inbound(self, text: str) -> Inbound:
        return Inbound(
            platform=PLATFORM,
            workspace_id=WORKSPACE,
            workspace_name="local",
            channel_id=self.channel,
            channel_name=self.channel,
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
        """What the clock posts: into a channel, or to one person."""
        where = f"#{post.channel_id}" if post.channel_id else f"@{post.user_id} (direct)"
        print(self.style.dim(f"\n⏰ teambot → {where}"), file=self.out)
        self.show(post.reply)

    def meta(self, line: str) -> bool:
        """Handle a `:command`; returns False when the console should stop."""
        word, _, arg = line[1:].strip().partition(" ")
        arg = arg.strip().lstrip("@#")
        if word in ("q", "quit", "exit"):
            return False
        if word == "user" and arg:
            self.user = arg
        elif word == "channel" and arg:
            self.channel = arg
        elif word in ("help", "h", "?"):
            print(_CONSOLE_HELP, file=self.out)
            return True
        elif word != "who":
            print(f"unknown console command :{word} (try :help)", file=self.out)
            return True
        print(self.style.dim(f"you are @{self.user} in #{self.channel}"), file=self.out)
        return True

    def run(self, lines: Iterable[str], *, echo: bool) -> None:
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if echo:
                print(self.style.bold(f"\n@{self.user} in #{self.channel} › {line}"), file=self.out)
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
                line = input(f"@{self.user} #{self.channel}> ")
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
    """-c runs one command; a file or a pipe runs its lines; a terminal chats."""
    if command is not None:
        console.run(command.splitlines(), echo=False)
    elif source is not None:
        console.run(source, echo=True)
    elif sys.stdin.isatty():
        from bot.scheduling import BackgroundClock

        # Standups, digests and alerts arrive between your own lines.
        clock = BackgroundClock(console.router, console.show_post)
        clock.start()
        try:
            console.interactive()
        finally:
            clock.stop()
    else:
        console.run(sys.stdin, echo=True)
    return 0
