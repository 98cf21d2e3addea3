"""The durable runner: steps the AgentChat team one turn at a time to the end of the chat, checkpointing
after every turn (checkpoint first, then the transcript lines), and scores the final prompt once on test.
What the run leaves at its end (summary, report) is written by its caller, however the run stops."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, SelectSpeakerEvent, TextMessage

from ..errors import BudgetExceeded, RedraftError
from ..eval import mean_ci
from ..llm import ModelProvider, OnProgress, StepMeter
from ..records import Entry, HeldOutScore
from ..search import score_examples
from ..store import Checkpoint, Reached, RunConfig, RunDir, now_iso
from .team import REVIEWER, Session

OnMessage = Callable[[Entry], None]


def make_entry(item: BaseAgentEvent | BaseChatMessage, round_no: int) -> Entry:
    """A transcript entry (not yet numbered) for one message."""
    meta = getattr(item, "metadata", None) or {}
    return Entry(round=int(meta.get("round", round_no)), source=item.source, type=item.type,
                 kind=meta.get("kind", "task" if item.source == "user" else "message"), content=item.to_text(),
                 time=now_iso())


class Runner:
    """Steps the team one turn at a time; after each turn, checkpoint first, then append the transcript.

    Checkpoint-then-append means a crash can lose only the turn in flight: a turn whose checkpoint
    was written but whose lines were not is completed from the checkpoint's outbox on resume.
    """

    def __init__(self, session: Session, models: ModelProvider, run: RunDir, on_message: OnMessage | None = None,
                 on_progress: OnProgress | None = None, *, score_test: bool = True):
        self.session, self.models, self.run = session, models, run
        self.on_message = on_message
        before = session.checkpoint
        self.started, self.seconds_before = (before.started, before.seconds) if before else (now_iso(), 0.0)
        self.t0 = time.monotonic()
        self.score_test = score_test  # False when the caller scores test itself (redraft compare)
        # Recorded, so the finished chat reads as finished (not "resume it") and its report points to the comparison.
        session.table.state.test_elsewhere = not score_test
        self.meter = StepMeter(on_progress, session.table.caller) if on_progress is not None else None
        self.last_source = before.outbox[-1].source if before and before.outbox else "user"  # who spoke last

    def reached(self) -> Reached:
        """What the run has reached so far: its state, its spending and its time."""
        table = self.session.table
        return Reached(state=table.state, ledger=table.caller.ledger, started=self.started, seconds=self.elapsed())

    async def commit(self, entries: list[Entry]) -> None:
        state = self.session.table.state
        numbered = []
        for e in entries:
            self.run.seq += 1
            numbered.append(e.numbered(self.run.seq))
        checkpoint = Checkpoint(
            run=state, team=await self.session.team.save_state(), ledger=self.session.table.caller.ledger,
            seq=self.run.seq, outbox=numbered, started=self.started, seconds=self.elapsed(),
        )
        checkpoint.write(self.run)
        for e in numbered:
            self.run.append(e)
            if e.kind in ("proposal", "outputs"):  # with several candidates, the executor settles the round's prompt
                self.run.write_prompt(e.round, state.rounds[e.round - 1].prompt)
            if self.on_message is not None:
                self.on_message(e)

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self.t0

    async def step_until_done(self, first_task: TextMessage | None) -> None:
        state, team = self.session.table.state, self.session.team
        table = self.session.table
        while state.stop_reason is None:
            pending: list[Entry] = []
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
            self.last_source = pending[-1].source
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
        await self.commit([Entry(round=best.round, source="evaluator", type="TextMessage", kind="test", content=text,
                                 time=now_iso())])

    async def start(self) -> TextMessage | None:
        """A new run: write config.json and post the task; a resumed one: load the team and repair the transcript."""
        session, run, table = self.session, self.run, self.session.table
        checkpoint = session.checkpoint
        if checkpoint is None:
            s = table.scenario
            cards = [seat.card for seat in table.seats]
            RunConfig.of(s, table.rounds, table.caller.budget, cards, table.models_used(self.models)).write(run)
            task = TextMessage(source="user", content=f"Refine a prompt for this task:\n{s.task.strip()}")
            await self.commit([make_entry(task, 0)])
            return task
        await session.team.load_state(checkpoint.team)
        run.seq = checkpoint.seq
        run.repair(checkpoint.outbox)
        for r in checkpoint.run.rounds:  # commit() writes these after the lines, so a crash can lose them
            run.write_prompt(r.round, r.prompt)
        return None

    async def run_chat(self) -> None:
        """Run (or resume, after `Session.resume_from`) the chat to its end, checkpointing after every turn; the
        stop reason is set however it stops (the end, a budget cap, Ctrl-C, an error)."""
        table, state = self.session.table, self.session.table.state
        table.caller.on_spend = self.run.write_spend
        try:
            await self.step_until_done(await self.start())
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
            self.run.close()
