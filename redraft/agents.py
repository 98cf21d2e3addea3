"""The four seats at the table as AgentChat agents. Each builds its own request from the run state,
so a small model sees a short, focused context instead of the whole chat."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncGenerator, Sequence

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage, TextMessage
from autogen_core import CancellationToken
from autogen_core.models import SystemMessage, UserMessage

from .cards import AgentCard
from .llm import Caller
from .review import CriticResult, Proposal, Review, aggregate, check_review, proposal_schema, review_schema
from .scenario import Scenario
from .state import RoundRecord, RunState


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
    """What every agent shares: the scenario, the seats, the caller and the run state."""

    scenario: Scenario
    engineer: Seat
    executor: Seat
    critics: list[Seat]
    moderator: Seat
    caller: Caller
    state: RunState
    rounds: int

    def base_values(self) -> dict[str, str]:
        """Template variables every card may use."""
        s = self.scenario
        return {
            "task": s.task.strip(),
            "criteria": "\n".join(f"- {c.name}: {c.description.strip()}" for c in s.criteria),
            "examples": "\n".join(f"- {x}" for x in s.task_inputs[:3]),
            "round": str(self.state.round),
        }


def _msg(source: str, content: str, kind: str, round_no: int) -> TextMessage:
    return TextMessage(source=source, content=content, metadata={"kind": kind, "round": str(round_no)})


class _KeepsErrors(BaseChatAgent):
    """AgentChat turns an agent's exception into RuntimeError(str); keep the original for the caller."""

    table: Table

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

    async def _stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        yield await self.on_messages(messages, cancellation_token)


class _Seated(_KeepsErrors):
    def __init__(self, seat: Seat, table: Table):
        super().__init__(seat.name, seat.card.description.strip())
        self.seat = seat
        self.table = table

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage, StopMessage)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        pass


class PromptEngineer(_Seated):
    """Proposes prompt vN: drafts from a meta-instruction, or edits the best prompt so far."""

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        t, state, s = self.table, self.table.state, self.table.scenario
        n = state.round + 1
        if n == 1 and s.seed_prompt:
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
        if best is None and not state.rounds:
            user = card.render("draft", **values)
        else:
            anchor = best or state.rounds[-1]
            values |= {
                "best_round": str(anchor.round),
                "best_score": _fmt(anchor.score),
                "best_prompt": anchor.prompt,
                "trajectory": _trajectory(state),
                "critiques": _critiques(state.rounds[-1]),
                "focus": state.rounds[-1].focus or "the weakest criterion",
            }
            user = card.render("revise", **values)
        parsed = await t.caller.complete_json(
            Proposal, proposal_schema(), role=self.name, tag=self.seat.tag, round_no=n,
            system=card.render_system(values), user=user, temperature=self.seat.temperature,
            max_tokens=self.seat.max_tokens, seed=t.scenario.seed + n,
        )
        if parsed.value is not None and parsed.value.prompt.strip():
            return RoundRecord(round=n, prompt=parsed.value.prompt.strip(), changes=parsed.value.changes.strip())
        # Junk from the model: keep the chat going on the best prompt so far (or the raw text).
        fallback = (best.prompt if best else None) or (state.rounds[-1].prompt if state.rounds else None)
        raw = parsed.raw[-1].strip() if parsed.raw else ""
        prompt = fallback or raw or t.scenario.task.strip()
        return RoundRecord(round=n, prompt=prompt, changes=f"(reply unusable: {parsed.error}; kept the previous prompt)", origin="fallback")


class TaskExecutor(_Seated):
    """Runs the candidate prompt on every input, concurrently, and posts the outputs."""

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        t, record = self.table, self.table.state.current()
        limit = asyncio.Semaphore(t.scenario.concurrency)

        async def run_one(i: int, item: str) -> str:
            values = t.base_values() | {"prompt": record.prompt, "input": item}
            async with limit:
                result = await t.caller.complete(
                    role=self.name, tag=self.seat.tag, round_no=record.round,
                    messages=[SystemMessage(content=self.seat.card.render_system(values)),
                              UserMessage(content=self.seat.card.render("run", **values), source="user")],
                    temperature=self.seat.temperature, max_tokens=self.seat.max_tokens, seed=t.scenario.seed + i,
                )
            return result.content.strip() if isinstance(result.content, str) else str(result.content)

        record.outputs = list(await asyncio.gather(*(run_one(i, x) for i, x in enumerate(t.scenario.task_inputs))))
        lines = [f"Ran prompt v{record.round} on {len(record.outputs)} inputs."]
        for i, (x, y) in enumerate(zip(t.scenario.task_inputs, record.outputs), 1):
            lines.append(f"[{i}] input: {x}\n    output: {y}")
        return Response(chat_message=_msg(self.name, "\n".join(lines), "outputs", record.round))


