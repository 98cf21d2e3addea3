"""Run folders and the run record: an append-only transcript flushed per message, prompts per round,
the checkpoint (state.json), the effective configuration (config.json) and the summary."""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal, TextIO

from pydantic import BaseModel, Field

from .._files import write_atomic
from ..config.budget import Budget
from ..config.cards import AgentCard
from ..search.context import RunContext
from ..config.data import Splits
from ..llm.endpoints import ModelProvider
from ..errors import RedraftError
from ..config.baseline import majority_baselines
from ..chat.human import reviewer_summary
from ..llm.client import Ledger
from ..config.metrics import Metric
from ..records.results import HeldOutSummary, PanelSummary, ReviewSummary, RoundSummary, Summary, UnparsedReview
from ..config.scenario import Scenario
from ..secrets import scrub, scrub_data
from ..records.state import HeldOutScore, RoundRecord, RunState


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_folder(root: Path, name: str) -> Path:
    """A path `root/<timestamp>-<name>` that does not exist yet (a -2, -3 ... suffix when taken)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "scenario"
    base = root / f"{stamp}-{slug}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RunDir:
    """One run's folder and the files in it."""

    def __init__(self, path: Path):
        self.path = path
        self.prompts = path / "prompts"
        self.transcript_path = path / "transcript.jsonl"
        self.summary_path = path / "summary.json"
        self.final_prompt_path = path / "final_prompt.txt"
        self.state_path = path / "state.json"
        self.config_path = path / "config.json"
        self.spend_path = path / "spend.json"
        self.lock_path = path / "run.lock"
        self.server_log = path / "embedded-server.log"
        self._transcript: TextIO | None = None
        self.seq = 0  # the last sequence number handed out

    @classmethod
    def create(cls, runs_dir: Path, scenario: str) -> RunDir:
        """A new folder `runs_dir/<timestamp>-<scenario>`, never reusing an existing one."""
        path = new_folder(runs_dir, scenario)
        (path / "prompts").mkdir(parents=True)
        return cls(path)

    @contextmanager
    def owned(self) -> Iterator[None]:
        """Hold the run folder for this process while the block runs; refuse when another process holds it.

        An OS lock (flock) on run.lock: released on any exit, and by the OS when a process is killed,
        so a stale lock cannot outlive its holder. The file holds the holder's pid, for the refusal.
        """
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no lock
            yield
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                raise RedraftError(f"{self.path}: this run is in use by another redraft process (pid {holder}); "
                                   "wait for it to end, or stop it, then resume") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, entry: dict[str, Any]) -> None:
        """Append one numbered message to transcript.jsonl and flush it at once."""
        if self._transcript is None:
            self._transcript = self.transcript_path.open("a", encoding="utf-8")
        self._transcript.write(json.dumps(scrub_data(entry), ensure_ascii=False) + "\n")
        self._transcript.flush()

    def last_seq(self) -> int:
        """The sequence number of the last complete line in the transcript (0 when empty)."""
        if not self.transcript_path.exists():
            return 0
        last = 0
        with self.transcript_path.open("rb") as fh:
            data = fh.read()
        if data and not data.endswith(b"\n"):
            # A line cut short by a crash: cut it off. It belongs to the last checkpoint's turn
            # (the checkpoint is written first), so repair() writes it again, whole.
            data = data[: data.rfind(b"\n") + 1]
            with self.transcript_path.open("r+b") as fh:
                fh.truncate(len(data))
        for raw in data.splitlines():
            try:
                last = max(last, int(json.loads(raw)["seq"]))
            except (ValueError, KeyError, TypeError):
                continue
        return last

    def repair(self, outbox: list[dict[str, Any]]) -> None:
        """Append the checkpointed turn's lines the transcript lacks (a crash between checkpoint and append)."""
        have = self.last_seq()
        for entry in outbox:
            if entry["seq"] > have:
                self.append(entry)

    def write_prompt(self, round_no: int, prompt: str) -> None:
        """prompts/round-N.txt"""
        write_atomic(self.prompts / f"round-{round_no}.txt", scrub(prompt.rstrip()) + "\n")

    def write_json(self, path: Path, data: Any, *, compact: bool = False) -> None:
        """A JSON file, written atomically (compact for the per-turn checkpoint: indenting is slow)."""
        data = scrub_data(data)  # strings only: a short secret cannot break the JSON around it
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if compact else json.dumps(data, indent=2, ensure_ascii=False)
        write_atomic(path, text + "\n")

    def write_spend(self, ledger: Ledger) -> None:
        """spend.json: every request sent so far, rewritten as each one leaves (so a killed process loses none)."""
        self.write_json(self.spend_path, ledger.model_dump(mode="json"), compact=True)

    def spent(self, checkpoint: Ledger) -> Ledger:
        """What the run has spent: spend.json, or the checkpoint's ledger when that counts more (or spend.json is unreadable)."""
        try:
            latest = Ledger.model_validate_json(self.spend_path.read_bytes())
        except (OSError, ValueError):
            return checkpoint
        return max(checkpoint, latest, key=lambda ledger: (ledger.total.requests, ledger.total.calls))

    def require(self, purpose: str) -> None:
        """Refuse a folder that is not a run's (config.json and state.json are what every use of one needs)."""
        if not self.config_path.is_file() or not self.state_path.is_file():
            raise RedraftError(f"{self.path}: not a redraft run folder (config.json and state.json are needed to {purpose})")

    def close(self) -> None:
        """Close the transcript."""
        if self._transcript is not None:
            self._transcript.close()
            self._transcript = None


