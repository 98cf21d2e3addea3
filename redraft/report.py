"""Render a comparison as a terminal table, a markdown report and one self-contained HTML page."""

from __future__ import annotations

import difflib
import html
import math
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

from .results import ARMS, ArmResult, CompareResult, Difference, RoundPoint

__all__ = ["render_html", "render_markdown", "terminal_table", "write_reports"]

ARM_COLORS = {"sequential": "#d6336c", "single_shot": "#1c7ed6", "best_of_n": "#2f9e44"}
OTHER_COLORS = ("#7048e8", "#f08c00", "#0c8599")
LEVELS_NOTE = " Dashed: the other arms' scores on the test inputs."
CELL_CHARS = 140  # table cells show this much; the full text is in the cell's title attribute

Series = list[tuple[int, float]]


# ---- shared helpers


def _arms(result: CompareResult) -> list[ArmResult]:
    known = [result.arms[name] for name in ARMS if name in result.arms]
    return known + [arm for name, arm in result.arms.items() if name not in ARMS]


def _color(name: str, result: CompareResult) -> str:
    others = [n for n in result.arms if n not in ARM_COLORS]
    return ARM_COLORS.get(name) or OTHER_COLORS[others.index(name) % len(OTHER_COLORS)]


def _bounds(scale: str) -> tuple[float, float] | None:
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*", scale)
    return (float(match[1]), float(match[2])) if match and float(match[1]) < float(match[2]) else None


def _score(value: float | None, scale: str, sign: bool = False) -> str:
    if value is None:
        return "–"
    bounds = _bounds(scale)
    digits = 3 if bounds is None or bounds[1] - bounds[0] <= 1 else 2
    return f"{value:{'+' if sign else ''}.{digits}f}"


def _ci(low: float, high: float, scale: str, sign: bool = False) -> str:
    return f"[{_score(low, scale, sign)}, {_score(high, scale, sign)}]"


