"""The round on AutoGen AgentChat: seats resolved from cards and scenario, a round-robin team whose
order is the round itself (Prompt Engineer -> Task Executor -> Critics -> Moderator), and the run loop
that records every message as it happens."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import StopMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat

from .agents import CriticPanel, Moderator, PromptEngineer, Seat, Table, TaskExecutor
from .cards import AgentCard, find_role
from .errors import ConfigError
from .llm import Caller
from .models import ModelProvider
from .runs import RoundSummary, RunDir, Summary, now_iso
from .scenario import Scenario
from .state import RunState

ROLES = ("prompt_engineer", "task_executor", "moderator")


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
    seatable = [*ROLES, *scenario.critics]
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
    """A prepared run: the table and the team, before any model is called."""

    table: Table
    team: RoundRobinGroupChat

    def models_used(self, models: ModelProvider) -> dict[str, dict]:
        """Per role, the model it uses (no secrets)."""
        t = self.table
        seats = [t.engineer, t.executor, *t.critics, t.moderator]
        return {s.name: {"tag": s.tag, "temperature": s.temperature, "max_tokens": s.max_tokens, **models.describe(s.tag)} for s in seats}


def build_session(scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, *, rounds: int | None = None,
                  caller: Caller | None = None) -> Session:
    """Seat the roles and assemble the AgentChat team."""
    seats = seat_roles(scenario, cards, models)
    n_rounds = rounds or scenario.rounds
    table = Table(
        scenario=scenario,
        engineer=seats["prompt_engineer"],  # type: ignore[arg-type]
        executor=seats["task_executor"],  # type: ignore[arg-type]
        critics=seats["critics"],  # type: ignore[arg-type]
        moderator=seats["moderator"],  # type: ignore[arg-type]
        caller=caller or Caller(models),
        state=RunState(),
        rounds=n_rounds,
    )
    participants = [
        PromptEngineer(table.engineer, table),
        TaskExecutor(table.executor, table),
        CriticPanel(table),
        Moderator(table.moderator, table),
    ]
    team = RoundRobinGroupChat(participants, termination_condition=StopMessageTermination(), max_turns=n_rounds * len(participants))
    return Session(table=table, team=team)


OnMessage = Callable[[dict], None]


async def run_session(session: Session, models: ModelProvider, run: RunDir, on_message: OnMessage | None = None) -> Summary:
    """Run the chat to its end, writing the transcript as it happens; always write the summary."""
    table, state = session.table, session.table.state
    s = table.scenario
    started, t0 = now_iso(), time.monotonic()
    run.write_json(run.config_path, {
        "scenario": s.model_dump(mode="json"),
        "scenario_file": str(s.path) if s.path else None,
        "inputs": s.task_inputs,
        "rounds": table.rounds,
        "models": session.models_used(models),
    })
    task = TextMessage(source="user", content=f"Refine a prompt for this task:\n{s.task.strip()}")
    record(run, task, 0, on_message)
    try:
        async for item in session.team.run_stream(task=task):
            if isinstance(item, TaskResult):
                break
            if item is task or getattr(item, "id", None) == task.id:
                continue
            round_no = int((item.metadata or {}).get("round", state.round)) if hasattr(item, "metadata") else state.round
            record(run, item, round_no, on_message)
            if (item.metadata or {}).get("kind") == "proposal":
                run.write_prompt(round_no, state.current().prompt)
            if isinstance(item, BaseChatMessage) and (item.metadata or {}).get("kind") != "review":
                await save_state(session, run)
    except asyncio.CancelledError:
        state.stop_reason = state.stop_reason or "interrupted (Ctrl-C)"
        raise
    except RuntimeError as exc:
        # AgentChat re-raises an agent's exception as RuntimeError(str); surface the original instead.
        fatal = table.caller.fatal
        state.stop_reason = state.stop_reason or f"error: {fatal or exc}"
        if fatal is not None:
            raise fatal from None
        raise
    except BaseException as exc:
        state.stop_reason = state.stop_reason or f"error: {exc}"
        raise
    finally:
        summary = finish(session, models, run, started, time.monotonic() - t0)
        run.close()
    return summary


def record(run: RunDir, item: BaseAgentEvent | BaseChatMessage, round_no: int, on_message: OnMessage | None) -> None:
    """Append one message to the transcript and show it."""
    meta = getattr(item, "metadata", None) or {}
    entry = run.append({
        "round": round_no,
        "source": item.source,
        "type": item.type,
        "kind": meta.get("kind", "task" if item.source == "user" else "message"),
        "content": item.to_text(),
        "time": now_iso(),
    })
    if on_message is not None:
        on_message(entry)


async def save_state(session: Session, run: RunDir) -> None:
    """The team's AgentChat state and redraft's run state, after every turn."""
    team_state = await session.team.save_state()
    run.write_json(run.state_path, {"run": session.table.state.model_dump(mode="json"), "team": team_state, "seq": run.seq})


def finish(session: Session, models: ModelProvider, run: RunDir, started: str, seconds: float) -> Summary:
    """Write summary.json and final_prompt.txt from whatever the run reached."""
    table, state = session.table, session.table.state
    best = state.best()
    final = best.prompt if best else (state.rounds[-1].prompt if state.rounds else None)
    rounds = []
    for r in state.rounds:
        critics = {}
        for c in r.critics:
            if c.review is not None:
                critics[c.critic] = {"scores": c.review.scores, "overall": round(c.review.overall(), 3),
                                     "issues": c.review.issues, "edits": c.review.edits}
            else:
                critics[c.critic] = {"error": c.error, "raw": c.raw}
        rounds.append(RoundSummary(
            round=r.round, prompt=r.prompt, changes=r.changes, origin=r.origin, critics=critics,
            mean=r.panel.mean if r.panel else {}, spread=r.panel.spread if r.panel else {}, score=r.score, focus=r.focus,
        ))
    ledger = table.caller.ledger
    summary = Summary(
        scenario=table.scenario.name,
        scenario_file=str(table.scenario.path) if table.scenario.path else None,
        run_dir=str(run.path),
        started=started,
        finished=now_iso(),
        models=session.models_used(models),
        rounds=rounds,
        best_round=best.round if best else None,
        best_score=best.score if best else None,
        final_prompt=final,
        stop_reason=state.stop_reason or "unfinished",
        usage=ledger.total,
        usage_by_role=ledger.by_role,
        seconds=round(seconds, 3),
    )
    run.write_json(run.summary_path, summary.model_dump(mode="json"))
    if final is not None:
        run.final_prompt_path.write_text(final.rstrip() + "\n", encoding="utf-8")
    return summary
