"""The candidate search on a labeled scenario, end to end on fake models that follow the prompt."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run, write_scenario
from test_compare import (ROLES, FakeModels, by_quality, critic, engineer, moderator, sentiment_models,
                          sentiment_scenario)

from redraft.records import prompt_key
from redraft.search import shows_working


def critic_that_follows_the_labels(texts: list[str], args: dict) -> str:
    """A critic whose per-output scores agree with the metric: 9 when the output is the expected label."""
    pairs = re.findall(r"expected: (\S+)\n\s+output: (\S+)", texts[-1])
    return json.dumps({"scores": {"correct": 5}, "per_output": [9 if e == o else 2 for e, o in pairs],
                       "issues": ["mixed reviews read as positive"], "edits": []})


def state_of(outcome) -> dict:  # noqa: ANN001 - RunOutcome
    return json.loads((outcome.run_dir.path / "state.json").read_text(encoding="utf-8"))["run"]


def test_round_one_keeps_the_best_draft_and_later_rounds_screen_named_edits(isolated: Path) -> None:
    # Draft quality follows the seed (q = 3, 4 or 5); an edit adds 3 to the parent's q.
    models = sentiment_models()
    models.clients["crit"].answer = critic_that_follows_the_labels
    outcome = run(sentiment_scenario(isolated, rounds=2), models)
    state = state_of(outcome)
    r1, r2 = state["rounds"]
    # Round 1: the user's own prompt and six drafts, each on the same train minibatch; the best two drafts there
    # go on to dev with the user's prompt, and the best of those on dev starts the chat.
    candidates = r1["candidates"]
    assert len(candidates) == 7 and [c["operator"] for c in candidates] == ["start"] + ["draft"] * 6
    assert all(c["screen"] is not None for c in candidates)
    start, drafts = candidates[0], candidates[1:]
    assert start["dev"] is not None  # the user's prompt always goes on to dev
    on_dev = [c for c in drafts if c["dev"] is not None]
    assert len(on_dev) == 2
    assert min(c["screen"] for c in on_dev) >= max(c["screen"] for c in drafts if c["dev"] is None)
    assert [c["chosen"] for c in candidates].count(True) == 1
    chosen = next(c for c in [start, *on_dev] if c["chosen"])
    assert chosen["dev"] == max(c["dev"] for c in [start, *on_dev])
    assert {c["operator"] for c in r2["candidates"]} <= {"demos", "define_labels", "fix_errors", "decision_rules"}
    assert "demos" in {c["operator"] for c in r2["candidates"]}  # a parent without worked examples gets them first
    for c in r2["candidates"]:  # every edit screened against its parent on the same minibatch
        assert c["screen"] is not None and c["parent_screen"] is not None
        assert c["dev"] is None or c["screen"] >= c["parent_screen"]
    # No prompt was run twice on an example: one evaluation per distinct prompt.
    keys = {prompt_key(e["prompt"]) for e in state["evaluations"].values()}
    assert len(keys) == len(state["evaluations"])
    summary = json.loads((outcome.run_dir.path / "summary.json").read_text(encoding="utf-8"))
    assert [len(r["candidates"]) for r in summary["rounds"]] == [len(r1["candidates"]), len(r2["candidates"])]
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert "Error pattern of the best prompt so far" in transcript
    # The critics' per-output scores follow the metric here, and the round says so.
    assert {r["judge_validity"] for r in (r1, r2)} - {None} == {1.0}
    assert "judge validity (rank correlation with the metric) +1.00" in transcript


START = "Classify the sentiment of a product review as positive or negative."  # sentiment_scenario's task text


def start_against_drafts(folder: Path, *, start_dev: float, draft_dev: float, drafts: int = 7) -> tuple:
    """A one-round labeled run whose user's prompt (the task text) is wrong on every train example and right on
    start_dev of the dev examples, and whose drafts are right on every train example and on draft_dev of dev:
    the start's minibatch score is the lowest of all. Returns the outcome, round 1's state and the engineer."""
    from redraft.config import load_scenario

    path = sentiment_scenario(folder, rounds=1)
    if drafts != 7:
        path.write_text(path.read_text().replace("minibatch: 4", f"minibatch: 4\nsearch: {{drafts: {drafts}}}"))
    splits = load_scenario(path).splits
    train = {e.input: e.target for e in splits.train}
    dev = {e.input: (e.target, i) for i, e in enumerate(splits.dev)}
    others = {e.input: e.target for e in [*splits.test]}

    def answer(texts: list[str], args: dict) -> str:
        prompt, text = texts[0], texts[-1]
        target = train.get(text) or (dev[text][0] if text in dev else others.get(text, "positive"))
        other = "negative" if target == "positive" else "positive"
        if text in train:
            right = prompt.strip() != START
        elif text in dev:
            right = dev[text][1] < round((start_dev if prompt.strip() == START else draft_dev) * len(dev))
        else:
            right = True
        return target if right else other

    models = sentiment_models()
    models.clients["exe"].answer = answer
    outcome = run(path, models)
    return outcome, state_of(outcome)["rounds"][0], models


def test_the_start_is_candidate_zero_and_is_scored_on_dev_though_lowest_on_the_minibatch(isolated: Path) -> None:
    outcome, r1, models = start_against_drafts(isolated, start_dev=1.0, draft_dev=0.5)
    first = r1["candidates"][0]
    assert first["operator"] == "start" and "your task text" in first["changes"]
    assert first["screen"] == 0.0 and all(c["screen"] == 1.0 for c in r1["candidates"][1:])  # the lowest there
    assert first["dev"] == 1.0  # and still scored on dev, where it is best
    assert first["chosen"] and r1["prompt"] == START and r1["origin"] == "start"
    assert outcome.summary.final_prompt == START
    # Round 1 asked the engineer for the six drafts only: the start is the user's, not a model's.
    assert len(models.requests("pe")) == 6


def test_a_draft_that_only_ties_the_start_on_dev_does_not_replace_it(isolated: Path) -> None:
    outcome, r1, _ = start_against_drafts(isolated, start_dev=0.7, draft_dev=0.7)
    on_dev = [c for c in r1["candidates"] if c["dev"] is not None]
    assert len(on_dev) == 3 and all(c["dev"] == 0.7 for c in on_dev)  # the start and two drafts, all equal
    assert r1["candidates"][0]["chosen"] and r1["origin"] == "start"
    assert outcome.summary.best_round == 1 and outcome.summary.final_prompt == START


def test_a_draft_that_beats_the_start_on_dev_replaces_it(isolated: Path) -> None:
    outcome, r1, _ = start_against_drafts(isolated, start_dev=0.5, draft_dev=0.8)
    start, *drafts = r1["candidates"]
    assert start["dev"] == 0.5 and not start["chosen"]
    chosen = next(c for c in drafts if c["chosen"])
    assert chosen["operator"] == "draft" and chosen["dev"] == 0.8
    assert r1["origin"] == "draft" and r1["prompt"] != START
    assert outcome.summary.final_prompt == r1["prompt"]


def test_with_as_many_drafts_as_go_to_dev_the_start_still_wins_a_tie(isolated: Path) -> None:
    # drafts: 2 (no more than draft_dev): the start and one draft, both on dev, no minibatch screening first.
    outcome, r1, models = start_against_drafts(isolated, start_dev=0.6, draft_dev=0.6, drafts=2)
    assert [c["operator"] for c in r1["candidates"]] == ["start", "draft"]
    assert all(c["dev"] == 0.6 for c in r1["candidates"]) and r1["candidates"][0]["chosen"]
    assert outcome.summary.final_prompt == START and len(models.requests("pe")) == 1


def test_a_parent_right_on_its_minibatch_is_run_on_more_train_to_find_failures(isolated: Path) -> None:
    # q=10: every answer is right, so round 1's minibatch shows no failure to screen edits on.
    outcome = run(sentiment_scenario(isolated, rounds=2), sentiment_models(quality=lambda s: 10, improve=0))
    state = state_of(outcome)
    parent = state["evaluations"][prompt_key(state["rounds"][0]["prompt"])]
    # 4 of round 1's minibatch, a minibatch of 4 it had not seen (to look for failures), and the one example of
    # round 2's screening batch that was neither; without the look for failures it would have run on at most 8
    assert len(parent["train"]) == 9


def sums(n: int = 30) -> list[tuple[str, str]]:
    return [(f"Ann has {i} pens and gets {i + 3} more. How many pens now?", str(2 * i + 3)) for i in range(n)]


def sums_scenario(folder: Path, train: int = 10, rounds: int = 2) -> Path:
    """A numeric scenario on sums(): `train` train, 10 dev, 10 test, `rounds` rounds."""
    examples = "\n".join(f'  - {{input: "{t}", target: "{y}"}}' for t, y in sums(train + 20))
    return write_scenario(folder, f"""\
