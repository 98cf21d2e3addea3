"""Budget caps: what a run may spend over the network."""

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
