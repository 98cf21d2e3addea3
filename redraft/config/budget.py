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


def resumed_caps(scenario: Budget, saved: Budget, given: Budget | None) -> tuple[Budget, str | None]:
    """The caps a resumed run goes on with: the ones it ran under (its scenario's and its command line's),
    with those given now replacing them; and a note saying which apply, or None when there are none."""
    caps = saved.merged(given)
    if caps == Budget():
        return caps, None
    notes = []
    for name, value in caps.model_dump().items():
        before = getattr(saved, name)
        if value is None:
            continue
        flag = f"--{name.replace('_', '-')} {value}"
        if given is not None and getattr(given, name) is not None and value != before:
            notes.append(f"{flag} (given now; was {before})" if before is not None else f"{flag} (given now)")
        elif value != getattr(scenario, name):
            notes.append(f"{flag} (from the run's command line)")
        else:
            notes.append(f"{flag} (from the scenario)")
    return caps, "budget caps: " + ", ".join(notes) + "; a cap given to resume replaces the run's"
