"""What a run shows about itself: the terminal summary, summary.json and report.html, with every labeled score
beside the majority-class baseline."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import ScriptedModels, proposal, review, run, write_scenario
from render_check import count_colors, layout, render
from test_compare import sentiment_models, sentiment_scenario
from test_round import SEEDED, V1, V2, three_round_script

from redraft.config import Budget
from redraft.console import Console
from redraft.eval import ISSUE_MAX, cut_loop
from redraft.llm import Endpoint
from redraft.records import FOCUS_NOTE_MAX, ModelDescription
from redraft.report import COLORS
from redraft.report.chart import PLOT_H, TOP


def test_labeled_scores_stand_beside_the_majority_class(isolated: Path) -> None:
    out = run(sentiment_scenario(isolated, rounds=2), sentiment_models())
    data = json.loads((out.run_dir.path / "summary.json").read_text(encoding="utf-8"))
    majority = data["majority"]
    assert set(majority) == {"train", "dev", "test"}
    assert {b["answer"] for b in majority.values()} == {majority["train"]["answer"]}
    # On train the majority answer scores exactly its share of the targets.
    config = json.loads((out.run_dir.path / "config.json").read_text(encoding="utf-8"))
    train = [e["target"] for e in config["splits"]["train"]]
    assert majority["train"]["score"] == round(train.count(majority["train"]["answer"]) / len(train), 4)

    text = io.StringIO()
    Console(text).summary(out.summary, str(out.run_dir.path))
    shown = text.getvalue()
    answer = majority["dev"]["answer"]
    assert f"majority class: always answering '{answer}'" in shown
    assert f"; majority class {majority['dev']['score']:.2f} on dev" in shown
    assert f"; majority class {majority['test']['score']:.3f}" in shown


def test_every_long_step_shows_its_calls_and_the_time_left(isolated: Path) -> None:
    from redraft import RunOptions, run_scenario
    from redraft.api import Hooks

    seen: list[str] = []
    options = RunOptions(runs_dir=isolated / "runs", no_cache=True, rounds=2)
    run_scenario(str(sentiment_scenario(isolated)), options, Hooks(on_progress=seen.append), models=sentiment_models())
    # Round 2's engineer edits the best prompt (3 requests), the executor screens and scores the candidates.
    assert "round 2: prompt_engineer — 0s" in seen
    assert any(re.fullmatch(r"round 2: task_executor — \d+/\d+ calls in \d+s, about \d+s left", p) for p in seen)
    # The held-out test scoring at the end is counted too, call by call, up to all 10 test examples.
    test = [p for p in seen if p.startswith("scoring the final prompt (round ")]
    assert test[0].endswith("on 10 test examples — 0s")
    assert any(re.fullmatch(r".* — \d/10 calls in \d+s, about \d+s left", p) for p in test)
    assert re.fullmatch(r".* — 10/10 calls in \d+s", test[-1])


def chart_of(page: str) -> str:
    found = re.search(r'<svg id="score-chart".*?</svg>', page, re.S)
    assert found, "the page has no svg#score-chart"
    return found.group(0)


def points(chart: str, line_id: str) -> list[str]:
    found = re.search(rf'<polyline id="{line_id}"[^>]*points="([^"]+)"', chart)
    assert found, f"no line {line_id}"
    return found.group(1).split()


def y_ticks(chart: str, side: str) -> tuple[float, float]:
    """The values at the bottom and the top of a y axis, checked to sit at the plot's lower and upper edges."""
    ticks = [(float(v), float(y)) for y, v in re.findall(rf'class="y-tick-{side}" y="([\d.]+)"[^>]*>([\d.]+)<', chart)]
    (low, at_low), (high, at_high) = min(ticks), max(ticks)
    assert at_low - 4 == TOP + PLOT_H and at_high - 4 == TOP, ticks  # labels sit 4 px below their tick
    return low, high


