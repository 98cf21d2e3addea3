"""What critics and the Prompt Engineer return (validated structures), and how a panel is aggregated."""

from __future__ import annotations

import re
import statistics
from typing import Annotated, Any, NamedTuple

from pydantic import (BaseModel, BeforeValidator, Field, SerializerFunctionWrapHandler, WrapSerializer, field_validator,
                      model_serializer)

from .repetition import cut_loop
from .stats import describe, krippendorff_alpha, no_variation

ISSUE_MAX = 120
NO_VARIATION = "no variation"
PROMPT_MAX = 1200


class ReplyList(NamedTuple):
    """A list in a critic's reply: how many items at most, and what they are."""

    max_items: int
    what: str


# A review's shape, the one source for both the JSON schema and the text a critic's card shows ($reply_shape).
SCORE_RANGE = (1, 10)  # each criterion and each output
REVIEW_LISTS = {"issues": ReplyList(3, "concrete failures"), "edits": ReplyList(2, "changes to the prompt that would fix them")}


class Proposal(BaseModel):
    """The Prompt Engineer's reply: the new prompt and what changed."""

    prompt: str = Field(min_length=1, max_length=PROMPT_MAX * 2)
    changes: str = Field(default="", max_length=1000)

    @field_validator("prompt", "changes")
    @classmethod
    def _no_loop(cls, text: str) -> str:
        return cut_loop(text)


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
    per_output: list[int] = Field(default_factory=list)  # an overall 1-10 score for each output, in order
    issues: list[str] = Field(default_factory=list)
    edits: list[str] = Field(default_factory=list)

    @field_validator("issues", "edits")
    @classmethod
    def _no_loop(cls, items: list[str]) -> list[str]:
        return [cut_loop(text) for text in items]

    def overall(self) -> float:
        """The mean of this critic's criterion scores."""
        return statistics.fmean(self.scores.values())


def review_schema(criteria: list[str], n_outputs: int) -> dict[str, Any]:
    """JSON schema for a Review over these criteria (1–10 each) and outputs, with bounded lists and strings."""
    low, high = SCORE_RANGE
    item = {"type": "string", "maxLength": ISSUE_MAX}
    score = {"type": "integer", "minimum": low, "maximum": high}
    lists = {name: {"type": "array", "items": item, "maxItems": spec.max_items} for name, spec in REVIEW_LISTS.items()}
    return {
        "type": "object",
        "properties": {
            "scores": {
                "type": "object",
                "properties": {c: dict(score) for c in criteria},
                "required": list(criteria),
                "additionalProperties": False,
            },
            "per_output": {"type": "array", "items": score, "minItems": n_outputs, "maxItems": n_outputs},
            **lists,
        },
        "required": ["scores", "per_output", *REVIEW_LISTS],
        "additionalProperties": False,
    }


def review_values(criteria: list[str], n_outputs: int) -> dict[str, str]:
    """The reply shape as template variables: $reply_shape whole, and $score_keys and $n_outputs for cards of
    their own; from the same definition as review_schema."""
    low, high = SCORE_RANGE
    score_keys = ", ".join(f'"{c}": {low}-{high}' for c in criteria)
    lists = ", ".join(f'"{name}": [up to {spec.max_items} {spec.what}]' for name, spec in REVIEW_LISTS.items())
    # The line break keeps the shipped review template's wording byte for byte as it was written by hand.
    shape = (f'{{"scores": {{{score_keys}}}, "per_output": [{n_outputs} scores {low}-{high}, one per output, in order],\n'
             f"{lists}}}")
    return {"score_keys": score_keys, "n_outputs": str(n_outputs), "reply_shape": shape}


def check_review(criteria: list[str], n_outputs: int):  # noqa: ANN201 - returns a validator closure
    """A validator: every criterion scored, one score per output, each in 1..10."""
    low, high = SCORE_RANGE

    def check(review: Review) -> None:
        missing = [c for c in criteria if c not in review.scores]
        if missing:
            raise ValueError(f"scores is missing criteria: {', '.join(missing)}")
        extra = [c for c in review.scores if c not in criteria]
        if extra:
            raise ValueError(f"scores has unknown criteria: {', '.join(extra)}; expected {', '.join(criteria)}")
        bad = {c: s for c, s in review.scores.items() if not low <= s <= high}
        if bad:
            raise ValueError(f"scores must be integers from {low} to {high}, got {bad}")
        if len(review.per_output) != n_outputs:
            raise ValueError(f"per_output must have exactly {n_outputs} scores, one per output; got {len(review.per_output)}")
        if any(not low <= s <= high for s in review.per_output):
            raise ValueError(f"per_output scores must be integers from {low} to {high}")
        echo = echoed_shape(review)
        if echo:
            raise ValueError(f"the reply copies the requested shape instead of reviewing the outputs: {echo}")

    return check


_PLACEHOLDERS = {re.sub(r"\W+", " ", text).strip() for spec in REVIEW_LISTS.values()
                 for text in (spec.what, f"up to {spec.max_items} {spec.what}")}


