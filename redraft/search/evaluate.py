"""Evaluation shared by the chat, compare and the reviewer: running a prompt on examples, metric
results, the critics' reviews and the panel's per-example scores, the judges' noise, and the
failing examples."""

from __future__ import annotations

import asyncio
import random
import zlib
from typing import Awaitable, Iterable, TypeVar

from autogen_core.models import AssistantMessage, SystemMessage, UserMessage

from ..config import AgentCard, Example, ExampleResult, Scenario
from ..eval import (CriticResult, JudgeNoise, Review, check_review, failed_checks, judge_noise, per_output_panel,
                    review_schema, review_values)
from ..llm import JsonReply, Sampling
from ..records import RoundRecord, split_prompt
from .context import RunContext, Seat

SHOWN_FAILURES = 5  # the worst train examples failures_text shows (the evaluator's message, the reviewer, a rubric revise)
T = TypeVar("T")

async def gather_all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; when one fails, cancel the rest (their spend is then not left running)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None  # the first failure, as itself (e.g. an EndpointError)
    return [t.result() for t in tasks]


async def run_prompt(table: RunContext, prompt: str, examples: list[Example], round_no: int,
                     sampling: Sampling | None = None, seed_offset: int = 0) -> dict[str, str]:
    """The executor's outputs for a prompt on examples, run concurrently (bounded per endpoint); with `sampling`,
    the same messages sent to another seat's model (a rubric's worked examples are the optimizer model's replies)."""
    seat = table.executor

    async def one(e: Example) -> tuple[str, str]:
        messages = [_MESSAGE[role](text) for role, text in executor_messages(seat.card, table.base_values(), prompt, e.input)]
        result = await table.caller.complete(sampling or seat.sampling, messages, round_no=round_no,
                                             seed=example_seed(table, e) + seed_offset)
        return e.id, result.content.strip() if isinstance(result.content, str) else str(result.content)

    return dict(await gather_all(one(e) for e in examples))


_MESSAGE = {"system": lambda text: SystemMessage(content=text),
            "user": lambda text: UserMessage(content=text, source="user"),
            "assistant": lambda text: AssistantMessage(content=text, source="assistant")}


def executor_messages(card: AgentCard, values: dict[str, str], prompt: str, text: str) -> list[tuple[str, str]]:
    """The messages the executor sends with a prompt for one input, (role, content) each: the card's system
    message with the prompt's instruction, the prompt's worked examples as turns (its `run` template with
    the example's input, then the reply), and its `run` template with the input (by default as it is)."""
    instruction, pairs = split_prompt(prompt)
    turns = [turn for given, reply in pairs
             for turn in (("user", card.render("run", **(values | {"prompt": instruction, "input": given}))),
                          ("assistant", reply))]
    values = values | {"prompt": instruction, "input": text}
    return [("system", card.render_system(values)), *turns, ("user", card.render("run", **values))]


def minibatch_of(scenario: Scenario, round_no: int) -> list[Example]:
    """A round's train minibatch where the round's prompts all run on the same one (rubric scenarios, round 1 of a
    labeled one, a reviewer's edit), in train's order, seeded by the round."""
    train = list(scenario.splits.train)
    batch = random.Random(scenario.seed * 7919 + round_no).sample(train, min(scenario.minibatch, len(train)))
    return sorted(batch, key=train.index)


def example_seed(table: RunContext, example: Example) -> int:
    """The executor's seed for an example: the same whatever batch it runs in, so a prompt's output on an
    example is one thing, kept and reused, and every arm of a comparison gets the same seeds."""
    return table.scenario.seed + zlib.crc32(example.id.encode("utf-8")) % 100_000


def metric_results(table: RunContext, examples: list[Example], outputs: dict[str, str]) -> dict[str, ExampleResult]:
    """Each labeled example's metric score."""
    assert table.metric is not None
    out = {}
    for e in examples:
        r = table.metric(outputs.get(e.id, ""), e.target)
        out[e.id] = ExampleResult(score=r.score, extracted=r.extracted, feedback=r.feedback, error=r.error)
    return out


