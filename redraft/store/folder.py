"""The run folder: its layout, the lock that makes one process its owner, the append-only transcript
(flushed per message, repaired after a crash), the prompts per round and the atomic JSON writes."""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, TextIO

from .._files import write_atomic
from ..errors import RedraftError
from ..records import Entry, Ledger, record_words
from ..secrets import scrub, scrub_data


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

    def append(self, entry: Entry) -> None:
        """Append one numbered message to transcript.jsonl and flush it at once."""
        if self._transcript is None:
            self._transcript = self.transcript_path.open("a", encoding="utf-8")
        self._transcript.write(json.dumps(scrub_data(entry.model_dump(mode="json"), record_words()), ensure_ascii=False) + "\n")
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

    def repair(self, outbox: list[Entry]) -> None:
        """Append the checkpointed turn's lines the transcript lacks (a crash between checkpoint and append)."""
        have = self.last_seq()
        for entry in outbox:
            if entry.seq > have:
                self.append(entry)

    def write_prompt(self, round_no: int, prompt: str) -> None:
        """prompts/round-N.txt"""
        write_atomic(self.prompts / f"round-{round_no}.txt", scrub(prompt.rstrip()) + "\n")

    def write_json(self, path: Path, data: Any, *, compact: bool = False) -> None:
        """A JSON file, written atomically (compact for the per-turn checkpoint: indenting is slow)."""
        data = scrub_data(data, record_words())  # strings only: a short secret cannot break the JSON around it
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
