"""The burndown chart: a real PNG whose lines sit where the numbers say."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from datetime import date, timedelta

import pytest
from PIL import Image, ImageChops

from commands.chart import (
    AXIS_COLOUR,
    DUE_COLOUR,
    IDEAL_COLOUR,
    OFF_DAY_COLOUR,
    REMAINING_COLOUR,
    SCOPE_COLOUR,
    TEXT_COLOUR,
    TODAY_COLOUR,
    ChartText,
    Colour,
    _font,
    _glyphs,
    burndown_png,
    cjk_font,
    ideal_burn,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = date(2026, 11, 2)


def days(remaining: Iterable[int], total: Iterable[int]) -> list[tuple[date, int, int]]:
    return [
        (START + timedelta(days=n), left, scope)
        for n, (left, scope) in enumerate(zip(remaining, total, strict=True))
    ]


SPRINT = days([20, 18, 18, 15, 13, 12, 10, 9, 7, 5], [20, 20, 20, 22, 22, 22, 24, 24, 24, 24])


def opened(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    Image.open(io.BytesIO(png)).verify()  # a complete, uncorrupted PNG
    return Image.open(io.BytesIO(png)).convert("RGB")


def where(image: Image.Image, colour: Colour, *, tolerance: int = 24) -> dict[int, list[int]]:
    """Column -> rows of the pixels within `tolerance` (per channel) of `colour`."""
    bands = [
        band.point(lambda v, c=c: 255 if abs(v - c) <= tolerance else 0)
        for band, c in zip(image.split(), colour, strict=True)
    ]
    mask = ImageChops.logical_and(
        ImageChops.logical_and(bands[0].convert("1"), bands[1].convert("1")),
        bands[2].convert("1"),
    ).convert("L")
    data = mask.tobytes()
    out: dict[int, list[int]] = {}
    at = data.find(255)
    while at != -1:
        y, x = divmod(at, image.width)
        out.setdefault(x, []).append(y)
        at = data.find(255, at + 1)
    for rows in out.values():
        rows.sort()
    return out


def axis_row(image: Image.Image) -> int:
    """The x axis: the row with the longest stretch of axis colour."""
    counts: dict[int, int] = {}
    for rows in where(image, AXIS_COLOUR, tolerance=0).values():
        for y in rows:
            counts[y] = counts.get(y, 0) + 1
    return max(counts, key=lambda y: counts[y])


def height_at(columns: dict[int, list[int]], xs: Iterable[int], axis: int) -> float:
    """How far above the x axis the pixels of these columns are, on average."""
    rows = [y for x in xs for y in columns.get(x, [])]
    assert rows
    return axis - sum(rows) / len(rows)


def test_a_valid_png_of_the_asked_size() -> None:
    """The bytes are a PNG that Pillow verifies, 800x400 by default or the size asked."""
    assert opened(burndown_png(SPRINT)).size == (800, 400)
    assert opened(burndown_png(SPRINT, width=640, height=300)).size == (640, 300)


def test_the_same_points_give_the_same_bytes() -> None:
    """Drawing is deterministic (order of the points included); other data, other bytes."""
    assert burndown_png(SPRINT) == burndown_png(SPRINT)
    assert burndown_png(list(reversed(SPRINT))) == burndown_png(SPRINT)
    assert burndown_png(SPRINT[:-1]) != burndown_png(SPRINT)


def test_all_three_lines_are_drawn() -> None:
    """Blue remaining, green scope and grey ideal pixels are all there, in their colours."""
    image = opened(burndown_png(SPRINT))
    assert sum(map(len, where(image, REMAINING_COLOUR, tolerance=0).values())) > 500
    assert sum(map(len, where(image, SCOPE_COLOUR, tolerance=0).values())) > 200
    assert sum(map(len, where(image, IDEAL_COLOUR, tolerance=0).values())) > 100


def test_the_remaining_and_scope_lines_sit_at_their_values() -> None:
    """The blue dots of the first and last day and the green line's ends are at the
    heights of 20, 5 and 24 on one scale (measured above the x axis)."""
    image = opened(burndown_png(SPRINT))
    axis = axis_row(image)
    blue = where(image, REMAINING_COLOUR)
    green = where(image, SCOPE_COLOUR)
    first, last = min(blue), max(blue)
    # The left half of each end dot: the line leaving it adds nothing there.
    blue_first = height_at(blue, range(first, first + 4), axis)
    blue_last = height_at(blue, range(last - 3, last + 1), axis)
    green_last = height_at(green, range(max(green) - 3, max(green) + 1), axis)
    assert blue_first / green_last == pytest.approx(20 / 24, rel=0.03)
    assert blue_last / green_last == pytest.approx(5 / 24, rel=0.06)
    assert blue_first > blue_last  # it burns down
    # The days span the plot: the first dot left of the last, both well inside the image.
    assert 30 < first < last < image.width - 10


STEADY = days([20, 18, 18, 15, 13, 12, 10, 9, 7, 5], [20] * 10)


def test_the_ideal_line_is_dashed_from_the_first_total_to_zero() -> None:
    """With a steady scope and every day a work day, the grey dashes lie on the straight
    line from the first day's total (the first blue dot) to 0 on the last day, with gaps
    between them."""
    image = opened(burndown_png(STEADY))
    axis = axis_row(image)
    blue = where(image, REMAINING_COLOUR)
    first, last = min(blue), max(blue)
    start_row = axis - height_at(blue, range(first, first + 4), axis)
    grey = [  # below the first dot: the numbers written above the last one are not the line
        (x, y)
        for x, rows in where(image, IDEAL_COLOUR, tolerance=12).items()
        if first <= x <= last
        for y in rows
        if start_row - 6 <= y < axis
    ]
    # Least squares through the grey pixels, evaluated at the centres of the end dots.
    n = len(grey)
    mean_x, mean_y = sum(x for x, _ in grey) / n, sum(y for _, y in grey) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in grey) / sum(
        (x - mean_x) ** 2 for x, _ in grey
    )
    at_first = mean_y + slope * (first + 4 - mean_x)
    at_last = mean_y + slope * (last - 4 - mean_x)
    assert at_first == pytest.approx(axis - height_at(blue, range(first, first + 4), axis), abs=3)
    assert at_last == pytest.approx(axis, abs=3)
    inner = range(first + 30, last - 30)
    columns = {x for x, _ in grey}
    covered = sum(1 for x in inner if x in columns) / len(inner)
    assert 0.4 < covered < 0.9  # dashes, not a solid line


def test_one_day() -> None:
    """A single day is one dot (no ideal line needs two days); nothing crashes."""
    image = opened(burndown_png([(START, 7, 9)]))
    blue = where(image, REMAINING_COLOUR, tolerance=0)
    assert blue and max(blue) - min(blue) <= 10  # one dot
    assert where(image, SCOPE_COLOUR, tolerance=0)


def test_all_zeros_lie_on_the_axis() -> None:
    """A sprint with nothing in it draws its line on the x axis."""
    image = opened(burndown_png(days([0] * 5, [0] * 5)))
    axis = axis_row(image)
    rows = [y for ys in where(image, REMAINING_COLOUR, tolerance=0).values() for y in ys]
    assert rows and all(abs(y - axis) <= 5 for y in rows)


def test_no_points_draw_empty_axes() -> None:
    """No data: a valid chart with axes and no lines."""
    image = opened(burndown_png([]))
    assert image.size == (800, 400)
    assert not where(image, REMAINING_COLOUR)
    assert not where(image, SCOPE_COLOUR)
    assert axis_row(image) > 300


def test_large_numbers_keep_their_proportions() -> None:
    """Millions of tasks: the labels make room and the line keeps its heights."""
    big = [(day, left * 100_000, total * 100_000) for day, left, total in SPRINT]
    image = opened(burndown_png(big))
    axis = axis_row(image)
    blue = where(image, REMAINING_COLOUR)
    green = where(image, SCOPE_COLOUR)
    first, last = min(blue), max(blue)
    green_last = height_at(green, range(max(green) - 3, max(green) + 1), axis)
    assert height_at(blue, range(first, first + 4), axis) / green_last == pytest.approx(
        20 / 24, rel=0.03
    )
    assert height_at(blue, range(last - 3, last + 1), axis) / green_last == pytest.approx(
        5 / 24, rel=0.06
    )


def test_a_long_project_stays_readable() -> None:
    """Four months of days: still a valid chart whose line spans the plot."""
    points = [(START + timedelta(days=n), max(0, 90 - n), 90 + n // 10) for n in range(120)]
    image = opened(burndown_png(points))
    blue = where(image, REMAINING_COLOUR, tolerance=0)
    assert max(blue) - min(blue) > 600


def test_a_chart_too_small_to_draw_is_refused() -> None:
    """A size with no room for axes and labels is a ValueError, not a broken image."""
    with pytest.raises(ValueError, match="160x100"):
        burndown_png(SPRINT, width=50, height=40)


def test_lines_stop_at_today_while_the_dates_run_to_the_due_day() -> None:
    """`until` (today, the 4th day of 10): blue and green end at the 4th day's x, the grey
    ideal still runs to the last day, so the future is not drawn as a flat line."""
    full = opened(burndown_png(SPRINT))
    cut = opened(burndown_png(SPRINT, until=START + timedelta(days=3)))
    blue_full, blue_cut = where(full, REMAINING_COLOUR), where(cut, REMAINING_COLOUR)
    span = max(blue_full) - min(blue_full)
    assert min(blue_cut) == min(blue_full)
    assert max(blue_cut) - min(blue_cut) == pytest.approx(span * 3 / 9, abs=6)
    assert max(where(cut, SCOPE_COLOUR)) < min(blue_cut) + span / 2
    assert max(where(cut, IDEAL_COLOUR, tolerance=0)) > max(blue_full) - 10


EN = ChartText(
    title="Burndown · milestone Beta", remaining="Open tasks", scope="Tasks in scope",
    ideal="Ideal (work days)", axis="tasks", today="today", due="due",
)  # fmt: skip


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def test_the_ideal_burns_on_work_days_only() -> None:
    """From Monday 2 Nov to Friday 13 Nov with a steady 10: the ideal falls by the same
    amount each work day, stays flat over the weekend and reaches 0 on the last day."""
    points = [(START + timedelta(days=n), 10, 10) for n in range(12)]
    ideal = ideal_burn(points, weekdays)
    ends = [ideal[0], *ideal[2::2]]  # the value at the end of each day
    assert ends[0] == 10
    assert ends[5] == pytest.approx(ends[6]) == pytest.approx(ends[4])  # Sat, Sun: flat
    assert ends[-1] == pytest.approx(0)
    drops = [a - b for a, b in itertools.pairwise(ends) if a - b > 1e-9]
    assert len(drops) == 9 and all(d == pytest.approx(10 / 9) for d in drops)


def test_the_ideal_steps_up_when_tasks_are_added() -> None:
    """Five tasks added on day 3 lift the ideal by five that day; it then burns the new
    total over the days left and still ends at 0."""
    points = days([10, 9, 9, 13, 12], [10, 10, 10, 15, 15])
    ideal = ideal_burn(points, None)
    before, after = ideal[5], ideal[6]  # day 3, before and after its added tasks
    assert after - before == pytest.approx(5)
    assert ideal[-1] == pytest.approx(0)


def test_the_image_reads_alone() -> None:
    """With words: a title and legend above the plot, the y axis's label, the shaded
    weekend, an orange today and a red due line at their days."""
    points = [(START + timedelta(days=n), 10 - n // 2, 10) for n in range(12)]
    image = opened(
        burndown_png(
            points, until=START + timedelta(days=4), due=points[-1][0], workday=weekdays, text=EN
        )
    )
    axis = axis_row(image)
    text = where(image, TEXT_COLOUR, tolerance=40)
    assert any(y < 40 for rows in text.values() for y in rows)  # the title at the top
    legend_blue = [x for x, rows in where(image, REMAINING_COLOUR).items() if min(rows) < 50]
    assert legend_blue and max(legend_blue) < 100  # the legend's swatch, top left
    assert any(x < 25 for x in text)  # the y axis's label, left of the numbers
    assert where(image, OFF_DAY_COLOUR, tolerance=0)  # the weekend
    today = [x for x, rows in where(image, TODAY_COLOUR, tolerance=10).items() if len(rows) > 100]
    due = [x for x, rows in where(image, DUE_COLOUR, tolerance=10).items() if len(rows) > 100]
    assert today and due and min(due) > max(today)
    assert axis > 300


def test_the_first_day_draws_the_plan() -> None:
    """On a milestone's first day the chart is the ideal line to the due date, the day's
    scope as a short stroke and the open tasks as a dot, numbers beside them."""
    points = [(START + timedelta(days=n), 6, 6) for n in range(12)]
    image = opened(burndown_png(points, until=START, due=points[-1][0], workday=weekdays,
                                text=EN))  # fmt: skip
    grey = where(image, IDEAL_COLOUR, tolerance=12)
    assert max(grey) - min(grey) > 600  # the plan spans the chart
    green = [x for x, rows in where(image, SCOPE_COLOUR, tolerance=0).items() if max(rows) > 60]
    assert 10 <= max(green) - min(green) <= 40  # a short stroke below the legend, not a dot


def test_missing_glyphs_become_question_marks_not_boxes() -> None:
    """Pillow's own font has no Chinese: 发布 is drawn as ??; a CJK font, when the machine
    has one, draws it."""
    assert _glyphs(_font(20), "Beta 发布") == "Beta ??"
    found = cjk_font()
    if found is None:
        pytest.skip("no CJK font on this machine")
    assert _glyphs(_font(20, found), "Beta 发布") == "Beta 发布"
