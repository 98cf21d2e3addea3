"""Role cards: each agent's name, description, system message, model tag and templates, as YAML data."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError
from .loader import load_model

PACKAGE_AGENTS = Path(__file__).parent / "agents"

Role = Literal["prompt_engineer", "task_executor", "critic", "moderator"]


class AgentCard(BaseModel):
    """One role at the table, loaded from `agents/<name>.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: Role
    description: str
    system_message: str
    model: str = "default"
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    templates: dict[str, str] = Field(default_factory=dict)
    # Critics only: what this critic looks at, and how it scores.
    focus: str | None = None
    rubric: list[str] = Field(default_factory=list)

    source: str | None = Field(default=None, exclude=True)

    @field_validator("rubric")
    @classmethod
    def _rubric_items_non_empty(cls, v: list[str]) -> list[str]:
        if any(not item.strip() for item in v):
            raise ValueError("rubric items must be non-empty strings")
        return v

    @model_validator(mode="after")
    def _critic_has_focus_and_rubric(self) -> "AgentCard":
        if self.role == "critic" and (not self.focus or not self.rubric):
            raise ValueError("a critic card needs both 'focus' and 'rubric'")
        return self

    def render(self, template: str, **values: Any) -> str:
        """Fill one of this card's templates; a missing template or variable is a ConfigError naming it."""
        if template not in self.templates:
            raise ConfigError(
                self.source,
                f"the card has no template '{template}'; known templates: {', '.join(sorted(self.templates)) or 'none'}",
                key="templates",
            )
        return render(self.templates[template], values, file=self.source, key=f"templates.{template}")

    def render_system(self, values: dict[str, Any]) -> str:
        """The card's system message, with the same variables as its templates."""
        return render(self.system_message, values, file=self.source, key="system_message")


def render(text: str, values: dict[str, Any], *, file: str | None = None, key: str | None = None) -> str:
    """Substitute `$name` variables; fail loudly naming the first missing one."""
    tpl = string.Template(text)
    missing = [name for name in tpl.get_identifiers() if name not in values]
    if missing:
        raise ConfigError(
            file,
            f"template variable ${missing[0]} is not provided; available: "
            + ", ".join(f"${k}" for k in sorted(values)),
            key=key,
        )
    try:
        return tpl.substitute({k: str(v) for k, v in values.items()})
    except ValueError as exc:
        raise ConfigError(file, f"bad template ({exc}); write a literal dollar sign as $$", key=key) from None


def load_card(path: Path) -> AgentCard:
    """Load one card file."""
    card = load_model(path, AgentCard)
    card.source = str(path)
    return card


def load_cards(extra_dirs: list[Path] | None = None) -> dict[str, AgentCard]:
    """The shipped cards, then each extra folder's cards on top (same name overrides)."""
    cards: dict[str, AgentCard] = {}
    for folder in [PACKAGE_AGENTS, *(extra_dirs or [])]:
        if not folder.is_dir():
            raise ConfigError(str(folder), "agents folder not found")
        seen: dict[str, Path] = {}
        for path in sorted(folder.glob("*.y*ml")):
            card = load_card(path)
            if card.name in seen:
                raise ConfigError(str(path), f"card name '{card.name}' is also used by {seen[card.name]}", key="name")
            seen[card.name] = path
            cards[card.name] = card
    return cards


def find_role(cards: dict[str, AgentCard], role: Role) -> AgentCard:
    """The card for a single-seat role (the last loaded wins when a folder overrides)."""
    named = cards.get(role)
    if named is not None and named.role == role:
        return named
    for card in cards.values():
        if card.role == role:
            return card
    raise ConfigError(None, f"no agent card with role '{role}' was found; add agents/{role}.yaml")
