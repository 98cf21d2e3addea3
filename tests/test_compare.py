"""`redraft compare` on model doubles that answer from the request: arms, budget matching, blind
scoring on held-out test, the files it writes, and the null check (an arm against itself)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from autogen_core.models import CreateResult, RequestUsage

from conftest import write_scenario
from redraft.compare import ARMS, CompareOptions, CompareResult, Difference, compare_scenario, differences, verdict
from redraft.eval import repeated_difference
from redraft.config import Scenario, load_scenario
from redraft.errors import ConfigError
from redraft.llm import Endpoint
from redraft.records import ModelDescription, split_prompt
from redraft.store import read_run

# ---- model doubles


def stable(*parts: object) -> int:
    """A hash that does not change between processes (unlike hash())."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


Answer = Callable[[list[str], dict[str, Any]], str]


class Responder:
    """A chat client that computes each reply from the request (so concurrent calls stay
    deterministic) and records every request, like ReplayChatCompletionClient.create_calls."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.create_calls: list[dict[str, Any]] = []
        self.tokens = 0

    async def create(self, messages: Any, *, extra_create_args: dict[str, Any] | None = None, **_: Any) -> CreateResult:
        args = dict(extra_create_args or {})
        texts = [str(m.content) for m in messages]
        self.create_calls.append({"messages": texts, "args": args})
        reply = self.answer(texts, args)
        usage = RequestUsage(prompt_tokens=sum(len(t) for t in texts) // 4, completion_tokens=len(reply) // 4)
        self.tokens += usage.prompt_tokens + usage.completion_tokens
        return CreateResult(finish_reason="stop", content=reply, usage=usage, cached=False)

    async def close(self) -> None:
        pass


class FakeModels:
    """A ModelProvider whose tags map to responders."""

    def __init__(self, answers: dict[str, Answer], price: tuple[float, float] | None = None):
        self.clients = {tag: Responder(a) for tag, a in answers.items()}
        self.price = price

    def known_tags(self) -> list[str]:
        return list(self.clients)

    def has_tag(self, tag: str) -> bool:
        return tag in self.clients

    def client(self, tag: str) -> Responder:
        return self.clients[tag]

    def endpoint(self, tag: str) -> Endpoint:
        return Endpoint(id=f"fake|{tag}", description=ModelDescription(model=f"fake-{tag}", api_type="fake"),
                        structured_output=True, max_retries=0, price=self.price)

    async def close(self) -> None:
        pass

    def requests(self, tag: str) -> list[dict[str, Any]]:
        return self.clients[tag].create_calls

    def tokens(self) -> int:
        """Every token the doubles reported, over all tags."""
        return sum(c.tokens for c in self.clients.values())


def engineer(quality: Callable[[int], int], improve: int) -> Answer:
    """Drafts a prompt whose quality q depends on the seed; a revision raises the best prompt's q."""

    def answer(texts: list[str], args: dict[str, Any]) -> str:
        user = texts[-1]
        current = re.search(r'"""(.*?)"""', user, re.S)  # the prompt being revised; its last tag counts
        found = re.findall(r"\[q=(\d+)", current.group(1)) if current else []
        if ("Best prompt so far" in user or "Current instructions" in user) and found:  # revise, edit or add
            q = min(int(found[-1]) + improve, 10)
        else:
            q = quality(args["seed"])
        prompt = f"Label the sentiment of the review as positive or negative. [q={q} s={args['seed']}]"
        return json.dumps({"prompt": prompt, "changes": "tuned"})

    return answer


def executor(targets: dict[str, str], p_right: Callable[[str, str, int], bool]) -> Answer:
    """Answers the right label when p_right(prompt, input, seed) holds, else the other one."""

    def answer(texts: list[str], args: dict[str, Any]) -> str:
        prompt, text = texts[0], texts[-1]
        target = targets.get(text, "positive")
        other = "negative" if target == "positive" else "positive"
        return target if p_right(prompt, text, args["seed"]) else other

    return answer


def by_quality(prompt: str, text: str, seed: int) -> bool:
    q = int(re.findall(r"\[q=(\d+)", prompt)[-1]) if "[q=" in prompt else 5  # an addition's tag comes last
    return stable(prompt, text) % 10 < q


