"""The digest's burndown chart as a PNG, drawn with Pillow.

The image reads alone, as a forwarded or previewed picture: a title with the
milestone's name, a legend, the y axis's label, a "today" and a due-date
marker, and the non-work days shaded. Its words come in the project's language
(`ChartText`); Chinese needs a CJK font, found the way images are usually made
(`cjk_font`: fontconfig's choice, then the usual install paths of Noto Sans CJK,
WenQuanYi and Droid Sans Fallback). Without one the caller draws English words
with Pillow's own font, never boxes for missing glyphs.

The ideal line burns the scope down to 0 on the last day over work days only
(flat across weekends and holidays) and steps up when tasks are added, then
burns the new total over the work days left. Lines are drawn at twice the size
and reduced, which smooths them; the same points and words always give the same
bytes (for one Pillow version and font).
"""

from __future__ import annotations

import io
import itertools
import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

Colour = tuple[int, int, int]

REMAINING_COLOUR: Colour = (31, 119, 180)  # solid blue line with dots
SCOPE_COLOUR: Colour = (44, 160, 44)  # thin green line: total tasks in scope
IDEAL_COLOUR: Colour = (150, 150, 150)  # dashed grey line: the scope burnt over work days
TODAY_COLOUR: Colour = (255, 127, 14)  # orange: today
DUE_COLOUR: Colour = (214, 39, 40)  # red: the due date
OFF_DAY_COLOUR: Colour = (244, 244, 240)  # shading of the days nobody works
BACKGROUND: Colour = (255, 255, 255)
AXIS_COLOUR: Colour = (60, 60, 60)
GRID_COLOUR: Colour = (232, 232, 232)
TEXT_COLOUR: Colour = (70, 70, 70)

_SCALE = 2  # drawn at twice the size, then reduced: smooth lines without antialiasing support

# Where CJK fonts are usually installed (Debian/Ubuntu, Fedora, Alpine, Arch, macOS,
# Windows), for when fontconfig's `fc-match` is not there to ask.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-vf-fonts/NotoSansCJK-VF.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


@dataclass(frozen=True, kw_only=True)
class ChartText:
    """The chart's words, in one language."""

    title: str
    remaining: str  # legend: open tasks
    scope: str  # legend: tasks in scope
    ideal: str  # legend: the ideal burn over work days
    axis: str  # the y axis: tasks
    today: str
    due: str


@cache
def cjk_font() -> str | None:
    """A font file with Chinese glyphs, or None: fontconfig's choice for Simplified
    Chinese when it has one, else the first of the usual paths that exists."""
    if shutil.which("fc-match"):
        try:
            found = subprocess.run(
                ["fc-match", "-f", "%{file}", "sans-serif:lang=zh-cn"],
                capture_output=True, text=True, timeout=5, check=False,
            ).stdout.strip()  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            found = ""
        if found and Path(found).is_file() and _has_cjk(found):
            return found
    for path in CJK_FONT_PATHS:
        if Path(path).is_file() and _has_cjk(path):
            return path
    return None


def _has_cjk(path: str) -> bool:
    """True when the font draws 中 as a glyph of its own, not as the box it draws for
    characters it lacks (fontconfig answers with a Latin font when it has nothing better)."""
    from PIL import Image, ImageDraw

    try:
        font = _truetype(path, 24)
    except OSError:
        return False

    def ink(char: str) -> bytes:
        canvas = Image.new("L", (40, 40), 0)
        ImageDraw.Draw(canvas).text((4, 4), char, font=font, fill=255)
        return canvas.tobytes()

    han = ink("中")
    return any(han) and han != ink(_NEVER_DRAWN)


_NEVER_DRAWN = "\U000f0000"  # a private-use character: no font has a glyph for it


def _glyphs(font: Any, text: str) -> str:
    """The text with each character the font has no glyph for as "?": a name in a script
    the font lacks (Chinese in Pillow's own font) never becomes a row of boxes."""
    if text.isascii():
        return text
    from PIL import Image, ImageDraw

    def ink(char: str) -> bytes:
        canvas = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(canvas).text((4, 4), char, font=font, fill=255)
        return canvas.tobytes()

    missing = ink(_NEVER_DRAWN)
    known: dict[str, str] = {}
    for char in set(text):
        if char.isascii() or char.isspace():
            known[char] = char
        else:
            known[char] = char if ink(char) != missing else "?"
    return "".join(known[c] for c in text)


