"""Render a comparison as a terminal table, a markdown report and one self-contained HTML page."""

from __future__ import annotations

import difflib
import html
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

from ..records import ARMS, ArmResult, CompareResult, Difference, RoundPoint, record_words
from ..secrets import scrub_data
from . import pages
from .chart import Axis, Level, Line, Series, line_chart, scale_bounds
from .intervals import Estimate, Reference, interval_chart

__all__ = ["render_html", "render_markdown", "terminal_table", "write_reports"]

ARM_COLORS = {"sequential": "#d6336c", "single_shot": "#1c7ed6", "best_of_n": "#2f9e44", "start": "#495057",
              "best_of_n_demos": "#7048e8", "demos_only": "#f08c00"}
OTHER_COLORS = ("#7048e8", "#f08c00", "#0c8599")
BASELINE_COLOR = "#868e96"


# ---- shared helpers


def _arms(result: CompareResult) -> list[ArmResult]:
    known = [result.arms[name] for name in ARMS if name in result.arms]
    return known + [arm for name, arm in result.arms.items() if name not in ARMS]


def _color(name: str, result: CompareResult) -> str:
    others = [n for n in result.arms if n not in ARM_COLORS]
    return ARM_COLORS.get(name) or OTHER_COLORS[others.index(name) % len(OTHER_COLORS)]


def _is_failure(value: float | None, scale: str) -> bool:
    """Below the midpoint of the score scale counts as a failure."""
    bounds = scale_bounds(scale) or (0.0, 1.0)
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


def _models(result: CompareResult) -> list[tuple[str, str]]:
    return pages.model_lines(result.models)


def _arm_row(arm: ArmResult, scale: str) -> list[str]:
    repeats = ", ".join(pages.score(r.score, scale) for r in arm.repeats)
    return [
        arm.name,
        pages.score(arm.score, scale),
        pages.interval(arm.ci_low, arm.ci_high, scale),
        repeats,
        str(arm.network_calls),
        f"{arm.network_seconds:.1f} s",
        str(arm.cache_hits),
        f"{arm.tokens:,}",
        "–" if arm.test_tokens_per_query is None else f"{arm.test_tokens_per_query:,.0f}",
        pages.cost(arm.cost_usd),
        f"{arm.seconds:.1f} s",
    ]


def _baseline_row(result: CompareResult) -> list[str]:
    """The majority class as a row of the arms' table: its score, and no cost at all."""
    m = result.majority
    assert m is not None
    return [f"majority class ('{m.answer}')", pages.score(m.score, result.score_scale), *["–"] * (len(ARM_HEADERS) - 2)]


def _rows(result: CompareResult) -> list[list[str]]:
    rows = [_arm_row(a, result.score_scale) for a in _arms(result)]
    return rows + ([_baseline_row(result)] if result.majority is not None else [])


def _diff_row(d: Difference, scale: str, minus: str) -> list[str]:
    rates = f"{d.wins:.0%} / {d.ties:.0%} / {d.losses:.0%}"
    estimate, interval = pages.score(d.estimate, scale, True), pages.interval(d.ci_low, d.ci_high, scale, True)
    p = "–" if d.p_adjusted is None else f"{d.p_adjusted:.3f}"
    return [f"{d.a} {minus} {d.b}", estimate, interval, rates, p, "yes" if d.significant else "no"]


ARM_HEADERS = ["arm", "score", "95% CI", "per repeat", "network calls", "network time", "cached calls",
               "optimization tokens", "test tokens/query", "cost", "wall time"]
CACHE_NOTE = ("network time: time inside model calls over the network, summed (calls side by side overlap, so it can "
              "exceed the wall time). Cached calls were replayed from the reply cache and took no time: compare wall "
              "times only between arms without cached calls (--no-cache runs every call).")
DIFF_HEADERS = ["difference", "estimate", "95% CI", "win / tie / loss", "adjusted p", "significant"]
DIFF_NOTE = ("Each difference's interval and p count the spread between repeats (the repeat is the unit, repeats − 1 "
             "degrees of freedom); p is Holm-adjusted over the differences above, and significant means adjusted p < 0.05. "
             "optimization tokens: what making the prompt spent; test tokens/query: what the executor spends per input "
             "with the prompt (worked examples add turns to every query).")


