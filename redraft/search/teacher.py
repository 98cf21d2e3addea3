"""Worked examples where inputs have no targets (rubric scenarios): replies the optimizer model writes to train
inputs under the prompt's instruction, shown to the task model as chat turns, as labeled tasks show their
targets. DSPy's BootstrapFewShot runs a program with a stronger teacher model to make its demonstrations; here
the teacher is the engineer's model, sent exactly the messages the executor would send, and a reply is shown
only when it passes the scenario's checks (a word limit, a required ending). On support_reply the 0.5B task
model, given the task text alone, answered half the dev inputs "I'm sorry, but I can't assist with that." and
ended none with the signature."""

from __future__ import annotations

import random

from ..eval import failed_checks
from ..llm import Sampling
from ..records import with_examples
from .context import RunContext
from .evaluate import run_prompt

LONGEST_INPUT = 400  # characters; every example is sent with every call


async def teacher_examples(ctx: RunContext, instruction: str, round_no: int, draw: int = 0,
                           replacing: bool = False) -> tuple[str, str] | None:
    """The instruction with worked examples: the optimizer model's replies to train inputs (never dev's: the
    Moderator compares on dev, and leaves out any input a prompt shows), those that pass the checks; and what
    changed. None when no reply passes, or the scenario asks for none (`search.demos` unset: they cost optimizer
    calls, and the shipped rubric scenarios ask for 2, which keeps a 0.5B's context short)."""
    s = ctx.scenario
    k = s.search.demos or 0
    pool = [e for e in s.splits.train if len(e.input) <= LONGEST_INPUT]
    if k <= 0 or not pool:
        return None
    random.Random(s.seed * 41 + round_no + 1009 * draw).shuffle(pool)
    pool = pool[: 2 * k]  # one spare per example, for a reply that fails a check
    teacher = Sampling(role=ctx.engineer.name, tag=ctx.engineer.tag, temperature=ctx.executor.temperature,
                       max_tokens=ctx.executor.max_tokens)
    replies = await run_prompt(ctx, instruction, pool, round_no, sampling=teacher, seed_offset=7 * round_no + draw)
    passing = [e for e in pool if replies.get(e.id, "").strip() and not failed_checks(s.checks, replies[e.id])]
    shown = passing[:k]
    if not shown:
        return None
    failing = len(pool) - len(passing)
    note = f"; {failing} of {len(pool)} replies failed the task's checks and are not shown" if failing else ""
    return (with_examples(instruction, [(e.input, replies[e.id]) for e in shown]),
            f"{'swapped the worked examples for' if replacing else 'added'} {len(shown)} worked examples: replies the optimizer model wrote to train inputs under these "
            f"instructions{', checked against the task' if s.checks else ''}{note}")
