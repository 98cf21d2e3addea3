"""Whether a new candidate replaces the best prompt so far: decided on dev, by more than the noise."""

from __future__ import annotations

import statistics
from typing import Protocol

from pydantic import BaseModel

from .scenario import Selection
from .stats import paired_bootstrap


class Decision(BaseModel):
    """The outcome of comparing a candidate with the best so far on the same dev examples."""

    accepted: bool
    rule: str
    estimate: float | None = None  # mean of candidate − best over paired dev examples
    ci_low: float | None = None
    ci_high: float | None = None
    margin: float = 0.0  # what the win had to clear
    n: int = 0
    reason: str


class Acceptance(Protocol):
    """One rule for replacing the best prompt."""

    def decide(self, candidate: list[float], best: list[float], margin: float) -> Decision: ...


class BootstrapWin:
    """Accept when the paired bootstrap interval of (candidate − best) lies wholly above the margin."""

    def __init__(self, level: float = 0.95, n_boot: int = 1000, seed: int = 0):
        self.level, self.n_boot, self.seed = level, n_boot, seed

    def decide(self, candidate: list[float], best: list[float], margin: float) -> Decision:
        ci = paired_bootstrap(candidate, best, level=self.level, n_boot=self.n_boot, seed=self.seed)
        ok = ci.low > margin
        pct = round(self.level * 100)
        reason = (f"wins by {ci.estimate:+.3f} ({pct}% CI {ci.low:+.3f}..{ci.high:+.3f}), "
                  + ("clear of" if ok else "not clear of") + f" the margin {margin:.3f}")
        return Decision(accepted=ok, rule="bootstrap", estimate=ci.estimate, ci_low=ci.low, ci_high=ci.high,
                        margin=margin, n=ci.n, reason=reason)


class MeanWin:
    """Accept when the mean paired difference exceeds the margin (no interval; faster, noisier)."""

    def decide(self, candidate: list[float], best: list[float], margin: float) -> Decision:
        diff = statistics.fmean(c - b for c, b in zip(candidate, best))
        ok = diff > margin
        return Decision(accepted=ok, rule="mean", estimate=diff, margin=margin, n=len(candidate),
                        reason=f"mean difference {diff:+.3f} {'>' if ok else '<='} margin {margin:.3f}")


def acceptance(spec: Selection, seed: int = 0) -> Acceptance:
    """The rule a scenario asks for."""
    return BootstrapWin(spec.level, spec.n_boot, seed) if spec.rule == "bootstrap" else MeanWin()
