"""The seats at the table as AgentChat agents. Each builds its own request from the run state,
so a small model sees a short, focused context instead of the whole chat."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import AsyncGenerator, Awaitable, Iterable, Sequence, TypeVar

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage, TextMessage
from autogen_core import CancellationToken
from autogen_core.models import SystemMessage, UserMessage

from .cards import AgentCard
from .data import Example
from .llm import Caller
from .metrics import Metric
from .review import (CriticResult, Proposal, Review, aggregate, check_review, per_output_panel, proposal_schema,
                     review_schema)
from .scenario import Scenario
from .selection import Acceptance, Decision, acceptance
from .state import ExampleResult, RoundRecord, RunState
from .stats import judge_noise

SHOWN_FAILURES = 5
T = TypeVar("T")


@dataclass
class Seat:
    """A card with its effective model tag and sampling settings for this scenario."""

    card: AgentCard
    tag: str
    temperature: float
    max_tokens: int

    @property
    def name(self) -> str:
        return self.card.name


@dataclass
class Table:
    """What every agent shares: the scenario, the seats, the caller, the metric and the run state."""

    scenario: Scenario
    engineer: Seat
    executor: Seat
    critics: list[Seat]
    moderator: Seat
    caller: Caller
    state: RunState
    rounds: int
    metric: Metric | None = None
    accept: Acceptance = field(default_factory=lambda: acceptance_default())

    def base_values(self) -> dict[str, str]:
        """Template variables every card may use."""
        s = self.scenario
        shown = s.splits.train[:3]
        if s.labeled:
            examples = "\n".join(f"- input: {e.input}\n  expected output: {e.target}" for e in shown)
        else:
            examples = "\n".join(f"- {e.input}" for e in shown)
        return {
            "task": s.task.strip(),
            "criteria": "\n".join(f"- {c.name}: {c.description.strip()}" for c in s.criteria),
            "examples": examples,
            "round": str(self.state.round),
        }


def acceptance_default() -> Acceptance:
    from .scenario import Selection

    return acceptance(Selection())


def _msg(source: str, content: str, kind: str, round_no: int) -> TextMessage:
    return TextMessage(source=source, content=content, metadata={"kind": kind, "round": str(round_no)})


async def gather_all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; when one fails, cancel the rest (their spend is then not left running)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None  # the first failure, as itself (e.g. an EndpointError)
    return [t.result() for t in tasks]


async def run_prompt(table: Table, prompt: str, examples: list[Example], round_no: int) -> dict[str, str]:
    """The executor's outputs for a prompt on examples, run concurrently (bounded per endpoint)."""
    seat = table.executor

    async def one(e: Example, i: int) -> tuple[str, str]:
        values = table.base_values() | {"prompt": prompt, "input": e.input}
        result = await table.caller.complete(
            role=seat.name, tag=seat.tag, round_no=round_no,
            messages=[SystemMessage(content=seat.card.render_system(values)),
                      UserMessage(content=seat.card.render("run", **values), source="user")],
            temperature=seat.temperature, max_tokens=seat.max_tokens, seed=table.scenario.seed + i,
        )
        return e.id, result.content.strip() if isinstance(result.content, str) else str(result.content)

    return dict(await gather_all(one(e, i) for i, e in enumerate(examples)))


def metric_results(table: Table, examples: list[Example], outputs: dict[str, str]) -> dict[str, ExampleResult]:
    """Each labeled example's metric score."""
    assert table.metric is not None
    out = {}
    for e in examples:
        r = table.metric(outputs.get(e.id, ""), e.target)
        out[e.id] = ExampleResult(score=r.score, extracted=r.extracted, feedback=r.feedback)
    return out


