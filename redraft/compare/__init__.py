"""Compare single-shot, best-of-N and sequential refinement on the same held-out inputs.

Every arm produces one prompt per repeat without ever seeing the test examples; then all prompts
are run on the test inputs and scored by the same evaluators (the metric, or the critic panel),
in a shuffled order and blind to the arm. Repeat k reseeds the scenario with seed + 1000*k.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..api import check_cache, prepare, run_chat
from ..chat import Runner, build_session
from ..config import AgentCard, Baseline, Budget, Scenario, majority_baseline
from ..errors import BudgetExceeded, ConfigError, RedraftError, RunInterrupted
from ..eval import Interval, PairedDifference, mean_ci, paired_difference
from ..llm import (Caller, ModelProvider, OnProgress, Progress, check_folder, interrupts_cancel, make_caller,
                  open_models, serving)
from ..records import ARM_NAMES, ARMS, Arm, ArmRepeat, ArmResult, ComparedExample, CompareResult, Difference, RoundPoint
from ..report import projected_spend, write_reports
from ..search import RunContext, draft, score_examples
from ..store import RunDir, new_folder, now_iso

REPEAT_STRIDE = 1000  # repeat k runs on scenario seed + 1000*k
SINGLE_SHOT_SEEDS = 100  # draft seeds offsets, clear of the chat's own (seed + round, at most 100 rounds)
BEST_OF_N_SEEDS = 200


@dataclass
class CompareOptions:
    """What to compare and how: arms, repeats, models, where files go. Everything has a default."""

    repeats: int = 3
    arms: list[str] = field(default_factory=lambda: list(ARMS))
    out_dir: str | Path | None = None  # default: compare/<timestamp>-<scenario>/
    rounds: int | None = None  # the sequential arm's round limit (default: the scenario's)
    config: str | None = None
    gguf: str | None = None
    agents: list[str] | None = None
    cache_dir: str | Path | None = None
    no_cache: bool = False


# ---- statistics


def differences(per_example: dict[Arm, list[float]], *, seed: int = 0, n_boot: int = 2000,
                level: float = 0.95) -> list[Difference]:
    """Paired differences between arms over the same examples (each arm's scores averaged over repeats).

    With a sequential arm: sequential − single_shot and sequential − best_of_n; without it,
    best_of_n − single_shot. Pairs whose arms were not run are left out.
    """
    pairs: list[tuple[Arm, Arm]] = [("sequential", "single_shot"), ("sequential", "best_of_n")]
    if "sequential" not in per_example:
        pairs = [("best_of_n", "single_shot")]
    return [_difference(a, b, paired_difference(per_example[a], per_example[b], level=level, n_boot=n_boot, seed=seed))
            for a, b in pairs if a in per_example and b in per_example]


def _difference(a: Arm, b: Arm, d: PairedDifference) -> Difference:
    ci = d.interval
    return Difference(a=a, b=b, estimate=ci.estimate, ci_low=ci.low, ci_high=ci.high, wins=d.wins, ties=d.ties,
                      losses=d.losses, significant=d.significant, p_value=round(d.p_value, 4))


def arm_interval(per_example: list[float], *, seed: int = 0) -> Interval:
    """The 95 % interval of an arm's mean score.

    The repeats are averaged within each example first and the examples are resampled, the same
    unit the paired differences use; the spread between repeats shows in the per-repeat scores.
    """
    return mean_ci(per_example, seed=seed)


def verdict(result_arms: dict[Arm, ArmResult], diffs: list[Difference], n_examples: int) -> str:
    """One plain sentence: who beat whom, by how much, or that there is no significant difference."""
    if not diffs:
        arm = next(iter(result_arms.values()))
        return (f"Only {ARM_NAMES.get(arm.name, arm.name)} was run, so there is nothing to compare: it scored "
                f"{arm.score:.2f} (95% CI {arm.ci_low:.2f}..{arm.ci_high:.2f}) on {n_examples} held-out test examples.")
    clauses: list[tuple[str, str]] = []  # (verb, what follows it), so equal verbs can be joined
    for d in diffs:
        ci = f"95% CI {d.ci_low:+.2f}..{d.ci_high:+.2f}"
        other = ARM_NAMES.get(d.b, d.b)
        if not d.significant:
            doubt = f", sign-flip p={d.p_value:.2f}" if (d.ci_low > 0 or d.ci_high < 0) else ""
            clauses.append(("showed no significant difference", f"from {other} ({d.estimate:+.2f}, {ci}{doubt})"))
        elif d.estimate > 0:
            clauses.append(("beat", f"{other} by {d.estimate:+.2f} ({ci})"))
        else:
            clauses.append(("scored below", f"{other} by {-d.estimate:.2f} ({ci})"))
    text = ""
    for i, (verb, rest) in enumerate(clauses):
        same = i > 0 and clauses[i - 1][0] == verb
        text += (" or " if verb.startswith("showed no") else " and ") + rest if same else (" and " if i else "") + f"{verb} {rest}"
    subject = ARM_NAMES.get(diffs[0].a, diffs[0].a)
    return f"On {n_examples} held-out test examples, {subject} {text}."


# ---- running a comparison


MAX_REPEATS = 20  # each repeat is a whole chat per arm: more is hours of calls, and the interval barely narrows


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
                     on_progress: OnProgress | None = None) -> CompareResult:
    """Run every arm on the scenario, score them all on its test split, and write the reports."""
    opts = options or CompareOptions()
    arms = check_arms(opts.arms)
    check_repeats(opts.repeats)
    if opts.out_dir is not None and not str(opts.out_dir):
        raise ConfigError("--out", "expected a path, got an empty string")
    scenario, cards = prepare(scenario_ref, agents=opts.agents)
    _check_splits_for_arms(scenario, arms)
    out = check_folder(opts.out_dir, "--out") if opts.out_dir is not None else new_folder(Path("compare"), scenario.name)
    if (out / "compare.json").exists() or (out / "runs").exists():
        raise RedraftError(f"{out} already holds a comparison; choose another folder with --out")
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    say = on_progress or (lambda _text: None)
    # Seating the roles checks critics, roles and model tags: a bad scenario fails before any file exists.
    comparison = _Comparison(scenario, cards, models, replace(opts, arms=arms, out_dir=out), say)
    check_cache(opts.cache_dir, opts.no_cache)  # before the folder: a read-only or full cache leaves nothing behind
    out.mkdir(parents=True, exist_ok=True)
    try:
        with serving(models, own=own, log_file=out / "embedded-server.log", status=say):
            result = asyncio.run(_run(comparison, close=own))
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise RunInterrupted(f"interrupted; nothing was scored. The chats finished so far are in {out / 'runs'}") from None
    result.out_dir = str(out)
    write_reports(result, out)
    return result


def _check_splits_for_arms(scenario: Scenario, arms: list[str]) -> None:
    """That the scenario has the splits the arms need: test for every arm, dev for the arms that choose on it."""
    key = "dataset.split" if scenario.dataset is not None else "split"
    if not scenario.splits.test:
        hint = ("add test: N to dataset.split" if scenario.dataset is not None
                else "add split: {train: .., dev: .., test: ..}")
        raise scenario.error(key, f"compare scores every arm on held-out test examples, but this scenario has none; {hint}")
    if not scenario.splits.dev and ("best_of_n" in arms or "sequential" in arms):
        raise scenario.error(key, "best_of_n and sequential choose their prompt on dev examples, but this scenario has none; "
                             "give dev a few examples in the split")


class _Comparison:
    """What every arm shares: the scenario, the models, the seats of the base session, callers and progress."""

    def __init__(self, scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, opts: CompareOptions,
                 emit: OnProgress):
        self.scenario, self.cards, self.models, self.opts = scenario, cards, models, opts
        self.arms, self.out, self.repeats = opts.arms, Path(opts.out_dir or "."), opts.repeats  # compare_scenario set both
        session = build_session(scenario, cards, models, rounds=opts.rounds)
        t = self.base = session.table
        self.models_used = session.models_used(models)
        self.rounds = t.rounds
        # Executor calls run up to the endpoint's concurrency at once; the critics review side by side.
        parallel = {t.executor.name: models.endpoint(t.executor.tag).max_concurrency}
        parallel |= {c.name: min(models.endpoint(c.tag).max_concurrency, len(t.critics)) for c in t.critics}
        self.progress = Progress(emit, parallel)
        # What one best-of-N candidate costs, in calls per role.
        judges = {} if scenario.labeled else {c.name: 1.0 for c in t.critics}
        self.candidate = {t.engineer.name: 1.0, t.executor.name: float(len(scenario.splits.dev)), **judges}
        self.candidate_cost = sum(self.candidate.values())
        chat = {role: float(n) for role, n in projected_spend(t, models).calls.items()}
        chat[t.executor.name] = chat.get(t.executor.name, 0.0) - len(scenario.splits.test)  # the chat scores no test here
        self.plan(chat, {t.executor.name: float(len(scenario.splits.test)), **judges})

    def plan(self, chat: dict[str, float], scoring: dict[str, float]) -> None:
        """The calls each arm's repeats and each test scoring are expected to make, for the time left."""
        for k in range(self.repeats):
            if "sequential" in self.arms:
                self.progress.plan(f"sequential:{k}", chat)
            if "single_shot" in self.arms:
                self.progress.plan(f"single_shot:{k}", {self.base.engineer.name: 1.0})
            if "best_of_n" in self.arms:
                n = sum(chat.values()) / self.candidate_cost if "sequential" in self.arms else self.rounds
                self.progress.plan(f"best_of_n:{k}", self.scaled(max(1.0, n)))
        for arm in self.arms:
            for k in range(self.repeats):
                self.progress.plan(f"score:{arm}:{k}", scoring)

    def scaled(self, n: float) -> dict[str, float]:
        """The calls of n best-of-N candidates, per role."""
        return {role: n * calls for role, calls in self.candidate.items()}

    def seed(self, k: int) -> int:
        """The scenario seed of repeat k."""
        return self.scenario.seed + REPEAT_STRIDE * k

    def caller(self, *, budget: bool = True) -> Caller:
        """A fresh caller (its own ledger), under the scenario's budget unless `budget` is False."""
        return make_caller(self.models, self.scenario.budget if budget else Budget(), cache_dir=self.opts.cache_dir,
                           no_cache=self.opts.no_cache)

    def context(self, seed: int, caller: Caller, **update: object) -> RunContext:
        """A run context on the scenario reseeded with `seed` (and `update`), calling through `caller`."""
        return build_session(self.scenario.reseeded(seed, **update), self.cards, self.models, rounds=self.rounds,
                             caller=caller).table

    def where(self, arm: Arm, k: int, detail: str = "") -> str:
        """The progress line's "arm X, repeat k/K[, detail]"."""
        return f"arm {arm}, repeat {k + 1}/{self.repeats}" + (f", {detail}" if detail else "")

    def repeat(self, unit: str, caller: Caller, started: float, **fields: object) -> ArmRepeat:
        """An arm's repeat with what producing its prompt cost (test scoring is the same for every arm, so not counted)."""
        usage = caller.ledger.total
        self.progress.finish(unit)
        return ArmRepeat(score=0.0, per_example=[], calls=usage.calls, network_calls=usage.network_calls,
                         cache_hits=usage.cache_hits, network_seconds=round(usage.seconds, 3),
                         tokens=usage.prompt_tokens + usage.completion_tokens,
                         cost_usd=self.cost(caller), seconds=round(time.monotonic() - started, 3), **fields)

    def cost(self, caller: Caller) -> float | None:
        """Tokens at the configured prices, cache hits included (they stand for calls a real run makes); None without prices."""
        seats = {s.name: s for s in [self.base.engineer, self.base.executor, *self.base.critics, self.base.moderator]}
        total = 0.0
        for role, usage in caller.ledger.by_role.items():
            seat = seats.get(role)
            cost = self.models.endpoint(seat.tag).cost(usage.prompt_tokens, usage.completion_tokens) if seat else None
            if cost is None:
                return None
            total += cost
        return round(total, 6)


async def _run(c: _Comparison, *, close: bool) -> CompareResult:
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


async def _produce(c: _Comparison, k: int, produced: dict[Arm, list[ArmRepeat]]) -> None:
    """Repeat k of every arm; best-of-N draws as many candidates as the sequential chat's calls pay for."""
    if "sequential" in c.arms:
        produced["sequential"].append(await _sequential(c, k))
    if "single_shot" in c.arms:
        produced["single_shot"].append(await _single_shot(c, k))
    if "best_of_n" in c.arms:
        seq = produced["sequential"][k].calls if "sequential" in c.arms else None
        n = max(1, round(seq / c.candidate_cost)) if seq is not None else c.rounds
        produced["best_of_n"].append(await _best_of_n(c, k, n))


async def _sequential(c: _Comparison, k: int) -> ArmRepeat:
    """The refinement chat, in its own run folder; it never sees test (the comparison scores that)."""
    unit, caller = f"sequential:{k}", c.caller()
    session = build_session(c.scenario.reseeded(c.seed(k)), c.cards, c.models, rounds=c.rounds, caller=caller)
    run = RunDir(c.out / "runs" / f"sequential-{k + 1}")
    run.prompts.mkdir(parents=True)
    state = session.table.state
    c.progress.start(unit, caller)

    def hook(_text: str) -> None:
        c.progress.show(c.where("sequential", k, f"round {max(state.round, 1)}"))

    hook("")
    started = time.monotonic()
    await run_chat(Runner(session, c.models, run, on_progress=hook, score_test=False))
    best = state.best()
    prompt = best.prompt if best else (state.rounds[-1].prompt if state.rounds else c.scenario.task.strip())
    rounds = [RoundPoint(round=r.round, prompt=r.prompt, train_score=r.train_score, dev_score=r.dev_score)
              for r in state.rounds]
    return c.repeat(unit, caller, started, seed=c.seed(k), prompt=prompt, rounds=rounds,
                    dev_score=best.dev_score if best else None, run_dir=str(run.path))


async def _draft(c: _Comparison, seed: int, caller: Caller) -> str:
    """Exactly one of the chat's round-1 drafts (the Prompt Engineer's draft template), with this seed."""
    # seed_prompt=None: a single shot always drafts, even when the scenario brings its own prompt.
    context = c.context(seed, caller, seed_prompt=None)
    return (await draft(context, context.scenario.seed + 1)).instruction


async def _single_shot(c: _Comparison, k: int) -> ArmRepeat:
    """One draft, no feedback."""
    unit, caller = f"single_shot:{k}", c.caller()
    c.progress.start(unit, caller)
    c.progress.show(c.where("single_shot", k))
    started = time.monotonic()
    prompt = await _draft(c, c.seed(k) + SINGLE_SHOT_SEEDS, caller)
    return c.repeat(unit, caller, started, seed=c.seed(k), prompt=prompt)


async def _best_of_n(c: _Comparison, k: int, n: int) -> ArmRepeat:
    """n independent drafts, each scored on dev; the best on dev is kept (the first of equals)."""
    unit, caller = f"best_of_n:{k}", c.caller()
    c.progress.plan(unit, c.scaled(n))
    c.progress.start(unit, caller)
    dev = c.scenario.splits.dev
    scorer = c.context(c.seed(k), caller)  # the same executor seeds as the chat's dev runs
    started = time.monotonic()
    best: tuple[float, str] | None = None
    drawn = 0
    for j in range(n):
        c.progress.show(c.where("best_of_n", k, f"candidate {j + 1}/{n}"))
        try:
            prompt = await _draft(c, c.seed(k) + BEST_OF_N_SEEDS + j, caller)
            _, results = await score_examples(scorer, prompt, dev, round_no=j + 1)
        except BudgetExceeded:
            if best is None:
                raise
            break  # the scenario's budget cap: keep the best of the candidates drawn so far
        drawn += 1
        score = statistics.fmean(r.score for r in results.values()) if results else float("-inf")
        if best is None or score > best[0]:
            best = (score, prompt)
    assert best is not None
    return c.repeat(unit, caller, started, seed=c.seed(k), prompt=best[1], candidates=drawn,
                    dev_score=best[0] if best[0] != float("-inf") else None)


async def _score_on_test(c: _Comparison, produced: dict[Arm, list[ArmRepeat]]) -> None:
    """Run every repeat's prompt on test and score it: same evaluators and seeds for all, in shuffled order.

    The evaluators see inputs and outputs only (critics also get the criteria), never the arm or
    the prompt. Within a repeat every arm runs the executor with the same seeds, so equal prompts
    get equal outputs and differences come from the prompts.
    """
    s, test = c.scenario, c.scenario.splits.test
    jobs = [(arm, k) for arm in c.arms for k in range(c.repeats)]
    random.Random(s.seed).shuffle(jobs)
    low = 0.0 if s.labeled else 1.0
    for i, (arm, k) in enumerate(jobs, 1):
        unit, caller = f"score:{arm}:{k}", c.caller(budget=False)
        c.progress.start(unit, caller)
        c.progress.show(f"scoring on test, {i}/{len(jobs)}")
        rep = produced[arm][k]
        # The critics review with the scenario's own seed in every repeat, so the judging is the same for all.
        outputs, results = await score_examples(c.context(c.seed(k), caller), rep.prompt, test, round_no=0,
                                                critic_seed=s.seed)
        rep.per_example = [results[e.id].score if e.id in results else low for e in test]
        rep.unscored = sum(1 for e in test if e.id not in results)
        rep.outputs = [outputs.get(e.id, "") for e in test]
        rep.score = statistics.fmean(rep.per_example)
        c.progress.finish(unit)


def _result(c: _Comparison, produced: dict[Arm, list[ArmRepeat]]) -> CompareResult:
    s = c.scenario
    arms = {a: _arm_result(a, produced[a], s.seed) for a in c.arms}
    diffs = differences({a: _example_means(produced[a]) for a in c.arms}, seed=s.seed)
    return CompareResult(
        scenario=s.name,
        metric=c.base.metric.name if s.labeled and c.base.metric else "panel",
        score_scale="0-1" if s.labeled else "1-10",
        repeats=c.repeats,
        arms=arms,
        differences=diffs,
        verdict=verdict(arms, diffs, len(s.splits.test)),
        examples=[ComparedExample(id=e.id, input=e.input, target=e.target or None) for e in s.splits.test],
        created=now_iso(),
        models=c.models_used,
        majority=_majority(c),
    )


def _majority(c: _Comparison) -> Baseline | None:
    """Train's most frequent target, given as the answer to every test example and scored by the metric."""
    s, metric = c.scenario, c.base.metric
    return majority_baseline(s.splits.train, s.splits.test, metric) if s.labeled and metric is not None else None


def _arm_result(arm: Arm, repeats: list[ArmRepeat], seed: int) -> ArmResult:
    ci = arm_interval(_example_means(repeats), seed=seed)
    costs = [r.cost_usd for r in repeats]
    return ArmResult(
        name=arm, score=statistics.fmean(r.score for r in repeats), ci_low=ci.low, ci_high=ci.high, repeats=repeats,
        calls=sum(r.calls for r in repeats), network_calls=sum(r.network_calls for r in repeats),
        cache_hits=sum(r.cache_hits for r in repeats), network_seconds=round(sum(r.network_seconds for r in repeats), 3),
        tokens=sum(r.tokens for r in repeats),
        cost_usd=None if any(c is None for c in costs) else round(sum(costs), 6),  # type: ignore[arg-type]
        seconds=round(sum(r.seconds for r in repeats), 3),
    )


def _example_means(repeats: list[ArmRepeat]) -> list[float]:
    """Each test example's score averaged over the repeats."""
    return [statistics.fmean(values) for values in zip(*(r.per_example for r in repeats))]


__all__ = ["ARMS", "ArmRepeat", "ArmResult", "CompareOptions", "CompareResult", "ComparedExample", "Difference", "Interval",
           "RoundPoint", "compare_scenario", "differences", "verdict"]
