"""The scenario's metric as the search reads it: its labels (how many worked examples a prompt gets,
and whether the edits may add decision rules or reasoning) and its type (which decides how errors are
grouped, and whether a worked example shows the task model's working). Proposing, worked examples and
the round all ask these two questions, so they sit below all three."""

from __future__ import annotations

from .context import RunContext


def labels_of(ctx: RunContext) -> list[str]:
    """The metric's labels (empty when the metric has none)."""
    spec = ctx.scenario.metric
    return list(spec.labels or []) if spec is not None else []


def metric_kind(ctx: RunContext) -> str:
    """The metric's type, which decides how errors are grouped (labels, numbers, or right/wrong)."""
    return ctx.scenario.metric.type if ctx.scenario.metric else "exact"