name: sums
description: Add.
task: Solve the word problem. The answer is a number.
examples:
{examples}
split: {{train: {train}, dev: 10, test: 10, seed: 2}}
metric: {{type: numeric}}
minibatch: 4
noise_repeats: 0
criteria:
  - name: correct
    description: The number is right.
critics: [clarity, fidelity]
rounds: {rounds}
stop: {{patience: {rounds}}}
seed: 11
{ROLES}""", "sums.yaml")


def adds_working(texts: list[str], args: dict) -> str:
    """Right, with its working, as often as the prompt's q says; else a bare wrong answer."""
    prompt, text = texts[0], texts[-1]
    a, b = (int(x) for x in re.findall(r"\d+", text)[:2])
    return f"{a} + {b} = {a + b}\nAnswer: {a + b}" if by_quality(prompt, text, args["seed"]) else f"Answer: {a + b + 1}"


def test_number_tasks_show_the_models_own_right_working_as_worked_examples(isolated: Path) -> None:
    path = sums_scenario(isolated)
    models = FakeModels({"pe": engineer(lambda s: 5, 3), "exe": adds_working, "mod": moderator, "crit": critic})
    state = state_of(run(path, models))
    demos = [ev for ev in state["evaluations"].values() if ev["candidate"]["operator"] == "demos"]
    assert demos, "round 2 tried new worked examples"
    shown = demos[0]["candidate"]["replies"]
    assert shown and set(shown) == set(demos[0]["candidate"]["demos"])
    for reply in shown.values():  # each shown reply is one the task model got right, working included
        a, b, c = (int(x) for x in re.fullmatch(r"(\d+) \+ (\d+) = (\d+)\nAnswer: \3", reply).groups())
        assert a + b == c and f"Input: Ann has {a} pens and gets {b} more. How many pens now?\nReply:\n{reply}" in demos[0]["prompt"]


