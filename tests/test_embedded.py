"""End to end on the real embedded model (SmolLM2-135M through llama.cpp), offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded


def _server_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "redraft.llm.embedded" in line]


def test_support_reply_two_rounds_on_the_embedded_model(isolated: Path) -> None:
    before = _server_processes()
    proc = subprocess.run(
        [sys.executable, "-m", "redraft.cli", "run", "support_reply", "--rounds", "2", "--runs-dir", "out"],
        cwd=isolated, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "embedded model ready at http://127.0.0.1:" in proc.stderr
    assert "Round 1" in proc.stdout and "Final prompt" in proc.stdout

    (run,) = list((isolated / "out").iterdir())
    assert run.name.endswith("-support_reply")
    lines = [json.loads(x) for x in (run / "transcript.jsonl").read_text().splitlines()]
    assert {"prompt_engineer", "task_executor", "clarity", "fidelity", "format", "critic_panel", "moderator"} <= {
        ln["source"] for ln in lines}
    assert max(ln["round"] for ln in lines) >= 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["scenario"] == "support_reply"
    assert 1 <= len(summary["rounds"]) <= 2
    assert summary["usage"]["calls"] > 0 and summary["usage"]["completion_tokens"] > 0
    assert summary["models"]["task_executor"]["api_type"] == "embedded"
    assert summary["stop_reason"] and not summary["stop_reason"].startswith("error")
    for r in summary["rounds"]:
        assert (run / "prompts" / f"round-{r['round']}.txt").read_text().strip() == r["prompt"].strip()
    assert (run / "final_prompt.txt").read_text().strip() == summary["final_prompt"].strip()
    # The server was stopped: no embedded server process outlives the run.
    assert _server_processes() == before


def test_labeled_ticket_routing_reports_train_dev_panel_and_test(isolated: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "redraft.cli", "run", "ticket_routing", "--rounds", "1", "--runs-dir", "out", "--quiet"],
        cwd=isolated, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = list((isolated / "out").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    (r1,) = summary["rounds"]
    assert 0 <= r1["train_score"] <= 1 and 0 <= r1["dev_score"] <= 1
    assert r1["panel"]["agreement"]["method"] == "krippendorff_alpha_interval"
    assert r1["panel"]["noise"]["repeats"] == 1
    test = summary["test"]
    assert test["n"] == 24 and 0 <= test["ci_low"] <= test["score"] <= test["ci_high"] <= 1
    lines = [json.loads(x) for x in (run / "transcript.jsonl").read_text().splitlines()]
    assert [ln["kind"] for ln in lines][-1] == "test" and "evaluator" in {ln["source"] for ln in lines}
    assert "test " in proc.stdout and "held out" in proc.stdout


def test_missing_model_file_gives_the_way_out(isolated: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", "ticket_routing", "--gguf", "nope.gguf"],
                          cwd=isolated, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--gguf: model file not found: nope.gguf" in proc.stderr


def test_a_file_that_is_not_gguf_is_refused(isolated: Path) -> None:
    (isolated / "fake.gguf").write_text("not a model")
    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", "ticket_routing"], cwd=isolated,
                          capture_output=True, text=True, timeout=60, env={**__import__("os").environ, "REDRAFT_GGUF": "fake.gguf"})
    assert proc.returncode != 0 and "REDRAFT_GGUF: fake.gguf is not a GGUF model file" in proc.stderr
