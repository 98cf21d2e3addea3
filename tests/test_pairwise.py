"""Rubric scenarios with `selection: {rule: pairwise}`: the Moderator keeps a round's prompt when its outputs
beat the best prompt's on the same inputs, each pair asked in both orders, whatever the panel's 1-10 scores say."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conftest import run, write_scenario
from test_compare import ROLES, FakeModels

PAIR = re.compile(r'Output A:\s*"""\s*(.*?)\s*"""\s*Output B:\s*"""\s*(.*?)\s*"""', re.S)
START = "Answer the refund request politely."


def scenario(folder: Path, rounds: int = 3, *, start: str = f"task: Answer a refund request under the 30-day policy.\n"
             f"seed_prompt: {START}", extra: str = "") -> Path:
    """Ten refund requests with pairwise selection; `start` gives the task (and seed prompt), `extra` more keys."""
    inputs = "\n".join(f'  - "Customer {i} asks for a refund of order {i}."' for i in range(10))
    return write_scenario(folder, f"""\
name: refunds
description: Reply to refund requests.
{start}
inputs:
{inputs}
split: {{train: 4, dev: 3, test: 3}}
minibatch: 2
criteria:
  - name: policy
    description: Follows the 30-day policy.
critics: [clarity, fidelity]
rounds: {rounds}
noise_repeats: 0
selection: {{rule: pairwise}}
{extra}{ROLES}""")


def engineer(versions: list[str]):  # noqa: ANN201
    """Proposes the given prompts in turn, one per revision request."""
    asked: list[str] = []

    def answer(texts: list[str], args: dict[str, Any]) -> str:
        asked.append(texts[-1])
        return json.dumps({"prompt": versions[min(len(asked), len(versions)) - 1], "changes": "tuned"})

    return answer


def executor(texts: list[str], args: dict[str, Any]) -> str:
    """Cites the 30-day rule when the prompt mentions it; otherwise a vague reply."""
    return "Refunds within 30 days: yours qualifies." if "30 days" in texts[0] else "We will look into it."


def contrary_critic(texts: list[str], args: dict[str, Any]) -> str:
    """A panel that scores backwards: 1/10 for replies that cite the rule, 10/10 for vague ones."""
    schema = args["response_format"]["json_schema"]["schema"]
    n = schema["properties"]["per_output"]["minItems"]
    outputs = re.findall(r"output: (.*)", texts[-1])
    per = [1 if "30 days" in o else 10 for o in outputs][:n] + [5] * max(0, n - len(outputs))
    return json.dumps({"scores": {"policy": per[0]}, "per_output": per, "issues": ["be concrete"], "edits": []})


def moderator(texts: list[str], args: dict[str, Any]) -> str:
    """Compares two replies by content (the one citing the rule wins, whatever its position); else a focus note."""
    found = PAIR.search(texts[-1])
    if found is None:
        return "Cite the policy."
    a, b = found.groups()
    winner = "tie" if ("30 days" in a) == ("30 days" in b) else "A" if "30 days" in a else "B"
    return json.dumps({"reason": "cites the policy", "winner": winner})


def models(versions: list[str]) -> FakeModels:
    return FakeModels({"pe": engineer(versions), "exe": executor, "mod": moderator, "crit": contrary_critic})


def state_of(outcome) -> dict:  # noqa: ANN001 - RunOutcome
    return json.loads((outcome.run_dir.path / "state.json").read_text(encoding="utf-8"))["run"]


def test_the_round_whose_outputs_win_the_comparisons_is_kept_though_the_panel_scores_it_lower(isolated: Path) -> None:
    better = "Answer the refund request politely. Refunds are allowed within 30 days."
    worse = "Answer the refund request politely and briefly."
    fakes = models([better, worse])
    outcome = run(scenario(isolated), fakes)
    rounds = state_of(outcome)["rounds"]
    assert [r["prompt"] for r in rounds] == [START, better, worse]
    # The panel scores backwards (the better round lower), but the decision is the comparisons'.
    assert rounds[1]["dev"] and max(r["score"] for r in rounds[1]["dev"].values()) < min(r["score"] for r in rounds[0]["dev"].values())
    second, third = rounds[1]["decision"], rounds[2]["decision"]
    assert second["rule"] == "pairwise" and second["accepted"]
    assert third["rule"] == "pairwise" and not third["accepted"]
    assert outcome.summary.best_round == 2 and outcome.summary.final_prompt == better
    # Round 2 was compared with round 1 on dev and on its own minibatch (round 1's prompt run there first), every
    # input in both orders; round 3 with round 2.
    ids = list(dict.fromkeys([*rounds[1]["batch"], *rounds[1]["dev"]]))
    assert [v["example_id"] for v in rounds[1]["versus_best"]] == ids and rounds[1]["versus_round"] == 1
    assert all(v["preference"] == 1.0 and v["consistent"] for v in rounds[1]["versus_best"])
    assert rounds[2]["versus_round"] == 2 and all(v["preference"] == 0.0 for v in rounds[2]["versus_best"])
    asked = [PAIR.search(c["messages"][-1]).groups() for c in fakes.requests("mod") if PAIR.search(c["messages"][-1])]
    assert len(asked) == 2 * len(ids) * 2 and all((b, a) in asked for a, b in asked)
    starts = [c["messages"][0] for c in fakes.requests("exe") if c["messages"][0].startswith(START) and "30 days" not in c["messages"][0]]
    assert len(starts) >= len(ids)  # the start ran on round 2's minibatch too, not only on its own
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert f"preferred to round 1's outputs in both orders on {len(ids)} of {len(ids)} inputs, worse in both on 0" in transcript


def test_a_revision_that_hands_the_prompt_back_is_asked_again_as_an_addition(isolated: Path) -> None:
    added = "Say that refunds are allowed within 30 days."
    replies = iter([f"'{START}'", added])  # the prompt back in quotation marks: the same wording

    def handing_back(texts: list[str], args: dict[str, Any]) -> str:
        return json.dumps({"prompt": next(replies), "changes": "kept it"})

    fakes = FakeModels({"pe": handing_back, "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(scenario(isolated, rounds=2), fakes)
    rounds = state_of(outcome)["rounds"]
    requests = [c["messages"][-1] for c in fakes.requests("pe")]
    assert len(requests) == 2 and "by adding to it" in requests[1] and START in requests[1]
    assert rounds[1]["prompt"] == f"{START}\n{added}"
    assert "repeated a prompt tried before" in rounds[1]["changes"]
    assert rounds[1]["decision"]["accepted"]


def test_a_round_with_the_best_prompt_again_is_unchanged_and_costs_no_comparison(isolated: Path) -> None:
    fakes = FakeModels({"pe": lambda texts, args: json.dumps({"prompt": START, "changes": "kept it"}),
                        "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(scenario(isolated, rounds=2), fakes)
    rounds = state_of(outcome)["rounds"]
    assert rounds[1]["prompt"] == START  # handed back twice: nothing new to add either
    assert not rounds[1]["decision"]["accepted"] and rounds[1]["decision"]["reason"].startswith("unchanged")
    assert rounds[1]["versus_best"] is None
    assert not any(PAIR.search(c["messages"][-1]) for c in fakes.requests("mod"))


def test_a_preference_in_one_order_only_is_a_tie() -> None:
    from redraft.records import PairVerdict, RoundRecord
    from redraft.search.selection import preferred

    def record(*preferences: float) -> RoundRecord:
        verdicts = [PairVerdict(example_id=f"e{i}", forward=None, backward=None, preference=p, consistent=p in (0.0, 1.0))
                    for i, p in enumerate(preferences)]
        return RoundRecord(round=2, prompt="x", versus_best=verdicts, versus_round=1)

    assert not preferred(record(0.75, 0.5, 0.5, 0.5)).accepted  # preferred when shown first only: position, not quality
    assert preferred(record(1.0, 0.5, 0.75, 0.5)).accepted
    assert not preferred(record(1.0, 0.0, 0.5, 0.5)).accepted
    assert not preferred(record()).accepted
    decision = preferred(record(1.0, 1.0, 0.0, 0.25))
    assert decision.accepted and decision.rule == "pairwise" and decision.n == 4
    assert "in both orders on 2 of 4 inputs, worse in both on 1" in decision.reason