def test_number_tasks_try_a_new_set_of_worked_examples_each_time(isolated: Path) -> None:
    # The engineer only hands the instructions back, so every round's other places go to more draws of
    # worked examples. Round 1's drafts all ran on the same 4 train examples: drawn from their right
    # replies alone, every "new" set would be those same examples, in another order at best.
    path = sums_scenario(isolated, train=20, rounds=3)
    def same_again(texts: list[str], args: dict) -> str:
        current = re.search(r'"""(.*?)"""', texts[-1], re.S)
        return json.dumps({"prompt": current.group(1).strip() if current else "Add the two numbers. [q=5]",
                           "changes": "none"})

    models = FakeModels({"pe": same_again, "exe": adds_working, "mod": moderator, "crit": critic})
    state = state_of(run(path, models))
    demos = [ev["candidate"] for ev in state["evaluations"].values() if ev["candidate"]["operator"] == "demos"]
    assert len(demos) >= 4, "later rounds tried several sets of worked examples"
    sets = [(c["instruction"], frozenset(c["demos"])) for c in demos]
    assert len(set(sets)) == len(sets), "a set of worked examples was tried twice with the same instructions"
    round_one = set(state["rounds"][0]["batch"])
    shown = {i for c in demos for i in c["demos"]}
    assert shown - round_one, "the worked examples came only from round 1's minibatch"
    for c in demos:  # still the task model's own right replies, working included
        assert all(re.fullmatch(r"\d+ \+ \d+ = \d+\nAnswer: \d+", r) for r in c["replies"].values())


def test_right_bare_answers_are_not_shown_as_worked_examples(isolated: Path) -> None:
    # Right half the time with working, and as often right with the bare answer line: only the replies
    # with working may become worked examples, since bare ones teach the task model to skip its working.
    path = sums_scenario(isolated)
    def mixed(texts: list[str], args: dict) -> str:
        prompt, text = texts[0], texts[-1]
        a, b = (int(x) for x in re.findall(r"\d+", text)[:2])
        if not by_quality(prompt, text, args["seed"]):
            return f"Answer: {a + b + 1}"
        return f"{a} + {b} = {a + b}\nAnswer: {a + b}" if a % 2 else f"Answer: {a + b}"

    models = FakeModels({"pe": engineer(lambda s: 5, 3), "exe": mixed, "mod": moderator, "crit": critic})
    state = state_of(run(path, models))
    right_bare = [i for ev in state["evaluations"].values() for i, r in ev["train"].items()
                  if r["score"] >= 1 and ev["outputs"][i].startswith("Answer:")]
    assert right_bare, "the task model gave right bare answers"
    demos = [ev for ev in state["evaluations"].values() if ev["candidate"]["operator"] == "demos"]
    assert demos, "round 2 tried new worked examples"
    for ev in demos:
        shown = ev["candidate"]["replies"]
        assert shown and set(shown) == set(ev["candidate"]["demos"])
        assert all(re.fullmatch(r"\d+ \+ \d+ = \d+\nAnswer: \d+", reply) for reply in shown.values()), shown


@pytest.mark.parametrize("reply, worked", [
    ("Answer: 450", False), ("Answer: 450 Answer: 450", False), ("The answer is 450.", False), ("4", False),
    ("12 - 15 + 14 = 11", True), ("She had 8 and gave 3: 8 - 3 = 5.\nAnswer: 5", True),
    ("The question asks for a person.\n\nFinal answer: HUM", True),
])
def test_a_reply_shows_working_when_it_has_more_than_its_answer_line(reply: str, worked: bool) -> None:
    assert shows_working(reply) is worked


def test_number_tasks_never_show_bare_answers_as_worked_examples(isolated: Path) -> None:
    # The task model never gets a sum right: no reply of its own can show the working, and a bare
    # target would teach it to skip the working, so round 2 tries instruction edits only.
    path = sums_scenario(isolated)
    models = FakeModels({"pe": engineer(lambda s: 5, 3), "exe": lambda texts, args: "Answer: 0", "mod": moderator, "crit": critic})
    state = state_of(run(path, models))
    r2 = state["rounds"][1]
    assert r2["candidates"] and "demos" not in {c["operator"] for c in r2["candidates"]}
    assert not any("Examples:" in ev["prompt"] for ev in state["evaluations"].values())
    parent = state["evaluations"][prompt_key(state["rounds"][0]["prompt"])]
    assert len(parent["train"]) > 4  # it looked for right replies beyond its minibatch first


