"""The error pattern the engineer sees, and the pieces of the candidate search that need no model."""

from __future__ import annotations

import random

from redraft.records import Candidate, Evaluation, prompt_key, render_prompt, split_prompt
from redraft.search import OperatorCycle, demo_count, pick_demos, screening_batch
from redraft.config import Example, ExampleResult
from redraft.eval import NO_ANSWER, confusion, error_pattern, failures_block, pick_failures, rank_correlation


def ex(i: int, target: str, text: str | None = None) -> Example:
    return Example(id=f"e{i}", input=text or f"question {i}", target=target)


def test_label_pattern_counts_expected_to_got_over_every_scored_example() -> None:
    examples = [ex(i, "human") for i in range(6)] + [ex(10 + i, "number") for i in range(3)]
    results = {e.id: ExampleResult(score=0.0, extracted="description") for e in examples[:5]}
    results["e5"] = ExampleResult(score=1.0, extracted="human")
    results |= {e.id: ExampleResult(score=1.0, extracted="number") for e in examples[6:]}
    text = error_pattern("label", examples, results)
    assert "4 of 9 train examples right." in text
    assert "- expected human -> answered description: 5" in text
    assert "human 1/6" in text and "number 3/3" in text
    assert "description 5" in text  # what the model answers, counted


def test_confusion_counts_expected_against_answered() -> None:
    examples = [ex(1, "human"), ex(2, "human"), ex(3, "human"), ex(4, "number"), ex(5, "number")]
    results = {"e1": ExampleResult(score=1.0, extracted="Human"),  # right: counted as its target, whatever the case
               "e2": ExampleResult(score=0.0, extracted="number"), "e3": ExampleResult(score=0.0, extracted=None),
               "e4": ExampleResult(score=1.0, extracted="number")}  # e5 has no result and is left out
    assert confusion(examples, results) == {("human", "human"): 1, ("human", "number"): 1, ("human", NO_ANSWER): 1,
                                            ("number", "number"): 1}


def test_numeric_pattern_says_which_way_and_how_far() -> None:
    examples = [ex(1, "10"), ex(2, "10"), ex(3, "4"), ex(4, "7")]
    results = {"e1": ExampleResult(score=0.0, extracted="20"), "e2": ExampleResult(score=0.0, extracted="15"),
               "e3": ExampleResult(score=0.0, extracted=None), "e4": ExampleResult(score=1.0, extracted="7")}
    text = error_pattern("numeric", examples, results)
    assert "1 of 4 train examples right." in text
    assert "- answer too high: 2" in text and "- no number in the answer: 1" in text
    assert "median 75%" in text


def test_failures_are_drawn_across_error_kinds_not_five_of_one() -> None:
    examples = [ex(i, "human") for i in range(8)] + [ex(20, "location"), ex(21, "number")]
    results = {e.id: ExampleResult(score=0.0, extracted="description") for e in examples}
    picked = pick_failures("label", examples, results, 3, random.Random(0))
    assert {e.target for e in picked} == {"human", "location", "number"}
    block = failures_block(picked, {e.id: "It is a description." for e in picked}, results)
    assert "expected: location" in block and "got: It is a description." in block


def test_rank_correlation() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert rank_correlation([1, 1, 1], [1, 2, 3]) is None  # constant: undefined, not 0


def test_demos_cover_every_label_and_prefer_failures() -> None:
    train = [ex(i, "positive") for i in range(10)] + [ex(10 + i, "negative") for i in range(10)]
    picked = pick_demos(train, 4, random.Random(1), prefer=[train[3], train[12]])
    assert sorted(e.target for e in picked) == ["negative", "negative", "positive", "positive"]
    assert {"e3", "e12"} <= {e.id for e in picked}
    assert demo_count(2) == 4 and demo_count(6) == 12 and demo_count(9) == 12 and demo_count(0) == 4