JUDGE_HEADERS = ["arm", "against", "win", "tie", "loss", "95% CI of win"]


def judge_rows(result: CompareResult) -> list[list[str]]:
    """Rubric: the judge's win / tie / loss of each arm against start and against sequential."""
    return [[a.name, j.against, f"{j.win:.0%}", f"{j.tie:.0%}", f"{j.loss:.0%}", f"{j.win_low:.0%}..{j.win_high:.0%}"]
            for a in _arms(result) for j in a.judged]


def judge_note(result: CompareResult) -> str:
    """What the judge is and how much to trust it."""
    c = result.judge_consistency
    kept = "n/a (no pair was judged in both orders)" if c is None else f"{c:.0%}"
    return (f"Scored by an independent judge ({result.judge_calls} calls), never by the critics who steered the chat: each "
            "test input's two outputs compared in both orders; an arm's score is its preference over your prompt (1 "
            f"preferred, 0.5 tie, 0 not). Swapping the order kept the judge's verdict in {kept} of pairs.")


# ---- terminal


def terminal_table(result: CompareResult) -> str:
    """The plain-text summary `redraft compare` prints: arms (and the majority class), paired differences, verdict."""
    keep_cost = any(a.cost_usd is not None for a in result.arms.values())
    drop = set() if keep_cost else {ARM_HEADERS.index("cost")}
    lines = _text_table(_without(ARM_HEADERS, drop), [_without(r, drop) for r in _rows(result)], right_from=1)
    if result.majority is not None:
        lines += [baseline_text(result)]
    if any(a.cache_hits for a in result.arms.values()):
        lines += [CACHE_NOTE]
    if result.differences:
        rows = [_diff_row(d, result.score_scale, "-") for d in result.differences]
        lines += ["", *_text_table(DIFF_HEADERS, rows, right_from=1), DIFF_NOTE]
    if any(a.judged for a in result.arms.values()):
        lines += ["", *_text_table(JUDGE_HEADERS, judge_rows(result), right_from=2), judge_note(result)]
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
    scale, arms, md = result.score_scale, _arms(result), _md_text
    out = [f"# redraft compare: {md(result.scenario)}", "", f"**Verdict:** {md(result.verdict)}", ""]
    out += [
        f"- metric: {md(result.metric)} (scale {scale})",
        f"- repeats: {result.repeats}",
        f"- test examples: {len(result.examples)}",
        *([f"- {md(baseline_text(result))}"] if result.majority is not None else []),
        f"- created: {md(result.created)}",
    ]
    out += [f"- {key}: {md(line)}" for key, line in _models(result)]
    out += ["", "## Arms", "", *_md_table(ARM_HEADERS, _rows(result)), "", CACHE_NOTE]
    if result.differences:
        rows = [_diff_row(d, scale, "−") for d in result.differences]
        out += ["", "## Differences", "", *_md_table(DIFF_HEADERS, rows), "", md(DIFF_NOTE)]
    if any(a.judged for a in result.arms.values()):
        out += ["", "## Judge", "", *_md_table(JUDGE_HEADERS, judge_rows(result)), "", md(judge_note(result))]
    out += ["", "## Sequential score per round (dev)", "", *_md_rounds(result)]
    out += ["", "## How the prompt changed (sequential, first repeat)", "", *_md_diffs(result)]
    out += ["", "## Final prompts (first repeat of each arm)"]
    for arm in arms:
        prompt = arm.repeats[0].prompt if arm.repeats else ""
        out += ["", f"### {md(arm.name)}", "", *_fenced(prompt)]
    out += ["", "## Test examples", "", "Mean score over repeats; output from the first repeat.", ""]
    headers = ["id", "input", "target"] + [a.name for a in arms]
    rows = []
    for i, ex in enumerate(result.examples):
        cells = [ex.id, ex.input, ex.target or ""]
        for arm in arms:
            value = _example_score(arm, i)
            mark = " ✗" if _is_failure(value, scale) else ""
            cells.append(f"**{pages.score(value, scale)}**{mark} {pages.short(_example_output(arm, i), 80)}".strip())
        rows.append(cells)
    out += _md_table(headers, rows)
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return _md_text(pages.short(text)).replace("|", "\\|")