class CriticPanel(_KeepsErrors):
    """Every critic reviews the outputs blind (no prompt, no round number), concurrently;
    each review is posted under the critic's own name, then the panel's aggregate."""

    def __init__(self, table: Table, name: str = "critic_panel"):
        super().__init__(name, "The critics: each scores the outputs against the criteria and names failures.")
        self.table = table

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage,)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        pass

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
        t, record = self.table, self.table.state.current()
        criteria = [c.name for c in t.scenario.criteria]
        results = await asyncio.gather(*(self._review(seat, record, criteria) for seat in t.critics))
        record.critics = list(results)
        record.panel = aggregate(record.critics, criteria)
        inner = [_msg(r.critic, _format_review(r), "review", record.round) for r in results]
        for m in inner:
            yield m
        p = record.panel
        parts = [f"{c} {p.mean[c]:.1f}±{p.spread[c]:.1f}" for c in criteria if c in p.mean]
        summary = (
            f"Panel for v{record.round}: overall {_fmt(p.score)}"
            + (f" ±{p.spread['overall']:.1f}" if "overall" in p.spread else "")
            + f" ({p.n_parsed}/{p.n_critics} reviews parsed)"
            + (f"; {', '.join(parts)}" if parts else "")
        )
        yield Response(chat_message=_msg(self.name, summary, "panel", record.round), inner_messages=inner)

    async def _review(self, seat: Seat, record: RoundRecord, criteria: list[str]) -> CriticResult:
        t, card = self.table, seat.card
        outputs = "\n".join(
            f"[{i}] input: {x}\n    output: {y or '(empty)'}"
            for i, (x, y) in enumerate(zip(t.scenario.task_inputs, record.outputs), 1)
        )
        values = t.base_values() | {
            "focus": card.focus or "",
            "rubric": "\n".join(f"- {r}" for r in card.rubric),
            "outputs": outputs,
            "score_keys": ", ".join(f'"{c}": 1-10' for c in criteria),
        }
        parsed = await t.caller.complete_json(
            Review, review_schema(criteria), role=seat.name, tag=seat.tag, round_no=record.round,
            system=card.render_system(values), user=card.render("review", **values),
            temperature=seat.temperature, max_tokens=seat.max_tokens, seed=t.scenario.seed,
            check=check_review(criteria),
        )
        return CriticResult(critic=seat.name, review=parsed.value, error=parsed.error if parsed.value is None else None, raw=parsed.raw)


class Moderator(_Seated):
    """Keeps the best prompt, decides whether to stop, and tells the Prompt Engineer what to fix."""

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        t, state = self.table, self.table.state
        record = state.current()
        stop = t.scenario.stop
        best = state.best()
        improved = record.score is not None and (best is None or best.score is None or record.score > best.score + stop.min_delta)
        if improved:
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
        head = (
            f"Round {record.round}: score {_fmt(record.score)}"
            + (" (new best)" if improved else f"; best stays round {best.round} ({_fmt(best.score)})" if best else "")
        )
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


def _fmt(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.2f}"


def _trajectory(state: RunState) -> str:
    lines = []
    for r in state.rounds[-4:]:
        short = " ".join(r.prompt.split())
        short = short if len(short) <= 160 else short[:157] + "..."
        lines.append(f"- v{r.round} score {_fmt(r.score)}: {short}")
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


def _format_review(r: CriticResult) -> str:
    if r.review is None:
        return f"(review unparseable: {r.error})"
    scores = ", ".join(f"{k} {v}" for k, v in r.review.scores.items())
    out = [f"Scores: {scores} (overall {r.review.overall():.1f})"]
    out += [f"Issue: {i}" for i in r.review.issues]
    out += [f"Edit: {e}" for e in r.review.edits]
    return "\n".join(out)
