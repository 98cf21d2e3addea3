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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from .agents import PromptEngineer
from .context import RunContext
from .evaluate import metric_results, panel_results, run_prompt, score_examples
from .api import prepare
from .runtime import ctrl_c_cancels, make_caller, serving
from .budget import Budget
from .cards import AgentCard
from .errors import BudgetExceeded, ConfigError, RedraftError, RunInterrupted
from .llm import Caller
from .endpoints import ModelProvider, open_models
from .report import write_reports
from .results import ARM_NAMES, ARMS, ArmRepeat, ArmResult, CompareResult, Difference, Example, RoundPoint
from .runs import RunDir, new_folder, now_iso
from .scenario import Scenario
from .stats import Interval, PairedDifference, mean_ci, paired_difference
from .team import build_session, project, run_session

REPEAT_STRIDE = 1000  # repeat k runs on scenario seed + 1000*k
SINGLE_SHOT_SEEDS = 100  # draft seeds offsets, clear of the chat's own (seed + round, at most 100 rounds)
BEST_OF_N_SEEDS = 200

OnProgress = Callable[[str], None]


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


def differences(per_example: dict[str, list[float]], *, seed: int = 0, n_boot: int = 2000,
                level: float = 0.95) -> list[Difference]:
    """Paired differences between arms over the same examples (each arm's scores averaged over repeats).

    With a sequential arm: sequential − single_shot and sequential − best_of_n; without it,
    best_of_n − single_shot. Pairs whose arms were not run are left out.
    """
    pairs = [("sequential", "single_shot"), ("sequential", "best_of_n")]
    if "sequential" not in per_example:
        pairs = [("best_of_n", "single_shot")]
    return [_difference(a, b, paired_difference(per_example[a], per_example[b], level=level, n_boot=n_boot, seed=seed))
            for a, b in pairs if a in per_example and b in per_example]


def _difference(a: str, b: str, d: PairedDifference) -> Difference:
    ci = d.interval
    return Difference(a=a, b=b, estimate=ci.estimate, ci_low=ci.low, ci_high=ci.high, wins=d.wins, ties=d.ties,
                      losses=d.losses, significant=d.significant, p_value=round(d.p_value, 4))


def arm_interval(per_example: list[float], *, seed: int = 0) -> Interval:
    """The 95 % interval of an arm's mean score.

    The repeats are averaged within each example first and the examples are resampled, the same
    unit the paired differences use; the spread between repeats shows in the per-repeat scores.
    """
    return mean_ci(per_example, seed=seed)


def verdict(result_arms: dict[str, ArmResult], diffs: list[Difference], n_examples: int) -> str:
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


def check_arms(arms: list[str]) -> list[str]:
    """The arms in canonical order, or a ConfigError naming the valid ones."""
    wanted = [a.strip() for a in arms if a.strip()]
    unknown = [a for a in wanted if a not in ARMS]
    if unknown or not wanted:
        what = f"unknown arm '{unknown[0]}'" if unknown else "no arm given"
        raise ConfigError("--arms", f"{what}; valid arms: {', '.join(ARMS)} (comma-separated, e.g. --arms single_shot,sequential)")
    return [a for a in ARMS if a in wanted]


def compare_scenario(scenario_ref: str, options: CompareOptions | None = None, *, models: ModelProvider | None = None,
                     on_progress: OnProgress | None = None) -> CompareResult:
    """Run every arm on the scenario, score them all on its test split, and write the reports."""
    opts = options or CompareOptions()
    arms = check_arms(opts.arms)
    if opts.repeats < 1:
        raise RedraftError(f"--repeats must be at least 1, got {opts.repeats}")
    scenario, cards = prepare(scenario_ref, agents=opts.agents)
    _check_splits(scenario, arms)
    out = Path(opts.out_dir) if opts.out_dir is not None else new_folder(Path("compare"), scenario.name)
    if (out / "compare.json").exists() or (out / "runs").exists():
        raise RedraftError(f"{out} already holds a comparison; choose another folder with --out")
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    say = on_progress or (lambda _text: None)
    # Seating the roles checks critics, roles and model tags: a bad scenario fails before any file exists.
    comparison = _Comparison(scenario, cards, models, opts, arms, out, say)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with serving(models, own=own, log_file=out / "embedded-server.log", status=say):
            result = asyncio.run(comparison.run(close=own))
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise RunInterrupted(f"interrupted; nothing was scored. The chats finished so far are in {out / 'runs'}") from None
    result.out_dir = str(out)
    write_reports(result, out)
    return result