def critic(texts: list[str], args: dict[str, Any]) -> str:
    schema = args["response_format"]["json_schema"]["schema"]
    criteria = schema["properties"]["scores"]["required"]
    n = schema["properties"]["per_output"]["minItems"]
    outputs = re.findall(r"output: (.*)", texts[-1])
    per = [8 if "good" in o or o in ("positive", "negative") else 3 for o in outputs][:n]
    per += [5] * (n - len(per))
    return json.dumps({"scores": {c: 6 for c in criteria}, "per_output": per, "issues": ["be concrete"], "edits": []})


def moderator(texts: list[str], args: dict[str, Any]) -> str:
    return "Focus on the reviews with mixed feelings."


ROLES = """\
roles:
  prompt_engineer: {model: pe}
  task_executor: {model: exe}
  moderator: {model: mod}
  clarity: {model: crit}
  fidelity: {model: crit}
"""

WORDS = ["loved", "hated", "enjoyed", "regretted", "adored", "disliked"]


def sentiment_examples(n: int = 30) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        word = WORDS[i % len(WORDS)]
        label = "negative" if word in ("hated", "regretted", "disliked") else "positive"
        out.append((f"Review {i}: I {word} this blender, model {i}.", label))
    return out


def sentiment_scenario(folder: Path, rounds: int = 3, seed_prompt: str | None = None) -> Path:
    seed_line = f"seed_prompt: {json.dumps(seed_prompt)}\n" if seed_prompt else ""
    examples = "\n".join(f'  - {{input: "{t}", target: {y}}}' for t, y in sentiment_examples())
    text = f"""\
name: sentiment
description: Classify reviews.
task: Classify the sentiment of a product review as positive or negative.
{seed_line}examples:
{examples}
split: {{train: 10, dev: 10, test: 10, seed: 2}}
metric: {{type: label, labels: [positive, negative]}}
minibatch: 4
noise_repeats: 0
criteria:
  - name: correct
    description: The label is right.
critics: [clarity, fidelity]
rounds: {rounds}
stop: {{patience: 2}}
seed: 11
{ROLES}"""
    return write_scenario(folder, text, "sentiment.yaml")


def sentiment_models(quality: Callable[[int], int] = lambda s: 3 + s % 3, improve: int = 3, **kw: Any) -> FakeModels:
    targets = dict(sentiment_examples())
    return FakeModels({"pe": engineer(quality, improve), "exe": executor(targets, by_quality), "mod": moderator,
                       "crit": critic}, **kw)


def compare(path: Path, models: FakeModels, **options: Any) -> tuple[CompareResult, list[str]]:
    seen: list[str] = []
    options.setdefault("no_cache", True)
    options.setdefault("out_dir", Path("out").absolute())
    result = compare_scenario(str(path), CompareOptions(**options), models=models, on_progress=seen.append)
    return result, seen


# ---- end to end


