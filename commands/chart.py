"""The digest's burndown chart as a PNG, drawn with Pillow.

The image holds numbers and `MM-DD` dates only: a CJK font is not on every
server, so the words (what each colour means) belong in the message text,
where every platform renders both languages. Lines are drawn at twice the
size and reduced, which smooths them; the same points always give the same
bytes (for one Pillow version).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from datetime import date
from typing import Any

Colour = tuple[int, int, int]

REMAINING_COLOUR: Colour = (31, 119, 180)  # solid blue line with dots
SCOPE_COLOUR: Colour = (44, 160, 44)  # thin green line: total tasks in scope
IDEAL_COLOUR: Colour = (150, 150, 150)  # dashed grey line: first total down to 0
BACKGROUND: Colour = (255, 255, 255)
AXIS_COLOUR: Colour = (60, 60, 60)
GRID_COLOUR: Colour = (232, 232, 232)
TEXT_COLOUR: Colour = (70, 70, 70)

_SCALE = 2  # drawn at twice the size, then reduced: smooth lines without antialiasing support


def burndown_png(
    points: Sequence[tuple[date, int, int]],
    *,
    width: int = 800,
    height: int = 400,
    until: date | None = None,
) -> bytes:
    """A burndown chart: (day, remaining open tasks at the end of the day, total in scope).

    Remaining is a solid blue line with dots, the scope a thin green line and
    the ideal burn a dashed grey line from the first day's total to 0 on the
    last day. With `until` (today), the date axis still runs to the last day
    (the due date) but the lines stop at `until`: the future is not drawn flat.
    No points give the empty axes with a dash in the middle.
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
    font = _font(max(10, min(width, height) // 30) * s)

    top_value = max([1] + [max(left, total) for _, left, total in data])
    text_h = _text_size(draw, "0123456789", font)[1]
    plot_top = _snap(16 * s + text_h // 2)
    plot_bottom = _snap(height * s - 16 * s - text_h - 8 * s)
    step = _nice_step(top_value, max_ticks=max(1, (plot_bottom - plot_top) // (text_h * 3)))
    y_max = math.ceil(top_value / step) * step
    labels = [str(v) for v in range(0, y_max + 1, step)]
    label_w = max(_text_size(draw, label, font)[0] for label in labels)
    plot_left = _snap(12 * s + label_w + 10 * s)
    plot_right = width * s - 20 * s

    def y_of(value: int) -> float:
        return plot_bottom - value / y_max * (plot_bottom - plot_top)

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
        first, last = data[0][0], data[-1][0]
        span = (last - first).days
        inset = 14 * s
        per_day = (plot_right - plot_left - 2 * inset) / span if span else 0.0
        if span:
            xs = [plot_left + inset + (day - first).days * per_day for day, _, _ in data]
        else:
            xs = [(plot_left + plot_right) / 2] * len(data)
        closest = min((b - a for a, b in itertools.pairwise(xs)), default=math.inf)
        _x_ticks(draw, data, xs, closest=closest, font=font, axis_y=plot_bottom)

        drawn = [
            (x, point)
            for x, point in zip(xs, data, strict=True)
            if until is None or point[0] <= until
        ] or [(xs[0], data[0])]
        scope = [(x, y_of(total)) for x, (_, _, total) in drawn]
        remaining = [(x, y_of(left)) for x, (_, left, _) in drawn]
        if span:
            _dashed(draw, (xs[0], y_of(data[0][2])), (xs[-1], y_of(0)), width=2 * s)
        if len(scope) > 1:
            draw.line(scope, fill=SCOPE_COLOUR, width=2 * s, joint="curve")
        else:
            _dot(draw, scope[0], 3 * s, SCOPE_COLOUR)
        if len(remaining) > 1:
            draw.line(remaining, fill=REMAINING_COLOUR, width=3 * s, joint="curve")
        # Dots as long as they stay apart; a long sprint is a line.
        dot = 4 * s if closest >= 12 * s else 3 * s if closest >= 8 * s else 0
        for point in remaining if dot else ():
            _dot(draw, point, dot, REMAINING_COLOUR)

    # the axes last, over the grid
    draw.line([(plot_left, plot_top), (plot_left, plot_bottom)], fill=AXIS_COLOUR, width=s)
    draw.line([(plot_left, plot_bottom), (plot_right, plot_bottom)], fill=AXIS_COLOUR, width=s)

    out = io.BytesIO()
    image.reduce(s).save(out, format="PNG", optimize=False)
    return out.getvalue()


def _snap(at: float) -> int:
    """A coordinate on the reduced image's pixel grid: straight lines stay sharp."""
    return round(at / _SCALE) * _SCALE


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one small bitmap font, no sizes
        return ImageFont.load_default()


def _text_size(draw: Any, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def _text(draw: Any, at: tuple[float, float], text: str, font: Any) -> None:
    """Text whose ink box starts at `at` (the font's own offsets taken out)."""
    left, top, _, _ = draw.textbbox((0, 0), text, font=font)
    draw.text((round(at[0] - left), round(at[1] - top)), text, font=font, fill=TEXT_COLOUR)


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


def _dashed(draw: Any, start: tuple[float, float], end: tuple[float, float], *, width: int) -> None:
    dash, gap = 10 * _SCALE, 7 * _SCALE
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    at = 0.0
    while at < length:
        stop = min(at + dash, length)
        draw.line(
            [(x0 + dx * at, y0 + dy * at), (x0 + dx * stop, y0 + dy * stop)],
            fill=IDEAL_COLOUR,
            width=width,
        )
        at = stop + gap


def _dot(draw: Any, at: tuple[float, float], radius: int, colour: Colour) -> None:
    x, y = at
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
