"""`redraft compare` on model doubles that answer from the request: arms, budget matching, blind
scoring on held-out test, the files it writes, and the null check (an arm against itself)."""

from __future__ import annotations

import hashlib
import json
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
from redraft.errors import ConfigError
from redraft.llm import Endpoint
from redraft.records import ModelDescription

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

    async def create(self, messages: Any, *, extra_create_args: dict[str, Any] | None = None, **_: Any) -> CreateResult:
        args = dict(extra_create_args or {})
        texts = [str(m.content) for m in messages]
        self.create_calls.append({"messages": texts, "args": args})
        reply = self.answer(texts, args)
        usage = RequestUsage(prompt_tokens=sum(len(t) for t in texts) // 4, completion_tokens=len(reply) // 4)
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
    for arm in data["arms"].values():
        assert {"score", "ci_low", "ci_high", "calls", "tokens", "seconds"} <= set(arm)
        assert arm["ci_low"] <= arm["score"] <= arm["ci_high"]
        assert len(arm["repeats"]) == 2 and arm["calls"] > 0 and arm["tokens"] > 0
        assert arm["cost_usd"] is not None and arm["cost_usd"] > 0
        assert arm["network_calls"] + arm["cache_hits"] == arm["calls"] and arm["cache_hits"] == 0  # --no-cache
    assert [(d["a"], d["b"]) for d in data["differences"]] == [("sequential", "single_shot"), ("sequential", "best_of_n")]
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
    assert [r.seed for r in seq.repeats] == [11, 1011]
    assert [e.id for e in result.examples] == [f"examples-{i}" for i in _test_ids(path)]
    for arm in result.arms.values():
        for r in arm.repeats:
            assert len(r.per_example) == 10 == len(r.outputs)
            assert r.score == pytest.approx(statistics.fmean(r.per_example))

    # The sequential repeats are real chats with run folders, and they did not score test themselves.
    for r in seq.repeats:
        summary = json.loads((Path(r.run_dir) / "summary.json").read_text())
        assert summary["test"] is None and summary["final_prompt"] == r.prompt
        assert [p.round for p in r.rounds] == list(range(1, len(r.rounds) + 1)) and r.rounds[0].dev_score is not None

    # Budget matching: best-of-N spends the sequential repeat's calls, within one candidate (1 draft + 10 dev runs).
    bon = result.arms["best_of_n"]
    for s, b in zip(seq.repeats, bon.repeats):
        assert abs(b.calls - s.calls) <= 11 / 2 and b.candidates == round(s.calls / 11)
    assert all(r.calls == 1 for r in result.arms["single_shot"].repeats)

    # Test inputs reach the executor only after every arm chose its prompt, and only with those prompts.
    test_inputs = {e.input for e in result.examples}
    finals = {r.prompt for a in result.arms.values() for r in a.repeats}
    exe = models.requests("exe")
    on_test = [i for i, c in enumerate(exe) if c["messages"][-1] in test_inputs]
    assert len(on_test) == 10 * 2 * 3
    assert min(on_test) > max(i for i, c in enumerate(exe) if c["messages"][-1] not in test_inputs)
    assert all(exe[i]["messages"][0] in finals for i in on_test)

    # Progress: arm, repeat, round, elapsed and time left.
    assert any(re.fullmatch(r"arm sequential, repeat 2/2, round 2 — elapsed \d+s, about \d+s left", p) for p in progress)
    assert any(p.startswith("arm best_of_n, repeat 1/2, candidate 1/") for p in progress)
    assert any(p.startswith("scoring on test, 6/6") for p in progress)
    # Each call updates the line with the step's calls done of those started: a best-of-N candidate is its draft
    # and its 10 dev runs.
    counted = r"— (\d+)/(\d+) calls, elapsed \d+s, about \d+s left"
    assert any(re.fullmatch(rf"arm best_of_n, repeat 2/2, candidate \d+/\d+ {counted}", p) for p in progress)
    assert any(re.fullmatch(r"arm best_of_n, repeat 1/2, candidate 2/\d+ — 11/11 calls, .*", p) for p in progress)
    assert any(re.fullmatch(r"scoring on test, 6/6 — 10/10 calls, .*", p) for p in progress)


def _test_ids(path: Path) -> list[int]:
    from redraft.config import load_scenario

    return [int(e.id.split("-")[1]) for e in load_scenario(path).splits.test]


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
    assert {r.prompt for a in result.arms.values() for r in a.repeats} == {same}
    assert [d.significant for d in result.differences] == [False, False]
    assert all(d.estimate == 0 and d.ties == 1 for d in result.differences)
    assert result.verdict == ("On 10 held-out test examples, sequential refinement showed no significant difference "
                              "from single-shot (+0.00, 95% CI +0.00..+0.00) or from best-of-N (+0.00, 95% CI +0.00..+0.00).")


def test_null_check_bootstrap_over_100_seeds() -> None:
    """An arm against itself with independent noise: 10 examples, each right with its own fixed p,
    3 repeats per arm. At most 5 of 100 seeds may report a significant difference — and a real
    effect of the same size as the noise is still found, so the check is not passed by never deciding."""
    def arm_scores(rng: random.Random, p: list[float]) -> list[float]:
        return [statistics.fmean(float(rng.random() < pi) for _ in range(3)) for pi in p]

    false_alarms = found = 0
    for seed in range(100):
        rng = random.Random(seed)
        p = [rng.uniform(0.2, 0.9) for _ in range(10)]
        same = differences({"single_shot": arm_scores(rng, p), "sequential": arm_scores(rng, p)}, seed=seed)
        false_alarms += same[0].significant
        better = differences({"single_shot": arm_scores(rng, p),
                              "sequential": arm_scores(rng, [min(pi + 0.5, 1.0) for pi in p])}, seed=seed)
        found += better[0].significant and better[0].estimate > 0
    assert false_alarms <= 5
    assert found >= 80


def test_rubric_only_scoring_is_blind_and_single_shot_ignores_the_seed_prompt(isolated: Path) -> None:
    inputs = "\n".join(f'  - "Customer {i} asks for a refund of order {i}."' for i in range(14))
    path = write_scenario(isolated, f"""\
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
{ROLES}""")

    def reply(texts: list[str], args: dict[str, Any]) -> str:
        q = int(re.search(r"\[q=(\d+)", texts[0]).group(1)) if "[q=" in texts[0] else 2
        return "a good reply" if stable(texts[0], texts[-1]) % 10 < q else "a poor reply"

    models = FakeModels({"pe": engineer(lambda s: 4, 3), "exe": reply, "mod": moderator, "crit": critic})
    result, _ = compare(path, models, repeats=1)
    assert result.metric == "panel" and result.score_scale == "1-10"
    assert all(1 <= r.score <= 10 for a in result.arms.values() for r in a.repeats)

    # The chat scores the seed prompt as round 1; the single shot drafts anyway.
    assert result.arms["sequential"].repeats[0].rounds[0].prompt == "Answer the refund request politely."
    assert "[q=" in result.arms["single_shot"].repeats[0].prompt
    # A rubric-only candidate costs 1 draft + 4 dev runs + 2 critics.
    seq, bon = result.arms["sequential"].repeats[0], result.arms["best_of_n"].repeats[0]
    assert abs(bon.calls - seq.calls) <= 7 / 2

    # Critics never learn which arm or prompt produced the outputs they score.
    prompts = {r.prompt for a in result.arms.values() for r in a.repeats}
    crit = models.requests("crit")
    tests = [c for c in crit if "Customer" in c["messages"][-1] and all(
        f"input: {e.input}" in c["messages"][-1] for e in result.examples)]
    assert len(tests) == 2 * 3  # two critics, three arms, one repeat
    for c in crit:
        text = "\n".join(c["messages"])
        assert not any(arm in text for arm in ("single_shot", "best_of_n", "sequential", "single-shot", "best-of-N"))
        assert not any(p in text for p in prompts) and "[q=" not in text


def test_without_the_chat_best_of_n_draws_the_round_limit(isolated: Path) -> None:
    result, _ = compare(sentiment_scenario(isolated, rounds=2), sentiment_models(), repeats=1, arms=["best_of_n"])
    assert list(result.arms) == ["best_of_n"] and result.arms["best_of_n"].repeats[0].candidates == 2
    assert result.differences == [] and result.verdict.startswith("Only best-of-N was run, so there is nothing to compare")


def test_verdict_sentences() -> None:
    def diff(b: str, estimate: float, low: float, high: float, p: float) -> Difference:
        return Difference(a="sequential", b=b, estimate=estimate, ci_low=low, ci_high=high, wins=0, ties=0, losses=0,
                          significant=(low > 0 or high < 0) and p < 0.05, p_value=p)

    win = diff("single_shot", 0.12, 0.04, 0.20, 0.01)
    loss = diff("best_of_n", -0.10, -0.20, -0.02, 0.01)
    doubtful = diff("best_of_n", 0.05, 0.01, 0.10, 0.2)
    assert verdict({}, [win, doubtful], 24) == (
        "On 24 held-out test examples, sequential refinement beat single-shot by +0.12 (95% CI +0.04..+0.20) and "
        "showed no significant difference from best-of-N (+0.05, 95% CI +0.01..+0.10, sign-flip p=0.20).")
    assert verdict({}, [win, loss], 24).endswith("and scored below best-of-N by 0.10 (95% CI -0.20..-0.02).")
    # Without the chat, the remaining pair is best-of-N against single-shot.
    assert [(d.a, d.b) for d in differences({"single_shot": [0.0, 1.0], "best_of_n": [1.0, 1.0]})] == [("best_of_n", "single_shot")]


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
    with pytest.raises(ConfigError, match="valid arms: single_shot, best_of_n, sequential"):
        compare(sentiment_scenario(isolated), sentiment_models(), arms=["single_shot", "tree_search"])


def test_cli_bad_arms_fails_cleanly(isolated: Path) -> None:
    path = sentiment_scenario(isolated)
    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "compare", str(path), "--arms", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown arm 'nope'" in proc.stderr and "single_shot, best_of_n, sequential" in proc.stderr
