"""What `redraft run --dry-run` prints: the calls and tokens a run can take at most, projected
before any model is called."""

from __future__ import annotations

from pydantic import BaseModel

from ..config import Scenario
from ..llm import ModelProvider
from ..search import RunContext, Seat


class Projection(BaseModel):
    """Projected model calls and tokens for a run, per role, for its full round limit."""

    rounds: int
    calls: dict[str, int]
    max_calls: dict[str, int]  # with every structured reply needing its repair retry
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = None

    @property
    def total_calls(self) -> int:
        """Expected calls in all."""
        return sum(self.calls.values())


class _Tally:
    """Adds up calls, tokens and cost seat by seat; the cost is unknown once one endpoint has no price."""

    def __init__(self, models: ModelProvider, rounds: int):
        self.models = models
        self.projection = Projection(rounds=rounds, calls={}, max_calls={}, prompt_tokens=0, completion_tokens=0,
                                     cost_usd=0.0)

    def add(self, seat: Seat, n: int, worst: int, prompt: int) -> None:
        """`n` calls expected of `seat`, `worst` at most, each sending about `prompt` tokens."""
        p = self.projection
        p.calls[seat.name] = p.calls.get(seat.name, 0) + n
        p.max_calls[seat.name] = p.max_calls.get(seat.name, 0) + worst
        p.prompt_tokens += worst * prompt
        p.completion_tokens += worst * seat.max_tokens
        spent = self.models.endpoint(seat.tag).cost(worst * prompt, worst * seat.max_tokens)
        p.cost_usd = None if spent is None or p.cost_usd is None else p.cost_usd + spent

    def result(self) -> Projection:
        p = self.projection
        return p.model_copy(update={"cost_usd": round(p.cost_usd, 4) if p.cost_usd is not None else None})


def _tokens(text: str) -> int:
    return len(text) // 4  # about 4 characters a token


def _round_calls(s: Scenario, n: int, n_inputs: int) -> tuple[int, int]:
    """The engineer's and the executor's calls in round n, at most."""
    if not s.labeled:
        return (0 if n == 1 else 1), n_inputs  # round 1 scores the user's own prompt
    dev, batch = len(s.splits.dev), min(s.minibatch, len(s.splits.train))
    if n == 1:  # the user's prompt and drafts: each on dev and the best on a minibatch, or, when there are
        # more than go to dev, each on the minibatch and the best of them on dev, the user's prompt always
        engineer = s.search.drafts - 1
        if s.search.drafts > s.search.draft_dev:
            return engineer, s.search.drafts * batch + (s.search.draft_dev + 1) * dev
        return engineer, s.search.drafts * dev + batch
    # edits (worked examples cost no engineer call); the parent on up to one minibatch more to find its
    # failures, each edit on a minibatch, the promoted on dev
    engineer = s.search.candidates if s.search.edits == "all" else 0
    return engineer, (s.search.candidates + 2) * batch + s.search.promote * dev


def projected_spend(t: RunContext, models: ModelProvider) -> Projection:
    """Calls and tokens the run can take at most rounds, before any model is called (`--dry-run`).

    Prompt tokens are estimated from the rendered requests' length (about 4 characters a token);
    completion tokens assume every reply uses its full max_tokens, so the figures are upper bounds.
    """
    s = t.scenario
    n_inputs = len({e.id for e in [*s.splits.train[: s.minibatch], *s.splits.dev]})
    n_review = min(s.minibatch, len(s.splits.train)) if s.labeled else n_inputs
    base = t.base_values()
    prompt_guess = _tokens("x" * 4 * t.engineer.max_tokens)  # a candidate prompt as long as the engineer may write
    tally = _Tally(models, t.rounds)
    for n in range(1, t.rounds + 1):
        engineer, runs = _round_calls(s, n, n_inputs)
        if engineer:
            tally.add(t.engineer, engineer, 2 * engineer, _tokens(t.engineer.card.system_message) + 600
                      + _tokens(base["task"]) * 2 + prompt_guess * 2)
        tally.add(t.executor, runs, runs, prompt_guess + max(_tokens(x) for x in s.task_inputs))
        outputs = sum(_tokens(x) for x in s.task_inputs[:n_review]) + n_review * t.executor.max_tokens
        critics = [] if s.labeled and s.search.edits == "demos" else t.critics  # worked examples alone: no panel
        for i, c in enumerate(critics):
            k = 1 + (s.noise_repeats if i == 0 else 0)  # the first critic also re-scores, for judge noise
            tally.add(c, k, 2 * k, _tokens(c.card.system_message) + _tokens(base["task"]) + _tokens(base["criteria"])
                      + outputs + 150)
        if n < t.rounds and not s.labeled:  # with a metric, the focus comes from the errors
            tally.add(t.moderator, 1, 1, _tokens(t.moderator.card.system_message) + _tokens(base["task"]) + 300)
    if s.splits.test:  # the final prompt scored once on test: the executor, and on rubric one review per critic
        tally.add(t.executor, len(s.splits.test), len(s.splits.test), prompt_guess + 100)
        tested = sum(_tokens(e.input) for e in s.splits.test) + len(s.splits.test) * t.executor.max_tokens
        for c in [] if s.labeled else t.critics:
            tally.add(c, 1, 2, _tokens(c.card.system_message) + _tokens(base["task"]) + _tokens(base["criteria"])
                      + tested + 150)
    return tally.result()
