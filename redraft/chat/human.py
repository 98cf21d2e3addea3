"""The human at the table: after the critics, a reviewer reads the round brief and goes on, comments, edits
the prompt, scores it, approves it or stops (AgentChat's UserProxyAgent; its console is review_console.py)."""

from __future__ import annotations

from typing import AsyncGenerator, Sequence

from autogen_agentchat.agents import UserProxyAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage, TextMessage
from autogen_core import CancellationToken

from ..records import ReviewerVerdict, RoundRecord
from ..search import RunContext
from .review_console import ReviewConsole


class Reviewer(UserProxyAgent):
    """The human reviewer's seat: AgentChat's UserProxyAgent, whose answer redraft turns into an action."""

    def __init__(self, table: RunContext, console: ReviewConsole, *, weight: float = 1.0, name: str = "reviewer"):
        super().__init__(name, description="The human reviewer", input_func=console.ask)
        self.table = table
        self.console = console
        self.weight = weight

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage, StopMessage)

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        async for item in self.table.failed.watch(self._review(messages, cancellation_token)):
            yield item

    async def _review(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[Response, None]:
        answer = ""
        async for item in super().on_messages_stream(messages, cancellation_token):
            if isinstance(item, Response) and isinstance(item.chat_message, TextMessage):
                answer = item.chat_message.content
        yield await self.act(answer)

    async def act(self, answer: str) -> Response:
        """Turn the reviewer's answer into state changes and a chat message."""
        t, state = self.table, self.table.state
        record = state.current()
        verdict = ReviewerVerdict(round=record.round, action="continue", score=self.console.score,
                                  panel_score=record.panel.score if record.panel else None)
        if verdict.score is not None:
            verdict.combined_score = _combined(record, verdict.score, self.weight)
        text = answer.strip()
        stop = None
        if text == "/timeout":
            verdict.action = "timeout"
            content = "(no answer: going on)"
        elif text == "/edit":
            edited = await self.console.edit(record.prompt)
            if edited is None:
                content = "(edit left the prompt unchanged: going on)"
            else:
                verdict.action, verdict.text = "edit", edited
                state.pending_edit = edited
                content = f"Reviewer edited the prompt; it is the next candidate:\n{edited}"
        elif text == "/approve":
            decision = t.select.decide(state, record)
            verdict.action, verdict.moderator_would_accept = "approve", decision.accepted
            record.decision = decision
            state.best_round, state.since_best = record.round, 0
            stop = state.stop_reason = f"approved by the reviewer (round {record.round})"
            content = f"Reviewer approves prompt v{record.round}. Stopping."
        elif text == "/stop":
            decision = t.select.decide(state, record)
            record.decision = decision
            if decision.accepted:
                state.best_round, state.since_best = record.round, 0
            verdict.action = "stop"
            best = state.best()
            stop = state.stop_reason = "stopped by the reviewer"
            content = f"Reviewer stops the run; keeping the best prompt so far (round {best.round if best else 'none'})."
        elif text:
            verdict.action, verdict.text = "feedback", text
            state.pending_feedback = text
            content = f"Reviewer feedback for the next round: {text}"
        else:
            content = "(reviewer: go on)"
        if verdict.score is not None:
            content += f" [reviewer score {verdict.score:g}/10]"
        record.reviewer = verdict
        meta = {"kind": "reviewer", "round": str(record.round)}
        if stop:
            return Response(chat_message=StopMessage(source=self.name, content=content, metadata=meta))
        return Response(chat_message=TextMessage(source=self.name, content=content, metadata=meta))


def _combined(record: RoundRecord, score: float, weight: float) -> float:
    """The panel's overall mean with the reviewer counted as one more judge of the given weight."""
    critics = [r.review.overall() for r in record.critics if r.review is not None]
    return round((sum(critics) + weight * score) / (len(critics) + weight), 3)
