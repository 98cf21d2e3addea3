"""What every arm of a comparison shares: the scenario, the models, the base session's seats, a caller per
unit of work, the progress line and the calls each arm is expected to make."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..chat import build_session
from ..config import AgentCard, Budget, Scenario
from ..llm import Caller, ModelProvider, OnProgress, Progress, make_caller
from ..records import Arm, ArmRepeat, JudgeSummary, ModelUse
from ..report import projected_spend
from ..search import RunContext
from .judge import judge_seat, judged_pairs

if TYPE_CHECKING:
    from . import CompareOptions

REPEAT_STRIDE = 1000  # repeat k runs on scenario seed + 1000*k
CHATS: tuple[Arm, ...] = ("sequential", "demos_only")  # the arms that run the refinement chat


class Comparison:
    """What every arm shares: the scenario, the models, the seats of the base session, callers and progress."""

    def __init__(self, scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, opts: CompareOptions,
                 emit: OnProgress):
        self.scenario, self.cards, self.models, self.opts = scenario, cards, models, opts
        self.arms: list[Arm] = list(opts.arms)  # type: ignore[arg-type]  # compare_scenario checked them
        self.out, self.repeats = Path(opts.out_dir or "."), opts.repeats
        session = build_session(scenario, cards, models, rounds=opts.rounds)
        t = self.base = session.table
        self.models_used = session.models_used(models)
        self.rounds = t.rounds
        # Executor calls run up to the endpoint's concurrency at once; the critics review side by side.
        parallel = {t.executor.name: models.endpoint(t.executor.tag).max_concurrency}
        parallel |= {c.name: min(models.endpoint(c.tag).max_concurrency, len(t.critics)) for c in t.critics}
        self.progress = Progress(emit, parallel)
        # What one best-of-N candidate costs, in calls per role; with worked examples it first runs on a minibatch.
        judges = {} if scenario.labeled else {c.name: 1.0 for c in t.critics}
        self.candidate = {t.engineer.name: 1.0, t.executor.name: float(len(scenario.splits.dev)), **judges}
        # worked examples: a train minibatch run first (labeled), or the optimizer model's replies (rubric: up to
        # twice search.demos, a spare for each reply that fails a check)
        self.demos_candidate = (self.candidate | {t.executor.name: float(len(scenario.splits.dev) + scenario.minibatch)}
                                if scenario.labeled else self.candidate | {t.engineer.name: 1.0 + 2 * (scenario.search.demos or 0)})
        chat = {role: float(n) for role, n in projected_spend(t, models).calls.items()}
        chat[t.executor.name] = chat.get(t.executor.name, 0.0) - len(scenario.splits.test)  # the chat scores no test here
        for name in judges:
            chat[name] = chat.get(name, 0.0) - 1.0
        self.plan(chat, {t.executor.name: float(len(scenario.splits.test))})
        # Rubric: an independent judge scores test (pairwise, both orders); its seat is checked before any call.
        self.judge = None if scenario.labeled else judge_seat(scenario, cards, models, t)
        self.judged: dict[Arm, list[JudgeSummary]] = {}
        self.judge_consistency: float | None = None
        self.judge_calls = 0
        if self.judge is not None:
            self.models_used["judge"] = ModelUse.of(self.judge.tag, self.judge.temperature, self.judge.max_tokens,
                                                    models.endpoint(self.judge.tag).description)
            self.progress.plan("judge", {self.judge.name: 2.0 * len(scenario.splits.test) * self.repeats
                                         * len(judged_pairs(self.arms))})

    def plan(self, chat: dict[str, float], scoring: dict[str, float]) -> None:
        """The calls each arm's repeats and each test scoring are expected to make, for the time left."""
        chat_calls = sum(chat.values()) if any(a in self.arms for a in CHATS) else None
        for k in range(self.repeats):
            for arm in self.arms:
                if arm in CHATS:
                    self.progress.plan(f"{arm}:{k}", chat)
                elif arm == "single_shot":
                    self.progress.plan(f"single_shot:{k}", {self.base.engineer.name: 1.0})
                elif arm in ("best_of_n", "best_of_n_demos"):
                    each = self.cost_of(arm)
                    n = chat_calls / sum(each.values()) if chat_calls else self.rounds
                    self.progress.plan(f"{arm}:{k}", {role: max(1.0, n) * c for role, c in each.items()})
                self.progress.plan(f"score:{arm}:{k}", scoring)

    def cost_of(self, arm: Arm) -> dict[str, float]:
        """The calls of one best-of-N candidate of this arm, per role."""
        return self.demos_candidate if arm == "best_of_n_demos" else self.candidate

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
        """An arm's repeat with what producing its prompt cost (test scoring is counted apart, per query)."""
        usage = caller.ledger.total
        self.progress.finish(unit)
        return ArmRepeat(score=0.0, per_example=[], calls=usage.calls, network_calls=usage.network_calls,
                         cache_hits=usage.cache_hits, network_seconds=round(usage.seconds, 3),
                         tokens=usage.prompt_tokens + usage.completion_tokens,
                         cost_usd=self.cost(caller), seconds=round(time.monotonic() - started, 3), **fields)

    def cost(self, caller: Caller) -> float | None:
        """Tokens at the configured prices, cache hits included (they stand for calls a real run makes); None without prices."""
        seats = {s.name: s for s in [self.base.engineer, self.base.executor, *self.base.critics, self.base.moderator]}
        if not caller.ledger.by_role:  # no call (the start arm): free where prices are known, else unknown like the rest
            return 0.0 if self.models.endpoint(self.base.executor.tag).cost(0, 0) is not None else None
        total = 0.0
        for role, usage in caller.ledger.by_role.items():
            seat = seats.get(role)
            cost = self.models.endpoint(seat.tag).cost(usage.prompt_tokens, usage.completion_tokens) if seat else None
            if cost is None:
                return None
            total += cost
        return round(total, 6)
