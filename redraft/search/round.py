"""The round's candidate search on labeled scenarios, as the chat runs it: several candidates per
round, different on purpose, screened cheaply before the expensive evaluation. The round proposes
(the reviewer's edit, round 1's drafts, or named edits of the best prompt so far), evaluates (round 1
runs its drafts on a train minibatch and the best two on dev and keeps the one highest on dev, so the
chat starts where best-of-N ends; later rounds screen their edits against the parent and promote the
winners to dev), and fills its record from the chosen candidate: its prompt, minibatch and dev
results, and every candidate's scores, with what the next round should fix."""

from __future__ import annotations

from typing import Sequence

from ..eval import top_error
from ..records import Candidate, CandidateResult, Evaluation, RoundRecord, prompt_key, score_text
from .context import RunContext
from .evaluate import gather_all, minibatch_of
from .metric import metric_kind
from .propose import drafts, edits, refill, usable
from .screen import highest_on_dev, promoted, run, screen


def parent_of(ctx: RunContext) -> Evaluation | None:
    """The evaluation of the best prompt so far: what this round edits."""
    best = ctx.state.best()
    return ctx.state.evaluations.get(prompt_key(best.prompt)) if best is not None else None


async def propose_candidates(ctx: RunContext, round_no: int, critiques: str) -> tuple[list[Candidate], list[str]]:
    """The round's candidates: the reviewer's edit, round 1's drafts, or named edits of the best so far;
    and why each proposal that is no candidate was dropped."""
    s, state = ctx.scenario, ctx.state
    if state.pending_edit:
        found = [Candidate(instruction=state.pending_edit, operator="reviewer", changes="edited by the reviewer")]
        state.pending_edit = None
        return found, []
    parent = parent_of(ctx)
    if parent is None:
        found, dropped = usable(ctx, await drafts(ctx, s.search.drafts))
    else:
        found, dropped = usable(ctx, await edits(ctx, parent, critiques, round_no, s.search.candidates))
        found = await refill(ctx, parent, round_no, found, s.search.candidates)
    if found:
        return found, dropped
    # Every reply repeated an earlier prompt or was unusable: the best so far stands (its outputs are kept, so
    # this costs nothing).
    base = parent.candidate if parent is not None else Candidate(instruction=s.task.strip())
    return [Candidate(instruction=base.instruction, demos=base.demos, operator="fallback",
                      parent=parent.key if parent else None,
                      changes="no new candidate this round (repeats or unusable replies); the best prompt so far stands")], dropped


async def evaluate_round(ctx: RunContext, record: RoundRecord, proposed: Sequence[Candidate]) -> None:
    """Screen and score the round's candidates, and make the round's record the best of them."""
    s = ctx.scenario
    parent = parent_of(ctx)
    n = record.round
    if parent is None or all(c.operator == "reviewer" for c in proposed):
        batch = minibatch_of(s, n)
        if len(proposed) > s.search.draft_dev:  # round 1's many drafts: the minibatch first, the best on to dev
            ids = [e.id for e in batch]
            screened = await gather_all(run(ctx, c, batch, n) for c in proposed)
            # The user's prompt always goes on to dev, first (a draft replaces it only by beating it there), and
            # beside it the best draft_dev drafts on the minibatch, the first of equals.
            start = [ev for ev in screened if ev.candidate.operator == "start"][:1]
            drafted = sorted((ev for ev in screened if ev not in start), key=lambda ev: -ev.total(ids))
            going = start + drafted[: s.search.draft_dev]
            await gather_all(run(ctx, ev.candidate, s.splits.dev, n) for ev in going)
            chosen = highest_on_dev(going) or going[0]
            results = [(ev, None) for ev in screened]
        else:
            runs = await gather_all(run(ctx, c, s.splits.dev, n) for c in proposed)
            chosen = highest_on_dev(runs) or runs[0]
            await run(ctx, chosen.candidate, batch, n)
            results = [(ev, None) for ev in runs]
    else:
        batch, screened = await screen(ctx, parent, proposed, n, s.minibatch)
        going = promoted(parent, screened, batch, s.search.promote)
        await gather_all(run(ctx, ev.candidate, s.splits.dev, n) for ev in going)
        ids = [e.id for e in batch]
        chosen = highest_on_dev(going) or max(screened, key=lambda ev: ev.total(ids))
        results = [(ev, parent.mean("train", ids)) for ev in screened]
    fill_record(record, chosen, [e.id for e in batch], results)


def fill_record(record: RoundRecord, chosen: Evaluation, batch: list[str],
                results: Sequence[tuple[Evaluation, float | None]]) -> None:
    """The round's record: the chosen candidate's prompt, minibatch and dev results, and every candidate's scores."""
    record.prompt, record.origin, record.changes = chosen.prompt, chosen.candidate.operator, chosen.candidate.changes
    record.stand_in = chosen.candidate.operator == "fallback" and chosen.candidate.parent is None  # the task's text
    record.batch = batch
    record.outputs = {i: chosen.outputs[i] for i in [*batch, *chosen.dev] if i in chosen.outputs}
    record.train = {i: chosen.train[i] for i in batch if i in chosen.train}
    record.dev = dict(chosen.dev)
    record.candidates = [
        CandidateResult(key=ev.key, operator=ev.candidate.operator, changes=ev.candidate.changes,
                        screen=ev.mean("train", batch), parent_screen=parent_screen, dev=ev.mean("dev"),
                        chosen=ev.key == chosen.key)
        for ev, parent_screen in results
    ]


def candidates_text(record: RoundRecord) -> str:
    """One line per candidate: the edit, its minibatch score against its parent's, its dev score."""
    lines = []
    for i, c in enumerate(record.candidates, 1):
        screen = "" if c.screen is None else f"minibatch {score_text(c.screen)}"
        if c.parent_screen is not None:
            screen += f" (parent {score_text(c.parent_screen)})"
        dev = f"dev {score_text(c.dev)}" if c.dev is not None else "not promoted to dev"
        mark = "  <- chosen" if c.chosen else ""
        lines.append(f"[{i}] {c.operator}: {', '.join(x for x in (screen, dev) if x)}{mark}")
    return "\n".join(lines)


def focus_from_errors(ctx: RunContext) -> str:
    """What the next round should fix, from the best prompt's most frequent error on train."""
    parent = parent_of(ctx)
    s = ctx.scenario
    if parent is None:
        return "get a first prompt scored"
    top = top_error(metric_kind(ctx), s.splits.train, parent.train)
    return f"fix the most frequent error on train: {top}" if top else "keep what works; no error seen on train yet"
