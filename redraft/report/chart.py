"""The score-per-round chart both reports draw: inline SVG, no script, every line named in the legend with the
set of examples it is scored on."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Literal

Series = list[tuple[int, float]]  # (round, score)
Marker = Literal["circle", "square", "diamond"]

# The page's content is 1140 px wide (pages.CSS): the chart is drawn at that size, so its text is not scaled.
W, LEFT, RIGHT, TOP, PLOT_H, INSET = 1140, 64, 24, 16, 320, 14
AXIS_GAP, LEGEND_ROW, LINE_WIDTH = 62, 20, 3  # plot's bottom edge to the first legend row; between rows; a line
DASH: dict[str, object] = {"stroke_width": 2, "stroke_dasharray": "8 5"}
DASH_STEP = 10  # levels that coincide take turns: each draws one step of this length in every n
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
    marker: Marker = "circle"  # lines that meet at a point still show each one's shape there
    name: str = ""  # how the legend refers to this line when another one hides under it


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


def label(name: Literal["text", "title"], body: str, **attrs: object) -> str:
    """An SVG text or tooltip whose words are escaped: an arm's name or a title may come from a result file."""
    return el(name, html.escape(body, quote=False), **attrs)


def scale_bounds(scale: str) -> tuple[float, float] | None:
    """The ends of a scale written "lo-hi" (the text after it is ignored), or None."""
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)", scale)
    return (float(match[1]), float(match[2])) if match and float(match[1]) < float(match[2]) else None


def y_range(values: list[float], bounds: tuple[float, float] | None) -> tuple[float, float]:
    """The whole scale, from its floor to its ceiling (a zoomed axis makes a flat score look like movement),
    widened only when the data leaves it; without a scale, the values with some room."""
    if bounds:
        return min([bounds[0], *values]), max([bounds[1], *values])
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or max(abs(hi) * 0.05, 0.05)
    return lo - pad, hi + pad


def ticks(lo: float, hi: float) -> tuple[list[float], int]:
    """Round tick values inside [lo, hi] (both ends of a 0-1 or 1-10 scale among them) and their decimals."""
    raw = (hi - lo) / 9
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
    out = [f'<svg id="score-chart" class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="Score per round">',
           "<title>Score per round</title>", el("rect", x=x0, y=y0, width=x1 - x0, height=y1 - y0, fill="#fff")]
    out += _y_axis(left, ys["left"], x0, x1, "left")
    if right is not None:
        out += _y_axis(right, ys["right"], x0, x1, "right")
    for rnd in range(math.ceil(x_lo), math.floor(x_hi) + 1, max(1, math.ceil((x_hi - x_lo) / 12))):
        out.append(el("line", x1=x(rnd), x2=x(rnd), y1=y1, y2=y1 + 5, stroke="#495057"))
        out.append(el("text", str(rnd), x=x(rnd), y=y1 + 19, text_anchor="middle", **SMALL))
    out.append(el("rect", x=x0, y=y0, width=x1 - x0, height=y1 - y0, fill="none", stroke="#adb5bd"))
    out.append(el("text", "round", x=(x0 + x1) / 2, y=y1 + 40, text_anchor="middle", **AXIS))
    pixels = [[(x(r), ys[line.axis](v)) for r, v in line.points] for line in lines]
    for i, line in enumerate(lines):
        over = [p for p, later in zip(pixels[i + 1 :], lines[i + 1 :]) if not later.faint]  # a faint line hides nothing
        out += _casing(line, pixels[i], over) + _draw(line, x, ys[line.axis], fmt)
    out += _levels(levels, ys["left"], x0, x1)  # over the lines: thinner and dashed, they leave a line showing
    if not rounds:
        note = {"text_anchor": "middle", "font_size": 14, "fill": "#868e96"}
        out.append(el("text", empty, x=(x0 + x1) / 2, y=(y0 + y1) / 2, **note))
    return "\n".join([*out, legend, "</svg>"])


def _y_axis(axis: Axis, y: _YAxis, x0: float, x1: float, side: Literal["left", "right"]) -> list[str]:
    """One y axis: its tick labels (class y-tick-left or y-tick-right), grid lines on the left one, its title."""
    marks, digits = ticks(y.lo, y.hi)
    out = []
    for t in marks:
        if side == "left":
            out.append(el("line", x1=x0, x2=x1, y1=y(t), y2=y(t), stroke="#e9ecef"))
        at = {"x": x0 - 8, "text_anchor": "end"} if side == "left" else {"x": x1 + 8, "text_anchor": "start"}
        out.append(el("text", f"{t:.{digits}f}", class_=f"y-tick-{side}", y=y(t) + 4, **at, **SMALL))
    turn = f"translate({16 if side == 'left' else W - 16} {(y.top + y.bottom) / 2}) rotate({-90 if side == 'left' else 90})"
    return [*out, label("text", axis.title, transform=turn, text_anchor="middle", **AXIS)]


