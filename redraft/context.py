"""The run context every seat shares: the scenario, the seats with their models, the caller, the
metric and the run state."""

from __future__ import annotations

from dataclasses import dataclass, field

from .cards import AgentCard
from .llm import Caller
from .metrics import Metric
from .scenario import Scenario, Selection
from .selection import Acceptance, acceptance
from .state import RunState


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
class RunContext:
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
    accept: Acceptance = field(default_factory=lambda: acceptance(Selection()))

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
