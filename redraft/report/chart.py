"""The score-per-round chart both reports draw: inline SVG, no script, every line named in the legend with the
set of examples it is scored on."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Literal

Series = list[tuple[int, float]]  # (round, score)

W, LEFT, RIGHT, TOP, PLOT_H, INSET = 820, 64, 24, 16, 288, 14
AXIS_GAP, LEGEND_ROW = 62, 20  # from the plot's bottom edge to the first legend row; between rows
DASH: dict[str, object] = {"stroke_width": 2, "stroke_dasharray": "8 5"}
FAINT: dict[str, object] = {"stroke_opacity": 0.3, "stroke_width": 1.5}
SMALL: dict[str, object] = {"font_size": 12, "fill": "#495057"}
AXIS: dict[str, object] = {"font_size": 13, "fill": "#212529"}


@dataclass
class Line:
    """A score per round. `label` goes in the legend (None: shares an earlier line's entry); `attrs` are the
    polyline's own attributes (id, class, data-*); `dots` marks each point, with its value as a tooltip."""

    points: Series
    color: str
    label: str | None = None
    faint: bool = False
    dots: bool = True
    axis: Literal["left", "right"] = "left"
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass
class Level:
    """A score that does not change with the round (another arm's, a baseline's), drawn dashed across the plot."""

    value: float
    color: str
    label: str
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass
class Axis:
    """A y axis: its title and the score scale ("0-1", "1-10") it stays inside."""

    title: str
    scale: str = ""


def el(name: str, body: str = "", **attrs: object) -> str:
    """One SVG element; attribute names use _ for -, values are escaped, floats get one decimal."""
    text = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{html.escape(f"{v:.1f}" if isinstance(v, float) else str(v))}"'
        for k, v in attrs.items()
    )
    return f"<{name}{text}>{body}</{name}>" if body else f"<{name}{text}/>"


def scale_bounds(scale: str) -> tuple[float, float] | None:
    """The ends of a scale written "lo-hi" (the text after it is ignored), or None."""
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)", scale)
    return (float(match[1]), float(match[2])) if match and float(match[1]) < float(match[2]) else None


def y_range(values: list[float], bounds: tuple[float, float] | None) -> tuple[float, float]:
    """The y range that shows the values with some room, inside the scale unless the data leaves it."""
    if not values:
        return bounds or (0.0, 1.0)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or ((bounds[1] - bounds[0]) * 0.05 if bounds else max(abs(hi) * 0.05, 0.05))
    new_lo, new_hi = lo - pad, hi + pad
    if bounds:
        new_lo = max(new_lo, bounds[0]) if lo >= bounds[0] else new_lo
        new_hi = min(new_hi, bounds[1]) if hi <= bounds[1] else new_hi
    return (new_lo, new_hi) if new_hi > new_lo else (new_lo - 0.5, new_hi + 0.5)


def ticks(lo: float, hi: float) -> tuple[list[float], int]:
    """Round tick values inside [lo, hi] and how many decimals they need."""
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9) * step
    values = [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]
    return values, max(0, math.ceil(-math.log10(step) - 1e-9))


class _YAxis:
    """Maps scores to the plot's y coordinate, over a range that fits the scores given."""

    def __init__(self, values: list[float], scale: str, top: float, bottom: float):
        self.lo, self.hi = y_range(values, scale_bounds(scale))
        self.top, self.bottom = top, bottom

    def __call__(self, value: float) -> float:
        return self.top + (self.hi - value) / (self.hi - self.lo) * (self.bottom - self.top)