async def review_outputs(table: Table, seat: Seat, examples: list[Example], outputs: dict[str, str], round_no: int,
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
        "score_keys": ", ".join(f'"{c}": 1-10' for c in criteria),
        "n_outputs": str(len(examples)),
    }
    parsed = await table.caller.complete_json(
        Review, review_schema(criteria, len(examples)), role=seat.name, tag=seat.tag, round_no=round_no,
        system=card.render_system(values), user=card.render("review", **values),
        temperature=seat.temperature, max_tokens=seat.max_tokens, seed=seed, check=check_review(criteria, len(examples)),
    )
    return CriticResult(critic=seat.name, review=parsed.value, error=parsed.error if parsed.value is None else None,
                        raw=parsed.raw)


async def panel_results(table: Table, examples: list[Example], outputs: dict[str, str], round_no: int,
                        seed: int) -> tuple[list[CriticResult], dict[str, ExampleResult]]:
    """All critics' reviews, and each example's panel score (mean of the critics' per-output scores)."""
    results = await gather_all(review_outputs(table, c, examples, outputs, round_no, seed) for c in table.critics)
    per = per_output_panel(results, len(examples))
    return results, {e.id: ExampleResult(score=p) for e, p in zip(examples, per) if p is not None}


async def score_examples(table: Table, prompt: str, examples: list[Example], round_no: int) -> tuple[dict[str, str], dict[str, ExampleResult]]:
    """Run a prompt on examples and score each: by the metric when labeled, else by the critic panel."""
    outputs = await run_prompt(table, prompt, examples, round_no)
    if table.scenario.labeled:
        return outputs, metric_results(table, examples, outputs)
    _, scores = await panel_results(table, examples, outputs, round_no, table.scenario.seed)
    return outputs, scores


class _KeepsErrors(BaseChatAgent):
    """AgentChat turns an agent's exception into RuntimeError(str); keep the original for the caller."""

    table: Table

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage, StopMessage)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        pass

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        try:
            async for item in self._stream(messages, cancellation_token):
                yield item
        except Exception as exc:
            if self.table.caller.fatal is None:
                self.table.caller.fatal = exc
            raise

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        response = None
        async for item in self._stream(messages, cancellation_token):
            if isinstance(item, Response):
                response = item
        assert response is not None
        return response

    async def _stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        yield await self.turn()

    async def turn(self) -> Response:
        raise NotImplementedError


class _Seated(_KeepsErrors):
    def __init__(self, seat: Seat, table: Table):
        super().__init__(seat.name, seat.card.description.strip())
        self.seat = seat
        self.table = table


class PromptEngineer(_Seated):
    """Proposes prompt vN: drafts from a meta-instruction, or edits the best prompt so far."""

    async def turn(self) -> Response:
        t, state, s = self.table, self.table.state, self.table.scenario
        n = state.round + 1
        if state.pending_edit:
            record = RoundRecord(round=n, prompt=state.pending_edit, changes="edited by the reviewer", origin="reviewer")
            state.pending_edit = None
        elif n == 1 and s.seed_prompt:
            record = RoundRecord(round=n, prompt=s.seed_prompt.strip(), changes="the scenario's seed prompt, scored as given", origin="seed")
        else:
            record = await self._propose(n)
        state.rounds.append(record)
        text = f"Prompt v{n}:\n{record.prompt}\n\nWhat changed: {record.changes or '(not said)'}"
        return Response(chat_message=_msg(self.name, text, "proposal", n))

    async def _propose(self, n: int) -> RoundRecord:
        t, state, card = self.table, self.table.state, self.seat.card
        values = t.base_values() | {"round": str(n)}
        best = state.best()
        if not state.rounds:
            user = card.render("draft", **values)
        else:
            anchor = best or state.rounds[-1]
            last = state.rounds[-1]
            values |= {
                "best_round": str(anchor.round),
                "best_score": _fmt(anchor.score),
                "best_prompt": anchor.prompt,
                "trajectory": _trajectory(state),
                "critiques": _critiques(last),
                "failures": failures_text(t, last),
                "focus": last.focus or "the weakest criterion",
                "reviewer": state.pending_feedback or "(none)",
            }
            user = card.render("revise", **values)
        parsed = await t.caller.complete_json(
            Proposal, proposal_schema(), role=self.name, tag=self.seat.tag, round_no=n,
            system=card.render_system(values), user=user, temperature=self.seat.temperature,
            max_tokens=self.seat.max_tokens, seed=t.scenario.seed + n,
        )
        state.pending_feedback = None
        if parsed.value is not None and parsed.value.prompt.strip():
            return RoundRecord(round=n, prompt=parsed.value.prompt.strip(), changes=parsed.value.changes.strip())
        # Junk from the model: keep the chat going on the best prompt so far (or the raw text).
        fallback = (best.prompt if best else None) or (state.rounds[-1].prompt if state.rounds else None)
        raw = parsed.raw[-1].strip() if parsed.raw else ""
        prompt = fallback or raw or t.scenario.task.strip()
        return RoundRecord(round=n, prompt=prompt, changes=f"(reply unusable: {parsed.error}; kept the previous prompt)", origin="fallback")


