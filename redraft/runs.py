"""Run folders: an append-only transcript flushed per message, prompts per round, state, summary."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO


from ._files import write_atomic
from .secrets import scrub


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_folder(root: Path, name: str, when: datetime | None = None) -> Path:
    """A path `root/<timestamp>-<name>` that does not exist yet (a -2, -3 ... suffix when taken)."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
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
        self.server_log = path / "embedded-server.log"
        self._transcript: TextIO | None = None
        self.seq = 0  # the last sequence number handed out

    @classmethod
    def create(cls, runs_dir: Path, scenario: str, when: datetime | None = None) -> "RunDir":
        """A new folder `runs_dir/<timestamp>-<scenario>`, never reusing an existing one."""
        path = new_folder(runs_dir, scenario, when)
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
