"""Result models: what a run (summary.json) and a comparison (compare.json) produced, as typed data
that report/ and console.py read without depending on the code that made them."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from ..config import Baseline, Split
from ..eval import Agreement, PanelAgreement, PanelNoise
from .usage import ModelUse, Usage
from .state import CandidateResult, Decision, Origin, ReviewerVerdict

# the ways compare makes a prompt, in the order they are shown
Arm = Literal["start", "single_shot", "best_of_n", "best_of_n_demos", "demos_only", "sequential"]
ARMS: tuple[Arm, ...] = get_args(Arm)
# Rubric scenarios run these only with `search.demos`: their examples are then the optimizer model's replies.
DEMO_ARMS: tuple[Arm, ...] = ("best_of_n_demos", "demos_only")
ARM_NAMES = {"start": "your prompt", "single_shot": "single-shot", "best_of_n": "best-of-N",
             "best_of_n_demos": "best-of-N with worked examples", "demos_only": "worked examples alone",
             "sequential": "sequential refinement"}


def score_text(x: float | None, width: int = 0) -> str:
    """A score with two decimals, or "n/a" when there is none, right-aligned to `width`."""
    return "n/a".rjust(width) if x is None else f"{x:{width}.2f}"


def agreement_text(agreement: Agreement | None) -> str:
    """The critics' agreement (Krippendorff's alpha) as shown: two decimals, or n/a with the reason when known."""
    if agreement is not None and agreement.value is not None:
        return f"{agreement.value:.2f}"
    note = agreement.note if agreement is not None else None
    return f"n/a ({note})" if note else "n/a"


class ReviewSummary(BaseModel):
    """A critic's parsed review of one round, in summary.json."""

    model_config = ConfigDict(extra="forbid")

    scores: dict[str, int]
    overall: float
    per_output: list[int]
    issues: list[str]
    edits: list[str]


class UnparsedReview(BaseModel):
    """A critic's review that could not be used: why, and the raw replies."""

    model_config = ConfigDict(extra="forbid")

    error: str | None
    raw: list[str]


class PanelSummary(BaseModel):
    """The panel's aggregate for one round, in summary.json."""

    mean: dict[str, float]
    median: dict[str, float]
    spread: dict[str, float]
    agreement: PanelAgreement
    noise: PanelNoise


class RoundSummary(BaseModel):
    """One round in summary.json."""

    round: int
    prompt: str
    changes: str
    origin: Origin
    critics: dict[str, ReviewSummary | UnparsedReview]
    mean: dict[str, float] = Field(default_factory=dict)
    spread: dict[str, float] = Field(default_factory=dict)
    score: float | None = None  # the dev score selection compared
    train_score: float | None = None
    dev_score: float | None = None
    panel: PanelSummary | None = None  # written as {} when the round has no panel
    selection: Decision | None = None  # the moderator's decision against the best so far
    focus: str | None = None
    candidates: list[CandidateResult] = Field(default_factory=list)  # labeled: every candidate the round tried
    judge_validity: float | None = None  # labeled: the critics' per-output scores against the metric (rank correlation)
    metric_errors: int = 0  # labeled: examples the metric failed on (a python metric that raised), each scored 0
    metric_error: str | None = None  # the first of those errors

    @field_validator("panel", mode="before")
    @classmethod
    def _empty_panel(cls, value: Any) -> Any:
        return value or None

    @field_serializer("panel")
    def _panel_or_empty(self, panel: PanelSummary | None) -> dict[str, Any]:
        return panel.model_dump(mode="json") if panel else {}


class HeldOutSummary(BaseModel):
    """The final prompt's held-out test score, in summary.json."""

    score: float
    ci_low: float
    ci_high: float
    n: int
    round: int
    per_example: dict[str, float]


class ReviewerScore(BaseModel):
    """The reviewer's /score for a round beside the panel's."""

    round: int
    reviewer: float
    panel: float | None
    combined: float | None


class ReviewerAgreement(BaseModel):
    """How far the reviewer and the panel (and the moderator's rule) agreed."""

    score_vs_panel_pearson: float | None
    n_scored: int
    approvals: int
    approvals_matching_moderator: int
    approval_match_rate: float | None


class ReviewerSummary(BaseModel):
    """The human reviewer's verdicts beside the panel's, and how far they agreed."""

    rounds: list[ReviewerVerdict]
    scores: list[ReviewerScore]
    agreement: ReviewerAgreement


class AgainstStart(BaseModel):
    """The final prompt against the user's own (candidate 0 of round 1), on the same dev examples."""

    start: float  # the start's dev mean over those examples
    final: float
    difference: float  # final − start
    n: int
    final_is_start: bool  # nothing beat the user's prompt: the final prompt is theirs

    def text(self) -> str:
        """The line the console and the report show."""
        if self.final_is_start:
            return (f"against your prompt: nothing beat it on dev (n = {self.n}, {self.start:.2f}); "
                    "the final prompt is your own")
        return f"against your prompt: {self.difference:+.2f} on dev (n = {self.n}; {self.start:.2f} -> {self.final:.2f})"