def test_compare_writes_reports_and_scores_all_arms_on_test_only_after_selection(isolated: Path) -> None:
    path = sentiment_scenario(isolated)
    models = sentiment_models(price=(0.001, 0.002))
    result, progress = compare(path, models, repeats=2)

    out = isolated / "out"
    assert {p.name for p in out.iterdir()} >= {"compare.json", "report.md", "report.html", "runs"}
    data = json.loads((out / "compare.json").read_text())
    assert list(data["arms"]) == list(ARMS)
    for name, arm in data["arms"].items():
        assert {"score", "ci_low", "ci_high", "calls", "tokens", "test_tokens_per_query", "seconds"} <= set(arm)
        assert arm["ci_low"] <= arm["score"] <= arm["ci_high"]
        assert len(arm["repeats"]) == 2 and arm["test_tokens_per_query"] > 0
        assert arm["network_calls"] + arm["cache_hits"] == arm["calls"] and arm["cache_hits"] == 0  # --no-cache
        if name == "start":  # the user's prompt as given: nothing is spent making it
            assert arm["calls"] == arm["tokens"] == 0 and arm["cost_usd"] == 0
        else:
            assert arm["calls"] > 0 and arm["tokens"] > 0 and arm["cost_usd"] is not None and arm["cost_usd"] > 0
    assert [(d["a"], d["b"]) for d in data["differences"]] == [
        ("sequential", "start"), ("sequential", "single_shot"), ("sequential", "best_of_n"),
        ("sequential", "best_of_n_demos"), ("sequential", "demos_only"), ("demos_only", "best_of_n_demos")]
    for d in data["differences"]:  # Holm never makes a p-value smaller, and significance is read on the adjusted one
        assert d["p_adjusted"] >= d["p_value"] and d["significant"] == (d["p_adjusted"] < 0.05) and d["df"] == 1
    assert data["metric"] == "label" and data["score_scale"] == "0-1"
    assert CompareResult.model_validate(data) == result
    assert "<html" in (out / "report.html").read_text() and "**Verdict:**" in (out / "report.md").read_text()
    # Beside every score, what always giving train's most frequent label scores on the same test examples.
    majority = data["majority"]
    targets = [e["target"] for e in data["examples"]]
    assert majority["answer"] in ("positive", "negative")
    assert majority["score"] == round(targets.count(majority["answer"]) / len(targets), 4)
    assert f"always answering '{majority['answer']}'" in (out / "report.md").read_text()
    assert "majority class" in (out / "report.html").read_text()

    # Repeats are reseeded by 1000; every repeat is scored on all 10 test examples, in the examples' order.
    seq = result.arms["sequential"]
    assert {r.prompt for r in result.arms["start"].repeats} == {"Classify the sentiment of a product review as positive or negative."}
    assert [r.seed for r in seq.repeats] == [11, 1011]
    assert [e.id for e in result.examples] == [f"examples-{i}" for i in _test_ids(path)]
    for arm in result.arms.values():
        for r in arm.repeats:
            assert len(r.per_example) == 10 == len(r.outputs)
            assert r.score == pytest.approx(statistics.fmean(r.per_example))

    # The chat arms' repeats are real chats with run folders, and they did not score test themselves.
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["demos_only-1", "demos_only-2", "sequential-1", "sequential-2"]
    for r in [*seq.repeats, *result.arms["demos_only"].repeats]:
        summary = json.loads((Path(r.run_dir) / "summary.json").read_text())
        assert summary["test"] is None and summary["final_prompt"] == r.prompt
        # ... and read as finished, not as a run to resume; its report says where its test score is.
        assert read_run(r.run_dir).status == "finished"
        assert "an arm of a comparison" in (Path(r.run_dir) / "report.html").read_text()
        assert [p.round for p in r.rounds] == list(range(1, len(r.rounds) + 1)) and r.rounds[0].dev_score is not None

    # Budget matching: best-of-N spends the sequential repeat's calls, within one candidate (1 draft + 10 dev runs).
    bon = result.arms["best_of_n"]
    for s, b in zip(seq.repeats, bon.repeats):
        assert abs(b.calls - s.calls) <= 11 / 2 and abs(b.candidates - s.calls / 11) <= 0.5
    # With worked examples a candidate also runs on a train minibatch first: the spend still ends within half a
    # candidate of the chat's, and every worked example is a train example with its target.
    train = {e.input: e.target for e in _scenario(path).splits.train}
    for s, b in zip(seq.repeats, result.arms["best_of_n_demos"].repeats):
        assert abs(b.calls - s.calls) <= (b.calls / b.candidates) / 2
        _, pairs = split_prompt(b.prompt)
        assert pairs and all(train.get(given) == reply for given, reply in pairs)
    assert all(r.calls == 1 for r in result.arms["single_shot"].repeats)

    # Test inputs reach the executor only after every arm chose its prompt, and only with those prompts.
    test_inputs = {e.input for e in result.examples}
    finals = {split_prompt(r.prompt)[0] for a in result.arms.values() for r in a.repeats}  # the instruction
    exe = models.requests("exe")
    on_test = [i for i, c in enumerate(exe) if c["messages"][-1] in test_inputs]
    # each prompt once per repeat: arms of one repeat that end on one prompt share its outputs
    distinct = {(k, r.prompt) for a in result.arms.values() for k, r in enumerate(a.repeats)}
    assert len(on_test) == 10 * len(distinct) and len(distinct) > 2 * 3
    assert min(on_test) > max(i for i, c in enumerate(exe) if c["messages"][-1] not in test_inputs)
    assert all(exe[i]["messages"][0] in finals for i in on_test)

    # Progress: arm, repeat, round, elapsed and time left.
    assert any(re.fullmatch(r"arm sequential, repeat 2/2, round 2 — elapsed \d+s, about \d+s left", p) for p in progress)
    assert any(p.startswith("arm best_of_n, repeat 1/2, candidate 1/") for p in progress)
    assert any(p.startswith("scoring on test, 12/12") for p in progress)
    # Each call updates the line with the step's calls done of those started: a best-of-N candidate is its draft
    # and its 10 dev runs.
    counted = r"— (\d+)/(\d+) calls, elapsed \d+s, about \d+s left"
    assert any(re.fullmatch(rf"arm best_of_n, repeat 2/2, candidate \d+/\d+ {counted}", p) for p in progress)
    assert any(re.fullmatch(r"arm best_of_n, repeat 1/2, candidate 2/\d+ — 11/11 calls, .*", p) for p in progress)
    assert any(re.fullmatch(r"scoring on test, 12/12 — 10/10 calls, .*", p) for p in progress)

    # Every token the server saw is one an arm spent making its prompt or running it on test.
    spent = sum(a.tokens for a in result.arms.values())
    per_run = {(k, r.prompt): r.test_tokens_per_query for a in result.arms.values() for k, r in enumerate(a.repeats)}
    on_test_tokens = sum(per_query * 10 for per_query in per_run.values())  # a shared prompt's run counted once
    assert abs(models.tokens() - (spent + on_test_tokens)) <= 2 * len(ARMS)  # per query rounded to 0.1 token