def line_chart(lines: list[Line], levels: list[Level], left: Axis, *, right: Axis | None = None,
               empty: str = "no scores recorded", fmt: str = "{:.2f}") -> str:
    """An SVG chart of scores per round: lines, dashed levels, round ticks, one or two y axes and a legend."""
    x0, x1, y0, y1 = LEFT, W - (LEFT if right else RIGHT), TOP, TOP + PLOT_H
    rounds = sorted({r for line in lines for r, _ in line.points})
    x_lo, x_hi = (rounds[0], rounds[-1]) if rounds else (1, 1)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5

    def x(rnd: float) -> float:
        return x0 + INSET + (rnd - x_lo) / (x_hi - x_lo) * (x1 - x0 - 2 * INSET)

    def values(side: str) -> list[float]:
        return [v for line in lines if line.axis == side for _, v in line.points]

    ys = {"left": _YAxis(values("left") + [lv.value for lv in levels], left.scale, y0, y1)}
    if right is not None:
        ys["right"] = _YAxis(values("right"), right.scale, y0, y1)
    legend, height = _legend(lines, levels, y1 + AXIS_GAP)
    out = [f'<svg id="score-chart" viewBox="0 0 {W} {height}" role="img" aria-label="Score per round">',
           "<title>Score per round</title>", el("rect", x=x0, y=y0, width=x1 - x0, height=y1 - y0, fill="#fff")]
    for side, axis in (("left", left), ("right", right)):
        if axis is None:
            continue
        y = ys[side]
        marks, digits = ticks(y.lo, y.hi)
        for t in marks:
            if side == "left":
                out.append(el("line", x1=x0, x2=x1, y1=y(t), y2=y(t), stroke="#e9ecef"))
                out.append(el("text", f"{t:.{digits}f}", x=x0 - 8, y=y(t) + 4, text_anchor="end", **SMALL))
            else:
                out.append(el("text", f"{t:.{digits}f}", x=x1 + 8, y=y(t) + 4, text_anchor="start", **SMALL))
        turn = f"translate({16 if side == 'left' else W - 16} {(y0 + y1) / 2}) rotate({-90 if side == 'left' else 90})"
        out.append(el("text", axis.title, transform=turn, text_anchor="middle", **AXIS))
    for rnd in range(math.ceil(x_lo), math.floor(x_hi) + 1, max(1, math.ceil((x_hi - x_lo) / 12))):
        out.append(el("line", x1=x(rnd), x2=x(rnd), y1=y1, y2=y1 + 5, stroke="#495057"))
        out.append(el("text", str(rnd), x=x(rnd), y=y1 + 19, text_anchor="middle", **SMALL))
    out.append(el("rect", x=x0, y=y0, width=x1 - x0, height=y1 - y0, fill="none", stroke="#adb5bd"))
    out.append(el("text", "round", x=(x0 + x1) / 2, y=y1 + 40, text_anchor="middle", **AXIS))
    for level in levels:
        at = ys["left"](level.value)
        out.append(el("line", **level.attrs, x1=x0, x2=x1, y1=at, y2=at, stroke=level.color, **DASH))
    for line in lines:
        out += _draw(line, x, ys[line.axis], fmt)
    if not rounds:
        note = {"text_anchor": "middle", "font_size": 14, "fill": "#868e96"}
        out.append(el("text", empty, x=(x0 + x1) / 2, y=(y0 + y1) / 2, **note))
    return "\n".join([*out, legend, "</svg>"])


def _draw(line: Line, x: Callable[[float], float], y: Callable[[float], float], fmt: str) -> list[str]:
    if not line.points:
        return []
    style = FAINT if line.faint else {"stroke_width": 3, "stroke_linejoin": "round"}
    out = []
    if len(line.points) > 1:
        points = " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in line.points)
        out.append(el("polyline", **line.attrs, points=points, fill="none", stroke=line.color, **style))
    if line.dots:
        for r, v in line.points:
            tip = el("title", f"{line.label or ''}: round {r}: {fmt.format(v)}".lstrip(": "))
            out.append(el("circle", tip, cx=x(r), cy=y(v), r=4.5, fill=line.color))
    elif len(line.points) == 1:  # a polyline needs two points
        (r, v), = line.points
        out.append(el("circle", **line.attrs, cx=x(r), cy=y(v), r=3.5, fill=line.color, fill_opacity=0.3))
    return out


def _legend(lines: list[Line], levels: list[Level], top: float) -> tuple[str, int]:
    """The legend's SVG, rows wrapped to the width, and the chart's height with it."""
    items: list[tuple[dict[str, object], str]] = []
    for line in lines:
        if line.label is not None:
            items.append(({"stroke": line.color, **(FAINT if line.faint else {"stroke_width": 3})}, line.label))
    items += [({"stroke": lv.color, **DASH}, lv.label) for lv in levels]
    out, left = [], LEFT
    for stroke, label in items:
        width = 34 + 7 * len(label) + 22
        if left + width > W and left > LEFT:  # wrap onto the next row
            left, top = LEFT, top + LEGEND_ROW
        out.append(el("line", x1=left, x2=left + 28, y1=top, y2=top, **stroke))
        out.append(el("text", label, x=left + 34, y=top + 4, font_size=12, fill="#212529"))
        left += width
    return "".join(out), int(top + 18)
