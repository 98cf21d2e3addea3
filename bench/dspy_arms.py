"""DSPy as an anchor for quality.py: MIPROv2 and GEPA on the same task, models, split, test carve and metric
as the compare arms, so the table shows where sequential refinement stands against a published optimizer.

quality.py imports this module only for `--arm dspy_mipro` or `--arm dspy_gepa`: DSPy is the bench-only extra
`bench-dspy` (pip install -e '.[bench-dspy]', in a venv of its own), never a dependency of redraft.

The program is one predictor, `input -> answer`, whose instructions are your prompt (the task text, as the
start arm has it): dspy.Predict on label tasks (sst2, trec), dspy.ChainOfThought where the task model's replies
have room for working (max_tokens at least REASONING_ROOM, as redraft decides for its reason_first edit: svamp
and bbh_navigate), so the answer comes after a reasoning field.

- dspy_mipro: MIPROv2(auto="light") with the optimizer model as prompt model and the task model as task model,
  trained on train and validated on dev, with worked examples: max_bootstrapped_demos = max_labeled_demos =
  redraft's demo_count (every label twice, at most 12; 4 without labels).
- dspy_gepa: GEPA(auto="light") with the optimizer model as reflection model and the task model running the
  program, trained on train and validated on dev, its metric returning redraft's score with feedback.

Every score, the optimizers' own as much as the test's, is redraft's metric (scenario.make_metric()) on the
prediction's answer field against the example's target; an unreadable reply scores 0, as in compare. Both models
run with the settings of their seats in the scenario (the engineer's temperature and reply length for the
optimizer model, the executor's for the task model) and DSPy's cache off, so a repeat makes real calls.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# DSPy fetches a model price map from GitHub on first use unless told to use the copy it ships: the benchmark
# talks to 127.0.0.1 only.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402

from redraft.api import prepare  # noqa: E402
from redraft.chat import seat_roles  # noqa: E402
from redraft.config import Example, Metric, MetricResult, Scenario  # noqa: E402
from redraft.llm import ConfiguredModels  # noqa: E402
from redraft.llm.endpoints import api_key  # noqa: E402
from redraft.search import Seat, demo_count  # noqa: E402
from redraft.search.propose import REASONING_ROOM  # noqa: E402

VERSION = dspy.__version__
AUTO = "light"  # the budget for both optimizers


@dataclass
class Tally:
    """Calls and tokens an LM answered, copies included (DSPy copies an LM to change its temperature)."""

    calls: int = 0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, usage: dict[str, Any]) -> None:
        with self._lock:
            self.calls += 1
            self.tokens += int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)


class TalliedLM(dspy.LM):
    """A dspy.LM that counts every answered request in its tally: DSPy's own history is per copy, and its usage
    tracker is copied into each worker thread and never merged back."""

    tally: Tally

    def update_history(self, entry: dict[str, Any]) -> None:
        self.tally.add(entry.get("usage") or {})
        super().update_history(entry)


# DSPy's chat format wraps a reply in field markers ("[[ ## answer ## ]]" ... "[[ ## completed ## ]]", about 17
# tokens), which redraft's executor never writes: the task model gets them on top of its seat's reply length, so
# a 20-token label reply is not cut off by the format alone.
FORMAT_TOKENS = 24


def model_for(seat: Seat, models: ConfiguredModels, seed: int, extra_tokens: int = 0) -> TalliedLM:
    """The DSPy LM of a seat: its endpoint from the OAI_CONFIG_LIST, its temperature and reply length (plus
    `extra_tokens`), the repeat's sampling seed, no cache."""
    entry = models.entry(seat.tag)
    lm = TalliedLM(f"openai/{entry.model}", api_base=entry.base_url, api_key=api_key(entry, models.source) or "none",
                   temperature=seat.temperature, max_tokens=seat.max_tokens + extra_tokens, cache=False,
                   num_retries=entry.max_retries,
                   timeout=entry.timeout, seed=seed)
    lm.tally = Tally()
    return lm


def as_dspy(examples: list[Example]) -> list[dspy.Example]:
    """redraft's examples as DSPy's: the input, and the target as the answer."""
    return [dspy.Example(input=e.input, answer=e.target).with_inputs("input") for e in examples]


def start_program(scenario: Scenario, executor: Seat) -> dspy.Module:
    """One predictor with your prompt as its instructions; reasoning first where replies have room for it."""
    signature = dspy.Signature("input -> answer", scenario.start_prompt)
    return dspy.ChainOfThought(signature) if executor.max_tokens >= REASONING_ROOM else dspy.Predict(signature)


def judged(metric: Metric, gold: dspy.Example, pred: Any) -> MetricResult:
    """redraft's metric on the prediction's answer field (no prediction, or no answer: an empty reply)."""
    return metric(str(getattr(pred, "answer", None) or ""), gold.answer)


def feedback(result: MetricResult, gold: dspy.Example) -> str:
    """What GEPA's reflection model reads about one reply: right or wrong, the target and what was read."""
    if result.score >= 1:
        return f"Right: the answer is {gold.answer}."
    read = f"the answer was read as {result.extracted}" if result.extracted else "no answer could be read from the reply"
    return f"Wrong: the expected answer is {gold.answer}; {read}."


@dataclass
class Job:
    """What both optimizers are given: the metric, the two models, the task model's parallel calls, the
    repeat's seed and the worked examples a prompt may carry."""

    metric: Metric
    prompt_lm: TalliedLM
    task_lm: TalliedLM
    threads: int
    seed: int
    demos: int


