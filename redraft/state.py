"""The run's typed state: every round's prompt, outputs, scores and reviews, and the best so far."""

from __future__ import annotations

import statistics

from pydantic import BaseModel, Field

from .critique import CriticResult, PanelStats
from .selection import Decision


class ExampleResult(BaseModel):
    """One example's score, and what the metric extracted (shown for failures)."""

    score: float
    extracted: str | None = None
    feedback: str | None = None


class RoundRecord(BaseModel):
    """Everything one round produced."""

    round: int
    prompt: str
    changes: str = ""
    origin: str = "prompt_engineer"  # prompt_engineer | seed | fallback
    batch: list[str] = Field(default_factory=list)  # train example ids run this round
    outputs: dict[str, str] = Field(default_factory=dict)  # example id -> output (train batch and dev)
    train: dict[str, ExampleResult] = Field(default_factory=dict)
    dev: dict[str, ExampleResult] = Field(default_factory=dict)
    critics: list[CriticResult] = Field(default_factory=list)
    panel: PanelStats | None = None
    decision: Decision | None = None
    reviewer: dict | None = None  # the human reviewer's verdict (reviewer.ReviewerVerdict)
    focus: str | None = None

    @property
    def train_score(self) -> float | None:
        """Mean score on this round's train minibatch."""
        return _mean(self.train)

    @property
    def dev_score(self) -> float | None:
        """Mean score on dev: what selection uses."""
        return _mean(self.dev)

    @property
    def score(self) -> float | None:
        """The score selection compares (dev)."""
        return self.dev_score


class TestResult(BaseModel):
    """The final prompt on the held-out test examples, scored once at the end."""

    __test__ = False  # not a pytest class

    round: int
    score: float
    ci_low: float
    ci_high: float
    n: int
    per_example: dict[str, ExampleResult]
    outputs: dict[str, str]


class RunState(BaseModel):
    """Where the chat stands; checkpointed after every turn so a run can be resumed."""

    rounds: list[RoundRecord] = Field(default_factory=list)
    best_round: int | None = None
    since_best: int = 0
    stop_reason: str | None = None
    test: TestResult | None = None
    pending_edit: str | None = None  # the reviewer's edited prompt: the next candidate
    pending_feedback: str | None = None  # the reviewer's feedback: the engineer must address it next

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


def _mean(results: dict[str, ExampleResult]) -> float | None:
    return round(statistics.fmean(r.score for r in results.values()), 4) if results else None