class TaskExecutor(_Seated):
    """Runs the candidate on a train minibatch and on every dev example, concurrently; posts the minibatch outputs."""

    async def turn(self) -> Response:
        t, record, s = self.table, self.table.state.current(), self.table.scenario
        train = s.splits.train
        batch = random.Random(s.seed * 7919 + record.round).sample(train, min(s.minibatch, len(train)))
        batch.sort(key=train.index)
        todo = {e.id: e for e in [*batch, *s.splits.dev]}
        record.batch = [e.id for e in batch]
        record.outputs = await run_prompt(t, record.prompt, list(todo.values()), record.round)
        lines = [f"Ran prompt v{record.round} on {len(batch)} train examples"
                 + (f" and {len(todo) - len(batch)} more dev examples (scored for selection)." if len(todo) > len(batch) else ".")]
        for i, e in enumerate(batch, 1):
            lines.append(f"[{i}] input: {e.input}\n    output: {record.outputs[e.id]}")
        return Response(chat_message=_msg(self.name, "\n".join(lines), "outputs", record.round))


class Evaluator(_KeepsErrors):
    """Scores outputs against targets with the scenario's metric, and shows the failing train examples."""

    def __init__(self, table: Table, name: str = "evaluator"):
        super().__init__(name, "Scores outputs against the labeled targets and shows the failures.")
        self.table = table

    async def turn(self) -> Response:
        t, record, s = self.table, self.table.state.current(), self.table.scenario
        by_id = {e.id: e for e in [*s.splits.train, *s.splits.dev]}
        record.train = metric_results(t, [by_id[i] for i in record.batch], record.outputs)
        record.dev = metric_results(t, s.splits.dev, record.outputs)
        right = sum(1 for r in record.train.values() if r.score >= 1)
        lines = [f"Metric {t.metric.name if t.metric else ''} on v{record.round}: train {_fmt(record.train_score)} "
                 f"({right}/{len(record.train)} right), dev {_fmt(record.dev_score)} (n={len(record.dev)})."]
        failing = failures_text(t, record)
        if failing != "(none)":
            lines.append("Failing train examples (fix these without breaking what works):\n" + failing)
        return Response(chat_message=_msg(self.name, "\n".join(lines), "metric", record.round))