def compile_mipro(job: Job, program: dspy.Module, train: list[dspy.Example],
                  dev: list[dspy.Example]) -> tuple[dspy.Module, float]:
    """MIPROv2 light with worked examples, as many as redraft's prompts carry; the best program and its dev score.
    No stop on errors: a reply DSPy cannot parse scores 0, as an unreadable one does in compare."""
    optimizer = dspy.MIPROv2(metric=lambda gold, pred, trace=None: judged(job.metric, gold, pred).score, auto=AUTO,
                             prompt_model=job.prompt_lm, task_model=job.task_lm, max_bootstrapped_demos=job.demos,
                             max_labeled_demos=job.demos, num_threads=job.threads, max_errors=sys.maxsize,
                             seed=job.seed)
    best = optimizer.compile(program, trainset=train, valset=dev)
    return best, best.score / 100  # DSPy's Evaluate scores in percent


def compile_gepa(job: Job, program: dspy.Module, train: list[dspy.Example],
                 dev: list[dspy.Example]) -> tuple[dspy.Module, float]:
    """GEPA light, its metric redraft's score with a line of feedback per reply; the best program and its dev
    score. The task model runs the program from the context run_repeat sets."""

    def scored(gold: dspy.Example, pred: Any, trace: Any = None, pred_name: str | None = None,
               pred_trace: Any = None) -> dspy.Prediction:
        result = judged(job.metric, gold, pred)
        return dspy.Prediction(score=result.score, feedback=feedback(result, gold))

    optimizer = dspy.GEPA(metric=scored, auto=AUTO, reflection_lm=job.prompt_lm, num_threads=job.threads,
                          seed=job.seed, track_stats=True)
    best = optimizer.compile(program, trainset=train, valset=dev)
    results = best.detailed_results
    return best, results.val_aggregate_scores[results.best_idx]


COMPILERS = {"dspy_mipro": compile_mipro, "dspy_gepa": compile_gepa}  # quality.ANCHORS


def score_on_test(program: dspy.Module, test: list[Example], metric: Metric, lm: TalliedLM,
                  threads: int) -> tuple[list[float], int]:
    """Each test example's score, in the order of the scenario's test split (as compare's per_example), and how
    many replies DSPy could not parse (they score 0)."""
    program.set_lm(lm)
    gold = as_dspy(test)
    # No straggler resubmission (it would run an example twice) and no stop on errors (an unparsed reply scores 0).
    predictions = program.batch(gold, num_threads=threads, max_errors=len(gold) + 1, disable_progress_bar=True,
                                timeout=0)
    return [judged(metric, g, p).score for g, p in zip(gold, predictions)], sum(p is None for p in predictions)


def run_repeat(arm: str, scenario: Scenario, seats: dict[str, Any], models: ConfiguredModels, seed: int,
               out: Path) -> dict[str, Any]:
    """One repeat: compile on train and dev, save the program in `out`, then score it once on test. Returns the
    repeat's figures; calls and tokens are the optimization's, test tokens are counted apart, per query."""
    engineer, executor = seats["prompt_engineer"], seats["task_executor"]
    metric = scenario.make_metric()
    assert metric is not None and scenario.metric is not None, "DSPy arms run on labeled tasks only"
    job = Job(metric=metric, prompt_lm=model_for(engineer, models, seed),
              task_lm=model_for(executor, models, seed, FORMAT_TOKENS),
              threads=models.endpoint(executor.tag).max_concurrency, seed=seed,
              demos=demo_count(len(scenario.metric.labels or [])))
    splits, start = scenario.splits, start_program(scenario, executor)
    t0 = time.monotonic()
    with dspy.context(lm=job.task_lm):
        best, dev = COMPILERS[arm](job, start, as_dspy(splits.train), as_dspy(splits.dev))
    seconds = time.monotonic() - t0
    best.save(str(out / f"{arm}-seed{seed}.json"))
    test_lm = model_for(executor, models, seed, FORMAT_TOKENS)
    per_example, unparsed = score_on_test(best, list(splits.test), metric, test_lm, job.threads)
    lms = {"optimizer": job.prompt_lm, "task": job.task_lm}
    predictor = best.predictors()[0]
    return {"score": statistics.fmean(per_example), "per_example": per_example, "unparsed": unparsed,
            "calls": sum(lm.tally.calls for lm in lms.values()), "tokens": sum(lm.tally.tokens for lm in lms.values()),
            "by_model": {tag: [lm.tally.calls, lm.tally.tokens] for tag, lm in lms.items()},
            "test_tokens_per_query": round(test_lm.tally.tokens / len(per_example), 1), "seconds": round(seconds, 1),
            "dev": dev, "demos": len(predictor.demos), "instructions": predictor.signature.instructions,
            "module": type(start).__name__}


def run(arm: str, scenario_path: Path, models: ConfiguredModels, seeds: list[int], out: Path) -> list[dict[str, Any]]:
    """Each repeat of a DSPy arm on the scenario quality.py wrote (its split, test carve, metric and seats), one
    seed a repeat. DSPy's progress and prints go to stderr, so stdout keeps quality.py's table."""
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    scenario, cards = prepare(str(scenario_path))
    seats = seat_roles(scenario, cards, models)
    with contextlib.redirect_stdout(sys.stderr):
        return [run_repeat(arm, scenario, seats, models, seed, out) for seed in seeds]