def test_a_draft_written_as_a_reply_to_the_user_is_no_candidate(isolated: Path) -> None:
    """The 1.5B engineer wrote "Understood. Please provide the movement instructions…" as a prompt, and
    such a text won round 1 where every draft scored the same. It is never scored; the others are."""
    models = sentiment_models()
    drafting = models.clients["pe"].answer

    def chatty(texts: list[str], args: dict) -> str:
        # three of the seven drafts (odd seeds) are replies to the user, and stay so when sent back
        if args["seed"] % 2 or "That prompt cannot be used" in texts[-1]:
            return json.dumps({"prompt": f"Understood. Please provide the review and I will classify it. [q=9 "
                                         f"s={args['seed']}]", "changes": "ready"})
        return drafting(texts, args)

    models.clients["pe"].answer = chatty
    outcome = run(sentiment_scenario(isolated, rounds=1), models)
    state = state_of(outcome)
    prompts = [e["prompt"] for e in state["evaluations"].values()]
    assert prompts and not any("Understood" in p for p in prompts)
    assert len(state["rounds"][0]["candidates"]) == 4  # the four drafts that are prompts
    assert "Understood" not in (outcome.run_dir.path / "final_prompt.txt").read_text(encoding="utf-8")
    # The proposal says what was dropped and why, so a reader can tell a quiet engineer from a chatty one.
    proposal = next(json.loads(line) for line in (outcome.run_dir.path / "transcript.jsonl").open(encoding="utf-8")
                    if json.loads(line).get("kind") == "proposal")
    assert "Dropped (3):" in proposal["content"]
    assert proposal["content"].count("- draft unusable: written as a reply to the user, not a prompt: \"Understood.") == 3
    assert proposal["content"].count("sent back with the reason, its second reply written as a reply to the user") == 3


def test_a_reply_that_is_no_prompt_is_sent_back_once_with_the_reason(isolated: Path) -> None:
    """A colleague told "that is a reply to me, not a prompt" writes it again: the engineer's unusable reply goes
    back to it with the reason, in the same conversation, and a second reply that is a prompt is a candidate
    whose changes say it was sent back. Nothing is sent back twice."""
    models = sentiment_models()
    drafting = models.clients["pe"].answer

    def first_chatty(texts: list[str], args: dict) -> str:
        if len(texts) == 2 and args["seed"] % 2:  # system and request only: the first reply to an odd seed
            return json.dumps({"prompt": "Understood. Please provide the review.", "changes": "ready"})
        return drafting(texts, args)

    models.clients["pe"].answer = first_chatty
    outcome = run(sentiment_scenario(isolated, rounds=1), models)
    sent_back = [c for c in models.requests("pe") if len(c["messages"]) > 2]
    assert sent_back and all(len(c["messages"]) == 4 for c in sent_back)  # request, reply, objection: once
    assert all(c["messages"][2].startswith('{"prompt": "Understood.') for c in sent_back)
    assert all(c["messages"][3].startswith("That prompt cannot be used: written as a reply to the user, not a prompt")
               for c in sent_back)
    state = state_of(outcome)
    candidates = state["rounds"][0]["candidates"]
    assert not any("Understood" in e["prompt"] for e in state["evaluations"].values())
    second = [c for c in candidates if "its second reply: the first was sent back, written as a reply" in c["changes"]]
    assert len(second) == len(sent_back)


def test_a_draft_wrapped_in_sentences_to_the_user_is_scored_without_them(isolated: Path) -> None:
    """The 1.5B engineer often wraps a sound draft in a sentence to the user ("Understood. … Please
    provide the inputs."); dropping such drafts whole left svamp's round 1 three drafts of seven. The
    instruction inside is scored, without the sentences to the user, and the proposal says what went."""
    models = sentiment_models()
    drafting = models.clients["pe"].answer

    def wrapped(texts: list[str], args: dict) -> str:
        reply = json.loads(drafting(texts, args))
        if args["seed"] % 2:
            reply["prompt"] = f"Understood. {reply['prompt']}\nPlease provide the review."
        return json.dumps(reply)

    models.clients["pe"].answer = wrapped
    outcome = run(sentiment_scenario(isolated, rounds=1), models)
    state = state_of(outcome)
    assert len(state["rounds"][0]["candidates"]) == 7  # every draft is a candidate
    prompts = [e["prompt"] for e in state["evaluations"].values()]
    assert not any("Understood" in p or "Please provide" in p for p in prompts)
    proposal = next(json.loads(line) for line in (outcome.run_dir.path / "transcript.jsonl").open(encoding="utf-8")
                    if json.loads(line).get("kind") == "proposal")
    assert "Dropped" not in proposal["content"]
    assert proposal["content"].count("sentence(s) to the user: 'Understood.'") == 3


@pytest.mark.parametrize("text,kept", [
    # drafts of the 1.5B engineer on svamp
    ("Understood. You will receive an arithmetic word problem. Your task is to solve the problem and give the "
     "answer as a number. Please proceed with your input.",
     "You will receive an arithmetic word problem. Your task is to solve the problem and give the answer as a number."),
    ("I will give you a word problem and you should solve it. Please provide the inputs and the expected output.\n"
     "Reply with the final answer on a last line written 'Answer: <number>'.",
     "I will give you a word problem and you should solve it. Reply with the final answer on a last line written "
     "'Answer: <number>'."),
    ("Classify the review.\n- positive: praise\n- negative: complaints", "Classify the review.\n- positive: praise\n"
     "- negative: complaints"),  # the layout stays
    ("I'm ready to solve the arithmetic word problem. Please input the problem statement. I'll process the input "
     "and provide the final answer as a number.", ""),
])
def test_sentences_to_the_user_are_taken_out_of_a_prompt(text: str, kept: str) -> None:
    from redraft.search import without_replies

    assert without_replies(text)[0] == kept