def test_a_labeled_run_writes_a_report_chromium_renders(isolated: Path) -> None:
    out = run(sentiment_scenario(isolated, rounds=3), sentiment_models())
    s = out.summary
    page = out.run_dir.path / "report.html"
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and not re.search(r"https?://", text)  # one offline file
    shot, dom = render(page, isolated)

    # The chart: a point per round on each line, and a legend that names the examples each is scored on.
    chart = chart_of(dom)
    assert len(s.rounds) == 3
    assert len(points(chart, "dev-line")) == len(points(chart, "train-line")) == len(points(chart, "panel-line")) == 3
    majority = s.majority
    assert ">dev (10 examples)<" in chart and ">train (minibatch of up to 4)<" in chart
    assert ">panel (critics, 1-10, right axis)<" in chart and ">panel score (1-10)<" in chart
    # Both axes span their whole scale: the panel's flat 6.0 is not zoomed into looking like movement.
    assert y_ticks(chart, "left") == (0.0, 1.0) and y_ticks(chart, "right") == (1.0, 10.0)
    assert f">majority class on dev: {majority['dev'].score:.3f}<" in chart
    assert f">final prompt on test (10 examples): {s.test.score:.3f}<" in chart
    assert count_colors(shot, [COLORS["dev"]])[COLORS["dev"]] >= 300

    # Each round: the prompt kept as a diff from the best so far, the engineer's note, the candidates, the errors
    # as a confusion table (expected -> answered), the critics' issues, the selection decision.
    rounds = re.findall(r'<section class="round" id="round-(\d)">(.*?)</section>', dom, re.S)
    assert [n for n, _ in rounds] == ["1", "2", "3"]
    later = rounds[1][1]
    assert "against the best so far (round 1)" in later and "<ins>" in later  # what round 2 added to round 1
    assert "Engineer's note:" in later and "(chosen)" in later and "minibatch (parent)" in later
    assert "be concrete" in later and "Selection:</b> kept as the new best (mean rule)" in later
    for _, body in rounds:
        table = re.search(r'<table class="confusion">(.*?)</table>', body, re.S)
        assert table and "<th>negative</th>" in table.group(1) and "<th>positive</th>" in table.group(1)
    # The held-out test score with its interval, beside the majority class; its own confusion table.
    test = dom.split("<h2>Test (held out)</h2>")[1].split("<h2>")[0]
    assert f"{s.test.ci_low:.3f}..{s.test.ci_high:.3f}" in test and f"majority class ('{majority['test'].answer}')" in test
    assert 'class="confusion"' in test
    assert f"majority class {majority['test'].score:.3f}" in dom.split("</p>")[0] + dom  # the headline says it too
    # Usage per role and round, the test scoring as its own column.
    usage = dom.split("<h2>Usage per role and round</h2>")[1].split("<h2>")[0]
    assert all(f"<th class=\"num\">{c}</th>" in usage for c in ("round 1", "round 3", "test", "total"))
    assert re.search(r"<td>task_executor</td>(<td[^>]*>[^<]+</td>){5}", usage)


def test_a_rubric_run_shows_failing_outputs_critics_and_unparsed_reviews(isolated: Path, scenario_file: Path) -> None:
    out = run(scenario_file, three_round_script())
    text = (out.run_dir.path / "report.html").read_text(encoding="utf-8")
    chart = chart_of(text)
    assert len(points(chart, "dev-line")) == 3 and ">panel (critics, 1-10)<" in chart and "right axis" not in chart
    first = text.split('id="round-1"')[1].split("</section>")[0]
    assert "approves a 60-day-old refund" in first and "ignores the policy" in first
    assert "outputs scored below 5.5 by the panel" in first and "Sure, refund approved." in first
    third = text.split('id="round-3"')[1].split("</section>")[0]
    assert "against the best so far (round 2)" in third and "not kept" in third and "review unparseable" in third
    assert "No test score (no test examples in the split)." in text


def test_a_stopped_run_has_its_report_and_redraft_report_remakes_it_from_the_folder(isolated: Path,
                                                                                     scenario_file: Path) -> None:
    out = run(scenario_file, three_round_script(), budget=Budget(max_calls=4))
    folder = out.run_dir.path
    assert "budget cap reached" in (folder / "report.html").read_text(encoding="utf-8")
    # A run killed before it could write a summary: the report is made from the checkpoint alone.
    (folder / "summary.json").unlink()
    (folder / "report.html").unlink()
    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "report", str(folder)], cwd=isolated,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"report: {folder / 'report.html'}"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Stopped: unfinished." in page and 'id="round-1"' in page
    assert not (folder / "summary.json").exists()  # reporting reads the folder; it writes only the report

    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "report", str(isolated)], cwd=isolated,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a redraft run folder (config.json and state.json are needed to report on it)" in proc.stderr


def test_a_rubric_chart_spans_the_scale_and_the_page_and_shows_train_under_dev(isolated: Path,
                                                                               scenario_file: Path) -> None:
    out = run(scenario_file, three_round_script())  # no split: train and dev are the same inputs and scores
    assert all(r.train_score == r.dev_score for r in out.summary.rounds)
    page = out.run_dir.path / "report.html"
    chart = chart_of(page.read_text(encoding="utf-8"))
    assert y_ticks(chart, "left") == (1.0, 10.0)
    assert ">panel score (1-10)<" in chart and "(1-10 (" not in chart
    assert ">train (minibatch of up to 2) — the same as dev in every round<" in chart
    # The train line, drawn beneath dev, shows along its edges; it used to show only in the legend (~90 px).
    alone = isolated / "chart.html"
    alone.write_text(f"<!DOCTYPE html><html><body style='margin:0;width:1140px'>{chart}</body></html>", encoding="utf-8")
    shot, _ = render(alone, isolated)
    assert count_colors(shot, [COLORS["train"]])[COLORS["train"]] >= 1000
    # The chart is as wide as the page's text, not 820 of its 1140 px.
    boxes = layout(page, isolated, ["svg#score-chart", "h2"])
    assert boxes["svg#score-chart"][0]["width"] >= boxes["h2"][0]["width"] - 1