def _scenario(path: Path) -> Scenario:
    return load_scenario(path)


def _test_ids(path: Path) -> list[int]:
    return [int(e.id.split("-")[1]) for e in _scenario(path).splits.test]


def test_refinement_that_helps_is_reported_as_a_win(isolated: Path) -> None:
    # The user's prompt and every draft are poor (q=1: about 10 % right); every revision adds 4, so the chat
    # reaches q=9 by round 3.
    models = sentiment_models(quality=lambda s: 1, improve=4)
    start = "Label the sentiment of the review. [q=1]"
    result, _ = compare(sentiment_scenario(isolated, seed_prompt=start), models, repeats=1, arms=["single_shot", "sequential"])
    (d,) = result.differences
    assert d.significant and d.estimate > 0.3 and d.wins > 0.3
    assert result.verdict.startswith("On 10 held-out test examples, sequential refinement beat single-shot by +")
    assert "no significant difference" not in result.verdict


def test_identical_arms_show_no_significant_difference(isolated: Path) -> None:
    """The null check end to end: every arm ends with the same prompt, and the executor is right or
    wrong at random (p=0.6, by input and seed). Within a repeat every arm's test run uses the same
    seeds, so equal prompts score equally and the verdict must say so."""
    same = "Label the sentiment of the review as positive or negative, one word."

    def one_prompt(texts: list[str], args: dict[str, Any]) -> str:
        return json.dumps({"prompt": same, "changes": "none"})

    targets = dict(sentiment_examples())
    models = FakeModels({"pe": one_prompt, "exe": executor(targets, lambda p, t, s: stable(t, s) % 10 < 6),
                         "mod": moderator, "crit": critic})
    result, _ = compare(sentiment_scenario(isolated, rounds=2, seed_prompt=same), models, repeats=2)
    assert {split_prompt(r.prompt)[0] for a in result.arms.values() for r in a.repeats} == {same}
    assert [d.significant for d in result.differences] == [False] * 6
    assert all(d.estimate == 0 and d.ties == 1 for d in result.differences)
    assert result.verdict == (
        "On 10 held-out test examples and 2 repeats, sequential refinement was not shown to differ from your prompt "
        "(+0.00, adjusted p=1.00) or from single-shot (+0.00, adjusted p=1.00) or from best-of-N (+0.00, adjusted "
        "p=1.00) or from best-of-N with worked examples (+0.00, adjusted p=1.00) or from worked examples alone (+0.00, "
        "adjusted p=1.00); worked examples alone was not shown to differ from best-of-N with worked examples (+0.00, "
        "adjusted p=1.00).")


def test_two_arms_that_end_on_one_prompt_get_its_test_outputs_once(isolated: Path) -> None:
    """Sequential kept your prompt in all three support_reply repeats, and the judge still preferred one of two
    samplings of it to the other (0.417): a local server's batching gives one prompt and seed other outputs. A
    prompt two arms of one repeat end on is run on test once, so its difference with itself is exactly none."""
    same = "Label the sentiment of the review as positive or negative, one word."

    def one_prompt(texts: list[str], args: dict[str, Any]) -> str:
        return json.dumps({"prompt": same, "changes": "none"})

    targets, calls = dict(sentiment_examples()), iter(range(10**6))
    flaky = executor(targets, lambda p, t, s: next(calls) % 3 > 0)  # right or wrong by the call, not the seed
    models = FakeModels({"pe": one_prompt, "exe": flaky, "mod": moderator, "crit": critic})
    path = sentiment_scenario(isolated, rounds=2, seed_prompt=same)
    result, _ = compare(path, models, repeats=2, arms=["start", "sequential"])
    assert [r.prompt for r in result.arms["sequential"].repeats] == [r.prompt for r in result.arms["start"].repeats]
    (d,) = result.differences
    assert d.estimate == 0 and d.ties == 1 and not d.significant
    test_inputs = {e.input for e in _scenario(path).splits.test}
    on_test = [c for c in models.requests("exe") if c["messages"][-1] in test_inputs]
    assert len(on_test) == 2 * len(test_inputs)  # once per repeat, not once per arm
    assert result.arms["sequential"].test_tokens_per_query == result.arms["start"].test_tokens_per_query > 0