def test_an_edit_that_ties_its_parent_with_other_answers_goes_to_dev_and_one_with_the_same_answers_does_not() -> None:
    from redraft.records import Candidate, Evaluation
    from redraft.config import Example, ExampleResult
    from redraft.search import promoted

    batch = [Example(id=f"t{i}", input=f"q{i}", target="A") for i in range(4)]

    def evaluation(name: str, answers: str) -> Evaluation:
        ev = Evaluation(key=name, candidate=Candidate(instruction=name), prompt=name, round=2)
        for e, a in zip(batch, answers):
            ev.outputs[e.id] = a
            ev.train[e.id] = ExampleResult(score=1.0 if a == "A" else 0.0)
        return ev

    parent = evaluation("parent", "AABB")
    same = evaluation("same answers", "AABB")
    other = evaluation("other answers, same score", "ABAC")
    worse = evaluation("worse", "ABBB")
    assert [ev.key for ev in promoted(parent, [same, other, worse], batch, limit=1)] == [other.key]
    assert promoted(parent, [same, worse], batch, limit=1) == []  # nothing new to learn on dev
    better = evaluation("better", "AAAB")
    assert [ev.key for ev in promoted(parent, [other, better], batch, limit=2)] == [better.key]  # a winner goes alone
    # A draw of worked examples screens highest; an instruction edit that also beat the parent goes to dev beside it
    # (the failure-rich batch favours whatever changes most answers), a draw that beat it less does not.
    draw = evaluation("draw", "AAAA")
    draw.candidate.operator = "demos"
    second_draw = evaluation("second draw", "AAAB")
    second_draw.candidate.operator = "demos"
    rule = evaluation("rule", "AABA")
    rule.candidate.operator = "fix_errors"
    assert [ev.key for ev in promoted(parent, [second_draw, draw, rule], batch, limit=1)] == [draw.key, rule.key]
    assert [ev.key for ev in promoted(parent, [second_draw, draw, same], batch, limit=1)] == [draw.key]


@pytest.mark.parametrize("text,reply", [
    # what the 1.5B engineer wrote as prompts, from the benchmark's transcripts
    ("Understood. Please provide the movement instructions you would like me to follow.", True),
    ("I'm ready to solve the arithmetic word problem. Please input the problem.", True),
    ("I'm going to follow the movement instructions in the input, decide whether I end where I started, and "
     "reply with Yes or No. Please provide the instructions and options.", True),
    ("I need to classify the type of answer a question asks for.", True),
    # instructions that address the task model, some in the first person
    ("I will give you an arithmetic word problem. You must solve it and give the answer as a number.", False),
    ("I will provide you with a question, and you need to classify what kind of answer it asks for.", False),
    ("You will be given a movie review sentence. Please provide the label only.", False),
    ("OK is not a label; answer positive or negative.", False),
])
def test_a_prompt_written_as_a_reply_to_the_user_is_told_from_an_instruction(text: str, reply: bool) -> None:
    from redraft.search import reads_as_reply

    assert reads_as_reply(text) is reply


def current_instructions(user: str) -> str:
    return re.search(r'"""\s*(.*?)\s*"""', user, re.S).group(1)


def test_an_edit_is_written_as_an_addition_so_handing_the_instructions_back_adds_only_what_is_new(isolated: Path) -> None:
    """The 1.5B engineer handed the current instructions back for most whole-instruction edits. An edit from
    the errors is asked for as sentences to add; what it repeats of the instructions is left out."""
    models = sentiment_models()
    drafting = models.clients["pe"].answer
    rule = "If the review praises one thing but returns the product, answer negative."

    def copying(texts: list[str], args: dict) -> str:
        user = texts[-1]
        if "Answer <label> when" in user:  # label definitions, asked without the instructions: the same rule
            return json.dumps({"prompt": rule, "changes": "a rule"})
        if "Current instructions" not in user:
            return drafting(texts, args)
        if "adding to them" in user:  # the current instructions first, then one new sentence
            return json.dumps({"prompt": f"{current_instructions(user)}\n{rule}", "changes": "a rule"})
        return json.dumps({"prompt": current_instructions(user), "changes": "kept it"})  # a whole copy

    models.clients["pe"].answer = copying
    state = state_of(run(sentiment_scenario(isolated, rounds=2), models))
    parent = state["rounds"][0]["prompt"]
    added = [ev["candidate"] for ev in state["evaluations"].values()
             if ev["candidate"]["operator"] in ("define_labels", "fix_errors", "decision_rules")]
    assert added, "round 2 asked for an addition"
    draw = next(ev["candidate"] for ev in state["evaluations"].values() if ev["candidate"]["operator"] == "demos")
    for c in added:
        assert c["instruction"] == f"{parent}\n{rule}"  # the instructions once, then the rule
        # The parent has no worked examples: the addition carries the round's first draw, so the two differ
        # only in their instructions.
        assert c["demos"] and c["demos"] == draw["demos"]
    # The second addition, the same as the first, was dropped; another draw of worked examples took its
    # place, so round 2 still chose among three candidates.
    r2 = state["rounds"][1]["candidates"]
    assert len(r2) == 3
    demos = [ev["candidate"]["demos"] for ev in state["evaluations"].values() if ev["candidate"]["operator"] == "demos"]
    assert len(demos) == 2 and demos[0] != demos[1]


