"""The run's typed state: every round's prompt, outputs, reviews and scores, and the best so far."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .review import CriticResult, PanelStats


class RoundRecord(BaseModel):
    """Everything one round produced."""

    round: int
    prompt: str
    changes: str = ""
    origin: str = "prompt_engineer"  # prompt_engineer | seed | fallback
    outputs: list[str] = Field(default_factory=list)
    critics: list[CriticResult] = Field(default_factory=list)
    panel: PanelStats | None = None
    focus: str | None = None

    @property
    def score(self) -> float | None:
        """The panel's overall mean, or None when no review parsed."""
        return self.panel.score if self.panel else None


class RunState(BaseModel):
    """Where the chat stands; saved after every turn so a run can be resumed."""

    rounds: list[RoundRecord] = Field(default_factory=list)
    best_round: int | None = None
    since_best: int = 0
    stop_reason: str | None = None

    @property
    def round(self) -> int:
        """The number of the round in progress (0 before the first proposal)."""
        return len(self.rounds)

    def current(self) -> RoundRecord:
        """The round in progress."""
        return self.rounds[-1]

    def best(self) -> RoundRecord | None:
        """The best round so far (not simply the last)."""
        return self.rounds[self.best_round - 1] if self.best_round else None