def _md_text(text: str) -> str:
    """A label from the scenario, the data or the model config (a name, a target, a model) as inert markdown text:
    HTML escaped, so `<img onerror=...>` shows as text in a viewer that renders HTML; brackets escaped, so it makes
    no link or image; on one line, so it cannot start a heading or a list. Prompts go in fenced blocks instead."""
    flat = " ".join(html.escape(text, quote=False).split())
    return flat.replace("[", "\\[").replace("]", "\\]")


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
    lo, hi = scale_bounds(result.score_scale) or (0.0, 1.0)
    seeds = [r.seed for r in result.arms["sequential"].repeats]
    headers = ["round", *[f"seed {s}" for s in seeds], "mean", ""]
    rows = []
    for rnd, value in mean:
        cells = [pages.score(dict(s).get(rnd), result.score_scale) for s in repeats]
        bar = "█" * round(20 * min(max((value - lo) / (hi - lo), 0.0), 1.0))
        rows.append([str(rnd), *cells, pages.score(value, result.score_scale), bar])
    levels = [f"- {_md_text(a.name)}: {pages.score(a.score, result.score_scale)}" for a in _arms(result)]
    if result.majority is not None:
        levels.append(f"- majority class: {pages.score(result.majority.score, result.score_scale)}")
    head = f"The final prompts on the {len(result.examples)} test examples (compare these with each other, not with the dev scores above):"
    return [*_md_table(headers, rows), "", head, "", *levels]


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
        *_models(result),
    ]
    colors = [_color(a.name, result) for a in arms] + ([BASELINE_COLOR] if result.majority is not None else [])
    parts = [
        f"<h1>redraft compare: {esc(result.scenario)}</h1>",
        f'<p class="verdict">{esc(result.verdict)}</p>',
        pages.meta_list(meta),
        "<h2>Arms</h2>",
        pages.note(INTERVAL_NOTE.format(n=len(result.examples))),
        _interval_svg(result),
        pages.table(ARM_HEADERS, _rows(result), colors=colors,
                    row_css=["" for _ in arms] + (["baseline"] if result.majority is not None else [])),
        pages.note(baseline_text(result)) if result.majority is not None else "",
        pages.note(CACHE_NOTE),
    ]
    if result.differences:
        rows = [_diff_row(d, scale, "−") for d in result.differences]
        parts += ["<h2>Differences</h2>", pages.table(DIFF_HEADERS, rows), pages.note(DIFF_NOTE)]
    if any(a.judged for a in result.arms.values()):
        parts += ["<h2>Judge</h2>", pages.table(JUDGE_HEADERS, judge_rows(result)), pages.note(judge_note(result))]
    parts += [
        "<h2>Score per round</h2>",
        pages.note(CHART_NOTE.format(n=len(result.examples))),
        _chart_svg(result),
        "<h2>How the prompt changed (sequential, first repeat)</h2>",
        _html_diffs(result),
        "<h2>Final prompts (first repeat of each arm)</h2>",
        '<div class="prompts">',  # one under another: side by side, a long prompt left a column-high hole beside it
        *[_html_prompt(a, result) for a in arms],
        "</div>",
        "<h2>Test examples</h2>",
        pages.note("Score: mean over repeats (red: below the middle of the scale); output: first repeat."),
        _html_examples(result, arms),
    ]
    return pages.page(f"redraft compare: {result.scenario}", parts)


CHART_NOTE = ("Solid: the sequential arm's score on the dev examples after each round, the set it chooses its prompt "
              "on (faint: each repeat; bold: the mean over the repeats that reached the round). Dashed: the final "
              "prompt of each arm, and the majority class, on the {n} test examples. Compare dashed with dashed: a "
              "dev score is not a test score.")


