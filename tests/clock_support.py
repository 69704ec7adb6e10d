"""The clock in tests: where scheduled posts land, and setting the time."""

from __future__ import annotations

from datetime import UTC, datetime

from commands.types import Post
from tests.conftest import Clock


class Outbox:
    """Where the engine's posts go: recorded in order, like a platform would see them."""

    def __init__(self) -> None:
        self.posts: list[Post] = []

    async def __call__(self, post: Post) -> None:
        self.posts.append(post)

    def titles(self) -> list[str]:
        return [p.reply.title.plain() for p in self.posts]

    def take(self) -> list[Post]:
        out, self.posts = self.posts, []
        return out


def at(clock: Clock, when: str) -> datetime:
    """Set the clock to an ISO time (with offset) and return it in UTC."""
    clock.now = datetime.fromisoformat(when).astimezone(UTC)
    return clock.now
