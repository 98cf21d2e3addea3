"""The round on AutoGen AgentChat: seats resolved from cards and scenario, a round-robin team whose
order is the round itself (Prompt Engineer -> Task Executor -> Critics -> Moderator), and the run loop
that records every message as it happens."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, Field

from autogen_agentchat.base import ChatAgent, TaskResult
from autogen_agentchat.conditions import StopMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, SelectSpeakerEvent, TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat

from .agents import CriticPanel, Evaluator, Moderator, PromptEngineer, TaskExecutor
from .context import RunContext, Seat
from .evaluate import score_examples
from .budget import Projection
from .metrics import build_metric
from .selection import acceptance
from .state import TestResult
from .stats import mean_ci
from .cards import AgentCard, find_role
from .errors import BudgetExceeded, ConfigError, RedraftError
from .llm import Caller, Ledger
from .endpoints import ModelProvider
from .results import RoundSummary, Summary
from .runs import RunDir, now_iso
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

    table: RunContext
    team: RoundRobinGroupChat

    def models_used(self, models: ModelProvider) -> dict[str, dict]:
        """Per role, the model it uses (no secrets)."""
        t = self.table
        seats = [t.engineer, t.executor, *t.critics, t.moderator]
        return {s.name: {"tag": s.tag, "temperature": s.temperature, "max_tokens": s.max_tokens, **models.endpoint(s.tag).description} for s in seats}


@dataclass
class ReviewSettings:
    """A human reviewer at the table (`--review`)."""

    timeout: float | None = None  # seconds to wait for an answer before going on
    weight: float = 1.0  # the reviewer's /score counts as this many critics
    console: Any = None  # a reviewer.ReviewConsole; built on the terminal when None


def build_session(scenario: Scenario, cards: dict[str, AgentCard], models: ModelProvider, *, rounds: int | None = None,
                  caller: Caller | None = None, review: ReviewSettings | None = None) -> Session:
    """Seat the roles and assemble the AgentChat team."""
    seats = seat_roles(scenario, cards, models)
    n_rounds = rounds or scenario.rounds
    table = RunContext(
        scenario=scenario,
        engineer=seats["prompt_engineer"],  # type: ignore[arg-type]
        executor=seats["task_executor"],  # type: ignore[arg-type]
        critics=seats["critics"],  # type: ignore[arg-type]
        moderator=seats["moderator"],  # type: ignore[arg-type]
        caller=caller or Caller(models),
        state=RunState(),
        rounds=n_rounds,
        metric=build_metric(scenario.metric, base_dir=scenario.path.parent if scenario.path else None,
                            file=str(scenario.path) if scenario.path else None) if scenario.metric else None,
        accept=acceptance(scenario.selection, scenario.seed),
    )
    participants: list[ChatAgent] = [PromptEngineer(table.engineer, table), TaskExecutor(table.executor, table)]
    if scenario.labeled:
        participants.append(Evaluator(table))
    participants.append(CriticPanel(table))
    if review is not None:
        from .human import ReviewConsole, Reviewer

        console = review.console or ReviewConsole(table, timeout=review.timeout)
        participants.append(Reviewer(table, console, weight=review.weight))
    participants.append(Moderator(table.moderator, table))
    # One turn per run_stream call: between turns the team is idle, so its saved state is consistent.
    team = RoundRobinGroupChat(participants, termination_condition=StopMessageTermination(), max_turns=1,
                               emit_team_events=True)
    return Session(table=table, team=team)


OnMessage = Callable[[dict], None]
OnProgress = Callable[[str], None]


class Checkpoint(BaseModel):
    """state.json: everything needed to resume after the last completed turn."""

    run: RunState
    team: dict[str, Any]
    ledger: Ledger
    seq: int  # the last transcript sequence number this checkpoint covers
    outbox: list[dict[str, Any]] = Field(default_factory=list)  # the last turn's messages, to repair the transcript
    started: str
    seconds: float = 0.0  # time spent by earlier processes on this run


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


def needs_test(state: RunState, scenario: Scenario) -> bool:
    """Whether the finished run still owes its one held-out test score."""
    return bool(state.stop_reason) and state.test is None and bool(scenario.splits.test) and state.best() is not None


class _Runner:
    """Steps the team one turn at a time; after each turn, checkpoint first, then append the transcript.

    Checkpoint-then-append means a crash can lose only the turn in flight: a turn whose checkpoint
    was written but whose lines were not is completed from the checkpoint's outbox on resume.
    """

    def __init__(self, session: Session, models: ModelProvider, run: RunDir, on_message: OnMessage | None,
                 on_progress: OnProgress | None, started: str, seconds_before: float, score_test: bool = True):
        self.session, self.models, self.run = session, models, run
        self.on_message, self.on_progress = on_message, on_progress
        self.started, self.seconds_before = started, seconds_before
        self.t0 = time.monotonic()
        self.score_test = score_test  # False when the caller scores test itself (redraft compare)

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
        self.run.write_json(self.run.state_path, checkpoint.model_dump(mode="json"), compact=True)
        for e in numbered:
            self.run.append(e)
            if e["kind"] == "proposal":
                self.run.write_prompt(e["round"], state.rounds[e["round"] - 1].prompt)
            if self.on_message is not None:
                self.on_message(e)

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self.t0

    async def step_until_done(self, first_task: TextMessage | None) -> None:
        state, team = self.session.table.state, self.session.team
        while state.stop_reason is None:
            pending: list[dict[str, Any]] = []
            async for item in team.run_stream(task=first_task, cancellation_token=self.session.table.caller.cancel_token):
                if isinstance(item, TaskResult):
                    continue  # the last item; let the stream finish so the team is idle again
                if isinstance(item, SelectSpeakerEvent):
                    if self.on_progress is not None and "reviewer" not in item.content:
                        self.on_progress(f"round {max(state.round, 1)}: {', '.join(item.content)} is working...")
                    continue
                if first_task is not None and item.id == first_task.id:
                    continue
                pending.append(make_entry(item, state.round))
            first_task = None
            if not pending:
                raise RuntimeError("a turn ended without a message; the team cannot go on")
            await self.commit(pending)
        if self.score_test and needs_test(state, self.session.table.scenario):
            await self.final_test()

    async def final_test(self) -> None:
        """Score the final prompt once on the held-out test examples; nothing is chosen from this."""
        table, state = self.session.table, self.session.table.state
        best = state.best()
        assert best is not None
        if self.on_progress is not None:
            self.on_progress(f"scoring the final prompt (round {best.round}) on {len(table.scenario.splits.test)} test examples")
        outputs, results = await score_examples(table, best.prompt, table.scenario.splits.test, round_no=0)
        values = [r.score for r in results.values()]
        ci = mean_ci(values, seed=table.scenario.seed) if values else None
        state.test = TestResult(round=best.round, score=ci.estimate if ci else 0.0, ci_low=ci.low if ci else 0.0,
                                ci_high=ci.high if ci else 0.0, n=len(values), per_example=results, outputs=outputs)
        t = state.test
        text = (f"Test (held out, scored once): the final prompt (round {t.round}) scores {t.score:.3f} "
                f"(95% CI {t.ci_low:.3f}..{t.ci_high:.3f}, n={t.n}).")
        await self.commit([{"round": best.round, "source": "evaluator", "type": "TextMessage", "kind": "test",
                            "content": text, "time": now_iso()}])


async def run_session(session: Session, models: ModelProvider, run: RunDir, on_message: OnMessage | None = None,
                      on_progress: OnProgress | None = None, checkpoint: Checkpoint | None = None, *,
                      score_test: bool = True) -> Summary:
    """Run (or resume) the chat to its end, checkpointing after every turn; always write the summary."""
    table, state = session.table, session.table.state
    if checkpoint is None:
        runner = _Runner(session, models, run, on_message, on_progress, now_iso(), 0.0, score_test)
        write_config(session, models, run)
        s = table.scenario
        task: TextMessage | None = TextMessage(source="user", content=f"Refine a prompt for this task:\n{s.task.strip()}")
        await runner.commit([make_entry(task, 0)])
    else:
        runner = _Runner(session, models, run, on_message, on_progress, checkpoint.started, checkpoint.seconds, score_test)
        await session.team.load_state(checkpoint.team)
        run.seq = checkpoint.seq
        run.repair(checkpoint.outbox)
        for r in checkpoint.run.rounds:  # commit() writes these after the lines, so a crash can lose them
            run.write_prompt(r.round, r.prompt)
        task = None
    try:
        await runner.step_until_done(task)
    except asyncio.CancelledError:
        state.stop_reason = state.stop_reason or "interrupted (Ctrl-C)"
        raise
    except (RuntimeError, RedraftError) as exc:
        # AgentChat re-raises an agent's exception as RuntimeError(str); surface the original instead.
        fatal = table.caller.fatal or exc
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
        keep_spend(run, table.caller)
        summary = finish(session, models, run, runner.started, runner.elapsed())
        run.close()
    return summary


def keep_spend(run: RunDir, caller: Caller) -> None:
    """Put every call made so far in the checkpoint's ledger, those of a turn that did not finish
    included: they were spent, and a resumed run's budget must count them."""
    if run.state_path.is_file():
        data = json.loads(run.state_path.read_text(encoding="utf-8"))
        data["ledger"] = caller.ledger.model_dump(mode="json")
        run.write_json(run.state_path, data, compact=True)