def test_prompt_renders_instruction_then_examples_and_keys_ignore_spacing() -> None:
    train = [ex(1, "human", "Who wrote Hamlet ?")]
    c = Candidate(instruction="Answer with the label only.", demos=["e1"])
    assert c.prompt(train) == "Answer with the label only.\n\nExamples:\n\nInput: Who wrote Hamlet ?\nAnswer: human"
    assert render_prompt("x", []) == "x"
    assert prompt_key("Answer  with\nthe label") == prompt_key("answer with the label")
    assert prompt_key("a") != prompt_key("b")


def test_screening_batch_is_half_known_failures() -> None:
    train = [ex(i, "a") for i in range(20)]
    parent = Evaluation(key="k", candidate=Candidate(instruction="x"), prompt="x", round=1,
                        train={f"e{i}": ExampleResult(score=0.0 if i < 6 else 1.0) for i in range(12)})
    batch = screening_batch(train, parent, 8, random.Random(0))
    assert len(batch) == 8 and len({e.id for e in batch}) == 8
    assert sum(1 for e in batch if e.id in {f"e{i}" for i in range(6)}) >= 4


def test_operator_cycle_tries_examples_every_round_and_every_edit_in_turn() -> None:
    cycle = OperatorCycle(3, labeled_classes=True)
    bare = Candidate(instruction="x")
    seen = set()
    for r in range(2, 6):
        ops = cycle.pick(r, bare)
        assert ops[0] == "demos" and len(ops) == 3 and len(set(ops)) == 3
        seen |= set(ops)
    assert seen == {"define_labels", "fix_errors", "demos", "decision_rules", "output_format", "simplify"}
    assert not {"decision_rules", "define_labels"} & set(OperatorCycle(5, labeled_classes=False).pick(2, bare))
    # Reasoning before the label only where replies have room for it, and not again once the prompt reasons.
    roomy = OperatorCycle(5, labeled_classes=True, reasoning_room=True)
    assert "reason_first" in roomy.pick(2, bare)
    assert "reason_first" not in roomy.pick(2, Candidate(instruction="x", reasoning=True))
    assert "reason_first" not in OperatorCycle(5, labeled_classes=False, reasoning_room=True).pick(2, bare)


def test_worked_examples_show_the_models_own_right_reply_where_there_is_one() -> None:
    train = [ex(1, "12", "Tom has 5 apples and buys 7. How many?"), ex(2, "3", "6 split in 2. How many each?")]
    c = Candidate(instruction="Solve it.", demos=["e1", "e2"], replies={"e1": "5 + 7 = 12\nAnswer: 12"})
    text = c.prompt(train)
    assert "Input: Tom has 5 apples and buys 7. How many?\nReply:\n5 + 7 = 12\nAnswer: 12" in text
    assert "Input: 6 split in 2. How many each?\nAnswer: 3" in text
    assert prompt_key(text) != prompt_key(Candidate(instruction="Solve it.", demos=["e1", "e2"]).prompt(train))


def test_a_rendered_prompt_splits_back_into_its_instruction_and_worked_examples() -> None:
    demos = [Example(id="a", input="Is 2 even?\n\nThink.", target="yes"), Example(id="b", input="Is 3 even?", target="no")]
    text = render_prompt("Answer yes or no.\nBe brief.", demos, {"b": "3 = 2 + 1.\n\nSo: no"})
    assert split_prompt(text) == ("Answer yes or no.\nBe brief.", [("Is 2 even?\n\nThink.", "yes"), ("Is 3 even?", "3 = 2 + 1.\n\nSo: no")])
    assert split_prompt("Answer yes or no.") == ("Answer yes or no.", [])
    # a user's own examples in another form stay part of the instruction
    own = "Answer yes or no.\n\nExamples:\n\nQ: Is 2 even?\nA: yes"
    assert split_prompt(own) == (own, [])
    # text after the last example that is not an example: the whole prompt is instruction
    broken = render_prompt("Answer yes or no.", demos[:1]) + "\n\nSee also the style guide."
    assert split_prompt(broken) == (broken, [])