def _check_splits(scenario: Scenario, arms: list[str]) -> None:
    key = "dataset.split" if scenario.dataset is not None else "split"
    if not scenario.splits.test:
        hint = ("add test: N to dataset.split" if scenario.dataset is not None
                else "add split: {train: .., dev: .., test: ..}")
        raise scenario.error(key, f"compare scores every arm on held-out test examples, but this scenario has none; {hint}")
    if not scenario.splits.dev and ("best_of_n" in arms or "sequential" in arms):
        raise scenario.error(key, "best_of_n and sequential choose their prompt on dev examples, but this scenario has none; "
                             "give dev a few examples in the split")


class _Progress:
    """Where the comparison is, the time spent, and the time left.

    Work is counted in model calls per role, because calls differ a lot: an executor call is short
    and runs beside others, a critic's review is long. Each role's wall time per call is measured so
    far (time inside its calls over how many run at once); the time left is the calls still planned
    at those rates.
    """

    def __init__(self, emit: OnProgress, parallel: dict[str, int]):
        self.emit = emit
        self.parallel = parallel  # role -> how many of its calls run at once
        self.t0 = time.monotonic()
        self.planned: dict[str, dict[str, float]] = {}  # unit of work -> role -> expected calls
        self.callers: dict[str, Caller] = {}  # unit -> its caller, once started
        self.finished: set[str] = set()

    def plan(self, unit: str, calls: dict[str, float]) -> None:
        self.planned[unit] = calls

    def start(self, unit: str, caller: Caller) -> None:
        self.callers[unit] = caller

    def finish(self, unit: str) -> None:
        self.finished.add(unit)

    def show(self, where: str) -> None:
        elapsed = time.monotonic() - self.t0
        text = f"{where} — elapsed {_duration(elapsed)}"
        left = self.left(elapsed)
        if left is not None:
            text += f", about {_duration(left)} left"
        self.emit(text)

    def left(self, elapsed: float) -> float | None:
        calls: dict[str, int] = {}  # network calls only: a cache hit takes no time and says nothing about speed
        seconds: dict[str, float] = {}
        for caller in self.callers.values():
            for role, usage in caller.ledger.by_role.items():
                calls[role] = calls.get(role, 0) + usage.network_calls
                seconds[role] = seconds.get(role, 0.0) + usage.seconds
        if not sum(calls.values()):
            return None
        average = elapsed / sum(calls.values())  # for a role not seen yet

        def per_call(role: str) -> float:
            return seconds[role] / calls[role] / self.parallel.get(role, 1) if calls.get(role) else average

        left = 0.0
        for unit, plan in self.planned.items():
            if unit in self.finished:
                continue
            caller = self.callers.get(unit)
            done = caller.ledger.by_role if caller is not None else {}
            for role, n in plan.items():
                left += max(n - (done[role].calls if role in done else 0), 0) * per_call(role)
        return left


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class _Comparison:
    """Produces each arm's prompts (repeat by repeat), then scores them all on test, shuffled and blind."""

    def __init__(self, scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, opts: CompareOptions,
                 arms: list[str], out: Path, emit: OnProgress):
        self.scenario, self.cards, self.models, self.opts = scenario, cards, models, opts
        self.arms, self.out, self.repeats = arms, out, opts.repeats
        base = build_session(scenario, cards, models, rounds=opts.rounds)
        t = self.base = base.table
        self.models_used = base.models_used(models)
        self.rounds = t.rounds
        s = scenario
        # Executor calls run up to the endpoint's concurrency at once; the critics review side by side.
        parallel = {t.executor.name: models.endpoint(t.executor.tag).max_concurrency}
        parallel |= {c.name: min(models.endpoint(c.tag).max_concurrency, len(t.critics)) for c in t.critics}
        self.progress = _Progress(emit, parallel)
        # What one best-of-N candidate and one test scoring cost, in calls per role.
        judges = {} if s.labeled else {c.name: 1.0 for c in t.critics}
        self.candidate = {t.engineer.name: 1.0, t.executor.name: float(len(s.splits.dev)), **judges}
        scoring = {t.executor.name: float(len(s.splits.test)), **judges}
        chat = {role: float(n) for role, n in project(base, models).calls.items()}
        chat[t.executor.name] = chat.get(t.executor.name, 0.0) - len(s.splits.test)  # the chat scores no test here
        self.candidate_cost = sum(self.candidate.values())
        for k in range(self.repeats):
            if "sequential" in arms:
                self.progress.plan(f"sequential:{k}", chat)
            if "single_shot" in arms:
                self.progress.plan(f"single_shot:{k}", {t.engineer.name: 1.0})
            if "best_of_n" in arms:
                n = sum(chat.values()) / self.candidate_cost if "sequential" in arms else self.rounds
                self.progress.plan(f"best_of_n:{k}", self.scaled(max(1.0, n)))
        for arm in arms:
            for k in range(self.repeats):
                self.progress.plan(f"score:{arm}:{k}", scoring)

    def scaled(self, n: float) -> dict[str, float]:
        return {role: n * calls for role, calls in self.candidate.items()}

    def seed(self, k: int) -> int:
        return self.scenario.seed + REPEAT_STRIDE * k

    def caller(self, *, budget: bool = True) -> Caller:
        return make_caller(self.models, self.scenario.budget if budget else Budget(), cache_dir=self.opts.cache_dir,
                           no_cache=self.opts.no_cache)

    def table(self, seed: int, caller: Caller, **update: object) -> RunContext:
        return build_session(self.scenario.reseeded(seed, **update), self.cards, self.models, rounds=self.rounds,
                             caller=caller).table

    def where(self, arm: str, k: int, detail: str = "") -> str:
        return f"arm {arm}, repeat {k + 1}/{self.repeats}" + (f", {detail}" if detail else "")

    async def run(self, *, close: bool) -> CompareResult:
        self.progress.t0 = time.monotonic()  # the clock starts once the models are up

        def abort() -> None:  # one Ctrl-C is enough: abort the model calls in flight, then the comparison
            for caller in self.progress.callers.values():
                caller.cancel_token.cancel()

        try:
            with ctrl_c_cancels(abort):
                produced: dict[str, list[ArmRepeat]] = {a: [] for a in self.arms}
                for k in range(self.repeats):
                    if "sequential" in self.arms:
                        produced["sequential"].append(await self.sequential(k))
                    if "single_shot" in self.arms:
                        produced["single_shot"].append(await self.single_shot(k))
                    if "best_of_n" in self.arms:
                        seq = produced["sequential"][k].calls if "sequential" in self.arms else None
                        n = max(1, round(seq / self.candidate_cost)) if seq is not None else self.rounds
                        produced["best_of_n"].append(await self.best_of_n(k, n))
                # Selection is over for every arm and repeat: only now are the test inputs run.
                await self.score(produced)
        finally:
            if close:
                await self.models.close()
        s = self.scenario
        arms = {a: self.arm_result(a, produced[a]) for a in self.arms}
        means = {a: _example_means(produced[a]) for a in self.arms}
        diffs = differences(means, seed=s.seed)
        return CompareResult(
            scenario=s.name,
            metric=self.base.metric.name if s.labeled and self.base.metric else "panel",
            score_scale="0-1" if s.labeled else "1-10",
            repeats=self.repeats,
            arms=arms,
            differences=diffs,
            verdict=verdict(arms, diffs, len(s.splits.test)),
            examples=[Example(id=e.id, input=e.input, target=e.target or None) for e in s.splits.test],
            created=now_iso(),
            models=self.models_used,
        )

    async def sequential(self, k: int) -> ArmRepeat:
        """The refinement chat, in its own run folder; it never sees test (the comparison scores that)."""
        unit, caller = f"sequential:{k}", self.caller()
        session = build_session(self.scenario.reseeded(self.seed(k)), self.cards, self.models, rounds=self.rounds,
                                caller=caller)
        run = RunDir(self.out / "runs" / f"sequential-{k + 1}")
        run.prompts.mkdir(parents=True)
        state = session.table.state
        self.progress.start(unit, caller)

        def hook(_text: str) -> None:
            self.progress.show(self.where("sequential", k, f"round {max(state.round, 1)}"))

        hook("")
        started = time.monotonic()
        await run_session(session, self.models, run, on_progress=hook, score_test=False)
        best = state.best()
        prompt = best.prompt if best else (state.rounds[-1].prompt if state.rounds else self.scenario.task.strip())
        rounds = [RoundPoint(round=r.round, prompt=r.prompt, train_score=r.train_score, dev_score=r.dev_score)
                  for r in state.rounds]
        return self.repeat(unit, caller, started, seed=self.seed(k), prompt=prompt, rounds=rounds,
                           dev_score=best.dev_score if best else None, run_dir=str(run.path))

    async def draft(self, seed: int, caller: Caller) -> str:
        """Exactly the chat's round-1 draft (the Prompt Engineer's draft template), with this seed."""
        # seed_prompt=None: a single shot always drafts, even when the scenario brings its own prompt.
        table = self.table(seed, caller, seed_prompt=None)
        await PromptEngineer(table.engineer, table).turn()
        return table.state.rounds[0].prompt

    async def single_shot(self, k: int) -> ArmRepeat:
        unit, caller = f"single_shot:{k}", self.caller()
        self.progress.start(unit, caller)
        self.progress.show(self.where("single_shot", k))
        started = time.monotonic()
        prompt = await self.draft(self.seed(k) + SINGLE_SHOT_SEEDS, caller)
        return self.repeat(unit, caller, started, seed=self.seed(k), prompt=prompt)

    async def best_of_n(self, k: int, n: int) -> ArmRepeat:
        """n independent drafts, each scored on dev; the best on dev is kept (the first of equals)."""
        unit, caller = f"best_of_n:{k}", self.caller()
        self.progress.plan(unit, self.scaled(n))
        self.progress.start(unit, caller)
        dev = self.scenario.splits.dev
        scorer = self.table(self.seed(k), caller)  # the same executor seeds as the chat's dev runs
        started = time.monotonic()
        best: tuple[float, str] | None = None
        drawn = 0
        for j in range(n):
            self.progress.show(self.where("best_of_n", k, f"candidate {j + 1}/{n}"))
            try:
                prompt = await self.draft(self.seed(k) + BEST_OF_N_SEEDS + j, caller)
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
        return self.repeat(unit, caller, started, seed=self.seed(k), prompt=best[1], candidates=drawn,
                           dev_score=best[0] if best[0] != float("-inf") else None)

    def repeat(self, unit: str, caller: Caller, started: float, **fields: object) -> ArmRepeat:
        """An arm's repeat with what producing its prompt cost (test scoring is the same for every arm, so not counted)."""
        usage = caller.ledger.total
        self.progress.finish(unit)
        return ArmRepeat(score=0.0, per_example=[], calls=usage.calls, tokens=usage.prompt_tokens + usage.completion_tokens,
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

    async def score(self, produced: dict[str, list[ArmRepeat]]) -> None:
        """Run every repeat's prompt on test and score it: same evaluators and seeds for all, in shuffled order.

        The evaluators see inputs and outputs only (critics also get the criteria), never the arm or
        the prompt. Within a repeat every arm runs the executor with the same seeds, so equal prompts
        get equal outputs and differences come from the prompts.
        """
        s, test = self.scenario, self.scenario.splits.test
        jobs = [(arm, k) for arm in self.arms for k in range(self.repeats)]
        random.Random(s.seed).shuffle(jobs)
        low = 0.0 if s.labeled else 1.0
        for i, (arm, k) in enumerate(jobs, 1):
            unit, caller = f"score:{arm}:{k}", self.caller(budget=False)
            self.progress.start(unit, caller)
            self.progress.show(f"scoring on test, {i}/{len(jobs)}")
            rep, table = produced[arm][k], self.table(self.seed(k), caller)
            outputs = await run_prompt(table, rep.prompt, test, round_no=0)
            if s.labeled:
                results = metric_results(table, test, outputs)
            else:
                _, results = await panel_results(table, test, outputs, 0, s.seed)
            rep.per_example = [results[e.id].score if e.id in results else low for e in test]
            rep.unscored = sum(1 for e in test if e.id not in results)
            rep.outputs = [outputs.get(e.id, "") for e in test]
            rep.score = statistics.fmean(rep.per_example)
            self.progress.finish(unit)

    def arm_result(self, arm: str, repeats: list[ArmRepeat]) -> ArmResult:
        ci = arm_interval(_example_means(repeats), seed=self.scenario.seed)
        costs = [r.cost_usd for r in repeats]
        return ArmResult(
            name=arm, score=statistics.fmean(r.score for r in repeats), ci_low=ci.low, ci_high=ci.high, repeats=repeats,
            calls=sum(r.calls for r in repeats), tokens=sum(r.tokens for r in repeats),
            cost_usd=None if any(c is None for c in costs) else round(sum(costs), 6),  # type: ignore[arg-type]
            seconds=round(sum(r.seconds for r in repeats), 3),
        )


def _example_means(repeats: list[ArmRepeat]) -> list[float]:
    """Each test example's score averaged over the repeats."""
    return [statistics.fmean(values) for values in zip(*(r.per_example for r in repeats))]


__all__ = ["ARMS", "ArmRepeat", "ArmResult", "CompareOptions", "CompareResult", "Difference", "Example", "Interval",
           "RoundPoint", "compare_scenario", "differences", "verdict"]