class CriticPanel(_KeepsErrors):
    """Every critic reviews the outputs blind (no prompt, no round number), concurrently;
    each review is posted under the critic's own name, then the panel's aggregate."""

    def __init__(self, table: Table, name: str = "critic_panel"):
        super().__init__(name, "The critics: each scores the outputs against the criteria and names failures.")
        self.table = table

    async def _stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        t, record, s = self.table, self.table.state.current(), self.table.scenario
        criteria = [c.name for c in s.criteria]
        by_id = {e.id: e for e in [*s.splits.train, *s.splits.dev]}
        # Labeled: the critics give feedback on the train minibatch; rubric-only: they also score dev.
        ids = record.batch if s.labeled else list(dict.fromkeys([*record.batch, *(e.id for e in s.splits.dev)]))
        items = [by_id[i] for i in ids]
        results, per_example = await panel_results(t, items, record.outputs, record.round, s.seed)
        record.critics = results
        record.panel = aggregate(results, criteria)
        record.panel.noise = await self._noise(items, record, results)
        if not s.labeled:
            record.train = {i: per_example[i] for i in record.batch if i in per_example}
            record.dev = {e.id: per_example[e.id] for e in s.splits.dev if e.id in per_example}
        inner = [_msg(r.critic, _format_review(r), "review", record.round) for r in results]
        for m in inner:
            yield m
        p = record.panel
        parts = [f"{c} {p.mean[c]:.1f}±{p.spread[c]:.1f}" for c in criteria if c in p.mean]
        alpha = p.agreement.get("value")
        summary = (
            f"Panel for v{record.round}: overall {_fmt(p.score)}"
            + (f" ±{p.spread['overall']:.1f}" if "overall" in p.spread else "")
            + f" ({p.n_parsed}/{p.n_critics} reviews parsed)"
            + (f"; {', '.join(parts)}" if parts else "")
            + (f"; agreement α={alpha:.2f}" if alpha is not None else "")
            + (f"; judge noise sd={p.noise['mean_sd']:.2f}" if p.noise.get("mean_sd") is not None else "")
        )
        yield Response(chat_message=_msg(self.name, summary, "panel", record.round), inner_messages=inner)

    async def _noise(self, items: list[Example], record: RoundRecord, results: list[CriticResult]) -> dict:
        """Re-score the same outputs with the first critic that parsed, to see how much its scores move."""
        t, repeats = self.table, self.table.scenario.noise_repeats
        first = next((r for r in results if r.review is not None), None)
        if first is None or repeats <= 0:
            return {}
        seat = next(c for c in t.critics if c.name == first.critic)
        again = await gather_all(review_outputs(t, seat, items, record.outputs, record.round, t.scenario.seed + k)
                                 for k in range(1, repeats + 1))
        runs = [first.review.per_output, *(r.review.per_output for r in again if r.review is not None)]
        if len(runs) < 2:
            return {"critic": seat.name, "repeats": repeats, "parsed": 0}
        per_item = [[float(run[i]) for run in runs] for i in range(len(items))]
        noise = judge_noise(per_item)
        return {"critic": seat.name, "repeats": repeats, "parsed": len(runs) - 1,
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in noise.items()}}