class Summary(BaseModel):
    """summary.json: what a user checks after a run."""

    scenario: str
    scenario_file: str | None
    run_dir: str
    started: str
    finished: str
    models: dict[str, ModelUse]
    rounds: list[RoundSummary]
    best_round: int | None
    best_score: float | None
    score_scale: str = "1-10 (critic panel)"
    test: HeldOutSummary | None = None  # the final prompt on held-out test
    majority: dict[Split, Baseline] = Field(default_factory=dict)  # labeled: always answering train's most frequent target
    reviewer: ReviewerSummary | None = None  # the human reviewer's verdicts and their agreement with the panel
    final_prompt: str | None
    against_start: AgainstStart | None = None  # the final prompt against the user's own, on dev
    stop_reason: str
    usage: Usage
    usage_by_role: dict[str, Usage]
    usage_by_round: dict[int, dict[str, Usage]] = Field(default_factory=dict)  # round -> role; round 0: the test scoring
    seconds: float


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
    calls: int = 0  # every completion used, from the network or the reply cache
    network_calls: int = 0
    cache_hits: int = 0  # replayed from the reply cache: they take no time, so `seconds` says little about speed
    network_seconds: float = 0.0  # time inside network calls, summed (calls side by side overlap)
    tokens: int = 0  # optimization tokens (prompt + completion) spent making the prompt
    test_tokens_per_query: float | None = None  # the executor's tokens per test input with this prompt
    cost_usd: float | None = None
    seconds: float = 0.0  # wall time
    rounds: list[RoundPoint] = Field(default_factory=list)  # sequential arm only
    candidates: int = 1  # best_of_n, best_of_n_demos: how many prompts were drawn
    dev_score: float | None = None  # the chosen prompt's dev score (the arms that choose on dev)
    unscored: int = 0  # test outputs no critic could score; they count as the scale's lowest score
    run_dir: str | None = None  # sequential, demos_only: the run folder of the chat


class JudgeSummary(BaseModel):
    """Win/tie/loss of one arm against `against`, over examples x repeats, with a 95% interval of the win rate."""

    model_config = ConfigDict(extra="forbid")

    against: str
    win: float = Field(ge=0, le=1)
    tie: float = Field(ge=0, le=1)
    loss: float = Field(ge=0, le=1)
    win_low: float = Field(ge=0, le=1)
    win_high: float = Field(ge=0, le=1)
    consistency: float | None  # share of pairs usable in both orders whose two orders agree
    n: int  # examples
    repeats: int


class ArmResult(BaseModel):
    """One arm over all repeats."""

    name: Arm
    score: float  # mean of the repeats' scores
    ci_low: float  # 95 % interval of the mean score (bootstrap over examples x repeats)
    ci_high: float
    repeats: list[ArmRepeat]
    calls: int  # summed over repeats
    network_calls: int = 0
    cache_hits: int = 0
    network_seconds: float = 0.0
    tokens: int  # optimization tokens, summed over repeats
    test_tokens_per_query: float | None = None  # mean over repeats
    cost_usd: float | None = None
    seconds: float
    judged: list[JudgeSummary] = Field(default_factory=list)  # rubric: the judge's win/tie/loss against start, sequential


class Difference(BaseModel):
    """A difference a − b over the same test examples and repeats: its t interval over repeats × examples
    (eval.repeated_difference), p-value, and the p-value after Holm's adjustment over the comparison's
    differences, which `significant` is decided on."""

    a: Arm
    b: Arm
    estimate: float
    ci_low: float
    ci_high: float
    wins: float  # share of examples where a scored higher
    ties: float
    losses: float
    significant: bool  # adjusted p < 0.05
    p_value: float | None = None  # two-sided t test, the repeat as the unit
    p_adjusted: float | None = None  # Holm over every difference of this comparison
    df: float | None = None  # degrees of freedom of the t test: repeats − 1 (examples − 1 with one repeat)


class ComparedExample(BaseModel):
    """A test example the arms were compared on, as shown in the report."""

    id: str
    input: str
    target: str | None = None


class CompareResult(BaseModel):
    """compare.json"""

    scenario: str
    metric: str  # what the score is: a metric name, or "panel" for rubric-only scenarios
    score_scale: Literal["0-1", "1-10"] = "0-1"
    repeats: int
    arms: dict[Arm, ArmResult]
    differences: list[Difference]
    verdict: str
    examples: list[ComparedExample]
    created: str
    models: dict[str, ModelUse] = Field(default_factory=dict)
    out_dir: str | None = None  # where compare.json, report.md and report.html were written
    majority: Baseline | None = None  # labeled: always answering train's most frequent target
    judge_consistency: float | None = None  # rubric: how often swapping the two outputs kept the judge's verdict
    judge_calls: int = 0  # rubric: the judge's calls (counted apart from every arm's)
