"""Compare's pairwise judge on a model double that answers from the request: both orders asked, blind
to arms and prompts, position bias measured, junk survived, identical outputs free, seated outside the chat."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from conftest import SCENARIO, write_scenario
from redraft.api import prepare
from redraft.chat import build_session
from redraft.compare.judge import judge_pairs, judge_seat, summarize
from redraft.config import Budget
from redraft.llm import make_caller
from test_compare import FakeModels


TAGS = ("pe", "exe", "mod", "c1", "c2")


def outputs(text: str) -> tuple[str, str]:
    found = re.findall(r'Output [AB]:\n"""\n(.*?)\n"""', text, re.S)
    return found[0], found[1]


def always_a(texts: list[str], args: dict[str, Any]) -> str:
    return json.dumps({"reason": "A reads well.", "winner": "A"})


def longer(texts: list[str], args: dict[str, Any]) -> str:
    a, b = outputs(texts[-1])
    return json.dumps({"reason": "more complete", "winner": "A" if len(a) > len(b) else "B"})


def setup(tmp: Path, judge, text: str = SCENARIO):  # noqa: ANN001, ANN201
    scenario, cards = prepare(str(write_scenario(tmp, text)))
    models = FakeModels({t: always_a for t in TAGS} | {"pe": judge})
    table = build_session(scenario, cards, models, caller=make_caller(models, Budget(), no_cache=True)).table
    return scenario, cards, models, table


def judged(tmp: Path, judge, first_text: str = "Yes, within 30 days.", second_text: str = "No."):  # noqa: ANN001, ANN201
    scenario, cards, models, table = setup(tmp, judge)
    seat = judge_seat(scenario, cards, models, table)
    examples = scenario.splits.test or scenario.splits.train
    first = {e.id: f"{first_text} ({e.id})" for e in examples}
    second = {e.id: f"{second_text} ({e.id})" for e in examples}
    verdicts = asyncio.run(judge_pairs(table, seat, examples, first, second, seed=7))
    return verdicts, models, examples, first, second


def test_every_example_is_asked_in_both_orders_blind_to_arms_and_prompts(isolated: Path) -> None:
    verdicts, models, examples, first, second = judged(isolated, longer)
    calls = models.requests("pe")
    assert len(calls) == 2 * len(examples)
    shown = {outputs(c["messages"][-1]) for c in calls}
    assert shown == {(first[e.id], second[e.id]) for e in examples} | {(second[e.id], first[e.id]) for e in examples}
    for c in calls:
        text = "\n".join(c["messages"])
        assert not re.search(r"single_shot|sequential|best_of_n|\bprompt\b", text, re.I)
        assert "Follows the 30-day policy." in text and c["args"]["temperature"] == 0.0
    assert all(v.preference == 1.0 and v.consistent for v in verdicts)
    assert summarize("second", [verdicts]).win == 1.0


def test_a_judge_that_always_says_a_is_measured_as_position_bias(isolated: Path) -> None:
    verdicts, *_ = judged(isolated, always_a)
    assert all(v.forward == "first" and v.backward == "second" and v.preference == 0.5 for v in verdicts)
    s = summarize("other", [verdicts, verdicts])
    assert s.consistency == 0.0 and s.tie == 1.0 and s.win == 0.0 and s.repeats == 2


def test_the_longer_output_loses_when_it_is_second(isolated: Path) -> None:
    verdicts, *_ = judged(isolated, longer, "No.", "Yes, within 30 days.")
    s = summarize("other", [verdicts])
    assert s.loss == 1.0 and s.consistency == 1.0 and s.win_low == s.win_high == 0.0


def test_junk_replies_give_no_preference_and_do_not_crash(isolated: Path) -> None:
    verdicts, *_ = judged(isolated, lambda texts, args: "not json at all")
    assert all(v.preference is None and v.consistent is None for v in verdicts)
    s = summarize("other", [verdicts])
    assert s.n == len(verdicts) and s.consistency is None and (s.win_low, s.win_high) == (0.0, 1.0)


def test_identical_outputs_make_no_call(isolated: Path) -> None:
    verdicts, models, *_ = judged(isolated, longer, "Same.", "Same.")
    assert models.requests("pe") == [] and all(v.preference == 0.5 and v.consistent for v in verdicts)


def test_the_judge_uses_roles_judge_else_the_engineers_model_and_is_not_seated(isolated: Path) -> None:
    scenario, cards, models, table = setup(isolated, longer)
    assert judge_seat(scenario, cards, models, table).tag == "pe"
    assert "judge" not in build_session(scenario, cards, models).seats
    assert "judge" not in [s.name for s in table.seats]
    chosen = scenario.model_copy(update={"roles": {**scenario.roles, "judge": scenario.roles["moderator"]}})
    assert judge_seat(chosen, cards, models, table).tag == "mod"
