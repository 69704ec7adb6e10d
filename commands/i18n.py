"""Message wording: one Jinja2 environment, templates per locale.

Each area (`task`, `raci`, …) has one template file per locale,
`templates/<locale>/<area>.j2`, made of macros; `Catalog.text("task.created",
…)` calls the macro `created` of the locale's `task.j2`. Both locales define
the same macros with the same parameters (a test checks it).

Every `{{ value }}` a template prints passes through `_finalize`, which marks
it as a value (escaped by renderers) or as a mention; only the template's own
words come out as literal text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
)

from commands.types import Lit, Mention, Rich, Span, Val

LOCALES = ("en", "zh")
DEFAULT_LOCALE = "en"
TEMPLATES = Path(__file__).with_name("templates")

# Private-use characters frame values and mentions inside rendered text.
_VAL_OPEN, _VAL_CLOSE = "\ue000", "\ue001"
_MEN_OPEN, _MEN_CLOSE = "\ue002", "\ue003"
_MARKERS = re.compile("[\ue000-\ue003]")
_SPLIT = re.compile("(\ue000[^\ue001]*\ue001|\ue002[^\ue003]*\ue003)")

_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}


def strip_markers(text: str) -> str:
    return _MARKERS.sub("", text)


class Fragment(str):
    """Already rendered rich text, printed as it is by another template."""

    __slots__ = ()


def _finalize(value: Any) -> str:
    if isinstance(value, Fragment):
        return value
    if isinstance(value, Mention):
        fields = (str(value.member_id), value.platform, value.platform_user_id, value.name)
        return _MEN_OPEN + "\x1f".join(_field(f) for f in fields) + _MEN_CLOSE
    if isinstance(value, Rich):
        return Fragment(to_marked(value))
    if value is None:
        return ""
    return f"{_VAL_OPEN}{strip_markers(str(value))}{_VAL_CLOSE}"


def _field(text: str) -> str:
    return strip_markers(text).replace("\x1f", "")


def to_marked(rich: Rich) -> str:
    out = []
    for span in rich.spans:
        if isinstance(span, Lit):
            out.append(strip_markers(span.text))
        elif isinstance(span, Val):
            out.append(_finalize(span.text))
        else:
            out.append(_finalize(span))
    return "".join(out)


def parse_marked(text: str) -> Rich:
    # Split on one capturing group: words at even indexes, marked values at odd ones;
    # so two words are never next to each other and need no merging.
    spans: list[Span] = []
    for index, piece in enumerate(_SPLIT.split(text)):
        if not piece:
            continue
        if not index % 2:
            spans.append(Lit(piece))
        elif piece[0] == _VAL_OPEN:
            spans.append(Val(piece[1:-1]))
        else:
            member_id, platform, user_id, name = piece[1:-1].split("\x1f", 3)
            spans.append(Mention(int(member_id), name, platform, user_id))
    return Rich(tuple(spans))


def _format_date(value: date | datetime | None, locale: str, with_weekday: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    weekday = _WEEKDAYS.get(locale, _WEEKDAYS["en"])[value.weekday()]
    return f"{value.isoformat()} ({weekday})" if with_weekday else value.isoformat()


def bytecode_cache() -> FileSystemBytecodeCache | None:
    """Compiled templates kept between runs (compiling them costs ~60 ms a start).

    Lives in the user's cache directory; without a writable one, no cache.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "teambot" / "templates"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(str(path)) if os.access(path, os.W_OK) else None


def build_environment(locale: str, cache: BytecodeCache | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES / locale)),
        bytecode_cache=cache,
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["day"] = lambda v, weekday=True: Fragment(
        _finalize(_format_date(v, locale, weekday))
    )
    env.filters["rich"] = lambda v: Fragment(_finalize(v))
    return env


class Catalog:
    """All wording, for every locale; built once at start-up."""

    def __init__(self, *, cache: bool = True) -> None:
        shared = bytecode_cache() if cache else None
        self._envs = {locale: build_environment(locale, shared) for locale in LOCALES}
        self._modules: dict[tuple[str, str], Any] = {}
        # Messages without parameters (labels, button texts) are the same every time:
        # a template has nothing else to read. One entry per message and locale.
        self._fixed: dict[tuple[str, str], Rich] = {}

    def macro(self, locale: str, key: str) -> Callable[..., str]:
        area, _, name = key.partition(".")
        loc = locale if locale in self._envs else DEFAULT_LOCALE
        module = self._modules.get((loc, area))
        if module is None:
            module = self._envs[loc].get_template(f"{area}.j2").module
            self._modules[(loc, area)] = module
        macro = getattr(module, name, None)
        if macro is None:
            raise KeyError(f"no message {key!r} for locale {loc!r}")
        return macro  # type: ignore[no-any-return]

    def text(self, locale: str, key: str, /, **params: Any) -> Rich:
        if params:
            return parse_marked(self.macro(locale, key)(**params).strip())
        fixed = self._fixed.get((locale, key))
        if fixed is None:
            fixed = parse_marked(self.macro(locale, key)().strip())
            if locale in self._envs:
                self._fixed[(locale, key)] = fixed
        return fixed

    def lines(self, locale: str, key: str, /, **params: Any) -> tuple[Rich, ...]:
        """A message that spans several lines, one `Rich` per non-empty line."""
        rich = parse_marked(self.macro(locale, key)(**params))
        # Break lines only inside the template's own words: a value that
        # contains a line break stays one value.
        lines: list[list[Span]] = [[]]
        for span in rich.spans:
            if not isinstance(span, Lit):
                lines[-1].append(span)
                continue
            first, *rest = span.text.split("\n")
            lines[-1].append(Lit(first))
            for piece in rest:
                lines.append([Lit(piece)])
        return tuple(r for r in (_strip(spans) for spans in lines) if r)


def _strip(spans: list[Span]) -> Rich:
    """Trim the white space the template put around a line; drop empty words."""
    if spans and isinstance(spans[0], Lit):
        spans[0] = Lit(spans[0].text.lstrip())
    if spans and isinstance(spans[-1], Lit):
        spans[-1] = Lit(spans[-1].text.rstrip())
    return Rich(tuple(s for s in spans if not (isinstance(s, Lit) and not s.text)))


@lru_cache(maxsize=1)
def macro_signatures() -> dict[str, dict[str, tuple[str, ...]]]:
    """Macro names and parameters per locale, for the completeness test."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for locale in LOCALES:
        env = build_environment(locale)
        found: dict[str, tuple[str, ...]] = {}
        for path in sorted((TEMPLATES / locale).glob("*.j2")):
            module = env.get_template(path.name).module
            for name in dir(module):
                macro = getattr(module, name)
                if not name.startswith("_") and hasattr(macro, "arguments"):
                    found[f"{path.stem}.{name}"] = tuple(macro.arguments)
        out[locale] = found
    return out