def _chart_svg(result: CompareResult) -> str:
    """The sequential arm's dev score per round beside every arm's (and the majority class's) test score."""
    repeats, mean = _round_series(result)
    seq, scale, n = ARM_COLORS["sequential"], result.score_scale, len(result.examples)
    several = len(repeats) > 1
    lines = [Line(series, seq, "sequential: dev score, each repeat" if i == 0 and several else None, faint=True,
                  dots=False, attrs={"class_": "repeat"}) for i, series in enumerate(repeats)] if several else []
    if mean:
        label = "sequential: dev score" + (", mean over repeats" if several else "")
        lines.append(Line(mean, seq, label, attrs={"id": "sequential-mean", "data_arm": "sequential"}))
    levels = [Level(a.score, _color(a.name, result), f"{a.name}: test score {pages.score(a.score, scale)} (n={n})",
                    {"class_": "level", "data_arm": a.name}) for a in _arms(result)]
    if result.majority is not None:
        m = result.majority
        levels.append(Level(m.score, BASELINE_COLOR, f"majority class: test score {pages.score(m.score, scale)}",
                            {"class_": "baseline"}))
    return line_chart(lines, levels, Axis(f"score ({scale})", scale), empty="no per-round dev scores recorded",
                      fmt="{:.3f}" if scale == "0-1" else "{:.2f}")


INTERVAL_NOTE = ("Each arm's score on the {n} test examples: the dot is the mean over repeats, the bar its 95% "
                 "interval, the faint ticks each repeat's score.")


def _interval_svg(result: CompareResult) -> str:
    """Each arm's test score as a dot with its interval, across the whole scale, beside the majority class."""
    scale = result.score_scale
    rows = [Estimate(a.name, a.score, a.ci_low, a.ci_high, _color(a.name, result),
                     f"{pages.score(a.score, scale)} {pages.interval(a.ci_low, a.ci_high, scale)}",
                     points=[r.score for r in a.repeats], attrs={"class_": "arm-dot", "data_arm": a.name})
            for a in _arms(result)]
    m = result.majority
    reference = Reference(m.score, f"majority class: {pages.score(m.score, scale)}", BASELINE_COLOR) if m else None
    return interval_chart(rows, scale, f"test score ({scale})", reference)


def _html_diffs(result: CompareResult) -> str:
    rounds = _first_rounds(result)
    if not rounds:
        return '<p class="note">No rounds recorded.</p>'
    scale = result.score_scale
    first = rounds[0]
    parts = [
        f"<h3>Round {first.round} (dev {pages.score(first.dev_score, scale)})</h3>",
        f'<div class="prompt">{html.escape(first.prompt)}</div>',
    ]
    for before, after in zip(rounds, rounds[1:]):
        change = f"dev {pages.score(before.dev_score, scale)} → {pages.score(after.dev_score, scale)}"
        body = pages.word_diff(before.prompt, after.prompt) if before.prompt != after.prompt else "(no change)"
        parts += [f"<h3>Round {before.round} → {after.round} ({change})</h3>", f'<div class="diff">{body}</div>']
    return "\n".join(parts)


def _html_prompt(arm: ArmResult, result: CompareResult) -> str:
    first = arm.repeats[0] if arm.repeats else None
    label = f"{arm.name} — test {pages.score(first.score, result.score_scale)}, seed {first.seed}" if first else arm.name
    swatch = f'<span class="swatch" style="background:{_color(arm.name, result)}"></span>'
    prompt = html.escape(first.prompt if first else "")
    return f'<div><h3>{swatch}{html.escape(label)}</h3><div class="prompt">{prompt}</div></div>'


def _html_examples(result: CompareResult, arms: list[ArmResult]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["id", "input", "target", *[a.name for a in arms]])
    rows = []
    for i, ex in enumerate(result.examples):
        cells = [f'<td class="id">{html.escape(ex.id)}</td>', pages.cell(ex.input, "in"), pages.cell(ex.target or "", "tg")]
        for arm in arms:
            value, output = _example_score(arm, i), _example_output(arm, i)
            fail = ' class="fail"' if _is_failure(value, result.score_scale) else ""
            cells.append(
                f'<td{fail} title="{html.escape(output)}"><span class="s">{pages.score(value, result.score_scale)}'
                f'</span> <span class="out">{html.escape(pages.short(output, 100))}</span></td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="ex"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# ---- files


def write_reports(result: CompareResult, out_dir: Path) -> dict[str, Path]:
    """Write compare.json, report.md and report.html into out_dir; return their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = CompareResult.model_validate(scrub_data(result.model_dump(mode="json"), record_words()))  # no secret in any report
    paths = {"json": out_dir / "compare.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["json"].write_text(result.model_dump_json(indent=2), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(result), encoding="utf-8")
    paths["html"].write_text(render_html(result), encoding="utf-8")
    return paths
