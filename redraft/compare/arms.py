"""How each arm makes its prompt for one repeat, never seeing test.

start: the user's prompt as given, no call. single_shot: one draft. best_of_n: drafts scored on dev, the
best kept. best_of_n_demos: each draw a draft with worked examples from train, chosen by the loop's own
code (DSPy's BootstrapFewShotWithRandomSearch is what a user would otherwise run; on a rubric scenario the
examples are the optimizer model's checked replies, as in the chat). sequential: the
refinement chat; demos_only: the same chat whose later rounds only draw new worked examples.
"""

from __future__ import annotations

import random
import statistics
import time

from ..api import run_chat
from ..chat import Runner, build_session
from ..errors import BudgetExceeded
from ..llm import Caller
from ..records import Arm, ArmRepeat, Candidate, RoundPoint
from ..search import RunContext, draft, run, score_examples, teacher_examples, with_new_demos
from ..store import RunDir
from .plan import Comparison

SINGLE_SHOT_SEEDS = 100  # draft seed offsets, clear of the chat's own (seed + round, at most 100 rounds)
BEST_OF_N_SEEDS = 200


async def chat(c: Comparison, k: int, arm: Arm = "sequential") -> ArmRepeat:
    """The refinement chat, in its own run folder; it never sees test (the comparison scores that). demos_only
    runs it with later rounds' edits limited to new worked examples."""
    unit, caller = f"{arm}:{k}", c.caller()
    scenario = c.scenario.reseeded(c.seed(k))
    if arm == "demos_only":
        scenario = scenario.reseeded(c.seed(k), search=scenario.search.model_copy(update={"edits": "demos"}))
    session = build_session(scenario, c.cards, c.models, rounds=c.rounds, caller=caller)
    folder = RunDir(c.out / "runs" / f"{arm}-{k + 1}")
    folder.prompts.mkdir(parents=True)
    state = session.table.state
    c.progress.start(unit, caller)

    def hook(_text: str) -> None:
        c.progress.show(c.where(arm, k, f"round {max(state.round, 1)}"))

    hook("")
    started = time.monotonic()
    await run_chat(Runner(session, c.models, folder, on_progress=hook, score_test=False))
    best = state.best()
    prompt = best.prompt if best else (state.rounds[-1].prompt if state.rounds else c.scenario.start_prompt)
    rounds = [RoundPoint(round=r.round, prompt=r.prompt, train_score=r.train_score, dev_score=r.dev_score)
              for r in state.rounds]
    return c.repeat(unit, caller, started, seed=c.seed(k), prompt=prompt, rounds=rounds,
                    dev_score=best.dev_score if best else None, run_dir=str(folder.path))


def start(c: Comparison, k: int) -> ArmRepeat:
    """The user's prompt as given (the seed prompt, else the task text): what they had before; no call."""
    unit, caller = f"start:{k}", c.caller()
    return c.repeat(unit, caller, time.monotonic(), seed=c.seed(k), prompt=c.scenario.start_prompt)


async def _draft(c: Comparison, seed: int, caller: Caller) -> Candidate:
    """Exactly one of the chat's round-1 drafts (the Prompt Engineer's draft template), with this seed."""
    # seed_prompt=None: a draft is the engineer's, even when the scenario brings its own prompt (that is `start`).
    context = c.context(seed, caller, seed_prompt=None)
    return await draft(context, context.scenario.seed + 1)


async def single_shot(c: Comparison, k: int) -> ArmRepeat:
    """One draft, no feedback."""
    unit, caller = f"single_shot:{k}", c.caller()
    c.progress.start(unit, caller)
    c.progress.show(c.where("single_shot", k))
    started = time.monotonic()
    prompt = (await _draft(c, c.seed(k) + SINGLE_SHOT_SEEDS, caller)).instruction
    return c.repeat(unit, caller, started, seed=c.seed(k), prompt=prompt)


def _spent(caller: Caller, match: str) -> int:
    usage = caller.ledger.total
    return usage.calls if match == "calls" else usage.prompt_tokens + usage.completion_tokens


async def best_of_n(c: Comparison, k: int, target: int | None, arm: Arm = "best_of_n") -> ArmRepeat:
    """Drafts scored on dev, the best on dev kept (the first of equals). With a target (the sequential
    repeat's calls, or tokens with --match tokens) candidates are drawn while the spend stays within half a
    candidate of it; without one, as many as the chat has rounds. best_of_n_demos gives every draft worked
    examples from train by the loop's own code before dev scores it."""
    unit, caller = f"{arm}:{k}", c.caller()
    c.progress.start(unit, caller)
    dev = c.scenario.splits.dev
    scorer = c.context(c.seed(k), caller)  # the same executor seeds as the chat's dev runs
    started = time.monotonic()
    best: tuple[float, str] | None = None
    drawn = 0
    while True:
        c.progress.show(c.where(arm, k, f"candidate {drawn + 1}/{_expected(c, caller, arm, drawn, target)}"))
        try:
            prompt = await _candidate(c, scorer, caller, k, drawn, arm == "best_of_n_demos")
            _, results = await score_examples(scorer, prompt, dev, round_no=drawn + 1)
        except BudgetExceeded:
            if best is None:
                raise
            break  # the scenario's budget cap: keep the best of the candidates drawn so far
        drawn += 1
        score = statistics.fmean(r.score for r in results.values()) if results else float("-inf")
        if best is None or score > best[0]:
            best = (score, prompt)
        if _enough(caller, drawn, target, c.opts.match, c.rounds):
            break
    return c.repeat(unit, caller, started, seed=c.seed(k), prompt=best[1], candidates=drawn,
                    dev_score=best[0] if best[0] != float("-inf") else None)


def _expected(c: Comparison, caller: Caller, arm: Arm, drawn: int, target: int | None) -> int:
    """How many candidates the arm is expected to draw, for the progress line: as many as the chat has rounds
    without a target, else the target over a candidate's cost (the mean so far, or the planned calls)."""
    if target is None:
        return c.rounds
    each = _spent(caller, c.opts.match) / drawn if drawn else (sum(c.cost_of(arm).values()) if c.opts.match == "calls" else 0)
    return max(drawn + 1, round(target / each)) if each else drawn + 1


def _enough(caller: Caller, drawn: int, target: int | None, match: str, rounds: int) -> bool:
    """Whether to stop drawing: the next candidate, at the mean cost so far, would overshoot the target by
    more than half of it (so the spend ends within half a candidate of the target)."""
    if target is None:
        return drawn >= rounds
    spent = _spent(caller, match)
    return spent + (spent / drawn) / 2 > target


async def _candidate(c: Comparison, scorer: RunContext, caller: Caller, k: int, j: int, demos: bool) -> str:
    """Candidate j's prompt: a draft, and with `demos` that draft with worked examples from train, mined as
    the loop mines them (run on a train minibatch first, right replies with working on number tasks)."""
    drafted = await _draft(c, c.seed(k) + BEST_OF_N_SEEDS + j, caller)
    if not demos:
        return drafted.instruction
    s = scorer.scenario
    if not s.labeled:  # the optimizer model's replies to train inputs, checked, as the chat's examples are
        made = await teacher_examples(scorer, drafted.instruction, j + 1, draw=j)
        return made[0] if made is not None else drafted.instruction
    rng = random.Random(s.seed * 7919 + j)
    batch = rng.sample(list(s.splits.train), min(s.minibatch, len(s.splits.train)))
    parent = await run(scorer, drafted, batch, j + 1)
    shown = await with_new_demos(scorer, parent, j + 1)
    return (shown or drafted).prompt(s.splits.train)