def write_config(session: Session, models: ModelProvider, run: RunDir) -> None:
    """config.json: the effective configuration (scenario, inputs, cards, models) without secrets."""
    t = session.table
    s = t.scenario
    cards = [t.engineer.card, t.executor.card, *(c.card for c in t.critics), t.moderator.card]
    run.write_json(run.config_path, {
        "scenario": s.model_dump(mode="json"),
        "scenario_file": str(s.path) if s.path else None,
        "splits": s.splits.model_dump(mode="json"),
        "labeled": s.labeled,
        "rounds": t.rounds,
        "cards": {c.name: {**c.model_dump(mode="json"), "source": c.source} for c in cards},
        "models": session.models_used(models),
    })


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
                                     "per_output": c.review.per_output, "issues": c.review.issues, "edits": c.review.edits}
            else:
                critics[c.critic] = {"error": c.error, "raw": c.raw}
        panel = r.panel.model_dump(mode="json", include={"mean", "median", "spread", "agreement", "noise"}) if r.panel else {}
        rounds.append(RoundSummary(
            round=r.round, prompt=r.prompt, changes=r.changes, origin=r.origin, critics=critics,
            mean=r.panel.mean if r.panel else {}, spread=r.panel.spread if r.panel else {}, score=r.score, focus=r.focus,
            train_score=r.train_score, dev_score=r.dev_score, panel=panel,
            selection=r.decision.model_dump(mode="json") if r.decision else None,
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
        score_scale="0-1 (metric)" if table.scenario.labeled else "1-10 (critic panel)",
        test=({"score": state.test.score, "ci_low": state.test.ci_low, "ci_high": state.test.ci_high, "n": state.test.n,
               "round": state.test.round, "per_example": {k: v.score for k, v in state.test.per_example.items()}}
              if state.test else None),
        reviewer=reviewer_summary(state),
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


def reviewer_summary(state: RunState) -> dict[str, Any] | None:
    """The reviewer's verdicts beside the panel's, and how far they agreed."""
    verdicts = [r.reviewer for r in state.rounds if r.reviewer]
    if not verdicts:
        return None
    pairs = [(v["score"], v["panel_score"]) for v in verdicts if v.get("score") is not None and v.get("panel_score") is not None]
    corr = None
    if len(pairs) >= 3:
        try:
            corr = round(statistics.correlation([a for a, _ in pairs], [b for _, b in pairs]), 3)
        except statistics.StatisticsError:
            corr = None  # one side constant: no correlation defined
    approvals = [v for v in verdicts if v["action"] == "approve"]
    matched = sum(1 for v in approvals if v.get("moderator_would_accept"))
    return {
        "rounds": verdicts,
        "scores": [{"round": v["round"], "reviewer": v["score"], "panel": v["panel_score"], "combined": v.get("combined_score")}
                   for v in verdicts if v.get("score") is not None],
        "agreement": {
            "score_vs_panel_pearson": corr, "n_scored": len(pairs),
            "approvals": len(approvals), "approvals_matching_moderator": matched,
            "approval_match_rate": round(matched / len(approvals), 3) if approvals else None,
        },
    }


def project(session: Session, models: ModelProvider) -> Projection:
    """Calls and tokens the run can take at most rounds, before any model is called (`--dry-run`).

    Prompt tokens are estimated from the rendered requests' length (about 4 characters a token);
    completion tokens assume every reply uses its full max_tokens, so the figures are upper bounds.
    """
    t = session.table
    s = t.scenario
    n_inputs = len({e.id for e in [*s.splits.train[: s.minibatch], *s.splits.dev]})
    n_review = min(s.minibatch, len(s.splits.train)) if s.labeled else n_inputs
    est = lambda text: len(text) // 4  # noqa: E731
    base = t.base_values()
    prompt_guess = "x" * 4 * t.engineer.max_tokens  # a candidate prompt as long as the engineer may write
    calls: dict[str, int] = {}
    max_calls: dict[str, int] = {}
    prompt_tokens = completion_tokens = 0
    cost = 0.0
    priced = True

    def add(seat: Seat, n: int, worst: int, prompt: int) -> None:
        nonlocal prompt_tokens, completion_tokens, cost, priced
        calls[seat.name] = calls.get(seat.name, 0) + n
        max_calls[seat.name] = max_calls.get(seat.name, 0) + worst
        prompt_tokens += worst * prompt
        completion_tokens += worst * seat.max_tokens
        spent = models.endpoint(seat.tag).cost(worst * prompt, worst * seat.max_tokens)
        if spent is None:
            priced = False
        else:
            cost += spent

    for n in range(1, t.rounds + 1):
        if not (n == 1 and s.seed_prompt):
            add(t.engineer, 1, 2, est(t.engineer.card.system_message) + 600 + est(base["task"]) * 2 + est(prompt_guess) * 2)
        add(t.executor, n_inputs, n_inputs, est(prompt_guess) + max(est(x) for x in s.task_inputs))
        outputs = sum(est(x) for x in s.task_inputs[:n_review]) + n_review * t.executor.max_tokens
        for i, c in enumerate(t.critics):
            k = 1 + (s.noise_repeats if i == 0 else 0)  # the first critic also re-scores, for judge noise
            add(c, k, 2 * k, est(c.card.system_message) + est(base["task"]) + est(base["criteria"]) + outputs + 150)
        if n < t.rounds:
            add(t.moderator, 1, 1, est(t.moderator.card.system_message) + est(base["task"]) + 300)
    if s.splits.test:
        add(t.executor, len(s.splits.test), len(s.splits.test), est(prompt_guess) + 100)
    return Projection(rounds=t.rounds, calls=calls, max_calls=max_calls, prompt_tokens=prompt_tokens,
                      completion_tokens=completion_tokens, cost_usd=round(cost, 4) if priced else None)
