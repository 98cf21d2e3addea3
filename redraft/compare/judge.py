"""An independent pairwise judge for rubric scenarios: the critics steer the chat, so they must not also
score the test outputs. The judge sees two outputs for one input, in both orders, and picks the better."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import AgentCard, Scenario
from ..errors import ConfigError
from ..eval.stats import mean_ci
from ..llm import ModelProvider
from ..records import Arm, ArmRepeat, JudgeSummary, PairVerdict
from ..search import RunContext, Seat
from ..search.pairwise import judge_pairs

if TYPE_CHECKING:
    from .plan import Comparison

__all__ = ["PairVerdict", "judge_pairs", "judge_seat", "summarize", "judge_arms"]


def judge_seat(scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, base_table: RunContext) -> Seat:
    """The judge's seat: `roles.judge.model` if the scenario sets it, else the prompt engineer's (strongest) model."""
    card = next((c for c in cards.values() if c.role == "judge"), None)
    if card is None:
        raise ConfigError(None, "no agent card with role 'judge' was found; add agents/judge.yaml")
    over = scenario.roles.get("judge")
    tag = over.model if over and over.model else base_table.engineer.tag
    if not models.has_tag(tag):
        raise scenario.error("roles.judge.model", f"unknown model tag '{tag}'; known tags: {', '.join(models.known_tags())}",
                             loc=("roles", "judge", "model"))
    max_tokens = (over.max_tokens if over and over.max_tokens else None) or card.max_tokens or scenario.max_tokens
    return Seat(card=card, tag=tag, temperature=0.0, max_tokens=max_tokens)


def summarize(against: str, verdicts: list[list[PairVerdict]]) -> JudgeSummary:
    """Win/tie/loss over usable (example, repeat) pairs; unusable ones are left out of the rates but the
    examples still count in n. The win-rate interval is a percentile bootstrap over examples of each
    example's mean win over repeats (repeats of one example are not independent, so they are not resampled)."""
    usable = [v.preference for run in verdicts for v in run if v.preference is not None]
    total = len(usable) or 1
    ids = list(dict.fromkeys(v.example_id for run in verdicts for v in run))
    per_example = []
    for eid in ids:
        wins = [float(v.preference > 0.5) for run in verdicts for v in run if v.example_id == eid and v.preference is not None]
        if wins:
            per_example.append(sum(wins) / len(wins))
    ci = mean_ci(per_example) if per_example else None
    both = [v.consistent for run in verdicts for v in run if v.consistent is not None]
    return JudgeSummary(against=against, win=sum(p > 0.5 for p in usable) / total, tie=sum(p == 0.5 for p in usable) / total,
                        loss=sum(p < 0.5 for p in usable) / total, win_low=ci.low if ci else 0.0,
                        win_high=ci.high if ci else 1.0,  # nothing usable: the win rate is unknown
                        consistency=sum(both) / len(both) if both else None, n=len(ids), repeats=len(verdicts))


def scores_against_start(verdicts: list[PairVerdict]) -> list[float]:
    """An arm's test scores on a rubric scenario: its preference over the user's prompt per example (1 the
    judge preferred it in both orders, 0.5 a tie or split, 0 start preferred), unusable verdicts as ties."""
    return [0.5 if v.preference is None else v.preference for v in verdicts]


def consistency(verdicts: list[PairVerdict]) -> float | None:
    """How often swapping the two outputs kept the judge's verdict, over the pairs it judged in both orders
    (identical outputs are not asked, so they are left out)."""
    asked = [v.consistent for v in verdicts if v.asked and v.consistent is not None]
    return sum(asked) / len(asked) if asked else None


def judged_pairs(arms: list[Arm]) -> list[tuple[Arm, Arm]]:
    """The pairs the judge compares, (first, second): every arm against the user's prompt, and every other
    arm against sequential."""
    pairs = [(a, "start") for a in arms if a != "start"]
    if "sequential" in arms:
        pairs += [(a, "sequential") for a in arms if a not in ("start", "sequential")]
    return pairs  # type: ignore[return-value]


async def judge_arms(c: Comparison, produced: dict[Arm, list[ArmRepeat]]) -> None:
    """Score a rubric comparison: each arm's test outputs judged against start's and sequential's, repeat by
    repeat (the outputs of one repeat share their executor seeds). An arm's per-example scores are its
    preference over start (start itself 0.5); the win/tie/loss rates go to c.judged."""
    assert c.judge is not None
    s, test = c.scenario, list(c.scenario.splits.test)
    caller = c.caller(budget=False)
    c.progress.start("judge", caller)
    ctx = c.context(s.seed, caller)
    pairs = judged_pairs(c.arms)
    everything: list[PairVerdict] = []
    for first, second in pairs:
        by_repeat = []
        for k in range(c.repeats):
            c.progress.show(f"judging on test, {first} against {second}, repeat {k + 1}/{c.repeats}")
            outputs = [{e.id: o for e, o in zip(test, produced[arm][k].outputs)} for arm in (first, second)]
            verdicts = await judge_pairs(ctx, c.judge, test, outputs[0], outputs[1], seed=c.seed(k))
            by_repeat.append(verdicts)
            if second == "start":
                rep = produced[first][k]
                rep.per_example = scores_against_start(verdicts)
                rep.unscored = sum(1 for v in verdicts if v.preference is None)
        everything += [v for run in by_repeat for v in run]
        c.judged.setdefault(first, []).append(summarize(second, by_repeat))
    for rep in produced.get("start", []):
        rep.per_example = [0.5] * len(test)
    for reps in produced.values():
        for rep in reps:
            rep.score = sum(rep.per_example) / len(rep.per_example)
    c.judge_consistency = consistency(everything)
    c.judge_calls = caller.ledger.total.calls
    c.progress.finish("judge")
