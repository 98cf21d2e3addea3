"""What a run shows about itself: the terminal summary, summary.json and report.html, with every labeled score
beside the majority-class baseline."""

from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import run
from test_compare import sentiment_models, sentiment_scenario

from redraft.console import Console


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