def test_null_check_over_300_seeds_counts_the_spread_between_repeats() -> None:
    """An arm against itself: 5 repeats over 30 examples, each example right with its own p, and each repeat
    of a prompt shifted by its own run-to-run effect (sd 0.1, as trec's sequential arm varied). At most 5 % of 300
    seeds may report a significant difference (measured: 11), where a test with the example as its unit flags 17 %
    (the test has to count the repeats); and a real +0.4 effect is still found in 80 %, so the check is not
    passed by never deciding. (Three repeats find it in about 58: two degrees of freedom are the price of
    counting the spread between runs; bench/null_check.py measures both at n = 100.)"""
    def arm(rng: random.Random, p: list[float], shift: float = 0.0) -> list[list[float]]:
        runs = []
        for _ in range(5):
            run = rng.gauss(0, 0.1)
            runs.append([float(rng.random() < min(max(pi + shift + run, 0.0), 1.0)) for pi in p])
        return runs

    false_alarms = found = 0
    for seed in range(300):
        rng = random.Random(seed)
        p = [rng.uniform(0.2, 0.6) for _ in range(30)]
        same = differences({"single_shot": arm(rng, p), "sequential": arm(rng, p)})
        false_alarms += same[0].significant
        better = differences({"single_shot": arm(rng, p), "sequential": arm(rng, p, shift=0.4)})
        found += better[0].significant and better[0].estimate > 0
    assert false_alarms <= 0.05 * 300
    assert found >= 0.8 * 300


def test_a_gain_that_holds_in_every_repeat_is_shown_though_it_lands_on_some_examples_only() -> None:
    """trec, 3 repeats, n = 100: your prompt right on about 22 examples, the chat's prompt on about 70, the gain
    landing on the examples the worked examples fixed (0.53, 0.41, 0.48 by repeat). The earlier test read that
    spread over examples with 2 degrees of freedom and said "not shown" (adjusted p = 0.11); a user would not."""
    rng = random.Random(5)
    start = [[float(i < 22 and rng.random() < 0.97) for i in range(100)] for _ in range(3)]
    chat = [[float(i < 70 and rng.random() < 0.95 - 0.05 * k) for i in range(100)] for k in range(3)]
    others = {arm: [[float(rng.random() < 0.25) for _ in range(100)] for _ in range(3)]
              for arm in ("single_shot", "best_of_n", "best_of_n_demos", "demos_only")}
    (gain, *_rest) = differences({"start": start, **others, "sequential": chat})  # six differences, as compare tests
    assert (gain.a, gain.b) == ("sequential", "start") and len(_rest) == 5
    assert gain.estimate > 0.4 and gain.significant and gain.p_adjusted < 0.05 and gain.ci_low > 0.2


def test_a_gain_on_two_examples_or_in_one_run_is_not_shown() -> None:
    """Shown means both: across runs on these examples, and across examples. Two examples won in every repeat
    hold across runs (no spread at all) but not across examples; a gain in one repeat of three, cancelled in
    the others, holds across the examples averaged but not across runs."""
    base = [[float(i % 2) for i in range(100)] for _ in range(3)]
    two = [[1.0 if i < 2 else float(i % 2) for i in range(100)] for _ in range(3)]
    narrow = repeated_difference(two, base)
    assert narrow.estimate == pytest.approx(0.01) and narrow.p_value > 0.1 and narrow.low < 0 < narrow.high
    swing = [[float(i % 2 or (k == 0 and i < 60)) for i in range(100)] for k in range(3)]
    swing[1] = [float(i % 2 and i > 20) for i in range(100)]
    one_run = repeated_difference(swing, base)
    assert one_run.estimate > 0 and one_run.p_value > 0.05 and one_run.df == 2  # the runs' test decides
    assert repeated_difference(base, base).p_value == 1.0


