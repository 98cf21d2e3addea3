"""The run's typed state: every round's prompt, outputs, scores and reviews, and the best so far."""

from __future__ import annotations

import statistics
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import ExampleResult
from ..eval import CriticResult, PanelStats
from .candidate import Candidate, Evaluation, Operator

Origin = Literal["prompt_engineer"] | Operator  # who or which edit wrote a round's prompt
ReviewerAction = Literal["continue", "feedback", "edit", "approve", "stop", "timeout"]


Pick = Literal["first", "second", "tie"]


class PairVerdict(BaseModel):
    """Two outputs for one example judged in both orders; `preference` is first's over second (1 win, 0.5 tie,
    0 loss)."""

    model_config = ConfigDict(extra="forbid")

    example_id: str
    forward: Pick | None  # first shown as A
    backward: Pick | None  # second shown as A, translated back to first/second
    preference: float | None  # mean over the usable orders; None when neither was usable
    consistent: bool | None  # both orders usable and agreeing; None when either was unusable
    asked: bool = True  # False: the outputs were identical, a tie without a call


class Decision(BaseModel):
    """The outcome of comparing a candidate with the best so far on the same dev examples."""

    accepted: bool
    rule: Literal["none", "first", "bootstrap", "mean", "pairwise"]
    estimate: float | None = None  # mean of candidate − best over paired dev examples
    ci_low: float | None = None
    ci_high: float | None = None
    margin: float = 0.0  # what the win had to clear
    n: int = 0
    reason: str


class CandidateResult(BaseModel):
    """One candidate of a round as the transcript and summary show it."""

    key: str
    operator: Operator
    changes: str = ""
    screen: float | None = None  # mean on the round's train minibatch
    parent_screen: float | None = None  # the parent's mean on the same minibatch
    dev: float | None = None  # mean on dev, when it got that far
    chosen: bool = False  # the round's record is this candidate


class ReviewerVerdict(BaseModel):
    """What the human reviewer did in one round."""

    round: int
    action: ReviewerAction
    text: str | None = None
    score: float | None = None
    panel_score: float | None = None  # the panel's overall mean, for agreement with /score
    combined_score: float | None = None  # panel and reviewer, weighted
    moderator_would_accept: bool | None = None  # for /approve: did the moderator's own rule agree?


FOCUS_NOTE_MAX = 400  # the moderator's note ends the focus, cut to this many characters: the report marks the cut


class RoundRecord(BaseModel):
    """Everything one round produced."""

    round: int
    prompt: str
    changes: str = ""
    origin: Origin = "prompt_engineer"
    batch: list[str] = Field(default_factory=list)  # train example ids run this round
    outputs: dict[str, str] = Field(default_factory=dict)  # example id -> output (train batch and dev)
    train: dict[str, ExampleResult] = Field(default_factory=dict)
    dev: dict[str, ExampleResult] = Field(default_factory=dict)
    critics: list[CriticResult] = Field(default_factory=list)
    panel: PanelStats | None = None
    decision: Decision | None = None
    reviewer: ReviewerVerdict | None = None
    focus: str | None = None
    candidates: list[CandidateResult] = Field(default_factory=list)  # every candidate of the round (labeled search)
    judge_validity: float | None = None  # rank correlation of the critics' per-output scores with the metric
    # rubric scenarios: this round's outputs against the best prompt's on the same inputs, in both orders
    versus_best: list[PairVerdict] | None = None
    versus_round: int | None = None  # the round of the best prompt they were compared with
    # with the scenario's checks: how many checks the round's outputs and the best's failed on those inputs
    checks_failed: tuple[int, int] | None = None
    stand_in: bool = False  # no proposal: the task's own text stood in for unusable replies; never the best or final prompt

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

    @property
    def metric_errors(self) -> list[str]:
        """The metric's error on each train and dev example it failed on this round."""
        return [r.error for r in [*self.train.values(), *self.dev.values()] if r.error]

    @property
    def metric_failure(self) -> str | None:
        """The metric's first error when it failed on every example of the round: then nothing was measured."""
        errors = self.metric_errors
        return errors[0] if errors and len(errors) == len(self.train) + len(self.dev) else None


class HeldOutScore(BaseModel):
    """The final prompt on the held-out test examples, scored once at the end."""

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
    test: HeldOutScore | None = None
    test_elsewhere: bool = False  # a compare arm: the comparison scores test for every arm at once, never the chat
    pending_edit: str | None = None  # the reviewer's edited prompt: the next candidate
    pending_feedback: str | None = None  # the reviewer's feedback: the engineer must address it next
    evaluations: dict[str, Evaluation] = Field(default_factory=dict)  # every prompt run so far, by prompt key
    proposed: list[Candidate] = Field(default_factory=list)  # this round's candidates, until the executor runs them

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

    def owes_test(self, held_out: bool) -> bool:
        """Whether the stopped run still owes its one held-out test score (there are test examples and a best prompt,
        and no comparison scores test in its place)."""
        return (bool(self.stop_reason) and self.test is None and held_out and not self.test_elsewhere
                and self.best() is not None)

    def finished(self, held_out: bool) -> bool:
        """Whether the run is over: the chat stopped and owes no test score (resume does not continue it)."""
        return bool(self.stop_reason) and not self.owes_test(held_out)

    def start_dev(self) -> dict[str, ExampleResult]:
        """The user's own prompt's dev results (candidate 0 of round 1); empty when it was not scored."""
        for ev in self.evaluations.values():  # labeled: every candidate's evaluation is kept
            if ev.candidate.operator in ("start", "seed") and ev.dev:
                return dict(ev.dev)
        first = self.rounds[0] if self.rounds else None  # rubric: round 1 is the start
        return dict(first.dev) if first is not None and first.origin in ("start", "seed") else {}

    def final(self) -> RoundRecord | None:
        """The round whose prompt is the run's final prompt: the best, else the last one that was really
        proposed; None when no proposal was usable (a stand-in is never a final prompt)."""
        return self.best() or next((r for r in reversed(self.rounds) if not r.stand_in), None)


def _mean(results: dict[str, ExampleResult]) -> float | None:
    return round(statistics.fmean(r.score for r in results.values()), 4) if results else None