def _levels(levels: list[Level], y: _YAxis, x0: float, x1: float) -> list[str]:
    """The dashed levels; levels at the same height take turns along one dashed line, so each colour shows."""
    groups: list[list[Level]] = []
    for level in levels:
        same = next((g for g in groups if abs(y(g[0].value) - y(level.value)) < 2), None)
        if same is None:
            groups.append([level])
        else:
            same.append(level)
    out = []
    for group in groups:
        at = y(group[0].value)
        gap = DASH_STEP * (len(group) - 1)  # the others' turns
        for k, level in enumerate(group):
            dash = DASH if len(group) == 1 else {"stroke_width": 2, "stroke_dasharray": f"{DASH_STEP} {gap}",
                                                 "stroke_dashoffset": DASH_STEP * k}
            out.append(el("line", **level.attrs, x1=x0, x2=x1, y1=at, y2=at, stroke=level.color, **dash))
    return out


def _casing(line: Line, mine: list[tuple[float, float]], later: list[list[tuple[float, float]]]) -> list[str]:
    """Where lines drawn after this one run along it, a band of its colour wider than all of them, so it shows
    along their edges instead of vanishing (without a split, train and dev are the same inputs)."""
    if line.faint:
        return []
    out = []
    for a, b in zip(mine, mine[1:]):
        over = sum(any(_near(a, c) and _near(b, d) for c, d in zip(other, other[1:])) for other in later)
        if over:
            out.append(el("line", class_="casing", x1=a[0], y1=a[1], x2=b[0], y2=b[1], stroke=line.color,
                          stroke_width=LINE_WIDTH + 4 * over, stroke_linecap="round"))
    return out


def _near(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < 2.5 and abs(a[1] - b[1]) < 2.5


def _draw(line: Line, x: Callable[[float], float], y: Callable[[float], float], fmt: str) -> list[str]:
    if not line.points:
        return []
    style = FAINT if line.faint else {"stroke_width": LINE_WIDTH, "stroke_linejoin": "round"}
    out = []
    if len(line.points) > 1:
        points = " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in line.points)
        out.append(el("polyline", **line.attrs, points=points, fill="none", stroke=line.color, **style))
    if line.dots:
        for r, v in line.points:
            tip = label("title", f"{line.label or ''}: round {r}: {fmt.format(v)}".lstrip(": "))
            out.append(marker(line.marker, x(r), y(v), 4.5, line.color, tip))
    elif len(line.points) == 1:  # a polyline needs two points
        (r, v), = line.points
        out.append(el("circle", **line.attrs, cx=x(r), cy=y(v), r=3.5, fill=line.color, fill_opacity=0.3))
    return out


def marker(shape: Marker, cx: float, cy: float, size: float, color: str, body: str = "", css: str = "marker") -> str:
    """A point's marker: a circle of radius `size`, or a square or diamond as wide, so markers that meet still
    show each shape."""
    if shape == "square":  # a little larger than the circle, so its corners show around one drawn over it
        side = size * 2.3
        return el("rect", body, class_=css, x=cx - side / 2, y=cy - side / 2, width=side, height=side, fill=color)
    if shape == "diamond":
        d = size * 1.6
        corners = f"{cx:.1f},{cy - d:.1f} {cx + d:.1f},{cy:.1f} {cx:.1f},{cy + d:.1f} {cx - d:.1f},{cy:.1f}"
        return el("polygon", body, class_=css, points=corners, fill=color)
    return el("circle", body, class_=css, cx=cx, cy=cy, r=size, fill=color)


def hidden_under(lines: list[Line]) -> dict[int, Line]:
    """Each line (by index) that a later-drawn line on the same axis covers at every round, with that line; faint
    lines are context and not named."""
    out = {}
    for i, line in enumerate(lines):
        for later in lines[i + 1 :]:
            if line.points and not line.faint and later.axis == line.axis and len(later.points) == len(line.points) and all(
                    r == s and math.isclose(v, w, abs_tol=1e-9) for (r, v), (s, w) in zip(line.points, later.points)):
                out[i] = later
    return out


def _legend(lines: list[Line], levels: list[Level], top: float) -> tuple[str, int]:
    """The legend's SVG, rows wrapped to the width, and the chart's height with it; a line hidden under another
    says so in its entry."""
    covered = hidden_under(lines)
    items: list[tuple[dict[str, object], str, Line | None]] = []
    for i, line in enumerate(lines):
        if line.label is not None:
            entry = line.label + (f" — the same as {covered[i].name or covered[i].label} in every round"
                                  if i in covered else "")
            items.append(({"stroke": line.color, **(FAINT if line.faint else {"stroke_width": LINE_WIDTH})}, entry,
                          line if line.dots and not line.faint else None))
    items += [({"stroke": lv.color, **DASH}, lv.label, None) for lv in levels]
    out, left = [], LEFT
    for stroke, text, dotted in items:
        width = 34 + 7 * len(text) + 22
        if left + width > W and left > LEFT:  # wrap onto the next row
            left, top = LEFT, top + LEGEND_ROW
        out.append(el("line", class_="legend", x1=left, x2=left + 28, y1=top, y2=top, **stroke))
        if dotted is not None:
            out.append(marker(dotted.marker, left + 14, top, 4.5, dotted.color, css="legend"))
        out.append(label("text", text, class_="legend", x=left + 34, y=top + 4, font_size=12, fill="#212529"))
        left += width
    return "".join(out), int(top + 18)
