"""The comparison report: compare.json, markdown, self-contained HTML with its chart, and the terminal table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from render_check import count_colors, layout, read_png, render

from redraft.config import Baseline
from redraft.records import ArmRepeat, ArmResult, CompareResult, ComparedExample, Difference, RoundPoint
from redraft.report import ARM_COLORS, render_html, render_markdown, terminal_table, write_reports
from redraft.report.chart import LEFT, PLOT_H, RIGHT, TOP, W
from redraft.report.pages import page as html_page

EVIL = "Reply politely & briefly. <script>alert(1)</script>"
VERDICT = "Sequential refinement beat single-shot by +0.15 (95% CI +0.05 to +0.25); best-of-N was not different."


def _repeat(seed: int, prompt: str, per_example: list[float], rounds: list[RoundPoint] | None = None) -> ArmRepeat:
    outputs = [f"Answer {i} for seed {seed} <b>bold?</b>" for i in range(len(per_example))]
    return ArmRepeat(
        seed=seed,
        prompt=prompt,
        score=sum(per_example) / len(per_example),
        per_example=per_example,
        outputs=outputs,
        calls=6,
        network_calls=4,
        cache_hits=2,
        network_seconds=9.5,
        tokens=1500 + seed,
        cost_usd=0.0031,
        seconds=4.2,
        rounds=rounds or [],
    )


def _arm(name: str, repeats: list[ArmRepeat]) -> ArmResult:
    score = sum(r.score for r in repeats) / len(repeats)
    return ArmResult(
        name=name,
        score=score,
        ci_low=score - 0.08,
        ci_high=score + 0.08,
        repeats=repeats,
        calls=sum(r.calls for r in repeats),
        network_calls=sum(r.network_calls for r in repeats),
        cache_hits=sum(r.cache_hits for r in repeats),
        network_seconds=sum(r.network_seconds for r in repeats),
        tokens=sum(r.tokens for r in repeats),
        cost_usd=sum(r.cost_usd or 0 for r in repeats),
        seconds=sum(r.seconds for r in repeats),
    )


def _rounds(seed: int, scores: list[float | None]) -> list[RoundPoint]:
    prompts = ["Answer the ticket.", "Answer the customer ticket politely.\nName the product.", EVIL]
    return [RoundPoint(round=i + 1, prompt=prompts[i % 3], train_score=s, dev_score=s) for i, s in enumerate(scores)]


def make_result(**changes: object) -> CompareResult:
    """Three arms, two repeats, three rounds, four examples; one prompt carries <script> and &."""
    arms = {
        "single_shot": _arm(
            "single_shot",
            [_repeat(1, "Answer the ticket.", [1, 0, 1, 0]), _repeat(2, "Answer the ticket!", [1, 0, 0, 0])],
        ),
        "best_of_n": _arm(
            "best_of_n",
            [_repeat(1, "Answer tickets with care.", [1, 1, 0, 0]), _repeat(2, "Answer tickets kindly.", [1, 0, 1, 0])],
        ),
        "sequential": _arm(
            "sequential",
            [
                _repeat(1, EVIL, [1, 1, 1, 0], _rounds(1, [0.5, 0.7, 0.8])),
                _repeat(2, EVIL, [1, 1, 0, 1], _rounds(2, [0.4, None, 0.9])),
            ],
        ),
    }
    data = dict(
        scenario="support_reply",
        metric="exact",
        score_scale="0-1",
        repeats=2,
        arms=arms,
        differences=[
            Difference(
                a="sequential",
                b="single_shot",
                estimate=0.375,
                ci_low=0.1,
                ci_high=0.6,
                wins=0.5,
                ties=0.5,
                losses=0.0,
                significant=True,
            ),
            Difference(
                a="sequential",
                b="best_of_n",
                estimate=0.25,
                ci_low=-0.1,
                ci_high=0.5,
                wins=0.5,
                ties=0.25,
                losses=0.25,
                significant=False,
            ),
        ],
        verdict=VERDICT,
        examples=[
            ComparedExample(
                id=f"t{i}",
                input=f"Ticket {i}: my order <#{i}> & invoice " + "x" * 300 * (i == 0),
                target=None if i == 3 else f"label {i}",
            )
            for i in range(4)
        ],
        created="2025-01-02T03:04:05Z",
        models={"default": {"tag": "default", "model": "gpt-4o-mini", "api_type": "openai", "temperature": 0.7,
                            "max_tokens": 256}},
    )
    data.update(changes)
    return CompareResult.model_validate(data)


def test_write_reports_writes_three_files_and_json_round_trips(tmp_path: Path) -> None:
    result = make_result()
    paths = write_reports(result, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["compare.json", "report.html", "report.md"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
    assert CompareResult.model_validate_json(paths["json"].read_text()) == result


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(make_result())
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"https?://", page)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "polite &amp; briefly" not in page and "politely &amp; briefly" in page
    assert "<b>bold?</b>" not in page and "&lt;b&gt;bold?&lt;/b&gt;" in page
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert VERDICT in page


def test_html_chart_has_the_sequential_dev_line_and_every_arms_test_level() -> None:
    page = render_html(make_result())
    svg = re.search(r'<svg id="score-chart".*?</svg>', page, re.S)
    assert svg, "the page has no svg#score-chart"
    chart = svg.group(0)
    mean = re.search(r'<polyline id="sequential-mean"[^>]*points="([^"]+)"', chart)
    assert mean and len(mean.group(1).split()) == 3  # rounds 1-3, round 2 from one repeat only
    assert chart.count('class="repeat"') == 2
    levels = re.findall(r'<line class="level" data-arm="(\w+)"[^>]*stroke-dasharray', chart)
    assert sorted(levels) == ["best_of_n", "sequential", "single_shot"]
    assert ARM_COLORS["sequential"] in chart and ">round<" in chart and "score (0-1)" in chart
    # The legend says which examples each line is scored on: the chat's rounds on dev, every final prompt on test.
    assert ">sequential: dev score, mean over repeats<" in chart and ">sequential: dev score, each repeat<" in chart
    assert ">single_shot: test score 0.375 (n=4)<" in chart and ">sequential: test score 0.750 (n=4)<" in chart


def test_the_majority_class_stands_beside_the_arms() -> None:
    result = make_result(majority=Baseline(answer="label 1", score=0.25))
    chart = re.search(r'<svg id="score-chart".*?</svg>', render_html(result), re.S).group(0)
    assert re.search(r'<line class="baseline"[^>]*stroke-dasharray', chart)
    assert ">majority class: test score 0.250<" in chart
    assert "majority class (&#x27;label 1&#x27;)" in render_html(result)
    assert re.search(r"^majority class \('label 1'\)\s+0\.250\s", terminal_table(result), re.M)
    assert re.search(r"^\| majority class \('label 1'\) \| 0\.250 \|", render_markdown(result), re.M)
    assert "- majority class: 0.250" in render_markdown(result)


def test_calls_and_time_are_split_into_network_and_cache() -> None:
    text = terminal_table(make_result())
    head = text.splitlines()[0]
    assert re.search(r"network calls\s+network time\s+cached calls\s+optimization tokens\s+test tokens/query\s+cost\s+wall time$", head)
    assert re.search(r"^sequential\s.*\s8\s+19\.0 s\s+4\s+3,003\s+–\s+\$0\.0062\s+8\.4 s$", text, re.M)
    assert "Cached calls were replayed from the reply cache and took no time" in text
    result = make_result()
    for arm in result.arms.values():
        arm.cache_hits = 0
    assert "Cached calls were replayed" not in terminal_table(result)


def test_html_has_diff_prompts_and_examples() -> None:
    page = render_html(make_result())
    assert "<ins>" in page and "<del>" in page
    assert page.count('class="prompt"') >= 3
    assert 'class="fail"' in page
    full_input = "Ticket 0: my order &lt;#0&gt; &amp; invoice " + "x" * 300
    assert f'title="{full_input}"' in page and "…" in page


def test_markdown_has_verdict_tables_diff_and_prompts() -> None:
    md = render_markdown(make_result())
    assert VERDICT in md
    for name in ("single_shot", "best_of_n", "sequential"):
        assert re.search(rf"^\| {name} \| ", md, re.M), f"no table row for {name}"
    assert "```diff" in md and "sequential − single_shot" in md
    assert "| 2 | 0.700 | – | 0.700 |" in md  # seed 2 has no dev score in round 2
    assert "alert(1)" in md and "&lt;#0&gt;" in md


def test_terminal_table_lists_arms_differences_and_verdict() -> None:
    text = terminal_table(make_result())
    for name in ("single_shot", "best_of_n", "sequential"):
        assert re.search(rf"^{name}\s+0\.\d{{3}}\s+\[", text, re.M)
    assert "sequential - single_shot" in text and "yes" in text and "no" in text
    assert "$0.0062" in text and "50% / 50% / 0%" in text
    assert text.rstrip().endswith(f"Verdict: {VERDICT}")


def test_terminal_table_hides_cost_when_unknown() -> None:
    result = make_result()
    for arm in result.arms.values():
        arm.cost_usd = None
    assert "cost" not in terminal_table(result)


def _only_sequential() -> CompareResult:
    return make_result(arms={"sequential": make_result().arms["sequential"]}, differences=[])


def _one_round() -> CompareResult:
    result = make_result()
    for repeat in result.arms["sequential"].repeats:
        repeat.rounds = repeat.rounds[:1]
    return result


def _equal_scores() -> CompareResult:
    result = make_result(score_scale="1-10")
    for arm in result.arms.values():
        arm.score = 7.0
        for repeat in arm.repeats:
            repeat.rounds = [RoundPoint(round=r.round, prompt=r.prompt, dev_score=7.0) for r in repeat.rounds]
    return result


def _no_rounds() -> CompareResult:
    result = make_result()
    for repeat in result.arms["sequential"].repeats:
        repeat.rounds = [RoundPoint(round=1, prompt="p")]
    return result


@pytest.mark.parametrize("build", [_only_sequential, _one_round, _equal_scores, _no_rounds])
def test_edge_cases_render(build, tmp_path: Path) -> None:
    result = build()
    write_reports(result, tmp_path)
    assert 'id="score-chart"' in render_html(result)
    assert result.verdict in render_markdown(result) and result.verdict in terminal_table(result)


def test_single_round_and_equal_scores_stay_inside_the_plot() -> None:
    for result in (_one_round(), _equal_scores()):
        chart = re.search(r'<svg id="score-chart".*?</svg>', render_html(result), re.S).group(0)
        dots = re.findall(r'<circle class="marker"[^>]* cx="([\d.-]+)" cy="([\d.-]+)"', chart)
        assert dots
        for cx, cy in dots:
            assert LEFT <= float(cx) <= W - RIGHT and TOP <= float(cy) <= TOP + PLOT_H


def _chart_alone(page: str, chart_id: str, folder: Path) -> Path:
    """One of the report's charts on a page of its own, so its pixels are counted apart from the tables'."""
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', page, re.S)
    assert svg, f"the page has no svg#{chart_id}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chart_id}.html"
    path.write_text(html_page(chart_id, [svg.group(0)]), encoding="utf-8")
    return path


def test_arms_with_equal_scores_each_show_their_dashed_line(tmp_path: Path) -> None:
    result = _equal_scores()  # every arm, and the sequential mean, at 7.0
    assert {a.score for a in result.arms.values()} == {7.0}
    shot, _ = render(_chart_alone(render_html(result), "score-chart", tmp_path / "chart"), tmp_path)
    counts = count_colors(shot, [ARM_COLORS["single_shot"], ARM_COLORS["best_of_n"]])
    # Drawn one over another, only the last arm's line showed: the others kept only their legend swatch (~45 px).
    assert counts[ARM_COLORS["single_shot"]] >= 250 and counts[ARM_COLORS["best_of_n"]] >= 250, counts


def _intervals(page: str) -> str:
    found = re.search(r'<svg id="arm-intervals".*?</svg>', page, re.S)
    assert found, "the page has no svg#arm-intervals"
    return found.group(0)


def test_each_arm_has_a_dot_inside_its_interval_on_the_whole_scale() -> None:
    result = make_result(majority=Baseline(answer="label 1", score=0.25))
    svg = _intervals(render_html(result))
    dots = re.findall(r'<circle class="arm-dot" data-arm="(\w+)" cx="([\d.]+)"', svg)
    assert sorted(name for name, _ in dots) == sorted(result.arms)
    ticks = [float(t) for t in re.findall(r'class="x-tick"[^>]*>([\d.]+)<', svg)]
    assert ticks[0] == 0.0 and ticks[-1] == 1.0  # the x axis is the 0-1 scale, not a zoom on the arms
    x_of = {t: float(x) for t, x in zip(ticks, re.findall(r'class="x-tick" x="([\d.]+)"', svg))}
    for name, cx in dots:
        arm = result.arms[name]
        where = x_of[0.0] + arm.score * (x_of[1.0] - x_of[0.0])
        assert abs(float(cx) - where) < 0.2, (name, cx, where)
        assert f">{arm.score:.3f} [{arm.ci_low:.3f}, {arm.ci_high:.3f}]<" in svg
    assert re.search(r'<line class="reference"', svg) and ">majority class: 0.250<" in svg


def test_a_long_final_prompt_leaves_no_hole_beside_it(tmp_path: Path) -> None:
    result = make_result()
    long_prompt = "\n".join(f"Rule {i}: answer the ticket in the customer's language." for i in range(60))
    result.arms["best_of_n"].repeats[0].prompt = long_prompt
    page = write_reports(result, tmp_path / "out")["html"]
    boxes = layout(page, tmp_path, [".prompts", ".prompts > div"])
    (grid,), prompts = boxes[".prompts"], boxes[".prompts > div"]
    assert len(prompts) == 3
    tallest = max(prompts, key=lambda b: b["height"])
    assert tallest["height"] > 900
    # Side by side, the short prompts' column ended ~1000 px above the long one's: now nothing stands beside it.
    assert all(b["width"] >= grid["width"] - 1 for b in prompts), prompts


def test_chromium_renders_the_chart(tmp_path: Path) -> None:
    page = write_reports(make_result(), tmp_path / "out")["html"]
    shot, dom = render(page, tmp_path)
    assert '<svg id="score-chart"' in dom and 'id="sequential-mean"' in dom
    width, height, _, _ = read_png(shot)
    assert (width, height) == (1200, 1600)
    # The bold mean line and its markers; the faint repeat lines blend and do not count.
    counts = count_colors(shot, [ARM_COLORS["sequential"], ARM_COLORS["single_shot"]])
    assert counts[ARM_COLORS["sequential"]] >= 300, counts
    assert counts[ARM_COLORS["single_shot"]] >= 150, counts  # its dashed level line


def test_missing_chromium_fails_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("render_check.shutil.which", lambda name: None)
    with pytest.raises(AssertionError, match="apt-get install chromium"):
        render(Path("report.html"), Path("."))


def test_chart_labels_from_a_result_file_are_text() -> None:
    result = make_result()
    arm = result.arms.pop("best_of_n")
    arm.name = "<b>x</b>"
    result.arms[arm.name] = arm
    page = render_html(result)
    for chart_id in ("score-chart", "arm-intervals"):
        svg = re.search(rf'<svg id="{chart_id}".*?</svg>', page, re.S).group(0)
        assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg, chart_id
