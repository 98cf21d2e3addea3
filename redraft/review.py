"""What critics and the Prompt Engineer return (validated structures), and how a panel is aggregated."""

from __future__ import annotations

import statistics
from typing import Any

from pydantic import BaseModel, Field

ISSUE_MAX = 200
PROMPT_MAX = 2000


class Proposal(BaseModel):
    """The Prompt Engineer's reply: the new prompt and what changed."""

    prompt: str = Field(min_length=1, max_length=PROMPT_MAX * 2)
    changes: str = Field(default="", max_length=1000)


def proposal_schema() -> dict[str, Any]:
    """JSON schema for Proposal, bounded so a small model cannot ramble past max_tokens."""
    return {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 20, "maxLength": PROMPT_MAX},
            "changes": {"type": "string", "maxLength": 300},
        },
        "required": ["prompt", "changes"],
        "additionalProperties": False,
    }


class Review(BaseModel):
    """One critic's verdict on one candidate's outputs."""

    scores: dict[str, int]
    issues: list[str] = Field(default_factory=list)
    edits: list[str] = Field(default_factory=list)

    def overall(self) -> float:
        """The mean of this critic's criterion scores."""
        return statistics.fmean(self.scores.values())


def review_schema(criteria: list[str]) -> dict[str, Any]:
    """JSON schema for a Review over these criteria (1–10 each), with bounded lists and strings."""
    item = {"type": "string", "maxLength": ISSUE_MAX}
    return {
        "type": "object",
        "properties": {
            "scores": {
                "type": "object",
                "properties": {c: {"type": "integer", "minimum": 1, "maximum": 10} for c in criteria},
                "required": list(criteria),
                "additionalProperties": False,
            },
            "issues": {"type": "array", "items": item, "maxItems": 3},
            "edits": {"type": "array", "items": item, "maxItems": 2},
        },
        "required": ["scores", "issues", "edits"],
        "additionalProperties": False,
    }


def check_review(criteria: list[str]):  # noqa: ANN201 - returns a validator closure
    """A validator: every criterion scored, each score in 1..10, no unknown criterion."""

    def check(review: Review) -> None:
        missing = [c for c in criteria if c not in review.scores]
        if missing:
            raise ValueError(f"scores is missing criteria: {', '.join(missing)}")
        extra = [c for c in review.scores if c not in criteria]
        if extra:
            raise ValueError(f"scores has unknown criteria: {', '.join(extra)}; expected {', '.join(criteria)}")
        bad = {c: s for c, s in review.scores.items() if not 1 <= s <= 10}
        if bad:
            raise ValueError(f"scores must be integers from 1 to 10, got {bad}")

    return check


class CriticResult(BaseModel):
    """A critic's review as recorded: parsed, or unparseable with the raw replies."""

    critic: str
    review: Review | None = None
    error: str | None = None
    raw: list[str] = Field(default_factory=list)


class PanelStats(BaseModel):
    """The panel's aggregate: mean and spread (population standard deviation) per criterion and overall."""

    mean: dict[str, float]
    spread: dict[str, float]
    score: float | None
    n_parsed: int
    n_critics: int


def aggregate(results: list[CriticResult], criteria: list[str]) -> PanelStats:
    """Mean and spread across the critics whose reviews parsed."""
    parsed = [r.review for r in results if r.review is not None]
    mean: dict[str, float] = {}
    spread: dict[str, float] = {}
    for c in criteria:
        vals = [float(r.scores[c]) for r in parsed]
        if vals:
            mean[c] = round(statistics.fmean(vals), 3)
            spread[c] = round(statistics.pstdev(vals), 3)
    overall = [r.overall() for r in parsed]
    score = None
    if overall:
        score = round(statistics.fmean(overall), 3)
        mean["overall"] = score
        spread["overall"] = round(statistics.pstdev(overall), 3)
    return PanelStats(mean=mean, spread=spread, score=score, n_parsed=len(parsed), n_critics=len(results))
