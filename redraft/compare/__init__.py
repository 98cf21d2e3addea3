"""Compare ways of making a prompt ("arms") on the same held-out inputs.

Every arm produces one prompt per repeat without ever seeing the test examples; then all prompts are
run on the test inputs and scored by the same evaluators (the metric, or the critic panel), in a
shuffled order and blind to the arm. Repeat k reseeds the scenario with seed + 1000*k. arms.py makes
the prompts, verdict.py says what the scores show, plan.py holds what the arms share.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..api import check_cache, prepare
from ..config import Baseline, Scenario, majority_baseline
from ..errors import ConfigError, RedraftError, RunInterrupted
from ..eval import Interval
from ..llm import ModelProvider, OnProgress, check_folder, interrupts_cancel, open_models, serving
from ..records import ARMS, DEMO_ARMS, Arm, ArmRepeat, ArmResult, ComparedExample, CompareResult, Difference, RoundPoint
from ..report import write_reports
from ..search import metric_results, run_prompt
from ..store import new_folder, now_iso
from . import arms as make
from .judge import judge_arms
from .plan import Comparison
from .verdict import arm_interval, differences, tested_pairs, verdict


@dataclass
class CompareOptions:
    """What to compare and how: arms, repeats, models, where files go. Everything has a default."""

    repeats: int = 3
    arms: list[str] | None = None  # default: every arm the scenario allows
    out_dir: str | Path | None = None  # default: compare/<timestamp>-<scenario>/
    rounds: int | None = None  # the chat arms' round limit (default: the scenario's)
    config: str | None = None
    gguf: str | None = None
    agents: list[str] | None = None
    cache_dir: str | Path | None = None
    no_cache: bool = False
    match: Literal["calls", "tokens"] = "calls"  # what the best-of-N arms spend as much of as the sequential chat


MAX_REPEATS = 20  # each repeat is a whole chat per arm: more is hours of calls, and the interval barely narrows


def default_arms(scenario: Scenario) -> list[Arm]:
    """Every arm; on a rubric scenario the worked-example arms only when it asks for examples (`search.demos`: the
    optimizer model's replies, search/teacher.py)."""
    return [a for a in ARMS if scenario.labeled or scenario.search.demos or a not in DEMO_ARMS]


def check_arms(arms: list[str]) -> list[Arm]:
    """The arms in canonical order, or a ConfigError naming the valid ones: an empty list (--arms '' as much as
    --arms ,,) is refused rather than read as "all", and an arm given twice is named (it would run once)."""
    wanted = [a.strip() for a in arms if a.strip()]
    unknown = [a for a in wanted if a not in ARMS]
    twice = [a for i, a in enumerate(wanted) if a in wanted[:i]]
    if unknown or twice or not wanted:
        what = (f"unknown arm '{unknown[0]}'" if unknown else f"the arm '{twice[0]}' is given twice" if twice
                else "no arm given")
        raise ConfigError("--arms", f"{what}; valid arms: {', '.join(ARMS)} (comma-separated, e.g. --arms single_shot,sequential)")
    return [a for a in ARMS if a in wanted]


def check_repeats(repeats: int) -> int:
    """--repeats within 1..MAX_REPEATS: a huge count would start and run for days before anyone noticed."""
    if repeats < 1:
        raise RedraftError(f"--repeats must be at least 1, got {repeats}; expected 1 to {MAX_REPEATS}")
    if repeats > MAX_REPEATS:
        raise RedraftError(f"--repeats must be at most {MAX_REPEATS}, got {repeats}; expected 1 to {MAX_REPEATS}")
    return repeats


def compare_scenario(scenario_ref: str, options: CompareOptions | None = None, *, models: ModelProvider | None = None,
                     on_progress: OnProgress | None = None, on_status: OnProgress | None = None) -> CompareResult:
    """Run every arm on the scenario, score them all on its test split, and write the reports. on_progress: where
    the work is, often; on_status: the models starting, once (by default to on_progress)."""
    opts = options or CompareOptions()
    arms = check_arms(opts.arms) if opts.arms is not None else None
    check_repeats(opts.repeats)
    if opts.match not in ("calls", "tokens"):
        raise ConfigError("--match", f"expected calls or tokens, got '{opts.match}'")
    if opts.out_dir is not None and not str(opts.out_dir):
        raise ConfigError("--out", "expected a path, got an empty string")
    scenario, cards = prepare(scenario_ref, agents=opts.agents)
    arms = arms if arms is not None else default_arms(scenario)
    if not scenario.labeled and "start" not in arms:  # the judge scores every arm against the user's prompt
        arms = ["start", *arms]
    _check_splits_for_arms(scenario, arms)
    out = check_folder(opts.out_dir, "--out") if opts.out_dir is not None else new_folder(Path("compare"), scenario.name)
    if (out / "compare.json").exists() or (out / "runs").exists():
        raise RedraftError(f"{out} already holds a comparison; choose another folder with --out")
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    say = on_progress or (lambda _text: None)
    # Seating the roles checks critics, roles and model tags: a bad scenario fails before any file exists.
    comparison = Comparison(scenario, cards, models, replace(opts, arms=list(arms), out_dir=out), say)
    check_cache(opts.cache_dir, opts.no_cache)  # before the folder: a read-only or full cache leaves nothing behind
    out.mkdir(parents=True, exist_ok=True)
    try:
        with serving(models, own=own, log_file=out / "embedded-server.log", status=on_status or say):
            result = asyncio.run(_run(comparison, close=own))
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise RunInterrupted(f"interrupted; nothing was scored. The chats finished so far are in {out / 'runs'}") from None
    result.out_dir = str(out)
    write_reports(result, out)
    return result


def _check_splits_for_arms(scenario: Scenario, arms: list[Arm]) -> None:
    """That the scenario has the splits the arms need: test for every arm, dev for the arms that choose on it,
    and targets for the arms that show worked examples."""
    key = "dataset.split" if scenario.dataset is not None else "split"
    if not scenario.splits.test:
        hint = ("add test: N to dataset.split" if scenario.dataset is not None
                else "add split: {train: .., dev: .., test: ..}")
        raise scenario.error(key, f"compare scores every arm on held-out test examples, but this scenario has none; {hint}")
    demos = [a for a in arms if a in DEMO_ARMS]
    if demos and not scenario.labeled and not scenario.search.demos:
        raise ConfigError("--arms", f"the arms {', '.join(demos)} show worked examples; this scenario's inputs have no "
                          "targets, so they are the optimizer model's replies, and it asks for none: add search: {demos: 2} "
                          "to the scenario, or leave them out of --arms")
    choosers = [a for a in arms if a not in ("start", "single_shot")]
    if not scenario.splits.dev and choosers:
        raise scenario.error(key, f"{', '.join(choosers)} choose their prompt on dev examples, but this scenario has none; "
                             "give dev a few examples in the split")


async def _run(c: Comparison, *, close: bool) -> CompareResult:
    """Every arm's prompts repeat by repeat, then all of them scored on test; the models closed after when `close`."""
    c.progress.t0 = time.monotonic()  # the clock starts once the models are up

    def abort(_by: str) -> None:  # one Ctrl-C is enough: abort the model calls in flight, then the comparison
        for caller in c.progress.callers.values():
            caller.cancel_token.cancel()

    try:
        with interrupts_cancel(abort):
            produced: dict[Arm, list[ArmRepeat]] = {a: [] for a in c.arms}
            for k in range(c.repeats):
                await _produce(c, k, produced)
            # Selection is over for every arm and repeat: only now are the test inputs run.
            await _score_on_test(c, produced)
    finally:
        if close:
            await c.models.close()
    return _result(c, produced)


async def _produce(c: Comparison, k: int, produced: dict[Arm, list[ArmRepeat]]) -> None:
    """Repeat k of every arm. The chats go first: the best-of-N arms spend what the sequential repeat spent
    (its calls, or its tokens with --match tokens); without it, they draw as many candidates as it has rounds."""
    for arm in ("sequential", "demos_only"):
        if arm in c.arms:
            produced[arm].append(await make.chat(c, k, arm))
    target = None
    if "sequential" in c.arms:
        seq = produced["sequential"][k]
        target = seq.calls if c.opts.match == "calls" else seq.tokens
    if "start" in c.arms:
        produced["start"].append(make.start(c, k))
    if "single_shot" in c.arms:
        produced["single_shot"].append(await make.single_shot(c, k))
    for arm in ("best_of_n", "best_of_n_demos"):
        if arm in c.arms:
            produced[arm].append(await make.best_of_n(c, k, target, arm))


async def _score_on_test(c: Comparison, produced: dict[Arm, list[ArmRepeat]]) -> None:
    """Run every repeat's prompt on test, in shuffled order, with the same executor seeds for every arm within
    a repeat (equal prompts get equal outputs, so differences come from the prompts); then score them. Labeled:
    by the metric. Rubric: by the judge, pairwise against the user's prompt and against sequential — never by
    the critics, who steered the chat and would grade what they coached."""
    s, test = c.scenario, c.scenario.splits.test
    jobs = [(arm, k) for arm in c.arms for k in range(c.repeats)]
    random.Random(s.seed).shuffle(jobs)
    # Two arms of one repeat that end on the same prompt (sequential keeping your prompt) get its outputs once:
    # sampled twice, one prompt read as a difference (support_reply, 0.417 for your prompt against itself).
    ran: dict[tuple[int, str], tuple[dict[str, str], float | None]] = {}
    for i, (arm, k) in enumerate(jobs, 1):
        unit, caller = f"score:{arm}:{k}", c.caller(budget=False)
        c.progress.start(unit, caller)
        c.progress.show(f"{'scoring' if s.labeled else 'running'} on test, {i}/{len(jobs)}")
        rep = produced[arm][k]
        context = c.context(c.seed(k), caller)
        key = (k, rep.prompt)
        if key not in ran:
            outputs = await run_prompt(context, rep.prompt, list(test), round_no=0)
            executor = caller.ledger.by_role.get(c.base.executor.name)
            ran[key] = outputs, (round((executor.prompt_tokens + executor.completion_tokens) / len(test), 1)
                                 if executor else None)
        outputs, rep.test_tokens_per_query = ran[key]
        rep.outputs = [outputs.get(e.id, "") for e in test]
        if s.labeled:
            results = metric_results(context, list(test), outputs)
            rep.per_example = [results[e.id].score for e in test]
            rep.score = statistics.fmean(rep.per_example)
        c.progress.finish(unit)
    if not s.labeled:
        await judge_arms(c, produced)


def _result(c: Comparison, produced: dict[Arm, list[ArmRepeat]]) -> CompareResult:
    s = c.scenario
    arms = {a: _arm_result(a, produced[a], s.seed) for a in c.arms}
    for arm, summaries in c.judged.items():
        arms[arm].judged = summaries
    diffs = differences({a: [r.per_example for r in produced[a]] for a in c.arms})
    return CompareResult(
        scenario=s.name,
        metric=c.base.metric.name if s.labeled and c.base.metric else "judge",
        score_scale="0-1",
        repeats=c.repeats,
        arms=arms,
        differences=diffs,
        verdict=verdict(arms, diffs, len(s.splits.test), c.repeats),
        examples=[ComparedExample(id=e.id, input=e.input, target=e.target or None) for e in s.splits.test],
        created=now_iso(),
        models=c.models_used,
        majority=_majority(c),
        judge_consistency=c.judge_consistency,
        judge_calls=c.judge_calls,
    )


def _majority(c: Comparison) -> Baseline | None:
    """Train's most frequent target, given as the answer to every test example and scored by the metric."""
    s, metric = c.scenario, c.base.metric
    return majority_baseline(s.splits.train, s.splits.test, metric) if s.labeled and metric is not None else None


def _arm_result(arm: Arm, repeats: list[ArmRepeat], seed: int) -> ArmResult:
    ci = arm_interval(_example_means(repeats), seed=seed)
    costs = [r.cost_usd for r in repeats]
    per_query = [r.test_tokens_per_query for r in repeats if r.test_tokens_per_query is not None]
    return ArmResult(
        name=arm, score=statistics.fmean(r.score for r in repeats), ci_low=ci.low, ci_high=ci.high, repeats=repeats,
        calls=sum(r.calls for r in repeats), network_calls=sum(r.network_calls for r in repeats),
        cache_hits=sum(r.cache_hits for r in repeats), network_seconds=round(sum(r.network_seconds for r in repeats), 3),
        tokens=sum(r.tokens for r in repeats),
        test_tokens_per_query=round(statistics.fmean(per_query), 1) if per_query else None,
        cost_usd=None if any(c is None for c in costs) else round(sum(costs), 6),  # type: ignore[arg-type]
        seconds=round(sum(r.seconds for r in repeats), 3),
    )


def _example_means(repeats: list[ArmRepeat]) -> list[float]:
    """Each test example's score averaged over the repeats."""
    return [statistics.fmean(values) for values in zip(*(r.per_example for r in repeats))]


__all__ = ["ARMS", "ArmRepeat", "ArmResult", "CompareOptions", "CompareResult", "ComparedExample", "Difference", "Interval",
           "RoundPoint", "compare_scenario", "default_arms", "differences", "tested_pairs", "verdict"]
