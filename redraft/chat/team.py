"""The table on AutoGen AgentChat: seats resolved from cards and scenario, and a round-robin team whose
order is the round itself (Prompt Engineer -> Task Executor -> Critics -> Moderator); runner.py steps it."""

from __future__ import annotations

from dataclasses import dataclass

from autogen_agentchat.base import ChatAgent
from autogen_agentchat.conditions import StopMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from pydantic import BaseModel, Field

from ..config import AgentCard, Scenario, check_value, find_role
from ..errors import ConfigError
from ..llm import Caller, ModelProvider
from ..records import ModelUse
from ..records import RunState
from ..search import BestOnDev, RunContext, Seat, stop_rule
from ..store import Checkpoint
from .seats import CriticPanel, Evaluator, Moderator, PromptEngineer, TaskExecutor

ROLES = ("prompt_engineer", "task_executor", "moderator")
REVIEWER = "reviewer"  # the human reviewer's seat


def seat_roles(scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider) -> dict[str, Seat | list[Seat]]:
    """Resolve each role's card, model tag and settings; unknown critics, roles or tags are ConfigErrors."""
    critic_names = sorted(n for n, c in cards.items() if c.role == "critic")
    for i, name in enumerate(scenario.critics):
        card = cards.get(name)
        if card is None or card.role != "critic":
            raise scenario.error(f"critics[{i}]", f"unknown critic '{name}'; known critics: {', '.join(critic_names)} "
                                 "(add agents/<name>.yaml with role: critic to define one)", loc=("critics", i))
    if len(set(scenario.critics)) != len(scenario.critics):
        raise scenario.error("critics", "a critic is listed twice")
    seatable = [*ROLES, "judge", *scenario.critics]  # the judge is compare's and never sits in the chat
    for name in scenario.roles:
        if name not in seatable:
            raise scenario.error(f"roles.{name}", f"unknown role; expected one of: {', '.join(seatable)}", loc=("roles", name))

    def seat(card: AgentCard) -> Seat:
        over = scenario.roles.get(card.name)
        tag = (over.model if over and over.model else None) or card.model
        if not models.has_tag(tag):
            known = ", ".join(models.known_tags())
            if over and over.model:
                raise scenario.error(f"roles.{card.name}.model", f"unknown model tag '{tag}'; known tags: {known}",
                                     loc=("roles", card.name, "model"))
            raise ConfigError(card.source, f"unknown model tag '{tag}'; known tags: {known}", key="model")
        temperature = over.temperature if over and over.temperature is not None else card.temperature
        max_tokens = (over.max_tokens if over and over.max_tokens else None) or card.max_tokens or scenario.max_tokens
        return Seat(card=card, tag=tag, temperature=temperature, max_tokens=max_tokens)

    return {
        "prompt_engineer": seat(find_role(cards, "prompt_engineer")),
        "task_executor": seat(find_role(cards, "task_executor")),
        "moderator": seat(find_role(cards, "moderator")),
        "critics": [seat(cards[n]) for n in scenario.critics],
    }


@dataclass
class Session:
    """A prepared run: the table and the team, before any model is called (and the checkpoint it resumes from)."""

    table: RunContext
    team: RoundRobinGroupChat
    seats: list[str]  # who speaks, in turn order
    checkpoint: Checkpoint | None = None

    def after(self, source: str) -> str:
        """Who speaks after `source` (the first seat after the task, or after a seat's own inner messages)."""
        return self.seats[(self.seats.index(source) + 1) % len(self.seats)] if source in self.seats else self.seats[0]

    def models_used(self, models: ModelProvider) -> dict[str, ModelUse]:
        """Per role, the model it uses (no secrets)."""
        return self.table.models_used(models)

    def resume_from(self, checkpoint: Checkpoint) -> None:
        """Continue from a checkpoint: its run state now, its team state and transcript when the run starts."""
        self.table.state = checkpoint.run
        self.checkpoint = checkpoint


class ReviewSettings(BaseModel):
    """A human reviewer at the table (`--review`)."""

    timeout: float | None = Field(default=None, gt=0)  # seconds to wait for an answer before going on
    weight: float = Field(default=1.0, ge=0, le=100)  # the reviewer's /score counts as this many critics


def build_session(scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, *, rounds: int | None = None,
                  caller: Caller | None = None, review: ReviewSettings | None = None) -> Session:
    """Seat the roles and assemble the AgentChat team."""
    seats = seat_roles(scenario, cards, models)
    n_rounds = scenario.rounds if rounds is None else check_value(Scenario, "rounds", rounds, "--rounds")
    table = RunContext(
        scenario=scenario,
        engineer=seats["prompt_engineer"],  # type: ignore[arg-type]
        executor=seats["task_executor"],  # type: ignore[arg-type]
        critics=seats["critics"],  # type: ignore[arg-type]
        moderator=seats["moderator"],  # type: ignore[arg-type]
        caller=caller or Caller(models),
        state=RunState(),
        rounds=n_rounds,
        select=BestOnDev.of(scenario),
        stop=stop_rule(scenario, n_rounds),
        metric=scenario.make_metric(),
    )
    participants: list[ChatAgent] = [PromptEngineer(table.engineer, table), TaskExecutor(table.executor, table)]
    if scenario.labeled:
        participants.append(Evaluator(table))
    if not (scenario.labeled and scenario.search.edits == "demos"):  # worked examples alone need no critique
        participants.append(CriticPanel(table))
    if review is not None:
        from .human import Reviewer
        from .review_console import ReviewConsole

        participants.append(Reviewer(table, ReviewConsole(table, timeout=review.timeout), weight=review.weight,
                                     name=REVIEWER))
    participants.append(Moderator(table.moderator, table))
    # One turn per run_stream call: between turns the team is idle, so its saved state is consistent.
    team = RoundRobinGroupChat(participants, termination_condition=StopMessageTermination(), max_turns=1,
                               emit_team_events=True)
    return Session(table=table, team=team, seats=[p.name for p in participants])
