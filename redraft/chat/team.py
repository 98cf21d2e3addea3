"""The round on AutoGen AgentChat: seats resolved from cards and scenario, a round-robin team whose
order is the round itself (Prompt Engineer -> Task Executor -> Critics -> Moderator), and the run loop
that records every message as it happens."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

from autogen_agentchat.base import ChatAgent, TaskResult
from autogen_agentchat.conditions import StopMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, SelectSpeakerEvent, TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from pydantic import BaseModel, Field

from ..llm.progress import OnProgress, StepMeter
from .seats import CriticPanel, Evaluator, Moderator, PromptEngineer, TaskExecutor
from ..config.cards import AgentCard, find_role
from ..search.context import RunContext, Seat
from ..llm.endpoints import ModelProvider
from ..errors import BudgetExceeded, ConfigError, RedraftError
from ..search.evaluate import score_examples
from ..llm.client import Caller
from ..config.loader import check_value
from ..records.results import Summary
from ..report.run_page import write_run_report
from ..store.runs import Checkpoint, RunConfig, RunDir, now_iso, write_summary
from ..config.scenario import Scenario
from ..search.selection import BestOnDev, stop_rule
from ..records.state import HeldOutScore, RunState
from ..eval.stats import mean_ci

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
    """A prepared run: the table and the team, before any model is called (and the checkpoint it resumes from)."""

    table: RunContext
    team: RoundRobinGroupChat
    seats: list[str]  # who speaks, in turn order
    checkpoint: Checkpoint | None = None

    def after(self, source: str) -> str:
        """Who speaks after `source` (the first seat after the task, or after a seat's own inner messages)."""
        return self.seats[(self.seats.index(source) + 1) % len(self.seats)] if source in self.seats else self.seats[0]

    def models_used(self, models: ModelProvider) -> dict[str, dict[str, Any]]:
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
    participants.append(CriticPanel(table))
    if review is not None:
        from .human import ReviewConsole, Reviewer

        participants.append(Reviewer(table, ReviewConsole(table, timeout=review.timeout), weight=review.weight,
                                     name=REVIEWER))
    participants.append(Moderator(table.moderator, table))
    # One turn per run_stream call: between turns the team is idle, so its saved state is consistent.
    team = RoundRobinGroupChat(participants, termination_condition=StopMessageTermination(), max_turns=1,
                               emit_team_events=True)
    return Session(table=table, team=team, seats=[p.name for p in participants])


OnMessage = Callable[[dict], None]


def make_entry(item: BaseAgentEvent | BaseChatMessage, round_no: int) -> dict[str, Any]:
    """A transcript entry (without its sequence number) for one message."""
    meta = getattr(item, "metadata", None) or {}
    return {
        "round": int(meta.get("round", round_no)),
        "source": item.source,
        "type": item.type,
        "kind": meta.get("kind", "task" if item.source == "user" else "message"),
        "content": item.to_text(),
        "time": now_iso(),
    }


class _Runner:
    """Steps the team one turn at a time; after each turn, checkpoint first, then append the transcript.

    Checkpoint-then-append means a crash can lose only the turn in flight: a turn whose checkpoint
    was written but whose lines were not is completed from the checkpoint's outbox on resume.
    """

    def __init__(self, session: Session, run: RunDir, on_message: OnMessage | None, on_progress: OnProgress | None,
                 score_test: bool = True):
        self.session, self.run = session, run
        self.on_message = on_message
        before = session.checkpoint
        self.started, self.seconds_before = (before.started, before.seconds) if before else (now_iso(), 0.0)
        self.t0 = time.monotonic()
        self.score_test = score_test  # False when the caller scores test itself (redraft compare)
        self.meter = StepMeter(on_progress, session.table.caller) if on_progress is not None else None
        self.last_source = before.outbox[-1]["source"] if before and before.outbox else "user"  # who spoke last

    async def commit(self, entries: list[dict[str, Any]]) -> None:
        state = self.session.table.state
        numbered = []
        for e in entries:
            self.run.seq += 1
            numbered.append({"seq": self.run.seq, **e})
        checkpoint = Checkpoint(
            run=state, team=await self.session.team.save_state(), ledger=self.session.table.caller.ledger,
            seq=self.run.seq, outbox=numbered, started=self.started, seconds=self.elapsed(),
        )
        checkpoint.write(self.run)
        for e in numbered:
            self.run.append(e)
            if e["kind"] in ("proposal", "outputs"):  # with several candidates, the executor settles the round's prompt
                self.run.write_prompt(e["round"], state.rounds[e["round"] - 1].prompt)
            if self.on_message is not None:
                self.on_message(e)

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self.t0

    async def step_until_done(self, first_task: TextMessage | None) -> None:
        state, team = self.session.table.state, self.session.team
        table = self.session.table
        while state.stop_reason is None:
            pending: list[dict[str, Any]] = []
            # The turn order is fixed, so who speaks is known before the turn starts (its first calls may come
            # before AgentChat's SelectSpeakerEvent does); the reviewer's own prompt is its progress.
            speaker = self.session.after(self.last_source)
            if self.meter is not None and speaker != REVIEWER:
                n = state.round + 1 if speaker == table.engineer.name else max(state.round, 1)
                self.meter.start(f"round {n}: {speaker}")
                self.meter.show()
            async for item in team.run_stream(task=first_task, cancellation_token=table.cancel):
                if isinstance(item, (TaskResult, SelectSpeakerEvent)):
                    continue  # the result is the last item; let the stream finish so the team is idle again
                if first_task is not None and item.id == first_task.id:
                    continue
                pending.append(make_entry(item, state.round))
            first_task = None
            if not pending:
                raise RuntimeError("a turn ended without a message; the team cannot go on")
            await self.commit(pending)
            self.last_source = pending[-1]["source"]
        if self.score_test and state.owes_test(bool(self.session.table.scenario.splits.test)):
            await self.final_test()

    async def final_test(self) -> None:
        """Score the final prompt once on the held-out test examples; nothing is chosen from this."""
        table, state = self.session.table, self.session.table.state
        best = state.best()
        assert best is not None
        if self.meter is not None:
            self.meter.start(f"scoring the final prompt (round {best.round}) on {len(table.scenario.splits.test)} test examples")
            self.meter.show()
        outputs, results = await score_examples(table, best.prompt, table.scenario.splits.test, round_no=0)
        values = [r.score for r in results.values()]
        ci = mean_ci(values, seed=table.scenario.seed) if values else None
        state.test = HeldOutScore(round=best.round, score=ci.estimate if ci else 0.0, ci_low=ci.low if ci else 0.0,
                                ci_high=ci.high if ci else 0.0, n=len(values), per_example=results, outputs=outputs)
        t = state.test
        text = (f"Test (held out, scored once): the final prompt (round {t.round}) scores {t.score:.3f} "
                f"(95% CI {t.ci_low:.3f}..{t.ci_high:.3f}, n={t.n}).")
        await self.commit([{"round": best.round, "source": "evaluator", "type": "TextMessage", "kind": "test",
                            "content": text, "time": now_iso()}])


async def run_session(session: Session, models: ModelProvider, run: RunDir, on_message: OnMessage | None = None,
                      on_progress: OnProgress | None = None, *, score_test: bool = True) -> Summary:
    """Run (or resume, after `Session.resume_from`) the chat to its end, checkpointing after every turn;
    always write the summary and the report, however the run stops."""
    table, state, checkpoint = session.table, session.table.state, session.checkpoint
    runner = _Runner(session, run, on_message, on_progress, score_test)
    table.caller.on_spend = run.write_spend
    if checkpoint is None:
        RunConfig.of(table, models).write(run)
        s = table.scenario
        task: TextMessage | None = TextMessage(source="user", content=f"Refine a prompt for this task:\n{s.task.strip()}")
        await runner.commit([make_entry(task, 0)])
    else:
        await session.team.load_state(checkpoint.team)
        run.seq = checkpoint.seq
        run.repair(checkpoint.outbox)
        for r in checkpoint.run.rounds:  # commit() writes these after the lines, so a crash can lose them
            run.write_prompt(r.round, r.prompt)
        task = None
    try:
        await runner.step_until_done(task)
    except asyncio.CancelledError:
        state.stop_reason = state.stop_reason or f"interrupted ({table.interrupted_by or 'Ctrl-C'})"
        raise
    except (RuntimeError, RedraftError) as exc:
        # AgentChat re-raises an agent's exception as RuntimeError(str); surface the original instead.
        fatal = table.failed.original(exc)
        if isinstance(fatal, BudgetExceeded):
            state.stop_reason = f"budget cap reached: {fatal}"
        else:
            state.stop_reason = state.stop_reason or f"error: {fatal}"
            if fatal is not exc:
                raise fatal from None
            raise
    except BaseException as exc:
        state.stop_reason = state.stop_reason or f"error: {type(exc).__name__}: {exc}"
        raise
    finally:
        table.caller.on_spend = None
        summary = write_summary(run, table, models, runner.started, runner.elapsed())
        write_run_report(run, summary, state, table.scenario)
        run.close()
    return summary
