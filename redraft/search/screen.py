"""Running, screening and promoting candidates. A prompt run once is never run again: every output
is kept per prompt and example. Each edit runs with its parent on a train minibatch that is half the
parent's known failures, and only edits that beat the parent there go on to the full dev set (GEPA's
minibatch gate); when none does, one that ties it with different answers goes instead. Of the
candidates scored on dev, the round takes the one highest on dev: a plain pick among this round's
evaluations, not the acceptance decision (selection.BestOnDev decides whether it replaces the best
prompt so far)."""

from __future__ import annotations

import random
from typing import Sequence

from ..config import Example
from ..records import Candidate, Evaluation, prompt_key
from .context import RunContext
from .evaluate import gather_all, metric_results, run_prompt
from .policies import screening_batch


async def run(ctx: RunContext, candidate: Candidate, examples: Sequence[Example], round_no: int) -> Evaluation:
    """Run a candidate on the examples it has not been run on yet, and score them; keep everything."""
    s, state = ctx.scenario, ctx.state
    prompt = candidate.prompt(s.splits.train)
    key = prompt_key(prompt)
    ev = state.evaluations.get(key)
    if ev is None:
        ev = state.evaluations[key] = Evaluation(key=key, candidate=candidate, prompt=prompt, round=round_no)
    todo = [e for e in examples if e.id not in ev.outputs]
    if todo:
        ev.outputs |= await run_prompt(ctx, prompt, todo, round_no)
    dev_ids = {e.id for e in s.splits.dev}
    results = metric_results(ctx, list(examples), ev.outputs)
    for i, r in results.items():
        (ev.dev if i in dev_ids else ev.train)[i] = r
    return ev


async def screen(ctx: RunContext, parent: Evaluation, candidates: Sequence[Candidate], round_no: int,
                 size: int) -> tuple[list[Example], list[Evaluation]]:
    """Each candidate and the parent on one failure-enriched train minibatch.

    A parent with too few known failures is first run on more train examples to find some: a batch
    it gets all right can only rank edits as no better (GEPA's "all subsample scores perfect").
    """
    s = ctx.scenario
    rng = random.Random(s.seed * 7919 + round_no)
    if sum(1 for r in parent.train.values() if r.score < 1) < size // 2:
        unseen = [e for e in s.splits.train if e.id not in parent.train]
        await run(ctx, parent.candidate, rng.sample(unseen, min(len(unseen), size)), round_no)
    batch = screening_batch(s.splits.train, parent, size, rng)
    runs = await gather_all(run(ctx, c, batch, round_no) for c in [parent.candidate, *candidates])
    return batch, runs[1:]


def promoted(parent: Evaluation, screened: Sequence[Evaluation], batch: Sequence[Example], limit: int) -> list[Evaluation]:
    """The edits that go on to full dev, at most `limit`: those that beat the parent on the minibatch
    (strictly), best first, and beside draws of worked examples the best instruction edit that beat it too
    (one more); when none does, one that ties it with other answers on the minibatch (the one
    that answers most differently). A minibatch of eight ranks too coarsely to tell a tie with new answers
    from no change, and only dev can; a tie that answers exactly as the parent did is no change."""
    ids = [e.id for e in batch]
    base = parent.total(ids)
    better = [ev for ev in screened if ev.total(ids) > base]
    better.sort(key=lambda ev: -ev.total(ids))
    if better:
        going = better[:limit]
        if all(ev.candidate.operator == "demos" for ev in going):
            # The batch is half the parent's failures, kept as failed, so a candidate that changes many answers
            # (a new draw of worked examples) screens higher than one that changes a few (a sentence added to
            # the instructions) whether or not it is better: an instruction edit that beat the parent as well
            # goes on to dev beside it.
            going += [ev for ev in better[limit:] if ev.candidate.operator != "demos"][:1]
        return going

    def changed(ev: Evaluation) -> int:
        return sum(1 for i in ids if ev.outputs.get(i, "").strip() != parent.outputs.get(i, "").strip())

    ties = [ev for ev in screened if ev.total(ids) == base and changed(ev) > 0]
    return sorted(ties, key=lambda ev: -changed(ev))[:1]


def highest_on_dev(evaluations: Sequence[Evaluation]) -> Evaluation | None:
    """The evaluation with the highest dev mean (the first of equals)."""
    scored = [ev for ev in evaluations if ev.dev]
    return max(scored, key=lambda ev: ev.mean("dev") or 0.0) if scored else None