class Checkpoint(BaseModel):
    """state.json: everything needed to resume after the last completed turn."""

    run: RunState
    team: dict[str, Any]  # AgentChat's own team state (save_state), loaded back as it is
    ledger: Ledger
    seq: int  # the last transcript sequence number this checkpoint covers
    outbox: list[dict[str, Any]] = Field(default_factory=list)  # the last turn's messages, to repair the transcript
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
    models: dict[str, dict[str, Any]]  # per role: tag, sampling settings and the endpoint's description

    @classmethod
    def of(cls, table: RunContext, models: ModelProvider) -> RunConfig:
        """The configuration a run was started with."""
        s = table.scenario
        return cls(
            scenario=s.model_dump(mode="json"), scenario_file=str(s.path) if s.path else None, splits=s.splits,
            labeled=s.labeled, rounds=table.rounds, budget=table.caller.budget, models=table.models_used(models),
            cards={seat.name: CardRecord(**(seat.card.model_dump() | {"source": seat.card.source})) for seat in table.seats},
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


def round_summary(r: RoundRecord) -> RoundSummary:
    """One round as summary.json shows it."""
    critics: dict[str, ReviewSummary | UnparsedReview] = {}
    for c in r.critics:
        if c.review is not None:
            critics[c.critic] = ReviewSummary(scores=c.review.scores, overall=round(c.review.overall(), 3),
                                              per_output=c.review.per_output, issues=c.review.issues, edits=c.review.edits)
        else:
            critics[c.critic] = UnparsedReview(error=c.error, raw=c.raw)
    panel = PanelSummary.model_validate(r.panel.model_dump(include=set(PanelSummary.model_fields))) if r.panel else None
    return RoundSummary(
        round=r.round, prompt=r.prompt, changes=r.changes, origin=r.origin, critics=critics,
        mean=r.panel.mean if r.panel else {}, spread=r.panel.spread if r.panel else {}, score=r.score, focus=r.focus,
        train_score=r.train_score, dev_score=r.dev_score, panel=panel, selection=r.decision,
        candidates=r.candidates, judge_validity=r.judge_validity, metric_errors=len(r.metric_errors),
        metric_error=r.metric_errors[0] if r.metric_errors else None,
    )


def held_out_summary(test: HeldOutScore) -> HeldOutSummary:
    """The held-out test score as summary.json shows it."""
    return HeldOutSummary(score=test.score, ci_low=test.ci_low, ci_high=test.ci_high, n=test.n, round=test.round,
                          per_example={k: v.score for k, v in test.per_example.items()})


def summarize(run_dir: Path, scenario: Scenario, state: RunState, ledger: Ledger, *, models: dict[str, dict[str, Any]],
              metric: Metric | None, started: str, seconds: float) -> Summary:
    """The summary of whatever the run reached."""
    best = state.best()
    final_round = state.final()
    final = final_round.prompt if final_round else None
    return Summary(
        scenario=scenario.name,
        scenario_file=str(scenario.path) if scenario.path else None,
        run_dir=str(run_dir),
        started=started,
        finished=now_iso(),
        models=models,
        rounds=[round_summary(r) for r in state.rounds],
        best_round=best.round if best else None,
        best_score=best.score if best else None,
        score_scale="0-1 (metric)" if scenario.labeled else "1-10 (critic panel)",
        test=held_out_summary(state.test) if state.test else None,
        majority=majority_baselines(scenario.splits, metric) if scenario.labeled else {},
        reviewer=reviewer_summary(state),
        final_prompt=final,
        stop_reason=state.stop_reason or "unfinished",
        usage=ledger.total,
        usage_by_role=ledger.by_role,
        usage_by_round=ledger.by_round_role,
        seconds=round(seconds, 3),
    )


def write_summary(run: RunDir, table: RunContext, models: ModelProvider, started: str, seconds: float) -> Summary:
    """Write summary.json and final_prompt.txt from whatever the run reached."""
    summary = summarize(run.path, table.scenario, table.state, table.caller.ledger, models=table.models_used(models),
                        metric=table.metric, started=started, seconds=seconds)
    run.write_json(run.summary_path, summary.model_dump(mode="json"))
    if summary.final_prompt is not None:
        write_atomic(run.final_prompt_path, scrub(summary.final_prompt.rstrip()) + "\n")
    return summary


@dataclass
class RunRecord:
    """A run folder read back: its configuration, its last checkpoint and its summary."""

    run: RunDir
    config: RunConfig
    checkpoint: Checkpoint
    summary: Summary
    scenario: Scenario

    @property
    def status(self) -> Literal["finished", "resumable"]:
        """finished, or resumable with `redraft resume`."""
        return "finished" if self.checkpoint.run.finished(bool(self.config.splits.test)) else "resumable"


def read_run(path: str | Path, *, purpose: str = "read it") -> RunRecord:
    """A finished or interrupted run's record. summary.json is used when it is newer than the checkpoint; a run
    killed after its last summary (or before any) gets one made from the checkpoint."""
    run = RunDir(Path(path))
    run.require(purpose)
    config, checkpoint = RunConfig.read(run), Checkpoint.read(run)
    scenario = config.restored_scenario()
    fresh = run.summary_path.is_file() and run.summary_path.stat().st_mtime_ns >= run.state_path.stat().st_mtime_ns
    if fresh:
        summary = Summary.model_validate_json(run.summary_path.read_text(encoding="utf-8"))
    else:
        summary = summarize(run.path, scenario, checkpoint.run, checkpoint.ledger, models=config.models,
                            metric=scenario.make_metric(), started=checkpoint.started, seconds=checkpoint.seconds)
    # What summaries written before these fields existed lack.
    if scenario.labeled and not summary.majority:
        summary.majority = majority_baselines(scenario.splits, scenario.make_metric())
    summary.usage_by_round = summary.usage_by_round or checkpoint.ledger.by_round_role
    return RunRecord(run=run, config=config, checkpoint=checkpoint, summary=summary, scenario=scenario)

