"""Compare single-shot, best-of-N and sequential refinement on the same held-out inputs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .stats import Interval


class RoundPoint(BaseModel):
    """One round of a sequential repeat: its prompt and scores."""

    round: int
    prompt: str
    train_score: float | None = None
    dev_score: float | None = None


class ArmRepeat(BaseModel):
    """One repeat (seed) of one arm, scored on the test inputs."""

    seed: int
    prompt: str  # the prompt this repeat produced (chosen on dev where the arm chooses)
    score: float  # mean over test examples
    per_example: list[float]  # test score per example, in the order of CompareResult.examples
    outputs: list[str] = Field(default_factory=list)  # the model's output per test example
    calls: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0
    rounds: list[RoundPoint] = Field(default_factory=list)  # sequential arm only
    candidates: int = 1  # best_of_n: how many prompts were drawn


class ArmResult(BaseModel):
    """One arm over all repeats."""

    name: str  # single_shot | best_of_n | sequential
    score: float  # mean of the repeats' scores
    ci_low: float  # 95 % interval of the mean score (bootstrap over examples x repeats)
    ci_high: float
    repeats: list[ArmRepeat]
    calls: int  # summed over repeats
    tokens: int
    cost_usd: float | None = None
    seconds: float


class Difference(BaseModel):
    """A paired difference a − b over the same test examples (averaged over repeats)."""

    a: str
    b: str
    estimate: float
    ci_low: float
    ci_high: float
    wins: float  # share of examples where a scored higher
    ties: float
    losses: float
    significant: bool


class Example(BaseModel):
    """A test example as shown in the report."""

    id: str
    input: str
    target: str | None = None


class CompareResult(BaseModel):
    """compare.json"""

    scenario: str
    metric: str  # what the score is: a metric name, or "panel" for rubric-only scenarios
    score_scale: str = "0-1"
    repeats: int
    arms: dict[str, ArmResult]
    differences: list[Difference]
    verdict: str
    examples: list[Example]
    created: str
    models: dict[str, dict] = Field(default_factory=dict)


__all__ = ["ArmRepeat", "ArmResult", "CompareResult", "Difference", "Example", "Interval", "RoundPoint"]