GGUF = "/home/someone/.cache/redraft/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"
EDIT = "Tell the customer how many days ago the purchase was and compare that with the thirty-day refund window before you answer them"
LONG_NOTE = "Fix the policy first now. " + " ".join(f"Rule {i} covers orders from day {i * 7}." for i in range(40))


class EmbeddedModels(ScriptedModels):
    """Every tag on one embedded model file, as the default setup runs."""

    def endpoint(self, tag: str) -> Endpoint:
        return Endpoint(id=f"scripted|{tag}", max_retries=0, structured_output=True,
                        description=ModelDescription(model="qwen2.5-0.5b", api_type="embedded", gguf=GGUF))


def test_a_round_that_proposes_the_same_prompt_again_says_only_unchanged(isolated: Path) -> None:
    cut = EDIT[:ISSUE_MAX]  # the reply's schema caps an edit at ISSUE_MAX characters: it ends mid-word
    assert len(EDIT) > ISSUE_MAX and EDIT[ISSUE_MAX - 1].isalpha() and EDIT[ISSUE_MAX].isalpha()
    assert cut_loop(LONG_NOTE) == LONG_NOTE and len(LONG_NOTE) > FOCUS_NOTE_MAX  # the moderator cuts it at the cap,
    assert LONG_NOTE[FOCUS_NOTE_MAX - 1].isalnum() and LONG_NOTE[FOCUS_NOTE_MAX].isalnum()  # inside a word
    models = EmbeddedModels({
        # Round 2 hands round 1's prompt back, and again when asked for sentences to add instead, and again when
        # that reply is sent back for adding nothing.
        "pe": [proposal(V1, "added the 30-day rule and a closing line"), proposal(V1, "kept it"),
               proposal(V1, "kept it"), proposal(V2, "added the 30-day rule")],
        "exe": ["Sure, refund approved."] * 4 + ["Yes, within 30 days.", "Sorry, past 30 days."],
        "c1": [review(4, 5, ["approves a 60-day-old refund"], [cut, "State the 30-day limit."]),
               review(4, 5), review(8, 8)],
        "c2": [review(4, 4, ["ignores the policy"], ["state the 30-day limit"]), review(4, 4), review(8, 9)],
        "mod": [LONG_NOTE, "Keep it short."],
    })
    out = run(write_scenario(isolated, SEEDED), models)
    page = (out.run_dir.path / "report.html").read_text(encoding="utf-8")
    rounds = dict(re.findall(r'<section class="round" id="round-(\d)">(.*?)</section>', page, re.S))

    # Round 2 proposed round 1's prompt again: it says so, and compares nothing.
    assert "Round 2 — prompt_engineer: unchanged</h3>" in rounds["2"]
    assert "Selection:</b> unchanged: the same prompt as round 1." in rounds["2"]
    table = page.split("<h2>Test (held out)</h2>")[0]
    assert "wins by" not in rounds["2"] and "<td>unchanged: the same prompt as round 1</td>" in table
    assert "wins by +4.000" in rounds["3"]  # a changed prompt still gets its comparison
    # Its note claims changes the prompt does not show; round 3's changes are in its diff.
    assert "added the 30-day rule and a closing line <span class=\"flag\">(the note describes a change the prompt " \
           "does not show)</span>" in rounds["2"]
    assert 'class="flag"' not in rounds["3"] and 'class="flag"' not in rounds["1"]

    # Round 1's critics: the two critics' same edit once, with its count; the cut edit ends at a word, with "…".
    edits = re.findall(r'<li>(.*?) <span class="note">(.*?)</span></li>', rounds["1"].split("Suggested edits")[1])
    assert len(edits) == 2 and edits[1] == ("State the 30-day limit.", "×2: clarity, fidelity")
    assert edits[0][0].endswith("…") and EDIT.startswith(edits[0][0][:-1] + " ")
    # The focus ends with the moderator's note, cut at a word with "…".
    focus = re.search(r"Focus next:</b> (.*?)</p>", rounds["1"]).group(1)
    shown_note = focus[focus.index(LONG_NOTE[:20]):]
    assert focus.endswith("…") and LONG_NOTE.startswith(shown_note[:-1] + " ")

    # Five roles on one model file: its path once, its name on the one line for the model.
    assert page.count(GGUF) == 1
    models_line = re.findall(r"<dt>model</dt><dd>(.*?)</dd>", page)
    assert len(models_line) == 1 and "gguf=qwen2.5-0.5b-instruct-q4_k_m.gguf" in models_line[0]
    assert all(f"{role} (tag=" in models_line[0] for role in ("prompt_engineer", "task_executor", "moderator"))
