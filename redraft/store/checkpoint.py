"""What a run folder saves to resume: the checkpoint (state.json, after every turn) and the effective
configuration the run was started with (config.json, without secrets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..config import AgentCard, Budget, Scenario, Splits
from ..records import Entry, Ledger, ModelUse, RunState
from .folder import RunDir


class Checkpoint(BaseModel):
    """state.json: everything needed to resume after the last completed turn."""

    run: RunState
    team: dict[str, Any]  # AgentChat's own team state (save_state), loaded back as it is
    ledger: Ledger
    seq: int  # the last transcript sequence number this checkpoint covers
    outbox: list[Entry] = Field(default_factory=list)  # the last turn's messages, to repair the transcript
    started: str
    seconds: float = 0.0  # time spent by earlier processes on this run

    @classmethod
    def read(cls, run: RunDir) -> Checkpoint:
        """The run's last checkpoint."""
        return cls.model_validate_json(run.state_path.read_text(encoding="utf-8"))

    def write(self, run: RunDir) -> None:
        """Write state.json (compact: it is written after every turn)."""
        run.write_json(run.state_path, self.model_dump(mode="json"), compact=True)


class CardRecord(AgentCard):
    """A card as config.json records it: with the file it was loaded from."""

    source: str | None = None


class RunConfig(BaseModel):
    """config.json: the effective configuration (scenario, inputs, cards, models) without secrets."""

    scenario: dict[str, Any]  # the scenario as loaded; Scenario.restored validates it with the examples below
    scenario_file: str | None
    splits: Splits
    labeled: bool
    rounds: int
    budget: Budget | None = None  # the caps in force: the scenario's, with those given on the command line over them
    cards: dict[str, CardRecord]
    models: dict[str, ModelUse]  # per role: tag, sampling settings and the endpoint's description

    @classmethod
    def of(cls, scenario: Scenario, rounds: int, budget: Budget | None, cards: list[AgentCard],
           models: dict[str, ModelUse]) -> RunConfig:
        """The configuration a run was started with: the seated cards and, per role, the model it uses."""
        s = scenario
        return cls(
            scenario=s.model_dump(mode="json"), scenario_file=str(s.path) if s.path else None, splits=s.splits,
            labeled=s.labeled, rounds=rounds, budget=budget, models=models,
            cards={card.name: CardRecord(**(card.model_dump() | {"source": card.source})) for card in cards},
        )

    @classmethod
    def read(cls, run: RunDir) -> RunConfig:
        """A run folder's config.json."""
        return cls.model_validate_json(run.config_path.read_text(encoding="utf-8"))

    def write(self, run: RunDir) -> None:
        """Write config.json."""
        run.write_json(run.config_path, self.model_dump(mode="json"))

    def restored_cards(self) -> dict[str, AgentCard]:
        """The cards as the run had them."""
        return dict(self.cards)

    def restored_scenario(self) -> Scenario:
        """The scenario as the run had it, with the examples it had then."""
        return Scenario.restored(self.scenario, Path(self.scenario_file) if self.scenario_file else None, self.splits,
                                 self.labeled)