def burndown_png(
    points: Sequence[tuple[date, int, int]],
    *,
    width: int = 800,
    height: int = 400,
    until: date | None = None,
    due: date | None = None,
    workday: Callable[[date], bool] | None = None,
    text: ChartText | None = None,
    font_path: str | None = None,
) -> bytes:
    """A burndown chart: (day, remaining open tasks at the end of the day, total in scope).

    Remaining is a solid blue line with dots, the scope a thin green line, the ideal
    burn a dashed grey line (see the module's docstring; `workday` says which days
    count, all of them without it). With `until` (today) the date axis still runs to
    the last day but the lines stop at today, marked by an orange line; `due` is
    marked by a red one. With `text`, a title, a legend and the y axis's label, in
    the font at `font_path` (Pillow's own without one: Latin letters only). No points
    give the empty axes with a dash in the middle.
    """
    if width < 160 or height < 100:
        raise ValueError(f"a chart needs at least 160x100 pixels, not {width}x{height}")
    from PIL import Image, ImageDraw

    # One point a day (the last given wins), in date order; counts are never negative.
    by_day = {day: (day, max(0, left), max(0, total)) for day, left, total in points}
    data = sorted(by_day.values())
    s = _SCALE
    image = Image.new("RGB", (width * s, height * s), BACKGROUND)
    draw = ImageDraw.Draw(image)
    size = max(10, min(width, height) // 30) * s
    font = _font(size, font_path)
    big = _font(round(size * 1.35), font_path)

    top_value = max([1] + [max(left, total) for _, left, total in data])
    ideal = ideal_burn(data, workday) if data else []
    top_value = max([top_value] + [math.ceil(v) for v in ideal])
    text_h = _text_size(draw, "0123456789", font)[1]
    header = 0
    if text is not None:
        _text(draw, (12 * s, 8 * s), text.title, big)
        title_h = _text_size(draw, text.title or "Ag", big)[1]
        header = 8 * s + title_h + 8 * s
        header += _legend(draw, text, font, at=(12 * s, header), text_h=text_h) + 6 * s
    marker_room = text_h + 6 * s if until is not None or due is not None else 0
    plot_top = _snap(header + 12 * s + text_h // 2 + marker_room)
    plot_bottom = _snap(height * s - 16 * s - text_h - 8 * s)
    step = _nice_step(top_value, max_ticks=max(1, (plot_bottom - plot_top) // (text_h * 3)))
    y_max = math.ceil(top_value / step) * step
    if data and y_max - top_value < step / 2:  # room above the highest point for its numbers
        y_max += step
    labels = [str(v) for v in range(0, y_max + 1, step)]
    label_w = max(_text_size(draw, label, font)[0] for label in labels)
    axis_room = text_h + 10 * s if text is not None else 0
    plot_left = _snap(12 * s + axis_room + label_w + 10 * s)
    plot_right = width * s - 20 * s

    def y_of(value: float) -> float:
        return plot_bottom - value / y_max * (plot_bottom - plot_top)

    if text is not None and text.axis:
        _vertical_text(image, text.axis, font, centre=(12 * s + text_h // 2,
                       (plot_top + plot_bottom) // 2))  # fmt: skip

    xs: list[float] = []
    if data:
        first, last = data[0][0], data[-1][0]
        span = (last - first).days
        inset = 14 * s
        per_day = (plot_right - plot_left - 2 * inset) / span if span else 0.0
        if span:
            xs = [plot_left + inset + (day - first).days * per_day for day, _, _ in data]
        else:
            xs = [(plot_left + plot_right) / 2] * len(data)
        if workday is not None and span:
            for x, (day, _, _) in zip(xs, data, strict=True):
                if not workday(day):
                    left, right = max(plot_left, x - per_day / 2), min(plot_right, x + per_day / 2)
                    band = [(left, plot_top), (right, plot_bottom)]
                    draw.rectangle(band, fill=OFF_DAY_COLOUR)

    # y axis: grid lines and integer ticks
    for value, label in zip(range(0, y_max + 1, step), labels, strict=True):
        y = _snap(y_of(value))
        if value:
            draw.line([(plot_left, y), (plot_right, y)], fill=GRID_COLOUR, width=s)
        draw.line([(plot_left - 5 * s, y), (plot_left, y)], fill=AXIS_COLOUR, width=s)
        w, h = _text_size(draw, label, font)
        _text(draw, (plot_left - 8 * s - w, y - h / 2), label, font)

    if not data:
        middle = ((plot_left + plot_right) // 2, (plot_top + plot_bottom) // 2)
        draw.line(
            [(middle[0] - 12 * s, middle[1]), (middle[0] + 12 * s, middle[1])],
            fill=TEXT_COLOUR,
            width=2 * s,
        )
    else:
        closest = min((b - a for a, b in itertools.pairwise(xs)), default=math.inf)
        _x_ticks(draw, data, xs, closest=closest, font=font, axis_y=plot_bottom)
        x_of = {day: x for x, (day, _, _) in zip(xs, data, strict=True)}
        label_y = plot_top - marker_room
        if due is not None and due in x_of:
            _marker(draw, x_of[due], top=plot_top, bottom=plot_bottom, colour=DUE_COLOUR)
            _marker_label(draw, f"{text.due if text else ''} {due:%m-%d}".strip(), x_of[due],
                          label_y, font, DUE_COLOUR)  # fmt: skip
        if until is not None and until in x_of and (due != until):
            _marker(draw, x_of[until], top=plot_top, bottom=plot_bottom, colour=TODAY_COLOUR)
            if text is not None:
                _marker_label(draw, text.today, x_of[until], label_y, font, TODAY_COLOUR)

        drawn = [
            (x, point)
            for x, point in zip(xs, data, strict=True)
            if until is None or point[0] <= until
        ] or [(xs[0], data[0])]
        scope = [(x, y_of(total)) for x, (_, _, total) in drawn]
        remaining = [(x, y_of(left)) for x, (_, left, _) in drawn]
        if span:
            path = [(xs[0], y_of(ideal[0]))]
            for i in range(1, len(data)):
                before, after = ideal[2 * i - 1], ideal[2 * i]
                path.append((xs[i], y_of(before)))
                if after != before:  # tasks added (or removed) that day: a step
                    path.append((xs[i], y_of(after)))
            _dashed(draw, path, width=2 * s)
        if len(scope) > 1:
            draw.line(scope, fill=SCOPE_COLOUR, width=2 * s, joint="curve")
        else:  # the first day: a short stroke, and the numbers beside it
            x_first, y_first = scope[0]
            stroke = [(x_first - 10 * s, y_first), (x_first + 10 * s, y_first)]
            draw.line(stroke, fill=SCOPE_COLOUR, width=2 * s)
        if len(remaining) > 1:
            draw.line(remaining, fill=REMAINING_COLOUR, width=3 * s, joint="curve")
        # Dots as long as they stay apart; a long sprint is a line.
        dot = 4 * s if closest >= 12 * s else 3 * s if closest >= 8 * s else 0
        for point in remaining if dot else ():
            _dot(draw, point, dot, REMAINING_COLOUR)
        if len(remaining) == 1 and not dot:
            _dot(draw, remaining[0], 4 * s, REMAINING_COLOUR)
        # The latest numbers, written beside the last points: open / in scope.
        (x_now, (_, left_now, total_now)) = drawn[-1]
        note = f"{left_now}/{total_now}"
        w, h = _text_size(draw, note, font)
        note_x = x_now + 8 * s if x_now + 8 * s + w <= plot_right else x_now - 8 * s - w
        note_y = min(y_of(left_now), y_of(total_now)) - h - 8 * s
        _text(draw, (note_x, max(plot_top + 2 * s, note_y)), note, font)

    # the axes last, over the grid
    draw.line([(plot_left, plot_top), (plot_left, plot_bottom)], fill=AXIS_COLOUR, width=s)
    draw.line([(plot_left, plot_bottom), (plot_right, plot_bottom)], fill=AXIS_COLOUR, width=s)

    out = io.BytesIO()
    image.reduce(s).save(out, format="PNG", optimize=False)
    return out.getvalue()


def ideal_burn(
    data: Sequence[tuple[date, int, int]], workday: Callable[[date], bool] | None
) -> list[float]:
    """The ideal at the start and end of each day, flattened: [end of day 0, then for
    each later day: before its tasks were added, after]. It starts at day 0's scope,
    burns what is left evenly over the work days to the last, and takes a day's added
    (or removed) tasks at the end of that day."""
    works = [True if workday is None else workday(day) for day, _, _ in data]
    left_work = [sum(works[i:]) for i in range(len(data))]
    out = [float(data[0][2])]
    value = out[0]
    for i in range(1, len(data)):
        if works[i] and left_work[i]:
            value -= value / left_work[i]
        out.append(value)
        value = max(0.0, value + data[i][2] - data[i - 1][2])
        out.append(value)
    return out


def _legend(draw: Any, text: ChartText, font: Any, *, at: tuple[int, int], text_h: int) -> int:
    """Swatches and words in one row; returns the row's height."""
    s = _SCALE
    x, y = at
    middle = y + text_h / 2
    for kind, words in (("remaining", text.remaining), ("scope", text.scope),
                        ("ideal", text.ideal)):  # fmt: skip
        if kind == "remaining":
            draw.line([(x, middle), (x + 24 * s, middle)], fill=REMAINING_COLOUR, width=3 * s)
            _dot(draw, (x + 12 * s, middle), 4 * s, REMAINING_COLOUR)
        elif kind == "scope":
            draw.line([(x, middle), (x + 24 * s, middle)], fill=SCOPE_COLOUR, width=2 * s)
        else:
            _dashed(draw, [(x, middle), (x + 24 * s, middle)], width=2 * s, dash=7, gap=4)
        x += 30 * s
        _text(draw, (x, y), words, font)
        x += _text_size(draw, words, font)[0] + 18 * s
    return text_h


def _marker(draw: Any, x: float, *, top: int, bottom: int, colour: Colour) -> None:
    at = _snap(x)
    draw.line([(at, top), (at, bottom)], fill=colour, width=_SCALE)


def _marker_label(draw: Any, words: str, x: float, y: float, font: Any, colour: Colour) -> None:
    w, _ = _text_size(draw, words, font)
    width = draw.im.size[0]
    left = min(max(2 * _SCALE, x - w / 2), width - w - 2 * _SCALE)
    _text(draw, (left, y), words, font, colour=colour)


def _vertical_text(image: Any, words: str, font: Any, *, centre: tuple[int, int]) -> None:
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(image)
    w, h = _text_size(probe, words, font)
    strip = Image.new("RGB", (w + 4, h + 4), BACKGROUND)
    _text(ImageDraw.Draw(strip), (2, 2), words, font)
    turned = strip.rotate(90, expand=True)
    image.paste(turned, (centre[0] - turned.width // 2, centre[1] - turned.height // 2))


def _snap(at: float) -> int:
    """A coordinate on the reduced image's pixel grid: straight lines stay sharp."""
    return round(at / _SCALE) * _SCALE


def _font(size: int, path: str | None = None) -> Any:
    from PIL import ImageFont

    if path is not None:
        try:
            return _truetype(path, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one small bitmap font, no sizes
        return ImageFont.load_default()


def _truetype(path: str, size: int) -> Any:
    """The font at `path`; in a collection (.ttc), its Simplified Chinese face when it has
    one (Noto Sans CJK holds Japanese first)."""
    from PIL import ImageFont

    if not path.lower().endswith(".ttc"):
        return ImageFont.truetype(path, size)
    for index in range(10):
        try:
            face = ImageFont.truetype(path, size, index=index)
        except OSError:
            break
        if (face.getname()[0] or "").rstrip().endswith(" SC"):
            return face
    return ImageFont.truetype(path, size)


def _text_size(draw: Any, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), _glyphs(font, text), font=font)
    return int(right - left), int(bottom - top)


def _text(
    draw: Any, at: tuple[float, float], text: str, font: Any, *, colour: Colour = TEXT_COLOUR
) -> None:
    """Text whose ink box starts at `at` (the font's own offsets taken out)."""
    if not text:
        return
    text = _glyphs(font, text)
    left, top, _, _ = draw.textbbox((0, 0), text, font=font)
    draw.text((round(at[0] - left), round(at[1] - top)), text, font=font, fill=colour)


def _nice_step(top: int, *, max_ticks: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that needs at most `max_ticks` steps up to `top`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(top / step) <= max_ticks:
                return step
        magnitude *= 10


def _x_ticks(
    draw: Any,
    data: Sequence[tuple[date, int, int]],
    xs: Sequence[float],
    *,
    closest: float,
    font: Any,
    axis_y: int,
) -> None:
    """A tick per day when there is room; `MM-DD` labels that never overlap."""
    s = _SCALE
    labels = [f"{day:%m-%d}" for day, _, _ in data]
    room = max(_text_size(draw, label, font)[0] for label in labels) + 10 * s
    last_labelled = -math.inf
    for x, label in zip(xs, labels, strict=True):
        labelled = x - last_labelled >= room
        if labelled or closest >= 4 * s:
            length = 5 * s if labelled else 3 * s
            tick = _snap(x)
            draw.line([(tick, axis_y), (tick, axis_y + length)], fill=AXIS_COLOUR, width=s)
        if labelled:
            w, _ = _text_size(draw, label, font)
            _text(draw, (x - w / 2, axis_y + 8 * s), label, font)
            last_labelled = x


def _dashed(
    draw: Any, path: Sequence[tuple[float, float]], *, width: int, dash: int = 10, gap: int = 7
) -> None:
    """A dashed polyline; the dashes run on across its corners."""
    dash_len, gap_len = dash * _SCALE, gap * _SCALE
    drawing, left = True, float(dash_len)
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        length = math.hypot(x1 - x0, y1 - y0)
        if length == 0:
            continue
        dx, dy = (x1 - x0) / length, (y1 - y0) / length
        at = 0.0
        while at < length:
            stop = min(at + left, length)
            if drawing:
                draw.line(
                    [(x0 + dx * at, y0 + dy * at), (x0 + dx * stop, y0 + dy * stop)],
                    fill=IDEAL_COLOUR,
                    width=width,
                )
            left -= stop - at
            at = stop
            if left <= 0:
                drawing = not drawing
                left = float(dash_len if drawing else gap_len)


def _dot(draw: Any, at: tuple[float, float], radius: int, colour: Colour) -> None:
    x, y = at
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