def test_label_definitions_are_asked_for_from_train_inputs_under_each_label(isolated: Path) -> None:
    from redraft.config import load_scenario

    path = sentiment_scenario(isolated, rounds=2)
    train = load_scenario(path).splits.train
    models = sentiment_models()
    run(path, models)
    asked = [r["messages"][-1] for r in models.requests("pe") if "Answer <label> when" in r["messages"][-1]]
    assert len(asked) == 1
    request = asked[0]
    for label in ("positive", "negative"):
        block = request.split(f"\n{label}:\n", 1)[1].split("\n\n")[0]
        shown = [line[2:] for line in block.splitlines() if line.startswith("- ")][:3]
        assert shown and all(any(" ".join(e.input.split()) == s and e.target == label for e in train) for s in shown)
    # The instructions are not shown (asked to add to them, a small engineer hands them back); what the reply says
    # is appended to them, with this round's worked examples.
    state = json.loads(next((isolated / "runs").glob("*/state.json")).read_text(encoding="utf-8"))["run"]
    parent = state["rounds"][0]["prompt"]
    assert "Current instructions" not in request
    (labels,) = [ev["candidate"] for ev in state["evaluations"].values() if ev["candidate"]["operator"] == "define_labels"]
    assert labels["instruction"].startswith(f"{parent}\n") and len(labels["instruction"]) > len(parent) + 1 and labels["demos"]


def test_a_long_earlier_prompt_is_listed_by_whole_sentences_so_an_addition_copied_from_the_list_is_whole(
        isolated: Path) -> None:
    """The edit request lists earlier prompts with their dev scores. Cut off mid-word with "...", the 1.5B engineer
    copied "The outputs will be judge..." into its addition, and that was a final prompt on bbh_navigate. The list
    shows whole sentences and says how many words it left off; an addition copied from it is whole sentences."""
    models = sentiment_models()
    drafting = models.clients["pe"].answer
    padding = ("Read the whole review before you decide. Weigh what the reviewer says about the product itself. "
               "A review that returns the product is negative even when it praises the delivery. "
               "The outputs will be judged on correct and format, so reply with the label alone.")
    listed: list[str] = []

    def long_drafts(texts: list[str], args: dict) -> str:
        user = texts[-1]
        if "Earlier instructions" in user and "adding to them" in user:  # copies the list's first line as its addition
            line = user.split("Earlier instructions and their dev scores, best last:\n", 1)[1].split("\n\n")[0]
            listed.append(line)
            copied = next(x for x in line.splitlines() if "[q=" in x)  # the worst draft's line
            return json.dumps({"prompt": copied.split(": ", 1)[1], "changes": "copied"})
        reply = json.loads(drafting(texts, args))
        return json.dumps({"prompt": f"{reply['prompt']} {padding}", "changes": reply["changes"]})

    models.clients["pe"].answer = long_drafts
    state = state_of(run(sentiment_scenario(isolated, rounds=2), models))
    assert listed, "round 2 asked for an addition"
    drafts = [line for line in "\n".join(listed).splitlines() if "[q=" in line]
    assert drafts
    for line in drafts:  # each longer than the list shows: cut after a sentence
        assert "..." not in line and re.search(r"[.!?\]] \(\+\d+ words\)$", line), line
    additions = [ev["candidate"]["instruction"] for ev in state["evaluations"].values()
                 if ev["candidate"]["operator"] in ("fix_errors", "decision_rules")]
    assert additions
    for instruction in additions:
        assert "..." not in instruction and "words)" not in instruction and instruction.strip()[-1] in ".!?]"


def test_an_edit_that_pastes_a_train_input_into_the_instructions_is_no_candidate(isolated: Path) -> None:
    """Shown train inputs under each label, the 0.5B engineer added one to trec's instructions as it stood ("What is
    a specimen of basidiomycetes?"), and that prompt was final. An edit that quotes an input of train or dev is
    dropped, says why, and its place goes to another draw of worked examples."""
    from redraft.config import load_scenario

    path = sentiment_scenario(isolated, rounds=2)
    inputs = [e.input for e in (*load_scenario(path).splits.train, *load_scenario(path).splits.dev)]
    models = sentiment_models()
    drafting = models.clients["pe"].answer

    def pasting(texts: list[str], args: dict) -> str:
        user = texts[1]  # the request (sent back, it pastes again)
        if "Answer <label> when" in user:  # label definitions: a rule, then the first train input shown
            shown = re.search(r"^- (.+)$", user, re.M).group(1)
            return json.dumps({"prompt": f"Answer negative when the reviewer regrets it. {shown}", "changes": "rule"})
        return drafting(texts, args)

    models.clients["pe"].answer = pasting
    outcome = run(path, models)
    state = state_of(outcome)
    operators = [ev["candidate"]["operator"] for ev in state["evaluations"].values()]
    assert "define_labels" not in operators
    for ev in state["evaluations"].values():
        assert not any(i in ev["candidate"]["instruction"] for i in inputs), ev["candidate"]["instruction"]
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert "define_labels unusable: it pasted the input" in transcript
    assert len(state["rounds"][1]["candidates"]) == 3  # still a choice among three: a draw took its place
    (sent_back,) = [c for c in models.requests("pe") if len(c["messages"]) > 2]  # told once, in the same request
    assert sent_back["messages"][-1].startswith('That prompt cannot be used: it pasted the input "')