def rubric_scenario(folder: Path, judge: bool = True) -> Path:
    inputs = "\n".join(f'  - "Customer {i} asks for a refund of order {i}."' for i in range(14))
    return write_scenario(folder, f"""\
name: refunds
description: Reply to refund requests.
task: Answer a refund request under the 30-day policy.
seed_prompt: Answer the refund request politely.
inputs:
{inputs}
split: {{train: 4, dev: 4, test: 6}}
criteria:
  - name: policy
    description: Follows the 30-day policy.
critics: [clarity, fidelity]
rounds: 2
noise_repeats: 0
{ROLES}""" + ("  judge: {model: judge}\n" if judge else ""))


def good_reply(texts: list[str], args: dict[str, Any]) -> str:
    """The executor: a good reply more often the higher the prompt's q (the seed prompt has none: q=2)."""
    q = int(re.search(r"\[q=(\d+)", texts[0]).group(1)) if "[q=" in texts[0] else 2
    return "a good reply" if stable(texts[0], texts[-1]) % 10 < q else "a poor reply"


def fair_judge(texts: list[str], args: dict[str, Any]) -> str:
    """Prefers a good reply over a poor one, whichever position it is in."""
    a, b = re.search(r'Output A:\s*"""\s*(.*?)\s*"""\s*Output B:\s*"""\s*(.*?)\s*"""', texts[-1], re.S).groups()
    winner = "tie" if ("good" in a) == ("good" in b) else "A" if "good" in a else "B"
    return json.dumps({"reason": "the better reply", "winner": winner})


def test_rubric_scoring_is_the_judges_blind_and_in_both_orders(isolated: Path) -> None:
    models = FakeModels({"pe": engineer(lambda s: 4, 3), "exe": good_reply, "mod": moderator, "crit": critic,
                         "judge": fair_judge})
    result, _ = compare(rubric_scenario(isolated), models, repeats=1)
    assert result.metric == "judge" and result.score_scale == "0-1" and result.models["judge"].tag == "judge"
    assert list(result.arms) == ["start", "single_shot", "best_of_n", "sequential"]  # no worked examples without targets

    # The chat scores the seed prompt as round 1; the single shot drafts anyway.
    assert result.arms["sequential"].repeats[0].rounds[0].prompt == "Answer the refund request politely."
    assert "[q=" in result.arms["single_shot"].repeats[0].prompt
    # A rubric-only candidate costs 1 draft + 4 dev runs + 2 critics.
    seq, bon = result.arms["sequential"].repeats[0], result.arms["best_of_n"].repeats[0]
    assert abs(bon.calls - seq.calls) <= 7 / 2

    # No critic sees a test input: the critics steered the chat, so they do not grade its result.
    test_inputs = [e.input for e in result.examples]
    assert not any(t in "\n".join(c["messages"]) for c in models.requests("crit") for t in test_inputs)
    # The judge sees every pair in both orders, never an arm's name or a prompt.
    prompts = {r.prompt for a in result.arms.values() for r in a.repeats}
    asked = models.requests("judge")
    for c in asked:
        text = "\n".join(c["messages"])
        assert not any(arm in text for arm in ("single_shot", "best_of_n", "sequential", "single-shot", "best-of-N"))
        assert not any(p in text for p in prompts) and "[q=" not in text
    pairs = [re.search(r'Output A:\s*"""\s*(.*?)\s*"""\s*Output B:\s*"""\s*(.*?)\s*"""', c["messages"][-1], re.S).groups()
             for c in asked]
    for a, b in pairs:
        assert (b, a) in pairs  # each order has its swap
    assert result.judge_calls == len(asked) and result.judge_consistency == 1.0  # this judge ignores the position
    report = (isolated / "out" / "report.md").read_text()
    assert "## Judge" in report and "never by the critics who steered the chat" in report
    assert re.search(r"Swapping the order kept the judge\S* verdict in 100% of pairs", (isolated / "out" / "report.html").read_text())

    # Scores are preferences over the user's prompt: start is 0.5, and each arm's rates add up.
    assert result.arms["start"].score == 0.5 and result.arms["start"].judged == []
    for name in ("single_shot", "best_of_n", "sequential"):
        arm = result.arms[name]
        against = [j.against for j in arm.judged]
        assert against == (["start"] if name == "sequential" else ["start", "sequential"])
        for j in arm.judged:
            assert j.win + j.tie + j.loss == pytest.approx(1.0) and j.win_low <= j.win <= j.win_high
        (rep,) = arm.repeats
        expected = [1.0 if "good" in o and "good" not in st else 0.0 if "good" in st and "good" not in o else 0.5
                    for o, st in zip(rep.outputs, result.arms["start"].repeats[0].outputs)]
        assert rep.per_example == expected


