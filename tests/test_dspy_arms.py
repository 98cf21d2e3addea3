"""bench/quality.py's DSPy anchor arms end to end against a scripted OpenAI-compatible server on 127.0.0.1: a tiny
trec split, each arm at its light settings, its row written and `--table` setting it against sequential's.

Skipped without the bench-only extra (pip install -e '.[bench-dspy]'), as in CI, which does not install it."""

from __future__ import annotations

import json
import re
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dspy")
pytest.importorskip("optuna")

from fakeserver import FakeOpenAI  # noqa: E402

from redraft.config import load_scenario  # noqa: E402
from redraft.llm import ConfiguredModels, parse_config_list  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import dspy_arms  # noqa: E402
import quality  # noqa: E402

INSTRUCTION = "Name the kind of answer the question asks for."
TRAIN = [("Who wrote Hamlet ?", "human"), ("Where is Lima ?", "location"), ("How many legs has a spider ?", "number"),
         ("What does NASA stand for ?", "abbreviation"), ("Who painted the Mona Lisa ?", "human"),
         ("Why is the sky blue ?", "description"), ("What is the largest planet ?", "location"),
         ("What color is a ruby ?", "entity")]
DEV = [("Who invented the phone ?", "human"), ("Where is Oslo ?", "location"), ("How old is the sun ?", "number"),
       ("Who founded Rome ?", "human"), ("What is DNA short for ?", "abbreviation"), ("Why do cats purr ?", "description"),
       ("Who discovered penicillin ?", "human"), ("What is a tulip ?", "entity"), ("Where is Cairo ?", "location"),
       ("How far is the moon ?", "number"), ("Who wrote Faust ?", "human"), ("What is a ruble ?", "entity")]


def dspy_reply(request: dict[str, Any]) -> str:
    """A reply in the format a DSPy adapter asked for (field markers, or a JSON object), every output field filled:
    the answer always 'human', any other field (instructions, summaries, reasoning) one fixed sentence."""
    last = request["messages"][-1]["content"]
    asked = last.rsplit("Respond with", 1)[-1]
    fields = [f for f in re.findall(r"`(?:\[\[ ## )?(\w+)(?: ## \]\])?`", asked) if f != "completed"]
    values = {f: "human" if f == "answer" else INSTRUCTION for f in fields}
    if "JSON" in asked or request.get("response_format"):
        return json.dumps(values)
    return "".join(f"[[ ## {f} ## ]]\n{v}\n\n" for f, v in values.items()) + "[[ ## completed ## ]]"


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """quality.py on a tiny trec dataset, its run folders in tmp_path, both model tags on one scripted server."""
    data = tmp_path / "datasets" / "trec"
    data.mkdir(parents=True)
    for name, rows in (("train", TRAIN), ("dev", DEV)):
        (data / f"{name}.jsonl").write_text("".join(json.dumps({"input": i, "target": t}) + "\n" for i, t in rows))
    monkeypatch.setattr(quality, "DATASETS", tmp_path / "datasets")
    monkeypatch.setattr(quality, "CACHE", tmp_path / "cache")
    with FakeOpenAI(dspy_reply) as server:
        entries = [{"model": f"fake-{tag}", "base_url": server.base_url, "api_key": "none", "tags": [tag],
                    "max_concurrency": 4} for tag in ("optimizer", "task")]
        models = ConfiguredModels(parse_config_list(json.dumps(entries), "test"), "test")

        def start_models(setup: str, stack: ExitStack, log_dir: Path) -> tuple[ConfiguredModels, dict[str, str]]:
            return models, {"optimizer": "fake-optimizer", "task": "fake-task"}

        monkeypatch.setattr(quality, "start_models", start_models)
        yield server


SIZES = ["--train", "8", "--dev", "6", "--test", "6"]


def carved_targets(tmp_path: Path) -> list[str]:
    """The test split's targets, as the other arms' scenario carves it."""
    path = quality.scenario_for("trec", {"train": 8, "dev": 6, "test": 6, "minibatch": 8}, None, tmp_path, 0)
    return [e.target for e in load_scenario(path).splits.test]


@pytest.mark.parametrize("arm", ["dspy_mipro", "dspy_gepa"])
def test_an_anchor_arm_runs_and_the_table_sets_it_against_sequential(arm: str, bench: FakeOpenAI, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.jsonl"
    assert quality.main(["--task", "trec", "--arm", arm, "--repeat", "0", *SIZES, "--results", str(results)]) == 0
    row = json.loads(results.read_text())
    got = row["arms"][arm]
    # Scored by redraft's label metric, example by example, in the test carve's order: the server answers 'human'.
    assert got["per_example"] == [[1.0 if t == "human" else 0.0 for t in carved_targets(tmp_path)]]
    # Every call counted: the scripted usage is 15 tokens a call, and the test made one call per example.
    assert got["calls"] > 0 and got["tokens"] == 15 * got["calls"] and got["test_tokens_per_query"] == 15
    assert len(bench.requests) == got["calls"] + 6
    # The task's 20 reply tokens, plus room for DSPy's field markers.
    assert {r["max_completion_tokens"] for r in bench.requests if r["model"] == "fake-task"} == {20 + dspy_arms.FORMAT_TOKENS}
    assert (row["anchor"], row["repeat"], row["split_seed"]) == (arm, 0, quality.SPLIT_SEED)

    sequential = {**row, "anchor": None, "arms": {"sequential": {**got, "per_example": [[1.0] * 6]}}}
    with results.open("a") as fh:
        fh.write(json.dumps(sequential) + "\n")
    capsys.readouterr()
    assert quality.main(["--table", "--results", str(results)]) == 0
    table = capsys.readouterr().out
    assert f"| b | trec | 1 | {arm} (DSPy " in table
    gap = 1 - sum(got["per_example"][0]) / 6
    assert f"| b | trec | 1 | sequential − {arm} | {gap:+.3f} |" in table
    assert "test scored 2 times" in table


def test_without_dspy_the_arm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dspy", None)  # importing it now raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "dspy_arms", raising=False)
    with pytest.raises(SystemExit, match=r"needs DSPy, the bench-only extra: pip install -e '\.\[bench-dspy\]'"):
        quality.dspy_arms_module("dspy_mipro")
