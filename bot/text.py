"""Text helpers the renderers share: display width, and walking rich text."""

from __future__ import annotations

from collections.abc import Callable

from commands.textwidth import width
from commands.types import Lit, Mention, Rich, Val

__all__ = ["pad", "render_spans", "width"]


def pad(text: str, size: int) -> str:
    return text + " " * max(0, size - width(text))


def render_spans(
    rich: Rich, *, escape: Callable[[str], str], mention: Callable[[Mention], str]
) -> str:
    """Rich text in a platform's markup: words and values escaped, mentions as it says."""
    out = []
    for span in rich.spans:
        if isinstance(span, Mention):
            out.append(mention(span))
        else:
            assert isinstance(span, Lit | Val)
            out.append(escape(span.text))
    return "".join(out)