def test_a_rewrite_that_drops_a_label_the_instructions_name_is_no_candidate(isolated: Path) -> None:
    """MIPROv2's best trec program on the 0.5B lost the label list and scored 0.13 on test: the task model cannot
    answer with a label it is not told of. An edit whose instructions no longer name a label the parent's named is
    dropped, and says which labels."""
    path = sentiment_scenario(isolated, rounds=4)
    models = sentiment_models()
    drafting = models.clients["pe"].answer

    def forgetting(texts: list[str], args: dict) -> str:
        if "Current instructions" in texts[1]:  # every edit: instructions without the labels
            return json.dumps({"prompt": f"Judge the mood of the review carefully. [q=9 s={args['seed']}]",
                               "changes": "shorter"})
        return drafting(texts, args)

    models.clients["pe"].answer = forgetting
    outcome = run(path, models)
    for ev in state_of(outcome)["evaluations"].values():
        instruction = ev["candidate"]["instruction"]
        assert "positive" in instruction and "negative" in instruction, instruction
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert "unusable: it dropped the labels positive, negative the instructions name" in transcript


def test_an_edit_that_offers_an_answer_besides_the_labels_is_no_candidate(isolated: Path) -> None:
    """On sst2 a define_labels addition had the 0.5B classify reviews "as positive, negative, or neutral" and was kept
    on dev; the metric counts "neutral" wrong. An edit that offers an answer the labels do not have is sent back with
    the reason, and dropped when its second reply does the same."""
    path = sentiment_scenario(isolated, rounds=3)
    models = sentiment_models()
    drafting = models.clients["pe"].answer
    told: list[str] = []

    def inventing(texts: list[str], args: dict) -> str:
        if "That prompt cannot be used" in texts[-1]:
            told.append(texts[-1])
        if "Current instructions" in texts[1] or "under each label" in texts[1]:  # every edit
            return json.dumps({"prompt": f"Label it positive, negative, or neutral. [q=9 s={args['seed']}]",
                               "changes": "a third label"})
        return drafting(texts, args)

    models.clients["pe"].answer = inventing
    outcome = run(path, models)
    for ev in state_of(outcome)["evaluations"].values():
        assert "neutral" not in ev["candidate"]["instruction"]
    assert told and all("it offers 'neutral' as an answer, which is no label of the task (the labels: positive, "
                        "negative)" in t for t in told)
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert "its second reply did the same" in transcript


@pytest.mark.parametrize("labels,text,offered", [
    (["positive", "negative"], "Classify it as positive, negative, or neutral. Then stop.", {"neutral"}),
    (["positive", "negative"], "Label: <positive/negative/neutral>", {"neutral"}),
    (["positive", "negative"], "Answer positive or negative, nothing else.", set()),  # the list ends at the comma
    (["positive", "negative"], "Say positive, negative or mixed feelings.", set()),  # "mixed" is no choice here
    (["Yes", "No"], "Answer Yes, No, or Maybe.", {"maybe"}),
    (["human", "location", "entity"], "Questions about cities, towns or rivers are location.", set()),  # one label
    (["human", "location", "entity"], "For a person answer human, not entity or location.", set()),
])
def test_the_answers_a_prompt_offers_beside_the_labels(labels: list[str], text: str, offered: set[str]) -> None:
    from redraft.eval.checks import offered_labels

    assert offered_labels(labels, text) == offered


@pytest.mark.parametrize("text,limit,shown", [
    ("Answer yes or no.", 40, "Answer yes or no."),  # short enough: as it is
    ("Track the position.  Answer yes\nor no. Count each step twice over.", 40,
     "Track the position. Answer yes or no. (+5 words)"),
    ("Track the position of the walker along both axes of the grid. Answer yes or no.", 40,
     "Track the position of the walker along (+9 words)"),  # one long sentence: whole words
])
def test_a_listed_prompt_is_cut_after_whole_sentences_and_says_what_it_left_off(text: str, limit: int,
                                                                                shown: str) -> None:
    from redraft.records import clipped

    assert clipped(text, limit) == shown


@pytest.mark.parametrize("text,added", [
    ("Label the review. Answer positive or negative.", ""),  # handed back whole
    ("Label the review.\nIf it says 'but', weigh the part after it.", "If it says 'but', weigh the part after it."),
    ("If it says 'but', weigh the part after it. If it says 'but', weigh the part after it.",
     "If it says 'but', weigh the part after it."),
    ("Sarcasm is negative!  Praise is positive.", "Sarcasm is negative! Praise is positive."),
])
def test_an_addition_keeps_only_sentences_the_instructions_do_not_have(text: str, added: str) -> None:
    from redraft.search import added_sentences

    assert added_sentences("Label the review. Answer positive or negative.", text) == added


