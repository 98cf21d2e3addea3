"""The dot-and-interval chart: one row per arm, its score as a dot and its 95% interval as a bar across the whole
score scale, each repeat's score as a faint tick; inline SVG, no script."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .chart import AXIS, DASH, SMALL, W, el, label, scale_bounds, ticks, y_range

LABEL_W, TEXT_W, ROW, TOP = 190, 190, 30, 12  # the names' column, the numbers' column, a row's height, the top margin


@dataclass
class Estimate:
    """A score with its interval: `text` says both in numbers; `points` are the repeats' scores."""

    label: str
    value: float
    low: float
    high: float
    color: str
    text: str
    points: list[float] = field(default_factory=list)
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass
class Reference:
    """A score every row is read against (the majority class), drawn as a dashed vertical line."""

    value: float
    label: str
    color: str


def interval_chart(rows: list[Estimate], scale: str, title: str, reference: Reference | None = None) -> str:
    """An SVG of each row's dot and interval on one x axis that spans the scale; an interval that leaves the scale
    is cut at its edge and has no end cap there."""
    bounds = scale_bounds(scale)
    lo, hi = y_range([] if bounds else [v for r in rows for v in (r.low, r.high, r.value)], bounds)
    x0, x1 = LABEL_W, W - TEXT_W

    def x(value: float) -> float:
        return x0 + (min(max(value, lo), hi) - lo) / (hi - lo) * (x1 - x0)

    bottom = TOP + ROW * len(rows)
    out = [el("rect", x=x0, y=TOP, width=x1 - x0, height=bottom - TOP, fill="#fff", stroke="#adb5bd")]
    marks, digits = ticks(lo, hi)
    for t in marks:
        out.append(el("line", x1=x(t), x2=x(t), y1=TOP, y2=bottom + 5, stroke="#e9ecef"))
        out.append(el("text", f"{t:.{digits}f}", class_="x-tick", x=x(t), y=bottom + 19, text_anchor="middle", **SMALL))
    out.append(label("text", title, x=(x0 + x1) / 2, y=bottom + 40, text_anchor="middle", **AXIS))
    height = bottom + 52
    if reference is not None:  # beneath the rows, so no dot hides behind it
        out.append(el("line", class_="reference", x1=x(reference.value), x2=x(reference.value), y1=TOP, y2=bottom,
                      stroke=reference.color, **DASH))
        out.append(el("line", x1=x0, x2=x0 + 28, y1=height + 6, y2=height + 6, stroke=reference.color, **DASH))
        out.append(label("text", reference.label, x=x0 + 34, y=height + 10, font_size=12, fill="#212529"))
        height += 22
    for i, row in enumerate(rows):
        out += _row(row, TOP + ROW * (i + 0.5), x, (lo, hi))
    head = (f'<svg id="arm-intervals" class="chart" viewBox="0 0 {W} {height}" role="img" '
            'aria-label="Each arm\'s score with its 95% interval"><title>Each arm\'s score with its 95% interval</title>')
    return "\n".join([head, *out, "</svg>"])


def _row(row: Estimate, y: float, x: Callable[[float], float], scale: tuple[float, float]) -> list[str]:
    """One arm: name, faint repeat ticks, the interval's bar (capped where it ends inside the scale), the dot."""
    lo, hi = scale
    out = [label("text", row.label, x=LABEL_W - 10, y=y + 4, text_anchor="end", font_size=13, fill="#212529"),
           el("line", x1=x(row.low), x2=x(row.high), y1=y, y2=y, stroke=row.color, stroke_width=3)]
    for end in (row.low, row.high):
        if lo <= end <= hi:
            out.append(el("line", x1=x(end), x2=x(end), y1=y - 7, y2=y + 7, stroke=row.color, stroke_width=2))
    for point in row.points:
        out.append(el("line", class_="repeat", x1=x(point), x2=x(point), y1=y - 10, y2=y + 10, stroke=row.color,
                      stroke_opacity=0.45, stroke_width=2))
    tip = label("title", f"{row.label}: {row.text}")
    out.append(el("circle", tip, **row.attrs, cx=x(row.value), cy=y, r=6.5, fill=row.color, stroke="#fff", stroke_width=1.5))
    out.append(label("text", row.text, x=W - TEXT_W + 12, y=y + 4, font_size=12, fill="#495057"))
    return out
