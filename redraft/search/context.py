"""The run context every seat shares: the scenario, the seats with their models, the caller, the
metric, the selection and stop policies, and the run state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

from autogen_core import CancellationToken

from ..config import AgentCard, Metric, Scenario
from ..llm import Caller, ModelProvider, Sampling
from ..records import ModelUse
from ..records import RunState
from .selection import BestOnDev, StopRule

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

    @property
    def sampling(self) -> Sampling:
        """What the caller needs to call this seat's model: role, tag and sampling settings."""
        return Sampling(role=self.name, tag=self.tag, temperature=self.temperature, max_tokens=self.max_tokens)


@dataclass
class FailedTurn:
    """The original exception of the turn that failed. AgentChat re-raises a seat's exception as
    RuntimeError(str); the run reports (and re-raises) this one instead."""

    error: BaseException | None = None

    async def watch(self, turn: AsyncIterator[T]) -> AsyncIterator[T]:
        """Pass a turn's messages through, keeping the first exception it raises."""
        try:
            async for item in turn:
                yield item
        except Exception as exc:
            if self.error is None:
                self.error = exc
            raise

    def original(self, exc: BaseException) -> BaseException:
        """The exception a failed turn raised, or `exc` when no turn failed."""
        return self.error or exc


@dataclass
class RunContext:
    """What every agent shares: the scenario, the seats, the caller, the metric, the policies and the run state."""

    scenario: Scenario
    engineer: Seat
    executor: Seat
    critics: list[Seat]
    moderator: Seat
    caller: Caller
    state: RunState
    rounds: int
    select: BestOnDev
    stop: StopRule
    metric: Metric | None = None
    failed: FailedTurn = field(default_factory=FailedTurn)
    interrupted_by: str | None = None  # "Ctrl-C" or "SIGTERM", once one has stopped the run

    @property
    def cancel(self) -> CancellationToken:
        """The run's cancel token: the one its caller was built with, so Ctrl-C also aborts the calls in flight."""
        return self.caller.cancel_token

    @property
    def seats(self) -> list[Seat]:
        """Every seat, in the order of the round."""
        return [self.engineer, self.executor, *self.critics, self.moderator]

    def models_used(self, models: ModelProvider) -> dict[str, ModelUse]:
        """Per role, the model it uses (no secrets)."""
        return {s.name: ModelUse.of(s.tag, s.temperature, s.max_tokens, models.endpoint(s.tag).description)
                for s in self.seats}

    def base_values(self) -> dict[str, str]:
        """Template variables every card may use."""
        return template_values(self.scenario, self.state.round)


def template_values(scenario: Scenario, round_no: int) -> dict[str, str]:
    """Template variables every card may use: the task, the criteria, a few examples and the round."""
    shown = scenario.splits.train[:3]
    if scenario.labeled:
        examples = "\n".join(f"- input: {e.input}\n  expected output: {e.target}" for e in shown)
    else:
        examples = "\n".join(f"- {e.input}" for e in shown)
    return {
        "task": scenario.task.strip(),
        "criteria": "\n".join(f"- {c.name}: {c.description.strip()}" for c in scenario.criteria),
        "examples": examples,
        "round": str(round_no),
    }