def test_worked_example_arms_on_a_rubric_scenario_need_search_demos(isolated: Path) -> None:
    with pytest.raises(ConfigError) as err:
        compare(rubric_scenario(isolated), sentiment_models(), arms=["best_of_n_demos", "sequential"])
    assert str(err.value).startswith("--arms: the arms best_of_n_demos show worked examples") and "search: {demos: 2}" in str(err.value)
    assert not (isolated / "out").exists()


def test_on_a_rubric_scenario_with_search_demos_the_example_arms_show_the_optimizer_models_replies(isolated: Path) -> None:
    path = rubric_scenario(isolated)
    path.write_text(path.read_text(encoding="utf-8") + "search: {demos: 2}\n", encoding="utf-8")
    models = FakeModels({"pe": engineer(lambda s: 4, 3), "exe": good_reply, "mod": moderator, "crit": critic,
                         "judge": fair_judge})
    result, _ = compare(path, models, repeats=1)
    assert list(result.arms) == list(ARMS)
    train = {e.input for e in load_scenario(str(path)).splits.train}
    taught = [c for c in models.requests("pe") if "response_format" not in c["args"]]  # the executor's messages
    assert taught and {c["messages"][-1] for c in taught} <= train
    for prompt in (result.arms["best_of_n_demos"].repeats[0].prompt, result.arms["demos_only"].repeats[0].rounds[1].prompt):
        _, shown = split_prompt(prompt)
        assert len(shown) == 2 and {given for given, _ in shown} <= train
    assert [j.against for j in result.arms["demos_only"].judged] == ["start", "sequential"]



def test_the_judge_defaults_to_the_engineers_model(isolated: Path) -> None:
    def engineer_or_judge(texts: list[str], args: dict[str, Any]) -> str:
        return fair_judge(texts, args) if "Output A:" in texts[-1] else engineer(lambda s: 4, 3)(texts, args)

    models = FakeModels({"pe": engineer_or_judge, "exe": good_reply, "mod": moderator, "crit": critic})
    result, _ = compare(rubric_scenario(isolated, judge=False), models, repeats=1, arms=["start", "single_shot"])
    assert result.models["judge"].tag == "pe"
    assert sum("Output A:" in c["messages"][-1] for c in models.requests("pe")) == result.judge_calls > 0


def test_without_the_chat_best_of_n_draws_the_round_limit(isolated: Path) -> None:
    result, _ = compare(sentiment_scenario(isolated, rounds=2), sentiment_models(), repeats=1, arms=["best_of_n"])
    assert list(result.arms) == ["best_of_n"] and result.arms["best_of_n"].repeats[0].candidates == 2
    assert result.differences == [] and result.verdict.startswith("Only best-of-N was run, so there is nothing to compare")


def test_verdict_sentences() -> None:
    def diff(b: str, estimate: float, low: float, high: float, p: float, a: str = "sequential") -> Difference:
        return Difference(a=a, b=b, estimate=estimate, ci_low=low, ci_high=high, wins=0, ties=0, losses=0,
                          significant=p < 0.05, p_value=p / 2, p_adjusted=p)

    win = diff("single_shot", 0.12, 0.04, 0.20, 0.01)
    loss = diff("best_of_n", -0.10, -0.20, -0.02, 0.01)
    # unadjusted it would pass (p=0.02, an interval clear of 0), but after Holm it does not: the verdict says "not shown"
    doubtful = diff("best_of_n", 0.05, 0.01, 0.10, 0.2)
    assert verdict({}, [win, doubtful], 24, 3) == (
        "On 24 held-out test examples and 3 repeats, sequential refinement beat single-shot by +0.12 (95% CI "
        "+0.04..+0.20, adjusted p=0.01) and was not shown to differ from best-of-N (+0.05, adjusted p=0.20).")
    assert verdict({}, [win, loss], 24).endswith("and scored below best-of-N by 0.10 (95% CI -0.20..-0.02, adjusted p=0.01).")
    ablation = diff("best_of_n_demos", 0.0, -0.1, 0.1, 1.0, a="demos_only")
    assert verdict({}, [win, ablation], 24).endswith(
        "; worked examples alone was not shown to differ from best-of-N with worked examples (+0.00, adjusted p=1.00).")
    # Without the chat, the last arm run is set against each other one.
    tables = {"single_shot": [[0.0, 1.0]], "best_of_n": [[1.0, 1.0]], "start": [[0.0, 0.0]]}
    assert [(d.a, d.b) for d in differences(tables)] == [("best_of_n", "start"), ("best_of_n", "single_shot")]


