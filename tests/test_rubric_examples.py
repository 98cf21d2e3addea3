"""Rubric scenarios: worked examples written by the optimizer model and checked by code, the task's hard
constraints (`checks:`) settling the Moderator's comparisons, and the task's facts kept in every revision."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from redraft.config import load_scenario
from redraft.errors import ConfigError
from redraft.eval import copied_input, failed_checks, missing_facts, new_numbers, restore_facts
from redraft.records import split_prompt
from test_compare import FakeModels
from test_pairwise import PAIR, contrary_critic, state_of
from test_pairwise import scenario as pairwise_scenario

SIGN = "— Shop"
TASK = f'Answer a refund request under the 30-day policy. End with "{SIGN}".'  # no seed prompt: the start is the task


def scenario(folder: Path, rounds: int = 2, extra: str = "search: {demos: 2}\n") -> Path:
    return pairwise_scenario(folder, rounds, start=f"task: {json.dumps(TASK)}",
                             extra=f'checks: {{max_words: 12, ends_with: "{SIGN}"}}\n' + extra)


def customer(text: str) -> int:
    return int(re.search(r"Customer (\d+)", text)[1])


def engineer(texts: list[str], args: dict[str, Any]) -> str:
    """As the teacher (the executor's messages, no reply format asked): a short signed reply for even customers, a
    long unsigned one for odd; as the engineer: a revision."""
    if "response_format" not in args:
        n = customer(texts[-1])
        return f"Refund {n} approved within 30 days. {SIGN}" if n % 2 == 0 else "We are looking into it. " * 6
    return json.dumps({"prompt": "Answer politely.", "changes": "shorter"})


def executor(texts: list[str], args: dict[str, Any]) -> str:
    """Signs its reply only when a worked example (an assistant turn) showed how."""
    shown = len(texts) > 2
    return f"Refund approved within 30 days. {SIGN}" if shown else "We will look into it."


def moderator(texts: list[str], args: dict[str, Any]) -> str:
    """Prefers the reply that cites the 30 days, whichever position it is in; else a focus note."""
    found = PAIR.search(texts[-1])
    if found is None:
        return "Sign every reply."
    a, b = ("30 days" in x for x in found.groups())
    return json.dumps({"reason": "cites the policy", "winner": "tie" if a == b else "A" if a else "B"})


def test_a_round_the_comparisons_prefer_is_not_kept_when_it_fails_more_checks_and_fewer_decide_nothing() -> None:
    from redraft.records import PairVerdict, RoundRecord
    from redraft.search.selection import preferred

    def record(preferences: list[float], checks: tuple[int, int]) -> RoundRecord:
        verdicts = [PairVerdict(example_id=f"e{i}", forward=None, backward=None, preference=p, consistent=True)
                    for i, p in enumerate(preferences)]
        return RoundRecord(round=2, prompt="x", versus_best=verdicts, versus_round=1, checks_failed=checks)

    worse = preferred(record([1.0, 1.0, 1.0], (2, 1)))
    assert not worse.accepted and "failed 2 of the task's checks there, round 1's 1 (more, so not kept)" in worse.reason
    assert preferred(record([1.0, 0.5, 0.5], (1, 1))).accepted
    assert not preferred(record([1.0, 0.0, 0.5], (0, 3))).accepted  # a draw stays a draw, however many fewer
    assert not preferred(record([0.0, 0.0, 1.0], (0, 3))).accepted


def test_round_2_shows_the_optimizer_models_replies_that_pass_the_checks_and_they_win_on_the_checks(isolated: Path) -> None:
    path = scenario(isolated)
    fakes = FakeModels({"pe": engineer, "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(path, fakes)
    rounds = state_of(outcome)["rounds"]
    splits = load_scenario(str(path)).splits
    second = rounds[1]
    assert second["origin"] == "demos"
    instruction, shown = split_prompt(second["prompt"])
    assert instruction == TASK and shown
    # The teacher was asked exactly what the executor would be, on train inputs.
    asked = [c for c in fakes.requests("pe") if "response_format" not in c["args"]]
    assert asked and all(TASK in c["messages"][0] for c in asked)
    taught = {c["messages"][-1] for c in asked}
    assert taught <= {e.input for e in splits.train}
    # Only replies that pass the checks are shown (odd customers got a long unsigned reply).
    assert all(not failed_checks(load_scenario(str(path)).checks, reply) and customer(given) % 2 == 0 for given, reply in shown)
    failing = [t for t in taught if customer(t) % 2 == 1]
    assert (f"{len(failing)} of {len(taught)} replies failed the task's checks" in second["changes"]) == bool(failing)
    # The executor gets them as turns, and now signs. The Moderator's model is still asked about every pair (and
    # prefers the signed reply); the checks, counted by code, agree.
    turns = [c for c in fakes.requests("exe") if len(c["messages"]) > 2]
    assert turns and all(c["messages"][2] == shown[0][1] for c in turns)
    verdicts = second["versus_best"]
    # Compared on round 2's minibatch and dev, but not on an input the prompt shows as an example.
    by_id = {e.id: e.input for e in [*splits.train, *splits.dev]}
    compared = [i for i in [*second["batch"], *(e.id for e in splits.dev)] if by_id[i] not in {given for given, _ in shown}]
    assert {v["example_id"] for v in verdicts} == set(compared)
    assert verdicts and all(v["asked"] and v["preference"] == 1.0 for v in verdicts)
    assert len([c for c in fakes.requests("mod") if PAIR.search(c["messages"][-1])]) == 2 * len(compared)
    assert second["checks_failed"] == [0, len(compared)]  # the start's replies lack the ending
    assert second["decision"]["accepted"]
    assert f"its outputs failed 0 of the task's checks there, round 1's {len(compared)}" in second["decision"]["reason"]
    assert outcome.summary.final_prompt == second["prompt"]


def test_a_revision_keeps_the_examples_and_gets_back_the_facts_it_dropped(isolated: Path) -> None:
    fakes = FakeModels({"pe": engineer, "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(scenario(isolated, rounds=3), fakes)
    third = state_of(outcome)["rounds"][2]
    instruction, shown = split_prompt(third["prompt"])
    # "Answer politely." dropped the 30 days and the signature: the task's sentences stating them come back.
    assert instruction.startswith("Answer politely.\n")
    assert "Answer a refund request under the 30-day policy." in instruction and f'End with "{SIGN}".' in instruction
    assert "put back" in third["changes"] and "30" in third["changes"]
    assert shown == split_prompt(state_of(outcome)["rounds"][1]["prompt"])[1]  # the best prompt's examples, kept


def test_a_revision_that_pastes_an_input_or_changes_a_number_of_the_task_is_no_candidate(isolated: Path) -> None:
    path = scenario(isolated, rounds=3, extra="")
    email = load_scenario(str(path)).splits.train[1].input
    changed = TASK.replace("30-day", "45-day")
    versions = iter([f"{TASK}\n{email}", changed])
    said: list[str] = []

    def stubborn(texts: list[str], args: dict) -> str:  # sent back, it says the same again
        if len(texts) == 2:
            said.append(next(versions))
        return json.dumps({"prompt": said[-1], "changes": "tuned"})

    fakes = FakeModels({"pe": stubborn, "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(path, fakes)
    rounds = state_of(outcome)["rounds"]
    # both revisions were asked for, each was sent back once with the reason, and neither became a candidate
    assert [len(c["messages"]) for c in fakes.requests("pe")] == [2, 4, 2, 4]
    assert fakes.requests("pe")[1]["messages"][-1].startswith("That prompt cannot be used: it pasted the input")
    assert fakes.requests("pe")[3]["messages"][-1].startswith("That prompt cannot be used: it changed the task's 30")
    pasted, renumbered = rounds[1], rounds[2]
    assert pasted["origin"] == renumbered["origin"] == "fallback"
    assert f'it pasted the input "{email}" into the prompt' in pasted["changes"]
    assert "it changed the task's 30 to 45" in renumbered["changes"]
    assert all(r["prompt"] == TASK for r in rounds)  # the executor only ever ran your prompt
    assert outcome.summary.final_prompt == TASK


def test_without_search_demos_every_later_round_is_a_revision(isolated: Path) -> None:
    fakes = FakeModels({"pe": engineer, "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(scenario(isolated, extra="# no search.demos: no worked examples\n"), fakes)
    second = state_of(outcome)["rounds"][1]
    assert second["origin"] == "prompt_engineer" and "Examples:" not in second["prompt"]
    assert all("response_format" in c["args"] for c in fakes.requests("pe"))
    # The revision request shows each failing output's failed checks.
    (revise,) = fakes.requests("pe")
    assert f'fails the task\'s checks: does not end with "{SIGN}"' in revise["messages"][-1]


def test_checks_count_words_endings_and_excluded_text() -> None:
    from redraft.config import Checks

    checks = Checks(min_words=3, max_words=6, ends_with="— Shop", excludes=["!", "best"])
    assert failed_checks(checks, "Your refund is approved. — Shop") == []
    assert failed_checks(checks, "Best refund ever!") == ['does not end with "— Shop"', 'contains "!"', 'contains "best"']
    assert failed_checks(checks, "Yes. — Shop") == ["has 2 words, at least 3"]
    assert failed_checks(None, "anything") == []
    with pytest.raises(ValueError, match="min_words"):
        Checks(min_words=9, max_words=3)


def test_the_tasks_facts_are_its_numbers_and_quoted_text() -> None:
    task = 'Refunds within 30 days; opened electronics 14 days. End with "— Shop". Under 120 words.'
    assert missing_facts(task, 'Refunds within 30 days, 14 for electronics, "— Shop", 120 words.') == []
    assert missing_facts(task, "Refunds within 300 days.") == ["30", "14", "— Shop", "120"]
    assert missing_facts(task, "Refunds within 300 days.", before="Refunds in 14 days, under 120 words.") == ["14", "120"]
    prompt, gone = restore_facts(task, "Be kind. Refunds within 30 days.")
    assert gone == ["14", "— Shop", "120"]
    assert prompt == ('Be kind. Refunds within 30 days.\nRefunds within 30 days; opened electronics 14 days. '
                      'End with "— Shop". Under 120 words.')


def test_a_pasted_input_and_an_invented_number_are_found() -> None:
    email = "Can I return a book I received 45 days ago? It was a gift."
    assert copied_input(f"Reply politely.\n{email.upper()}", "Reply politely.", ["Where is my order?", email]) == email
    assert copied_input(f"Reply politely.\n{email}", f"Reply politely. {email}", [email]) is None  # there before
    assert copied_input("Reply to: Where is my order?", "Reply.", ["Where is my order?"]) is None  # too short to tell
    # Word for word without case or punctuation, whole or seven words in a row that no other input has (sst2's 1.5B
    # engineer wrote both into its instructions); what inputs share is the task's wording.
    reviews = ["a horrible , 99-minute stink bomb .",
               "but while the highly predictable narrative falls short , treasure planet is truly gorgeous to behold ."]
    assert copied_input("Answer negative for 'a horrible, 99-minute stink bomb.'", "Answer.", reviews) == reviews[0]
    assert copied_input("Answer positive for 'treasure planet is truly gorgeous to behold.'", "", reviews) == reviews[1]
    assert copied_input("Answer positive for is truly gorgeous to behold.", "", reviews) is None  # five words
    # In quotation marks, two words or more that only one input has are that input's (sst2's 1.5B defined a label
    # by a movie one train review named); what several inputs have, or the prompt had before, is not.
    titled = [*reviews, "reign of fire is so incredibly inane that it is laughingly enjoyable ."]
    assert copied_input("Answer positive for 'is truly gorgeous to behold.'", "", reviews) == reviews[1]
    assert copied_input("Answer 'positive' when the movie 'Reign of Fire' is praised.", "Answer.", titled) == titled[2]
    assert copied_input("Answer 'positive' when the movie 'Reign of Fire' is praised.", "Reign of Fire", titled) is None
    assert copied_input('Answer "negative" for a "horrible stink" and the reviewer\'s "short narrative".', "",
                        [*titled, "a horrible stink of a film .", "one horrible stink after another ."]) is None  # two inputs, one word, no input
    walks = ["If you follow these instructions, do you return to the starting point? Take 3 steps. Turn around.",
             "If you follow these instructions, do you return to the starting point? Always face forward. Take 2 steps."]
    assert copied_input("If you follow these instructions, do you return to the starting point? Count.", "", walks) is None
    assert copied_input("Always face forward. Take 2 steps.", "", walks) is None  # six words of one input
    assert new_numbers("Electronics within 21 days, books 30, 120 words.", "Books 30 days.", "Under 120 words.") == ["21"]
    assert new_numbers("Books within 30 days.", "Books 30 days.") == []


def test_checks_on_a_labeled_scenario_fail_validation_with_the_key(isolated: Path) -> None:
    from test_compare import sentiment_scenario

    path = sentiment_scenario(isolated)
    path.write_text(path.read_text(encoding="utf-8") + "checks: {max_words: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(str(path))
    assert "checks" in str(info.value) and "expected no checks" in str(info.value)


def test_a_revision_sent_back_for_pasting_an_email_can_come_back_as_a_candidate(isolated: Path) -> None:
    """The 1.5B pasted a customer's email into support_reply's prompt in 3 of 6 revisions, and each such round was
    lost. Told why, the engineer writes the revision again; a second reply that works for every email is the
    round's candidate, and its changes say it was sent back."""
    path = scenario(isolated, rounds=2, extra="")
    email = load_scenario(str(path)).splits.train[1].input
    fixed = f"{TASK}\nThank the customer by name."

    def learns(texts: list[str], args: dict) -> str:
        prompt = f"{TASK}\n{email}" if len(texts) == 2 else fixed
        return json.dumps({"prompt": prompt, "changes": "tuned"})

    fakes = FakeModels({"pe": learns, "exe": executor, "mod": moderator, "crit": contrary_critic})
    outcome = run(path, fakes)
    second = state_of(outcome)["rounds"][1]
    assert split_prompt(second["prompt"])[0] == fixed and second["origin"] != "fallback"
    assert "its second reply: the first was sent back, it pasted the input" in second["changes"]