def test_a_tie_on_dev_goes_to_the_shorter_prompt_and_train_never_decides_it() -> None:
    """Thirty dev examples cannot tell two prompts apart by less than one answer. The train examples both ran on
    are the challenger's minibatch, half of it the best prompt's failures, so they lean toward the challenger;
    between equals the prompt every test query pays less for wins."""
    from redraft.records import Candidate, Evaluation
    from redraft.config import ExampleResult
    from redraft.search import BestOnDev, MeanWin
    from redraft.records import RoundRecord, RunState

    dev = {f"d{i}": ExampleResult(score=float(i % 2)) for i in range(6)}  # right on 3 of 6
    dev_other = {f"d{i}": ExampleResult(score=float(i % 2 == 0)) for i in range(6)}  # another 3 of 6: a tie
    short, long = "Answer yes or no.", "Answer yes or no.\n\nExamples:\n\nInput: a\nAnswer: yes"

    def decide(best: str, new: str, new_dev: dict, select: BestOnDev):
        state = RunState(rounds=[RoundRecord(round=1, prompt=best, dev=dev),
                                 RoundRecord(round=2, prompt=new, dev=new_dev)], best_round=1)
        # the challenger right on all 4 train examples both ran on, the best on none
        state.evaluations = {prompt_key(p): Evaluation(
            key=prompt_key(p), candidate=Candidate(instruction=p), prompt=p, round=1,
            train={f"t{i}": ExampleResult(score=float(p == new)) for i in range(4)}) for p in (best, new)}
        return select.decide(state, state.rounds[1])

    select = BestOnDev(MeanWin(), break_ties=True)
    won = decide(long, short, dev_other, select)
    assert won.accepted and "tie on dev" in won.reason and "shorter" in won.reason
    kept = decide(short, long, dev_other, select)  # better on train, and longer: the best stays
    assert not kept.accepted and "best prompt stays" in kept.reason
    assert not decide(long, short, dev_other, BestOnDev(MeanWin())).accepted  # without the tie rule
    assert not decide(long, short, dev_other, BestOnDev(MeanWin(), min_effect=0.05, break_ties=True)).accepted
    lost = {**dev_other, "d0": ExampleResult(score=0.0)}  # one answer worse on dev: shorter never overturns dev
    assert not decide(long, short, lost, select).accepted


def test_a_round_whose_candidates_all_fail_the_train_screen_says_so() -> None:
    """sst2 and bbh_navigate had rounds where every edit lost its screen to the parent; the transcript said
    "nothing could be scored", which reads as a fault. It names the screen and each candidate's score there."""
    from redraft.config import ExampleResult
    from redraft.records import CandidateResult, RoundRecord, RunState
    from redraft.search import BestOnDev, MeanWin

    best = RoundRecord(round=1, prompt="Answer yes or no.", dev={"d0": ExampleResult(score=1.0)})
    lost = RoundRecord(round=2, prompt="Answer yes or no.", candidates=[
        CandidateResult(key="a", operator="demos", screen=0.75, parent_screen=0.875),
        CandidateResult(key="b", operator="decision_rules", screen=0.5, parent_screen=0.875)])
    decision = BestOnDev(MeanWin()).decide(RunState(rounds=[best, lost], best_round=1), lost)
    assert not decision.accepted
    assert "none of its 2 candidates passed the train screen" in decision.reason
    assert "demos 0.75 against 0.88" in decision.reason and "decision_rules 0.50 against 0.88" in decision.reason
    empty = RoundRecord(round=2, prompt="Answer yes or no.")
    assert "nothing could be scored" in BestOnDev(MeanWin()).decide(RunState(rounds=[best, empty], best_round=1),
                                                                   empty).reason


def test_a_line_the_engineer_copied_from_the_request_never_reaches_a_prompt(isolated: Path) -> None:
    """Asked for sentences to add, the 1.5B answered bbh_navigate with the request's own heading, "Current
    instructions (dev score 0.60 on a 0-1 scale, higher is better):", and that line was in the final prompt. A line
    of the request's wording is taken out of every reply; a reply that is nothing else is no candidate."""
    path = sentiment_scenario(isolated, rounds=3)
    models = sentiment_models()
    drafting = models.clients["pe"].answer
    heading = re.compile(r"^Current instructions \(dev score .+\):$", re.M)

    def echoing(texts: list[str], args: dict) -> str:
        user = texts[1]  # the request (sent back, it does the same)
        if "stop the most frequent error" in user:  # fix_errors: the heading above a real sentence
            copied = heading.search(user).group(0)
            return json.dumps({"prompt": f"{copied}\nWeigh the words after 'but' most.", "changes": "rule"})
        if "What to add:" in user:  # every other addition: the heading alone
            return json.dumps({"prompt": heading.search(user).group(0), "changes": "heading"})
        return drafting(texts, args)

    models.clients["pe"].answer = echoing
    outcome = run(path, models)
    state = state_of(outcome)
    instructions = [ev["candidate"]["instruction"] for ev in state["evaluations"].values()]
    assert not any("Current instructions" in i or "dev score" in i for i in instructions), instructions
    assert any(i.endswith("Weigh the words after 'but' most.") for i in instructions)
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert "unusable: it only copied lines of the request" in transcript


def test_a_blank_prompt_from_the_engineer_is_no_candidate_and_is_named_empty(isolated: Path) -> None:
    """A reply whose prompt is only blanks (or only the list's "(+12 words)") is no candidate, and the transcript says
    the prompt was empty, not that lines of the request were copied."""
    path = sentiment_scenario(isolated, rounds=3)
    models = sentiment_models()
    drafting = models.clients["pe"].answer

    def blank(texts: list[str], args: dict) -> str:
        if "What to add:" in texts[1]:
            return json.dumps({"prompt": "  (+12 words)  ", "changes": "nothing"})
        return drafting(texts, args)

    models.clients["pe"].answer = blank
    outcome = run(path, models)
    instructions = [ev["candidate"]["instruction"] for ev in state_of(outcome)["evaluations"].values()]
    assert all(i.strip() and "(+12 words)" not in i for i in instructions), instructions
    transcript = (outcome.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8")
    assert "unusable: its prompt was empty" in transcript
    assert "only copied lines" not in transcript