def _cost(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _is_failure(value: float | None, scale: str) -> bool:
    """Below the midpoint of the score scale counts as a failure."""
    bounds = _bounds(scale) or (0.0, 1.0)
    return value is not None and value < (bounds[0] + bounds[1]) / 2


def _example_score(arm: ArmResult, index: int) -> float | None:
    values = [r.per_example[index] for r in arm.repeats if index < len(r.per_example)]
    return statistics.fmean(values) if values else None


def _example_output(arm: ArmResult, index: int) -> str:
    first = arm.repeats[0] if arm.repeats else None
    return first.outputs[index] if first and index < len(first.outputs) else ""


def _round_series(result: CompareResult) -> tuple[list[Series], Series]:
    """Dev score per round for each sequential repeat, and their mean at each round."""
    arm = result.arms.get("sequential")
    repeats = [
        sorted((p.round, p.dev_score) for p in r.rounds if p.dev_score is not None)
        for r in (arm.repeats if arm else [])
    ]
    by_round: dict[int, list[float]] = {}
    for series in repeats:
        for rnd, value in series:
            by_round.setdefault(rnd, []).append(value)
    return repeats, [(rnd, statistics.fmean(values)) for rnd, values in sorted(by_round.items())]


def _short(text: str, limit: int = CELL_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _models(result: CompareResult) -> list[str]:
    return [f"{tag}: " + ", ".join(f"{k}={v}" for k, v in spec.items()) for tag, spec in result.models.items()]


def _arm_row(arm: ArmResult, scale: str) -> list[str]:
    repeats = ", ".join(_score(r.score, scale) for r in arm.repeats)
    return [
        arm.name,
        _score(arm.score, scale),
        _ci(arm.ci_low, arm.ci_high, scale),
        repeats,
        str(arm.calls),
        f"{arm.tokens:,}",
        _cost(arm.cost_usd),
        f"{arm.seconds:.1f} s",
    ]


def _diff_row(d: Difference, scale: str, minus: str) -> list[str]:
    rates = f"{d.wins:.0%} / {d.ties:.0%} / {d.losses:.0%}"
    estimate, interval = _score(d.estimate, scale, True), _ci(d.ci_low, d.ci_high, scale, True)
    return [f"{d.a} {minus} {d.b}", estimate, interval, rates, "yes" if d.significant else "no"]


ARM_HEADERS = ["arm", "score", "95% CI", "per repeat", "calls", "tokens", "cost", "time"]
DIFF_HEADERS = ["difference", "estimate", "95% CI", "win / tie / loss", "significant"]


# ---- terminal


def terminal_table(result: CompareResult) -> str:
    """The plain-text summary `redraft compare` prints: arms, paired differences, verdict."""
    scale = result.score_scale
    keep_cost = any(a.cost_usd is not None for a in result.arms.values())
    drop = set() if keep_cost else {ARM_HEADERS.index("cost")}
    arm_rows = [_arm_row(a, scale) for a in _arms(result)]
    lines = _text_table(_without(ARM_HEADERS, drop), [_without(r, drop) for r in arm_rows], right_from=1)
    if result.majority is not None:
        lines += [baseline_text(result)]
    if result.differences:
        rows = [_diff_row(d, scale, "-") for d in result.differences]
        lines += ["", *_text_table(DIFF_HEADERS, rows, right_from=1)]
    return "\n".join([*lines, "", f"Verdict: {result.verdict}"])


def baseline_text(result: CompareResult) -> str:
    """The majority-class baseline in words."""
    m = result.majority
    assert m is not None
    return f"majority class: always answering '{m.answer}' (train's most frequent) scores {m.score:.3f} on test"


def _without(cells: list[str], drop: set[int]) -> list[str]:
    return [c for i, c in enumerate(cells) if i not in drop]


def _text_table(headers: list[str], rows: list[list[str]], right_from: int) -> list[str]:
    widths = [max(len(c) for c in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if i >= right_from else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *map(line, rows)]


# ---- markdown


def render_markdown(result: CompareResult) -> str:
    """The report as markdown: tables, per-round scores as text, prompt diffs, final prompts, examples."""
    scale, arms = result.score_scale, _arms(result)
    out = [f"# redraft compare: {result.scenario}", "", f"**Verdict:** {result.verdict}", ""]
    out += [
        f"- metric: {result.metric} (scale {scale})",
        f"- repeats: {result.repeats}",
        f"- test examples: {len(result.examples)}",
        *([f"- {baseline_text(result)}"] if result.majority is not None else []),
        f"- created: {result.created}",
    ]
    out += [f"- model {line}" for line in _models(result)]
    out += ["", "## Arms", "", *_md_table(ARM_HEADERS, [_arm_row(a, scale) for a in arms])]
    if result.differences:
        rows = [_diff_row(d, scale, "−") for d in result.differences]
        out += ["", "## Differences", "", *_md_table(DIFF_HEADERS, rows)]
    out += ["", "## Sequential score per round (dev)", "", *_md_rounds(result)]
    out += ["", "## How the prompt changed (sequential, first repeat)", "", *_md_diffs(result)]
    out += ["", "## Final prompts (first repeat of each arm)"]
    for arm in arms:
        prompt = arm.repeats[0].prompt if arm.repeats else ""
        out += ["", f"### {arm.name}", "", *_fenced(prompt)]
    out += ["", "## Test examples", "", "Mean score over repeats; output from the first repeat.", ""]
    headers = ["id", "input", "target"] + [a.name for a in arms]
    rows = []
    for i, ex in enumerate(result.examples):
        cells = [ex.id, ex.input, ex.target or ""]
        for arm in arms:
            value = _example_score(arm, i)
            mark = " ✗" if _is_failure(value, scale) else ""
            cells.append(f"**{_score(value, scale)}**{mark} {_short(_example_output(arm, i), 80)}".strip())
        rows.append(cells)
    out += _md_table(headers, rows)
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return html.escape(_short(text), quote=False).replace("|", "\\|")


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md_cell(c) for c in cells) + " |"

    return [line(headers), "|" + "---|" * len(headers), *map(line, rows)]


def _fenced(text: str, lang: str = "") -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, text.rstrip("\n"), fence]


def _md_rounds(result: CompareResult) -> list[str]:
    repeats, mean = _round_series(result)
    if not mean:
        return ["No per-round dev scores recorded."]
    lo, hi = _bounds(result.score_scale) or (0.0, 1.0)
    seeds = [r.seed for r in result.arms["sequential"].repeats]
    headers = ["round", *[f"seed {s}" for s in seeds], "mean", ""]
    rows = []
    for rnd, value in mean:
        cells = [_score(dict(s).get(rnd), result.score_scale) for s in repeats]
        bar = "█" * round(20 * min(max((value - lo) / (hi - lo), 0.0), 1.0))
        rows.append([str(rnd), *cells, _score(value, result.score_scale), bar])
    levels = [
        f"- {a.name} (test): {_score(a.score, result.score_scale)}" for a in _arms(result) if a.name != "sequential"
    ]
    return [*_md_table(headers, rows), *([""] + levels if levels else [])]


def _md_diffs(result: CompareResult) -> list[str]:
    rounds = _first_rounds(result)
    if len(rounds) < 2:
        return ["Fewer than two rounds recorded; nothing to compare."]
    out: list[str] = []
    for before, after in zip(rounds, rounds[1:]):
        lines = difflib.unified_diff(before.prompt.splitlines(), after.prompt.splitlines(), lineterm="", n=2)
        body = "\n".join(list(lines)[2:]) or " (no change)"
        out += [f"### Round {before.round} → {after.round}", "", *_fenced(body, "diff"), ""]
    return out[:-1]


def _first_rounds(result: CompareResult) -> list[RoundPoint]:
    arm = result.arms.get("sequential")
    return list(arm.repeats[0].rounds) if arm and arm.repeats else []


# ---- HTML


def render_html(result: CompareResult) -> str:
    """The report as one HTML page with inline CSS and SVG that opens offline."""
    esc, scale, arms = html.escape, result.score_scale, _arms(result)
    meta = [
        ("scenario", result.scenario),
        ("metric", f"{result.metric} (scale {scale})"),
        ("repeats", str(result.repeats)),
        ("test examples", str(len(result.examples))),
        ("created", result.created),
        *[("model", m) for m in _models(result)],
    ]
    parts = [
        f"<h1>redraft compare: {esc(result.scenario)}</h1>",
        f'<p class="verdict">{esc(result.verdict)}</p>',
        '<dl class="meta">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta) + "</dl>",
        "<h2>Arms</h2>",
        _html_table(ARM_HEADERS, [_arm_row(a, scale) for a in arms], colors=[_color(a.name, result) for a in arms]),
        f'<p class="note">{esc(baseline_text(result))}</p>' if result.majority is not None else "",
    ]
    if result.differences:
        rows = [_diff_row(d, scale, "−") for d in result.differences]
        parts += ["<h2>Differences</h2>", _html_table(DIFF_HEADERS, rows)]
    parts += [
        "<h2>Score per round</h2>",
        '<p class="note">Sequential: dev score after each round (faint: each repeat; bold: mean over the repeats'
        f" that reached the round).{LEVELS_NOTE if len(arms) > 1 else ''}</p>",
        _chart_svg(result),
        "<h2>How the prompt changed (sequential, first repeat)</h2>",
        _html_diffs(result),
        "<h2>Final prompts (first repeat of each arm)</h2>",
        f'<div class="prompts" style="grid-template-columns: repeat({max(len(arms), 1)}, minmax(0, 1fr))">',
        *[_html_prompt(a, result) for a in arms],
        "</div>",
        "<h2>Test examples</h2>",
        '<p class="note">Score: mean over repeats (red: below the middle of the scale); output: first repeat.</p>',
        _html_examples(result, arms),
    ]
    title = esc(f"redraft compare: {result.scenario}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Nothing may load from anywhere: the page is a single offline file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


NUM = ' class="num"'
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#212529;
 max-width:1140px;margin:24px auto;padding:0 16px;background:#fff}
h1{font-size:26px;margin:0 0 12px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #dee2e6}
.verdict{font-size:18px;font-weight:600;background:#fff4e6;border-left:5px solid #f76707;
 padding:10px 14px;margin:0 0 12px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;color:#495057}
.meta dt{font-weight:600}.meta dd{margin:0}.note{color:#6c757d;font-size:13px;margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5}th.num{text-align:right}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
svg#score-chart{width:100%;max-width:820px;height:auto;display:block;font-family:inherit}
.diff,.prompt{white-space:pre-wrap;word-wrap:break-word;font:13px/1.45 ui-monospace,"DejaVu Sans Mono",monospace;
 background:#f8f9fa;border:1px solid #dee2e6;border-radius:4px;padding:8px 10px;margin:4px 0 12px}
ins{background:#d3f9d8;color:#2b8a3e;text-decoration:none}del{background:#ffe3e3;color:#c92a2a}
h3{font-size:15px;margin:12px 0 4px}.prompts{display:grid;gap:12px}
.ex td{overflow-wrap:anywhere;min-width:7em}.ex td.id{white-space:nowrap;min-width:0}.ex td.in{min-width:16em}
td.fail{background:#fff5f5}td.fail .s{color:#c92a2a}.s{font-weight:700}.out{color:#495057;font-size:13px}
"""


def _html_table(headers: list[str], rows: list[list[str]], colors: list[str] | None = None) -> str:
    head = "".join(f"<th{NUM if i else ''}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        swatch = f'<span class="swatch" style="background:{colors[r]}"></span>' if colors else ""
        cells = [f"<td>{swatch}{html.escape(row[0])}</td>"]
        cells += [f"<td{NUM}>{html.escape(c)}</td>" for c in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _word_diff(old: str, new: str) -> str:
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(a[i1:i2])))
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
    return "".join(out)


def _html_diffs(result: CompareResult) -> str:
    rounds = _first_rounds(result)
    if not rounds:
        return '<p class="note">No rounds recorded.</p>'
    scale = result.score_scale
    first = rounds[0]
    parts = [
        f"<h3>Round {first.round} (dev {_score(first.dev_score, scale)})</h3>",
        f'<div class="prompt">{html.escape(first.prompt)}</div>',
    ]
    for before, after in zip(rounds, rounds[1:]):
        change = f"dev {_score(before.dev_score, scale)} → {_score(after.dev_score, scale)}"
        body = _word_diff(before.prompt, after.prompt) if before.prompt != after.prompt else "(no change)"
        parts += [f"<h3>Round {before.round} → {after.round} ({change})</h3>", f'<div class="diff">{body}</div>']
    return "\n".join(parts)


def _html_prompt(arm: ArmResult, result: CompareResult) -> str:
    first = arm.repeats[0] if arm.repeats else None
    label = f"{arm.name} — test {_score(first.score, result.score_scale)}, seed {first.seed}" if first else arm.name
    swatch = f'<span class="swatch" style="background:{_color(arm.name, result)}"></span>'
    prompt = html.escape(first.prompt if first else "")
    return f'<div><h3>{swatch}{html.escape(label)}</h3><div class="prompt">{prompt}</div></div>'


def _cell(text: str, css: str) -> str:
    return f'<td class="{css}" title="{html.escape(text)}">{html.escape(_short(text))}</td>'


def _html_examples(result: CompareResult, arms: list[ArmResult]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["id", "input", "target", *[a.name for a in arms]])
    rows = []
    for i, ex in enumerate(result.examples):
        cells = [f'<td class="id">{html.escape(ex.id)}</td>', _cell(ex.input, "in"), _cell(ex.target or "", "tg")]
        for arm in arms:
            value, output = _example_score(arm, i), _example_output(arm, i)
            fail = ' class="fail"' if _is_failure(value, result.score_scale) else ""
            cells.append(
                f'<td{fail} title="{html.escape(output)}"><span class="s">{_score(value, result.score_scale)}'
                f'</span> <span class="out">{html.escape(_short(output, 100))}</span></td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="ex"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# ---- SVG chart

W, H, LEFT, RIGHT, TOP, BOTTOM, INSET = 820, 400, 64, 24, 16, 96, 14
DASH: dict[str, object] = {"stroke_width": 2, "stroke_dasharray": "8 5"}
FAINT: dict[str, object] = {"stroke_opacity": 0.3, "stroke_width": 1.5}


def _el(name: str, body: str = "", **attrs: object) -> str:
    """One SVG element; attribute names use _ for -, values are escaped, floats get one decimal."""
    text = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{html.escape(f"{v:.1f}" if isinstance(v, float) else str(v))}"'
        for k, v in attrs.items()
    )
    return f"<{name}{text}>{body}</{name}>" if body else f"<{name}{text}/>"


def _y_range(values: list[float], bounds: tuple[float, float] | None) -> tuple[float, float]:
    if not values:
        return bounds or (0.0, 1.0)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or ((bounds[1] - bounds[0]) * 0.05 if bounds else max(abs(hi) * 0.05, 0.05))
    new_lo, new_hi = lo - pad, hi + pad
    if bounds:  # stay inside the scale unless the data itself leaves it
        new_lo = max(new_lo, bounds[0]) if lo >= bounds[0] else new_lo
        new_hi = min(new_hi, bounds[1]) if hi <= bounds[1] else new_hi
    return (new_lo, new_hi) if new_hi > new_lo else (new_lo - 0.5, new_hi + 0.5)


def _ticks(lo: float, hi: float) -> tuple[list[float], int]:
    """Round tick values inside [lo, hi] and how many decimals they need."""
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]
    return ticks, max(0, math.ceil(-math.log10(step) - 1e-9))


def _chart_svg(result: CompareResult) -> str:
    repeats, mean = _round_series(result)
    seq, scale = ARM_COLORS["sequential"], result.score_scale
    levels = [(a.name, a.score) for a in _arms(result) if a.name != "sequential"]
    y_lo, y_hi = _y_range([v for s in repeats for _, v in s] + [v for _, v in levels], _bounds(scale))
    x_lo, x_hi = (mean[0][0], mean[-1][0]) if mean else (1, 1)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    x0, x1, y0, y1 = LEFT, W - RIGHT, TOP, H - BOTTOM

    def x(rnd: float) -> float:
        return x0 + INSET + (rnd - x_lo) / (x_hi - x_lo) * (x1 - x0 - 2 * INSET)

    def y(value: float) -> float:
        return y0 + (y_hi - value) / (y_hi - y_lo) * (y1 - y0)

    def points(series: Series) -> str:
        return " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in series)

    small, axis = {"font_size": 12, "fill": "#495057"}, {"font_size": 13, "fill": "#212529"}
    out = [f'<svg id="score-chart" viewBox="0 0 {W} {H}" role="img" aria-label="Score per round">']
    out += ["<title>Score per round</title>", _el("rect", x=x0, y=y0, width=x1 - x0, height=y1 - y0, fill="#fff")]
    ticks, digits = _ticks(y_lo, y_hi)
    for t in ticks:
        out.append(_el("line", x1=x0, x2=x1, y1=y(t), y2=y(t), stroke="#e9ecef"))
        out.append(_el("text", f"{t:.{digits}f}", x=x0 - 8, y=y(t) + 4, text_anchor="end", **small))
    for rnd in range(math.ceil(x_lo), math.floor(x_hi) + 1, max(1, math.ceil((x_hi - x_lo) / 12))):
        out.append(_el("line", x1=x(rnd), x2=x(rnd), y1=y1, y2=y1 + 5, stroke="#495057"))
        out.append(_el("text", str(rnd), x=x(rnd), y=y1 + 19, text_anchor="middle", **small))
    out.append(_el("rect", x=x0, y=y0, width=x1 - x0, height=y1 - y0, fill="none", stroke="#adb5bd"))
    out.append(_el("text", "round", x=(x0 + x1) / 2, y=y1 + 40, text_anchor="middle", **axis))
    turn = f"translate(16 {(y0 + y1) / 2}) rotate(-90)"
    out.append(_el("text", f"score ({scale})", transform=turn, text_anchor="middle", **axis))
    for name, value in levels:
        attrs = {"x1": x0, "x2": x1, "y1": y(value), "y2": y(value), "stroke": _color(name, result), **DASH}
        out.append(_el("line", class_="level", data_arm=name, **attrs))
    for series in repeats:
        if len(series) == 1:  # a polyline needs two points
            (rnd, value), dot = series[0], {"r": 3.5, "fill": seq, "fill_opacity": 0.3}
            out.append(_el("circle", class_="repeat", cx=x(rnd), cy=y(value), **dot))
        elif series:
            out.append(_el("polyline", class_="repeat", points=points(series), fill="none", stroke=seq, **FAINT))
    if mean:
        line = {"fill": "none", "stroke": seq, "stroke_width": 3, "stroke_linejoin": "round"}
        out.append(_el("polyline", id="sequential-mean", data_arm="sequential", points=points(mean), **line))
        for r, v in mean:
            tip = _el("title", f"round {r}: {_score(v, scale)}")
            out.append(_el("circle", tip, cx=x(r), cy=y(v), r=4.5, fill=seq))
    else:
        empty = {"text_anchor": "middle", "font_size": 14, "fill": "#868e96"}
        out.append(_el("text", "no per-round dev scores recorded", x=(x0 + x1) / 2, y=(y0 + y1) / 2, **empty))
    out.append(_legend(result, levels, bool(mean), y1 + 62))
    return "\n".join(out + ["</svg>"])


def _legend(result: CompareResult, levels: list[tuple[str, float]], has_mean: bool, top: float) -> str:
    seq = ARM_COLORS["sequential"]
    items: list[tuple[dict[str, object], str]] = []
    if has_mean:
        items += [({"stroke": seq, "stroke_width": 3}, "sequential, mean (dev)")]
        items += [({"stroke": seq, **FAINT}, "sequential, each repeat")]
    items += [({"stroke": _color(n, result), **DASH}, f"{n} (test) {_score(v, result.score_scale)}") for n, v in levels]
    out, left = [], LEFT
    for stroke, label in items:
        width = 34 + 7 * len(label) + 22
        if left + width > W and left > LEFT:  # wrap onto a second row
            left, top = LEFT, top + 20
        out.append(_el("line", x1=left, x2=left + 28, y1=top, y2=top, **stroke))
        out.append(_el("text", label, x=left + 34, y=top + 4, font_size=12, fill="#212529"))
        left += width
    return "".join(out)


# ---- files


def write_reports(result: CompareResult, out_dir: Path) -> dict[str, Path]:
    """Write compare.json, report.md and report.html into out_dir; return their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "compare.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["json"].write_text(result.model_dump_json(indent=2), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(result), encoding="utf-8")
    paths["html"].write_text(render_html(result), encoding="utf-8")
    return paths
