"""The majority-class baseline: train's most frequent target given as every answer and scored by the
scenario's metric, what a model with no skill scores on the user's own data."""

from __future__ import annotations

import collections
import statistics
from typing import Literal, Sequence

from pydantic import BaseModel

from .data import Example, Splits
from .metrics import Metric

Split = Literal["train", "dev", "test"]


class Baseline(BaseModel):
    """What always giving one answer scores on a set of examples: a model with no skill does this well."""

    answer: str  # train's most frequent target
    score: float


def majority_baseline(train: Sequence[Example], examples: Sequence[Example], metric: Metric) -> Baseline | None:
    """Train's most frequent target given as the answer to every example and scored by the metric: what a
    model with no skill scores (None without train or examples)."""
    if not train or not examples:
        return None
    answer, _ = collections.Counter(e.target for e in train).most_common(1)[0]
    return Baseline(answer=answer, score=round(statistics.fmean(metric(answer, e.target).score for e in examples), 4))


def majority_baselines(splits: Splits, metric: Metric | None) -> dict[Split, Baseline]:
    """The majority-class baseline on each split with examples; empty without a metric (rubric-only scenarios)."""
    if metric is None:
        return {}
    found = {name: majority_baseline(splits.train, getattr(splits, name), metric) for name in ("train", "dev", "test")}
    return {name: b for name, b in found.items() if b is not None}  # type: ignore[misc]
