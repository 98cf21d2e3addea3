"""Budget caps, and the projection `redraft run --dry-run` prints before any model is called."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Budget(BaseModel):
    """Hard caps on what a run may spend over the network; None means no cap."""

    model_config = ConfigDict(extra="forbid")

    max_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_usd: float | None = Field(default=None, gt=0)

    def merged(self, override: "Budget | None") -> "Budget":
        """These caps, with every cap the override sets replacing ours."""
        if override is None:
            return self
        return self.model_copy(update={k: v for k, v in override.model_dump().items() if v is not None})


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