class Moderator(_Seated):
    """Keeps the best prompt (chosen on dev, by more than the noise), decides whether to stop,
    and tells the Prompt Engineer what to fix."""

    async def turn(self) -> Response:
        t, state = self.table, self.table.state
        record = state.current()
        stop = t.scenario.stop
        record.decision = decide(t, record)
        if record.decision.accepted:
            state.best_round, state.since_best = record.round, 0
        else:
            state.since_best += 1
        best = state.best()
        reason = None
        if stop.target_score is not None and best is not None and best.score is not None and best.score >= stop.target_score:
            reason = f"target score reached ({best.score:.2f} >= {stop.target_score})"
        elif state.since_best >= stop.patience:
            reason = f"no progress for {stop.patience} round{'s' if stop.patience > 1 else ''}"
        elif record.round >= t.rounds:
            reason = f"round limit reached ({t.rounds})"
        head = (f"Round {record.round}: dev {_fmt(record.dev_score)}, train {_fmt(record.train_score)}. "
                + ("New best" if record.decision.accepted else f"Best stays round {best.round} ({_fmt(best.score)})" if best else "No best yet")
                + f": {record.decision.reason}")
        if reason:
            state.stop_reason = reason
            best_txt = f"round {best.round} ({_fmt(best.score)})" if best else "none (no round was scored)"
            return Response(chat_message=StopMessage(source=self.name, content=f"{head}. Stopping: {reason}. Best prompt: {best_txt}.",
                                                     metadata={"kind": "stop", "round": str(record.round)}))
        record.focus = await self._focus(record)
        return Response(chat_message=_msg(self.name, f"{head}. Focus next: {record.focus}", "decision", record.round))

    async def _focus(self, record: RoundRecord) -> str:
        t = self.table
        p = record.panel
        crit = [c.name for c in t.scenario.criteria]
        scored = {c: p.mean[c] for c in crit if p and c in p.mean}
        weakest = min(scored, key=lambda c: scored[c]) if scored else None
        issues = [i for r in record.critics if r.review for i in r.review.issues][:6]
        default = f"raise '{weakest}' ({scored[weakest]:.1f}/10)" if weakest else "make the reviews parse: state the output format exactly"
        if issues:
            default += f"; first fix: {issues[0]}"
        values = t.base_values() | {
            "round": str(record.round),
            "scores": ", ".join(f"{c} {v:.1f}" for c, v in scored.items()) or "(no review parsed)",
            "weakest": weakest or "(unknown)",
            "issues": "\n".join(f"- {i}" for i in issues) or "- (none named)",
        }
        result = await t.caller.complete(
            role=self.name, tag=self.seat.tag, round_no=record.round,
            messages=[SystemMessage(content=self.seat.card.render_system(values)),
                      UserMessage(content=self.seat.card.render("focus", **values), source="user")],
            temperature=self.seat.temperature, max_tokens=self.seat.max_tokens, seed=t.scenario.seed,
        )
        note = result.content.strip() if isinstance(result.content, str) else ""
        note = " ".join(note.split())[:400]
        return f"{default}. {note}" if note else default


def decide(t: Table, record: RoundRecord) -> Decision:
    """Whether this round's candidate replaces the best so far, by the scenario's rule on dev."""
    best = t.state.best()
    if not record.dev:
        return Decision(accepted=False, rule="none", reason="no dev score (nothing could be scored)")
    if best is None or best.round == record.round:
        return Decision(accepted=True, rule="first", n=len(record.dev), reason="the first scored candidate")
    ids = [i for i in record.dev if i in best.dev]
    sel = t.scenario.selection
    margin = sel.min_effect
    noise = (record.panel.noise.get("mean_sd") if record.panel else None) or 0.0
    if not t.scenario.labeled and sel.noise_margin:
        margin += noise
    return t.accept.decide([record.dev[i].score for i in ids], [best.dev[i].score for i in ids], margin)


def _fmt(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.2f}"


def _trajectory(state: RunState) -> str:
    lines = []
    for r in state.rounds[-4:]:
        short = " ".join(r.prompt.split())
        short = short if len(short) <= 160 else short[:157] + "..."
        lines.append(f"- v{r.round} dev {_fmt(r.dev_score)}, train {_fmt(r.train_score)}: {short}")
    return "\n".join(lines) or "- (none)"


def _critiques(record: RoundRecord) -> str:
    lines = []
    for r in record.critics:
        if r.review is None:
            continue
        for i in r.review.issues[:2]:
            lines.append(f"- {r.critic}: {i}")
        for e in r.review.edits[:1]:
            lines.append(f"- {r.critic} suggests: {e}")
    return "\n".join(lines) or "- (no usable critique)"


def failures_text(t: Table, record: RoundRecord) -> str:
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
            lines.append(f"    output: {record.outputs.get(i, '')[:300]}\n    panel score: {score:.1f}/10")
    return "\n".join(lines) or "(none)"


def _format_review(r: CriticResult) -> str:
    if r.review is None:
        return f"(review unparseable: {r.error})"
    scores = ", ".join(f"{k} {v}" for k, v in r.review.scores.items())
    out = [f"Scores: {scores} (overall {r.review.overall():.1f}); per output: {r.review.per_output}"]
    out += [f"Issue: {i}" for i in r.review.issues]
    out += [f"Edit: {e}" for e in r.review.edits]
    return "\n".join(out)