async def review_outputs(table: RunContext, seat: Seat, examples: list[Example], outputs: dict[str, str], round_no: int,
                         seed: int) -> CriticResult:
    """One critic's blind review: the task, criteria, inputs and outputs (never the prompt or the round)."""
    card, s = seat.card, table.scenario
    criteria = [c.name for c in s.criteria]
    lines = []
    for i, e in enumerate(examples, 1):
        lines.append(f"[{i}] input: {e.input}")
        if s.labeled:
            lines.append(f"    expected: {e.target}")
        lines.append(f"    output: {outputs.get(e.id) or '(empty)'}")
    values = table.base_values() | {
        "focus": card.focus or "",
        "rubric": "\n".join(f"- {r}" for r in card.rubric),
        "outputs": "\n".join(lines),
        **review_values(criteria, len(examples)),
    }
    reply = JsonReply(Review, review_schema(criteria, len(examples)), check_review(criteria, len(examples)))
    parsed = await table.caller.complete_json(reply, seat.sampling, round_no=round_no, system=card.render_system(values),
                                              user=card.render("review", **values), seed=seed)
    return CriticResult(critic=seat.name, review=parsed.value, error=parsed.error if parsed.value is None else None,
                        raw=parsed.raw)


async def panel_results(table: RunContext, examples: list[Example], outputs: dict[str, str], round_no: int,
                        seed: int) -> tuple[list[CriticResult], dict[str, ExampleResult]]:
    """All critics' reviews, and each example's panel score (mean of the critics' per-output scores)."""
    results = await gather_all(review_outputs(table, c, examples, outputs, round_no, seed) for c in table.critics)
    per = per_output_panel(results, len(examples))
    return results, {e.id: ExampleResult(score=p) for e, p in zip(examples, per) if p is not None}


async def rescoring_noise(table: RunContext, examples: list[Example], outputs: dict[str, str], round_no: int,
                          results: list[CriticResult]) -> JudgeNoise | None:
    """Re-score the same outputs with the first critic that parsed, to see how much its scores move."""
    repeats = table.scenario.noise_repeats
    first = next((r for r in results if r.review is not None), None)
    if repeats <= 0:
        return None
    if first is None or first.review is None:  # nothing to re-score: say so rather than leave it blank
        return JudgeNoise(critic=None, repeats=repeats, parsed=0, note="no critic's review was usable")
    seat = next(c for c in table.critics if c.name == first.critic)
    again = await gather_all(review_outputs(table, seat, examples, outputs, round_no, table.scenario.seed + k)
                             for k in range(1, repeats + 1))
    runs = [first.review.per_output, *(r.review.per_output for r in again if r.review is not None)]
    if len(runs) < 2:
        return JudgeNoise(critic=seat.name, repeats=repeats, parsed=0)
    per_item = [[float(run[i]) for run in runs] for i in range(len(examples))]
    noise = judge_noise(per_item)
    return JudgeNoise(critic=seat.name, repeats=repeats, parsed=len(runs) - 1,
                      **{k: round(v, 3) if isinstance(v, float) else v for k, v in noise.items()})


async def score_examples(table: RunContext, prompt: str, examples: list[Example],
                         round_no: int) -> tuple[dict[str, str], dict[str, ExampleResult]]:
    """Run a prompt on examples and score each: by the metric when labeled, else by the critic panel (seeded with
    the scenario's seed)."""
    outputs = await run_prompt(table, prompt, examples, round_no)
    if table.scenario.labeled:
        return outputs, metric_results(table, examples, outputs)
    _, scores = await panel_results(table, examples, outputs, round_no, table.scenario.seed)
    return outputs, scores


def failures_text(t: RunContext, record: RoundRecord) -> str:
    """The worst train examples of a round: input, expected (when labeled) and what came out."""
    by_id = {e.id: e for e in t.scenario.splits.train}
    scored = [(r.score, i) for i, r in record.train.items() if i in by_id and (not t.scenario.labeled or r.score < 1)]
    scored.sort()
    lines = []
    for n, (score, i) in enumerate(scored[:SHOWN_FAILURES], 1):
        e, res = by_id[i], record.train[i]
        lines.append(f"[{n}] input: {e.input}")
        if t.scenario.labeled:
            got = record.outputs.get(i, "")
            got = got if len(got) <= 300 else got[:297] + "..."
            lines.append(f"    expected: {e.target}\n    got: {got or '(empty)'}"
                         + (f" (read as: {res.extracted})" if res.extracted else ""))
        else:
            got = record.outputs.get(i, "")
            lines.append(f"    output: {got[:300]}\n    panel score: {score:.1f}/10")
            failed = failed_checks(t.scenario.checks, got)
            if failed:
                lines.append(f"    fails the task's checks: {'; '.join(failed)}")
    return "\n".join(lines) or "(none)"


