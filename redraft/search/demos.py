"""Worked examples from train (DSPy's bootstrapped demonstrations): the parent's instruction with a
set of examples mined from what it gets wrong and not tried with it before. Where replies carry
working (numbers, or a prompt that reasons before its label), an example shows a right reply of the
task model itself, working included, and the parent is run on more train examples when too few such
replies are known; a reply that is a bare answer is never shown. Where the reply is the label alone,
the examples show their targets."""

from __future__ import annotations

import random
import re
from typing import Sequence

from ..eval import pick_failures
from ..records import Candidate, Evaluation
from .context import RunContext
from .metric import labels_of, metric_kind
from .policies import demo_count, pick_demos
from .screen import run


async def with_new_demos(ctx: RunContext, parent: Evaluation, round_no: int, draw: int = 0,
                         look_further: bool = True, taken: Sequence[Candidate] = ()) -> Candidate | None:
    """The parent's instruction with worked examples from train, mined from what it gets wrong: a set of
    examples it has not been tried with yet (in an earlier round, or in `taken`, this round's candidates),
    or None when a few draws find no new set.

    Where replies carry working (numbers, or a prompt that reasons before its label), an example shows a
    right reply of the task model itself, working included (DSPy's bootstrapped demonstrations). Those
    come from the train examples some prompt has run on, so while fewer than 2k of them are new to the
    parent's examples, the parent is first run on more train examples to find some (on svamp, four
    rounds of screening alone left 5 right replies, and a round's "new" sets were the same four examples
    in another order); when there are too few there is no such edit this round. A target alone would
    teach the task model to skip its working (on svamp, worked examples of bare answers had the 0.5B
    answer 10 to 8 of 30 questions). Where the reply is the label alone, the examples show their targets.
    """
    s = ctx.scenario
    kind = metric_kind(ctx)
    rng = random.Random(s.seed * 7 + round_no + 1009 * draw)
    k = s.search.demos if s.search.demos is not None else demo_count(len(labels_of(ctx)))
    base = parent.candidate
    tried = {frozenset(c.demos) for c in [*(ev.candidate for ev in ctx.state.evaluations.values()), *taken]
             if c.instruction == base.instruction and c.reasoning == base.reasoning}
    traces: dict[str, str] = {}
    shows_replies = kind == "numeric" or base.reasoning
    if shows_replies:
        need = min(k, 2)
        traces = right_replies(ctx, base.reasoning, reply_limit(ctx))
        if look_further and sum(1 for i in traces if i not in base.demos) < 2 * k:
            # a top-up costs what screening one more candidate does
            await bootstrap(ctx, parent, round_no, size=2 * k if len(traces) < need else s.minibatch)
            traces = right_replies(ctx, base.reasoning, reply_limit(ctx))
        if len(traces) < need:
            return None
        pool = [e for e in s.splits.train if e.id in traces]
    else:
        pool = list(s.splits.train)
    wrong = pick_failures(kind, s.splits.train, parent.train, k, rng)
    for _ in range(5):  # another draw when this set was tried already (a small pool repeats itself)
        picked = pick_demos(pool, k, rng, prefer=wrong, avoid=base.demos)
        if frozenset(e.id for e in picked) not in tried:
            break
    else:
        return None
    replies = {e.id: traces[e.id] for e in picked} if shows_replies else {}
    what = "swapped the worked examples for" if base.demos else "added"
    how = " (the task model's own right replies, working included)" if replies else ""
    which = f" (draw {draw + 1}, in place of a dropped edit)" if draw else ""
    return Candidate(instruction=base.instruction, demos=[e.id for e in picked], replies=replies,
                     reasoning=base.reasoning, operator="demos", parent=parent.key,
                     changes=f"{what} {len(picked)} worked examples from train{how}, "
                             f"{sum(1 for e in picked if e in wrong)} of them inputs the prompt got wrong{which}")


def reply_limit(ctx: RunContext) -> int:
    """The longest reply a worked example may show: about what the executor may write (4 characters a
    token), and at least 600 characters."""
    return max(600, 4 * ctx.executor.max_tokens)


async def bootstrap(ctx: RunContext, parent: Evaluation, round_no: int, size: int) -> None:
    """Run the parent on train examples it has not seen (at most `size`), to find right replies."""
    rng = random.Random(ctx.scenario.seed * 13 + round_no)
    unseen = [e for e in ctx.scenario.splits.train if e.id not in parent.outputs]
    rng.shuffle(unseen)
    if unseen[:size]:
        await run(ctx, parent.candidate, unseen[:size], round_no)


def right_replies(ctx: RunContext, reasoning: bool, limit: int = 600) -> dict[str, str]:
    """Per train example, a reply the task model got right under some prompt so far (of the same reply
    style), with its working and not over `limit` characters: the worked examples a bootstrapped prompt
    can show."""
    found: dict[str, str] = {}
    for ev in ctx.state.evaluations.values():
        if ev.candidate.reasoning != reasoning:
            continue
        for i, r in ev.train.items():
            reply = ev.outputs.get(i, "").strip()
            if r.score >= 1 and len(reply) <= limit and shows_working(reply) and i not in found:
                found[i] = reply
    return found


_ANSWER_LINE = re.compile(r"(?i)^\W*(?:the\s+)?(?:final\s+)?answer\b")


def shows_working(reply: str, least: int = 5) -> bool:
    """Whether a reply works through the input before its answer: at least `least` characters besides a
    closing answer line ("Answer: 450", "The answer is 450."). Right bare answers shown as the last
    assistant turns taught the 0.5B to skip its working (on svamp, such an example set scored 0.07 on
    dev against its parent's 0.33)."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if lines and _ANSWER_LINE.match(lines[-1]):
        lines = lines[:-1]
    return len(" ".join(lines)) >= least
