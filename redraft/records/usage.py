"""What a run used: per role, the model it called (never a key), and the calls and tokens it spent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer


class ModelDescription(BaseModel):
    """What a summary may show about the model behind a tag: never its key."""

    model: str
    api_type: str
    base_url: str | None = None  # secrets masked, ${NAME} placeholders kept
    tags: list[str] | None = None
    gguf: str | None = None  # the embedded model's file
    # The environment variable the key was read from: its name, never its value. Unset when the entry held the key
    # itself, no key was sent, or the run was made before redraft recorded it (exports then name OPENAI_API_KEY).
    api_key_env: str | None = None

    @model_serializer(mode="wrap")
    def _set_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Unset fields are left out; a seat's own settings come first (as config.json and summary.json show them)."""
        data = handler(self)
        first = [k for k in ("tag", "temperature", "max_tokens") if k in data]
        return {k: data[k] for k in [*first, *(k for k in data if k not in first)] if data[k] is not None}


class ModelUse(ModelDescription):
    """A role's model as a run records it: the tag, the sampling settings and the endpoint's description."""

    tag: str
    temperature: float
    max_tokens: int

    @classmethod
    def of(cls, tag: str, temperature: float, max_tokens: int, description: ModelDescription) -> ModelUse:
        """A seat's settings beside its endpoint's description."""
        return cls(tag=tag, temperature=temperature, max_tokens=max_tokens, **description.model_dump())


class Usage(BaseModel):
    """Calls and tokens, summed."""

    calls: int = 0  # every completion the chat used, from the network or the cache
    network_calls: int = 0  # completions that came over the network
    requests: int = 0  # requests sent over the network: every attempt, retries and failures included
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    network_tokens: int = 0  # tokens actually sent/received over the network (what budgets cap)
    cost_usd: float = 0.0
    seconds: float = 0.0  # summed time inside model calls (calls overlap, so this can exceed wall time)

    def add(self, other: "Usage") -> None:
        """Accumulate another usage into this one."""
        self.calls += other.calls
        self.network_calls += other.network_calls
        self.requests += other.requests
        self.cache_hits += other.cache_hits
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.network_tokens += other.network_tokens
        self.cost_usd += other.cost_usd
        self.seconds += other.seconds


class Ledger(BaseModel):
    """Usage per role, per round, and per role in each round."""

    by_role: dict[str, Usage] = {}
    by_round: dict[int, Usage] = {}
    by_round_role: dict[int, dict[str, Usage]] = {}  # round -> role -> usage (round 0: the final test scoring)

    def record(self, role: str, round_no: int, usage: Usage) -> None:
        """Add one call's usage."""
        self.by_role.setdefault(role, Usage()).add(usage)
        self.by_round.setdefault(round_no, Usage()).add(usage)
        self.by_round_role.setdefault(round_no, {}).setdefault(role, Usage()).add(usage)

    @property
    def total(self) -> Usage:
        """Everything, summed."""
        out = Usage()
        for u in self.by_role.values():
            out.add(u)
        return out
