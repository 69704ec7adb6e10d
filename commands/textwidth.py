"""How wide text is on a monospace screen (CJK counts double), and cutting it to fit."""

from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    """Columns in a monospace terminal or code block (CJK counts double)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def shorten(text: str, columns: int) -> str:
    """`text` cut to at most `columns` columns, with … where it was cut."""
    if width(text) <= columns:
        return text
    out, used = [], 1  # the ellipsis takes one column
    for ch in text:
        size = width(ch)
        if used + size > columns:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + "…"
