"""bench/dev_chat.py's count of engineer edits, read from a run folder as a chat writes it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from dev_chat import edit_outcomes, line, pick_summary, picks, rank_correlation  # noqa: E402


def test_every_dropped_edit_is_counted_whatever_the_reason(tmp_path: Path) -> None:
    """A drop reads "- define_labels unusable: …" or "- simplify: the same prompt as an earlier candidate"; the
    second kind went uncounted, so stop 36's tables said 14 edits asked where 18 were."""
    rounds = [{"round": 1, "candidates": [{"operator": "draft"}]},
              {"round": 2, "candidates": [
                  {"operator": "demos", "screen": 0.9, "parent_screen": 0.5, "dev": 0.6, "chosen": True},
                  {"operator": "fix_errors", "screen": 0.4, "parent_screen": 0.5, "dev": None, "chosen": False,
                   "changes": "rule (its second reply: the first was sent back, it pasted the input \"x\")"}]}]
    (tmp_path / "state.json").write_text(json.dumps({"run": {"rounds": rounds}}), encoding="utf-8")
    proposal = ("Proposed 2 candidates for round 2:\n[1] demos: added 12 worked examples\n    Classify.\n"
                "Dropped (3):\n- simplify: the same prompt as an earlier candidate\n"
                '- define_labels unusable: it pasted the input "Who wrote Hamlet ?" into the instructions\n'
                "- output_format: the same prompt as an earlier candidate")
    lines = [{"source": "prompt_engineer", "round": 1, "content": "Round 1 drafts\nDropped (1):\n- draft: junk"},
             {"source": "prompt_engineer", "round": 2, "content": proposal},
             {"source": "evaluator", "round": 2, "content": "Dropped (1):\n- simplify: not an engineer message"}]
    (tmp_path / "transcript.jsonl").write_text("\n".join(map(json.dumps, lines)), encoding="utf-8")
    out = edit_outcomes(tmp_path)
    assert out["simplify"] == {"dropped": 1, "asked": 1}
    assert out["output_format"] == {"dropped": 1, "asked": 1}
    assert out["define_labels"] == {"dropped": 1, "asked": 1}
    assert out["demos"] == {"ran": 1, "beat_parent": 1, "dev": 1, "chosen": 1, "second_reply": 0, "asked": 1}
    assert out["fix_errors"] == {"ran": 1, "beat_parent": 0, "dev": 0, "chosen": 0, "second_reply": 1, "asked": 1}
    assert "draft" not in out  # round 1's drafts are no edits


def test_a_row_with_held_out_scores_says_how_well_dev_picked() -> None:
    """The final prompt won dev, so its dev score leans high; the row says what it scored on train examples the
    run never saw, beside your prompt and the best of the prompts dev scored, how dev ranked them, and what
    choosing on dev plus half the held-out examples would have scored on the other half."""
    prompts = [{"round": 1, "operator": "start", "dev": 0.40, "dev_n": 30, "per_example": [0, 0, 1, 0]},
               {"round": 2, "operator": "demos", "dev": 0.60, "dev_n": 30, "per_example": [1, 1, 1, 1]},
               {"round": 3, "operator": "fix_errors", "dev": 0.63, "dev_n": 30, "per_example": [0, 0, 0, 1]}]
    for p in prompts:
        p |= {"held": sum(p["per_example"]) / 4, "final": p["round"] == 3, "start": p["round"] == 1,
              "demos": 0 if p["round"] == 1 else 12}
    row = {"code": "abc", "task": "trec", "demos_only": False, "repeat": 0, "against_start": {"start": 0.40},
           "best_dev": 0.63, "calls": 300, "tokens": 90000, "seconds": 900, "edits": {},
           "held": {"n": 4, "prompts": prompts}}
    text = line(row)
    assert "held-out train (n=4): final 0.25, your prompt 0.25" in text
    assert "best of the 3 dev-scored prompts 1.00 (round 2 demos, dev 0.60)" in text
    assert "rank correlation +0.00 (among the 2 with worked examples n/a)" in text
    # dev and the first half pooled pick round 2 (20 of 32 right against the final's 19 of 32)
    assert picks(row["held"]) == {"final": 0.5, "pooled_top3": 1.0, "pooled_all": 1.0, "start": 0.5, "oracle": 1.0}
    assert "picked by final 0.50, pooled_top3 1.00" in text
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == "-1.00" and rank_correlation([1, 1, 1], [1, 2, 3]) == "n/a"
    assert "held-out" not in line({**row, "held": None})
    assert "trec sequential, 24 worked examples r0:" in line({**row, "demos": 24})
    (summary,) = pick_summary([row, {**row, "held": None}])
    assert summary.startswith("trec sequential, 1 run(s), on the second half of the held-out examples: final 0.500;")
    assert "pooled_top3 1.000 (+0.500 against final, better in 1, worse in 0)" in summary


def test_held_out_scores_come_from_train_examples_the_run_never_saw(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole dev_chat run on scripted models with --held: every prompt scored on dev is scored again on the
    train examples after the run's train, none of which the run saw, and the row marks the final and your prompt."""
    import dev_chat
    from test_compare import ROLES, sentiment_examples, sentiment_models

    rows = [json.dumps({"id": f"r{i}", "input": t, "target": y}) for i, (t, y) in enumerate(sentiment_examples(60))]
    (tmp_path / "train.jsonl").write_text("\n".join(rows[:40]), encoding="utf-8")
    (tmp_path / "dev.jsonl").write_text("\n".join(rows[40:]), encoding="utf-8")

    def scenario_for(name: str, sizes: dict, rounds: int | None, folder: Path, repeat: int = 0) -> Path:
        path = folder / f"s{sizes['train']}.yaml"
        split = f"{{train: {sizes['train']}, dev: {sizes['dev']}, test: {sizes['test']}, seed: 5}}"
        path.write_text(f"""\
name: sentiment
description: Classify reviews.
task: Classify the sentiment of a product review as positive or negative.
dataset: {{train_file: {tmp_path / 'train.jsonl'}, dev_file: {tmp_path / 'dev.jsonl'}, split: {split}}}
metric: {{type: label, labels: [positive, negative]}}
minibatch: {sizes['minibatch']}
noise_repeats: 0
criteria: [{{name: correct, description: The label is right.}}]
critics: [clarity, fidelity]
rounds: {rounds}
stop: {{patience: 3}}
seed: {11 + repeat}
{ROLES}""", encoding="utf-8")
        return path

    monkeypatch.setattr(dev_chat, "scenario_for", scenario_for)
    models = sentiment_models()
    args = argparse.Namespace(task="trec", setup="b", train=10, dev=8, test=5, minibatch=4, rounds=2,
                              demos_only=False, held=12)
    row = asyncio.run(dev_chat.run_one(args, models, 0, tmp_path / "out"))
    held = row["held"]
    assert held["n"] == 12 and held["prompts"]
    assert sum(p["final"] for p in held["prompts"]) == 1 and sum(p["start"] for p in held["prompts"]) <= 1
    assert all(len(p["per_example"]) == 12 and p["held"] == sum(p["per_example"]) / 12 for p in held["prompts"])
    state = json.loads((Path(row["run"]) / "state.json").read_text(encoding="utf-8"))["run"]
    seen = {i for ev in state["evaluations"].values() for i in (*ev["train"], *ev["dev"])}
    assert seen and not seen & set(held["ids"])  # never run by the chat
    assert all(i.startswith("train-") for i in held["ids"])  # from train.jsonl, never dev.jsonl (test's pool)
    assert "held-out train (n=12)" in dev_chat.line(row)
