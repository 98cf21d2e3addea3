"""A past run for Python code, as DSPy's save/load gives a program back: its final prompt, the chat messages its
executor would send for an input, and its scores. The same record is what `redraft runs --json` lists and
`redraft show --json` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, PrivateAttr

from .errors import RedraftError
from .export import executor_request
from .records import HeldOutSummary, RoundPoint, Summary
from .store import RunRecord, read_run


class PastRun(BaseModel):
    """A run folder read back: where it stands, its final prompt and its scores, round by round and on test."""

    run_dir: str
    status: Literal["finished", "resumable"]  # resumable: interrupted; `redraft resume RUN_DIR` goes on
    scenario: str
    started: str
    score_scale: str  # "0-1 (...)" for a metric, "1-10 (critic panel)" for the critics' scores
    rounds: list[RoundPoint]  # each round's prompt and its train and dev scores
    best_round: int | None
    best_score: float | None  # the final prompt's dev score: what chose it
    test: HeldOutSummary | None  # the final prompt on the held-out test examples, scored once; None without a test split
    stop_reason: str
    final_prompt: str | None  # None when the run stopped before any usable prompt
    summary: Summary  # everything summary.json holds (rebuilt from state.json when the run was killed before writing it)
    _record: RunRecord | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, record: RunRecord) -> PastRun:
        """The past run of a run folder read by `store.read_run`."""
        s = record.summary
        rounds = [RoundPoint(round=r.round, prompt=r.prompt, train_score=r.train_score, dev_score=r.dev_score)
                  for r in s.rounds]
        past = cls(run_dir=str(record.run.path), status=record.status, scenario=s.scenario, started=s.started,
                   score_scale=s.score_scale, rounds=rounds, best_round=s.best_round, best_score=s.best_score,
                   test=s.test, stop_reason=s.stop_reason, final_prompt=s.final_prompt, summary=s)
        past._record = record
        return past

    def messages(self, input: str) -> list[dict[str, str]]:
        """The chat messages the run's executor would send for `input`: the final prompt's instruction as the system
        message, its worked examples as user and assistant turns, then the input (`redraft export --format messages`)."""
        if self._record is None:
            raise RedraftError("this PastRun was not loaded from its run folder; load it with redraft.load_run(RUN_DIR)")
        return executor_request(self._record).messages_for(input)


def load_run(path: str | Path) -> PastRun:
    """A finished or interrupted run, from its folder (`runs/<time>-<scenario>/`); nothing in it is changed."""
    return PastRun.of(read_run(path, purpose="load it"))