# ---- errors


def test_a_scenario_without_a_test_split_is_refused(isolated: Path) -> None:
    path = sentiment_scenario(isolated).read_text().replace("test: 10", "test: 0")
    path = write_scenario(isolated, path, "notest.yaml")
    with pytest.raises(ConfigError) as err:
        compare(path, sentiment_models())
    assert err.value.key == "split" and "notest.yaml" in str(err.value)
    assert "add split: {train: .., dev: .., test: ..}" in str(err.value)
    assert not (isolated / "out").exists()


def test_unknown_arm_names_the_valid_ones(isolated: Path) -> None:
    with pytest.raises(ConfigError, match="valid arms: start, single_shot, best_of_n, best_of_n_demos, demos_only, sequential"):
        compare(sentiment_scenario(isolated), sentiment_models(), arms=["single_shot", "tree_search"])


def test_cli_bad_arms_fails_cleanly(isolated: Path) -> None:
    path = sentiment_scenario(isolated)
    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "compare", str(path), "--arms", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown arm 'nope'" in proc.stderr and "start, single_shot, best_of_n, best_of_n_demos" in proc.stderr


# ---- the arms' contracts


def test_start_makes_no_optimization_call_and_scores_the_users_prompt(isolated: Path) -> None:
    start = "Say positive or negative. [q=7]"
    models = sentiment_models()
    result, _ = compare(sentiment_scenario(isolated, seed_prompt=start), models, repeats=2, arms=["start"])
    (rep1, rep2) = result.arms["start"].repeats
    assert rep1.prompt == rep2.prompt == start and rep1.calls == rep1.tokens == 0
    assert models.requests("pe") == [] and models.requests("mod") == [] and models.requests("crit") == []
    # the executor ran only the test inputs, with the user's prompt
    test_inputs = {e.input for e in result.examples}
    assert [c["messages"][-1] in test_inputs and c["messages"][0] == start for c in models.requests("exe")] == [True] * 20


def test_demos_only_proposes_no_engineer_edit_after_round_1(isolated: Path) -> None:
    models = sentiment_models()
    result, _ = compare(sentiment_scenario(isolated, rounds=3), models, repeats=1, arms=["demos_only"])
    (rep,) = result.arms["demos_only"].repeats
    assert len(rep.rounds) >= 2  # the chat went past round 1
    asked = [c["messages"][-1] for c in models.requests("pe")]
    assert asked and not any("Best prompt so far" in a or "Current instructions" in a for a in asked)  # drafts only
    assert models.requests("crit") == []  # nothing to critique: worked examples need no engineer
    # later rounds' candidates are worked-example edits of the best prompt
    summary = json.loads((Path(rep.run_dir) / "summary.json").read_text())
    later = [c["operator"] for r in summary["rounds"][1:] for c in r["candidates"]]
    assert later and set(later) <= {"demos"}


def test_match_tokens_spends_the_chats_tokens(isolated: Path) -> None:
    models = sentiment_models()
    result, _ = compare(sentiment_scenario(isolated), models, repeats=1, arms=["best_of_n", "sequential"], match="tokens")
    (seq,), (bon,) = result.arms["sequential"].repeats, result.arms["best_of_n"].repeats
    assert abs(bon.tokens - seq.tokens) <= (bon.tokens / bon.candidates) / 2
    assert bon.calls != seq.calls or bon.tokens == seq.tokens  # matched on tokens, not on calls


def test_cli_fail_under_gates_on_the_compared_score(isolated: Path) -> None:
    from fakeserver import FakeOpenAI

    text = sentiment_scenario(isolated).read_text().split("roles:")[0]
    path = write_scenario(isolated, text, "plain.yaml")
    with FakeOpenAI() as srv:
        entries = json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "sk-x"}])
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "compare", str(path), "--arms", "start", "--repeats",
                               "1", "--no-cache", "--out", "gated", "--fail-under", "1.01"], cwd=isolated,
                              env={**os.environ, "OAI_CONFIG_LIST": entries}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    score = json.loads((isolated / "gated" / "compare.json").read_text())["arms"]["start"]["score"]
    assert f"--fail-under 1.01: start scored {score:.3f} on test, below it" in proc.stderr