def echoed_shape(review: Review) -> str | None:
    """What shows that a review only echoes the reply shape it was shown ($reply_shape) instead of reviewing:
    an issue or edit that is a score range, a number or the placeholder text, or per-output scores that
    count 1, 2, 3, ... (the shape says "[4 scores 1-10, one per output, in order]"). None for a real review."""
    for name in REVIEW_LISTS:
        for i, text in enumerate(getattr(review, name)):
            words = re.sub(r"\W+", " ", text.lower()).strip()
            if not re.search(r"[^\W\d_]{2}", text) or words in _PLACEHOLDERS:
                return f"{name}[{i}] is {text!r}, not a failure or a fix in words"
    n = len(review.per_output)
    if n >= 3 and review.per_output == list(range(1, n + 1)):
        return f"per_output is {review.per_output}, a count, not a score for each output"
    return None


class CriticResult(BaseModel):
    """A critic's review as recorded: parsed, or unparseable with the raw replies."""

    critic: str
    review: Review | None = None
    error: str | None = None
    raw: list[str] = Field(default_factory=list)


class _LeavesOutAbsent(BaseModel):
    """A record whose optional keys (those that default to None) are left out of its JSON while None, as
    they were when it was a dict; keys that are required stay, null or not."""

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields = type(self).model_fields
        return {k: v for k, v in handler(self).items() if v is not None or fields[k].is_required()}


class Agreement(_LeavesOutAbsent):
    """How far the critics agreed on the outputs they scored: Krippendorff's alpha, interval metric."""

    method: str = "krippendorff_alpha_interval"
    value: float | None  # None when it cannot be measured (too few raters or ratings, or no variation)
    raters: int  # critics whose review parsed
    units: int  # outputs scored
    note: str | None = None  # why value is None, when known (NO_VARIATION)


class JudgeNoise(_LeavesOutAbsent):
    """How much one critic's per-output scores move when it re-scores the same outputs."""

    critic: str | None  # the first critic whose review parsed; None when none did
    repeats: int  # re-scorings asked for (noise_repeats)
    parsed: int  # re-scorings that parsed
    note: str | None = None  # why nothing was re-scored
    mean_sd: float | None = None  # per output, the population standard deviation of its scores; their mean
    max_sd: float | None = None
    items: int | None = None  # outputs scored more than once


def _none_if_empty(value: Any) -> Any:
    return value or None


def _empty_if_none(value: BaseModel | None, handler: SerializerFunctionWrapHandler) -> Any:
    return {} if value is None else handler(value)


# Written as {} when there is none, as they were when dicts (and read back from {} as None).
PanelAgreement = Annotated[Agreement | None, BeforeValidator(_none_if_empty), WrapSerializer(_empty_if_none)]
PanelNoise = Annotated[JudgeNoise | None, BeforeValidator(_none_if_empty), WrapSerializer(_empty_if_none)]


class PanelStats(BaseModel):
    """The panel's aggregate per criterion and overall (mean, median, spread = population standard
    deviation across critics), the critics' agreement, and the judges' own noise."""

    mean: dict[str, float]
    median: dict[str, float] = Field(default_factory=dict)
    spread: dict[str, float]
    score: float | None
    n_parsed: int
    n_critics: int
    agreement: PanelAgreement = None
    noise: PanelNoise = None  # None without re-scoring (noise_repeats 0)


def aggregate(results: list[CriticResult], criteria: list[str]) -> PanelStats:
    """Mean, median and spread across the critics whose reviews parsed, and their agreement on the outputs."""
    parsed = [r.review for r in results if r.review is not None]
    mean: dict[str, float] = {}
    median: dict[str, float] = {}
    spread: dict[str, float] = {}

    def put(key: str, vals: list[float]) -> None:
        d = describe(vals)
        if d:
            mean[key], median[key], spread[key] = round(d["mean"], 3), round(d["median"], 3), round(d["spread"], 3)

    for c in criteria:
        put(c, [float(r.scores[c]) for r in parsed])
    put("overall", [r.overall() for r in parsed])
    # Agreement over the outputs each critic scored: Krippendorff's alpha, interval metric (scores are 1-10).
    ratings = [[float(x) for x in r.review.per_output] if r.review else None for r in results]
    n_units = max((len(r) for r in ratings if r), default=0)
    table = [r if r else [None] * n_units for r in ratings]
    alpha = krippendorff_alpha(table, level="interval") if n_units and len(parsed) >= 2 else None
    # Every critic gave every output the same score: alpha is 0/0 there, not 1.
    note = NO_VARIATION if alpha is None and len(parsed) >= 2 and no_variation(table) else None
    agreement = Agreement(value=None if alpha is None else round(alpha, 3), raters=len(parsed), units=n_units, note=note)
    return PanelStats(mean=mean, median=median, spread=spread, score=mean.get("overall"), n_parsed=len(parsed),
                      n_critics=len(results), agreement=agreement)


def per_output_panel(results: list[CriticResult], n_outputs: int) -> list[float | None]:
    """Each output's panel score: the mean over critics of their per-output scores."""
    out: list[float | None] = []
    for i in range(n_outputs):
        vals = [r.review.per_output[i] for r in results if r.review and len(r.review.per_output) == n_outputs]
        out.append(round(sum(vals) / len(vals), 3) if vals else None)
    return out
