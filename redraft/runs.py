"""Run folders: an append-only transcript flushed per message, prompts per round, state, summary."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field

from ._files import write_atomic
from .llm import Usage
from .secrets import scrub


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RoundSummary(BaseModel):
    """One round in summary.json."""

    round: int
    prompt: str
    changes: str
    origin: str
    critics: dict[str, dict[str, Any]]
    mean: dict[str, float] = Field(default_factory=dict)
    spread: dict[str, float] = Field(default_factory=dict)
    score: float | None = None  # the dev score selection compared
    train_score: float | None = None
    dev_score: float | None = None
    panel: dict[str, Any] = Field(default_factory=dict)  # mean, median, spread, agreement, noise
    selection: dict[str, Any] | None = None  # the moderator's decision against the best so far
    focus: str | None = None


class Summary(BaseModel):
    """summary.json: what a user checks after a run."""

    scenario: str
    scenario_file: str | None
    run_dir: str
    started: str
    finished: str
    models: dict[str, dict[str, Any]]
    rounds: list[RoundSummary]
    best_round: int | None
    best_score: float | None
    score_scale: str = "1-10 (critic panel)"
    test: dict[str, Any] | None = None  # the final prompt on held-out test: score, ci_low, ci_high, n
    reviewer: dict[str, Any] | None = None  # the human reviewer's verdicts and their agreement with the panel
    final_prompt: str | None
    stop_reason: str
    usage: Usage
    usage_by_role: dict[str, Usage]
    seconds: float


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
        self.server_log = path / "embedded-server.log"
        self._transcript: TextIO | None = None
        self.seq = 0  # the last sequence number handed out

    @classmethod
    def create(cls, runs_dir: Path, scenario: str, when: datetime | None = None) -> "RunDir":
        """A new folder `runs_dir/<timestamp>-<scenario>`, never reusing an existing one."""
        stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario).strip("-") or "scenario"
        base = runs_dir / f"{stamp}-{slug}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        (path / "prompts").mkdir(parents=True)
        return cls(path)

    def append(self, entry: dict[str, Any]) -> None:
        """Append one numbered message to transcript.jsonl and flush it at once."""
        if self._transcript is None:
            self._transcript = self.transcript_path.open("a", encoding="utf-8")
        self._transcript.write(scrub(json.dumps(entry, ensure_ascii=False)) + "\n")
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
        write_atomic(self.prompts / f"round-{round_no}.txt", prompt.rstrip() + "\n")

    def write_json(self, path: Path, data: Any, *, compact: bool = False) -> None:
        """A JSON file, written atomically (compact for the per-turn checkpoint: indenting is slow)."""
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if compact else json.dumps(data, indent=2, ensure_ascii=False)
        write_atomic(path, scrub(text) + "\n")

    def close(self) -> None:
        """Close the transcript."""
        if self._transcript is not None:
            self._transcript.close()
            self._transcript = None
